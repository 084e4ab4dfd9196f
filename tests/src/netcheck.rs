//! What a networked test daemon leaves on the host, checked and deleted at its end: the
//! default bridge (berthd leaves it, as dockerd leaves docker0), veths still on it, and
//! berth's nftables table with any element of a container or of a removed network still in
//! its sets and maps.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::daemon::TestNetwork;

/// `GET /index.html` over a plain TCP connection from the host (connect within 2 s, the
/// answer within 5 s); the body with surrounding whitespace trimmed, or `None` if the
/// connection failed or the answer had no body.
pub fn http_get(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.trim().to_string())
}

/// Runs a host tool (`ip`, `nft`); `None` when it could not run or failed.
fn tool(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Whether a network interface of that name exists on the host.
pub fn interface_exists(name: &str) -> bool {
    tool("ip", &["-o", "link", "show", "dev", name]).is_some()
}

/// The interfaces enslaved to `bridge` (the host ends of container veths).
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    tool("ip", &["-o", "link", "show", "master", bridge])
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .collect()
}

/// Whether berth's table exists (family `inet`, or `ip` as berth made it before IPv6).
pub fn table_exists(table: &str) -> bool {
    ["inet", "ip"]
        .iter()
        .any(|family| tool("nft", &["list", "table", family, table]).is_some())
}

/// The sets and maps of the table that still hold elements, with their element count.
pub fn filled_sets(table: &str) -> Vec<(String, usize)> {
    let Some(json) = tool("nft", &["-j", "list", "table", "inet", table]) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&json) else {
        return Vec::new();
    };
    let mut filled = Vec::new();
    for object in value["nftables"].as_array().into_iter().flatten() {
        for kind in ["set", "map"] {
            let set = &object[kind];
            if let Some(elements) = set["elem"].as_array().filter(|e| !e.is_empty()) {
                let name = set["name"].as_str().unwrap_or("?").to_string();
                filled.push((name, elements.len()));
            }
        }
    }
    filled
}

/// Deletes the daemon's bridge and table, reporting whatever per-container state was left
/// in them (every container was removed before this runs).
pub fn remove_and_check(network: &TestNetwork) -> Vec<String> {
    let mut problems = Vec::new();
    // The kernel frees a removed namespace, and the veth end in it, in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !bridge_ports(&network.bridge).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ports = bridge_ports(&network.bridge);
    if !ports.is_empty() {
        problems.push(format!(
            "interfaces left on bridge {}: {}",
            network.bridge,
            ports.join(", ")
        ));
        for port in &ports {
            let _ = tool("ip", &["link", "delete", "dev", port]);
        }
    }
    if interface_exists(&network.bridge) {
        let _ = tool("ip", &["link", "delete", "dev", &network.bridge]);
    }
    if table_exists(&network.firewall_table) {
        for (set, count) in filled_sets(&network.firewall_table) {
            // Published ports are elements of the `pub_*` maps; each network is one
            // element of the others, and only the default one outlives the test's.
            let allowed = if set.starts_with("pub_") { 0 } else { 1 };
            if count > allowed {
                problems.push(format!(
                    "nft set {set} of table inet {} still holds {count} elements",
                    network.firewall_table
                ));
            }
        }
        for family in ["inet", "ip"] {
            let _ = tool("nft", &["delete", "table", family, &network.firewall_table]);
        }
    }
    // berthd's rule in iptables' and ip6tables' FORWARD, which outlives berthd as its
    // table does
    for program in ["iptables", "ip6tables"] {
        while rule_exists(program, &network.firewall_table) {
            let mut args = vec!["-w", "-D", "FORWARD"];
            let rule = iptables_rule(&network.firewall_table);
            args.extend(rule.iter().map(String::as_str));
            if tool(program, &args).is_none() {
                problems.push(format!("could not delete {program} {}", rule.join(" ")));
                break;
            }
        }
    }
    problems
}

/// The rule berthd with nft table `table` puts first in iptables' filter FORWARD chain.
pub fn iptables_rule(table: &str) -> Vec<String> {
    let comment = format!("berth {table}");
    [
        "-m",
        "mark",
        "--mark",
        "0x1000000/0x1000000",
        "-m",
        "comment",
        "--comment",
        &comment,
        "-j",
        "ACCEPT",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

pub fn iptables_rule_exists(table: &str) -> bool {
    rule_exists("iptables", table)
}

fn rule_exists(program: &str, table: &str) -> bool {
    let rule = iptables_rule(table);
    let mut args = vec!["-w", "-C", "FORWARD"];
    args.extend(rule.iter().map(String::as_str));
    tool(program, &args).is_some()
}
