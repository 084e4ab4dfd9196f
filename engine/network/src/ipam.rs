//! IPv4 address management (IPv6 is `ipam6.rs`): validating a network's pool as Docker does, choosing a default
//! pool that overlaps neither another network nor a host route, and handing out addresses.
//! Pure: no OS access, so every rule is unit-tested.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::ipam6;
use crate::types::{Ipam6Pool, IpamPool, IpamRequest};

/// Docker's default local pools: 172.17–31.0.0/16, then 192.168.0.0/16 cut into /20s.
pub fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let sixteens = (17u8..=31).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let twenties = (0u8..16).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    // Both prefix lengths are constants below 32, so `new` cannot fail.
    sixteens.chain(twenties).filter_map(|n| n.ok())
}

/// The first default pool overlapping no subnet in `taken` (other networks' subnets and the
/// host's routes), as dockerd picks the `docker0` and user networks' subnets.
pub fn pick_default_pool(taken: &[Ipv4Net]) -> Result<Ipv4Net> {
    default_pools()
        .find(|pool| !taken.iter().any(|t| overlaps(pool, t)))
        .ok_or_else(|| {
            Error::Unavailable(
                "could not find an available, non-overlapping IPv4 address pool among the \
                 defaults to assign to the network"
                    .into(),
            )
        })
}

pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The pools an `IPAM.Config` names; `None` where it names no subnet of that family (the
/// caller then picks a default pool).
#[derive(Debug, Default)]
pub struct Requested {
    pub v4: Option<IpamPool>,
    pub v6: Option<Ipam6Pool>,
}

/// Validates `IPAM.Config` against Docker's rules (every problem listed, as Docker's
/// `invalid network config:` message does) and builds the pools. IPv6 entries count only
/// with `enable_ipv6`, as dockerd ignores them without it.
pub fn validate_request(reqs: &[IpamRequest], enable_ipv6: bool) -> Result<Requested> {
    let mut errs: Vec<String> = Vec::new();
    let mut pools: Vec<IpamPool> = Vec::new();
    let mut pools6: Vec<Ipam6Pool> = Vec::new();
    for req in reqs {
        let subnet_text = req.subnet.as_deref().unwrap_or("").trim();
        if subnet_text.is_empty() {
            if req.gateway.as_deref().is_some_and(|g| !g.is_empty())
                || req.ip_range.as_deref().is_some_and(|r| !r.is_empty())
            {
                errs.push("a gateway or ip-range needs a subnet".into());
            }
            continue;
        }
        let subnet: ipnet::IpNet = match subnet_text.parse() {
            Ok(n) => n,
            Err(_) => {
                errs.push(format!(
                    "invalid subnet {subnet_text}: invalid CIDR block notation"
                ));
                continue;
            }
        };
        let subnet = match subnet {
            ipnet::IpNet::V4(n) => n,
            ipnet::IpNet::V6(_) if !enable_ipv6 => continue,
            ipnet::IpNet::V6(v6) => {
                match ipam6::check(v6, req) {
                    Ok(pool) => pools6.push(pool),
                    Err(e) => errs.extend(e),
                }
                continue;
            }
        };
        if subnet.addr() != subnet.network() {
            errs.push(format!(
                "invalid subnet {subnet}: it should be {}",
                subnet.trunc()
            ));
        }
        let subnet = subnet.trunc();
        let ip_range = match req
            .ip_range
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(text) => match text.parse::<Ipv4Net>() {
                Err(_) => {
                    errs.push(format!(
                        "invalid ip-range {text}: invalid CIDR block notation"
                    ));
                    None
                }
                Ok(range) => {
                    if range.prefix_len() < subnet.prefix_len() {
                        errs.push(format!(
                            "invalid ip-range {text}: CIDR block is bigger than its parent subnet {subnet}"
                        ));
                    }
                    if range.addr() != range.network() {
                        errs.push(format!(
                            "invalid ip-range {range}: it should be {}",
                            range.trunc()
                        ));
                    }
                    if !overlaps(&subnet, &range) {
                        errs.push(format!(
                            "invalid ip-range {text}: parent subnet {subnet} doesn't contain ip-range"
                        ));
                    }
                    Some(range.trunc())
                }
            },
        };
        let gateway = match req
            .gateway
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(text) => match check_address(text, &subnet) {
                Ok(ip) => Some(ip),
                Err(e) => {
                    errs.push(format!("invalid gateway {text}: {e}"));
                    None
                }
            },
        };
        let mut aux = BTreeMap::new();
        for (name, text) in &req.aux_addresses {
            match check_address(text, &subnet) {
                Ok(ip) => {
                    aux.insert(name.clone(), ip);
                }
                Err(e) => errs.push(format!("invalid auxiliary address {name}: {e}")),
            }
        }
        if errs.is_empty() {
            let gateway = match gateway {
                Some(g) => g,
                None => first_host(&subnet)?,
            };
            pools.push(IpamPool {
                subnet,
                gateway,
                ip_range,
                aux_addresses: aux,
            });
        }
    }
    match errs.len() {
        0 => {}
        1 => {
            return Err(Error::InvalidArgument(format!(
                "invalid network config:\n{}",
                errs[0]
            )))
        }
        _ => {
            return Err(Error::InvalidArgument(format!(
                "invalid network config:\n* {}",
                errs.join("\n* ")
            )))
        }
    }
    if pools.len() > 1 {
        return Err(Error::NotImplemented(
            "more than one IPv4 subnet per network".into(),
        ));
    }
    if pools6.len() > 1 {
        return Err(Error::NotImplemented(
            "more than one IPv6 subnet per network".into(),
        ));
    }
    Ok(Requested {
        v4: pools.pop(),
        v6: pools6.pop(),
    })
}

fn check_address(text: &str, subnet: &Ipv4Net) -> std::result::Result<Ipv4Addr, String> {
    let ip: std::net::IpAddr = text.parse().map_err(|_| "invalid address".to_string())?;
    let std::net::IpAddr::V4(ip) = ip else {
        return Err("parent subnet is an IPv4 block".into());
    };
    if !subnet.contains(&ip) {
        return Err(format!(
            "parent subnet {subnet} doesn't contain this address"
        ));
    }
    Ok(ip)
}

/// The pool of a default-chosen subnet: gateway at the first host address.
pub fn pool_for(subnet: Ipv4Net) -> Result<IpamPool> {
    Ok(IpamPool {
        subnet,
        gateway: first_host(&subnet)?,
        ip_range: None,
        aux_addresses: BTreeMap::new(),
    })
}

/// The pool `--bip 10.1.2.1/24` describes: that gateway, its network.
pub fn pool_for_bip(bip: Ipv4Net) -> Result<IpamPool> {
    let subnet = bip.trunc();
    if subnet.prefix_len() > 30 {
        return Err(Error::InvalidArgument(format!(
            "invalid bip {bip}: the subnet leaves no address for containers"
        )));
    }
    if bip.addr() == subnet.network() || bip.addr() == subnet.broadcast() {
        return Err(Error::InvalidArgument(format!(
            "invalid bip {bip}: the gateway cannot be the network or broadcast address"
        )));
    }
    Ok(IpamPool {
        subnet,
        gateway: bip.addr(),
        ip_range: None,
        aux_addresses: BTreeMap::new(),
    })
}

fn first_host(subnet: &Ipv4Net) -> Result<Ipv4Addr> {
    if subnet.prefix_len() > 30 {
        return Err(Error::InvalidArgument(format!(
            "invalid subnet {subnet}: too small for a gateway and a container"
        )));
    }
    Ok(Ipv4Addr::from(u32::from(subnet.network()) + 1))
}

#[cfg(test)]
#[path = "ipam_tests.rs"]
mod tests;
