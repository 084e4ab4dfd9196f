//! Dual-stack user networks (issue 9, IPv6) through the real docker CLI: `network create
//! --ipv6` with and without a v6 subnet, `--ip6`, the inspect fields Docker fills, the
//! containers reaching each other by IPv6 address, Docker's errors for bad v6 input, and
//! the addresses kept across a kill -9 of berthd. Traffic stays on the test's own bridge.

use std::process::Command;

use berth_tests::{eventually, Daemon};

/// A v4 and a v6 subnet for user network `n` of this daemon, shared by no other test
/// daemon: the third octet of its `--bip` is its own (see network.rs).
fn subnets(d: &Daemon, n: u8) -> (String, String) {
    let octet: u16 = d
        .network()
        .gateway
        .split('.')
        .nth(2)
        .and_then(|o| o.parse().ok())
        .expect("a.b.c.d");
    (
        format!("10.{}.{octet}.0/24", 220 + n),
        format!("fd00:b6:{octet:x}:{n}::/64"),
    )
}

/// `network inspect`'s JSON.
trait Json {
    fn stdout_json(&self) -> serde_json::Value;
}

impl Json for berth_tests::Output {
    fn stdout_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self}"))
    }
}

fn endpoint(d: &Daemon, container: &str, network: &str) -> serde_json::Value {
    d.inspect(container)["NetworkSettings"]["Networks"][network].clone()
}

fn v6_of(d: &Daemon, container: &str, network: &str) -> String {
    endpoint(d, container, network)["GlobalIPv6Address"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The global IPv6 addresses (with prefix) of a host interface.
fn host_v6(interface: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args([
            "-6", "-o", "addr", "show", "dev", interface, "scope", "global",
        ])
        .output()
        .expect("ip");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .map(str::to_string)
        })
        .collect()
}

/// Whether `from` gets `body` from `[ip]:80` with busybox `nc`.
fn served_to(d: &Daemon, from: &str, ip: &str, body: &str) -> bool {
    let script = format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {ip} 80");
    let out = d.docker(&["exec", from, "sh", "-c", &script]);
    out.stdout.lines().any(|l| l.trim() == body)
}

#[test]
fn a_dual_stack_network_gives_addresses_that_reach_each_other_and_survive_a_kill() {
    let mut d = Daemon::networked();
    let (v4, v6) = subnets(&d, 1);
    let prefix = v6.trim_end_matches("/64").to_string(); // "fd00:b6:N:1::"
    d.docker(&[
        "network", "create", "--ipv6", "--subnet", &v4, "--subnet", &v6, "dual",
    ])
    .ok();
    let net = &d.docker(&["network", "inspect", "dual"]).ok().stdout_json()[0];
    assert_eq!(net["EnableIPv6"], true, "{net}");
    let config = net["IPAM"]["Config"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(config.len(), 2, "{net}");
    assert_eq!(config[0]["Subnet"], v4.as_str());
    assert_eq!(config[1]["Subnet"], v6.as_str());
    assert_eq!(config[1]["Gateway"], format!("{prefix}1").as_str());
    let bridge = format!("br-{}", &net["Id"].as_str().unwrap_or_default()[..12]);
    assert!(
        host_v6(&bridge).contains(&format!("{prefix}1/64")),
        "{bridge}: {:?}",
        host_v6(&bridge)
    );

    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "dual",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo six > /www/index.html && exec httpd -f -p 80 -h /www",
    ])
    .ok();
    let chosen = format!("{prefix}99");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "dual",
        "--ip6",
        &chosen,
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let web = endpoint(&d, "web", "dual");
    assert_eq!(
        web["GlobalIPv6Address"],
        format!("{prefix}2").as_str(),
        "{web}"
    );
    assert_eq!(web["GlobalIPv6PrefixLen"], 64);
    assert_eq!(web["IPv6Gateway"], format!("{prefix}1").as_str());
    assert_eq!(
        web["IPAddress"].as_str().map(|a| a.starts_with("10.")),
        Some(true)
    );
    let client = endpoint(&d, "client", "dual");
    assert_eq!(client["GlobalIPv6Address"], chosen.as_str(), "{client}");
    assert_eq!(client["IPAMConfig"]["IPv6Address"], chosen.as_str());
    // The network's inspect lists both with their v6 address.
    let net = &d.docker(&["network", "inspect", "dual"]).ok().stdout_json()[0];
    let listed: Vec<String> = net["Containers"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|c| c["IPv6Address"].as_str().map(str::to_string))
        .collect();
    assert!(listed.contains(&format!("{chosen}/64")), "{net}");

    // Inside: the address (not tentative: nodad) and the default route via the gateway.
    let addr = d
        .docker(&[
            "exec", "client", "ip", "-6", "-o", "addr", "show", "dev", "eth0",
        ])
        .ok();
    assert!(addr.stdout.contains(&format!("{chosen}/64")), "{addr}");
    assert!(
        addr.stdout
            .lines()
            .filter(|l| l.contains(&chosen))
            .all(|l| !l.contains("tentative")),
        "{addr}"
    );
    let route = d
        .docker(&["exec", "client", "ip", "-6", "route", "show", "default"])
        .ok();
    assert!(route.stdout.contains(&format!("via {prefix}1")), "{route}");

    let web_ip = format!("{prefix}2");
    d.docker(&[
        "exec", "client", "ping", "-6", "-c", "1", "-W", "3", &web_ip,
    ])
    .ok();
    eventually("client to fetch from web over IPv6", || {
        served_to(&d, "client", &web_ip, "six")
    });
    d.docker(&[
        "exec",
        "web",
        "ping",
        "-6",
        "-c",
        "1",
        "-W",
        "3",
        &format!("{prefix}1"),
    ])
    .ok();

    // The embedded DNS answers AAAA with the v6 address; names resolve over v6.
    let aaaa = d
        .docker(&["exec", "client", "nslookup", "-type=AAAA", "web"])
        .ok();
    assert!(aaaa.stdout.contains(&web_ip), "{aaaa}");
    let a = d
        .docker(&["exec", "client", "nslookup", "-type=A", "web"])
        .ok();
    assert!(!a.stdout.contains(&web_ip), "{a}");
    let pinged = d
        .docker(&["exec", "client", "ping", "-6", "-c", "1", "-W", "3", "web"])
        .ok();
    assert!(pinged.stdout.contains(&web_ip), "{pinged}");
    // /etc/hosts has the container's own v6 line after its v4 one, as Docker writes it.
    let hostname = d.inspect("client")["Config"]["Hostname"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let hosts = d.docker(&["exec", "client", "cat", "/etc/hosts"]).ok();
    let v4 = client["IPAddress"].as_str().unwrap_or_default();
    assert!(
        hosts
            .stdout
            .ends_with(&format!("{v4}\t{hostname}\n{chosen}\t{hostname}\n")),
        "{hosts}"
    );

    // Bad v6 input keeps Docker's errors and changes nothing.
    let taken = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "dual",
            "--ip6",
            &chosen,
            "busybox",
            "true",
        ])
        .code(125);
    assert!(taken.stderr.contains("Address already in use"), "{taken}");
    let outside = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "dual",
            "--ip6",
            "fd00:dead::5",
            "busybox",
            "true",
        ])
        .code(125);
    assert!(
        outside
            .stderr
            .contains("no configured subnet or ip-range contain the IP address fd00:dead::5"),
        "{outside}"
    );
    let not_v6 = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "dual",
            "--ip6",
            "10.1.2.3",
            "busybox",
            "true",
        ])
        .code(125);
    assert!(
        not_v6.stderr.contains("invalid IPv6 address: 10.1.2.3"),
        "{not_v6}"
    );
    let on_default = d
        .docker(&["run", "--rm", "--ip6", &chosen, "busybox", "true"])
        .code(125);
    assert!(
        on_default
            .stderr
            .contains("user specified IP address is supported on user defined networks only"),
        "{on_default}"
    );
    let (v4b, _) = subnets(&d, 2);
    let overlap = d
        .docker(&[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            &v4b,
            "--subnet",
            &format!("{prefix}/80"),
            "over",
        ])
        .fails();
    assert!(overlap.stderr.contains("Pool overlaps"), "{overlap}");
    // The CLI pairs a gateway with its subnet itself, so the daemon's check is met by API.
    let body = format!(
        r#"{{"Name":"badgw","EnableIPv6":true,"IPAM":{{"Config":[{{"Subnet":"{v4b}"}},{{"Subnet":"fd00:b6:ffff::/64","Gateway":"fd00:b6:fffe::1"}}]}}}}"#
    );
    let bad_gw = d.api(
        "POST",
        "/networks/create",
        Some(("application/json", body.as_bytes())),
    );
    let text = String::from_utf8_lossy(&bad_gw.body).to_string();
    assert_eq!(bad_gw.status, 400, "{text}");
    assert!(
        text.contains("invalid gateway fd00:b6:fffe::1: parent subnet fd00:b6:ffff::/64 doesn't contain this address"),
        "{text}"
    );
    d.docker(&["network", "inspect", "over"]).fails();
    d.docker(&["network", "inspect", "badgw"]).fails();

    // kill -9: the kernel keeps the addresses, the next berthd claims them again.
    d.kill9();
    d.restart();
    assert_eq!(v6_of(&d, "web", "dual"), web_ip);
    assert_eq!(v6_of(&d, "client", "dual"), chosen);
    eventually("client to fetch from web after the restart", || {
        served_to(&d, "client", &web_ip, "six")
    });
    let taken = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "dual",
            "--ip6",
            &web_ip,
            "busybox",
            "true",
        ])
        .code(125);
    assert!(taken.stderr.contains("Address already in use"), "{taken}");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "late",
        "--network",
        "dual",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    assert_eq!(
        v6_of(&d, "late", "dual"),
        format!("{prefix}3"),
        "no address twice"
    );

    // A stopped container shows no address; a connect gives one on a running container.
    d.docker(&["stop", "-t", "0", "late"]).ok();
    assert_eq!(v6_of(&d, "late", "dual"), "");
    d.docker(&["rm", "-f", "web", "client", "late"]).ok();
    d.docker(&["network", "rm", "dual"]).ok();
    assert!(
        !berth_tests::netcheck::interface_exists(&bridge),
        "{bridge} left"
    );
}

#[test]
fn an_ipv6_network_without_a_subnet_gets_a_64_of_the_engines_ula_prefix() {
    let d = Daemon::networked();
    let (v4, _) = subnets(&d, 3);
    d.docker(&["network", "create", "--ipv6", "--subnet", &v4, "auto6"])
        .ok();
    d.docker(&["network", "create", "--ipv6", "auto6b"]).ok();
    let subnet6 = |name: &str| {
        let net = &d.docker(&["network", "inspect", name]).ok().stdout_json()[0];
        assert_eq!(net["EnableIPv6"], true, "{net}");
        net["IPAM"]["Config"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Subnet"].as_str())
            .find(|s| s.contains(':'))
            .unwrap_or_default()
            .to_string()
    };
    let (a, b) = (subnet6("auto6"), subnet6("auto6b"));
    assert!(a.starts_with("fd") && a.ends_with("::/64"), "{a}");
    assert_ne!(a, b);
    // Both are /64s of one /48: the first three groups match.
    let groups = |s: &str| s.split(':').take(3).collect::<Vec<_>>().join(":");
    assert_eq!(groups(&a), groups(&b));
    d.docker(&[
        "run",
        "-d",
        "--name",
        "one",
        "--network",
        "auto6",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let addr = v6_of(&d, "one", "auto6");
    assert!(
        addr.starts_with(a.trim_end_matches("::/64")),
        "{addr} in {a}"
    );
    d.docker(&["rm", "-f", "one"]).ok();
}

/// A network namespace standing for the world upstream of the host: a veth pair whose
/// host end has `host_addr` and whose other end, in the namespace, has `peer_addr`, with
/// no route beyond their /64. Removed on drop, even when the test fails.
struct Upstream {
    netns: String,
    host_if: String,
}

impl Upstream {
    fn new(tag: &str, host_addr: &str, peer_addr: &str) -> Upstream {
        let up = Upstream {
            netns: format!("b6up{tag}"),
            host_if: format!("b6h{tag}"),
        };
        let peer = format!("b6p{tag}");
        let sh = |args: &[&str]| {
            let out = Command::new(args[0])
                .args(&args[1..])
                .output()
                .expect("run");
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        sh(&["ip", "netns", "add", &up.netns]);
        sh(&[
            "ip",
            "link",
            "add",
            &up.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ]);
        sh(&["ip", "link", "set", &peer, "netns", &up.netns]);
        sh(&[
            "ip",
            "-6",
            "addr",
            "add",
            host_addr,
            "dev",
            &up.host_if,
            "nodad",
        ]);
        sh(&["ip", "link", "set", &up.host_if, "up"]);
        let ns = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", up.netns.as_str()];
            all.extend_from_slice(args);
            sh(&all);
        };
        ns(&["ip", "-6", "addr", "add", peer_addr, "dev", &peer, "nodad"]);
        ns(&["ip", "link", "set", &peer, "up"]);
        ns(&["ip", "link", "set", "lo", "up"]);
        up
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "delete", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .output();
    }
}

fn pings(d: &Daemon, from: &str, ip: &str) -> bool {
    d.docker(&["exec", from, "ping", "-6", "-c", "1", "-W", "2", ip])
        .code
        == 0
}

#[test]
fn ipv6_networks_are_isolated_internal_stays_inside_and_the_rest_is_masqueraded() {
    let d = Daemon::networked();
    let octet = d
        .network()
        .gateway
        .split('.')
        .nth(2)
        .unwrap_or("0")
        .to_string();
    let tag = format!("{}{octet}", std::process::id() % 10_000);
    let (v4a, v6a) = subnets(&d, 4);
    let (v4b, v6b) = subnets(&d, 5);
    let (v4i, v6i) = subnets(&d, 6);
    let up_host = format!("fd00:b7:{octet}::1");
    let up_peer = format!("fd00:b7:{octet}::2");
    let upstream = Upstream::new(&tag, &format!("{up_host}/64"), &format!("{up_peer}/64"));
    for (v4, v6, name) in [(&v4a, &v6a, "sixa"), (&v4b, &v6b, "sixb")] {
        d.docker(&[
            "network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, name,
        ])
        .ok();
    }
    d.docker(&[
        "network",
        "create",
        "--internal",
        "--ipv6",
        "--subnet",
        &v4i,
        "--subnet",
        &v6i,
        "sixi",
    ])
    .ok();
    for (name, net) in [("ca", "sixa"), ("cb", "sixb")] {
        d.docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "busybox",
            "sleep",
            "300",
        ])
        .ok();
    }
    // NET_ADMIN only so the test can give the internal container a way out to refuse.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "ci",
        "--network",
        "sixi",
        "--cap-add",
        "NET_ADMIN",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let a6 = v6_of(&d, "ca", "sixa");
    let b6 = v6_of(&d, "cb", "sixb");

    // Masquerade: the upstream namespace has no route back to the containers' subnet, so
    // only a reply to the host's own address there comes back.
    assert!(pings(&d, "ca", &up_peer), "a reaches upstream");
    assert!(pings(&d, "cb", &up_peer), "b reaches upstream");

    // Isolation between the two IPv6 networks, both ways.
    assert!(!pings(&d, "ca", &b6), "a reached b across networks");
    assert!(!pings(&d, "cb", &a6), "b reached a across networks");
    // Joining both opens the way, as for IPv4.
    d.docker(&["network", "connect", "sixb", "ca"]).ok();
    let a_on_b = v6_of(&d, "ca", "sixb");
    assert!(
        pings(&d, "cb", &a_on_b),
        "b reaches a on their shared network"
    );
    d.docker(&["network", "disconnect", "sixb", "ca"]).ok();

    // Internal: no IPv6 default route, and even with one the host forwards nothing.
    let route = d
        .docker(&["exec", "ci", "ip", "-6", "route", "show", "default"])
        .ok();
    assert!(route.stdout.trim().is_empty(), "{route}");
    let gw = v6i.trim_end_matches("/64").to_string() + "1";
    d.docker(&[
        "exec", "ci", "ip", "-6", "route", "add", "default", "via", &gw,
    ])
    .ok();
    assert!(!pings(&d, "ci", &up_peer), "internal reached upstream");
    assert!(!pings(&d, "ci", &a6), "internal reached another network");

    d.docker(&["rm", "-f", "ca", "cb", "ci"]).ok();
    drop(upstream);
}

/// A port free on both families: a socket on [::] (dual-stack unless the host set
/// `bindv6only`) took it on both, and is closed before the port is used.
fn free_port() -> u16 {
    std::net::TcpListener::bind("[::]:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A global IPv6 address of the host's own uplink (the interface of its IPv6 default
/// route): traffic to it stays on the host. `None` on a host without one.
fn host_v6_address() -> Option<String> {
    let out = Command::new("ip")
        .args(["-6", "-o", "route", "show", "default"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let dev = text
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)?
        .to_string();
    host_v6(&dev)
        .into_iter()
        .next()
        .and_then(|a| a.split('/').next().map(str::to_string))
}

/// `GET /index.html` from the host; the body, or `None` if the connection failed.
fn http_get(addr: std::net::SocketAddr) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    stream.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.trim().to_string())
}

#[test]
fn ports_are_published_on_ipv6_host_addresses_by_kernel_dnat() {
    let d = Daemon::networked();
    let (v4, v6) = subnets(&d, 7);
    d.docker(&[
        "network", "create", "--ipv6", "--subnet", &v4, "--subnet", &v6, "pub6",
    ])
    .ok();
    let Some(host6) = host_v6_address() else {
        eprintln!("skipping: the host has no global IPv6 address of its own");
        return;
    };
    let (both, only6) = (free_port(), free_port());
    let httpd = "mkdir -p /www && echo pub6 > /www/index.html && exec httpd -f -p 80 -h /www";
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web6",
        "--network",
        "pub6",
        "-p",
        &format!("{both}:80"),
        "-p",
        &format!("[{host6}]:{only6}:80"),
        "busybox",
        "sh",
        "-c",
        httpd,
    ])
    .ok();
    // Inspect lists `-p PORT:80` on both families, as Docker 28 does.
    let ports = d.inspect("web6")["NetworkSettings"]["Ports"]["80/tcp"].clone();
    let bindings: Vec<(String, String)> = ports
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            (
                b["HostIp"].as_str().unwrap_or_default().to_string(),
                b["HostPort"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for want in [
        ("0.0.0.0".to_string(), both.to_string()),
        ("::".to_string(), both.to_string()),
        (host6.clone(), only6.to_string()),
    ] {
        assert!(bindings.contains(&want), "{want:?} in {ports}");
    }
    let at = |ip: &str, port: u16| std::net::SocketAddr::new(ip.parse().unwrap(), port);
    eventually("the port on 127.0.0.1", || {
        http_get(at("127.0.0.1", both)).as_deref() == Some("pub6")
    });
    eventually("the port on the host's IPv6 address", || {
        http_get(at(&host6, both)).as_deref() == Some("pub6")
    });
    eventually("the IPv6-address-only port", || {
        http_get(at(&host6, only6)).as_deref() == Some("pub6")
    });
    // As with dockerd without its userland proxy, [::1] is not DNATed (the kernel never
    // routes ::1 off lo); only the address asked for answers the second port.
    assert_eq!(http_get(at("::1", both)), None, "[::1] answered");
    assert_eq!(http_get(at("127.0.0.1", only6)), None, "{host6} only");
    let shown = d.docker(&["port", "web6", "80/tcp"]).ok();
    assert!(shown.stdout.contains(&format!("[::]:{both}")), "{shown}");

    // A taken v6 port is Docker's error; [::1] and an IPv4-only container's v6 host
    // address need dockerd's userland proxy, which berth says clearly.
    let taken = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "pub6",
            "-p",
            &format!("[{host6}]:{only6}:80"),
            "busybox",
            "true",
        ])
        .code(125);
    assert!(
        taken.stderr.contains(&format!(
            "Bind for [{host6}]:{only6} failed: port is already allocated"
        )),
        "{taken}"
    );
    let port = free_port();
    for args in [
        &["--network", "pub6", "-p", &format!("[::1]:{port}:80")][..],
        &["-p", &format!("[{host6}]:{port}:80")][..],
    ] {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend(["busybox", "true"]);
        let refused = d.docker(&all).code(125);
        assert!(
            refused.stderr.contains("not supported by berth yet"),
            "{refused}"
        );
    }

    d.docker(&["rm", "-f", "web6"]).ok();
    assert_eq!(http_get(at(&host6, only6)), None);
}

#[test]
fn berthd_ipv6_makes_the_default_bridge_dual_stack() {
    let prefix = format!("fd00:b8:{:x}::", std::process::id() % 0xffff);
    let mut d = Daemon::networked_with(&[
        "--ipv6".into(),
        "--fixed-cidr-v6".into(),
        format!("{prefix}/64"),
    ]);
    let net = &d
        .docker(&["network", "inspect", "bridge"])
        .ok()
        .stdout_json()[0];
    assert_eq!(net["EnableIPv6"], true, "{net}");
    let config = net["IPAM"]["Config"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(config.len(), 2, "{net}");
    assert_eq!(config[1]["Subnet"], format!("{prefix}/64").as_str());
    assert_eq!(config[1]["Gateway"], format!("{prefix}1").as_str());
    d.run_detached(&["--name", "one", "busybox", "sleep", "300"]);
    d.run_detached(&["--name", "two", "busybox", "sleep", "300"]);
    // The top-level fields come from the default bridge's endpoint, as in Docker.
    let settings = d.inspect("one")["NetworkSettings"].clone();
    assert_eq!(
        settings["GlobalIPv6Address"],
        format!("{prefix}2").as_str(),
        "{settings}"
    );
    assert_eq!(settings["GlobalIPv6PrefixLen"], 64);
    assert_eq!(settings["IPv6Gateway"], format!("{prefix}1").as_str());
    let two = v6_of(&d, "two", "bridge");
    assert_eq!(two, format!("{prefix}3"));
    assert!(pings(&d, "one", &two), "one reaches two over IPv6");
    assert!(
        pings(&d, "two", &format!("{prefix}1")),
        "two reaches the gateway"
    );

    d.kill9();
    d.restart();
    assert_eq!(v6_of(&d, "two", "bridge"), two);
    assert!(pings(&d, "one", &two), "after a kill -9");
    d.docker(&["rm", "-f", "one", "two"]).ok();
}

#[test]
fn berthd_ipv6_without_a_fixed_cidr_takes_a_ula_64() {
    let d = Daemon::networked_with(&["--ipv6".into()]);
    let net = &d
        .docker(&["network", "inspect", "bridge"])
        .ok()
        .stdout_json()[0];
    let subnet = net["IPAM"]["Config"][1]["Subnet"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        subnet.starts_with("fd") && subnet.ends_with("::/64"),
        "{net}"
    );
    // A v4 subnet is refused as dockerd refuses it, before anything starts.
    let mut bad = Command::new(berth_tests::binary("berthd"));
    bad.args(["--ipv6", "--fixed-cidr-v6", "10.0.0.0/8"]);
    let bad = berth_tests::run_command(bad, None).fails();
    assert!(
        bad.stderr.contains("invalid CIDR address: 10.0.0.0/8"),
        "{bad}"
    );
}
