//! Networking (issue 9) through the real docker CLI and docker-py: published ports on
//! loopback and on a host address, `docker port`, user-defined networks with the embedded
//! DNS, isolation, `connect`/`disconnect` of running containers, `--network container:X`
//! and `host`, Docker's errors for bad input, live restore, and cleanup of every
//! interface, nft element and namespace. All traffic stays on this machine: loopback, the
//! host's own address, and the bridges the test's daemon made.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use berth_tests::netcheck::{self, http_get};
use berth_tests::{eventually, run_command, Daemon};

/// A TCP port free on the host now (the kernel's pick, released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until `addr` serves `body`.
#[track_caller]
fn wait_serving(addr: SocketAddr, body: &str) {
    eventually(&format!("{addr} to serve {body:?}"), || {
        http_get(addr).is_some_and(|b| b == body)
    });
}

/// An IPv4 address of the host's own, other than loopback and the test bridges' (none on
/// a host with only loopback).
fn host_address() -> Option<Ipv4Addr> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            let interface = words.nth(1)?;
            if interface.starts_with("bt") || interface.starts_with("br-") {
                return None;
            }
            words
                .skip_while(|w| *w != "inet")
                .nth(1)?
                .split('/')
                .next()?
                .parse()
                .ok()
        })
}

/// The host ends of removed containers' veths go with their namespaces, which the kernel
/// frees in the background (berthd deletes any still there after 2 s).
#[track_caller]
fn no_veth_left(d: &Daemon) {
    eventually("no veth left on the default bridge", || {
        netcheck::bridge_ports(&d.network().bridge).is_empty()
    });
}

/// `busybox httpd` serving `body` as /index.html on port 80.
fn httpd(body: &str) -> String {
    format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www")
}

/// A subnet of the daemon's own range for a user network: the third octet of its `--bip`
/// is shared by no other test daemon, so `10.<200+n>.<octet>.0/24` is not either.
fn subnet(d: &Daemon, n: u8) -> (String, String) {
    let octet = d
        .network()
        .gateway
        .split('.')
        .nth(2)
        .expect("a.b.c.d")
        .to_string();
    let base = format!("10.{}.{octet}", 200 + n);
    (format!("{base}.0/24"), base)
}

#[test]
fn published_ports_answer_on_loopback_and_the_host_address() {
    let d = Daemon::networked();
    let (on_loopback, on_all) = (free_port(), free_port());
    let published_loopback = format!("127.0.0.1:{on_loopback}:80");
    let published_all = format!("{on_all}:80");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &published_loopback,
        "-p",
        &published_all,
        "busybox",
        "sh",
        "-c",
        &httpd("hello"),
    ])
    .ok();
    wait_serving(SocketAddr::from(([127, 0, 0, 1], on_loopback)), "hello");
    wait_serving(SocketAddr::from(([127, 0, 0, 1], on_all)), "hello");
    if let Some(ip) = host_address() {
        wait_serving(SocketAddr::from((ip, on_all)), "hello");
        // Bound to 127.0.0.1 only: not on the host's other addresses.
        assert_eq!(http_get(SocketAddr::from((ip, on_loopback))), None);
    }

    let port = d.docker(&["port", "web"]).ok();
    let mut lines = port.lines();
    lines.sort();
    let mut expected = vec![
        format!("80/tcp -> 0.0.0.0:{on_all}"),
        format!("80/tcp -> 127.0.0.1:{on_loopback}"),
    ];
    expected.sort();
    assert_eq!(lines, expected, "{port}");
    let ps = d.docker(&["ps", "--format", "{{.Ports}}"]).ok();
    assert!(
        ps.stdout.contains(&format!("0.0.0.0:{on_all}->80/tcp")),
        "{ps}"
    );
    assert!(
        ps.stdout
            .contains(&format!("127.0.0.1:{on_loopback}->80/tcp")),
        "{ps}"
    );

    let inspect = d.inspect("web");
    let bindings = inspect["HostConfig"]["PortBindings"]["80/tcp"].clone();
    assert_eq!(bindings.as_array().map(Vec::len), Some(2), "{inspect}");
    let ports = &inspect["NetworkSettings"]["Ports"]["80/tcp"];
    assert!(
        ports
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["HostIp"] == "127.0.0.1"
                && p["HostPort"].as_str() == Some(on_loopback.to_string().as_str())),
        "{inspect}"
    );
    let bridge = &inspect["NetworkSettings"]["Networks"]["bridge"];
    let ip = bridge["IPAddress"].as_str().unwrap_or_default();
    assert!(
        ip.starts_with(d.network().subnet.trim_end_matches("0/24")),
        "{bridge}"
    );
    assert_eq!(bridge["Gateway"], d.network().gateway.as_str(), "{bridge}");
    assert_eq!(bridge["IPPrefixLen"], 24, "{bridge}");
    assert_eq!(
        bridge["NetworkID"].as_str().map(str::len),
        Some(64),
        "{bridge}"
    );
    assert_eq!(
        bridge["EndpointID"].as_str().map(str::len),
        Some(64),
        "{bridge}"
    );
    assert_eq!(
        bridge["MacAddress"].as_str().map(str::len),
        Some(17),
        "{bridge}"
    );
    assert_eq!(inspect["NetworkSettings"]["IPAddress"], ip, "{inspect}");
    assert_eq!(inspect["HostConfig"]["NetworkMode"], "bridge", "{inspect}");

    // Its own /etc/hosts names it.
    let hosts = d.docker(&["exec", "web", "cat", "/etc/hosts"]).ok();
    assert!(hosts.stdout.contains(ip), "{hosts}");

    // A restart takes the networking down and sets it up again, ports included.
    d.docker(&["restart", "-t", "0", "web"]).ok();
    wait_serving(SocketAddr::from(([127, 0, 0, 1], on_all)), "hello");
    eventually("one veth on the bridge", || {
        netcheck::bridge_ports(&d.network().bridge).len() == 1
    });

    d.docker(&["rm", "-f", "web"]).ok();
    assert_eq!(http_get(SocketAddr::from(([127, 0, 0, 1], on_all))), None);
    no_veth_left(&d);
}

#[test]
fn publish_all_takes_ephemeral_ports_for_the_exposed_ones() {
    let d = Daemon::networked();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-P",
        "--expose",
        "80",
        "busybox",
        "sh",
        "-c",
        &httpd("all"),
    ])
    .ok();
    let inspect = d.inspect("web");
    let host_port: u16 = inspect["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no ephemeral port: {inspect}"));
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("ip_local_port_range");
    let bounds: Vec<u16> = range
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(
        bounds.len() == 2 && (bounds[0]..=bounds[1]).contains(&host_port),
        "{host_port} outside {range}"
    );
    wait_serving(SocketAddr::from(([127, 0, 0, 1], host_port)), "all");
    let port = d.docker(&["port", "web", "80"]).ok();
    assert_eq!(port.out(), format!("0.0.0.0:{host_port}"), "{port}");
}

#[test]
fn a_port_already_taken_fails_the_start_and_leaves_nothing() {
    let d = Daemon::networked();
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port to hold");
    let port = taken.local_addr().expect("its address").port();
    let publish = format!("127.0.0.1:{port}:80");
    let out = d
        .docker(&[
            "run", "-d", "--name", "clash", "-p", &publish, "busybox", "sleep", "60",
        ])
        .code(125);
    assert!(
        out.stderr.contains("address already in use")
            || out.stderr.contains("port is already allocated"),
        "{out}"
    );
    assert_eq!(d.state("clash"), "created");
    no_veth_left(&d);
    assert!(
        std::fs::read_dir(d.exec_root.join("netns"))
            .map(|dir| dir.count() == 0)
            .unwrap_or(true),
        "a namespace was left behind"
    );
    let first = free_port();
    let first_publish = format!("{first}:80");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "one",
        "-p",
        &first_publish,
        "busybox",
        "sleep",
        "60",
    ])
    .ok();
    let out = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "two",
            "-p",
            &first_publish,
            "busybox",
            "sleep",
            "60",
        ])
        .code(125);
    // Docker 28's words: the endpoint's name and ID, then the allocator's.
    let words = "failed to set up container networking: driver failed programming external connectivity on endpoint two (";
    let (_, after) = out
        .stderr
        .split_once(words)
        .unwrap_or_else(|| panic!("{out}"));
    let (endpoint_id, reason) = after.split_once("): ").unwrap_or_else(|| panic!("{out}"));
    assert!(
        endpoint_id.len() == 64 && endpoint_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{out}"
    );
    assert!(
        reason.starts_with(&format!(
            "Bind for 0.0.0.0:{first} failed: port is already allocated"
        )),
        "{out}"
    );
    // `two` got nothing: its veth went, `one` still serves its port alone.
    assert_eq!(d.state("two"), "created");
    let networks = &d.inspect("two")["NetworkSettings"]["Networks"]["bridge"];
    assert_eq!(networks["IPAddress"], "", "{networks}");
    eventually("only one's veth on the bridge", || {
        netcheck::bridge_ports(&d.network().bridge).len() == 1
    });
    let ports = d.docker(&["port", "one", "80"]).ok();
    assert_eq!(ports.out(), format!("0.0.0.0:{first}"), "{ports}");
    drop(taken);
}

#[test]
fn networks_are_created_listed_inspected_removed_and_pruned() {
    let d = Daemon::networked();
    let (front_subnet, front) = subnet(&d, 1);
    let gateway = format!("{front}.254");
    let id = d
        .docker(&[
            "network",
            "create",
            "--subnet",
            &front_subnet,
            "--gateway",
            &gateway,
            "--label",
            "tier=front",
            "-o",
            "com.docker.network.bridge.name=btfront",
            "front",
        ])
        .ok()
        .out()
        .to_string();
    assert!(berth_tests::is_full_id(&id), "{id}");
    assert!(netcheck::interface_exists("btfront"));
    let (spare_subnet, _) = subnet(&d, 2);
    d.docker(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &spare_subnet,
        "spare",
    ])
    .ok();

    let ls = d
        .docker(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"])
        .ok();
    let mut names = ls.lines();
    names.sort();
    assert_eq!(
        names,
        [
            "bridge bridge",
            "front bridge",
            "host host",
            "none null",
            "spare bridge"
        ],
        "{ls}"
    );
    let filtered = d
        .docker(&["network", "ls", "-q", "--filter", "label=tier=front"])
        .ok();
    assert_eq!(filtered.out(), &id[..12], "{filtered}");

    let inspect = d.docker(&["network", "inspect", "front"]).ok();
    let value: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("JSON");
    let net = &value[0];
    assert_eq!(net["Id"], id.as_str());
    assert_eq!(net["Driver"], "bridge");
    assert_eq!(net["Scope"], "local");
    assert_eq!(net["IPAM"]["Config"][0]["Subnet"], front_subnet.as_str());
    assert_eq!(net["IPAM"]["Config"][0]["Gateway"], gateway.as_str());
    assert_eq!(net["Labels"]["tier"], "front");

    d.docker(&[
        "run",
        "-d",
        "--name",
        "member",
        "--network",
        "front",
        "busybox",
        "sleep",
        "60",
    ])
    .ok();
    let attached = d
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
            "front",
        ])
        .ok();
    assert!(
        attached.out().starts_with(&format!("member {front}.")),
        "{attached}"
    );
    let refused = d.docker(&["network", "rm", "front"]).fails();
    assert!(refused.stderr.contains("has active endpoints"), "{refused}");
    d.docker(&["rm", "-f", "member"]).ok();

    let pruned = d.docker(&["network", "prune", "-f"]).ok();
    assert!(
        pruned.stdout.contains("front") && pruned.stdout.contains("spare"),
        "{pruned}"
    );
    assert!(!netcheck::interface_exists("btfront"));
    let ls = d.docker(&["network", "ls", "-q"]).ok();
    assert_eq!(ls.lines().len(), 3, "{ls}");
    d.docker(&["network", "rm", "bridge"]).fails();
}

#[test]
fn containers_on_a_user_network_resolve_each_other_and_connect() {
    let d = Daemon::networked();
    let (front_subnet, front) = subnet(&d, 1);
    d.docker(&["network", "create", "--subnet", &front_subnet, "front"])
        .ok();
    let web = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "front",
            "--network-alias",
            "www",
            "busybox",
            "sh",
            "-c",
            &httpd("by-name"),
        ])
        .ok()
        .out()
        .to_string();
    // Names the embedded DNS does not know are forwarded to the container's `--dns`: here
    // the host's loopback, where nothing answers, so no query leaves the machine.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "front",
        "--dns",
        "127.0.0.1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let web_ip = d.inspect("web")["NetworkSettings"]["Networks"]["front"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(web_ip.starts_with(&format!("{front}.")), "{web_ip}");
    for name in ["web", "www", &web[..12]] {
        let out = d.docker(&["exec", "client", "nslookup", name]).ok();
        assert!(out.stdout.contains(&web_ip), "{name}: {out}");
    }
    let resolv = d
        .docker(&["exec", "client", "cat", "/etc/resolv.conf"])
        .ok();
    assert!(resolv.stdout.contains("nameserver 127.0.0.11"), "{resolv}");
    let fetched = d
        .docker(&[
            "exec",
            "client",
            "sh",
            "-c",
            "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc www 80",
        ])
        .ok();
    assert!(fetched.stdout.contains("by-name"), "{fetched}");
    let dns_names = &d.inspect("web")["NetworkSettings"]["Networks"]["front"]["DNSNames"];
    assert!(
        dns_names
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n == "www")),
        "{dns_names}"
    );

    // A stopped container's name leaves the DNS.
    d.docker(&["stop", "-t", "0", "web"]).ok();
    let gone = d.docker(&["exec", "client", "nslookup", "web"]).fails();
    assert!(!gone.stdout.contains(&web_ip), "{gone}");
}

#[test]
fn two_user_networks_are_isolated_until_a_container_joins_both() {
    let d = Daemon::networked();
    let (a_subnet, _) = subnet(&d, 1);
    let (b_subnet, _) = subnet(&d, 2);
    d.docker(&["network", "create", "--subnet", &a_subnet, "neta"])
        .ok();
    d.docker(&["network", "create", "--subnet", &b_subnet, "netb"])
        .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "neta",
        "busybox",
        "sh",
        "-c",
        &httpd("across"),
    ])
    .ok();
    // `--dns 127.0.0.1`: an unknown name is forwarded to the host's loopback, not off it.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "netb",
        "--dns",
        "127.0.0.1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let web_ip = d.inspect("web")["NetworkSettings"]["Networks"]["neta"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let fetch = format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {web_ip} 80");
    let blocked = d.docker(&["exec", "other", "sh", "-c", &fetch]);
    assert!(!blocked.stdout.contains("across"), "{blocked}");
    d.docker(&["exec", "other", "nslookup", "web"]).fails();

    d.docker(&["network", "connect", "--alias", "second", "neta", "other"])
        .ok();
    let interfaces = d.docker(&["exec", "other", "ip", "-o", "-4", "addr"]).ok();
    assert!(interfaces.stdout.contains("eth1"), "{interfaces}");
    let joined = d.docker(&["exec", "other", "sh", "-c", &fetch]).ok();
    assert!(joined.stdout.contains("across"), "{joined}");
    let alias = d.docker(&["exec", "web", "nslookup", "second"]).ok();
    let other_ip = d.inspect("other")["NetworkSettings"]["Networks"]["neta"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        !other_ip.is_empty() && alias.stdout.contains(&other_ip),
        "{alias}"
    );

    d.docker(&["network", "disconnect", "neta", "other"]).ok();
    let interfaces = d.docker(&["exec", "other", "ip", "-o", "-4", "addr"]).ok();
    assert!(!interfaces.stdout.contains("eth1"), "{interfaces}");
    let networks = d.inspect("other")["NetworkSettings"]["Networks"].clone();
    assert!(networks.get("neta").is_none(), "{networks}");
    let refused = d
        .docker(&["network", "disconnect", "neta", "other"])
        .fails();
    assert!(
        refused.stderr.contains("is not connected to network neta"),
        "{refused}"
    );
}

/// The lines of `/etc/hosts` in `container` that name `host`.
fn hosts_lines(d: &Daemon, container: &str, host: &str) -> Vec<String> {
    let out = d.docker(&["exec", container, "cat", "/etc/hosts"]).ok();
    out.stdout
        .lines()
        .filter(|l| l.split_whitespace().skip(1).any(|w| w == host))
        .map(str::to_string)
        .collect()
}

#[test]
fn reconnecting_a_running_container_updates_its_dns_hosts_and_resolv_conf() {
    let d = Daemon::networked();
    let (front_subnet, front) = subnet(&d, 1);
    d.docker(&["network", "create", "--subnet", &front_subnet, "front"])
        .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "busybox",
        "sh",
        "-c",
        &httpd("again"),
    ])
    .ok();
    // On the default bridge; `--dns 127.0.0.1` so what the embedded DNS forwards once it
    // is on `front` goes to the host's loopback, never off the machine.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "client",
        "--hostname",
        "cli",
        "--dns",
        "127.0.0.1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let bridge_ip = d.inspect("client")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        hosts_lines(&d, "client", "cli"),
        [format!("{bridge_ip}\tcli")]
    );
    let resolv = d
        .docker(&["exec", "client", "cat", "/etc/resolv.conf"])
        .ok();
    assert!(resolv.stdout.contains("nameserver 127.0.0.1\n"), "{resolv}");

    let front_ip = |d: &Daemon| {
        d.inspect("client")["NetworkSettings"]["Networks"]["front"]["IPAddress"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let fetch = "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web 80";
    for round in 0..2 {
        d.docker(&["network", "connect", "front", "client"]).ok();
        let ip = front_ip(&d);
        assert!(ip.starts_with(&format!("{front}.")), "round {round}: {ip}");
        assert_eq!(
            hosts_lines(&d, "client", "cli"),
            [format!("{bridge_ip}\tcli"), format!("{ip}\tcli")],
            "round {round}"
        );
        let resolv = d
            .docker(&["exec", "client", "cat", "/etc/resolv.conf"])
            .ok();
        assert!(
            resolv.stdout.contains("nameserver 127.0.0.11\n"),
            "round {round}: {resolv}"
        );
        let fetched = d.docker(&["exec", "client", "sh", "-c", fetch]).ok();
        assert!(fetched.stdout.contains("again"), "round {round}: {fetched}");

        // Straight after the disconnect, the next round connects again: the embedded DNS
        // scope must still be there for it.
        d.docker(&["network", "disconnect", "front", "client"]).ok();
        assert_eq!(
            hosts_lines(&d, "client", "cli"),
            [format!("{bridge_ip}\tcli")],
            "round {round}"
        );
        let gone = d.docker(&["exec", "client", "nslookup", "web"]);
        assert!(
            !gone.stdout.contains(&format!("{front}.")),
            "round {round}: {gone}"
        );
        // The scope is still there (it answers; the forward to 127.0.0.1 finds nothing).
        assert!(gone.stdout.contains("SERVFAIL"), "round {round}: {gone}");
    }
    // A container only on user networks leaves its last one and comes back, back to back
    // through the API (no CLI start-up between the two), several times.
    for round in 0..5 {
        for action in ["disconnect", "connect"] {
            let path = format!("/networks/front/{action}");
            let body = br#"{"Container":"web"}"#;
            let answer = d.api("POST", &path, Some(("application/json", body)));
            assert_eq!(answer.status, 200, "round {round} {action}: {answer}");
        }
    }
    d.docker(&["network", "connect", "front", "client"]).ok();
    let web_ip = d.inspect("web")["NetworkSettings"]["Networks"]["front"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let found = d.docker(&["exec", "client", "nslookup", "web"]).ok();
    assert!(found.stdout.contains(&web_ip), "{found}");
    let back = d.docker(&["exec", "web", "nslookup", "client"]).ok();
    assert!(back.stdout.contains(&front_ip(&d)), "{back}");
}

#[test]
fn network_container_and_host_modes_share_namespaces() {
    let d = Daemon::networked();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        &httpd("shared"),
    ])
    .ok();
    let web_ip = d.inspect("web")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sidecar = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "container:web",
            "busybox",
            "sh",
            "-c",
            "ip -o -4 addr; printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 80",
        ])
        .ok();
    assert!(sidecar.stdout.contains(&web_ip), "{sidecar}");
    assert!(sidecar.stdout.contains("shared"), "{sidecar}");
    let conflict = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "container:web",
            "-p",
            "80",
            "busybox",
            "true",
        ])
        .code(125);
    assert!(
        conflict
            .stderr
            .contains("conflicting options: port publishing and the container type network mode"),
        "{conflict}"
    );
    d.docker(&["create", "--name", "stopped", "busybox", "true"])
        .ok();
    let not_running = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "container:stopped",
            "busybox",
            "true",
        ])
        .code(125);
    assert!(
        not_running.stderr.contains("non running container"),
        "{not_running}"
    );

    let host = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "ip",
            "-o",
            "link",
        ])
        .ok();
    assert!(host.stdout.contains(&d.network().bridge), "{host}");
    let inspect = d
        .docker(&["create", "--network", "host", "busybox", "true"])
        .ok();
    let id = inspect.out().to_string();
    assert!(d.inspect(&id)["NetworkSettings"]["Networks"]["host"].is_object());
    let none = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ip",
            "-o",
            "link",
        ])
        .ok();
    assert_eq!(none.lines().len(), 1, "only lo: {none}");
}

#[test]
fn bad_network_input_gets_dockers_errors_and_changes_nothing() {
    let d = Daemon::networked();
    let (front_subnet, front) = subnet(&d, 1);
    d.docker(&["network", "create", "--subnet", &front_subnet, "front"])
        .ok();
    let before = d.docker(&["network", "ls", "-q"]).ok().stdout;

    let bad = d
        .docker(&["network", "create", "--subnet", "10.1.2.300/24", "bad"])
        .fails();
    assert!(bad.stderr.contains("invalid"), "{bad}");
    let overlap = d
        .docker(&["network", "create", "--subnet", &front_subnet, "overlap"])
        .fails();
    assert!(
        overlap
            .stderr
            .contains("Pool overlaps with other one on this address space"),
        "{overlap}"
    );
    let duplicate = d.docker(&["network", "create", "front"]).fails();
    assert!(
        duplicate
            .stderr
            .contains("network with name front already exists"),
        "{duplicate}"
    );
    let outside = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "front",
            "--ip",
            "10.250.250.250",
            "busybox",
            "true",
        ])
        .code(125);
    assert!(
        outside
            .stderr
            .contains("no configured subnet or ip-range contain the IP address 10.250.250.250"),
        "{outside}"
    );
    let on_default = d
        .docker(&[
            "run",
            "--rm",
            "--ip",
            &format!("{front}.9"),
            "busybox",
            "true",
        ])
        .code(125);
    assert!(
        on_default
            .stderr
            .contains("user specified IP address is supported on user defined networks only"),
        "{on_default}"
    );
    let missing = d
        .docker(&["run", "--rm", "--network", "nowhere", "busybox", "true"])
        .code(125);
    assert!(
        missing.stderr.contains("network nowhere not found"),
        "{missing}"
    );
    assert_eq!(d.docker(&["network", "ls", "-q"]).ok().stdout, before);

    // IPv6: bad input gets Docker's error and leaves no network behind (good input is
    // tested in network_ipv6.rs).
    let bad_v6 = d
        .docker(&[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "fd00:1::1/64",
            "v6bad",
        ])
        .fails();
    assert!(
        bad_v6
            .stderr
            .contains("invalid subnet fd00:1::1/64: it should be fd00:1::/64"),
        "{bad_v6}"
    );
    assert_eq!(d.docker(&["network", "ls", "-q"]).ok().stdout, before);

    // A chosen address is the container's.
    let chosen = format!("{front}.77");
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "front",
            "--ip",
            &chosen,
            "busybox",
            "ip",
            "-o",
            "-4",
            "addr",
        ])
        .ok();
    assert!(out.stdout.contains(&chosen), "{out}");
}

#[test]
fn dns_and_extra_hosts_reach_the_container_files() {
    let d = Daemon::networked();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--dns",
            "10.255.0.1",
            "--dns-search",
            "corp.example",
            "--dns-option",
            "ndots:3",
            "--add-host",
            "db:10.255.0.9",
            "--add-host",
            "gw:host-gateway",
            "--hostname",
            "box",
            "busybox",
            "sh",
            "-c",
            "cat /etc/resolv.conf /etc/hosts",
        ])
        .ok();
    assert!(out.stdout.contains("nameserver 10.255.0.1\n"), "{out}");
    assert!(out.stdout.contains("search corp.example\n"), "{out}");
    assert!(out.stdout.contains("options ndots:3\n"), "{out}");
    assert!(out.stdout.contains("10.255.0.9\tdb\n"), "{out}");
    assert!(
        out.stdout
            .contains(&format!("{}\tgw\n", d.network().gateway)),
        "{out}"
    );
    assert!(out.stdout.contains("\tbox\n"), "{out}");
}

#[test]
fn links_on_the_default_bridge_give_hosts_entries_and_variables() {
    let d = Daemon::networked();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "--expose",
        "5432",
        "-e",
        "SECRET=s3",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let db_ip = d.inspect("db")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--name",
            "app",
            "--link",
            "db:store",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hosts; env | sort",
        ])
        .ok();
    assert!(out.stdout.contains(&format!("{db_ip}	store ")), "{out}");
    assert!(
        out.stdout.contains(
            "STORE_NAME=/app/store
"
        ),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(
            "STORE_PORT_5432_TCP_ADDR={db_ip}
"
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains(
            "STORE_ENV_SECRET=s3
"
        ),
        "{out}"
    );
    d.docker(&["stop", "-t", "0", "db"]).ok();
    let refused = d
        .docker(&["run", "--rm", "--link", "db:store", "busybox", "true"])
        .code(125);
    assert!(
        refused
            .stderr
            .contains("Cannot link to a non running container"),
        "{refused}"
    );
}

#[test]
fn a_link_on_a_user_network_is_an_alias_only_the_linking_container_resolves() {
    let d = Daemon::networked();
    let (front_subnet, front) = subnet(&d, 1);
    d.docker(&["network", "create", "--subnet", &front_subnet, "front"])
        .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "front",
        "busybox",
        "sh",
        "-c",
        &httpd("linked"),
    ])
    .ok();
    // `--dns 127.0.0.1`: names the embedded DNS does not know go to the host's loopback.
    for (name, link) in [("app", Some("db:store")), ("other", None)] {
        let mut args = vec!["run", "-d", "--name", name, "--network", "front"];
        args.extend(["--dns", "127.0.0.1"]);
        if let Some(link) = link {
            args.extend(["--link", link]);
        }
        args.extend(["busybox", "sleep", "300"]);
        d.docker(&args).ok();
    }
    let db_ip = d.inspect("db")["NetworkSettings"]["Networks"]["front"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(db_ip.starts_with(&format!("{front}.")), "{db_ip}");
    let found = d.docker(&["exec", "app", "nslookup", "store"]).ok();
    assert!(found.stdout.contains(&db_ip), "{found}");
    let fetched = d
        .docker(&[
            "exec",
            "app",
            "sh",
            "-c",
            "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 store 80",
        ])
        .ok();
    assert!(fetched.stdout.contains("linked"), "{fetched}");
    // Not a legacy link: no hosts entry, no variables.
    let legacy = d
        .docker(&["exec", "app", "sh", "-c", "cat /etc/hosts; env"])
        .ok();
    assert!(
        !legacy.stdout.contains("store") && !legacy.stdout.contains("STORE_"),
        "{legacy}"
    );
    let elsewhere = d.docker(&["exec", "other", "nslookup", "store"]);
    assert!(!elsewhere.stdout.contains(&db_ip), "{elsewhere}");
    // A link given to `network connect` (per network, as compose sends them too).
    let (back_subnet, _) = subnet(&d, 2);
    d.docker(&["network", "create", "--subnet", &back_subnet, "back"])
        .ok();
    d.docker(&["network", "connect", "back", "db"]).ok();
    d.docker(&["network", "disconnect", "front", "other"]).ok();
    d.docker(&["network", "connect", "--link", "db:vault", "back", "other"])
        .ok();
    let db_back = d.inspect("db")["NetworkSettings"]["Networks"]["back"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let found = d.docker(&["exec", "other", "nslookup", "vault"]).ok();
    assert!(
        !db_back.is_empty() && found.stdout.contains(&db_back),
        "{found}"
    );
    let links = &d.inspect("other")["NetworkSettings"]["Networks"]["back"]["Links"];
    assert_eq!(links, &serde_json::json!(["db:vault"]), "{links}");
    let not_app = d.docker(&["exec", "app", "nslookup", "vault"]);
    assert!(!not_app.stdout.contains(&db_back), "{not_app}");
    // Under `--network none` a link could be nothing: refused, as not done.
    let refused = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--link",
            "db:x",
            "busybox",
            "true",
        ])
        .code(125);
    assert!(
        refused.stderr.contains("not supported by berth yet"),
        "{refused}"
    );
}

#[test]
fn live_restore_keeps_addresses_ports_and_dns_of_running_containers() {
    let mut d = Daemon::networked();
    let (front_subnet, _) = subnet(&d, 1);
    d.docker(&["network", "create", "--subnet", &front_subnet, "front"])
        .ok();
    let port = free_port();
    let publish = format!("{port}:80");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        &httpd("restored"),
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "front",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    // One that left its only user network: its DNS scope, with no networks, outlives
    // the daemon too. `--dns 127.0.0.1`: what it forwards stays on the host's loopback.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "left",
        "--dns",
        "127.0.0.1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    d.docker(&["network", "connect", "front", "left"]).ok();
    d.docker(&["network", "disconnect", "front", "left"]).ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "brief",
        "--network",
        "front",
        "busybox",
        "sleep",
        "2",
    ])
    .ok();
    let brief_ip = d.inspect("brief")["NetworkSettings"]["Networks"]["front"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let web_ip = d.inspect("web")["NetworkSettings"]["Networks"]["front"]["IPAddress"].clone();
    wait_serving(SocketAddr::from(([127, 0, 0, 1], port)), "restored");

    d.kill9();
    // While no daemon runs, the port still answers: the kernel forwards it.
    wait_serving(SocketAddr::from(([127, 0, 0, 1], port)), "restored");
    std::thread::sleep(Duration::from_secs(3));
    d.restart();

    assert_eq!(
        d.inspect("web")["NetworkSettings"]["Networks"]["front"]["IPAddress"],
        web_ip
    );
    wait_serving(SocketAddr::from(([127, 0, 0, 1], port)), "restored");
    eventually("the embedded DNS to answer again", || {
        let out = d.docker_command(&["exec", "client", "nslookup", "web"]);
        run_command(out, None)
            .stdout
            .contains(web_ip.as_str().unwrap_or("?"))
    });
    eventually("the scope with no networks to answer again", || {
        let out = d.docker_command(&["exec", "left", "nslookup", "web"]);
        run_command(out, None).stdout.contains("SERVFAIL")
    });
    d.docker(&["network", "connect", "front", "left"]).ok();
    let found = d.docker(&["exec", "left", "nslookup", "web"]).ok();
    assert!(
        found.stdout.contains(web_ip.as_str().unwrap_or("?")),
        "{found}"
    );
    d.wait_for_state("brief", "exited");
    // The one that exited while no daemon ran gave its address back.
    let next = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "next",
            "--network",
            "front",
            "busybox",
            "sleep",
            "60",
        ])
        .ok();
    assert!(!next.stdout.is_empty());
    let taken: Vec<String> = ["web", "client", "next"]
        .iter()
        .map(|n| {
            d.inspect(n)["NetworkSettings"]["Networks"]["front"]["IPAddress"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let mut unique = taken.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "an address handed out twice: {taken:?}");
    assert!(!brief_ip.is_empty());
}

#[test]
fn network_events_are_reported() {
    let d = Daemon::networked();
    let (front_subnet, _) = subnet(&d, 1);
    let since = chrono::Utc::now().timestamp().to_string();
    d.docker(&["network", "create", "--subnet", &front_subnet, "front"])
        .ok();
    d.docker(&["run", "-d", "--name", "cc", "busybox", "sleep", "60"])
        .ok();
    d.docker(&["network", "connect", "front", "cc"]).ok();
    d.docker(&["network", "disconnect", "front", "cc"]).ok();
    d.docker(&["network", "rm", "front"]).ok();
    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    let events = d
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "type=network",
            "--filter",
            "network=front",
            "--format",
            "{{.Action}}",
        ])
        .ok();
    assert_eq!(
        events.lines(),
        ["create", "connect", "disconnect", "destroy"],
        "{events}"
    );
}

#[test]
fn docker_py_creates_a_network_and_publishes_a_port() {
    let d = Daemon::networked();
    let (front_subnet, _) = subnet(&d, 1);
    let port = free_port();
    let script = format!(
        r#"
import docker, socket, time
client = docker.from_env()
ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="{front_subnet}")])
net = client.networks.create("pynet", driver="bridge", ipam=ipam)
web = client.containers.run("busybox", ["sh", "-c", "{httpd}"], detach=True, name="pyweb",
                            network="pynet", ports={{"80/tcp": {port}}})
web.reload()
assert web.ports == {{"80/tcp": [{{"HostIp": "0.0.0.0", "HostPort": "{port}"}}]}}, web.ports
assert web.attrs["NetworkSettings"]["Networks"]["pynet"]["NetworkID"] == net.id
body = b""
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", {port}), timeout=2)
        s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
        body = b"".join(iter(lambda: s.recv(4096), b""))
        if b"py" in body:
            break
    except OSError:
        pass
    time.sleep(0.1)
assert body.endswith(b"py\n"), body
net.reload()
assert list(net.containers) == [web], net.containers
web.remove(force=True)
net.remove()
print("ok")
"#,
        httpd = httpd("py"),
    );
    let mut python = Command::new("python3");
    python
        .args(["-c", &script])
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH");
    let out = run_command(python, None);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "ok\n", "{out}");
}

#[test]
fn a_dropped_daemon_leaves_no_interface_table_or_namespace() {
    let d = Daemon::networked();
    let network = d.network().clone();
    let (front_subnet, _) = subnet(&d, 1);
    d.docker(&[
        "network",
        "create",
        "--subnet",
        &front_subnet,
        "-o",
        "com.docker.network.bridge.name=btdrop",
        "front",
    ])
    .ok();
    let publish = format!("{}:80", free_port());
    d.docker(&[
        "run",
        "-d",
        "--network",
        "front",
        "-p",
        &publish,
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    d.docker(&["run", "-d", "busybox", "sleep", "300"]).ok();
    assert!(netcheck::table_exists(&network.firewall_table));
    assert!(!netcheck::bridge_ports(&network.bridge).is_empty());
    let exec_root = d.exec_root.clone();
    drop(d);
    assert!(!netcheck::interface_exists(&network.bridge));
    assert!(!netcheck::interface_exists("btdrop"));
    assert!(!netcheck::table_exists(&network.firewall_table));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !mounts.contains(exec_root.to_str().unwrap_or("?")),
        "a mount under {} is left",
        exec_root.display()
    );
}
