//! The sockets of one scope, bound inside a container's network namespace.
//!
//! A socket belongs to the network namespace it was created in for its whole life, whatever
//! thread later uses it. So a short-lived thread joins the container's namespace, creates and
//! binds both sockets, and exits; the daemon's threads never leave the host's namespace, and
//! the server serves the sockets from its ordinary tasks.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::Error;

/// Where containers find the embedded DNS, as in Docker.
pub const EMBEDDED_DNS_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 11), 53));

/// How often binding a port-0 address retries when the UDP port it got is taken for TCP.
const PORT_ZERO_TRIES: usize = 16;

/// A scope's two sockets: DNS is asked over UDP and, for long answers, over TCP.
#[derive(Debug)]
pub struct ScopeSockets {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

impl ScopeSockets {
    /// Binds both sockets to `addr` in the calling thread's network namespace. With port 0
    /// both get the same port (the UDP socket's), as a resolv.conf can name only one.
    pub fn bind(addr: SocketAddr) -> Result<ScopeSockets, Error> {
        Self::bind_named(addr, None)
    }

    fn bind_named(addr: SocketAddr, netns: Option<&Path>) -> Result<ScopeSockets, Error> {
        let err = |proto, addr, source| Error::Bind {
            proto,
            addr,
            netns: netns.map(Path::to_path_buf),
            source,
        };
        let tries = if addr.port() == 0 { PORT_ZERO_TRIES } else { 1 };
        let mut last = None;
        for _ in 0..tries {
            let udp = UdpSocket::bind(addr).map_err(|e| err("udp", addr, e))?;
            let bound = udp.local_addr().map_err(|e| err("udp", addr, e))?;
            match TcpListener::bind(bound) {
                Ok(tcp) => return Ok(ScopeSockets { udp, tcp }),
                Err(e) if addr.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                    last = Some(err("tcp", bound, e));
                }
                Err(e) => return Err(err("tcp", bound, e)),
            }
        }
        Err(last.unwrap_or_else(|| {
            err(
                "tcp",
                addr,
                std::io::Error::from(std::io::ErrorKind::AddrInUse),
            )
        }))
    }

    /// The address both sockets are bound to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }
}

/// Binds a scope's sockets to `addr` (normally [`EMBEDDED_DNS_ADDR`]) inside the network
/// namespace at `netns` (a bind-mounted `/proc/…/ns/net`), on a thread of its own that joins
/// the namespace and ends once the sockets exist. Binding works with `lo` down, but no query
/// arrives until it is up.
pub fn bind_in_netns(netns: &Path, addr: SocketAddr) -> Result<ScopeSockets, Error> {
    let path: PathBuf = netns.to_path_buf();
    let file = std::fs::File::open(&path).map_err(|source| Error::OpenNetns {
        path: path.clone(),
        source,
    })?;
    let thread_path = path.clone();
    let joined = std::thread::Builder::new()
        .name("dns-bind".into())
        .spawn(move || {
            // This thread only ever serves this namespace and then ends, so it never has to
            // find its way back to the host's.
            move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network)).map_err(
                |e| Error::JoinNetns {
                    path: thread_path.clone(),
                    source: e.into(),
                },
            )?;
            ScopeSockets::bind_named(addr, Some(&thread_path))
        })
        .map_err(|source| Error::JoinNetns {
            path: path.clone(),
            source,
        })?;
    joined.join().map_err(|_| Error::BindThread(path))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_gives_one_port_for_both() {
        let sockets = ScopeSockets::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let udp = sockets.udp.local_addr().unwrap();
        assert_ne!(udp.port(), 0);
        assert_eq!(sockets.tcp.local_addr().unwrap(), udp);
    }

    #[test]
    fn a_taken_address_names_it() {
        let first = ScopeSockets::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let err = ScopeSockets::bind(addr).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Unavailable);
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[test]
    fn a_missing_namespace_is_not_found() {
        let err = bind_in_netns(Path::new("/nonexistent/netns/x"), EMBEDDED_DNS_ADDR).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::NotFound);
        assert!(err.to_string().contains("/nonexistent/netns/x"), "{err}");
    }

    #[test]
    fn a_file_that_is_no_namespace_names_it() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = bind_in_netns(file.path(), EMBEDDED_DNS_ADDR).unwrap_err();
        assert!(matches!(err, Error::JoinNetns { .. }), "{err}");
        assert!(
            err.to_string().contains(&file.path().display().to_string()),
            "{err}"
        );
    }
}
