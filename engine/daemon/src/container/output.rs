//! A container's stdout and stderr: copied from its pipes into the json-file log, and
//! handed to every attached client.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};

use super::log_files::{self, FileId, Rotation};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdout = 1,
    Stderr = 2,
}

impl From<StreamKind> for berth_stdio::StreamKind {
    fn from(stream: StreamKind) -> Self {
        match stream {
            StreamKind::Stdout => berth_stdio::StreamKind::Stdout,
            StreamKind::Stderr => berth_stdio::StreamKind::Stderr,
        }
    }
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

/// How far one run's output has reached the log file, published by the pump after each
/// flush so that `logs -f` can follow the file without racing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogProgress {
    /// The offset up to which `file` holds complete entries of this run.
    pub written: u64,
    /// The file being written (zero before the first flush: the current one); once it
    /// differs from the newest a follower holds, the log has rotated.
    pub file: FileId,
    /// The run's output is over: nothing more will be written.
    pub closed: bool,
}

/// Writes Docker's json-file format: one JSON object per line,
/// `{"log":"…","stream":"stdout","time":"…"}`.
pub struct JsonLogWriter {
    out: BufWriter<File>,
    /// The identity of the file written, for [`LogProgress::file`].
    file: FileId,
    /// File offset after everything handed to `write_entry` so far.
    offset: u64,
    /// The entry being built; kept to reuse its allocation.
    entry: Vec<u8>,
    /// Where the log lives and when it rotates (`--log-opt max-size`).
    rotation: Option<(PathBuf, Rotation)>,
    /// The compression of the last rotated file, finished before the next rotation moves it.
    compressing: Option<std::thread::JoinHandle<()>>,
}

/// A log file and, when it rotates, its path and limits.
pub struct LogTarget {
    pub file: File,
    pub rotation: Option<(PathBuf, Rotation)>,
}

const WRITE_BUFFER: usize = 256 * 1024;

impl JsonLogWriter {
    /// `file` is opened for appending; entries go after what it holds.
    #[cfg(test)]
    pub fn new(file: File) -> Self {
        Self::with_target(LogTarget {
            file,
            rotation: None,
        })
    }

    pub fn with_target(target: LogTarget) -> Self {
        let offset = target.file.metadata().map(|m| m.len()).unwrap_or(0);
        JsonLogWriter {
            file: FileId::of(&target.file).unwrap_or_default(),
            out: BufWriter::with_capacity(WRITE_BUFFER, target.file),
            offset,
            entry: Vec::with_capacity(512),
            rotation: target.rotation,
            compressing: None,
        }
    }

    /// Waits for the compression of the last rotated file.
    #[cfg(test)]
    pub fn finish_compression(&mut self) {
        if let Some(compressing) = self.compressing.take() {
            let _ = compressing.join();
        }
    }

    /// The progress to publish after a flush that reached `written`.
    pub fn progress(&self, written: u64, closed: bool) -> LogProgress {
        LogProgress {
            written,
            file: self.file,
            closed,
        }
    }

    /// Starts a new file when the entry being written would take the current one past
    /// `max-size` (a file always takes at least one entry).
    fn rotate_if_full(&mut self) -> std::io::Result<()> {
        let Some((path, rotation)) = &self.rotation else {
            return Ok(());
        };
        if self.offset == 0 || self.offset + self.entry.len() as u64 <= rotation.max_size {
            return Ok(());
        }
        self.out.flush()?;
        // The file being compressed is `.1`, which this rotation renames.
        if let Some(compressing) = self.compressing.take() {
            let _ = compressing.join();
        }
        let file = log_files::rotate(path, rotation.max_file)?;
        self.file = FileId::of(&file)?;
        self.out = BufWriter::with_capacity(WRITE_BUFFER, file);
        self.offset = 0;
        if rotation.compress && rotation.max_file > 1 {
            // Off the pump's thread: a 20 MB file takes a while to gzip.
            let path = path.clone();
            self.compressing = Some(std::thread::spawn(move || {
                if let Err(err) = log_files::compress_first(&path) {
                    tracing::warn!("compressing a rotated log: {err}");
                }
            }));
        }
        Ok(())
    }

    /// Appends one entry. `time` is the RFC 3339 time of the read that brought the line.
    pub fn write_entry(
        &mut self,
        stream: StreamKind,
        line: &[u8],
        time: &str,
    ) -> std::io::Result<()> {
        self.entry.clear();
        self.entry.extend_from_slice(b"{\"log\":\"");
        match std::str::from_utf8(line) {
            Ok(text) => escape_json(text, &mut self.entry),
            // Docker stores invalid UTF-8 as U+FFFD too.
            Err(_) => escape_json(&String::from_utf8_lossy(line), &mut self.entry),
        }
        self.entry.extend_from_slice(b"\",\"stream\":\"");
        self.entry.extend_from_slice(stream.name().as_bytes());
        self.entry.extend_from_slice(b"\",\"time\":\"");
        self.entry.extend_from_slice(time.as_bytes());
        self.entry.extend_from_slice(b"\"}\n");
        self.rotate_if_full()?;
        self.out.write_all(&self.entry)?;
        self.offset += self.entry.len() as u64;
        Ok(())
    }

    /// Writes out what is buffered; returns the offset up to which the file then holds
    /// complete entries.
    pub fn flush(&mut self) -> std::io::Result<u64> {
        self.out.flush()?;
        Ok(self.offset)
    }
}

/// Bytes that JSON strings cannot hold as they are: control characters, `"` and `\`.
const fn needs_escape_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
}

static NEEDS_ESCAPE: [bool; 256] = needs_escape_table();

/// Appends `text` as the inside of a JSON string: runs of plain bytes are copied whole.
fn escape_json(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[byte as usize] {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            other => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(other >> 4) as usize]);
                out.push(HEX[(other & 0xf) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Splits a byte stream into log entries at newlines (kept), or at MAX_LOG_ENTRY.
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        let mut rest = data;
        while let Some(pos) = memchr::memchr(b'\n', rest) {
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

/// How much one read takes from a pipe at most (the pipes hold 1 MiB).
const READ_CHUNK: usize = 256 * 1024;
/// What a read buffer starts with. Most containers print little; zeroed 256 KiB buffers
/// for both pipes of every container cost berthd about 300 kB of resident memory each.
const FIRST_READ: usize = 4 * 1024;

/// A pipe's or terminal's read buffer: it starts at [`FIRST_READ`] and doubles, up to
/// [`READ_CHUNK`], each time a read fills it, so a container that floods its output soon
/// reads in large chunks while an idle one holds a page.
pub(crate) struct ReadBuffer(pub(crate) Vec<u8>);

impl ReadBuffer {
    pub(crate) fn new() -> ReadBuffer {
        ReadBuffer(vec![0; FIRST_READ])
    }

    pub(crate) fn grow_if_filled(&mut self, read: usize) {
        if read == self.0.len() && read < READ_CHUNK {
            self.0.resize(read * 2, 0);
        }
    }
}

/// Copies both pipes until both reach EOF, which happens once every process of the
/// container holding them has exited. Returns only then, so that nothing is lost.
/// `progress` follows the log file's complete entries and is closed at the end.
pub async fn pump(
    stdout: OwnedFd,
    stderr: OwnedFd,
    log: LogTarget,
    hub: Arc<OutputHub>,
    progress: watch::Sender<LogProgress>,
) {
    let mut writer = JsonLogWriter::with_target(log);
    let close = |writer: &JsonLogWriter, written: u64| {
        progress.send_replace(writer.progress(written, true));
    };
    let open = |fd: OwnedFd| pipe::Receiver::from_owned_fd(fd);
    let (mut out, mut err) = match (open(stdout), open(stderr)) {
        (Ok(out), Ok(err)) => (Some(out), Some(err)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("watching container output pipes: {e}");
            hub.close();
            close(&writer, writer.offset);
            return;
        }
    };
    let mut split_out = LineSplitter::default();
    let mut split_err = LineSplitter::default();
    let mut buf_out = ReadBuffer::new();
    let mut buf_err = ReadBuffer::new();
    while out.is_some() || err.is_some() {
        let (stream, result) = tokio::select! {
            r = async { out.as_mut().unwrap().read(&mut buf_out.0).await }, if out.is_some() => (StreamKind::Stdout, r),
            r = async { err.as_mut().unwrap().read(&mut buf_err.0).await }, if err.is_some() => (StreamKind::Stderr, r),
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
                let time = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
                splitter.finish(|line| {
                    let _ = writer.write_entry(stream, line, &time);
                });
                continue;
            }
            Ok(n) => n,
        };
        let (buffer, splitter) = match stream {
            StreamKind::Stdout => (&mut buf_out, &mut split_out),
            StreamKind::Stderr => (&mut buf_err, &mut split_err),
        };
        let data = &buffer.0[..n];
        let mut failed = None;
        let time = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        splitter.push(data, |line| {
            if let Err(e) = writer.write_entry(stream, line, &time) {
                failed = Some(e);
            }
        });
        match writer.flush() {
            Ok(written) => {
                progress.send_replace(writer.progress(written, false));
            }
            Err(e) => failed = Some(e),
        }
        if let Some(e) = failed {
            tracing::warn!("writing container log: {e}");
        }
        let chunk = Chunk {
            stream,
            data: Bytes::copy_from_slice(data),
        };
        buffer.grow_if_filled(n);
        hub.publish(&chunk).await;
    }
    if let Err(e) = writer.flush() {
        tracing::warn!("writing container log: {e}");
    }
    hub.close();
    close(&writer, writer.offset);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffers_grow_only_when_filled_and_stop_at_the_chunk_size() {
        let mut buffer = ReadBuffer::new();
        buffer.grow_if_filled(FIRST_READ - 1);
        assert_eq!(buffer.0.len(), FIRST_READ);
        for _ in 0..20 {
            let full = buffer.0.len();
            buffer.grow_if_filled(full);
        }
        assert_eq!(buffer.0.len(), READ_CHUNK);
    }

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
        w.write_entry(
            StreamKind::Stderr,
            b"oops\n",
            "2026-01-01T00:00:00.000000001Z",
        )
        .unwrap();
        let written = w.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, text.len() as u64);
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["log"], "oops\n");
        assert_eq!(v["stream"], "stderr");
        assert_eq!(v["time"], "2026-01-01T00:00:00.000000001Z");
    }

    #[test]
    fn every_byte_survives_the_json_escaping() {
        let mut line: Vec<u8> = (0u8..0x80).collect();
        line.extend_from_slice("é✓ \"q\" \\ end\n".as_bytes());
        let mut out = b"\"".to_vec();
        escape_json(std::str::from_utf8(&line).unwrap(), &mut out);
        out.push(b'"');
        let decoded: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(decoded.as_bytes(), &line[..]);
    }

    #[test]
    fn invalid_utf8_is_stored_as_replacement_characters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = JsonLogWriter::new(File::create(&path).unwrap());
        w.write_entry(StreamKind::Stdout, b"a\xffb\n", "t").unwrap();
        w.flush().unwrap();
        let v: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        assert_eq!(v["log"], "a\u{fffd}b\n");
    }
}
