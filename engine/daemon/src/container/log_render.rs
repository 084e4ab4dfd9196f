//! Turning complete json-file lines into the bytes the logs endpoint sends, on every core.
//!
//! An entry of the shape berth and Docker write is rendered straight into the output: room
//! for the frame header is kept, the text is unescaped after it, and the header's length is
//! filled in last, so a line costs no allocation. Any other line goes through
//! [`parse_entry`]. A large read is cut into one part per core, each read and rendered on
//! its own thread (copying the file out of the page cache is a good share of the work);
//! the lines cut between parts are mended when the parts' output is joined in order.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::sync::OnceLock;

use berth_stdio::{frame_header, StreamKind, HEADER_LEN};
use chrono::DateTime;

use super::logs::{entry_nanos, fixed_time_nanos, parse_entry, read_at_most, Filter, Verdict};

/// Below this, a block is rendered on the calling thread: starting a thread costs more
/// than the lines take.
const PARALLEL_MIN: usize = 256 * 1024;

const LOG_KEY: &[u8] = b"{\"log\":\"";
const STDOUT_KEY: &[u8] = b",\"stream\":\"stdout\"";
const STDERR_KEY: &[u8] = b",\"stream\":\"stderr\"";
const TIME_KEY: &[u8] = b",\"time\":\"";

/// What is kept of the log and how it is written: framed (no TTY) or raw, with or without
/// each entry's time.
#[derive(Debug, Clone, Copy)]
pub struct Renderer {
    pub(super) filter: Filter,
    pub timestamps: bool,
    pub tty: bool,
}

impl Renderer {
    /// Reads `len` bytes of `file` from `start` (where a line begins) in `count` parts, each
    /// read and rendered on a thread of its own, and joins their output in order. A line cut
    /// between two parts is put back together and rendered when they are joined; what
    /// follows the last newline is left for the next read. `None` when a part holds no
    /// newline or the file ends early: the caller then reads on one thread. `buffers` are
    /// the parts' read buffers, kept from one read to the next.
    pub fn read_rendered(
        &self,
        file: &File,
        (start, len): (u64, usize),
        count: usize,
        buffers: &mut Vec<Vec<u8>>,
    ) -> io::Result<Option<Rendered>> {
        let count = count.max(1);
        let bounds: Vec<(u64, usize)> = (0..count)
            .map(|i| {
                let from = len * i / count;
                (start + from as u64, len * (i + 1) / count - from)
            })
            .collect();
        buffers.resize_with(count, Vec::new);
        let (first_buffer, other_buffers) = buffers.split_at_mut(1);
        // The first part is rendered on this thread, straight into the answer.
        let mut output = Vec::with_capacity(len / 2);
        let (first, others) = std::thread::scope(|scope| {
            let others: Vec<_> = bounds[1..]
                .iter()
                .zip(other_buffers.iter_mut())
                .map(|(&bound, buffer)| {
                    scope.spawn(move || {
                        let mut out = Vec::with_capacity(bound.1 / 2);
                        let part = self.read_part(file, bound, false, buffer, &mut out);
                        (part, out)
                    })
                })
                .collect();
            let first = self.read_part(file, bounds[0], true, &mut first_buffer[0], &mut output);
            let others: Vec<_> = others
                .into_iter()
                .map(|other| {
                    other
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect();
            (first, others)
        });
        let Some(first) = first? else {
            return Ok(None);
        };
        let mut parts = Vec::with_capacity(count);
        parts.push((first, Vec::new()));
        for (part, out) in others {
            match part? {
                Some(part) => parts.push((part, out)),
                None => return Ok(None),
            }
        }
        let mut stitched = Vec::new();
        let mut stopped = parts[0].0.stopped;
        for i in 1..parts.len() {
            if stopped {
                break;
            }
            let (part, out) = &parts[i];
            stitched.clear();
            stitched.extend_from_slice(parts[i - 1].0.tail());
            stitched.extend_from_slice(part.head());
            stopped = self.render_lines(&stitched, &mut output);
            if !stopped {
                output.extend_from_slice(out);
                stopped = part.stopped;
            }
        }
        let (last_offset, _) = bounds[count - 1];
        let (last, _) = &parts[count - 1];
        Ok(Some(Rendered {
            output,
            consumed: (last_offset - start) as usize + last.lines_end,
            stopped,
        }))
    }

    /// Reads one part into `buffer` and renders the lines that lie wholly inside it.
    fn read_part<'a>(
        &self,
        file: &File,
        (offset, size): (u64, usize),
        starts_a_line: bool,
        buffer: &'a mut Vec<u8>,
        output: &mut Vec<u8>,
    ) -> io::Result<Option<Part<'a>>> {
        buffer.resize(size, 0);
        if read_at_most(file, buffer, offset)? < size {
            return Ok(None);
        }
        let data = &buffer[..];
        let Some(last_newline) = memchr::memrchr(b'\n', data) else {
            return Ok(None);
        };
        let lines_start = if starts_a_line {
            0
        } else {
            // Before the first newline is the end of a line that began in the part before.
            memchr::memchr(b'\n', data).map_or(0, |first| first + 1)
        };
        let lines_end = last_newline + 1;
        let stopped = self.render_lines(&data[lines_start..lines_end], output);
        Ok(Some(Part {
            data,
            lines_start,
            lines_end,
            stopped,
        }))
    }

    /// Appends the output for `lines` (complete lines, each ending in a newline). Returns
    /// whether an entry past `until` was reached; nothing after it is written.
    pub fn render_lines(&self, lines: &[u8], output: &mut Vec<u8>) -> bool {
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', lines) {
            let line = &lines[start..newline];
            start = newline + 1;
            if let Verdict::Stop = self.render_line(line, output) {
                return true;
            }
        }
        false
    }

    fn render_line(&self, line: &[u8], output: &mut Vec<u8>) -> Verdict {
        if let Some(verdict) = self.render_usual(line, output) {
            return verdict;
        }
        // A line that is not a log entry (e.g. cut short by a crash) is skipped.
        let Some(entry) = parse_entry(line) else {
            return Verdict::Skip;
        };
        let verdict = self.filter.judge_parts(entry.stderr, &entry.time);
        if let Verdict::Keep = verdict {
            let mark = self.open_frame(&entry.time, output);
            output.extend_from_slice(&entry.log);
            self.close_frame(mark, entry.stderr, output);
        }
        verdict
    }

    /// An entry written as `{"log":"…","stream":"…","time":"…"}` with no `\u` escape in its
    /// text; `None` (and nothing written) for any other line.
    fn render_usual(&self, line: &[u8], output: &mut Vec<u8>) -> Option<Verdict> {
        let rest = line.strip_prefix(LOG_KEY)?;
        let (end, escaped) = string_end(rest)?;
        let after = &rest[end + 1..];
        let (stderr, after) = match after.strip_prefix(STDOUT_KEY) {
            Some(after) => (false, after),
            None => (true, after.strip_prefix(STDERR_KEY)?),
        };
        let time = text_without_quotes(after.strip_prefix(TIME_KEY)?.strip_suffix(b"\"}")?)?;
        let verdict = self.filter.judge_parts(stderr, time);
        if let Verdict::Keep = verdict {
            let mark = self.open_frame(time, output);
            let text = &rest[..end];
            if !escaped {
                output.extend_from_slice(text);
            } else if !unescape_into(text, output) {
                output.truncate(mark);
                return None;
            }
            self.close_frame(mark, stderr, output);
        }
        Some(verdict)
    }

    /// Starts an entry's output: room for its frame header, then its time if asked for.
    /// Returns where the entry starts.
    fn open_frame(&self, time: &str, output: &mut Vec<u8>) -> usize {
        let mark = output.len();
        if !self.tty {
            output.extend_from_slice(&[0; HEADER_LEN]);
        }
        if self.timestamps {
            if fixed_time_nanos(time.as_bytes()).is_some() {
                output.extend_from_slice(time.as_bytes());
            } else {
                // Docker prints every timestamp with nine fractional digits.
                let nanos = entry_nanos(time).unwrap_or(0);
                let stamp = DateTime::from_timestamp_nanos(nanos)
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                output.extend_from_slice(stamp.as_bytes());
            }
            output.push(b' ');
        }
        mark
    }

    /// Fills in the header of the entry that starts at `mark`, now that its length is known.
    fn close_frame(&self, mark: usize, stderr: bool, output: &mut [u8]) {
        if self.tty {
            return;
        }
        let stream = if stderr {
            StreamKind::Stderr
        } else {
            StreamKind::Stdout
        };
        let len = output.len() - mark - HEADER_LEN;
        output[mark..mark + HEADER_LEN].copy_from_slice(&frame_header(stream, len));
    }
}

/// The output of [`Renderer::read_rendered`].
pub struct Rendered {
    pub output: Vec<u8>,
    /// How many bytes from `start`, all whole lines, were rendered.
    pub consumed: usize,
    /// An entry past `until` was reached.
    pub stopped: bool,
}

/// A part of a read whose lines are rendered, with the partial lines at its two ends,
/// which belong with its neighbours'.
struct Part<'a> {
    data: &'a [u8],
    lines_start: usize,
    lines_end: usize,
    stopped: bool,
}

impl Part<'_> {
    /// The end of the line begun in the part before, newline included.
    fn head(&self) -> &[u8] {
        &self.data[..self.lines_start]
    }

    /// The start of a line that ends in the part after.
    fn tail(&self) -> &[u8] {
        &self.data[self.lines_end..]
    }
}

/// `bytes` as text, when they hold no quote. Times are short and ASCII: checked byte by
/// byte, which costs less than calling out to a search.
fn text_without_quotes(bytes: &[u8]) -> Option<&str> {
    if bytes.iter().all(|&b| b != b'"' && b.is_ascii()) {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    if bytes.contains(&b'"') {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// Where a JSON string's text ends (its closing quote, the first one not escaped), and
/// whether it holds escapes.
fn string_end(text: &[u8]) -> Option<(usize, bool)> {
    let mut at = 0;
    let mut escaped = false;
    loop {
        let found = memchr::memchr2(b'"', b'\\', text.get(at..)?)? + at;
        if text[found] == b'"' {
            return Some((found, escaped));
        }
        escaped = true;
        at = found + 2;
    }
}

/// Appends the text of a JSON string whose escapes are all single characters (`\n`, `\"`,
/// `\\`, …). `false` when it holds a `\u` escape (or anything else), which the JSON parser
/// decodes instead; what was appended is then the caller's to drop.
pub fn unescape_into(text: &[u8], output: &mut Vec<u8>) -> bool {
    let mut rest = text;
    while let Some(at) = memchr::memchr(b'\\', rest) {
        output.extend_from_slice(&rest[..at]);
        let decoded = match rest.get(at + 1) {
            Some(b'n') => b'\n',
            Some(b't') => b'\t',
            Some(b'r') => b'\r',
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            _ => return false,
        };
        output.push(decoded);
        rest = &rest[at + 2..];
    }
    output.extend_from_slice(rest);
    true
}

/// The decoded text, for callers that want it on its own.
pub fn unescape(text: &[u8]) -> Option<Cow<'_, [u8]>> {
    if memchr::memchr(b'\\', text).is_none() {
        return Some(Cow::Borrowed(text));
    }
    let mut out = Vec::with_capacity(text.len());
    unescape_into(text, &mut out).then_some(Cow::Owned(out))
}

/// How many threads a read of `len` bytes is worth.
pub fn workers(len: usize) -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    if len < PARALLEL_MIN {
        return 1;
    }
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn everything() -> Renderer {
        Renderer {
            filter: Filter {
                stdout: true,
                stderr: true,
                since: None,
                until: None,
            },
            timestamps: false,
            tty: false,
        }
    }

    fn entry(text: &str, stream: &str, second: u32) -> String {
        format!(
            "{{\"log\":\"{text}\",\"stream\":\"{stream}\",\"time\":\"2026-01-01T00:00:{second:02}.000000000Z\"}}\n"
        )
    }

    /// Lines of every kind: plain, simple escapes, `\u` escapes, both streams, another key
    /// order, and a line that is not an entry.
    fn mixed_log(lines: usize) -> String {
        (0..lines)
            .map(|i| match i % 6 {
                0 => entry(&format!("plain {i}\\n"), "stdout", (i % 60) as u32),
                1 => entry(&format!("tab\\tquote\\\" {i}\\n"), "stderr", (i % 60) as u32),
                2 => entry(&format!("\\u00e9t\\u00e9 {i}\\n"), "stdout", (i % 60) as u32),
                3 => format!(
                    "{{\"stream\":\"stderr\",\"log\":\"reordered {i}\\n\",\"time\":\"2026-01-01T00:00:00Z\"}}\n"
                ),
                4 => "{not an entry\n".to_string(),
                _ => entry(&format!("no newline {i}"), "stdout", (i % 60) as u32),
            })
            .collect()
    }

    fn file_of(text: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, text).unwrap();
        (dir, File::open(&path).unwrap())
    }

    /// Renders `text` in `count` parts, as [`Renderer::read_rendered`] does, and checks it
    /// against one thread rendering the same whole lines.
    fn check_parts(renderer: &Renderer, text: &[u8], count: usize) {
        let (_dir, file) = file_of(text);
        let mut buffers = Vec::new();
        let rendered = renderer
            .read_rendered(&file, (0, text.len()), count, &mut buffers)
            .unwrap()
            .unwrap_or_else(|| panic!("{count} parts fell back"));
        let whole = memchr::memrchr(b'\n', text).map_or(0, |last| last + 1);
        assert_eq!(rendered.consumed, whole, "{count} parts");
        let mut one_thread = Vec::new();
        assert!(!renderer.render_lines(&text[..whole], &mut one_thread));
        assert_eq!(rendered.output, one_thread, "{count} parts");
        assert!(!rendered.stopped);
    }

    #[test]
    fn parts_cut_inside_lines_render_as_one_thread_does() {
        let text = mixed_log(12_000);
        for renderer in [
            everything(),
            Renderer {
                timestamps: true,
                tty: true,
                ..everything()
            },
        ] {
            for count in [1, 2, 3, 7, 64] {
                check_parts(&renderer, text.as_bytes(), count);
            }
        }
        // A partial last line is left for the next read.
        let partial = format!("{text}{{\"log\":\"cut sh");
        check_parts(&everything(), partial.as_bytes(), 2);
    }

    #[test]
    fn a_part_without_a_newline_or_a_short_file_falls_back() {
        let long = entry(&"x".repeat(5000), "stdout", 1);
        let text = [entry("a", "stdout", 1), long, entry("b", "stdout", 1)].concat();
        let (_dir, file) = file_of(text.as_bytes());
        // The middle of three parts lies inside the long line.
        let rendered = everything()
            .read_rendered(&file, (0, text.len()), 3, &mut Vec::new())
            .unwrap();
        assert!(rendered.is_none());
        // The file is shorter than asked for.
        let rendered = everything()
            .read_rendered(&file, (0, text.len() + 10), 2, &mut Vec::new())
            .unwrap();
        assert!(rendered.is_none());
        let (_dir, empty) = file_of(b"");
        assert!(everything()
            .read_rendered(&empty, (0, 0), 2, &mut Vec::new())
            .unwrap()
            .is_none());
    }

    #[test]
    fn escapes_are_decoded_into_the_frame() {
        let text = [
            entry("a\\tb \\\"q\\\" \\\\ c\\n", "stdout", 1),
            entry("\\u00e9t\\u00e9\\n", "stderr", 2),
        ]
        .concat();
        let mut out = Vec::new();
        everything().render_lines(text.as_bytes(), &mut out);
        let mut expected = berth_stdio::encode_frame(StreamKind::Stdout, b"a\tb \"q\" \\ c\n");
        expected.extend(berth_stdio::encode_frame(
            StreamKind::Stderr,
            "été\n".as_bytes(),
        ));
        assert_eq!(out, expected);
        assert_eq!(unescape(br"x\u0041"), None);
        assert_eq!(unescape(br"trailing\"), None);
        assert_eq!(unescape(br"a\nb").as_deref(), Some(&b"a\nb"[..]));
    }

    #[test]
    fn a_line_that_is_not_an_entry_gives_nothing() {
        let mut out = Vec::new();
        assert!(!everything().render_lines(b"", &mut out));
        let full = entry("x\\n", "stdout", 1);
        let cut = &full[..full.len() - 10];
        everything().render_lines(format!("{cut}\n").as_bytes(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn until_stops_at_the_first_later_entry_in_any_part() {
        let text: String = (0..20_000)
            .map(|i| entry(&format!("{i}\\n"), "stdout", if i < 15_000 { 1 } else { 3 }))
            .collect();
        let renderer = Renderer {
            filter: Filter {
                until: Some(1_767_225_602_000_000_000),
                ..everything().filter
            },
            tty: true,
            ..everything()
        };
        let (_dir, file) = file_of(text.as_bytes());
        // The later entries start in the second of two parts, and in the first of five;
        // the buffers of one read serve the next.
        let mut buffers = Vec::new();
        for count in [2, 5, 2] {
            let rendered = renderer
                .read_rendered(&file, (0, text.len()), count, &mut buffers)
                .unwrap()
                .unwrap();
            assert!(rendered.stopped);
            let expected: String = (0..15_000).map(|i| format!("{i}\n")).collect();
            assert_eq!(String::from_utf8(rendered.output).unwrap(), expected);
        }
    }
}
