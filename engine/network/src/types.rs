//! The types the daemon exchanges with [`crate::Networks`]. Records that are stored on disk
//! (`Network`, `Endpoint`) derive serde; field names are berth's own, the daemon renders
//! Docker's JSON from them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::SystemTime;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How berthd sets the crate up (from its flags).
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// `<data-root>/network`: one JSON file per network and per endpoint.
    pub state_dir: PathBuf,
    /// `<exec-root>/netns`: a container's network namespace is bind-mounted at
    /// `<netns_dir>/<container-id>`.
    pub netns_dir: PathBuf,
    /// The default `bridge` network (berthd `--bridge NAME`, `--bip CIDR`); `None` for
    /// `--bridge none`: no `bridge` network, no nft table until a network is created.
    pub default_bridge: Option<DefaultBridge>,
    /// The nftables table of berth's own (`inet <name>`), berthd `--firewall-table`.
    pub firewall_table: String,
}

/// The Linux bridge of the default network and, when given, its fixed gateway/subnet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultBridge {
    /// Linux bridge name (≤ 15 bytes), `berth0` by default.
    pub name: String,
    /// `--bip`: the gateway address with the subnet's prefix, e.g. `10.213.4.1/24`.
    pub bip: Option<Ipv4Net>,
    /// berthd `--ipv6`: the default bridge is dual-stack.
    pub ipv6: bool,
    /// `--fixed-cidr-v6`: its IPv6 subnet; without it, a /64 of the engine's ULA prefix,
    /// as Docker 28 picks one.
    pub fixed_cidr_v6: Option<Ipv6Net>,
}

/// `POST /networks/create` as berth takes it. Address fields are strings so the crate gives
/// Docker's messages for malformed ones.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    /// `bridge` when `None` or empty; any other driver is NotImplemented.
    pub driver: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
    /// Driver options; `com.docker.network.bridge.name` names the Linux bridge.
    pub options: BTreeMap<String, String>,
    /// `IPAM.Driver`; only `default` (or empty) is supported.
    pub ipam_driver: Option<String>,
    pub ipam_options: BTreeMap<String, String>,
    /// `IPAM.Config`: at most one IPv4 pool; empty picks one from the default pools.
    pub ipam: Vec<IpamRequest>,
}

/// One entry of `IPAM.Config` as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct IpamRequest {
    pub subnet: Option<String>,
    pub ip_range: Option<String>,
    pub gateway: Option<String>,
    pub aux_addresses: BTreeMap<String, String>,
}

/// A network's IPv4 pool after validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamPool {
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Addresses are allocated from here when set (must lie inside `subnet`).
    pub ip_range: Option<Ipv4Net>,
    /// Reserved addresses, never allocated (`--aux-address name=ip`).
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, Ipv4Addr>,
}

/// A network's IPv6 pool after validation (`--ipv6`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipam6Pool {
    pub subnet: Ipv6Net,
    pub gateway: Ipv6Addr,
    /// Addresses are allocated from here when set (inside `subnet`).
    pub ip_range: Option<Ipv6Net>,
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, Ipv6Addr>,
}

/// What a network is: `bridge` networks have a Linux bridge and a pool; `host` and `null`
/// are Docker's pre-defined `host` and `none` networks, listed but never attached through
/// this crate (the daemon handles `--network host|none` itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Bridge,
    Host,
    Null,
}

impl Driver {
    /// Docker's driver name.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// A network record (stored as `<state_dir>/networks/<id>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// 64 lowercase hex, like Docker's.
    pub id: String,
    pub name: String,
    pub driver: Driver,
    pub created: SystemTime,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    /// Docker's pre-defined networks (`bridge`, `host`, `none`) cannot be removed.
    pub predefined: bool,
    /// The Linux bridge (bridge driver only).
    pub bridge: Option<String>,
    /// Empty for `host`/`null`.
    pub ipam: Vec<IpamPool>,
    /// The IPv6 pool of a network created with `--ipv6` (`enable_ipv6`).
    #[serde(default)]
    pub ipam6: Option<Ipam6Pool>,
    pub ipam_options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Driver options as Docker reports them (`com.docker.network.bridge.name` etc.).
    pub options: BTreeMap<String, String>,
}

/// A MAC address, shown as Docker shows it (`02:42:ac:11:00:02`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// A random locally administered unicast address, as Docker (since 26) gives endpoints
    /// that were not given `--mac-address`.
    pub fn random() -> MacAddr {
        let mut b = [0u8; 6];
        // getrandom only fails without any entropy source; a fixed prefix then keeps the
        // address valid, and the kernel copes with duplicates on separate bridges.
        let _ = getrandom::fill(&mut b);
        b[0] = (b[0] & 0xfe) | 0x02;
        MacAddr(b)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = Error;
    fn from_str(s: &str) -> Result<MacAddr, Error> {
        let bad = || Error::InvalidArgument(format!("invalid MAC address: {s}"));
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        if out[0] & 0x01 != 0 {
            return Err(Error::InvalidArgument(format!(
                "invalid MAC address: {s}: multicast address"
            )));
        }
        Ok(MacAddr(out))
    }
}

impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for MacAddr {
    type Error = Error;
    fn try_from(s: String) -> Result<MacAddr, Error> {
        s.parse()
    }
}

/// What `connect` is asked for (`--ip`, `--mac-address`, `--alias`, …).
#[derive(Debug, Clone, Default)]
pub struct EndpointRequest {
    /// `--ip`: must lie in the network's subnet (or ip-range) and be free.
    pub ipv4: Option<Ipv4Addr>,
    /// `--ip6`: must lie in the network's IPv6 subnet and be free; only on IPv6 networks.
    pub ipv6: Option<Ipv6Addr>,
    pub mac: Option<MacAddr>,
    /// `--network-alias`; kept in the record for the daemon's DNS.
    pub aliases: Vec<String>,
    /// The names the embedded DNS answers for this endpoint (Docker's `DNSNames`).
    pub dns_names: Vec<String>,
    /// Interface name in the container; `None` takes the next free `ethN`.
    pub interface: Option<String>,
}

/// A container's attachment to one network (stored as
/// `<state_dir>/endpoints/<container-id>-<network-id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// 64 lowercase hex.
    pub id: String,
    pub container_id: String,
    pub network_id: String,
    pub network_name: String,
    /// The netns the container side lives in.
    pub netns: PathBuf,
    /// `eth0`, `eth1`, … inside the container.
    pub interface: String,
    /// The host end of the veth pair, enslaved to the bridge (or routed: see `routed`).
    pub host_interface: String,
    /// The network's bridge was full when this endpoint was made: its host end is not a
    /// bridge port but has a /32 route and proxy ARP (same subnet, same rules).
    #[serde(default)]
    pub routed: bool,
    /// Address with the subnet's prefix length.
    pub address: Ipv4Net,
    /// `None` on networks without a way out (the container gets no default route there).
    pub gateway: Option<Ipv4Addr>,
    pub mac: MacAddr,
    /// The address the client asked for (`IPAMConfig.IPv4Address`), if any.
    pub requested_ipv4: Option<Ipv4Addr>,
    /// The IPv6 address with the subnet's prefix length, on IPv6 networks.
    #[serde(default)]
    pub address6: Option<Ipv6Net>,
    /// The IPv6 default route's gateway (`None` on internal networks).
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
    /// `IPAMConfig.IPv6Address` (`--ip6`), if any.
    #[serde(default)]
    pub requested_ipv6: Option<Ipv6Addr>,
    pub aliases: Vec<String>,
    pub dns_names: Vec<String>,
    /// Ports published through this endpoint (re-bound and re-added after a restart).
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
}

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Protocol, Error> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" | "" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(Error::InvalidArgument(format!("invalid proto: {s}"))),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `-p` binding after the daemon has expanded ranges of container ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRequest {
    /// `None`: every host address, IPv4 and (when the container has one) IPv6, as Docker
    /// 28 publishes `-p 8080:80`; `0.0.0.0` or `::`: every address of that family.
    pub host_ip: Option<IpAddr>,
    /// First host port; 0 takes an ephemeral port from the kernel.
    pub host_port: u16,
    /// Last host port of a `8000-8010:80` range (the first free one is taken); 0 or equal
    /// to `host_port` for a single port.
    pub host_port_end: u16,
    pub container_port: u16,
    pub proto: Protocol,
}

/// A port as published (what `docker port` and `NetworkSettings.Ports` show).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// `0.0.0.0` (`::`) for every host address of the family; the container's address is
    /// of the same family.
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
    pub proto: Protocol,
}
