//! Published ports: reservation sockets plus DNAT map elements, one `nft` call per
//! container that publishes any port and none for one that publishes none.

use std::net::Ipv4Addr;

use super::Networks;
use crate::error::{Error, Result};
use crate::firewall;
use crate::ports::{self, Reservation};
use crate::types::{PortRequest, Protocol, PublishedPort};

impl Networks {
    /// Publishes `ports` of the container on the host, through its first endpoint on a
    /// non-internal network. Either every port is published or none is: a port already
    /// taken gives Docker's error and nothing changes.
    pub fn publish(&self, container_id: &str, ports: &[PortRequest]) -> Result<Vec<PublishedPort>> {
        if ports.is_empty() {
            return Ok(Vec::new());
        }
        let endpoints = self.endpoints(container_id);
        let nets = self.list();
        let ep = endpoints
            .iter()
            .find(|e| nets.iter().any(|n| n.id == e.network_id && !n.internal))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "container {container_id} has no endpoint on a network with a way out to publish ports on"
                ))
            })?;
        let container_ip = ep.address.addr();
        let held: Vec<(Ipv4Addr, u16, Protocol)> = self
            .containers
            .lock()
            .values()
            .flat_map(|a| {
                a.reservations
                    .iter()
                    .map(|r| (r.host_ip, r.host_port, r.proto))
            })
            .collect();
        let is_held = |ip: Ipv4Addr, port: u16, proto: Protocol| {
            held.iter().any(|&(hip, hport, hproto)| {
                hport == port
                    && hproto == proto
                    && (hip == ip || hip.is_unspecified() || ip.is_unspecified())
            })
        };
        let mut reservations: Vec<Reservation> = Vec::with_capacity(ports.len());
        let mut published = Vec::with_capacity(ports.len());
        for req in ports {
            let r = ports::reserve_request(req, container_ip, &is_held)?;
            published.push(PublishedPort {
                host_ip: r.host_ip,
                host_port: r.host_port,
                container_ip,
                container_port: req.container_port,
                proto: req.proto,
            });
            reservations.push(r);
        }
        self.firewall.apply(&firewall::add_ports(
            &self.config.firewall_table,
            &published,
        ))?;

        let mut record = ep.clone();
        record.ports.extend(published.iter().copied());
        if let Err(e) = self.store.write_endpoint(&record) {
            let _ = self.firewall.apply(&firewall::remove_ports(
                &self.config.firewall_table,
                &published,
            ));
            return Err(e);
        }
        let mut containers = self.containers.lock();
        let att = containers.entry(container_id.to_string()).or_default();
        if let Some(e) = att.endpoints.iter_mut().find(|e| e.id == record.id) {
            *e = record;
        }
        att.reservations.extend(reservations);
        Ok(published)
    }

    /// Removes every port the container publishes (a no-op, with no `nft` call, when it
    /// publishes none).
    pub fn unpublish(&self, container_id: &str) -> Result<()> {
        let published: Vec<PublishedPort> = self
            .endpoints(container_id)
            .iter()
            .flat_map(|e| e.ports.iter().copied())
            .collect();
        if published.is_empty() {
            return Ok(());
        }
        self.firewall.apply(&firewall::remove_ports(
            &self.config.firewall_table,
            &published,
        ))?;
        let records: Vec<_> = {
            let mut containers = self.containers.lock();
            let Some(att) = containers.get_mut(container_id) else {
                return Ok(());
            };
            // Dropping the sockets frees the host ports.
            att.reservations.clear();
            att.endpoints
                .iter_mut()
                .filter(|e| !e.ports.is_empty())
                .map(|e| {
                    e.ports.clear();
                    e.clone()
                })
                .collect()
        };
        for rec in records {
            self.store.write_endpoint(&rec)?;
        }
        Ok(())
    }
}
