//! As root: a network namespace of the test's own, the scope's sockets bound at 127.0.0.11:53
//! inside it, queries sent from inside it, and forwarding that happens from the host's
//! namespace (the fake upstream is on the host's loopback, which the namespace cannot reach).
//! Skipped with a message when not root.

mod common;

use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_dns::{bind_in_netns, DnsConfig, DnsServer, ScopeInfo, ScopeNetwork, EMBEDDED_DNS_ADDR};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use common::*;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A network namespace bind-mounted on a file in a temporary directory, with `lo` up (as the
/// daemon's sandboxes are). Dropping it unmounts and removes it.
struct TestNetns {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestNetns {
    fn create() -> TestNetns {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("netns");
        std::fs::File::create(&path).unwrap();
        let target = path.clone();
        std::thread::spawn(move || -> io::Result<()> {
            // This thread ends in the new namespace; the bind mount keeps it alive.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }?;
            set_lo_up()?;
            rustix::mount::mount_bind("/proc/thread-self/ns/net", &target)?;
            Ok(())
        })
        .join()
        .unwrap()
        .expect("making a network namespace");
        TestNetns { path, _dir: dir }
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        if let Err(e) = rustix::mount::unmount(&self.path, rustix::mount::UnmountFlags::DETACH) {
            eprintln!("unmounting {}: {e}", self.path.display());
        }
    }
}

/// `ip link set lo up` in the calling thread's namespace, by ioctl.
fn set_lo_up() -> io::Result<()> {
    // SAFETY: a plain socket and two ioctls on a zeroed, NUL-terminated ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        let mut result = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if result == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let err = io::Error::last_os_error();
        libc::close(fd);
        if result < 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// Runs `f` on a thread inside the namespace at `path`.
fn inside<T: Send + 'static>(path: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(path).unwrap();
    std::thread::spawn(move || {
        move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network)).unwrap();
        f()
    })
    .join()
    .unwrap()
}

fn udp_exchange(server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(PATIENCE))?;
    socket.connect(server)?;
    socket.send(query)?;
    let mut buf = vec![0; 65535];
    let n = socket.recv(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn tcp_exchange(server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect_timeout(&server, PATIENCE)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.write_all(&(query.len() as u16).to_be_bytes())?;
    stream.write_all(query)?;
    let mut len = [0; 2];
    stream.read_exact(&mut len)?;
    let mut buf = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_namespace_asks_127_0_0_11() {
    if !is_root() {
        eprintln!("skipped: needs root to make a network namespace");
        return;
    }
    let netns = TestNetns::create();
    let upstream = FakeUpstream::start(Upstream::Answer("192.0.2.9".parse().unwrap())).await;
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "").unwrap();
    let config = DnsConfig {
        resolv_conf: resolv,
        ..DnsConfig::default()
    };
    let server = DnsServer::new(config, tokio::runtime::Handle::current()).unwrap();
    server.set_records(
        "n1",
        "c1",
        vec!["web".into()],
        vec!["10.213.0.2".parse().unwrap()],
        vec![],
    );
    let sockets = bind_in_netns(&netns.path, EMBEDDED_DNS_ADDR).unwrap();
    assert_eq!(sockets.local_addr().unwrap(), EMBEDDED_DNS_ADDR);
    let info = ScopeInfo {
        networks: vec![ScopeNetwork {
            id: "n1".into(),
            name: "front".into(),
        }],
        upstreams: vec![upstream.addr],
        ndots_set: false,
        internal: false,
        links: vec![],
    };
    server.register("c2", sockets, info).unwrap();

    let local = query("web", RecordType::A).to_vec().unwrap();
    let external = query("example.com", RecordType::A).to_vec().unwrap();
    let upstream_addr = upstream.addr;
    let (udp, tcp, forwarded, direct) = tokio::task::spawn_blocking({
        let path = netns.path.clone();
        move || {
            inside(&path, move || {
                (
                    udp_exchange(EMBEDDED_DNS_ADDR, &local),
                    tcp_exchange(EMBEDDED_DNS_ADDR, &local),
                    udp_exchange(EMBEDDED_DNS_ADDR, &external),
                    // The namespace's own loopback has no upstream on that port.
                    udp_exchange(upstream_addr, &external),
                )
            })
        }
    })
    .await
    .unwrap();
    for bytes in [udp.unwrap(), tcp.unwrap()] {
        let resp = Message::from_vec(&bytes).unwrap();
        assert_eq!(
            a_records(&resp),
            vec!["10.213.0.2".parse::<std::net::Ipv4Addr>().unwrap()]
        );
    }
    let resp = Message::from_vec(&forwarded.unwrap()).unwrap();
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        a_records(&resp),
        vec!["192.0.2.9".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(upstream.asked(), vec!["example.com.".to_string()]);
    assert!(
        direct.is_err(),
        "the host's loopback is not the namespace's"
    );

    assert!(server.unregister("c2"));
    drop(server);
}
