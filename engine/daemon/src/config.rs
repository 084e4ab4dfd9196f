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
        })
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.data_root.join("containers")
    }

    pub fn images_dir(&self) -> PathBuf {
        self.data_root.join("image")
    }
}
