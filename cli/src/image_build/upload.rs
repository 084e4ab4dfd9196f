//! The context tar streamed to the daemon while the directory is walked:
//! the walk writes into a channel from its own thread and the request body
//! reads from it, so a big context is never held in memory whole and the
//! upload overlaps the walk.

use std::io::Write;
use std::path::PathBuf;
use std::thread::JoinHandle;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::sync::mpsc;

use super::context::write_tar;
use crate::client::RequestBody;
use crate::error::CliError;

/// Tar bytes are sent in chunks this big: few frames and syscalls for a
/// context of many small files.
const CHUNK: usize = 1024 * 1024;
/// Chunks the walk may run ahead of the upload.
const QUEUED: usize = 4;

/// Writes into the channel a chunk at a time.
struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(Bytes::from(chunk))).map_err(|_| {
            // The request ended early (the daemon answered or went away);
            // the response says why.
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload was cut short")
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The walk of a context directory, running.
pub struct Upload {
    walk: JoinHandle<Result<(), CliError>>,
}

impl Upload {
    /// Starts walking `root` into a tar (see [`write_tar`]); returns the
    /// request body that carries it.
    pub fn start(root: PathBuf, dockerfile: String) -> Result<(Self, RequestBody), CliError> {
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(QUEUED);
        let walk = std::thread::Builder::new()
            .name("build-context".into())
            .spawn(move || {
                let out = ChannelWriter {
                    buf: Vec::with_capacity(CHUNK),
                    tx: tx.clone(),
                };
                let walked = write_tar(&root, &dockerfile, out);
                if walked.is_err() && tx.is_closed() {
                    // The request ended first (the daemon answered or went
                    // away): its outcome is the one to report.
                    return Ok(());
                }
                if let Err(e) = &walked {
                    // An error frame aborts the request, so the daemon never
                    // takes a cut-off tar for a whole context.
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                }
                walked
            })
            .map_err(|e| CliError::io("starting the build context walk", e))?;
        let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((chunk.map(Frame::data), rx))
        });
        let body = BodyExt::boxed_unsync(StreamBody::new(chunks.boxed()));
        Ok((Self { walk }, body))
    }

    /// How the walk ended. A failed walk ends the body early (the channel
    /// closes), so its error is the one to report rather than the
    /// daemon's view of a short tar.
    pub fn finish(self) -> Result<(), CliError> {
        self.walk.join().unwrap_or_else(|_| {
            Err(CliError::Status {
                code: 1,
                message: "the build context walk panicked".into(),
            })
        })
    }
}
