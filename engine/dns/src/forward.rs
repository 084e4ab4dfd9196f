//! Forwarding a query the records do not answer to upstream nameservers, from the host's
//! network namespace (the daemon's threads never leave it), so a resolver on the host's
//! loopback works. As Docker: at most three servers, tried in order, each with a timeout; a
//! SERVFAIL or REFUSED moves on to the next; the first other answer is passed back as is.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

use crate::query::Transport;

/// Docker's `maxExtDNS`, and glibc's MAXNS.
pub(crate) const MAX_UPSTREAMS: usize = 3;

/// The nameservers of a resolv.conf, at most [`MAX_UPSTREAMS`], on port 53. An IPv6 address
/// with a zone (`fe80::1%eth0`) is kept only with a numeric zone; unparsable lines are
/// skipped, as the C library skips them.
pub(crate) fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    let mut servers = Vec::new();
    for line in resolv_conf.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else { continue };
        let parsed = match addr.split_once('%') {
            None => addr
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53)),
            Some((ip, zone)) => match (ip.parse::<Ipv6Addr>(), zone.parse::<u32>()) {
                (Ok(ip), Ok(zone)) => {
                    Some(SocketAddr::V6(std::net::SocketAddrV6::new(ip, 53, 0, zone)))
                }
                _ => None,
            },
        };
        if let Some(server) = parsed {
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
        if servers.len() == MAX_UPSTREAMS {
            break;
        }
    }
    servers
}

/// Asks `upstreams` in turn; `None` if none gave an answer other than SERVFAIL or REFUSED.
pub(crate) async fn forward(
    query: &[u8],
    transport: Transport,
    upstreams: &[SocketAddr],
    timeout: Duration,
) -> Option<Vec<u8>> {
    let id = query.get(..2)?;
    for &server in upstreams.iter().take(MAX_UPSTREAMS) {
        let deadline = Instant::now() + timeout;
        let answer = match transport {
            Transport::Udp => timeout_at(deadline, exchange_udp(query, server)).await,
            Transport::Tcp => timeout_at(deadline, exchange_tcp(query, server)).await,
        };
        let answer = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                tracing::debug!("DNS upstream {server}: {e}");
                continue;
            }
            Err(_) => {
                tracing::debug!("DNS upstream {server}: no answer within {timeout:?}");
                continue;
            }
        };
        if answer.len() < 12 || &answer[..2] != id || answer[2] & 0x80 == 0 {
            tracing::debug!("DNS upstream {server}: an answer that is not to the query");
            continue;
        }
        // RCODE 2 (SERVFAIL) and 5 (REFUSED) may be this server's trouble only.
        if matches!(answer[3] & 0x0f, 2 | 5) {
            continue;
        }
        return Some(answer);
    }
    None
}

/// One UDP exchange from a fresh socket (a random source port per query), connected so that
/// only the server's datagrams arrive; a datagram with another ID is not the answer.
async fn exchange_udp(query: &[u8], server: SocketAddr) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    socket.send(query).await?;
    // As Docker, take oversized answers whole rather than cut them here.
    let mut buf = vec![0; usize::from(u16::MAX)];
    loop {
        let n = socket.recv(&mut buf).await?;
        if n >= 2 && buf[..2] == query[..2] {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn exchange_tcp(query: &[u8], server: SocketAddr) -> std::io::Result<Vec<u8>> {
    let len = u16::try_from(query.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "query too long"))?;
    let mut stream = TcpStream::connect(server).await?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut answer = vec![0; usize::from(len)];
    stream.read_exact(&mut answer).await?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_of_a_resolv_conf() {
        let conf = "# comment\nsearch example.com\nnameserver 127.0.0.53\n\
                    nameserver   ::1 \nnameserver bogus\nnameserver\n\
                    nameserver fe80::1%2\nnameserver fe80::1%eth0\noptions ndots:2\n";
        let servers = nameservers(conf);
        assert_eq!(
            servers,
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap(),
                SocketAddr::V6(std::net::SocketAddrV6::new(
                    "fe80::1".parse().unwrap(),
                    53,
                    0,
                    2
                )),
            ]
        );
    }

    #[test]
    fn at_most_three_nameservers_without_duplicates() {
        let conf = "nameserver 10.0.0.1\nnameserver 10.0.0.1\nnameserver 10.0.0.2\n\
                    nameserver 10.0.0.3\nnameserver 10.0.0.4\n";
        let servers = nameservers(conf);
        assert_eq!(servers.len(), 3);
        assert_eq!(servers[2], "10.0.0.3:53".parse().unwrap());
    }
}
