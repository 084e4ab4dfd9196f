//! The server over real sockets, without root: each scope is a pair of sockets on 127.0.0.1
//! in the host's namespace, upstreams are fake servers on 127.0.0.1 the test answers.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use berth_dns::{DnsConfig, DnsServer, ErrorKind, ScopeInfo, ScopeNetwork, ScopeSockets};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use common::*;

fn net(id: &str) -> ScopeNetwork {
    ScopeNetwork {
        id: id.into(),
        name: format!("{id}-net"),
    }
}

fn info(networks: &[&str], upstreams: Vec<SocketAddr>) -> ScopeInfo {
    ScopeInfo {
        networks: networks.iter().map(|n| net(n)).collect(),
        upstreams,
        ndots_set: false,
        internal: false,
        links: vec![],
    }
}

/// A server whose host resolv.conf names no nameserver, so only a scope's own upstreams
/// are ever asked (never a real server).
fn server(dir: &tempfile::TempDir, timeout: Duration) -> DnsServer {
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "# no nameservers\n").unwrap();
    let config = DnsConfig {
        resolv_conf: resolv,
        upstream_timeout: timeout,
        ..DnsConfig::default()
    };
    DnsServer::new(config, tokio::runtime::Handle::current()).unwrap()
}

fn scope(server: &DnsServer, id: &str, info: ScopeInfo) -> SocketAddr {
    let sockets = ScopeSockets::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = sockets.local_addr().unwrap();
    server.register(id, sockets, info).unwrap();
    addr
}

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scope_sees_the_names_of_its_own_networks() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = FakeUpstream::start(Upstream::Code(ResponseCode::NXDomain)).await;
    let server = server(&dir, PATIENCE);
    server.set_records("n1", "c1", vec!["web".into()], vec![ip(2)], vec![]);
    server.set_records("n2", "c2", vec!["db".into()], vec![ip(3)], vec![]);
    let front = scope(&server, "s1", info(&["n1"], vec![upstream.addr]));
    let back = scope(&server, "s2", info(&["n2"], vec![upstream.addr]));

    let resp = ask_udp(front, &query("web", RecordType::A)).await;
    assert_eq!(a_records(&resp), vec![ip(2)]);
    let resp = ask_tcp(front, &query("WEB.", RecordType::A)).await;
    assert_eq!(a_records(&resp), vec![ip(2)]);
    let resp = ask_udp(back, &query("db", RecordType::A)).await;
    assert_eq!(a_records(&resp), vec![ip(3)]);

    // `db` is not on front's network: it goes upstream, whose NXDOMAIN comes back.
    let resp = ask_udp(front, &query("db", RecordType::A)).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
    assert!(resp.answers.is_empty());
    assert_eq!(upstream.asked(), vec!["db.".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_scope_updates_apply_to_the_next_query() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = FakeUpstream::start(Upstream::Code(ResponseCode::NXDomain)).await;
    let server = server(&dir, PATIENCE);
    let addr = scope(&server, "s", info(&["n1"], vec![upstream.addr]));
    let ask = |name: &'static str| async move { ask_udp(addr, &query(name, RecordType::A)).await };

    assert_eq!(
        ask("web").await.metadata.response_code,
        ResponseCode::NXDomain
    );
    server.set_records("n1", "c1", vec!["web".into()], vec![ip(2)], vec![]);
    assert_eq!(a_records(&ask("web").await), vec![ip(2)]);

    // A second container with the same alias: both addresses.
    server.set_records("n1", "c2", vec!["web".into()], vec![ip(3)], vec![]);
    let mut both = a_records(&ask("web").await);
    both.sort();
    assert_eq!(both, vec![ip(2), ip(3)]);
    assert!(server.remove_records("n1", "c2"));
    assert_eq!(a_records(&ask("web").await), vec![ip(2)]);

    // Connect the scope to n2 as well, then leave n1.
    server.set_records("n2", "c9", vec!["db".into()], vec![ip(9)], vec![]);
    assert_eq!(
        ask("db").await.metadata.response_code,
        ResponseCode::NXDomain
    );
    server
        .update_scope("s", info(&["n1", "n2"], vec![upstream.addr]))
        .unwrap();
    assert_eq!(a_records(&ask("db").await), vec![ip(9)]);
    server
        .update_scope("s", info(&["n2"], vec![upstream.addr]))
        .unwrap();
    assert_eq!(
        ask("web").await.metadata.response_code,
        ResponseCode::NXDomain
    );

    // A stopped container's names go.
    assert!(server.remove_records("n2", "c9"));
    assert_eq!(
        ask("db").await.metadata.response_code,
        ResponseCode::NXDomain
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_over_udp_and_tcp_passes_the_upstream_answer() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = FakeUpstream::start(Upstream::Answer(Ipv4Addr::new(192, 0, 2, 7))).await;
    let server = server(&dir, PATIENCE);
    let addr = scope(&server, "s", info(&["n1"], vec![upstream.addr]));
    for resp in [
        ask_udp(addr, &query("example.com", RecordType::A)).await,
        ask_tcp(addr, &query("example.org", RecordType::A)).await,
    ] {
        assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 7)]);
        assert_eq!(resp.answers[0].ttl, 30, "the upstream's record, unchanged");
    }
    assert_eq!(upstream.asked(), vec!["example.com.", "example.org."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_silent_upstream_gives_way_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let failing = FakeUpstream::start(Upstream::Code(ResponseCode::ServFail)).await;
    let refusing = FakeUpstream::start(Upstream::Code(ResponseCode::Refused)).await;
    let silent = FakeUpstream::start(Upstream::Silent).await;
    let good = FakeUpstream::start(Upstream::Answer(Ipv4Addr::new(192, 0, 2, 1))).await;
    // Short: the silent server is waited for on every query.
    let server = server(&dir, Duration::from_millis(300));

    let upstreams = vec![failing.addr, silent.addr, good.addr];
    let addr = scope(&server, "s", info(&["n1"], upstreams));
    for resp in [
        ask_udp(addr, &query("example.com", RecordType::A)).await,
        ask_tcp(addr, &query("example.com", RecordType::A)).await,
    ] {
        assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    }
    assert_eq!(failing.asked().len(), 2);
    assert_eq!(silent.asked().len(), 2);

    // No upstream answers: SERVFAIL, over both transports.
    let addr = scope(
        &server,
        "none",
        info(&["n1"], vec![refusing.addr, silent.addr]),
    );
    for resp in [
        ask_udp(addr, &query("example.com", RecordType::A)).await,
        ask_tcp(addr, &query("example.com", RecordType::A)).await,
    ] {
        assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
    }
    // Only three servers are ever tried.
    let many = vec![failing.addr, failing.addr, failing.addr, good.addr];
    let addr = scope(&server, "many", info(&["n1"], many));
    let resp = ask_udp(addr, &query("example.com", RecordType::A)).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_upstream_at_all_is_servfail() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, PATIENCE);
    assert!(server.host_upstreams().is_empty());
    let addr = scope(&server, "s", info(&["n1"], vec![]));
    let resp = ask_udp(addr, &query("example.com", RecordType::A)).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_beyond_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = FakeUpstream::start(Upstream::Answer(Ipv4Addr::new(192, 0, 2, 1))).await;
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "").unwrap();
    let config = DnsConfig {
        resolv_conf: resolv,
        upstream_timeout: Duration::from_millis(100),
        max_forwards: 0,
    };
    let server = DnsServer::new(config, tokio::runtime::Handle::current()).unwrap();
    let addr = scope(&server, "s", info(&["n1"], vec![upstream.addr]));
    let resp = ask_udp(addr, &query("example.com", RecordType::A)).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::Refused);
    assert!(upstream.asked().is_empty());
    // Local names do not wait for the forwarding limit.
    server.set_records("n1", "c", vec!["web".into()], vec![ip(2)], vec![]);
    let resp = ask_udp(addr, &query("web", RecordType::A)).await;
    assert_eq!(a_records(&resp), vec![ip(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_nameservers_are_read_and_read_again_when_changed() {
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    // Addresses from TEST-NET-1: parsed only, never asked.
    std::fs::write(&resolv, "nameserver 192.0.2.53\noptions ndots:0\n").unwrap();
    let config = DnsConfig {
        resolv_conf: resolv.clone(),
        ..DnsConfig::default()
    };
    let server = DnsServer::new(config, tokio::runtime::Handle::current()).unwrap();
    assert_eq!(
        server.host_upstreams(),
        vec!["192.0.2.53:53".parse::<SocketAddr>().unwrap()]
    );
    std::fs::write(&resolv, "nameserver 192.0.2.54\nnameserver 192.0.2.55\n").unwrap();
    // The next register notices the change (size differs even within one mtime tick).
    scope(&server, "s", info(&["n1"], vec![]));
    assert_eq!(
        server.host_upstreams(),
        vec![
            "192.0.2.54:53".parse::<SocketAddr>().unwrap(),
            "192.0.2.55:53".parse().unwrap()
        ]
    );
    std::fs::remove_file(&resolv).unwrap();
    server.reload_upstreams().unwrap();
    assert!(server.host_upstreams().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_update_and_unregister_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, PATIENCE);
    scope(&server, "s", info(&["n1"], vec![]));
    let again = ScopeSockets::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let err = server
        .register("s", again, info(&["n1"], vec![]))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("s"), "{err}");
    let err = server.update_scope("t", info(&[], vec![])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(server.scope_ids(), vec!["s".to_string()]);
    assert!(server.unregister("s"));
    assert!(!server.unregister("s"));
    assert!(server.scope_ids().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregister_closes_the_scope_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, PATIENCE);
    let addr = scope(&server, "s", info(&["n1"], vec![]));
    server.set_records("n1", "c", vec!["web".into()], vec![ip(2)], vec![]);
    assert_eq!(
        a_records(&ask_udp(addr, &query("web", RecordType::A)).await),
        vec![ip(2)]
    );
    assert!(server.unregister("s"));
    // The task ends at its next wake-up; then the address is free again for both.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if ScopeSockets::bind(addr).is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} still bound after unregister"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_does_not_stop_a_scope() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, PATIENCE);
    server.set_records("n1", "c", vec!["web".into()], vec![ip(2)], vec![]);
    let addr = scope(&server, "s", info(&["n1"], vec![]));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for junk in [
        &b""[..],
        b"\x00",
        &[0xff; 600],
        &[0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0],
    ] {
        socket.send_to(junk, addr).await.unwrap();
    }
    // A TCP client that announces more than it sends, then leaves.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, &[0x01, 0x00, 0xaa])
        .await
        .unwrap();
    drop(stream);
    assert_eq!(
        a_records(&ask_udp(addr, &query("web", RecordType::A)).await),
        vec![ip(2)]
    );
    assert_eq!(
        a_records(&ask_tcp(addr, &query("web", RecordType::A)).await),
        vec![ip(2)]
    );
}
