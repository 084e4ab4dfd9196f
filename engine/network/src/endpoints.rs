//! Endpoints: attaching a container to a network (an address of each family, the veth
//! pair, the record) and detaching it.

use std::path::Path;
use std::sync::atomic::Ordering;

use ipnet::{Ipv4Net, Ipv6Net};

use super::{
    check_container_id, check_ifname, random_id, NetEntry, Networks, BACKLOG, BACKLOG_KEY,
    BIG_BRIDGE, NEIGH_ENDPOINTS, NEIGH_THRESHOLDS,
};
use crate::error::{Error, Result};
use crate::firewall;
use crate::host::AttachPlan;
use crate::types::{Endpoint, EndpointRequest, MacAddr};

impl Networks {
    /// Attaches the container, whose namespace is `netns`, to `network`: an address from the
    /// network's pool (or `req.ipv4`), a veth pair with `req.interface` (default the next
    /// free `ethN`) inside and the host end on the bridge, the MAC, and a default route via
    /// the gateway unless the namespace has one (or the network is internal). No process is
    /// spawned and no lock is held across the netlink work.
    pub fn connect(
        &self,
        container_id: &str,
        netns: &Path,
        network: &str,
        req: EndpointRequest,
    ) -> Result<Endpoint> {
        check_container_id(container_id)?;
        let entry = self.entry(network)?;
        let net = &entry.net;
        let _span = tracing::debug_span!("endpoint", network = %net.name).entered();
        let Some(bridge) = net.bridge.as_deref() else {
            return Err(Error::InvalidArgument(format!(
                "network {} (driver {}) has no endpoints: the daemon sets up host and none itself",
                net.name,
                net.driver.as_str()
            )));
        };
        let current = self.endpoints(container_id);
        if current.iter().any(|e| e.network_id == net.id) {
            return Err(Error::Forbidden(format!(
                "endpoint with name {container_id} already exists in network {}",
                net.name
            )));
        }
        let interface = match req.interface {
            Some(name) => name,
            None => (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !current.iter().any(|e| &e.interface == n))
                .unwrap_or_default(),
        };
        check_ifname(&interface)?;

        let limit = self.bridge_port_limit.load(Ordering::Relaxed);
        let (ip, prefix, gateway, routed, v6) = {
            // The span includes the wait for the network's lock.
            let _span = tracing::debug_span!("ipam").entered();
            let mut st = entry.state.lock();
            if st.removed {
                return Err(Error::NotFound(format!("network {network} not found")));
            }
            let alloc = st
                .alloc
                .as_mut()
                .ok_or_else(|| Error::Internal(format!("network {} has no pool", net.name)))?;
            let ip = alloc.allocate(req.ipv4)?;
            let pool = alloc.pool();
            let (prefix, gateway) = (pool.subnet.prefix_len(), pool.gateway);
            let v6 = match (st.alloc6.as_mut(), req.ipv6) {
                (None, None) => Ok(None),
                (None, Some(ip6)) => Err(Error::InvalidArgument(format!(
                    "no configured subnet or ip-range contain the IP address {ip6}"
                ))),
                (Some(a6), wanted) => a6.allocate(wanted).and_then(|ip6| {
                    let pool6 = a6.pool();
                    Ipv6Net::new(ip6, pool6.subnet.prefix_len())
                        .map(|net6| Some((net6, pool6.gateway)))
                        .map_err(|e| Error::Internal(format!("address {ip6}: {e}")))
                }),
            };
            let v6 = match v6 {
                Ok(v6) => v6,
                Err(e) => {
                    if let Some(a) = st.alloc.as_mut() {
                        a.release(ip);
                    }
                    return Err(e);
                }
            };
            let routed = st.bridged >= limit;
            st.endpoints += 1;
            if !routed {
                st.bridged += 1;
            }
            if st.bridged >= BIG_BRIDGE {
                self.raise_backlog();
            }
            (ip, prefix, gateway, routed, v6)
        };
        let release = || {
            let mut st = entry.state.lock();
            if let Some(a) = st.alloc.as_mut() {
                a.release(ip);
            }
            if let (Some(a6), Some((net6, _))) = (st.alloc6.as_mut(), v6) {
                a6.release(net6.addr());
            }
            st.endpoints -= 1;
            if !routed {
                st.bridged -= 1;
            }
        };
        let id = random_id();
        let address = match Ipv4Net::new(ip, prefix) {
            Ok(a) => a,
            Err(e) => {
                release();
                return Err(Error::Internal(format!("address {ip}/{prefix}: {e}")));
            }
        };
        let ep = Endpoint {
            host_interface: format!("veth{}", &id[..11]),
            routed,
            id,
            container_id: container_id.to_string(),
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            netns: netns.to_path_buf(),
            interface,
            address,
            gateway: (!net.internal).then_some(gateway),
            mac: req.mac.unwrap_or_else(MacAddr::random),
            requested_ipv4: req.ipv4,
            address6: v6.map(|(net6, _)| net6),
            gateway6: v6.and_then(|(_, gw6)| (!net.internal).then_some(gw6)),
            requested_ipv6: req.ipv6,
            aliases: req.aliases,
            dns_names: req.dns_names,
            ports: Vec::new(),
        };
        // The record goes first: a crash during the netlink work leaves a record that the
        // restore finds without its veth and releases.
        let written = tracing::debug_span!("record").in_scope(|| self.store.write_endpoint(&ep));
        if let Err(e) = written {
            release();
            return Err(e);
        }
        let plan = AttachPlan {
            netns,
            bridge,
            routed,
            host_interface: &ep.host_interface,
            interface: &ep.interface,
            mac: ep.mac,
            address: ep.address,
            gateway: ep.gateway,
            address6: ep.address6,
            gateway6: ep.gateway6,
        };
        let veth = tracing::debug_span!("veth").entered();
        let attached = self
            .host
            .attach(&plan)
            .and_then(|()| match (routed, entry.rules()) {
                (true, Some(rules)) => self
                    .firewall
                    .apply(&firewall::add_routed(
                        &self.config.firewall_table,
                        &rules,
                        &ep.host_interface,
                    ))
                    .inspect_err(|_| {
                        let _ = self.host.delete_link(&ep.host_interface);
                    }),
                _ => Ok(()),
            });
        drop(veth);
        if let Err(e) = attached {
            let _ = self.store.remove_endpoint(container_id, &net.id);
            release();
            return Err(e);
        }
        let attached = {
            let mut containers = self.containers.lock();
            containers
                .entry(container_id.to_string())
                .or_default()
                .endpoints
                .push(ep.clone());
            containers.len()
        };
        if attached >= NEIGH_ENDPOINTS {
            self.raise_neighbour_table();
        }
        Ok(ep)
    }

    /// Detaches the container from `network`: its ports published through that endpoint,
    /// the veth pair, the record and the address go.
    pub fn disconnect(&self, container_id: &str, network: &str) -> Result<()> {
        let entry = self.entry(network)?;
        let ep = self
            .endpoints(container_id)
            .into_iter()
            .find(|e| e.network_id == entry.net.id)
            .ok_or_else(|| {
                Error::Forbidden(format!(
                    "container {container_id} is not connected to network {}",
                    entry.net.name
                ))
            })?;
        if !ep.ports.is_empty() {
            self.unpublish(container_id)?;
        }
        self.host.delete_link(&ep.host_interface)?;
        self.forget_routed(&entry, std::slice::from_ref(&ep))?;
        self.release(&entry, &ep)
    }

    /// Drops the firewall elements of routed endpoints (one nft call; none when there is
    /// no routed endpoint, the usual case).
    pub(crate) fn forget_routed(&self, entry: &NetEntry, eps: &[Endpoint]) -> Result<()> {
        let Some(rules) = entry.rules() else {
            return Ok(());
        };
        let table = &self.config.firewall_table;
        let script: String = eps
            .iter()
            .filter(|e| e.routed)
            .map(|e| firewall::remove_routed(table, &rules, &e.host_interface))
            .collect();
        if script.is_empty() {
            return Ok(());
        }
        self.firewall.apply(&script)
    }

    /// See `BIG_BRIDGE`. A failure only costs big bridges their ARP replies under load, so
    /// it is logged rather than failing a start.
    pub(crate) fn raise_backlog(&self) {
        if !self.backlog_raised.swap(true, Ordering::Relaxed) {
            if let Err(e) = self.host.raise_sysctl(BACKLOG_KEY, BACKLOG) {
                tracing::warn!(error = %e, "raising net.core.netdev_max_backlog for a big bridge");
            }
        }
    }

    /// See `NEIGH_ENDPOINTS`. A failure costs only the containers past the table's limit
    /// their new neighbours, so it is logged rather than failing a start.
    pub(crate) fn raise_neighbour_table(&self) {
        if !self.neighbours_raised.swap(true, Ordering::Relaxed) {
            for (key, min) in NEIGH_THRESHOLDS {
                if let Err(e) = self.host.raise_sysctl(key, min) {
                    tracing::warn!(error = %e, "raising {key} for many containers");
                }
            }
        }
    }

    /// Forgets an endpoint whose interfaces are gone or going: record, address, entry.
    pub(crate) fn release(&self, entry: &NetEntry, ep: &Endpoint) -> Result<()> {
        self.store
            .remove_endpoint(&ep.container_id, &entry.net.id)?;
        {
            let mut st = entry.state.lock();
            if let Some(a) = st.alloc.as_mut() {
                a.release(ep.address.addr());
            }
            if let (Some(a6), Some(addr6)) = (st.alloc6.as_mut(), ep.address6) {
                a6.release(addr6.addr());
            }
            st.endpoints = st.endpoints.saturating_sub(1);
            if !ep.routed {
                st.bridged = st.bridged.saturating_sub(1);
            }
        }
        let mut containers = self.containers.lock();
        if let Some(att) = containers.get_mut(&ep.container_id) {
            att.endpoints.retain(|e| e.id != ep.id);
            if att.endpoints.is_empty() && att.reservations.is_empty() {
                containers.remove(&ep.container_id);
            }
        }
        Ok(())
    }
}
