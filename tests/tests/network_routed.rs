//! Routed endpoints (issue 9, README "Density") through the real docker CLI: past a
//! bridge's port limit berthd gives a container's host veth a /32 route and proxy ARP
//! instead of a bridge port. The hidden `--bridge-port-limit 1` makes the second container
//! of a network routed, so the path is reached with three containers, not a thousand.
//! Traffic stays between the host and the test daemon's own bridge and namespaces.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use berth_tests::{eventually, netcheck, run_command, Daemon};

/// `GET /index.html` from the host; the body, or `None` if the connection failed.
fn http_get(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.trim().to_string())
}

/// Whether container `from` gets `body` from `ip`:80 with busybox `nc`.
fn served_to(d: &Daemon, from: &str, ip: &str, body: &str) -> bool {
    let script = format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {ip} 80");
    let out = run_command(d.docker_command(&["exec", from, "sh", "-c", &script]), None);
    out.stdout.lines().any(|l| l.trim() == body)
}

/// The container's address on the default bridge.
fn address(d: &Daemon, name: &str) -> String {
    d.inspect(name)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The interface the host's /32 route to `ip` goes out of, if there is such a route.
fn host_route(ip: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "route", "show", "exact", &format!("{ip}/32")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    words.find(|w| *w == "dev")?;
    words.next().map(str::to_string)
}

fn proxy_arp(interface: &str) -> Option<String> {
    fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{interface}/proxy_arp"))
        .ok()
        .map(|v| v.trim().to_string())
}

#[test]
fn a_routed_endpoint_is_reachable_survives_a_daemon_kill_and_is_cleaned_up() {
    let mut d = Daemon::networked_with(&["--bridge-port-limit".into(), "1".into()]);
    let bridge = d.network().bridge.clone();
    // The first takes the bridge's only port; the next two are routed.
    d.run_detached(&["--name", "peer", "busybox", "sleep", "300"]);
    d.run_detached(&[
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo routed > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    d.run_detached(&["--name", "other", "busybox", "sleep", "300"]);
    assert_eq!(netcheck::bridge_ports(&bridge).len(), 1, "one bridge port");

    let ip = address(&d, "web");
    let veth = host_route(&ip).unwrap_or_else(|| panic!("no /32 route to {ip}"));
    assert!(veth.starts_with("veth"), "route to {ip} via {veth}");
    assert!(
        !netcheck::bridge_ports(&bridge).contains(&veth),
        "{veth} is a bridge port"
    );
    assert_eq!(
        proxy_arp(&veth).as_deref(),
        Some("1"),
        "proxy ARP on {veth}"
    );
    assert_eq!(
        proxy_arp(&bridge).as_deref(),
        Some("1"),
        "proxy ARP on {bridge}"
    );
    let other_ip = address(&d, "other");
    assert!(host_route(&other_ip).is_some(), "other is routed too");

    let target = SocketAddr::new(ip.parse().expect("an IPv4 address"), 80);
    eventually("the host to reach the routed web", || {
        http_get(target).as_deref() == Some("routed")
    });
    eventually("the bridged peer to reach the routed web", || {
        served_to(&d, "peer", &ip, "routed")
    });
    eventually("another routed container to reach web", || {
        served_to(&d, "other", &ip, "routed")
    });

    // The kernel keeps forwarding while no daemon runs, and the restarted one keeps the
    // endpoint as it was (its route, its veth, its place among the routed).
    d.kill9();
    assert_eq!(http_get(target).as_deref(), Some("routed"));
    d.restart();
    assert_eq!(address(&d, "web"), ip);
    assert_eq!(host_route(&ip).as_deref(), Some(veth.as_str()));
    eventually("the host to reach web after the restart", || {
        http_get(target).as_deref() == Some("routed")
    });
    eventually("the peer to reach web after the restart", || {
        served_to(&d, "peer", &ip, "routed")
    });
    // The restarted daemon counts the bridge's port as taken: a new one is routed.
    d.run_detached(&["--name", "late", "busybox", "sleep", "300"]);
    let late_ip = address(&d, "late");
    assert!(host_route(&late_ip).is_some(), "late is not routed");
    assert_eq!(netcheck::bridge_ports(&bridge).len(), 1, "one bridge port");

    d.docker(&["rm", "-f", "web"]).ok();
    eventually("web's /32 route and veth to go", || {
        host_route(&ip).is_none() && !netcheck::interface_exists(&veth)
    });
    assert_eq!(http_get(target), None);
    assert!(
        host_route(&other_ip).is_some(),
        "removing web took other's route"
    );
    d.docker(&["rm", "-f", "peer", "other", "late"]).ok();
    eventually("every route of a routed container to go", || {
        host_route(&other_ip).is_none() && host_route(&late_ip).is_none()
    });
}
