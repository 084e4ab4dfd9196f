//! The names the embedded DNS answers itself: per network, each container's names and
//! addresses. The daemon writes it as containers start, connect, disconnect and stop; every
//! query reads it. Writes and reads hold the lock only for a few hash-map operations, never
//! across I/O.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use parking_lot::RwLock;

/// A network a scope (container) is on: its ID keys the records, its name makes the
/// `NAME.NETWORK` form Docker also answers and the name of reverse (PTR) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeNetwork {
    pub id: String,
    pub name: String,
}

/// The addresses a name has on the networks a querier shares with it. Both lists may be
/// empty for one family: the name exists, so the answer is "no data", not "no such name".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
}

#[derive(Debug)]
struct Entry {
    /// Lower-cased, without a trailing dot, deduplicated.
    names: Vec<String>,
    ipv4: Vec<Ipv4Addr>,
    ipv6: Vec<Ipv6Addr>,
}

#[derive(Debug, Default)]
struct NetworkTable {
    containers: HashMap<String, Entry>,
    /// name → the containers that carry it (several for a shared `--network-alias`).
    by_name: HashMap<String, Vec<String>>,
    /// address → the container that holds it.
    by_addr: HashMap<IpAddr, String>,
}

impl NetworkTable {
    fn unlink(&mut self, container_id: &str, entry: &Entry) {
        for name in &entry.names {
            if let Some(ids) = self.by_name.get_mut(name) {
                ids.retain(|id| id != container_id);
                if ids.is_empty() {
                    self.by_name.remove(name);
                }
            }
        }
        let addrs = entry.ipv4.iter().map(|a| IpAddr::V4(*a));
        for addr in addrs.chain(entry.ipv6.iter().map(|a| IpAddr::V6(*a))) {
            if self.by_addr.get(&addr).is_some_and(|id| id == container_id) {
                self.by_addr.remove(&addr);
            }
        }
    }

    fn link(&mut self, container_id: &str, entry: &Entry) {
        for name in &entry.names {
            let ids = self.by_name.entry(name.clone()).or_default();
            if !ids.iter().any(|id| id == container_id) {
                ids.push(container_id.to_string());
            }
        }
        let addrs = entry.ipv4.iter().map(|a| IpAddr::V4(*a));
        for addr in addrs.chain(entry.ipv6.iter().map(|a| IpAddr::V6(*a))) {
            self.by_addr.insert(addr, container_id.to_string());
        }
    }

    /// Adds the addresses of every container named `name` on this network; true if any is.
    fn collect(&self, name: &str, into: &mut Addresses) -> bool {
        let Some(ids) = self.by_name.get(name) else {
            return false;
        };
        for entry in ids.iter().filter_map(|id| self.containers.get(id)) {
            for a in &entry.ipv4 {
                if !into.ipv4.contains(a) {
                    into.ipv4.push(*a);
                }
            }
            for a in &entry.ipv6 {
                if !into.ipv6.contains(a) {
                    into.ipv6.push(*a);
                }
            }
        }
        true
    }
}

/// Lower-cases a DNS name and drops its trailing dot: names compare case-insensitively and
/// `web` and `web.` are the same name.
pub(crate) fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Every network's records.
#[derive(Debug, Default)]
pub struct Records {
    networks: RwLock<HashMap<String, NetworkTable>>,
}

impl Records {
    pub fn new() -> Records {
        Records::default()
    }

    /// Sets (or replaces) what a container answers to on a network. Empty names are ignored.
    pub fn set(
        &self,
        network_id: &str,
        container_id: &str,
        names: Vec<String>,
        ipv4: Vec<Ipv4Addr>,
        ipv6: Vec<Ipv6Addr>,
    ) {
        let mut normalized: Vec<String> = Vec::with_capacity(names.len());
        for name in names.iter().map(|n| normalize(n)) {
            if !name.is_empty() && !normalized.contains(&name) {
                normalized.push(name);
            }
        }
        let entry = Entry {
            names: normalized,
            ipv4,
            ipv6,
        };
        let mut networks = self.networks.write();
        let table = networks.entry(network_id.to_string()).or_default();
        if let Some(old) = table.containers.remove(container_id) {
            table.unlink(container_id, &old);
        }
        table.link(container_id, &entry);
        table.containers.insert(container_id.to_string(), entry);
    }

    /// Removes a container's records from a network; true if it had any.
    pub fn remove(&self, network_id: &str, container_id: &str) -> bool {
        let mut networks = self.networks.write();
        let Some(table) = networks.get_mut(network_id) else {
            return false;
        };
        let Some(old) = table.containers.remove(container_id) else {
            return false;
        };
        table.unlink(container_id, &old);
        if table.containers.is_empty() {
            networks.remove(network_id);
        }
        true
    }

    /// The addresses `name` has on `networks`. As Docker's resolver: first the whole name on
    /// every network (the addresses of all that have it), then, for `a.b.c`, `a.b` on a
    /// network named `c` and `a` on a network named `b.c`. `None`: no such name.
    pub fn lookup(&self, networks: &[ScopeNetwork], name: &str) -> Option<Addresses> {
        let name = normalize(name);
        if name.is_empty() {
            return None;
        }
        let tables = self.networks.read();
        let mut found = Addresses::default();
        let mut any = false;
        for network in networks {
            if let Some(table) = tables.get(&network.id) {
                any |= table.collect(&name, &mut found);
            }
        }
        if any {
            return Some(found);
        }
        let mut end = name.len();
        while let Some(dot) = name[..end].rfind('.') {
            let (host, suffix) = (&name[..dot], &name[dot + 1..]);
            end = dot;
            for network in networks {
                if !network.name.eq_ignore_ascii_case(suffix) {
                    continue;
                }
                if let Some(table) = tables.get(&network.id) {
                    any |= table.collect(host, &mut found);
                }
            }
            if any {
                return Some(found);
            }
        }
        None
    }

    /// The name of the container holding `addr` on one of `networks`, as Docker answers a
    /// reverse query: `NAME.NETWORK` (its first name).
    pub fn reverse(&self, networks: &[ScopeNetwork], addr: IpAddr) -> Option<String> {
        let tables = self.networks.read();
        for network in networks {
            let Some(table) = tables.get(&network.id) else {
                continue;
            };
            let Some(entry) = table
                .by_addr
                .get(&addr)
                .and_then(|id| table.containers.get(id))
            else {
                continue;
            };
            if let Some(first) = entry.names.first() {
                return Some(format!("{first}.{}", network.name));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(id: &str, name: &str) -> ScopeNetwork {
        ScopeNetwork {
            id: id.into(),
            name: name.into(),
        }
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn records() -> Records {
        let r = Records::new();
        r.set(
            "n1",
            "c1",
            vec!["Web".into(), "www".into(), "0123456789ab".into()],
            vec![v4("10.0.0.2")],
            vec!["fd00::2".parse().unwrap()],
        );
        r.set("n2", "c1", vec!["web".into()], vec![v4("10.1.0.2")], vec![]);
        r.set("n2", "c2", vec!["db".into()], vec![v4("10.1.0.3")], vec![]);
        r
    }

    #[test]
    fn names_are_case_insensitive_with_or_without_trailing_dot() {
        let r = records();
        let nets = [net("n1", "front")];
        for name in ["web", "WEB", "web.", "Web.", "www", "0123456789ab."] {
            let found = r.lookup(&nets, name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(found.ipv4, vec![v4("10.0.0.2")], "{name}");
            assert_eq!(found.ipv6, vec!["fd00::2".parse::<Ipv6Addr>().unwrap()]);
        }
        assert_eq!(r.lookup(&nets, "db"), None, "db is only on n2");
        assert_eq!(r.lookup(&nets, ""), None);
        assert_eq!(r.lookup(&nets, "."), None);
    }

    #[test]
    fn a_name_on_several_networks_answers_the_shared_ones() {
        let r = records();
        let both = [net("n1", "front"), net("n2", "back")];
        assert_eq!(
            r.lookup(&both, "web").unwrap().ipv4,
            vec![v4("10.0.0.2"), v4("10.1.0.2")]
        );
        assert_eq!(
            r.lookup(&[net("n2", "back")], "web").unwrap().ipv4,
            vec![v4("10.1.0.2")]
        );
        assert_eq!(r.lookup(&[net("n3", "other")], "web"), None);
    }

    #[test]
    fn name_dot_network_selects_that_network() {
        let r = records();
        let both = [net("n1", "front"), net("n2", "back.end")];
        assert_eq!(
            r.lookup(&both, "web.back.end").unwrap().ipv4,
            vec![v4("10.1.0.2")]
        );
        assert_eq!(
            r.lookup(&both, "WEB.front.").unwrap().ipv4,
            vec![v4("10.0.0.2")]
        );
        assert_eq!(r.lookup(&both, "db.front"), None);
        assert_eq!(r.lookup(&both, "web.elsewhere"), None);
    }

    #[test]
    fn a_shared_alias_answers_every_container_and_removal_unlinks() {
        let r = Records::new();
        r.set(
            "n",
            "a",
            vec!["a".into(), "svc".into()],
            vec![v4("10.0.0.2")],
            vec![],
        );
        r.set(
            "n",
            "b",
            vec!["b".into(), "svc".into()],
            vec![v4("10.0.0.3")],
            vec![],
        );
        let nets = [net("n", "net")];
        assert_eq!(
            r.lookup(&nets, "svc").unwrap().ipv4,
            vec![v4("10.0.0.2"), v4("10.0.0.3")]
        );
        assert!(r.remove("n", "a"));
        assert!(!r.remove("n", "a"));
        assert_eq!(r.lookup(&nets, "svc").unwrap().ipv4, vec![v4("10.0.0.3")]);
        assert_eq!(r.lookup(&nets, "a"), None);
        assert_eq!(r.reverse(&nets, "10.0.0.2".parse().unwrap()), None);
        assert!(r.remove("n", "b"));
        assert!(
            r.networks.read().is_empty(),
            "an empty network's table goes"
        );
    }

    #[test]
    fn set_replaces_names_and_addresses() {
        let r = Records::new();
        let nets = [net("n", "net")];
        r.set("n", "c", vec!["old".into()], vec![v4("10.0.0.2")], vec![]);
        r.set("n", "c", vec!["new".into()], vec![v4("10.0.0.9")], vec![]);
        assert_eq!(r.lookup(&nets, "old"), None);
        assert_eq!(r.lookup(&nets, "new").unwrap().ipv4, vec![v4("10.0.0.9")]);
        assert_eq!(r.reverse(&nets, "10.0.0.2".parse().unwrap()), None);
        assert_eq!(
            r.reverse(&nets, "10.0.0.9".parse().unwrap()).as_deref(),
            Some("new.net")
        );
    }

    #[test]
    fn a_name_with_no_address_of_a_family_still_exists() {
        let r = records();
        let found = r.lookup(&[net("n2", "back")], "db").unwrap();
        assert!(found.ipv6.is_empty());
        assert_eq!(found.ipv4, vec![v4("10.1.0.3")]);
    }

    #[test]
    fn reverse_answers_first_name_dot_network_of_shared_networks() {
        let r = records();
        let nets = [net("n1", "front")];
        assert_eq!(
            r.reverse(&nets, "10.0.0.2".parse().unwrap()).as_deref(),
            Some("web.front")
        );
        assert_eq!(
            r.reverse(&nets, "fd00::2".parse().unwrap()).as_deref(),
            Some("web.front")
        );
        assert_eq!(r.reverse(&nets, "10.1.0.3".parse().unwrap()), None);
    }
}
