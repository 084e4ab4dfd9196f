//! One attached client over a hijacked connection: the process's output goes out (raw, or in
//! the 8-byte frames of Docker's multiplexed stream), the client's input goes to the
//! process's stdin. Used by `attach` and by `exec start`.
//!
//! What ends a session, as in Docker:
//! - the process's output ends (it exited and its last writer closed): everything is sent,
//!   then the connection is closed;
//! - the client types the detach keys (TTY only): the session ends, the process runs on;
//! - the client's input ends (it half-closed the connection): with `close_at_eof` (a
//!   container's StdinOnce without a TTY, or an exec without one) the process gets
//!   end-of-file and its output keeps flowing until it ends; otherwise the session ends;
//! - the client goes away: the next write fails and the session ends.

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::sync::{mpsc, oneshot, watch};

use berth_stdio::DetachKeys;

use super::output::{Chunk, StreamKind};
use super::stdio::StdinPort;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A TTY's output, byte for byte.
    Raw,
    /// Each piece of output behind a header naming its stream and length.
    Multiplexed,
}

impl Framing {
    pub fn of_tty(tty: bool) -> Framing {
        if tty {
            Framing::Raw
        } else {
            Framing::Multiplexed
        }
    }

    /// `data` as written to the client.
    pub fn encode(self, stream: StreamKind, data: &[u8]) -> Vec<u8> {
        match self {
            Framing::Raw => data.to_vec(),
            Framing::Multiplexed => berth_stdio::encode_frame(stream.into(), data),
        }
    }
}

/// Where a client's input goes.
pub struct SessionInput {
    /// The process's stdin once it has one: a container attached before its start gets it
    /// when it starts. `None` in the channel means "not yet".
    pub port: watch::Receiver<Option<StdinPort>>,
    /// Whether the client's end-of-file closes the process's stdin (and output keeps
    /// flowing), rather than ending the session.
    pub close_at_eof: bool,
    /// With a TTY, the sequence that detaches the client.
    pub detach: Option<DetachKeys>,
}

pub struct Session {
    /// The process's output; `None` when only a preamble is sent (attach with stream=0).
    pub output: Option<mpsc::Receiver<Chunk>>,
    pub stdout: bool,
    pub stderr: bool,
    pub framing: Framing,
    /// Sent before any output: the replayed log, or why an exec could not start.
    pub preamble: Vec<u8>,
    pub input: Option<SessionInput>,
    /// Awaited once the output has ended, before the connection closes: an exec's exit code
    /// must be recorded before its client, seeing the end, asks for it.
    pub before_close: Option<LocalBoxFuture<'static, ()>>,
    /// Called when the client detaches with the detach keys (for Docker's event).
    pub on_detach: Option<Box<dyn FnOnce()>>,
}

/// Why the input side asks the session to end.
enum Stop {
    Detached,
    InputEnded,
}

/// Serves `session` on the hijacked connection `io` until one of the ends above.
/// `drop_unread` is called just before the connection closes: it must drop whatever the
/// client sent that is still in the socket (see there).
pub async fn serve<T>(io: T, session: Session, drop_unread: impl FnOnce())
where
    T: AsyncRead + AsyncWrite + 'static,
{
    let Session {
        output,
        stdout,
        stderr,
        framing,
        preamble,
        input,
        before_close,
        on_detach,
    } = session;
    let (reader, mut writer) = tokio::io::split(io);
    let (stop_sender, mut stop) = oneshot::channel();
    let stop_armed = input.is_some();
    let input_task = match input {
        Some(input) => actix_rt::spawn(forward_input(reader, input, stop_sender)),
        // Input nobody asked for is read and dropped: left unread, it would make closing
        // the connection a reset that loses output the client has not read yet.
        None => actix_rt::spawn(discard_input(reader)),
    };

    let mut delivered = writer.write_all(&preamble).await.is_ok();
    let mut stop_armed = stop_armed;
    if let (true, Some(mut output)) = (delivered, output) {
        loop {
            tokio::select! {
                chunk = output.recv() => {
                    let Some(Chunk { stream, data }) = chunk else { break };
                    let wanted = match stream {
                        StreamKind::Stdout => stdout,
                        StreamKind::Stderr => stderr,
                    };
                    if wanted && writer.write_all(&framing.encode(stream, &data)).await.is_err() {
                        delivered = false;
                        break;
                    }
                }
                reason = &mut stop, if stop_armed => match reason {
                    Ok(Stop::Detached) => {
                        if let Some(on_detach) = on_detach {
                            on_detach();
                        }
                        delivered = false;
                        break;
                    }
                    Ok(Stop::InputEnded) => {
                        delivered = false;
                        break;
                    }
                    // The input side finished without ending the session (stdin closed).
                    Err(_) => stop_armed = false,
                },
            }
        }
    }
    if delivered {
        if let Some(wait) = before_close {
            wait.await;
        }
    }
    let _ = writer.flush().await;
    let _ = writer.shutdown().await;
    // The input task may not have run since the client's last bytes came (a session whose
    // output was all there when it began ends without waiting once); closing a socket with
    // unread input resets it, and the client then loses the end of the output.
    drop_unread();
    input_task.abort();
}

async fn discard_input<T: AsyncRead>(mut reader: ReadHalf<T>) {
    let mut buf = vec![0u8; 8 * 1024];
    while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Copies the client's input to the process's stdin, watching for the detach keys.
async fn forward_input<T: AsyncRead>(
    mut reader: ReadHalf<T>,
    mut input: SessionInput,
    stop: oneshot::Sender<Stop>,
) {
    let mut scanner = input.detach.as_ref().map(DetachKeys::scanner);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (data, detached) = match &mut scanner {
            Some(scanner) => {
                let scanned = scanner.feed(&buf[..n]);
                (scanned.forward, scanned.detached)
            }
            None => (buf[..n].to_vec(), false),
        };
        if !data.is_empty() {
            if let Some(port) = port(&mut input.port).await {
                // A process that can take no more input: what the client types is dropped,
                // its output still flows.
                port.write(Bytes::from(data)).await;
            }
        }
        if detached {
            let _ = stop.send(Stop::Detached);
            return;
        }
    }
    if input.close_at_eof {
        if let Some(port) = port(&mut input.port).await {
            port.close().await;
        }
    } else {
        let _ = stop.send(Stop::InputEnded);
    }
}

/// The process's stdin, waiting for its start if need be; `None` if it will never come.
async fn port(port: &mut watch::Receiver<Option<StdinPort>>) -> Option<StdinPort> {
    port.wait_for(Option::is_some).await.ok()?.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client on one end of an in-memory duplex, the session on the other.
    fn start(session: Session) -> tokio::io::DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        actix_rt::spawn(serve(server, session, || {}));
        client
    }

    fn chunk(stream: StreamKind, data: &'static [u8]) -> Chunk {
        Chunk {
            stream,
            data: Bytes::from_static(data),
        }
    }

    async fn read_all(client: &mut tokio::io::DuplexStream) -> Vec<u8> {
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        received
    }

    /// A stdin pipe: the port writes into it, the test reads what the process would.
    fn stdin_pipe() -> (
        StdinPort,
        tokio::net::unix::pipe::Receiver,
        oneshot::Receiver<()>,
    ) {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (closed_sender, closed) = oneshot::channel();
        let port = StdinPort::open(write, move || {
            Box::pin(async move {
                let _ = closed_sender.send(());
            })
        })
        .unwrap();
        let read = tokio::net::unix::pipe::Receiver::from_owned_fd(read).unwrap();
        (port, read, closed)
    }

    /// A raw session of `output` with both streams; with `input` going to a process's stdin.
    fn raw_session(output: mpsc::Receiver<Chunk>, input: Option<SessionInput>) -> Session {
        Session {
            output: Some(output),
            stdout: true,
            stderr: true,
            framing: Framing::Raw,
            preamble: Vec::new(),
            input,
            before_close: None,
            on_detach: None,
        }
    }

    fn input(
        port: Option<StdinPort>,
        close_at_eof: bool,
        detach: Option<DetachKeys>,
    ) -> SessionInput {
        SessionInput {
            port: watch::channel(port).1,
            close_at_eof,
            detach,
        }
    }

    #[actix_rt::test]
    async fn output_is_framed_and_filtered_and_ends_with_the_process() {
        let (sender, output) = mpsc::channel(8);
        let mut client = start(Session {
            stderr: false,
            framing: Framing::Multiplexed,
            preamble: b"log".to_vec(),
            ..raw_session(output, None)
        });
        sender
            .send(chunk(StreamKind::Stdout, b"out"))
            .await
            .unwrap();
        sender
            .send(chunk(StreamKind::Stderr, b"err"))
            .await
            .unwrap();
        drop(sender);
        let mut wanted = b"log".to_vec();
        wanted.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 3]);
        wanted.extend_from_slice(b"out");
        assert_eq!(read_all(&mut client).await, wanted);
    }

    #[actix_rt::test]
    async fn end_of_input_closes_stdin_and_the_output_keeps_flowing() {
        let (sender, output) = mpsc::channel(8);
        let (port, mut process_stdin, closed) = stdin_pipe();
        let mut client = start(raw_session(output, Some(input(Some(port), true, None))));
        client.write_all(b"typed").await.unwrap();
        client.shutdown().await.unwrap();
        closed.await.unwrap();
        let mut received = String::new();
        process_stdin.read_to_string(&mut received).await.unwrap();
        assert_eq!(received, "typed");
        // Written after the client's end-of-file: still delivered.
        sender
            .send(chunk(StreamKind::Stdout, b"late"))
            .await
            .unwrap();
        drop(sender);
        assert_eq!(read_all(&mut client).await, b"late");
    }

    #[actix_rt::test]
    async fn the_detach_keys_end_the_session_but_not_the_process() {
        let (sender, output) = mpsc::channel(8);
        let (port, mut process_stdin, mut closed) = stdin_pipe();
        let (detached_sender, detached) = oneshot::channel();
        let mut client = start(Session {
            on_detach: Some(Box::new(move || {
                let _ = detached_sender.send(());
            })),
            ..raw_session(
                output,
                Some(input(Some(port), false, Some(DetachKeys::default()))),
            )
        });
        client.write_all(b"ls\n\x10\x11ignored").await.unwrap();
        assert_eq!(read_all(&mut client).await, b"");
        assert!(sender.is_closed(), "the session let go of the output");
        detached.await.expect("the detach was announced");
        // Only what came before the keys reached the process, whose stdin stays open.
        let mut first = [0u8; 3];
        process_stdin.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"ls\n");
        assert!(
            closed.try_recv().is_err(),
            "detaching closed the process's stdin"
        );
    }

    #[actix_rt::test]
    async fn input_before_the_start_waits_for_the_process() {
        let (sender, output) = mpsc::channel(8);
        let (port_sender, port_receiver) = watch::channel(None);
        let mut client = start(raw_session(
            output,
            Some(SessionInput {
                port: port_receiver,
                close_at_eof: true,
                detach: None,
            }),
        ));
        client.write_all(b"early").await.unwrap();
        client.shutdown().await.unwrap();
        let (port, mut process_stdin, closed) = stdin_pipe();
        port_sender.send(Some(port)).unwrap();
        closed.await.unwrap();
        let mut received = String::new();
        process_stdin.read_to_string(&mut received).await.unwrap();
        assert_eq!(received, "early");
        drop(sender);
        assert_eq!(read_all(&mut client).await, b"");
    }
}
