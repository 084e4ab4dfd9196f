//! A process's stdin and terminal as the daemon holds them: the writer that attached clients'
//! input goes through, the terminal's master for resizing, and the relays that carry a
//! terminal's output (and an exec's pipes) to the attached clients.
//!
//! A container's own pipes are read by [`super::output::pump`]; a container's terminal and
//! every exec's output come through here.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use futures_util::future::LocalBoxFuture;
use tokio::io::unix::AsyncFd;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};

use super::output::{
    Chunk, JsonLogWriter, LineSplitter, LogProgress, LogTarget, OutputHub, ReadBuffer, StreamKind,
};

/// How much input may wait for the process to read it before the client's reads pause.
const INPUT_BACKLOG: usize = 16;

/// An open, non-blocking descriptor for tokio's reactor: a pipe end or a terminal master.
struct Nonblocking(AsyncFd<OwnedFd>);

impl Nonblocking {
    fn new(fd: OwnedFd) -> io::Result<Nonblocking> {
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)?;
        // SAFETY: the OwnedFd names the same open descriptor until the AsyncFd, which owns
        // it, drops it.
        Ok(Nonblocking(unsafe { AsyncFd::register(fd) }?))
    }

    async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.0.readable().await?;
            match guard.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut *buf)?)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.0.writable().await?;
            match guard.try_io(|fd| Ok(rustix::io::write(fd.get_ref(), data)?)) {
                Ok(Ok(written)) => data = &data[written..],
                Ok(Err(error)) => return Err(error),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }
}

enum Input {
    Data(Bytes),
    /// End-of-file for the process: the writer closes.
    Close,
}

/// The way into a process's stdin: its pipe, or its terminal. Cheap to clone; every attached
/// client holds one. Writes keep their order; a full pipe makes writers wait.
#[derive(Clone)]
pub struct StdinPort {
    input: mpsc::Sender<Input>,
}

impl StdinPort {
    /// Starts the writer of `fd`. `on_close` runs once the writer has closed `fd` because a
    /// client asked for end-of-file (not when the process is gone or every port dropped): it
    /// closes whatever other copy of the writer must go too (the supervisor's).
    pub fn open(
        fd: OwnedFd,
        on_close: impl FnOnce() -> LocalBoxFuture<'static, ()> + 'static,
    ) -> io::Result<StdinPort> {
        let writer = Nonblocking::new(fd)?;
        let (input, mut received) = mpsc::channel(INPUT_BACKLOG);
        actix_rt::spawn(async move {
            while let Some(input) = received.recv().await {
                match input {
                    Input::Data(data) => {
                        if let Err(error) = writer.write_all(&data).await {
                            // The process closed its stdin or exited: nothing can reach it.
                            tracing::debug!("writing to a process's stdin: {error}");
                            return;
                        }
                    }
                    Input::Close => {
                        drop(writer);
                        on_close().await;
                        return;
                    }
                }
            }
        });
        Ok(StdinPort { input })
    }

    /// Passes `data` on; false once the process can take no more input.
    pub async fn write(&self, data: Bytes) -> bool {
        self.input.send(Input::Data(data)).await.is_ok()
    }

    /// Gives the process end-of-file once everything written before has reached it.
    pub async fn close(&self) {
        let _ = self.input.send(Input::Close).await;
    }
}

/// A terminal's master, kept for resizing.
#[derive(Clone)]
pub struct TerminalHandle(Arc<OwnedFd>);

impl TerminalHandle {
    pub fn new(master: OwnedFd) -> TerminalHandle {
        TerminalHandle(Arc::new(master))
    }

    pub fn resize(&self, rows: u16, columns: u16) -> io::Result<()> {
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(self.0.as_fd(), size).map_err(|errno| {
            io::Error::other(format!(
                "setting the size of terminal (fd {}): {errno}",
                self.0.as_raw_fd()
            ))
        })
    }

    /// Another descriptor of the same master, for reading or writing.
    pub fn duplicate(&self) -> io::Result<OwnedFd> {
        self.0.try_clone()
    }
}

/// A container's json-file log, and how far it has been written, for `logs -f`.
pub struct TerminalLog {
    pub target: LogTarget,
    pub progress: watch::Sender<LogProgress>,
}

/// Copies a terminal's output, as stdout, to `hub` (and into `log` for a container's own
/// terminal) until every holder of the slave is gone. Returns only then, so nothing is lost.
pub async fn relay_terminal(master: OwnedFd, log: Option<TerminalLog>, hub: Arc<OutputHub>) {
    let mut log = log.map(|log| {
        (
            JsonLogWriter::with_target(log.target),
            LineSplitter::default(),
            log.progress,
        )
    });
    let reader = Nonblocking::new(master);
    if let Err(error) = &reader {
        tracing::error!("watching a terminal's output: {error}");
    }
    let mut buf = ReadBuffer::new();
    // A terminal that cannot be watched still ends the output properly below.
    while let Ok(reader) = &reader {
        let n = match reader.read(&mut buf.0).await {
            Ok(0) => break,
            Ok(n) => n,
            // EIO: the last slave is closed. The master reads what was written before that.
            Err(error) => {
                if error.raw_os_error() != Some(libc::EIO) {
                    tracing::warn!("reading a terminal: {error}");
                }
                break;
            }
        };
        if let Some((writer, splitter, progress)) = &mut log {
            write_log(writer, splitter, progress, &buf.0[..n]);
        }
        let chunk = Chunk {
            stream: StreamKind::Stdout,
            data: Bytes::copy_from_slice(&buf.0[..n]),
        };
        buf.grow_if_filled(n);
        hub.publish(&chunk).await;
    }
    if let Some((mut writer, mut splitter, progress)) = log {
        let time = now();
        splitter.finish(|line| {
            let _ = writer.write_entry(StreamKind::Stdout, line, &time);
        });
        let written = writer.flush().unwrap_or_else(|error| {
            tracing::warn!("writing container log: {error}");
            progress.borrow().written
        });
        progress.send_replace(writer.progress(written, true));
    }
    hub.close();
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn write_log(
    writer: &mut JsonLogWriter,
    splitter: &mut LineSplitter,
    progress: &watch::Sender<LogProgress>,
    data: &[u8],
) {
    let mut failed = None;
    let time = now();
    splitter.push(data, |line| {
        if let Err(error) = writer.write_entry(StreamKind::Stdout, line, &time) {
            failed = Some(error);
        }
    });
    match writer.flush() {
        Ok(written) => {
            progress.send_replace(writer.progress(written, false));
        }
        Err(error) => failed = Some(error),
    }
    if let Some(error) = failed {
        tracing::warn!("writing container log: {error}");
    }
}

/// Copies an exec's stdout and stderr pipes to `hub` until both reach end-of-file. Exec
/// output is not logged, as with Docker.
pub async fn relay_pipes(stdout: OwnedFd, stderr: OwnedFd, hub: Arc<OutputHub>) {
    let open = |fd: OwnedFd| pipe::Receiver::from_owned_fd(fd);
    let (mut out, mut err) = match (open(stdout), open(stderr)) {
        (Ok(out), Ok(err)) => (Some(out), Some(err)),
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!("watching an exec's output pipes: {error}");
            hub.close();
            return;
        }
    };
    let mut buf_out = vec![0u8; 32 * 1024];
    let mut buf_err = vec![0u8; 32 * 1024];
    while out.is_some() || err.is_some() {
        let (stream, result) = tokio::select! {
            r = async { out.as_mut().expect("guarded").read(&mut buf_out).await }, if out.is_some() => (StreamKind::Stdout, r),
            r = async { err.as_mut().expect("guarded").read(&mut buf_err).await }, if err.is_some() => (StreamKind::Stderr, r),
        };
        let data = match (stream, result) {
            (StreamKind::Stdout, Ok(n)) if n > 0 => &buf_out[..n],
            (StreamKind::Stderr, Ok(n)) if n > 0 => &buf_err[..n],
            (StreamKind::Stdout, _) => {
                out = None;
                continue;
            }
            (StreamKind::Stderr, _) => {
                err = None;
                continue;
            }
        };
        hub.publish(&Chunk {
            stream,
            data: Bytes::copy_from_slice(data),
        })
        .await;
    }
    hub.close();
}
