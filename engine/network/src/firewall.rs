//! The nftables table of berth's own. The scripts are built here (pure, unit-tested) and
//! run by a [`Firewall`]; [`Nft`] feeds them to `nft -f -`, one process per change, in one
//! transaction each.
//!
//! Layout (table `inet <name>`: one table for both families, so every interface rule below
//! holds for IPv6 as for IPv4):
//! - `prerouting`/`output` (nat): `fib daddr type local` jumps to `published`, which DNATs
//!   through the maps `pub_addr` (host ip . proto . port) and `pub_any` (proto . port) to
//!   (container ip . port). A container's ports are elements of those maps, so publishing
//!   is one element add and no rule changes.
//! - `postrouting` (nat): masquerade of 127.0.0.0/8 into a bridge (with `route_localnet`
//!   on it, 127.0.0.1:PORT reaches the container), hairpin (a DNATed flow that goes back
//!   into a bridge), and each non-internal subnet, IPv4 (`nat_subnets`) or IPv6
//!   (`nat_subnets6`, as Docker 28 masquerades IPv6 too), going out of anything but a
//!   bridge.
//! - `forward` (filter): `oifname vmap @to_bridge` jumps to the chain of the network a
//!   packet enters, which accepts its own interfaces (set `m_<id>`: the bridge and the
//!   host ends of routed endpoints), DNATed and established flows, and drops what comes
//!   from another berth interface (isolation); internal networks drop everything from or
//!   to elsewhere.
//!
//! - `mark_forward`/`unmark_forward` (filter, just before and after `forward`): a packet
//!   into a berth interface, or from one to anything but another engine's bridge, carries
//!   [`FORWARD_MARK`] while the filter hook runs, and iptables' `FORWARD` has one rule of
//!   berth's accepting that mark ([`Firewall::let_through_iptables`]). A drop in any table
//!   at a hook is final, so berth's own table cannot overrule the DROP policy dockerd sets
//!   (nor, with `br_netfilter` loaded, that policy seeing bridged frames); the one rule
//!   defers to berth's table for berth's traffic and to Docker's chains for the rest; the
//!   same rule goes into ip6tables' `FORWARD`, where dockerd sets the same policy.
//!
//! Other tables' rules (Docker's, Podman's) stay as they are.
//! Text rather than `nft -j`: the JSON form of a concatenated DNAT map is several nested
//! objects per element, and nothing here needs to read rules back.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::error::{Error, Result};
use crate::types::PublishedPort;

pub(crate) trait Firewall: Send + Sync {
    fn apply(&self, script: &str) -> Result<()>;
    /// Makes sure iptables' filter `FORWARD` chain accepts what the table marked with
    /// [`FORWARD_MARK`] (one rule, first in the chain, named after the table).
    fn let_through_iptables(&self) -> Result<()>;
}

/// The bit of the packet mark berth's table sets on its forwarded traffic while the filter
/// hook runs (cleared again at its end). Not one of the bits kube-proxy (0x4000, 0x8000) or
/// Docker use.
pub(crate) const FORWARD_MARK: u32 = 0x0100_0000;

/// iptables' rule (after `-C|-I|-D FORWARD`) letting through what table `table` marked.
pub(crate) fn iptables_rule(table: &str) -> Vec<String> {
    let mark = format!("{FORWARD_MARK:#x}/{FORWARD_MARK:#x}");
    let comment = format!("berth {table}");
    [
        "-m",
        "mark",
        "--mark",
        &mark,
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

/// What the firewall needs to know of one bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetRules {
    /// Short network ID: names its chains (`to_<id>`, `from_<id>`).
    pub id12: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// The IPv6 subnet of an IPv6 network.
    pub subnet6: Option<Ipv6Net>,
    pub internal: bool,
}

/// The tools whose `FORWARD` chain gets berth's rule: dockerd sets the policy of both.
const IPTABLES: [&str; 2] = ["iptables", "ip6tables"];

pub(crate) struct Nft {
    pub table: String,
}

impl Nft {
    /// Runs `TOOL -w OP FORWARD [1] RULE` (`iptables` or `ip6tables`): `Ok(None)` when
    /// there is no such tool at all, else whether it succeeded, with its stderr.
    fn iptables(&self, tool: &str, op: &str) -> Result<Option<(bool, String)>> {
        let mut args = vec!["-w".to_string(), op.to_string(), "FORWARD".to_string()];
        if op == "-I" {
            args.push("1".into());
        }
        args.extend(iptables_rule(&self.table));
        match Command::new(tool).args(&args).stdin(Stdio::null()).output() {
            Ok(out) => Ok(Some((
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Firewall {
                table: self.table.clone(),
                message: format!("run {tool} {}: {e}", args.join(" ")),
            }),
        }
    }

    /// Deletes the rule of [`Firewall::let_through_iptables`]; a missing one is no error.
    pub(crate) fn forget_iptables(&self) -> Result<()> {
        for tool in IPTABLES {
            while let Some((true, _)) = self.iptables(tool, "-D")? {}
        }
        Ok(())
    }
}

impl Firewall for Nft {
    fn let_through_iptables(&self) -> Result<()> {
        for tool in IPTABLES {
            match self.iptables(tool, "-C")? {
                None => continue, // no such tool: nothing there to drop our packets
                Some((true, _)) => continue,
                Some((false, _)) => {}
            }
            if let Some((false, stderr)) = self.iptables(tool, "-I")? {
                return Err(Error::Firewall {
                    table: self.table.clone(),
                    message: format!(
                        "{tool} -I FORWARD 1 {}: {stderr}",
                        iptables_rule(&self.table).join(" ")
                    ),
                });
            }
        }
        Ok(())
    }

    fn apply(&self, script: &str) -> Result<()> {
        let fail = |message: String| Error::Firewall {
            table: self.table.clone(),
            message,
        };
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("run nft: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(|e| fail(format!("write to nft: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| fail(format!("wait for nft: {e}")))?;
        if !out.status.success() {
            return Err(fail(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(())
    }
}

/// The whole table from scratch, atomically replacing any table of that name (after a
/// crash it still holds the previous daemon's elements, which are rebuilt from the records).
pub(crate) fn full_table(
    table: &str,
    nets: &[NetRules],
    routed: &[(NetRules, String)],
    ports: &[PublishedPort],
) -> String {
    let mut s = String::new();
    // berth before IPv6 had an `ip` table of that name; it goes in the same transaction.
    let _ = writeln!(
        s,
        "table ip {table}\ndelete table ip {table}\ntable inet {table}\ndelete table inet {table}"
    );
    let _ = write!(
        s,
        "table inet {table} {{
  set bridges {{ type ifname; }}
  set nat_subnets {{ type ipv4_addr; flags interval; }}
  set nat_subnets6 {{ type ipv6_addr; flags interval; }}
  map to_bridge {{ type ifname : verdict; }}
  map from_bridge {{ type ifname : verdict; }}
  map pub_addr {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
  map pub_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  map pub_addr6 {{ type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }}
  map pub_any6 {{ type inet_proto . inet_service : ipv6_addr . inet_service; }}
  chain published {{
    dnat ip to ip daddr . meta l4proto . th dport map @pub_addr
    dnat ip to meta l4proto . th dport map @pub_any
    dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub_addr6
    dnat ip6 to meta l4proto . th dport map @pub_any6
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump published
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    fib daddr type local jump published
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 127.0.0.0/8 oifname @bridges masquerade
    ct status dnat oifname @bridges ip saddr @nat_subnets masquerade
    ct status dnat oifname @bridges ip6 saddr @nat_subnets6 masquerade
    ip saddr @nat_subnets oifname != @bridges masquerade
    ip6 saddr @nat_subnets6 oifname != @bridges masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    oifname vmap @to_bridge
    iifname vmap @from_bridge
  }}
  chain mark_forward {{
    type filter hook forward priority filter - 5; policy accept;
    oifname @bridges meta mark set meta mark | {mark:#x}
    iifname @bridges meta oifkind != \"bridge\" meta mark set meta mark | {mark:#x}
  }}
  chain unmark_forward {{
    type filter hook forward priority filter + 5; policy accept;
    oifname @bridges meta mark set meta mark and {unmark:#x}
    iifname @bridges meta mark set meta mark and {unmark:#x}
  }}
}}
",
        mark = FORWARD_MARK,
        unmark = !FORWARD_MARK
    );
    for net in nets {
        s.push_str(&add_network(table, net));
    }
    for (net, ifname) in routed {
        s.push_str(&add_routed(table, net, ifname));
    }
    s.push_str(&add_ports(table, ports));
    s
}

pub(crate) fn delete_table(table: &str) -> String {
    format!("table ip {table}\ndelete table ip {table}\ntable inet {table}\ndelete table inet {table}\n")
}

pub(crate) fn add_network(table: &str, net: &NetRules) -> String {
    let NetRules {
        id12,
        bridge,
        subnet,
        ..
    } = net;
    let mut s = String::new();
    // The network's interfaces: its bridge and the host ends of its routed endpoints.
    let _ = writeln!(s, "add set inet {table} m_{id12} {{ type ifname; }}");
    let _ = writeln!(s, "add element inet {table} m_{id12} {{ \"{bridge}\" }}");
    let _ = writeln!(s, "add chain inet {table} to_{id12}");
    let _ = writeln!(
        s,
        "add rule inet {table} to_{id12} iifname @m_{id12} accept"
    );
    if net.internal {
        let _ = writeln!(s, "add rule inet {table} to_{id12} drop");
        let _ = writeln!(s, "add chain inet {table} from_{id12}");
        let _ = writeln!(
            s,
            "add rule inet {table} from_{id12} oifname != @m_{id12} drop"
        );
        let _ = writeln!(
            s,
            "add element inet {table} from_bridge {{ \"{bridge}\" : jump from_{id12} }}"
        );
    } else {
        let _ = writeln!(s, "add rule inet {table} to_{id12} ct status dnat accept");
        let _ = writeln!(
            s,
            "add rule inet {table} to_{id12} ct state established,related accept"
        );
        let _ = writeln!(s, "add rule inet {table} to_{id12} iifname @bridges drop");
        let _ = writeln!(s, "add element inet {table} nat_subnets {{ {subnet} }}");
        if let Some(subnet6) = net.subnet6 {
            let _ = writeln!(s, "add element inet {table} nat_subnets6 {{ {subnet6} }}");
        }
    }
    let _ = writeln!(s, "add element inet {table} bridges {{ \"{bridge}\" }}");
    let _ = writeln!(
        s,
        "add element inet {table} to_bridge {{ \"{bridge}\" : jump to_{id12} }}"
    );
    s
}

pub(crate) fn remove_network(table: &str, net: &NetRules) -> String {
    let NetRules {
        id12,
        bridge,
        subnet,
        ..
    } = net;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "delete element inet {table} to_bridge {{ \"{bridge}\" }}"
    );
    let _ = writeln!(s, "delete element inet {table} bridges {{ \"{bridge}\" }}");
    if net.internal {
        let _ = writeln!(
            s,
            "delete element inet {table} from_bridge {{ \"{bridge}\" }}"
        );
        let _ = writeln!(s, "flush chain inet {table} from_{id12}");
        let _ = writeln!(s, "delete chain inet {table} from_{id12}");
    } else {
        let _ = writeln!(s, "delete element inet {table} nat_subnets {{ {subnet} }}");
        if let Some(subnet6) = net.subnet6 {
            let _ = writeln!(
                s,
                "delete element inet {table} nat_subnets6 {{ {subnet6} }}"
            );
        }
    }
    let _ = writeln!(s, "flush chain inet {table} to_{id12}");
    let _ = writeln!(s, "delete chain inet {table} to_{id12}");
    let _ = writeln!(s, "delete set inet {table} m_{id12}");
    s
}

/// The host end of an endpoint routed past the bridge's port limit: a member of its
/// network, a berth interface (no masquerade into it, isolation from other networks),
/// and a way into the network's chains.
pub(crate) fn add_routed(table: &str, net: &NetRules, ifname: &str) -> String {
    routed(table, net, ifname, "add")
}

pub(crate) fn remove_routed(table: &str, net: &NetRules, ifname: &str) -> String {
    routed(table, net, ifname, "delete")
}

fn routed(table: &str, net: &NetRules, ifname: &str, verb: &str) -> String {
    let id12 = &net.id12;
    let jump = |chain: &str| match verb {
        "add" => format!(" : jump {chain}_{id12}"),
        _ => String::new(),
    };
    let mut s = String::new();
    let _ = writeln!(s, "{verb} element inet {table} m_{id12} {{ \"{ifname}\" }}");
    let _ = writeln!(s, "{verb} element inet {table} bridges {{ \"{ifname}\" }}");
    let _ = writeln!(
        s,
        "{verb} element inet {table} to_bridge {{ \"{ifname}\"{} }}",
        jump("to")
    );
    if net.internal {
        let _ = writeln!(
            s,
            "{verb} element inet {table} from_bridge {{ \"{ifname}\"{} }}",
            jump("from")
        );
    }
    s
}

pub(crate) fn add_ports(table: &str, ports: &[PublishedPort]) -> String {
    port_elements(table, "add", ports, true)
}

pub(crate) fn remove_ports(table: &str, ports: &[PublishedPort]) -> String {
    port_elements(table, "delete", ports, false)
}

fn port_elements(table: &str, verb: &str, ports: &[PublishedPort], with_value: bool) -> String {
    let mut s = String::new();
    for p in ports {
        let six = if p.host_ip.is_ipv6() { "6" } else { "" };
        let key = if p.host_ip.is_unspecified() {
            format!("pub_any{six} {{ {} . {}", p.proto, p.host_port)
        } else {
            format!(
                "pub_addr{six} {{ {} . {} . {}",
                p.host_ip, p.proto, p.host_port
            )
        };
        let value = if with_value {
            format!(" : {} . {}", p.container_ip, p.container_port)
        } else {
            String::new()
        };
        let _ = writeln!(s, "{verb} element inet {table} {key}{value} }}");
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_routed_endpoint_joins_its_network_and_leaves_it() {
        let add = add_routed("t", &net(true), "veth1");
        assert!(add.contains("add element inet t m_0123456789ab { \"veth1\" }"));
        assert!(add.contains("add element inet t to_bridge { \"veth1\" : jump to_0123456789ab }"));
        assert!(
            add.contains("add element inet t from_bridge { \"veth1\" : jump from_0123456789ab }")
        );
        let rm = remove_routed("t", &net(true), "veth1");
        assert!(rm.contains("delete element inet t to_bridge { \"veth1\" }\n"));
        assert!(!rm.contains("jump"));
    }

    use super::*;
    use crate::types::Protocol;

    fn net(internal: bool) -> NetRules {
        NetRules {
            id12: "0123456789ab".into(),
            bridge: "br-0123456789ab".into(),
            subnet: "10.213.7.0/24".parse().unwrap(),
            subnet6: Some("fd00:7::/64".parse().unwrap()),
            internal,
        }
    }

    #[test]
    fn a_network_adds_its_chain_and_elements_and_removal_undoes_them() {
        let add = add_network("t", &net(false));
        assert!(add.contains("add chain inet t to_0123456789ab\n"));
        assert!(add.contains("add element inet t nat_subnets { 10.213.7.0/24 }"));
        assert!(add.contains("add element inet t nat_subnets6 { fd00:7::/64 }"));
        assert!(add.contains("add rule inet t to_0123456789ab iifname @bridges drop"));
        assert!(add.contains("to_bridge { \"br-0123456789ab\" : jump to_0123456789ab }"));
        let rm = remove_network("t", &net(false));
        // the map element referencing the chain goes before the chain
        let elem = rm.find("delete element inet t to_bridge").unwrap();
        let chain = rm.find("delete chain inet t to_0123456789ab").unwrap();
        assert!(elem < chain);
        assert!(rm.contains("delete element inet t nat_subnets { 10.213.7.0/24 }"));
        assert!(rm.contains("delete element inet t nat_subnets6 { fd00:7::/64 }"));
    }

    #[test]
    fn an_internal_network_gets_no_masquerade_and_no_way_out() {
        let add = add_network("t", &net(true));
        assert!(!add.contains("nat_subnets"));
        assert!(add.contains("add rule inet t from_0123456789ab oifname != @m_0123456789ab drop"));
        assert!(add.contains("add rule inet t to_0123456789ab drop"));
        assert!(remove_network("t", &net(true)).contains("delete chain inet t from_0123456789ab"));
    }

    #[test]
    fn ports_become_map_elements_keyed_by_address_or_wildcard() {
        let ports = [
            PublishedPort {
                host_ip: "0.0.0.0".parse().unwrap(),
                host_port: 8080,
                container_ip: "10.213.7.2".parse().unwrap(),
                container_port: 80,
                proto: Protocol::Tcp,
            },
            PublishedPort {
                host_ip: "127.0.0.1".parse().unwrap(),
                host_port: 5353,
                container_ip: "10.213.7.2".parse().unwrap(),
                container_port: 53,
                proto: Protocol::Udp,
            },
        ];
        assert_eq!(
            add_ports("t", &ports),
            "add element inet t pub_any { tcp . 8080 : 10.213.7.2 . 80 }\n\
             add element inet t pub_addr { 127.0.0.1 . udp . 5353 : 10.213.7.2 . 53 }\n"
        );
        let six = [
            PublishedPort {
                host_ip: "::".parse().unwrap(),
                host_port: 8080,
                container_ip: "fd00:7::2".parse().unwrap(),
                container_port: 80,
                proto: Protocol::Tcp,
            },
            PublishedPort {
                host_ip: "::1".parse().unwrap(),
                host_port: 8081,
                container_ip: "fd00:7::2".parse().unwrap(),
                container_port: 81,
                proto: Protocol::Tcp,
            },
        ];
        assert_eq!(
            add_ports("t", &six),
            "add element inet t pub_any6 { tcp . 8080 : fd00:7::2 . 80 }\n\
             add element inet t pub_addr6 { ::1 . tcp . 8081 : fd00:7::2 . 81 }\n"
        );
        assert_eq!(
            remove_ports("t", &ports),
            "delete element inet t pub_any { tcp . 8080 }\n\
             delete element inet t pub_addr { 127.0.0.1 . udp . 5353 }\n"
        );
    }

    #[test]
    fn the_full_table_replaces_any_previous_one_in_one_script() {
        let s = full_table("t", &[net(false)], &[(net(false), "vethabc".into())], &[]);
        assert!(s.contains("add element inet t m_0123456789ab { \"vethabc\" }"));
        assert!(s.starts_with(
            "table ip t\ndelete table ip t\ntable inet t\ndelete table inet t\ntable inet t {"
        ));
        assert!(s.contains("fib daddr type local jump published"));
        assert!(s.contains("add chain inet t to_0123456789ab"));
    }

    #[test]
    fn forwarded_traffic_of_berth_is_marked_only_while_the_filter_hook_runs() {
        let s = full_table("t", &[net(false)], &[], &[]);
        assert!(s.contains("priority filter - 5;"));
        assert!(s.contains("oifname @bridges meta mark set meta mark | 0x1000000"));
        // out of a berth interface: marked unless into another engine's bridge
        assert!(s.contains(
            "iifname @bridges meta oifkind != \"bridge\" meta mark set meta mark | 0x1000000"
        ));
        assert!(s.contains("priority filter + 5;"));
        assert!(s.contains("iifname @bridges meta mark set meta mark and 0xfeffffff"));
        assert_eq!(
            iptables_rule("t").join(" "),
            "-m mark --mark 0x1000000/0x1000000 -m comment --comment berth t -j ACCEPT"
        );
    }
}
