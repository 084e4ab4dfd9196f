//! `berthd --registry-addr`: a Distribution API v2 registry served from the image store's
//! content store, over plain HTTP or TLS (`--registry-tls-cert/-key`), open or behind
//! htpasswd basic auth (`--registry-htpasswd`, bcrypt entries as `htpasswd -B` writes).
//!
//! This module holds the served registry's state: its repositories (which blobs, manifests
//! and tags each has) and its users. The HTTP routes are in `api::registry_server`.

mod auth;
mod repositories;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use berth_images::ImageStore;
use parking_lot::Mutex;

pub use auth::{tls_acceptor, Htpasswd};
pub use repositories::{Paths, Repositories, Repository};

use crate::engine::Engine;

/// The holder of the lease that keeps the registry's blobs in the content store.
const LEASE_HOLDER: &str = "registry";

/// The served registry's state.
pub struct Registry {
    pub images: Arc<ImageStore>,
    pub paths: Paths,
    pub repositories: Mutex<Repositories>,
    pub htpasswd: Option<Htpasswd>,
}

/// Why the registry's bookkeeping could not be saved. Always an internal failure: the
/// registry answers it as its `UNKNOWN` error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Lease(#[from] berth_images::Error),
    #[error(transparent)]
    Save(#[from] std::io::Error),
}

impl Registry {
    pub fn open(engine: &Engine, htpasswd: Option<&Path>) -> anyhow::Result<Registry> {
        let paths = Paths::new(&engine.config.data_root);
        std::fs::create_dir_all(&paths.uploads)
            .with_context(|| format!("creating {}", paths.uploads.display()))?;
        let repositories = Repositories::load(&paths.repositories)
            .with_context(|| format!("reading {}", paths.repositories.display()))?;
        engine
            .images
            .lease_blobs(LEASE_HOLDER, repositories.all_blobs())
            .context("keeping the registry's blobs")?;
        let htpasswd = htpasswd.map(Htpasswd::load).transpose()?;
        Ok(Registry {
            images: engine.images.clone(),
            paths,
            repositories: Mutex::new(repositories),
            htpasswd,
        })
    }

    /// Saves the bookkeeping and the lease that keeps the blobs.
    pub fn commit(&self, repositories: &Repositories) -> Result<(), StoreError> {
        self.images
            .lease_blobs(LEASE_HOLDER, repositories.all_blobs())?;
        repositories.save(&self.paths.repositories)?;
        Ok(())
    }
}
