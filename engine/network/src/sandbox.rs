//! Sandboxes: a container's network namespace, made before its endpoints and removed
//! with them.

use std::path::PathBuf;

use super::{check_container_id, Networks};
use crate::error::{Error, Result};

impl Networks {
    /// Where a container's network namespace is (or will be) mounted.
    pub fn netns_path(&self, container_id: &str) -> PathBuf {
        self.config.netns_dir.join(container_id)
    }

    /// Creates the container's network namespace at `<netns_dir>/<container-id>` with `lo`
    /// up, and returns its path for the OCI spec.
    pub fn create_sandbox(&self, container_id: &str) -> Result<PathBuf> {
        check_container_id(container_id)?;
        let path = self.netns_path(container_id);
        if self.host.netns_exists(&path) {
            return Err(Error::Conflict(format!(
                "network namespace of container {container_id} already exists"
            )));
        }
        // A plain file left by a crash between create and mount is no namespace.
        self.host.delete_netns(&path)?;
        self.host.create_netns(&path)?;
        Ok(path)
    }

    /// Unpublishes the container's ports, unmounts and removes the namespace and releases
    /// every endpoint. Idempotent. The veth pairs go with the namespace, which the kernel
    /// destroys in the background once nothing holds it (see `reaper.rs`), so this does
    /// not wait for their deletion.
    pub fn remove_sandbox(&self, container_id: &str) -> Result<()> {
        check_container_id(container_id)?;
        self.unpublish(container_id)?;
        self.host.delete_netns(&self.netns_path(container_id))?;
        for ep in self.endpoints(container_id) {
            let entry = self.entry(&ep.network_id)?;
            self.forget_routed(&entry, std::slice::from_ref(&ep))?;
            self.release(&entry, &ep)?;
            self.reaper.reap(ep.host_interface);
        }
        Ok(())
    }

    /// Container IDs that have a namespace under `netns_dir`, or the plain file a daemon
    /// killed between creating and mounting one left (after a restart, the daemon removes
    /// those whose container is gone: skipping the plain files left them there for good).
    pub fn sandboxes(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(&self.config.netns_dir) else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| check_container_id(name).is_ok())
            .collect()
    }
}
