//! Container networking as the daemon drives it: the network mode and ports a create asks
//! for (checked before anything is made), what a start sets up and an exit takes down, and
//! the JSON Docker shows for networks and endpoints. The data plane itself (IPAM, bridges,
//! veths, namespaces, nftables) is `berth-network`'s; this module only decides what to ask
//! of it and in which order, and undoes what was done when a step fails.

pub mod attach;
pub mod etc_files;
pub mod mode;
pub mod ports;
pub mod settings;
pub mod view;

use std::path::PathBuf;

use crate::config::{DaemonConfig, NetworkOptions};
use crate::error::ErrorKind;

pub use settings::ContainerNetwork;

/// Why a networking request failed, in Docker's words.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The data plane's own failure, with its kind.
    #[error(transparent)]
    Plane(#[from] berth_network::Error),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}: not supported by berth yet")]
    NotSupported(String),
    #[error("{0}")]
    Internal(String),
}

impl NetworkError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::Plane(err) => plane_kind(err.kind()),
            NetworkError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            NetworkError::Conflict(_) => ErrorKind::Conflict,
            NetworkError::NotFound(_) => ErrorKind::NotFound,
            NetworkError::Forbidden(_) => ErrorKind::Forbidden,
            NetworkError::NotSupported(_) => ErrorKind::NotImplemented,
            NetworkError::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        NetworkError::InvalidArgument(message.into())
    }
}

fn plane_kind(kind: berth_network::ErrorKind) -> ErrorKind {
    use berth_network::ErrorKind as K;
    match kind {
        K::NotFound => ErrorKind::NotFound,
        K::Conflict => ErrorKind::Conflict,
        K::InvalidArgument => ErrorKind::InvalidArgument,
        K::Forbidden => ErrorKind::Forbidden,
        K::NotImplemented => ErrorKind::NotImplemented,
        K::Unavailable => ErrorKind::Unavailable,
        K::Internal => ErrorKind::Internal,
    }
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;

/// The daemon's networking: the data plane and the flags it was started with.
pub struct NetworkService {
    pub plane: berth_network::Networks,
    pub options: NetworkOptions,
    /// Where container network namespaces are bind-mounted.
    pub netns_dir: PathBuf,
}

impl NetworkService {
    /// Restores networks and endpoints a previous daemon left and sets up the default
    /// bridge (unless `--bridge none`). Blocking: netlink and nft work.
    pub fn open(config: &DaemonConfig) -> Result<NetworkService> {
        let options = config.network.clone();
        let default_bridge = match &options.bridge {
            Some(name) => Some(berth_network::DefaultBridge {
                name: name.clone(),
                bip: options
                    .bip
                    .as_deref()
                    .map(|bip| {
                        bip.parse::<ipnet::Ipv4Net>()
                            .map_err(|_| NetworkError::invalid(format!("invalid CIDR address: {bip}")))
                    })
                    .transpose()?,
            }),
            None => None,
        };
        let plane = berth_network::Networks::open(berth_network::NetworkConfig {
            state_dir: config.network_dir(),
            netns_dir: config.netns_dir(),
            default_bridge,
            firewall_table: options.firewall_table.clone(),
        })?;
        Ok(NetworkService {
            plane,
            options,
            netns_dir: config.netns_dir(),
        })
    }

    /// Whether the default network `bridge` exists (not `--bridge none`).
    pub fn has_default_bridge(&self) -> bool {
        self.options.bridge.is_some()
    }

    /// Where a container's own network namespace is mounted while it runs.
    pub fn netns_path(&self, container_id: &str) -> PathBuf {
        self.netns_dir.join(container_id)
    }
}
