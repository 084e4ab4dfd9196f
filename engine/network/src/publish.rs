//! Published ports: reservation sockets plus DNAT map elements, one `nft` call per
//! container that publishes any port and none for one that publishes none.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
        let ip4 = IpAddr::V4(ep.address.addr());
        let ip6 = ep.address6.map(|a| IpAddr::V6(a.addr()));
        let held: Vec<(IpAddr, u16, Protocol)> = self
            .containers
            .lock()
            .values()
            .flat_map(|a| {
                a.reservations
                    .iter()
                    .map(|r| (r.host_ip, r.host_port, r.proto))
            })
            .collect();
        // An IPv6 socket is v6-only, so only a reservation of the same family conflicts.
        let is_held = |ip: IpAddr, port: u16, proto: Protocol| {
            held.iter().any(|&(hip, hport, hproto)| {
                hport == port
                    && hproto == proto
                    && hip.is_ipv6() == ip.is_ipv6()
                    && (hip == ip || hip.is_unspecified() || ip.is_unspecified())
            })
        };
        let mut reservations: Vec<Reservation> = Vec::with_capacity(ports.len());
        let mut published = Vec::with_capacity(ports.len());
        let mut add = |r: Reservation, container_ip: IpAddr, req: &PortRequest| {
            published.push(PublishedPort {
                host_ip: r.host_ip,
                host_port: r.host_port,
                container_ip,
                container_port: req.container_port,
                proto: req.proto,
            });
            reservations.push(r);
        };
        for req in ports {
            match req.host_ip {
                None => {
                    let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
                    let r = ports::reserve_request(req, any4, ip4, &is_held)?;
                    let port = r.host_port;
                    add(r, ip4, req);
                    // Docker 28 publishes `-p 8080:80` on both families, one host port.
                    if let Some(ip6) = ip6 {
                        let same = PortRequest {
                            host_port: port,
                            host_port_end: port,
                            ..*req
                        };
                        let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
                        add(
                            ports::reserve_request(&same, any6, ip6, &is_held)?,
                            ip6,
                            req,
                        );
                    }
                }
                Some(host @ IpAddr::V4(_)) => {
                    add(ports::reserve_request(req, host, ip4, &is_held)?, ip4, req)
                }
                Some(IpAddr::V6(host)) if host.is_loopback() => {
                    // The kernel never routes ::1 off `lo` (IPv6 has no `route_localnet`),
                    // so kernel DNAT cannot reach a container from [::1]; dockerd uses its
                    // userland proxy there, which berth does not have.
                    return Err(Error::NotImplemented(
                        "publishing a port on the IPv6 loopback address ::1 (a userland proxy)"
                            .into(),
                    ));
                }
                Some(host @ IpAddr::V6(_)) => {
                    // dockerd forwards an IPv6 host address to an IPv4-only container with
                    // its userland proxy, which berth does not have (kernel DNAT only).
                    let ip6 = ip6.ok_or_else(|| {
                        Error::NotImplemented(format!(
                            "publishing a port on the IPv6 address {host} of a container without an IPv6 address"
                        ))
                    })?;
                    add(ports::reserve_request(req, host, ip6, &is_held)?, ip6, req)
                }
            }
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
