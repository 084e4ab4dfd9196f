//! Records on disk: `<state_dir>/networks/<network-id>.json` and
//! `<state_dir>/endpoints/<container-id>.<network-id>.json`.
//!
//! Network records are written durably (`write_atomic`: fsync, rename, fsync of the
//! directory): they are the user's configuration. Endpoint records are written atomically
//! but without fsync (`write_replace`): an endpoint only means something while its network
//! namespace exists, and no namespace survives the power cut an fsync would guard against,
//! while a kill -9 of berthd loses nothing already written. That keeps two fsyncs off the
//! path of every container start.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use fsdriver::atomic::{write_atomic, write_replace};
use serde::de::DeserializeOwned;

use crate::error::{io_err, Error, Result};
use crate::types::{Endpoint, Network};

pub(crate) struct Store {
    networks: PathBuf,
    endpoints: PathBuf,
    engine_id: PathBuf,
}

impl Store {
    pub(crate) fn open(state_dir: &Path) -> Result<Store> {
        let networks = state_dir.join("networks");
        let endpoints = state_dir.join("endpoints");
        for dir in [&networks, &endpoints] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        Ok(Store {
            networks,
            endpoints,
            engine_id: state_dir.join("engine-id"),
        })
    }

    /// This data root's engine ID (`<state_dir>/engine-id`, made once, durably), which the
    /// default IPv6 pool is derived from as dockerd derives it from its `engine-id`.
    pub(crate) fn engine_id(&self) -> Result<String> {
        match fs::read_to_string(&self.engine_id) {
            Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_err("read", &self.engine_id)(e))
            }
            _ => {}
        }
        let id = crate::networks::random_id();
        write_atomic(&self.engine_id, id.as_bytes()).map_err(io_err("write", &self.engine_id))?;
        Ok(id)
    }

    pub(crate) fn load_networks(&self) -> Result<Vec<Network>> {
        load_dir(&self.networks)
    }

    pub(crate) fn load_endpoints(&self) -> Result<Vec<Endpoint>> {
        load_dir(&self.endpoints)
    }

    pub(crate) fn write_network(&self, net: &Network) -> Result<()> {
        let path = self.networks.join(format!("{}.json", net.id));
        write_atomic(&path, &to_json(net)?).map_err(io_err("write", &path))
    }

    pub(crate) fn remove_network(&self, id: &str) -> Result<()> {
        remove(&self.networks.join(format!("{id}.json")))
    }

    pub(crate) fn write_endpoint(&self, ep: &Endpoint) -> Result<()> {
        let path = self.endpoint_path(&ep.container_id, &ep.network_id);
        write_replace(&path, &to_json(ep)?).map_err(io_err("write", &path))
    }

    pub(crate) fn remove_endpoint(&self, container_id: &str, network_id: &str) -> Result<()> {
        remove(&self.endpoint_path(container_id, network_id))
    }

    fn endpoint_path(&self, container_id: &str, network_id: &str) -> PathBuf {
        self.endpoints
            .join(format!("{container_id}.{network_id}.json"))
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| Error::Internal(format!("encode a record: {e}")))
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Every `*.json` of `dir`. A record that does not parse (a disk filled up under an old
/// version) is skipped with a warning rather than keeping the daemon from starting.
fn load_dir<T: DeserializeOwned>(dir: &Path) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("read directory", dir))? {
        let entry = entry.map_err(io_err("read directory", dir))?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let bytes = fs::read(&path).map_err(io_err("read", &path))?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => out.push(v),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable network record")
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Driver, MacAddr};
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    #[test]
    fn records_round_trip_and_go_away() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let net = Network {
            id: "a".repeat(64),
            name: "n".into(),
            driver: Driver::Bridge,
            created: SystemTime::now(),
            internal: false,
            attachable: false,
            enable_ipv6: false,
            predefined: false,
            bridge: Some("br-x".into()),
            ipam: vec![crate::ipam::pool_for("10.9.0.0/24".parse().unwrap()).unwrap()],
            ipam6: Some(crate::ipam6::pool_for("fd00:9::/64".parse().unwrap()).unwrap()),
            ipam_options: BTreeMap::new(),
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
        };
        store.write_network(&net).unwrap();
        let ep = Endpoint {
            id: "b".repeat(64),
            container_id: "c".repeat(64),
            network_id: net.id.clone(),
            network_name: "n".into(),
            netns: "/run/x".into(),
            interface: "eth0".into(),
            host_interface: "vethbbbbbbbbbbb".into(),
            routed: false,
            address: "10.9.0.2/24".parse().unwrap(),
            gateway: Some("10.9.0.1".parse().unwrap()),
            mac: MacAddr([2, 0x42, 10, 9, 0, 2]),
            requested_ipv4: None,
            address6: Some("fd00:9::2/64".parse().unwrap()),
            gateway6: Some("fd00:9::1".parse().unwrap()),
            requested_ipv6: None,
            aliases: vec!["web".into()],
            dns_names: vec![],
            ports: vec![],
        };
        store.write_endpoint(&ep).unwrap();
        fs::write(dir.path().join("endpoints/garbage.json"), b"{").unwrap();
        assert_eq!(store.load_networks().unwrap(), vec![net.clone()]);
        assert_eq!(store.load_endpoints().unwrap(), vec![ep.clone()]);
        store.remove_endpoint(&ep.container_id, &net.id).unwrap();
        store.remove_endpoint(&ep.container_id, &net.id).unwrap();
        store.remove_network(&net.id).unwrap();
        assert!(store.load_networks().unwrap().is_empty());
        assert!(store.load_endpoints().unwrap().is_empty());
        let id = store.engine_id().unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(Store::open(dir.path()).unwrap().engine_id().unwrap(), id);
    }
}
