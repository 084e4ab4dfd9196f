//! Reading a container's json-file log back, framed as the logs endpoint sends it.
//!
//! The log is read in large chunks and each line is picked apart by hand: the entries berth
//! and Docker write have a fixed shape (`{"log":"…","stream":"…","time":"…"}`), so the
//! fields are found with `memchr` and the text is copied out without decoding unless it
//! holds escapes. A line of any other shape goes through serde_json. Nothing is collected:
//! each chunk of the file becomes a chunk of the answer.
//!
//! `tail` is found by scanning the file backwards from its end. Following (`logs -f`)
//! reads the file itself, only ever up to the offset the output pump reports as holding
//! complete entries, so the part read before and the part that arrives live neither
//! overlap nor leave a gap.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::error::Error;
use super::log_render::{self, Renderer};

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Docker's clients send `since`/`until` as `seconds[.nanoseconds]` since the epoch;
/// RFC 3339 is accepted as well.
pub fn parse_time(value: Option<&str>) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(value) = value.filter(|v| !v.is_empty() && *v != "0") else {
        return Ok(None);
    };
    let invalid = || Error::invalid(format!("invalid timestamp: {value:?}"));
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let (secs, nanos) = value.split_once('.').unwrap_or((value, "0"));
    let secs: i64 = secs.parse().map_err(|_| invalid())?;
    let nanos_digits = format!("{nanos:0<9}");
    let nanos: u32 = nanos_digits[..9].parse().map_err(|_| invalid())?;
    DateTime::from_timestamp(secs, nanos)
        .map(Some)
        .ok_or_else(invalid)
}

/// How much of the file one read takes.
pub const READ_CHUNK: usize = 1 << 20;

/// One entry, borrowing from the line it was read from.
pub(super) struct Entry<'a> {
    pub log: Cow<'a, [u8]>,
    pub stderr: bool,
    pub time: Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct SerdeEntry {
    log: String,
    stream: String,
    time: String,
}

/// Picks a line apart. `None` for a line that is not a log entry (e.g. cut short by a
/// crash): it is skipped, not fatal.
pub(super) fn parse_entry(line: &[u8]) -> Option<Entry<'_>> {
    fast_entry(line).or_else(|| {
        let entry: SerdeEntry = serde_json::from_slice(line).ok()?;
        let stderr = match entry.stream.as_str() {
            "stdout" => false,
            "stderr" => true,
            _ => return None,
        };
        Some(Entry {
            log: Cow::Owned(entry.log.into_bytes()),
            stderr,
            time: Cow::Owned(entry.time),
        })
    })
}

fn fast_entry(line: &[u8]) -> Option<Entry<'_>> {
    const LOG: &[u8] = b"{\"log\":\"";
    let rest = line.strip_prefix(LOG)?;
    // The end of the log string: the first quote that is not escaped.
    let mut at = 0;
    let mut escaped = false;
    let end = loop {
        let found = memchr::memchr2(b'"', b'\\', &rest[at..])? + at;
        if rest[found] == b'"' {
            break found;
        }
        escaped = true;
        at = found + 2;
        if at > rest.len() {
            return None;
        }
    };
    let after = &rest[end + 1..];
    let (stderr, after) = if let Some(after) = after.strip_prefix(b",\"stream\":\"stdout\"") {
        (false, after)
    } else {
        (true, after.strip_prefix(b",\"stream\":\"stderr\"")?)
    };
    let after = after.strip_prefix(b",\"time\":\"")?;
    let time_end = memchr::memchr(b'"', after)?;
    if &after[time_end..] != b"\"}" {
        return None;
    }
    let time = std::str::from_utf8(&after[..time_end]).ok()?;
    let log = if escaped {
        // Almost every line holds an escape (its own newline, `\n`); only `\u` escapes
        // need the JSON parser.
        match log_render::unescape(&rest[..end]) {
            Some(text) => text,
            None => {
                let quoted = &line[LOG.len() - 1..LOG.len() + end + 1];
                let text: String = serde_json::from_slice(quoted).ok()?;
                Cow::Owned(text.into_bytes())
            }
        }
    } else {
        Cow::Borrowed(&rest[..end])
    };
    Some(Entry {
        log,
        stderr,
        time: Cow::Borrowed(time),
    })
}

/// Nanoseconds since the epoch of an entry's time. The fixed form berth and Docker write
/// (`2026-01-02T03:04:05.123456789Z`) is read directly; any other RFC 3339 text by chrono.
pub(super) fn entry_nanos(time: &str) -> Option<i64> {
    fixed_time_nanos(time.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(time)
            .ok()?
            .timestamp_nanos_opt()
    })
}

pub(super) fn fixed_time_nanos(t: &[u8]) -> Option<i64> {
    if t.len() != 30 || t[4] != b'-' || t[7] != b'-' || t[10] != b'T' || t[19] != b'.' {
        return None;
    }
    if t[13] != b':' || t[16] != b':' || t[29] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut value = 0i64;
        for &digit in &t[range] {
            if !digit.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(digit - b'0');
        }
        Some(value)
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        number(0..4)? as i32,
        number(5..7)? as u32,
        number(8..10)? as u32,
    )?;
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = date
        .signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?)
        .num_days();
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    seconds
        .checked_mul(1_000_000_000)?
        .checked_add(number(20..29)?)
}

/// The filters an entry must pass, with times as nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Filter {
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

pub(super) enum Verdict {
    Keep,
    Skip,
    /// Past `until`: this entry and everything after it are left out.
    Stop,
}

impl Filter {
    fn new(options: &ReadOptions) -> Filter {
        Filter {
            stdout: options.stdout,
            stderr: options.stderr,
            since: options.since.and_then(|t| t.timestamp_nanos_opt()),
            until: options.until.and_then(|t| t.timestamp_nanos_opt()),
        }
    }

    pub fn judge_parts(&self, stderr: bool, time: &str) -> Verdict {
        let wanted = if stderr { self.stderr } else { self.stdout };
        if !wanted {
            return Verdict::Skip;
        }
        if self.since.is_none() && self.until.is_none() {
            return Verdict::Keep;
        }
        let Some(time) = entry_nanos(time) else {
            return Verdict::Skip;
        };
        if self.until.is_some_and(|until| time > until) {
            return Verdict::Stop;
        }
        if self.since.is_some_and(|since| time < since) {
            return Verdict::Skip;
        }
        Verdict::Keep
    }
}

/// Reads a json-file log forward from some offset, turning its entries into the bytes the
/// logs endpoint sends.
pub struct LogReader {
    path: PathBuf,
    file: File,
    position: u64,
    renderer: Renderer,
    raw: Vec<u8>,
    /// The read buffers of the parts of a read spread over threads.
    parts: Vec<Vec<u8>>,
    stopped: bool,
}

/// What one [`LogReader::read_chunk`] produced.
pub struct Chunk {
    pub output: Vec<u8>,
    /// The reader is at `limit`: there is nothing more to read until it grows.
    pub caught_up: bool,
    /// An entry past `until` was reached: the answer ends here.
    pub stopped: bool,
}

impl LogReader {
    /// Reads `file` (the log file at `path`, or its unpacked copy) from its start.
    pub(super) fn with_file(
        path: &Path,
        file: File,
        options: &ReadOptions,
        tty: bool,
    ) -> LogReader {
        LogReader {
            path: path.to_path_buf(),
            file,
            position: 0,
            renderer: Renderer {
                filter: Filter::new(options),
                timestamps: options.timestamps,
                tty,
            },
            raw: Vec::new(),
            parts: Vec::new(),
            stopped: false,
        }
    }

    fn read_error(&self, err: io::Error) -> Error {
        Error::internal(format!("reading log file {}: {err}", self.path.display()))
    }

    /// The file's current length.
    pub fn file_len(&self) -> Result<u64, Error> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|err| self.read_error(err))
    }

    /// Starts the reader where the last `count` entries that pass the filters, among those
    /// ending at or before `end`, begin; returns how many it found, fewer when the file has
    /// fewer.
    pub(super) fn start_at_tail(&mut self, end: u64, count: usize) -> Result<usize, Error> {
        let (start, found) = self
            .tail_counted(end, count)
            .map_err(|err| self.read_error(err))?;
        self.position = start;
        Ok(found)
    }

    fn tail_counted(&self, end: u64, count: usize) -> io::Result<(u64, usize)> {
        if count == 0 {
            return Ok((end, 0));
        }
        let mut found = 0;
        // Bytes from `block_start` to `line_end` not yet split into lines.
        let mut pending: Vec<u8> = Vec::new();
        let mut block_end = end;
        let mut line_end = end;
        while block_end > 0 {
            let block_start = block_end.saturating_sub(READ_CHUNK as u64);
            let mut block = vec![0u8; (block_end - block_start) as usize];
            self.file.read_exact_at(&mut block, block_start)?;
            block.extend_from_slice(&pending);
            // Lines that lie wholly in `block`: each ends before a newline (or at `end`).
            let mut cut = block.len();
            let mut newlines = memchr::memrchr_iter(b'\n', &block);
            if line_end == end && block.last() == Some(&b'\n') {
                // The file's final newline ends the last line; it starts no line.
                newlines.next();
                cut = block.len() - 1;
            }
            for newline in newlines {
                let line = &block[newline + 1..cut];
                if self.counts(line) {
                    found += 1;
                    if found == count {
                        return Ok((block_start + newline as u64 + 1, found));
                    }
                }
                cut = newline;
                line_end = block_start + newline as u64;
            }
            pending = block[..cut].to_vec();
            block_end = block_start;
        }
        // The first line of the file has no newline before it.
        if !pending.is_empty() && self.counts(&pending) {
            found += 1;
        }
        Ok((0, found))
    }

    fn counts(&self, line: &[u8]) -> bool {
        parse_entry(line).is_some_and(|e| {
            matches!(
                self.renderer.filter.judge_parts(e.stderr, &e.time),
                Verdict::Keep
            )
        })
    }

    /// Reads complete lines from the current position up to `limit` (at most
    /// [`READ_CHUNK`] bytes of them) and returns their framed output.
    pub fn read_chunk(&mut self, limit: u64) -> Result<Chunk, Error> {
        let mut output = Vec::new();
        if self.stopped || self.position >= limit {
            return Ok(Chunk {
                output,
                caught_up: true,
                stopped: self.stopped,
            });
        }
        let want = (limit - self.position).min(READ_CHUNK as u64) as usize;
        let workers = log_render::workers(want);
        if workers > 1 {
            let rendered = self
                .renderer
                .read_rendered(&self.file, (self.position, want), workers, &mut self.parts)
                .map_err(|err| self.read_error(err))?;
            if let Some(rendered) = rendered {
                self.position += rendered.consumed as u64;
                self.stopped = rendered.stopped;
                return Ok(Chunk {
                    output: rendered.output,
                    caught_up: self.position >= limit,
                    stopped: self.stopped,
                });
            }
        }
        self.raw.resize(want, 0);
        let read = read_at_most(&self.file, &mut self.raw, self.position)
            .map_err(|err| self.read_error(err))?;
        self.raw.truncate(read);
        let raw = std::mem::take(&mut self.raw);
        // Only whole lines: a chunk ends at its last newline, unless the line is longer
        // than a chunk (then it is taken whole from a larger read).
        let consumed = match memchr::memrchr(b'\n', &raw) {
            Some(last) => last + 1,
            None if read == 0 => 0,
            None => {
                self.raw = raw;
                return self.read_long_line(limit);
            }
        };
        output.reserve(consumed / 2);
        self.stopped = self.renderer.render_lines(&raw[..consumed], &mut output);
        self.position += consumed as u64;
        self.raw = raw;
        Ok(Chunk {
            output,
            caught_up: self.position >= limit || read == 0,
            stopped: self.stopped,
        })
    }

    /// A line that does not fit in one chunk: read on to its newline.
    fn read_long_line(&mut self, limit: u64) -> Result<Chunk, Error> {
        let mut line = std::mem::take(&mut self.raw);
        loop {
            let start = self.position + line.len() as u64;
            if start >= limit {
                // No newline before `limit`: the entry is not complete yet.
                return Ok(Chunk {
                    output: Vec::new(),
                    caught_up: true,
                    stopped: false,
                });
            }
            let mut more = vec![0u8; (limit - start).min(READ_CHUNK as u64) as usize];
            let read =
                read_at_most(&self.file, &mut more, start).map_err(|err| self.read_error(err))?;
            more.truncate(read);
            match memchr::memchr(b'\n', &more) {
                Some(newline) => {
                    line.extend_from_slice(&more[..=newline]);
                    break;
                }
                None if read == 0 => {
                    return Ok(Chunk {
                        output: Vec::new(),
                        caught_up: true,
                        stopped: false,
                    })
                }
                None => line.extend_from_slice(&more),
            }
        }
        let mut output = Vec::new();
        self.stopped = self.renderer.render_lines(&line, &mut output);
        self.position += line.len() as u64;
        Ok(Chunk {
            output,
            caught_up: self.position >= limit,
            stopped: self.stopped,
        })
    }
}

/// `pread` until `buffer` is full or the file ends; returns how much was read.
pub(super) fn read_at_most(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut read = 0;
    while read < buffer.len() {
        match file.read_at(&mut buffer[read..], offset + read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(read)
}

/// The whole log as the endpoint sends it, for callers that want it at once.
pub fn read(path: &Path, options: &ReadOptions, tty: bool) -> Result<Vec<u8>, Error> {
    let Some(mut reader) = super::log_chain::ChainReader::open(path, options, tty, || None)? else {
        return Ok(Vec::new());
    };
    let end = reader.file_len()?;
    let mut out = Vec::new();
    loop {
        let chunk = reader.read_chunk(end)?;
        out.extend_from_slice(&chunk.output);
        if chunk.caught_up || chunk.stopped {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_stdio::StreamKind;

    #[test]
    fn times_parse_in_both_forms() {
        let t = parse_time(Some("1700000000.5")).unwrap().unwrap();
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        assert!(parse_time(Some("2026-01-01T00:00:00Z")).unwrap().is_some());
        assert!(parse_time(Some("yesterday")).is_err());
        assert!(parse_time(Some("0")).unwrap().is_none());
    }

    const LOG: &str = concat!(
        r#"{"log":"a\n","stream":"stdout","time":"2026-01-01T00:00:01.000000000Z"}"#,
        "\n",
        r#"{"log":"b\n","stream":"stderr","time":"2026-01-01T00:00:02Z"}"#,
        "\n",
        r#"{"stream":"stdout","log":"c\n","time":"2026-01-01T00:00:03.000000000Z"}"#,
        "\n",
        "{truncated",
    );

    fn options() -> ReadOptions {
        ReadOptions {
            stdout: true,
            stderr: true,
            timestamps: false,
            tail: None,
            since: None,
            until: None,
        }
    }

    fn framed(parts: &[(StreamKind, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (stream, text) in parts {
            out.extend(berth_stdio::encode_frame(*stream, text.as_bytes()));
        }
        out
    }

    fn log_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn simple_escapes_are_decoded_by_hand_and_unicode_ones_by_the_parser() {
        let line = br#"{"log":"a\tb \"q\" \\ c\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}"#;
        let entry = parse_entry(line).unwrap();
        assert_eq!(&*entry.log, b"a\tb \"q\" \\ c\n");
        let line = br#"{"log":"\u00e9t\u00e9\n","stream":"stderr","time":"2026-01-02T03:04:05.123456789Z"}"#;
        let entry = parse_entry(line).unwrap();
        assert_eq!(&*entry.log, "été\n".as_bytes());
        assert!(entry.stderr);
    }

    #[test]
    fn read_frames_filters_and_tails() {
        let (_dir, path) = log_file(LOG);
        let tail = ReadOptions {
            tail: Some(2),
            ..options()
        };
        assert_eq!(
            read(&path, &tail, false).unwrap(),
            framed(&[(StreamKind::Stderr, "b\n"), (StreamKind::Stdout, "c\n")])
        );
        let only_stdout = ReadOptions {
            stderr: false,
            ..options()
        };
        assert_eq!(read(&path, &only_stdout, true).unwrap(), b"a\nc\n");
        let tail_stdout = ReadOptions {
            stderr: false,
            tail: Some(1),
            ..options()
        };
        assert_eq!(read(&path, &tail_stdout, true).unwrap(), b"c\n");
        let everything = ReadOptions {
            tail: Some(10),
            ..options()
        };
        assert_eq!(read(&path, &everything, true).unwrap(), b"a\nb\nc\n");
        let none = ReadOptions {
            tail: Some(0),
            ..options()
        };
        assert!(read(&path, &none, true).unwrap().is_empty());
    }

    #[test]
    fn since_until_and_timestamps() {
        let (_dir, path) = log_file(LOG);
        let window = ReadOptions {
            since: parse_time(Some("2026-01-01T00:00:02Z")).unwrap(),
            until: parse_time(Some("2026-01-01T00:00:02.5Z")).unwrap(),
            timestamps: true,
            ..options()
        };
        assert_eq!(
            read(&path, &window, true).unwrap(),
            b"2026-01-01T00:00:02.000000000Z b\n"
        );
    }

    #[test]
    fn escaped_text_is_decoded_and_missing_logs_are_empty() {
        let (_dir, path) = log_file(concat!(
            r#"{"log":"say \"hi\" \\ \u003ctag\u003e\n","stream":"stdout","time":"2026-01-01T00:00:01.000000000Z"}"#,
            "\n"
        ));
        assert_eq!(
            read(&path, &options(), true).unwrap(),
            b"say \"hi\" \\ <tag>\n"
        );
        let missing = path.with_file_name("none");
        assert!(read(&missing, &options(), true).unwrap().is_empty());
    }

    #[test]
    fn fixed_times_match_chrono() {
        for text in [
            "2026-01-01T00:00:01.000000000Z",
            "1999-12-31T23:59:59.999999999Z",
            "2024-02-29T12:34:56.000000001Z",
        ] {
            let expected = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .timestamp_nanos_opt();
            assert_eq!(fixed_time_nanos(text.as_bytes()), expected, "{text}");
        }
        assert_eq!(fixed_time_nanos(b"2026-01-01T00:00:01Z"), None);
    }

    #[test]
    fn chunks_end_at_whole_lines_and_stop_at_the_limit() {
        let entry = |i: usize| {
            format!(
                "{{\"log\":\"line {i}\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:01.000000000Z\"}}\n"
            )
        };
        let text: String = (0..50_000).map(entry).collect();
        let (_dir, path) = log_file(&text);
        let file = File::open(&path).unwrap();
        let mut reader = LogReader::with_file(&path, file, &options(), true);
        // A limit in the middle of an entry: only what precedes it is read.
        let limit = (text.len() / 2) as u64;
        let mut out = Vec::new();
        loop {
            let chunk = reader.read_chunk(limit).unwrap();
            out.extend_from_slice(&chunk.output);
            if chunk.caught_up {
                break;
            }
        }
        let first_half = String::from_utf8(out).unwrap();
        let count = first_half.lines().count();
        assert!(count > 0 && count < 50_000);
        let mut rest = Vec::new();
        loop {
            let chunk = reader.read_chunk(text.len() as u64).unwrap();
            rest.extend_from_slice(&chunk.output);
            if chunk.caught_up {
                break;
            }
        }
        let all = first_half + &String::from_utf8(rest).unwrap();
        let expected: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn a_line_longer_than_a_chunk_is_read_whole() {
        let long = "x".repeat(READ_CHUNK + 10);
        let text = format!(
            "{{\"log\":\"{long}\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:01.000000000Z\"}}\n"
        );
        let (_dir, path) = log_file(&text);
        assert_eq!(read(&path, &options(), true).unwrap(), long.as_bytes());
    }
}
