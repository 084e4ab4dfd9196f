//! Turning complete json-file lines into the bytes the logs endpoint sends, on every core.
//!
//! An entry of the shape berth and Docker write is rendered straight into the output: room
//! for the frame header is kept, the text is unescaped after it, and the header's length is
//! filled in last, so a line costs no allocation. Any other line goes through
//! [`parse_entry`]. A large block of lines is cut at newlines into one piece per core; the
//! pieces are rendered side by side and joined in their order.

use std::borrow::Cow;
use std::sync::OnceLock;

use berth_stdio::{frame_header, StreamKind, HEADER_LEN};
use chrono::DateTime;

use super::logs::{entry_nanos, fixed_time_nanos, parse_entry, Filter, Verdict};

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
    /// Appends the output for `lines` (complete lines, each ending in a newline). Returns
    /// whether an entry past `until` was reached; nothing after it is written.
    pub fn render_block(&self, lines: &[u8], output: &mut Vec<u8>) -> bool {
        let pieces = split_at_lines(lines, workers(lines.len()));
        let Some((first, rest)) = pieces.split_first() else {
            return false;
        };
        if rest.is_empty() {
            return self.render_lines(first, output);
        }
        std::thread::scope(|scope| {
            let others: Vec<_> = rest
                .iter()
                .map(|piece| {
                    scope.spawn(move || {
                        let mut out = Vec::with_capacity(piece.len() / 2);
                        let stopped = self.render_lines(piece, &mut out);
                        (out, stopped)
                    })
                })
                .collect();
            let mut stopped = self.render_lines(first, output);
            for other in others {
                let (out, piece_stopped) = other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                if !stopped {
                    output.extend_from_slice(&out);
                    stopped = piece_stopped;
                }
            }
            stopped
        })
    }

    /// [`Self::render_block`] on the calling thread.
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
        let time = after.strip_prefix(TIME_KEY)?.strip_suffix(b"\"}")?;
        if memchr::memchr(b'"', time).is_some() {
            return None;
        }
        let time = std::str::from_utf8(time).ok()?;
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

fn workers(len: usize) -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    if len < PARALLEL_MIN {
        return 1;
    }
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Cuts `lines` into at most `count` pieces of about the same size, each ending just after
/// a newline (the last one where `lines` ends).
pub fn split_at_lines(lines: &[u8], count: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(count);
    let mut start = 0;
    for i in 1..count {
        let target = (lines.len() * i / count).max(start);
        let Some(newline) = memchr::memchr(b'\n', &lines[target..]) else {
            break;
        };
        let end = target + newline + 1;
        if end >= lines.len() {
            break;
        }
        pieces.push(&lines[start..end]);
        start = end;
    }
    if start < lines.len() {
        pieces.push(&lines[start..]);
    }
    pieces
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

    #[test]
    fn pieces_end_after_newlines_and_cover_everything() {
        let text = mixed_log(600);
        for count in 1..6 {
            let pieces = split_at_lines(text.as_bytes(), count);
            assert!(!pieces.is_empty() && pieces.len() <= count);
            assert!(pieces.iter().all(|p| p.ends_with(b"\n")));
            assert_eq!(pieces.concat(), text.as_bytes());
        }
        assert!(split_at_lines(b"", 2).is_empty());
        // One line cannot be cut: a cut point inside it moves to its end.
        let one = entry("only", "stdout", 1);
        assert_eq!(split_at_lines(one.as_bytes(), 4), [one.as_bytes()]);
    }

    #[test]
    fn parallel_rendering_matches_one_thread_for_every_kind_of_line() {
        let text = mixed_log(12_000);
        assert!(text.len() > PARALLEL_MIN);
        for renderer in [
            everything(),
            Renderer {
                timestamps: true,
                tty: true,
                ..everything()
            },
        ] {
            let mut one_thread = Vec::new();
            assert!(!renderer.render_lines(text.as_bytes(), &mut one_thread));
            for count in [2, 3, 7] {
                let mut joined = Vec::new();
                for piece in split_at_lines(text.as_bytes(), count) {
                    renderer.render_lines(piece, &mut joined);
                }
                assert_eq!(joined, one_thread, "{count} pieces");
            }
            let mut parallel = Vec::new();
            assert!(!renderer.render_block(text.as_bytes(), &mut parallel));
            assert_eq!(parallel, one_thread);
        }
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
    fn a_partial_last_line_and_an_empty_block_give_nothing() {
        let mut out = Vec::new();
        assert!(!everything().render_block(b"", &mut out));
        let full = entry("x\\n", "stdout", 1);
        let cut = &full[..full.len() - 10];
        everything().render_lines(format!("{cut}\n").as_bytes(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn until_stops_at_the_first_later_entry_even_in_a_later_piece() {
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
        let mut out = Vec::new();
        assert!(renderer.render_block(text.as_bytes(), &mut out));
        let expected: String = (0..15_000).map(|i| format!("{i}\n")).collect();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
