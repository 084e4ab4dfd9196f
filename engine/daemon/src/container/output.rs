//! A container's stdout and stderr: copied from its pipes into the json-file log, and
//! handed to every attached client.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::OwnedFd;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdout = 1,
    Stderr = 2,
}

impl StreamKind {
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Stdout => "stdout",
            StreamKind::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Chunk {
    pub stream: StreamKind,
    pub data: Bytes,
}

/// How many chunks an attached client may lag behind before the container's output waits
/// for it (Docker blocks on slow attach clients too; nothing is dropped).
const SUBSCRIBER_BACKLOG: usize = 64;

/// The fan-out point of one container's output. Subscribers that join before the container
/// starts (a foreground `run` attaches first) receive everything it prints.
#[derive(Default)]
pub struct OutputHub {
    subscribers: Mutex<Vec<mpsc::Sender<Chunk>>>,
}

impl OutputHub {
    pub fn subscribe(&self) -> mpsc::Receiver<Chunk> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BACKLOG);
        self.subscribers.lock().push(tx);
        rx
    }

    pub async fn publish(&self, chunk: &Chunk) {
        let subscribers: Vec<_> = self.subscribers.lock().clone();
        if subscribers.is_empty() {
            return;
        }
        let mut gone = false;
        for tx in &subscribers {
            gone |= tx.send(chunk.clone()).await.is_err();
        }
        if gone {
            self.subscribers.lock().retain(|tx| !tx.is_closed());
        }
    }

    /// Ends every subscription: the container's output is over.
    pub fn close(&self) {
        self.subscribers.lock().clear();
    }
}

/// Docker splits a log entry at 16 KiB so that one huge line cannot grow memory.
const MAX_LOG_ENTRY: usize = 16 * 1024;

/// Writes Docker's json-file format: one JSON object per line.
pub struct JsonLogWriter {
    out: BufWriter<File>,
}

impl JsonLogWriter {
    pub fn new(file: File) -> Self {
        JsonLogWriter {
            out: BufWriter::with_capacity(64 * 1024, file),
        }
    }

    pub fn write_entry(&mut self, stream: StreamKind, line: &[u8]) -> std::io::Result<()> {
        #[derive(serde::Serialize)]
        struct Entry<'a> {
            log: &'a str,
            stream: &'a str,
            time: String,
        }
        let text = String::from_utf8_lossy(line);
        let entry = Entry {
            log: &text,
            stream: stream.name(),
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        serde_json::to_writer(&mut self.out, &entry)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Splits a byte stream into log entries at newlines (kept), or at MAX_LOG_ENTRY.
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(pos + 1);
            if self.pending.is_empty() {
                emit(line);
            } else {
                self.pending.extend_from_slice(line);
                emit(&self.pending);
                self.pending.clear();
            }
            rest = tail;
        }
        self.pending.extend_from_slice(rest);
        while self.pending.len() >= MAX_LOG_ENTRY {
            let tail = self.pending.split_off(MAX_LOG_ENTRY);
            emit(&self.pending);
            self.pending = tail;
        }
    }

    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

/// Copies both pipes until both reach EOF, which happens once every process of the
/// container holding them has exited. Returns only then, so that nothing is lost.
pub async fn pump(stdout: OwnedFd, stderr: OwnedFd, log: File, hub: Arc<OutputHub>) {
    let mut writer = JsonLogWriter::new(log);
    let open = |fd: OwnedFd| pipe::Receiver::from_owned_fd(fd);
    let (mut out, mut err) = match (open(stdout), open(stderr)) {
        (Ok(out), Ok(err)) => (Some(out), Some(err)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("watching container output pipes: {e}");
            hub.close();
            return;
        }
    };
    let mut split_out = LineSplitter::default();
    let mut split_err = LineSplitter::default();
    let mut buf_out = vec![0u8; 64 * 1024];
    let mut buf_err = vec![0u8; 64 * 1024];
    while out.is_some() || err.is_some() {
        let (stream, result) = tokio::select! {
            r = async { out.as_mut().unwrap().read(&mut buf_out).await }, if out.is_some() => (StreamKind::Stdout, r),
            r = async { err.as_mut().unwrap().read(&mut buf_err).await }, if err.is_some() => (StreamKind::Stderr, r),
        };
        let n = match result {
            Ok(0) | Err(_) => {
                let splitter = match stream {
                    StreamKind::Stdout => {
                        out = None;
                        &mut split_out
                    }
                    StreamKind::Stderr => {
                        err = None;
                        &mut split_err
                    }
                };
                splitter.finish(|line| {
                    let _ = writer.write_entry(stream, line);
                });
                continue;
            }
            Ok(n) => n,
        };
        let (data, splitter) = match stream {
            StreamKind::Stdout => (&buf_out[..n], &mut split_out),
            StreamKind::Stderr => (&buf_err[..n], &mut split_err),
        };
        let mut failed = None;
        splitter.push(data, |line| {
            if let Err(e) = writer.write_entry(stream, line) {
                failed = Some(e);
            }
        });
        if let Err(e) = writer.flush() {
            failed = Some(e);
        }
        if let Some(e) = failed {
            tracing::warn!("writing container log: {e}");
        }
        hub.publish(&Chunk {
            stream,
            data: Bytes::copy_from_slice(data),
        })
        .await;
    }
    if let Err(e) = writer.flush() {
        tracing::warn!("writing container log: {e}");
    }
    hub.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = LineSplitter::default();
        let mut lines = Vec::new();
        for c in chunks {
            s.push(c, |l| lines.push(l.to_vec()));
        }
        s.finish(|l| lines.push(l.to_vec()));
        lines
    }

    #[test]
    fn lines_are_joined_across_reads_and_keep_newlines() {
        let lines = split(&[b"hel", b"lo\nwor", b"ld\n", b"tail"]);
        assert_eq!(
            lines,
            vec![b"hello\n".to_vec(), b"world\n".to_vec(), b"tail".to_vec()]
        );
    }

    #[test]
    fn long_lines_are_split_at_16k() {
        let big = vec![b'x'; MAX_LOG_ENTRY * 2 + 10];
        let lines = split(&[&big]);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].len(), MAX_LOG_ENTRY);
        assert_eq!(lines[2].len(), 10);
    }

    #[test]
    fn json_entries_have_docker_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = JsonLogWriter::new(File::create(&path).unwrap());
        w.write_entry(StreamKind::Stderr, b"oops\n").unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["log"], "oops\n");
        assert_eq!(v["stream"], "stderr");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }
}
