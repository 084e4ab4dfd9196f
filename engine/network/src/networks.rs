//! The facade the daemon calls: networks, sandboxes (network namespaces), endpoints and
//! published ports. Restoring at open is in `restore.rs`.
//!
//! Locking: `admin` serializes network create/remove (rare; names and subnets are checked
//! and taken under it). A container start takes only its network's `state` lock, for the
//! moment of picking an address, and the `containers` map lock for an insert; netlink, nft
//! and file writes happen outside both, so container starts run in parallel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use ipnet::{Ipv4Net, Ipv6Net};
use parking_lot::{Mutex, RwLock};

use crate::allocator::Allocator;
use crate::error::{Error, Result};
use crate::firewall::{self, Firewall, NetRules};
use crate::host::Host;
use crate::ipam;
use crate::ipam6;
use crate::ports::Reservation;
use crate::reaper::Reaper;
use crate::state::Store;
use crate::types::{CreateNetwork, Driver, Endpoint, Ipam6Pool, IpamPool, Network, NetworkConfig};

/// Docker's option naming a bridge network's Linux bridge.
pub(crate) const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// All of berth's networks, their endpoints and published ports. `Send + Sync`; every
/// method blocks (run it with `spawn_blocking`).
pub struct Networks {
    pub(crate) config: NetworkConfig,
    pub(crate) host: Arc<dyn Host>,
    pub(crate) reaper: Reaper,
    pub(crate) firewall: Box<dyn Firewall>,
    pub(crate) store: Store,
    pub(crate) nets: RwLock<Vec<Arc<NetEntry>>>,
    pub(crate) containers: Mutex<HashMap<String, Attached>>,
    pub(crate) admin: Mutex<()>,
    /// Whether the nft table exists; it is made with the first bridge network.
    pub(crate) table_ready: Mutex<bool>,
    /// Ports a network's bridge takes before further endpoints are routed.
    pub(crate) bridge_port_limit: AtomicUsize,
    /// Whether `BACKLOG` has been applied (once per daemon).
    pub(crate) backlog_raised: AtomicBool,
    /// Whether `NEIGH_THRESHOLDS` have been applied (once per daemon).
    pub(crate) neighbours_raised: AtomicBool,
}

/// A Linux bridge has 1,024 port numbers (`BR_MAX_PORTS`), number 0 unused.
pub(crate) const BRIDGE_PORTS: usize = 1023;

/// A broadcast (an ARP request) on a bridge is copied to every port, and each copy waits
/// in the per-CPU backlog (`net.core.netdev_max_backlog`, 1,000 by default): on a bridge
/// of about that many ports the flood fills it and the answer that follows is dropped
/// (measured: a proxy ARP reply at 1,023 ports). From `BIG_BRIDGE` ports on, berth raises
/// the backlog to `BACKLOG` (never lowers it), as dockerd raises `ip_forward`.
pub(crate) const BIG_BRIDGE: usize = 512;
pub(crate) const BACKLOG: u32 = 4096;
pub(crate) const BACKLOG_KEY: &str = "net/core/netdev_max_backlog";

/// The kernel's ARP table is one for every namespace, and holds at most `gc_thresh3`
/// (1,024 by default) entries: each container's entry for its gateway and peers and the
/// host's entry for each container count alike, and entries used in the last 5 s are never
/// collected, so past that new neighbours are refused ("neighbor table overflow!") and their
/// packets dropped (measured: 533 of 1,040 containers answered a ping sweep from the host).
/// From `NEIGH_ENDPOINTS` attached containers on, berth raises the limits to
/// `NEIGH_THRESHOLDS` (never lowers them): room for every container talking to the host
/// and to a few dozen peers at 2,000 containers, at a few hundred bytes per entry in use.
pub(crate) const NEIGH_ENDPOINTS: usize = 256;
pub(crate) const NEIGH_THRESHOLDS: [(&str, u32); 2] = [
    ("net/ipv4/neigh/default/gc_thresh3", 65536),
    ("net/ipv4/neigh/default/gc_thresh2", 32768),
];

pub(crate) struct NetEntry {
    pub net: Network,
    pub state: Mutex<NetState>,
}

pub(crate) struct NetState {
    /// `None` for `host` and `none`.
    pub alloc: Option<Allocator<IpamPool>>,
    /// IPv6 networks only.
    pub alloc6: Option<Allocator<Ipam6Pool>>,
    pub endpoints: usize,
    /// Endpoints that are ports of the bridge (the others are routed).
    pub bridged: usize,
    pub removed: bool,
}

#[derive(Default)]
pub(crate) struct Attached {
    pub endpoints: Vec<Endpoint>,
    pub reservations: Vec<Reservation>,
}

impl NetEntry {
    pub(crate) fn new(net: Network) -> NetEntry {
        let alloc = net.ipam.first().cloned().map(Allocator::new);
        let alloc6 = net.ipam6.clone().map(Allocator::new);
        NetEntry {
            net,
            state: Mutex::new(NetState {
                alloc,
                alloc6,
                endpoints: 0,
                bridged: 0,
                removed: false,
            }),
        }
    }

    /// The bridge's IPv6 address (the gateway with the subnet's prefix), IPv6 networks only.
    pub(crate) fn gateway6(&self) -> Result<Option<Ipv6Net>> {
        self.net
            .ipam6
            .as_ref()
            .map(|p| {
                Ipv6Net::new(p.gateway, p.subnet.prefix_len())
                    .map_err(|e| Error::Internal(format!("gateway of {}: {e}", self.net.name)))
            })
            .transpose()
    }

    pub(crate) fn rules(&self) -> Option<NetRules> {
        let bridge = self.net.bridge.clone()?;
        let pool = self.net.ipam.first()?;
        Some(NetRules {
            id12: self.net.id[..12].to_string(),
            bridge,
            subnet: pool.subnet,
            subnet6: self.net.ipam6.as_ref().map(|p| p.subnet),
            internal: self.net.internal,
        })
    }
}

pub(crate) fn random_id() -> String {
    let mut b = [0u8; 32];
    // Without an entropy source nothing else in the daemon works either.
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

pub(crate) fn check_container_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid container ID {id:?}"
        )))
    }
}

/// Linux interface names: 1–15 bytes, no `/`, whitespace or `:`; berth also keeps them
/// to characters that need no quoting in an nft script.
pub(crate) fn check_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid interface name {name:?}: 1 to 15 letters, digits, '_', '.' or '-'"
        )))
    }
}

impl Networks {
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// How many endpoints of one network are ports of its bridge before the next ones are
    /// routed instead (default and maximum 1,023, what a Linux bridge takes). Routed
    /// endpoints keep an address of the same subnet and the same firewall rules; they cost
    /// one `nft` call each at connect and disconnect. Lower it only to test that path.
    pub fn set_bridge_port_limit(&self, ports: usize) {
        self.bridge_port_limit
            .store(ports.min(BRIDGE_PORTS), Ordering::Relaxed);
    }

    /// Looks a network up by full ID, exact name, or unique ID prefix.
    pub fn get(&self, id_or_name: &str) -> Result<Network> {
        self.entry(id_or_name).map(|e| e.net.clone())
    }

    pub fn list(&self) -> Vec<Network> {
        self.nets.read().iter().map(|e| e.net.clone()).collect()
    }

    pub(crate) fn entry(&self, key: &str) -> Result<Arc<NetEntry>> {
        let nets = self.nets.read();
        if let Some(e) = nets.iter().find(|e| e.net.id == key || e.net.name == key) {
            return Ok(e.clone());
        }
        let matches: Vec<_> = nets
            .iter()
            .filter(|e| !key.is_empty() && e.net.id.starts_with(key))
            .collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(Error::NotFound(format!("network {key} not found"))),
            n => Err(Error::InvalidArgument(format!(
                "network {key} is ambiguous ({n} matches found based on ID prefix)"
            ))),
        }
    }

    /// Creates a user-defined bridge network: validates the request, picks or checks the
    /// subnet, creates the Linux bridge and its firewall rules, then writes the record.
    /// Nothing is left behind when a step fails.
    pub fn create(&self, req: CreateNetwork) -> Result<Network> {
        match req.driver.as_deref().unwrap_or("") {
            "" | "bridge" => {}
            "host" | "null" => {
                return Err(Error::Forbidden(format!(
                    "only one instance of \"{}\" network is allowed",
                    req.driver.as_deref().unwrap_or_default()
                )))
            }
            other => return Err(Error::NotImplemented(format!("network driver {other}"))),
        }
        if !matches!(req.ipam_driver.as_deref().unwrap_or(""), "" | "default") {
            return Err(Error::NotImplemented(format!(
                "IPAM driver {}",
                req.ipam_driver.as_deref().unwrap_or_default()
            )));
        }
        if req.name.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "network name cannot be empty".into(),
            ));
        }
        let requested = ipam::validate_request(&req.ipam, req.enable_ipv6)?;

        let _admin = self.admin.lock();
        let others = self.list();
        if others.iter().any(|n| n.name == req.name) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let taken: Vec<Ipv4Net> = others
            .iter()
            .flat_map(|n| n.ipam.iter().map(|p| p.subnet))
            .collect();
        let pool6 = match (req.enable_ipv6, requested.v6) {
            (false, _) => None,
            (true, Some(pool)) => {
                if others
                    .iter()
                    .filter_map(|n| n.ipam6.as_ref())
                    .any(|p| ipam6::overlaps(&p.subnet, &pool.subnet))
                {
                    return Err(Error::Forbidden(
                        "invalid pool request: Pool overlaps with other one on this address space"
                            .into(),
                    ));
                }
                Some(pool)
            }
            (true, None) => {
                let taken: Vec<Ipv6Net> = others
                    .iter()
                    .filter_map(|n| n.ipam6.as_ref().map(|p| p.subnet))
                    .collect();
                let base = ipam6::ula_base(&self.store.engine_id()?);
                Some(ipam6::pool_for(ipam6::pick_default_pool(base, &taken)?)?)
            }
        };
        let pool = match requested.v4 {
            Some(pool) => {
                if taken.iter().any(|t| ipam::overlaps(t, &pool.subnet)) {
                    return Err(Error::Forbidden(
                        "invalid pool request: Pool overlaps with other one on this address space"
                            .into(),
                    ));
                }
                pool
            }
            None => {
                let mut avoid = taken.clone();
                avoid.extend(self.host.host_routes()?);
                ipam::pool_for(ipam::pick_default_pool(&avoid)?)?
            }
        };
        let id = random_id();
        let bridge = match req.options.get(BRIDGE_NAME_OPTION) {
            Some(name) => name.clone(),
            None => format!("br-{}", &id[..12]),
        };
        check_ifname(&bridge)?;
        if others
            .iter()
            .any(|n| n.bridge.as_deref() == Some(bridge.as_str()))
        {
            return Err(Error::Conflict(format!(
                "bridge name {bridge} is already used by another network"
            )));
        }
        let net = Network {
            id,
            name: req.name,
            driver: Driver::Bridge,
            created: SystemTime::now(),
            internal: req.internal,
            attachable: req.attachable,
            enable_ipv6: pool6.is_some(),
            predefined: false,
            bridge: Some(bridge.clone()),
            ipam: vec![pool],
            ipam6: pool6,
            ipam_options: req.ipam_options,
            labels: req.labels,
            options: req.options,
        };
        let entry = Arc::new(NetEntry::new(net));
        self.bring_up(&entry)?;
        if let Err(e) = self.store.write_network(&entry.net) {
            self.tear_down(&entry);
            return Err(e);
        }
        self.nets.write().push(entry.clone());
        Ok(entry.net.clone())
    }

    /// Creates the bridge and the network's firewall rules (the table first, if needed).
    pub(crate) fn bring_up(&self, entry: &NetEntry) -> Result<()> {
        let (Some(rules), Some(pool)) = (entry.rules(), entry.net.ipam.first()) else {
            return Ok(());
        };
        let gateway = Ipv4Net::new(pool.gateway, pool.subnet.prefix_len())
            .map_err(|e| Error::Internal(format!("gateway of {}: {e}", entry.net.name)))?;
        let gateway6 = entry.gateway6()?;
        self.host.enable_forwarding()?;
        if gateway6.is_some() {
            self.host.enable_forwarding6()?;
        }
        self.host.ensure_bridge(&rules.bridge, gateway, gateway6)?;
        let mut ready = self.table_ready.lock();
        let table = &self.config.firewall_table;
        let script = if *ready {
            firewall::add_network(table, &rules)
        } else {
            firewall::full_table(table, std::slice::from_ref(&rules), &[], &[])
        };
        if let Err(e) = self.firewall.apply(&script) {
            let _ = self.host.delete_link(&rules.bridge);
            return Err(e);
        }
        if !*ready {
            self.let_through_iptables();
        }
        *ready = true;
        Ok(())
    }

    /// Once the table exists: iptables' `FORWARD` must let berth's marked traffic through
    /// (a dockerd started before or after berthd sets its policy to DROP). Without it only a
    /// host whose iptables drops forwarded traffic loses berth's, so a failure is a warning.
    pub(crate) fn let_through_iptables(&self) {
        if let Err(e) = self.firewall.let_through_iptables() {
            tracing::warn!(error = %e, "iptables' FORWARD policy may drop the containers' forwarded traffic");
        }
    }

    /// Undoes `bring_up`; failures are logged, the record goes anyway.
    fn tear_down(&self, entry: &NetEntry) {
        let Some(rules) = entry.rules() else { return };
        if let Err(e) = self.firewall.apply(&firewall::remove_network(
            &self.config.firewall_table,
            &rules,
        )) {
            tracing::warn!(network = %entry.net.name, error = %e, "removing the network's firewall rules");
        }
        if let Err(e) = self.host.delete_link(&rules.bridge) {
            tracing::warn!(network = %entry.net.name, error = %e, "deleting the network's bridge");
        }
    }

    /// Removes a network: Forbidden while it has endpoints or is pre-defined.
    pub fn remove(&self, id_or_name: &str) -> Result<()> {
        let _admin = self.admin.lock();
        let entry = self.entry(id_or_name)?;
        if entry.net.predefined {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                entry.net.name
            )));
        }
        {
            let mut st = entry.state.lock();
            if st.endpoints > 0 {
                return Err(Error::Forbidden(format!(
                    "error while removing network: network {} has active endpoints",
                    entry.net.name
                )));
            }
            st.removed = true;
        }
        if let Err(e) = self.store.remove_network(&entry.net.id) {
            entry.state.lock().removed = false;
            return Err(e);
        }
        self.tear_down(&entry);
        self.nets.write().retain(|e| e.net.id != entry.net.id);
        Ok(())
    }

    /// The container's endpoints, in the order they were connected.
    pub fn endpoints(&self, container_id: &str) -> Vec<Endpoint> {
        self.containers
            .lock()
            .get(container_id)
            .map(|a| a.endpoints.clone())
            .unwrap_or_default()
    }
}

#[path = "endpoints.rs"]
mod endpoints;
#[path = "publish.rs"]
mod publish;
#[path = "sandbox.rs"]
mod sandbox;

/// Per-network counts for tests and diagnostics.
#[cfg(test)]
impl Networks {
    pub(crate) fn endpoint_count(&self, network: &str) -> usize {
        self.entry(network)
            .map(|e| e.state.lock().endpoints)
            .unwrap_or(0)
    }
}

// The daemon shares one `Networks` between threads.
const _: fn() = || {
    fn is<T: Send + Sync>() {}
    is::<Networks>();
};

#[cfg(test)]
#[path = "networks_tests.rs"]
mod tests;
