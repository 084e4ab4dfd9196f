//! Hijacked connections (`attach`, `exec start`): the 101 answer Docker's clients expect, and
//! the attach session served on the upgraded connection once hyper hands it over.

use std::future::Future;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::http::{empty, ApiResponse};
use crate::container::attach::{self, Framing, Session};

/// Whether the request's API version (from its `/v1.NN/` prefix; the newest without one)
/// is at least 1.42, from which the multiplexed stream has a content type of its own.
fn names_multiplexed_stream<B>(req: &Request<B>) -> bool {
    let Some(version) = req
        .uri()
        .path()
        .strip_prefix("/v")
        .and_then(|rest| rest.split('/').next())
    else {
        return true;
    };
    match version
        .split_once('.')
        .map(|(major, minor)| (major.parse::<u32>(), minor.parse::<u32>()))
    {
        Some((Ok(major), Ok(minor))) => (major, minor) >= (1, 42),
        _ => true,
    }
}

/// Answers 101 Switching Protocols and, once hyper has upgraded the connection, serves the
/// session `session` resolves to (with `framing`, which the answer names).
pub fn upgrade<B>(
    mut req: Request<B>,
    framing: Framing,
    session: impl Future<Output = Session> + 'static,
) -> ApiResponse {
    let content_type = match framing {
        Framing::Multiplexed if names_multiplexed_stream(&req) => {
            "application/vnd.docker.multiplexed-stream"
        }
        _ => "application/vnd.docker.raw-stream",
    };
    let socket = req.extensions().get::<ConnectionSocket>().copied();
    let upgrading = hyper::upgrade::on(&mut req);
    actix_rt::spawn(async move {
        match upgrading.await {
            Ok(upgraded) => {
                if let Some(socket) = socket {
                    // The upgraded connection owns the socket: `socket` stays open.
                    until_the_answer_is_read(socket).await;
                }
                let drop_unread = move || {
                    if let Some(socket) = socket {
                        drop_unread_input(socket);
                    }
                };
                attach::serve(TokioIo::new(upgraded), session.await, drop_unread).await
            }
            Err(err) => tracing::debug!("the client did not take the upgraded connection: {err}"),
        }
    });
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("tcp"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// How long a client may take to read the 101 answer before the session starts anyway.
const ANSWER_READ_LIMIT: Duration = Duration::from_secs(5);

/// The socket (unix or TCP; SIOCOUTQ works on both) a request came on, for [`upgrade`] to
/// watch.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSocket(pub RawFd);

/// Waits until the client has read everything sent on `socket` so far (the 101 answer).
///
/// Some clients read the answer through a buffered reader and then the stream from the bare
/// socket (docker-py does): output that arrived with the answer sits in the reader's buffer
/// and is never seen. A starved client is slow enough for an exec's first output, or an
/// error written right away, to arrive with the answer. So the session begins only once
/// the kernel has handed the client every byte of the answer (the socket's SIOCOUTQ is 0),
/// or after [`ANSWER_READ_LIMIT`] for a client that does not read.
async fn until_the_answer_is_read(ConnectionSocket(fd): ConnectionSocket) {
    let deadline = Instant::now() + ANSWER_READ_LIMIT;
    while unread_by_peer(fd) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What the peer of unix socket `fd` has not read yet of what was sent (0 on error: the
/// session then goes ahead as it would without this check).
fn unread_by_peer(fd: std::os::fd::RawFd) -> libc::c_int {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int through the pointer, which points at `queued`; `fd`
    // is the open socket the upgraded connection owns.
    let status = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) };
    if status == 0 {
        queued
    } else {
        0
    }
}

/// Reads and drops what the client sent that is still queued on `socket`, without waiting
/// for more: a unix socket closed with unread input tells its peer ECONNRESET instead of
/// end-of-file (a TCP one sends a reset), and the client may then drop output it has not
/// read yet.
fn drop_unread_input(ConnectionSocket(fd): ConnectionSocket) {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: `buf` is writable for its length; `fd` is the open socket the upgraded
        // connection owns (it closes after this returns).
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n <= 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::{drop_unread_input, ConnectionSocket};

    /// What the client reads once the daemon closes a connection it sent input on.
    fn end_seen_by_client(drop_unread: bool) -> std::io::Result<usize> {
        let (mut client, mut daemon) = UnixStream::pair()?;
        client.write_all(b"input nobody asked for")?;
        daemon.write_all(b"output")?;
        if drop_unread {
            drop_unread_input(ConnectionSocket(daemon.as_raw_fd()));
        }
        drop(daemon);
        let mut output = [0u8; 6];
        client.read_exact(&mut output)?;
        client.read(&mut [0u8; 1])
    }

    #[test]
    fn input_left_unread_resets_the_connection_and_dropping_it_does_not() {
        let reset = end_seen_by_client(false).unwrap_err();
        assert_eq!(reset.kind(), std::io::ErrorKind::ConnectionReset);
        assert_eq!(end_seen_by_client(true).unwrap(), 0);
    }
}
