//! The facade the daemon calls.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::types::{
    CreateNetwork, Endpoint, EndpointRequest, Network, NetworkConfig, PortRequest, PublishedPort,
};

/// All of berth's networks, their endpoints and published ports. `Send + Sync`.
pub struct Networks {
    config: NetworkConfig,
}

fn todo(what: &str) -> Error {
    Error::NotImplemented(format!("networking ({what})"))
}

impl Networks {
    /// Restores networks and endpoints from `config.state_dir`, creates the default bridge
    /// network when configured and (re)writes the nftables table.
    pub fn open(config: NetworkConfig) -> Result<Networks> {
        Ok(Networks { config })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Creates a user-defined network.
    pub fn create(&self, _req: CreateNetwork) -> Result<Network> {
        Err(todo("create"))
    }

    /// Removes a network; Forbidden while it has endpoints or is pre-defined.
    pub fn remove(&self, _id_or_name: &str) -> Result<()> {
        Err(todo("remove"))
    }

    /// Looks a network up by full ID, exact name, or unique ID prefix.
    pub fn get(&self, id_or_name: &str) -> Result<Network> {
        Err(Error::NotFound(format!("network {id_or_name} not found")))
    }

    pub fn list(&self) -> Vec<Network> {
        Vec::new()
    }

    /// Creates the container's network namespace at `<netns_dir>/<container-id>` with `lo` up.
    pub fn create_sandbox(&self, _container_id: &str) -> Result<PathBuf> {
        Err(todo("create_sandbox"))
    }

    /// Unpublishes, detaches every endpoint, unmounts and removes the namespace.
    pub fn remove_sandbox(&self, _container_id: &str) -> Result<()> {
        Err(todo("remove_sandbox"))
    }

    /// Attaches the container (whose namespace is `netns`) to `network`.
    pub fn connect(
        &self,
        _container_id: &str,
        _netns: &Path,
        _network: &str,
        _req: EndpointRequest,
    ) -> Result<Endpoint> {
        Err(todo("connect"))
    }

    pub fn disconnect(&self, _container_id: &str, _network: &str) -> Result<()> {
        Err(todo("disconnect"))
    }

    pub fn publish(
        &self,
        _container_id: &str,
        _ports: &[PortRequest],
    ) -> Result<Vec<PublishedPort>> {
        Err(todo("publish"))
    }

    pub fn unpublish(&self, _container_id: &str) -> Result<()> {
        Err(todo("unpublish"))
    }

    pub fn endpoints(&self, _container_id: &str) -> Vec<Endpoint> {
        Vec::new()
    }
}
