//! Container networking as the daemon drives it: the network mode and ports a create asks
//! for (checked before anything is made), what a start sets up and an exit takes down, and
//! the JSON Docker shows for networks and endpoints. The data plane itself (IPAM, bridges,
//! veths, namespaces, nftables) is `berth-network`'s; this module only decides what to ask
//! of it and in which order, and undoes what was done when a step fails.

pub mod attach;
pub mod dns;
pub mod etc_files;
pub mod mode;
pub mod ports;
pub mod settings;
pub mod view;

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{DaemonConfig, NetworkOptions};
use crate::error::ErrorKind;

pub use settings::ContainerNetwork;

/// Why a networking request failed, in Docker's words.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The data plane's own failure, with its kind.
    #[error(transparent)]
    Plane(#[from] berth_network::Error),
    /// The data plane's failure, after what the daemon was doing; the kind stays the plane's.
    #[error("{context}: {source}")]
    Context {
        context: String,
        source: berth_network::Error,
    },
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
            NetworkError::Plane(err) | NetworkError::Context { source: err, .. } => {
                plane_kind(err.kind())
            }
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
    /// The embedded DNS server of containers on user-defined networks.
    pub dns: Option<Arc<berth_dns::DnsServer>>,
}

impl NetworkService {
    /// Restores networks and endpoints a previous daemon left and sets up the default
    /// bridge (unless `--bridge none`). Blocking: netlink and nft work.
    pub fn open(
        config: &DaemonConfig,
        dns: Option<Arc<berth_dns::DnsServer>>,
    ) -> Result<NetworkService> {
        let options = config.network.clone();
        let default_bridge = match &options.bridge {
            Some(name) => Some(berth_network::DefaultBridge {
                name: name.clone(),
                bip: options
                    .bip
                    .as_deref()
                    .map(|bip| {
                        bip.parse::<ipnet::Ipv4Net>().map_err(|_| {
                            NetworkError::invalid(format!("invalid CIDR address: {bip}"))
                        })
                    })
                    .transpose()?,
                ipv6: options.ipv6,
                fixed_cidr_v6: options
                    .fixed_cidr_v6
                    .as_deref()
                    .map(|cidr| {
                        cidr.parse::<ipnet::Ipv6Net>().map_err(|_| {
                            NetworkError::invalid(format!("invalid CIDR address: {cidr}"))
                        })
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
        if let Some(ports) = options.bridge_port_limit {
            plane.set_bridge_port_limit(ports);
        }
        Ok(NetworkService {
            plane,
            options,
            netns_dir: config.netns_dir(),
            dns,
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

/// Checks a create's networking and plans it: the network mode resolved (`default`
/// becomes `bridge`, or `none` without a default bridge), the networks to join with what
/// was asked of each, and Docker's warnings. Nothing is set up before the first start.
pub fn plan_create(
    net: &NetworkService,
    body: &bollard_stubs::models::ContainerCreateBody,
    host: &mut bollard_stubs::models::HostConfig,
) -> Result<(ContainerNetwork, Vec<String>)> {
    let mode = mode::Mode::parse(host.network_mode.as_deref(), net.has_default_bridge());
    mode::check_conflicts(&mode, body, host)?;
    for entry in host.extra_hosts.iter().flatten() {
        etc_files::parse_extra_host(entry).map_err(NetworkError::invalid)?;
    }
    let exposed = ports::exposed(
        body.exposed_ports.as_deref().unwrap_or_default(),
        host.port_bindings.as_ref(),
    )?;
    ports::requests(
        host.port_bindings.as_ref(),
        host.publish_all_ports == Some(true),
        &exposed,
    )?;
    let resolve = |wanted: &str| -> Result<mode::Resolved> {
        let found = net.plane.get(wanted)?;
        let default_bridge = found.predefined && found.name == "bridge";
        if found.driver != berth_network::Driver::Bridge {
            return Err(NetworkError::invalid(format!(
                "container cannot be connected to the {} network by name; use --network {}",
                found.name, found.name
            )));
        }
        Ok(mode::Resolved {
            id: found.id,
            name: found.name,
            default_bridge,
            subnets: found.ipam,
            subnet6: found.ipam6,
            user_subnet: !default_bridge,
        })
    };
    let network = mode::plan(&mode, host.network_mode.as_deref(), body, &resolve)?;
    host.network_mode = Some(mode.as_string());
    Ok((network, mode::warnings(&mode, host)))
}
