//! IPv6 address management: Docker's checks of an IPv6 `IPAM.Config` entry, the default
//! pool (a /64 of a ULA /48 of this engine's own), and handing out addresses. Pure: no OS
//! access, so every rule is unit-tested.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::types::{Ipam6Pool, IpamRequest};

/// The ULA base network of this engine, as dockerd derives it (`deriveULABaseNetwork`):
/// the 40 low bits of the first 8 bytes of sha256(engine ID) as the Global ID after
/// `fd`, a /48 that default IPv6 subnets are cut from in /64s. Stable while the engine ID
/// is; each data root has its own ID, so two daemons pick different subnets.
pub fn ula_base(engine_id: &str) -> Ipv6Net {
    let sha = Sha256::digest(engine_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&sha[..8]);
    let gid = u64::from_be_bytes(first) & ((1 << 40) - 1);
    let addr = u128::from(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0)) | (u128::from(gid) << 80);
    // 48 is a valid IPv6 prefix length, so `new` cannot fail.
    Ipv6Net::new(Ipv6Addr::from(addr), 48)
        .unwrap_or_default()
        .trunc()
}

pub fn overlaps(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first /64 of `base` overlapping no subnet in `taken`, as dockerd allocates from its
/// default pools.
pub fn pick_default_pool(base: Ipv6Net, taken: &[Ipv6Net]) -> Result<Ipv6Net> {
    let unavailable = || {
        Error::Unavailable(
            "could not find an available, non-overlapping IPv6 address pool among the \
             defaults to assign to the network"
                .into(),
        )
    };
    let subnets = base.subnets(64).map_err(|_| unavailable())?;
    // A /48 has 65,536 /64s; the few networks a host has end the search early.
    subnets
        .into_iter()
        .find(|s| !taken.iter().any(|t| overlaps(s, t)))
        .ok_or_else(unavailable)
}

/// The pool of a subnet berth chose: the gateway at the first address after the
/// subnet-router anycast address.
pub fn pool_for(subnet: Ipv6Net) -> Result<Ipam6Pool> {
    Ok(Ipam6Pool {
        subnet,
        gateway: first_host(&subnet)?,
        ip_range: None,
        aux_addresses: BTreeMap::new(),
    })
}

fn first_host(subnet: &Ipv6Net) -> Result<Ipv6Addr> {
    if subnet.prefix_len() > 126 {
        return Err(Error::InvalidArgument(format!(
            "invalid subnet {subnet}: too small for a gateway and a container"
        )));
    }
    Ok(Ipv6Addr::from(u128::from(subnet.network()) + 1))
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Docker's checks of one IPv6 `IPAM.Config` entry (host bits, a gateway, ip-range or
/// auxiliary address outside the subnet), and its pool when they all pass.
pub fn check(subnet: Ipv6Net, req: &IpamRequest) -> std::result::Result<Ipam6Pool, Vec<String>> {
    let mut errs = Vec::new();
    if subnet.addr() != subnet.network() {
        errs.push(format!(
            "invalid subnet {subnet}: it should be {}",
            subnet.trunc()
        ));
    }
    let subnet = subnet.trunc();
    let mut ip_range = None;
    if let Some(range) = text(&req.ip_range) {
        match range.parse::<Ipv6Net>() {
            Err(_) => errs.push(format!(
                "invalid ip-range {range}: invalid CIDR block notation"
            )),
            Ok(r) if r.prefix_len() < subnet.prefix_len() => errs.push(format!(
                "invalid ip-range {range}: CIDR block is bigger than its parent subnet {subnet}"
            )),
            Ok(r) if !subnet.contains(&r.network()) => errs.push(format!(
                "invalid ip-range {range}: parent subnet {subnet} doesn't contain ip-range"
            )),
            Ok(r) if r.addr() != r.network() => {
                errs.push(format!("invalid ip-range {r}: it should be {}", r.trunc()))
            }
            Ok(r) => ip_range = Some(r),
        }
    }
    let address = |what: &str, text: &str| -> std::result::Result<Ipv6Addr, String> {
        match text.parse::<std::net::IpAddr>() {
            Err(_) => Err(format!("invalid {what}: invalid address")),
            Ok(std::net::IpAddr::V4(_)) => {
                Err(format!("invalid {what}: parent subnet is an IPv6 block"))
            }
            Ok(std::net::IpAddr::V6(ip)) if !subnet.contains(&ip) => Err(format!(
                "invalid {what}: parent subnet {subnet} doesn't contain this address"
            )),
            Ok(std::net::IpAddr::V6(ip)) => Ok(ip),
        }
    };
    let mut gateway = None;
    if let Some(g) = text(&req.gateway) {
        match address(&format!("gateway {g}"), &g) {
            Ok(ip) => gateway = Some(ip),
            Err(e) => errs.push(e),
        }
    }
    let mut aux = BTreeMap::new();
    for (name, value) in &req.aux_addresses {
        match address(&format!("auxiliary address {name}"), value) {
            Ok(ip) => {
                aux.insert(name.clone(), ip);
            }
            Err(e) => errs.push(e),
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let gateway = match gateway {
        Some(g) => g,
        None => first_host(&subnet).map_err(|e| vec![e.to_string()])?,
    };
    Ok(Ipam6Pool {
        subnet,
        gateway,
        ip_range,
        aux_addresses: aux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::Allocator;

    fn net(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }

    #[test]
    fn the_ula_base_is_a_stable_fd_48_per_engine_id() {
        let a = ula_base("engine-a");
        assert_eq!(a, ula_base("engine-a"));
        assert_ne!(a, ula_base("engine-b"));
        assert_eq!(a.prefix_len(), 48);
        assert_eq!(a.addr().segments()[0] >> 8, 0xfd);
        // dockerd's derivation: sha256("engine-a")[..8] big-endian, 40 low bits, << 80.
        let sha = Sha256::digest(b"engine-a");
        let gid = u64::from_be_bytes(sha[..8].try_into().unwrap()) & 0xff_ffff_ffff;
        assert_eq!(
            u128::from(a.addr()),
            (0xfd_u128 << 120) | (u128::from(gid) << 80)
        );
    }

    #[test]
    fn default_pools_are_the_first_free_64s_of_the_base() {
        let base = net("fd12:3456:789a::/48");
        assert_eq!(
            pick_default_pool(base, &[]).unwrap(),
            net("fd12:3456:789a::/64")
        );
        let mut taken = vec![net("fd12:3456:789a::/64"), net("fd12:3456:789a:2::/63")];
        assert_eq!(
            pick_default_pool(base, &taken).unwrap(),
            net("fd12:3456:789a:1::/64")
        );
        taken.push(net("fd12:3456:789a:1::/64"));
        assert_eq!(
            pick_default_pool(base, &taken).unwrap(),
            net("fd12:3456:789a:4::/64")
        );
        assert_eq!(
            pick_default_pool(base, &[net("fd12::/16")])
                .unwrap_err()
                .kind(),
            crate::ErrorKind::Unavailable
        );
    }

    #[test]
    fn requests_get_dockers_errors_and_a_pool() {
        let req = |gw: Option<&str>, range: Option<&str>| IpamRequest {
            subnet: None,
            gateway: gw.map(str::to_string),
            ip_range: range.map(str::to_string),
            aux_addresses: BTreeMap::new(),
        };
        let pool = check(net("fd00:1::/64"), &req(None, None)).unwrap();
        assert_eq!(pool.gateway, "fd00:1::1".parse::<Ipv6Addr>().unwrap());
        let pool = check(
            net("fd00:1::/64"),
            &req(Some("fd00:1::fe"), Some("fd00:1::100/120")),
        )
        .unwrap();
        assert_eq!(pool.gateway, "fd00:1::fe".parse::<Ipv6Addr>().unwrap());
        assert_eq!(pool.ip_range, Some(net("fd00:1::100/120")));
        let errs = check(
            net("fd00:1::5/64"),
            &req(Some("fd00:2::1"), Some("fd00:2::/80")),
        )
        .unwrap_err();
        assert_eq!(
            errs,
            vec![
                "invalid subnet fd00:1::5/64: it should be fd00:1::/64".to_string(),
                "invalid ip-range fd00:2::/80: parent subnet fd00:1::/64 doesn't contain ip-range"
                    .to_string(),
                "invalid gateway fd00:2::1: parent subnet fd00:1::/64 doesn't contain this address"
                    .to_string(),
            ]
        );
        let errs = check(net("fd00:1::/64"), &req(Some("nope"), Some("fd00::/60"))).unwrap_err();
        assert_eq!(
            errs,
            vec![
                "invalid ip-range fd00::/60: CIDR block is bigger than its parent subnet fd00:1::/64"
                    .to_string(),
                "invalid gateway nope: invalid address".to_string(),
            ]
        );
    }

    #[test]
    fn addresses_come_in_turn_skipping_anycast_and_gateway() {
        let pool = pool_for(net("fd00:9::/125")).unwrap(); // ::0 anycast, ::1 gateway
        let mut a = Allocator::new(pool);
        let ip = |n: u16| Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, n);
        for n in 2..=7 {
            assert_eq!(a.allocate(None).unwrap(), ip(n));
        }
        assert_eq!(
            a.allocate(None).unwrap_err().kind(),
            crate::ErrorKind::Unavailable
        );
        a.release(ip(3));
        a.release(ip(1)); // the gateway stays taken
        assert_eq!(a.allocate(None).unwrap(), ip(3));
        assert_eq!(
            a.allocate(None).unwrap_err().kind(),
            crate::ErrorKind::Unavailable
        );
        a.release(ip(5));
        assert_eq!(
            a.allocate(Some(ip(4))).unwrap_err().kind(),
            crate::ErrorKind::Conflict
        );
        assert_eq!(a.allocate(Some(ip(5))).unwrap(), ip(5));
        assert_eq!(
            a.claim(ip(0)).unwrap_err().kind(),
            crate::ErrorKind::InvalidArgument
        );
        assert_eq!(
            a.claim("fd00:8::2".parse().unwrap()).unwrap_err().kind(),
            crate::ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn an_ip_range_bounds_what_is_handed_out_but_not_ip6() {
        let mut pool = pool_for(net("fd00:9::/64")).unwrap();
        pool.ip_range = Some(net("fd00:9::8/126"));
        let mut a = Allocator::new(pool);
        let ip = |n: u16| Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, n);
        assert_eq!(a.allocate(None).unwrap(), ip(8));
        assert_eq!(a.allocate(Some(ip(0x99))).unwrap(), ip(0x99));
        assert_eq!(a.allocate(None).unwrap(), ip(9));
    }
}
