//! `Networks::open`: the records on disk become the live state again. Networks are
//! restored (bridges re-created if the host rebooted), endpoints whose namespace and veth
//! still exist are kept with their addresses, ports re-reserved and the whole nft table
//! rewritten in one transaction; endpoints whose container is gone are released.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::firewall::{self, Firewall, Nft};
use crate::host::{Host, LinuxHost};
use crate::ipam;
use crate::ipam6;
use crate::networks::{
    check_ifname, random_id, Attached, NetEntry, Networks, BIG_BRIDGE, BRIDGE_NAME_OPTION,
    BRIDGE_PORTS, NEIGH_ENDPOINTS,
};
use crate::ports;
use crate::reaper::Reaper;
use crate::state::Store;
use crate::types::{DefaultBridge, Driver, IpamPool, Network, NetworkConfig};

impl Networks {
    /// Restores networks and endpoints from `config.state_dir`, creates the default bridge
    /// network when configured and rewrites the nftables table (only if a bridge network
    /// exists: with `--bridge none` and no networks, no table and no `nft` process).
    pub fn open(config: NetworkConfig) -> Result<Networks> {
        let host = LinuxHost::new()?;
        let firewall = Nft {
            table: config.firewall_table.clone(),
        };
        Networks::open_with(config, Arc::new(host), Box::new(firewall))
    }

    pub(crate) fn open_with(
        config: NetworkConfig,
        host: Arc<dyn Host>,
        firewall: Box<dyn Firewall>,
    ) -> Result<Networks> {
        let table_ok = !config.firewall_table.is_empty()
            && config.firewall_table.len() <= 64
            && config
                .firewall_table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !table_ok {
            return Err(Error::InvalidArgument(format!(
                "invalid firewall table name {:?}: letters, digits, '_' and '-'",
                config.firewall_table
            )));
        }
        let store = Store::open(&config.state_dir)?;
        let mut nets = store.load_networks()?;
        nets.sort_by_key(|n| n.created);
        for (driver, name) in [(Driver::Host, "host"), (Driver::Null, "none")] {
            if !nets.iter().any(|n| n.predefined && n.driver == driver) {
                let net = predefined(driver, name, None, Vec::new());
                store.write_network(&net)?;
                nets.push(net);
            }
        }
        default_bridge(&config, host.as_ref(), &store, &mut nets)?;

        let this = Networks {
            config,
            reaper: Reaper::new(host.clone()),
            host,
            firewall,
            store,
            nets: RwLock::new(
                nets.into_iter()
                    .map(|n| Arc::new(NetEntry::new(n)))
                    .collect(),
            ),
            containers: Mutex::new(HashMap::new()),
            admin: Mutex::new(()),
            table_ready: Mutex::new(false),
            bridge_port_limit: AtomicUsize::new(BRIDGE_PORTS),
            backlog_raised: AtomicBool::new(false),
            neighbours_raised: AtomicBool::new(false),
        };
        this.restore_endpoints()?;
        Ok(this)
    }

    fn restore_endpoints(&self) -> Result<()> {
        let entries = self.nets.read().clone();
        let mut rules = Vec::new();
        for e in &entries {
            if let (Some(r), Some(pool)) = (e.rules(), e.net.ipam.first()) {
                let gw = ipnet::Ipv4Net::new(pool.gateway, pool.subnet.prefix_len())
                    .map_err(|err| Error::Internal(format!("gateway of {}: {err}", e.net.name)))?;
                let gw6 = e.gateway6()?;
                self.host.enable_forwarding()?;
                if gw6.is_some() {
                    self.host.enable_forwarding6()?;
                }
                self.host.ensure_bridge(&r.bridge, gw, gw6)?;
                rules.push(r);
            }
        }
        let mut endpoints = self.store.load_endpoints()?;
        endpoints.sort_by(|a, b| {
            a.container_id
                .cmp(&b.container_id)
                .then(a.interface.cmp(&b.interface))
        });
        let mut published = Vec::new();
        let mut routed = Vec::new();
        let mut containers = self.containers.lock();
        for ep in endpoints {
            let entry = entries.iter().find(|e| e.net.id == ep.network_id);
            let alive = entry.is_some()
                && self.host.netns_exists(&ep.netns)
                && matches!(self.host.link_addresses(&ep.host_interface), Ok(Some(_)));
            let claimed = alive
                && entry.is_some_and(|e| {
                    let mut st = e.state.lock();
                    let mut ok = st
                        .alloc
                        .as_mut()
                        .is_some_and(|a| a.claim(ep.address.addr()).is_ok());
                    // An IPv6 address is claimed with the IPv4 one, or neither stays taken.
                    if let (true, Some(addr6)) = (ok, ep.address6) {
                        ok = st
                            .alloc6
                            .as_mut()
                            .is_some_and(|a6| a6.claim(addr6.addr()).is_ok());
                        if !ok {
                            if let Some(a) = st.alloc.as_mut() {
                                a.release(ep.address.addr());
                            }
                        }
                    }
                    if ok {
                        st.endpoints += 1;
                        if !ep.routed {
                            st.bridged += 1;
                        }
                        if st.bridged >= BIG_BRIDGE {
                            self.raise_backlog();
                        }
                    }
                    ok
                });
            if !claimed {
                tracing::info!(container = %ep.container_id, network = %ep.network_name, "releasing the endpoint of a container that is gone");
                let _ = self.host.delete_link(&ep.host_interface);
                self.store
                    .remove_endpoint(&ep.container_id, &ep.network_id)?;
                continue;
            }
            let att: &mut Attached = containers.entry(ep.container_id.clone()).or_default();
            for p in &ep.ports {
                // DNAT is restored either way; a port someone took meanwhile only loses
                // its reservation.
                match ports::reserve(p.host_ip, p.host_port, p.proto) {
                    Ok(r) => att.reservations.push(r),
                    Err(e) => {
                        tracing::warn!(port = p.host_port, error = %e, "re-reserving a published port")
                    }
                }
                published.push(*p);
            }
            if ep.routed {
                if let Some(r) = entry.and_then(|e| e.rules()) {
                    routed.push((r, ep.host_interface.clone()));
                }
            }
            att.endpoints.push(ep);
        }
        let attached = containers.len();
        drop(containers);
        if attached >= NEIGH_ENDPOINTS {
            self.raise_neighbour_table();
        }
        if !rules.is_empty() {
            self.firewall.apply(&firewall::full_table(
                &self.config.firewall_table,
                &rules,
                &routed,
                &published,
            ))?;
            self.let_through_iptables();
            *self.table_ready.lock() = true;
        }
        Ok(())
    }
}

/// Removes everything berth-network made for `config` without starting anything: the
/// namespaces under `netns_dir`, the veths of recorded endpoints, the bridges of recorded
/// networks, the nft table and its rule in iptables' `FORWARD`. For tests and for an operator resetting a host; the daemon
/// itself never calls it (its networking outlives it: live-restore).
pub fn purge(config: &NetworkConfig) -> Result<()> {
    let host = LinuxHost::new()?;
    if let Ok(dir) = std::fs::read_dir(&config.netns_dir) {
        for entry in dir.flatten() {
            host.delete_netns(&entry.path())?;
        }
    }
    let store = Store::open(&config.state_dir)?;
    for ep in store.load_endpoints()? {
        host.delete_link(&ep.host_interface)?;
    }
    for net in store.load_networks()? {
        if let Some(bridge) = &net.bridge {
            host.delete_link(bridge)?;
        }
    }
    if let Some(db) = &config.default_bridge {
        host.delete_link(&db.name)?;
    }
    let nft = Nft {
        table: config.firewall_table.clone(),
    };
    nft.forget_iptables()?;
    nft.apply(&firewall::delete_table(&config.firewall_table))
}

fn predefined(driver: Driver, name: &str, bridge: Option<String>, ipam: Vec<IpamPool>) -> Network {
    Network {
        id: random_id(),
        name: name.to_string(),
        driver,
        created: SystemTime::now(),
        internal: false,
        attachable: false,
        enable_ipv6: false,
        predefined: true,
        bridge,
        ipam,
        ipam6: None,
        ipam_options: BTreeMap::new(),
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
    }
}

/// Docker's options of the default `bridge` network.
fn default_bridge_options(bridge: &str) -> BTreeMap<String, String> {
    [
        ("com.docker.network.bridge.default_bridge", "true"),
        ("com.docker.network.bridge.enable_icc", "true"),
        ("com.docker.network.bridge.enable_ip_masquerade", "true"),
        ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
        (BRIDGE_NAME_OPTION, bridge),
        ("com.docker.network.driver.mtu", "1500"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Makes the `bridge` network's record match the flags: `--bridge none` drops it, a
/// changed `--bridge`/`--bip` rewrites it (same ID). Without `--bip` the subnet is the
/// one the record or the existing Linux bridge already has, else the first default pool
/// that overlaps no other network and no host route.
fn default_bridge(
    config: &NetworkConfig,
    host: &dyn Host,
    store: &Store,
    nets: &mut Vec<Network>,
) -> Result<()> {
    let pos = nets
        .iter()
        .position(|n| n.predefined && n.driver == Driver::Bridge);
    let Some(DefaultBridge {
        name: bridge,
        bip,
        ipv6,
        fixed_cidr_v6,
    }) = &config.default_bridge
    else {
        if let Some(i) = pos {
            store.remove_network(&nets[i].id)?;
            nets.remove(i);
        }
        return Ok(());
    };
    check_ifname(bridge)?;
    let existing = pos.map(|i| nets[i].clone());
    let pool = match bip {
        Some(bip) => ipam::pool_for_bip(*bip)?,
        None => match existing
            .as_ref()
            .filter(|n| n.bridge.as_deref() == Some(bridge.as_str()))
        {
            Some(n) if !n.ipam.is_empty() => n.ipam[0].clone(),
            _ => match host
                .link_addresses(bridge)?
                .and_then(|a| a.first().copied())
            {
                Some(addr) => ipam::pool_for_bip(addr)?,
                None => {
                    let mut avoid: Vec<_> = nets
                        .iter()
                        .filter(|n| !(n.predefined && n.driver == Driver::Bridge))
                        .flat_map(|n| n.ipam.iter().map(|p| p.subnet))
                        .collect();
                    avoid.extend(host.host_routes()?);
                    ipam::pool_for(ipam::pick_default_pool(&avoid)?)?
                }
            },
        },
    };
    let pool6 = match (ipv6, fixed_cidr_v6) {
        (false, _) => None,
        (true, Some(cidr)) => Some(ipam6::pool_for(cidr.trunc())?),
        (true, None) => match existing.as_ref().and_then(|n| n.ipam6.clone()) {
            Some(kept) => Some(kept),
            None => {
                let taken: Vec<_> = nets
                    .iter()
                    .filter(|n| !(n.predefined && n.driver == Driver::Bridge))
                    .filter_map(|n| n.ipam6.as_ref().map(|p| p.subnet))
                    .collect();
                let base = ipam6::ula_base(&store.engine_id()?);
                Some(ipam6::pool_for(ipam6::pick_default_pool(base, &taken)?)?)
            }
        },
    };
    let mut net = predefined(Driver::Bridge, "bridge", Some(bridge.clone()), vec![pool]);
    net.options = default_bridge_options(bridge);
    net.enable_ipv6 = pool6.is_some();
    net.ipam6 = pool6;
    if let Some(old) = &existing {
        net.id = old.id.clone();
        net.created = old.created;
        if old.bridge == net.bridge
            && old.ipam == net.ipam
            && old.ipam6 == net.ipam6
            && old.options == net.options
        {
            return Ok(());
        }
    }
    if let Some(pool6) = &net.ipam6 {
        if let Some(other) = nets.iter().find(|n| {
            !n.predefined
                && n.ipam6
                    .as_ref()
                    .is_some_and(|p| ipam6::overlaps(&p.subnet, &pool6.subnet))
        }) {
            return Err(Error::InvalidArgument(format!(
                "fixed-cidr-v6 {}: overlaps the subnet of network {}",
                pool6.subnet, other.name
            )));
        }
    }
    if let Some(other) = nets.iter().find(|n| {
        !n.predefined
            && n.ipam
                .iter()
                .any(|p| ipam::overlaps(&p.subnet, &net.ipam[0].subnet))
    }) {
        return Err(Error::InvalidArgument(format!(
            "bip {}: overlaps the subnet of network {}",
            net.ipam[0].subnet, other.name
        )));
    }
    store.write_network(&net)?;
    match pos {
        Some(i) => nets[i] = net,
        None => nets.insert(0, net),
    }
    Ok(())
}
