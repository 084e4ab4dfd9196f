//! berth's networking data plane: IPAM, the Linux bridge and veth pairs (netlink), network
//! namespaces, the nftables table of berth's own, published ports and their state on disk.
//!
//! The daemon holds one [`Networks`] in an `Arc` and calls it from blocking threads
//! (`spawn_blocking`): every call is synchronous and holds no lock across netlink or nft
//! work, only a short per-network lock while an address is picked.
//!
//! ## Density
//! A Linux bridge takes at most 1,024 ports (`BR_MAX_PORTS`). At that limit `connect` fails
//! with [`ErrorKind::Unavailable`] ("network NAME is full: its bridge takes at most 1024
//! endpoints") and nothing is left configured; several bridges behind one network are
//! the planned way past it.

mod error;
mod firewall;
mod host;
mod ipam;
mod netlink;
mod ports;
mod reaper;
mod restore;
mod state;
mod types;

pub use error::{Error, ErrorKind, Result};
pub use ipnet::Ipv4Net;
pub use types::{
    CreateNetwork, DefaultBridge, Driver, Endpoint, EndpointRequest, IpamPool, IpamRequest,
    MacAddr, Network, NetworkConfig, PortRequest, Protocol, PublishedPort,
};

mod networks;
pub use networks::Networks;
pub use restore::purge;
