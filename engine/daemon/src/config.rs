//! The daemon's configuration, as given on its command line.

use std::path::PathBuf;

pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unsupported host {0:?}: berthd listens only on unix:// sockets for now")]
    UnsupportedHost(String),
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub socket: PathBuf,
    pub distribution: DistributionConfig,
}

/// How berthd talks to registries, and the registry it serves itself.
#[derive(Debug, Clone)]
pub struct DistributionConfig {
    /// `--insecure-registry` entries (`host[:port]` or CIDR).
    pub insecure_registries: Vec<String>,
    /// Per-registry TLS trust, Docker's `/etc/docker/certs.d`.
    pub certs_dir: PathBuf,
    pub max_concurrent_downloads: usize,
    pub max_concurrent_uploads: usize,
    /// `--registry-addr`: serve the Distribution API there.
    pub registry_addr: Option<std::net::SocketAddr>,
    /// `--registry-htpasswd`: bcrypt htpasswd file for basic auth on the served registry.
    pub registry_htpasswd: Option<PathBuf>,
    /// `--registry-tls-cert` and `--registry-tls-key`.
    pub registry_tls: Option<(PathBuf, PathBuf)>,
}

impl Default for DistributionConfig {
    fn default() -> Self {
        DistributionConfig {
            insecure_registries: Vec::new(),
            certs_dir: PathBuf::from(berth_distribution::hosts::DEFAULT_CERTS_DIR),
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 5,
            registry_addr: None,
            registry_htpasswd: None,
            registry_tls: None,
        }
    }
}

impl DaemonConfig {
    pub fn new(data_root: PathBuf, exec_root: PathBuf, host: &str) -> Result<Self, ConfigError> {
        let socket = match host.strip_prefix("unix://") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ if host.starts_with('/') => PathBuf::from(host),
            _ => return Err(ConfigError::UnsupportedHost(host.to_string())),
        };
        Ok(DaemonConfig {
            data_root,
            exec_root,
            socket,
            distribution: DistributionConfig::default(),
        })
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.data_root.join("containers")
    }

    pub fn volumes_dir(&self) -> PathBuf {
        self.data_root.join("volumes")
    }

    pub fn images_dir(&self) -> PathBuf {
        self.data_root.join("image")
    }
}
