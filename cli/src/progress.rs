//! Renders Docker's JSON progress messages as the docker CLI does: on a terminal one line
//! per layer, redrawn in place with a progress bar; elsewhere one line per status change.

use std::io::Write;

use serde_json::Value;

use crate::error::CliError;
use crate::format::units::human_size_with_precision;

const BAR_WIDTH: u64 = 50;

/// What the stream carried besides statuses.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `aux` objects (push digests, load results).
    pub aux: Vec<Value>,
}

pub struct Renderer<W: Write> {
    out: W,
    terminal: bool,
    /// Layer IDs in the order their lines were printed (terminal mode).
    lines: Vec<String>,
    outcome: Outcome,
}

/// An error message of a JSON progress stream (`errorDetail.message`, or the older
/// `error`) as the command's error.
pub fn fail_if_error(message: &Value) -> Result<(), CliError> {
    match message
        .get("errorDetail")
        .and_then(|d| d.get("message"))
        .or_else(|| message.get("error"))
        .and_then(Value::as_str)
    {
        Some(error) => Err(CliError::Status {
            code: 1,
            message: error.to_owned(),
        }),
        None => Ok(()),
    }
}

impl<W: Write> Renderer<W> {
    pub fn new(out: W, terminal: bool) -> Renderer<W> {
        Renderer {
            out,
            terminal,
            lines: Vec::new(),
            outcome: Outcome::default(),
        }
    }

    /// Renders one message; an error message becomes the command's error.
    pub fn message(&mut self, message: &Value) -> Result<(), CliError> {
        fail_if_error(message)?;
        if let Some(aux) = message.get("aux") {
            self.outcome.aux.push(aux.clone());
            return Ok(());
        }
        if let Some(text) = message.get("stream").and_then(Value::as_str) {
            return self.write(text.as_bytes());
        }
        let status = message.get("status").and_then(Value::as_str).unwrap_or("");
        let id = message.get("id").and_then(Value::as_str);
        let detail = message.get("progressDetail");
        let current = detail
            .and_then(|d| d.get("current"))
            .and_then(Value::as_u64);
        let total = detail.and_then(|d| d.get("total")).and_then(Value::as_u64);
        let Some(id) = id else {
            return self.write(format!("{status}\n").as_bytes());
        };
        if !self.terminal {
            // Without a terminal, progress updates would only be noise.
            if current.is_some() {
                return Ok(());
            }
            return self.write(format!("{id}: {status}\n").as_bytes());
        }
        let bar = current
            .map(|c| bar(c, total.unwrap_or(0)))
            .unwrap_or_default();
        let line = format!("{id}: {status} {bar}");
        match self.lines.iter().position(|l| l == id) {
            Some(index) => {
                let up = self.lines.len() - index;
                // Up to the layer's line, clear it, rewrite it, back down.
                let text = format!("\x1b[{up}A\r\x1b[2K{}\r\x1b[{up}B", line.trim_end());
                self.write(text.as_bytes())
            }
            None => {
                self.lines.push(id.to_owned());
                self.write(format!("{}\n", line.trim_end()).as_bytes())
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        self.out
            .write_all(bytes)
            .and_then(|()| self.out.flush())
            .map_err(|e| CliError::io("writing progress", e))
    }

    pub fn finish(self) -> Outcome {
        self.outcome
    }
}

/// `[=====>      ]  1.2MB/4.5MB`, as the docker CLI draws it.
pub fn bar(current: u64, total: u64) -> String {
    let size = |n: u64| human_size_with_precision(n as f64, 4);
    if total == 0 || current > total {
        return format!("{:>8}", size(current));
    }
    let filled = (BAR_WIDTH * current / total) as usize;
    let width = BAR_WIDTH as usize;
    let mut bar = "=".repeat(filled);
    if filled < width {
        bar.push('>');
        bar.push_str(&" ".repeat(width - filled - 1));
    }
    format!("[{bar}] {:>8}/{}", size(current), size(total))
}

/// Feeds a byte stream of concatenated JSON messages to a renderer, keeping an incomplete
/// message for the next chunk.
#[derive(Default)]
pub struct MessageSplitter {
    pending: Vec<u8>,
}

impl MessageSplitter {
    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut each: impl FnMut(&Value) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        self.pending.extend_from_slice(chunk);
        let mut stream = serde_json::Deserializer::from_slice(&self.pending).into_iter::<Value>();
        let mut consumed = 0;
        loop {
            match stream.next() {
                Some(Ok(value)) => {
                    consumed = stream.byte_offset();
                    each(&value)?;
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => {
                    return Err(CliError::Status {
                        code: 1,
                        message: format!("the daemon's progress stream is not JSON: {e}"),
                    })
                }
                None => break,
            }
        }
        self.pending.drain(..consumed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(terminal: bool, messages: &[Value]) -> (String, Result<(), CliError>) {
        let mut out = Vec::new();
        let mut renderer = Renderer::new(&mut out, terminal);
        let mut result = Ok(());
        for m in messages {
            result = renderer.message(m);
            if result.is_err() {
                break;
            }
        }
        drop(renderer);
        (String::from_utf8(out).unwrap(), result)
    }

    #[test]
    fn plain_output_prints_status_changes_only() {
        let (text, result) = render(
            false,
            &[
                json!({"status":"Pulling from library/busybox","id":"latest"}),
                json!({"status":"Pulling fs layer","progressDetail":{},"id":"abc"}),
                json!({"status":"Downloading","progressDetail":{"current":5,"total":10},"id":"abc"}),
                json!({"status":"Pull complete","progressDetail":{},"id":"abc"}),
                json!({"status":"Digest: sha256:x"}),
            ],
        );
        result.unwrap();
        assert_eq!(
            text,
            "latest: Pulling from library/busybox\nabc: Pulling fs layer\nabc: Pull complete\nDigest: sha256:x\n"
        );
    }

    #[test]
    fn terminal_output_redraws_layer_lines() {
        let (text, _) = render(
            true,
            &[
                json!({"status":"Pulling fs layer","progressDetail":{},"id":"a"}),
                json!({"status":"Pulling fs layer","progressDetail":{},"id":"b"}),
                json!({"status":"Downloading","progressDetail":{"current":500,"total":1000},"id":"a"}),
            ],
        );
        assert_eq!(
            text,
            format!(
                "a: Pulling fs layer\nb: Pulling fs layer\n\x1b[2A\r\x1b[2Ka: Downloading [{}>{}]     500B/1kB\r\x1b[2B",
                "=".repeat(25),
                " ".repeat(24)
            )
        );
    }

    #[test]
    fn errors_end_the_stream() {
        let (_, result) = render(
            false,
            &[json!({"errorDetail":{"message":"boom"},"error":"boom"})],
        );
        assert_eq!(result.unwrap_err().to_string(), "boom");
    }

    #[test]
    fn splitter_handles_messages_across_chunks() {
        let mut splitter = MessageSplitter::default();
        let mut seen = Vec::new();
        splitter
            .feed(b"{\"status\":\"a\"}\n{\"sta", |v| {
                seen.push(v["status"].clone());
                Ok(())
            })
            .unwrap();
        splitter
            .feed(b"tus\":\"b\"}\n", |v| {
                seen.push(v["status"].clone());
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, [json!("a"), json!("b")]);
    }
}
