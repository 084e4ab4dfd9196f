//! Host port reservation. For each published host ip/port/proto berthd binds (never
//! listens on) a socket and keeps it while the port is published: the kernel then refuses
//! that port to anyone else, and `-P` / an empty host port gets an ephemeral port from
//! `ip_local_port_range` by binding port 0. Traffic itself never reaches these sockets: the
//! nftables DNAT rewrites it before the local delivery.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};
use crate::types::{PortRequest, Protocol};

/// A held host port: dropping it frees the port.
#[derive(Debug)]
pub(crate) struct Reservation {
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub proto: Protocol,
    _socket: OwnedFd,
}

/// Binds a socket for `ip:port/proto` (port 0: the kernel picks one).
pub(crate) fn reserve(ip: Ipv4Addr, port: u16, proto: Protocol) -> std::io::Result<Reservation> {
    let (ty, protocol) = match proto {
        Protocol::Tcp => (libc::SOCK_STREAM, libc::IPPROTO_TCP),
        Protocol::Udp => (libc::SOCK_DGRAM, libc::IPPROTO_UDP),
        Protocol::Sctp => (libc::SOCK_STREAM, libc::IPPROTO_SCTP),
    };
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, ty | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_in of `len` bytes.
    if unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            len,
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    let mut bound: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut blen = len;
    // SAFETY: bound is writable for `blen` bytes.
    if unsafe {
        libc::getsockname(
            socket.as_raw_fd(),
            (&mut bound as *mut libc::sockaddr_in).cast(),
            &mut blen,
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Reservation {
        host_ip: ip,
        host_port: u16::from_be(bound.sin_port),
        proto,
        _socket: socket,
    })
}

/// Reserves the host port of one request: the given port, the first free one of a
/// range, or an ephemeral one. `held` says whether berth itself already holds
/// ip/port/proto, which Docker reports as "port is already allocated".
pub(crate) fn reserve_request(
    req: &PortRequest,
    container_ip: Ipv4Addr,
    held: &dyn Fn(Ipv4Addr, u16, Protocol) -> bool,
) -> Result<Reservation> {
    let host_ip = match req.host_ip {
        None => Ipv4Addr::UNSPECIFIED,
        Some(std::net::IpAddr::V4(ip)) => ip,
        Some(std::net::IpAddr::V6(ip)) => {
            return Err(Error::NotImplemented(format!(
                "publishing a port on the IPv6 address {ip}"
            )))
        }
    };
    if req.container_port == 0 {
        return Err(Error::InvalidArgument("invalid containerPort: 0".into()));
    }
    let end = req.host_port_end.max(req.host_port);
    if req.host_port == 0 {
        return reserve(host_ip, 0, req.proto)
            .map_err(|e| bind_error(req, host_ip, 0, container_ip, e));
    }
    let mut last_err = None;
    for port in req.host_port..=end {
        if held(host_ip, port, req.proto) {
            last_err = Some(Error::Conflict(format!(
                "Bind for {host_ip}:{port} failed: port is already allocated"
            )));
            continue;
        }
        match reserve(host_ip, port, req.proto) {
            Ok(r) => return Ok(r),
            Err(e) => last_err = Some(bind_error(req, host_ip, port, container_ip, e)),
        }
    }
    Err(last_err.unwrap_or_else(|| Error::InvalidArgument("empty host port range".into())))
}

fn bind_error(
    req: &PortRequest,
    host_ip: Ipv4Addr,
    port: u16,
    container_ip: Ipv4Addr,
    e: std::io::Error,
) -> Error {
    let what = format!(
        "failed to bind host port for {host_ip}:{port}:{container_ip}:{}/{}",
        req.container_port, req.proto
    );
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => Error::Conflict(format!("{what}: address already in use")),
        Some(libc::EADDRNOTAVAIL) => {
            Error::InvalidArgument(format!("{what}: cannot assign requested address"))
        }
        Some(libc::EPROTONOSUPPORT) => {
            Error::NotImplemented(format!("{what}: the kernel has no {} support", req.proto))
        }
        _ => Error::Internal(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(port: u16, end: u16, proto: Protocol) -> PortRequest {
        PortRequest {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: port,
            host_port_end: end,
            container_port: 80,
            proto,
        }
    }

    const CIP: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 2);

    #[test]
    fn a_port_taken_by_another_socket_is_refused_with_dockers_error() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = other.local_addr().unwrap().port();
        let e = reserve_request(&req(port, 0, Protocol::Tcp), CIP, &|_, _, _| false).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Conflict);
        assert_eq!(
            e.to_string(),
            format!("failed to bind host port for 127.0.0.1:{port}:10.213.0.2:80/tcp: address already in use")
        );
    }

    #[test]
    fn a_reservation_holds_the_port_until_dropped() {
        let r = reserve_request(&req(0, 0, Protocol::Tcp), CIP, &|_, _, _| false).unwrap();
        assert_ne!(r.host_port, 0);
        assert!(std::net::TcpListener::bind(("127.0.0.1", r.host_port)).is_err());
        let port = r.host_port;
        drop(r);
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        let u = reserve_request(&req(0, 0, Protocol::Udp), CIP, &|_, _, _| false).unwrap();
        assert!(std::net::UdpSocket::bind(("127.0.0.1", u.host_port)).is_err());
    }

    #[test]
    fn a_port_berth_holds_is_already_allocated_and_a_range_takes_the_next() {
        let free = reserve(Ipv4Addr::LOCALHOST, 0, Protocol::Tcp).unwrap();
        let port = free.host_port;
        drop(free);
        let held = move |_: Ipv4Addr, p: u16, _: Protocol| p == port;
        let e = reserve_request(&req(port, 0, Protocol::Tcp), CIP, &held).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        if port < u16::MAX {
            match reserve_request(&req(port, port + 1, Protocol::Tcp), CIP, &held) {
                Ok(r) => assert_eq!(r.host_port, port + 1),
                // port+1 may be in use by someone else on this machine
                Err(e) => assert_eq!(e.kind(), crate::ErrorKind::Conflict),
            }
        }
    }

    #[test]
    fn ipv6_host_addresses_are_not_supported_yet() {
        let mut r = req(8080, 0, Protocol::Tcp);
        r.host_ip = Some("::1".parse().unwrap());
        let e = reserve_request(&r, CIP, &|_, _, _| false).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotImplemented);
    }
}
