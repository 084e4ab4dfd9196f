//! Pulling from and pushing to registries: the orchestration of a pull or push, with one
//! [`transfer::LayerTransfer`] actor per layer, and Docker's JSON progress messages.

pub mod progress;
pub mod pull;
pub mod push;
pub mod sources;
pub mod transfer;

use std::sync::Arc;

use berth_distribution::{Credentials, Registries, RegistryConfig, Repository};
use berth_images::reference::Reference;
use tokio::sync::Semaphore;

use crate::config::{DaemonConfig, DistributionConfig};
use crate::error::ErrorKind;
use sources::Sources;

/// The daemon's registry client side: settings, transfer limits and where blobs came from.
pub struct Transfers {
    pub registries: Registries,
    pub downloads: Arc<Semaphore>,
    pub uploads: Arc<Semaphore>,
    pub sources: Sources,
}

impl Transfers {
    pub fn new(config: &DaemonConfig) -> Result<Transfers, TransferError> {
        let DistributionConfig {
            insecure_registries,
            certs_dir,
            max_concurrent_downloads,
            max_concurrent_uploads,
            ..
        } = &config.distribution;
        let registry_config = RegistryConfig::new(insecure_registries, certs_dir)?;
        Ok(Transfers {
            registries: Registries::new(registry_config),
            downloads: Arc::new(Semaphore::new(*max_concurrent_downloads)),
            uploads: Arc::new(Semaphore::new(*max_concurrent_uploads)),
            sources: Sources::open(&config.data_root.join("distribution"))?,
        })
    }

    /// The registry repository `reference` names, with a token for `actions` on it (and
    /// for pulling from each of `mount_from`, for cross-repository mounts).
    pub async fn open_repository(
        &self,
        reference: &Reference,
        credentials: Option<Credentials>,
        actions: &[&str],
        mount_from: &[String],
    ) -> Result<Arc<Repository>, TransferError> {
        let repository = self
            .registries
            .repository(
                reference.domain(),
                reference.path(),
                credentials,
                actions,
                mount_from,
            )
            .await?;
        Ok(Arc::new(repository))
    }
}

/// Why a pull or push failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Registry(#[from] berth_distribution::Error),
    #[error(transparent)]
    Image(#[from] berth_images::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Internal(String),
}

impl TransferError {
    pub fn kind(&self) -> ErrorKind {
        use berth_distribution::ErrorKind as Registry;
        match self {
            TransferError::Registry(e) => match e.kind() {
                Registry::NotFound => ErrorKind::NotFound,
                // Not 401: the docker CLI answers that with an interactive login prompt,
                // where Docker reports the registry's refusal.
                Registry::Unauthorized => ErrorKind::Forbidden,
                Registry::InvalidArgument => ErrorKind::InvalidArgument,
                Registry::Unavailable => ErrorKind::Unavailable,
            },
            TransferError::Image(e) => e.kind().into(),
            TransferError::NotFound(_) => ErrorKind::NotFound,
            TransferError::Invalid(_) => ErrorKind::InvalidArgument,
            TransferError::Internal(_) => ErrorKind::Internal,
        }
    }
}
