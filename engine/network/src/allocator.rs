//! Handing out a network's addresses, one allocator for both families. Docker hands
//! addresses out serially (the one after the last given, wrapping), so an address just
//! released is not reused at once, which keeps stale ARP or neighbour entries of a peer
//! harmless. What differs between IPv4 and IPv6 (which addresses are reserved, where the
//! range starts and ends, which `--ip`/`--ip6` is accepted) is the pool's to say.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::types::{Ipam6Pool, IpamPool};

/// An address as the integer the allocator counts with.
pub trait Ordinal: Copy + Ord {
    /// The next integer; never called on the last one of a range.
    fn succ(self) -> Self;
}

impl Ordinal for u32 {
    fn succ(self) -> u32 {
        self + 1
    }
}

impl Ordinal for u128 {
    fn succ(self) -> u128 {
        self + 1
    }
}

/// A validated pool of one family, as the allocator sees it.
pub trait AddressPool {
    type Int: Ordinal;
    type Addr: Copy + Eq + fmt::Display + From<Self::Int> + Into<Self::Int>;
    /// The gateway and the `--aux-address`es: taken from the start, never released.
    fn reserved(&self) -> impl Iterator<Item = Self::Addr>;
    /// First and last address handed out by itself (the ip-range, or the subnet).
    fn range(&self) -> (Self::Int, Self::Int);
    /// Whether an asked-for or restored address may be taken: Docker accepts `--ip`
    /// anywhere in the subnet, even outside an ip-range, if it is a host address.
    fn admits(&self, ip: Self::Addr) -> bool;
}

/// The addresses of one network in use, and where the next search starts.
#[derive(Debug)]
pub struct Allocator<P: AddressPool> {
    pool: P,
    used: BTreeSet<P::Int>,
    cursor: P::Int,
}

impl<P: AddressPool> Allocator<P> {
    pub fn new(pool: P) -> Allocator<P> {
        let used = pool.reserved().map(Into::into).collect();
        let (first, _) = pool.range();
        Allocator {
            pool,
            used,
            cursor: first,
        }
    }

    pub fn pool(&self) -> &P {
        &self.pool
    }

    /// Marks an address restored from disk (or asked for) as taken. Errors if the pool does
    /// not admit it or it is taken already (two records claiming one address).
    pub fn claim(&mut self, ip: P::Addr) -> Result<()> {
        if !self.pool.admits(ip) {
            return Err(Error::InvalidArgument(format!(
                "no configured subnet or ip-range contain the IP address {ip}"
            )));
        }
        if !self.used.insert(ip.into()) {
            return Err(Error::Conflict("Address already in use".into()));
        }
        Ok(())
    }

    /// Takes `wanted` (`--ip`, `--ip6`) or the next free address.
    pub fn allocate(&mut self, wanted: Option<P::Addr>) -> Result<P::Addr> {
        if let Some(ip) = wanted {
            self.claim(ip)?;
            return Ok(ip);
        }
        let (first, last) = self.pool.range();
        let start = self.cursor.clamp(first, last);
        let found = self
            .first_free(start, last)
            .or_else(|| self.first_free(first, start))
            .ok_or_else(|| Error::Unavailable("no available addresses on this pool".into()))?;
        self.used.insert(found);
        self.cursor = if found == last { first } else { found.succ() };
        Ok(found.into())
    }

    /// Gives `ip` back; the reserved addresses stay taken.
    pub fn release(&mut self, ip: P::Addr) {
        if !self.pool.reserved().any(|r| r == ip) {
            self.used.remove(&ip.into());
        }
    }

    /// The lowest free address in `from..=to`.
    fn first_free(&self, from: P::Int, to: P::Int) -> Option<P::Int> {
        let mut candidate = from;
        loop {
            if !self.used.contains(&candidate) {
                return Some(candidate);
            }
            if candidate >= to {
                return None;
            }
            candidate = candidate.succ();
        }
    }
}

impl AddressPool for IpamPool {
    type Int = u32;
    type Addr = Ipv4Addr;

    fn reserved(&self) -> impl Iterator<Item = Ipv4Addr> {
        std::iter::once(self.gateway).chain(self.aux_addresses.values().copied())
    }

    /// The network and broadcast addresses of the subnet are never handed out.
    fn range(&self) -> (u32, u32) {
        let net = self.ip_range.unwrap_or(self.subnet);
        let sub_first = u32::from(self.subnet.network()) + 1;
        let sub_last = u32::from(self.subnet.broadcast()) - 1;
        let first = u32::from(net.network()).max(sub_first);
        let last = u32::from(net.broadcast()).min(sub_last);
        (first, last)
    }

    fn admits(&self, ip: Ipv4Addr) -> bool {
        let subnet = self.subnet;
        subnet.contains(&ip) && ip != subnet.network() && ip != subnet.broadcast()
    }
}

impl AddressPool for Ipam6Pool {
    type Int = u128;
    type Addr = Ipv6Addr;

    fn reserved(&self) -> impl Iterator<Item = Ipv6Addr> {
        std::iter::once(self.gateway).chain(self.aux_addresses.values().copied())
    }

    /// The ip-range (or subnet) without the subnet's first address, its subnet-router
    /// anycast address. IPv6 has no broadcast, so the last address is a host's.
    fn range(&self) -> (u128, u128) {
        let net = self.ip_range.unwrap_or(self.subnet);
        let first = u128::from(net.network()).max(u128::from(self.subnet.network()) + 1);
        (first, u128::from(net.broadcast()))
    }

    /// Any address of the subnet but its subnet-router anycast address, as Docker takes an
    /// `--ip6` outside the ip-range.
    fn admits(&self, ip: Ipv6Addr) -> bool {
        self.subnet.contains(&ip) && ip != self.subnet.network()
    }
}
