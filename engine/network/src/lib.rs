//! berth's networking data plane: IPAM, the Linux bridge and veth pairs (netlink), network
//! namespaces, the nftables table of berth's own, published ports and their state on disk.
//!
//! The daemon holds one [`Networks`] in an `Arc` and calls it from blocking threads
//! (`spawn_blocking`): every call is synchronous and holds no lock across netlink or nft
//! work, only a short per-network lock while an address is picked.
//!
//! ## Density
//! A Linux bridge takes at most 1,023 ports (`BR_MAX_PORTS` is 1,024, port 0 unused), which
//! is where Docker's docker0 stops. Past that, `connect` makes *routed* endpoints on the
//! same network: the same veth pair and an address of the same subnet, but the host end
//! is no bridge port; it gets a /32 route and proxy ARP, and the bridge answers ARP for
//! it too (proxy ARP), so bridged and routed containers reach each other, the gateway and
//! the outside exactly as before, under the same firewall rules. Routing rather than
//! several bridges chained by a veth: a frame bridged across a second bridge would meet
//! `br_netfilter`'s NAT hooks there and lose its masquerade. A routed endpoint costs one
//! `nft` call at connect and at disconnect; a bridged one costs none.
//! [`Networks::set_bridge_port_limit`] lowers the threshold (tests use 1). From 512 ports
//! on a bridge, `net.core.netdev_max_backlog` is raised to 4,096 (see `networks.rs`).

mod allocator;
mod error;
mod firewall;
mod host;
mod ipam;
mod ipam6;
mod netlink;
mod ports;
mod reaper;
mod restore;
mod state;
mod types;

pub use error::{Error, ErrorKind, Result};
pub use ipnet::{Ipv4Net, Ipv6Net};
pub use types::{
    CreateNetwork, DefaultBridge, Driver, Endpoint, EndpointRequest, Ipam6Pool, IpamPool,
    IpamRequest, MacAddr, Network, NetworkConfig, PortRequest, Protocol, PublishedPort,
};

mod networks;
pub use networks::Networks;
pub use restore::purge;
