//! Host port reservation. For each published host ip/port/proto berthd binds (never
//! listens on) a socket and keeps it while the port is published: the kernel then refuses
//! that port to anyone else, and `-P` / an empty host port gets an ephemeral port from
//! `ip_local_port_range` by binding port 0. Traffic itself never reaches these sockets: the
//! nftables DNAT rewrites it before the local delivery.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};
use crate::types::{PortRequest, Protocol};

/// A held host port: dropping it frees the port.
#[derive(Debug)]
pub(crate) struct Reservation {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub proto: Protocol,
    _socket: OwnedFd,
}

/// Binds a socket for `ip:port/proto` (port 0: the kernel picks one). An IPv6 socket is
/// `IPV6_V6ONLY`, so `[::]:8080` and `0.0.0.0:8080` are two reservations, as in Docker.
pub(crate) fn reserve(ip: IpAddr, port: u16, proto: Protocol) -> std::io::Result<Reservation> {
    let (ty, protocol) = match proto {
        Protocol::Tcp => (libc::SOCK_STREAM, libc::IPPROTO_TCP),
        Protocol::Udp => (libc::SOCK_DGRAM, libc::IPPROTO_UDP),
        Protocol::Sctp => (libc::SOCK_STREAM, libc::IPPROTO_SCTP),
    };
    let family = if ip.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let bound_port = match ip {
        IpAddr::V4(v4) => bind4(&socket, v4, port)?,
        IpAddr::V6(v6) => bind6(&socket, v6, port)?,
    };
    Ok(Reservation {
        host_ip: ip,
        host_port: bound_port,
        proto,
        _socket: socket,
    })
}

/// Binds an IPv4 socket; the port it got.
fn bind4(socket: &OwnedFd, ip: Ipv4Addr, port: u16) -> std::io::Result<u16> {
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
    // SAFETY: all-zero bytes are a valid sockaddr_in.
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
    Ok(u16::from_be(bound.sin_port))
}

/// Binds an IPv6-only socket; the port it got.
fn bind6(socket: &OwnedFd, ip: Ipv6Addr, port: u16) -> std::io::Result<u16> {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a c_int option value of the right size.
    if unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    let addr = libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: port.to_be(),
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr {
            s6_addr: ip.octets(),
        },
        sin6_scope_id: 0,
    };
    let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_in6 of `len` bytes.
    if unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&addr as *const libc::sockaddr_in6).cast(),
            len,
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: all-zero bytes are a valid sockaddr_in6.
    let mut bound: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut blen = len;
    // SAFETY: bound is writable for `blen` bytes.
    if unsafe {
        libc::getsockname(
            socket.as_raw_fd(),
            (&mut bound as *mut libc::sockaddr_in6).cast(),
            &mut blen,
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(u16::from_be(bound.sin6_port))
}

/// Reserves the host port of one request: the given port, the first free one of a
/// range, or an ephemeral one. `held` says whether berth itself already holds
/// ip/port/proto, which Docker reports as "port is already allocated".
/// `host_ip` is the request's address (`0.0.0.0` or `::` for every one of a family),
/// `container_ip` the container's address of the same family.
pub(crate) fn reserve_request(
    req: &PortRequest,
    host_ip: IpAddr,
    container_ip: IpAddr,
    held: &dyn Fn(IpAddr, u16, Protocol) -> bool,
) -> Result<Reservation> {
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
            let shown = match host_ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            last_err = Some(Error::Conflict(format!(
                "Bind for {shown}:{port} failed: port is already allocated"
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
    host_ip: IpAddr,
    port: u16,
    container_ip: IpAddr,
    e: std::io::Error,
) -> Error {
    // Docker's text puts IPv6 addresses in brackets ("[::]:8080:[fd00::2]:80/tcp").
    let show = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let what = format!(
        "failed to bind host port for {}:{port}:{}:{}/{}",
        show(host_ip),
        show(container_ip),
        req.container_port,
        req.proto
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

    const CIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 213, 0, 2));
    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn a_port_taken_by_another_socket_is_refused_with_dockers_error() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = other.local_addr().unwrap().port();
        let e =
            reserve_request(&req(port, 0, Protocol::Tcp), LO, CIP, &|_, _, _| false).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Conflict);
        assert_eq!(
            e.to_string(),
            format!("failed to bind host port for 127.0.0.1:{port}:10.213.0.2:80/tcp: address already in use")
        );
    }

    #[test]
    fn a_reservation_holds_the_port_until_dropped() {
        let r = reserve_request(&req(0, 0, Protocol::Tcp), LO, CIP, &|_, _, _| false).unwrap();
        assert_ne!(r.host_port, 0);
        assert!(std::net::TcpListener::bind(("127.0.0.1", r.host_port)).is_err());
        let port = r.host_port;
        drop(r);
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        let u = reserve_request(&req(0, 0, Protocol::Udp), LO, CIP, &|_, _, _| false).unwrap();
        assert!(std::net::UdpSocket::bind(("127.0.0.1", u.host_port)).is_err());
    }

    #[test]
    fn a_port_berth_holds_is_already_allocated_and_a_range_takes_the_next() {
        let free = reserve(LO, 0, Protocol::Tcp).unwrap();
        let port = free.host_port;
        drop(free);
        let held = move |_: IpAddr, p: u16, _: Protocol| p == port;
        let e = reserve_request(&req(port, 0, Protocol::Tcp), LO, CIP, &held).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        if port < u16::MAX {
            match reserve_request(&req(port, port + 1, Protocol::Tcp), LO, CIP, &held) {
                Ok(r) => assert_eq!(r.host_port, port + 1),
                // port+1 may be in use by someone else on this machine
                Err(e) => assert_eq!(e.kind(), crate::ErrorKind::Conflict),
            }
        }
    }

    #[test]
    fn ipv6_reservations_are_v6_only_and_bracketed_in_errors() {
        let v6lo: IpAddr = "::1".parse().unwrap();
        let cip6: IpAddr = "fd00::2".parse().unwrap();
        let Ok(r) = reserve_request(&req(0, 0, Protocol::Tcp), v6lo, cip6, &|_, _, _| false) else {
            eprintln!("skipping: no IPv6 loopback here");
            return;
        };
        let port = r.host_port;
        // v6-only: the same port on IPv4 loopback is still free.
        let v4 = reserve(LO, port, Protocol::Tcp);
        assert!(v4.is_ok(), "{v4:?}");
        let e = reserve_request(&req(port, 0, Protocol::Tcp), v6lo, cip6, &|_, _, _| false)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("failed to bind host port for [::1]:{port}:[fd00::2]:80/tcp: address already in use")
        );
        drop(v4);
    }
}
