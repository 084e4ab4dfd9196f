//! Where the daemon lives: `-H/--host`, then `BERTH_HOST`, then `DOCKER_HOST`,
//! then the default socket.

use std::path::PathBuf;

pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostError {
    #[error("invalid host \"{0}\": berth only speaks to a daemon over a unix socket (unix:///path) for now")]
    UnsupportedScheme(String),
    #[error("invalid host \"{0}\": the socket path is empty")]
    EmptyPath(String),
}

/// A resolved daemon address. `display` is kept as the user wrote it so error
/// messages name the exact address that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub socket: PathBuf,
    pub display: String,
}

impl Host {
    pub fn parse(spec: &str) -> Result<Host, HostError> {
        let path = if let Some(path) = spec.strip_prefix("unix://") {
            path
        } else if spec.starts_with('/') {
            // docker accepts a bare absolute path as a unix socket too.
            spec
        } else {
            return Err(HostError::UnsupportedScheme(spec.to_owned()));
        };
        if path.is_empty() {
            return Err(HostError::EmptyPath(spec.to_owned()));
        }
        Ok(Host {
            socket: PathBuf::from(path),
            display: format!("unix://{path}"),
        })
    }

    /// Applies the precedence: flag, `BERTH_HOST`, `DOCKER_HOST`, default.
    /// Empty variables count as unset, as they do for docker.
    pub fn resolve(
        flag: Option<&str>,
        lookup_env: impl Fn(&str) -> Option<String>,
    ) -> Result<Host, HostError> {
        let from_env = |name: &str| lookup_env(name).filter(|v| !v.is_empty());
        let spec = flag
            .map(str::to_owned)
            .or_else(|| from_env("BERTH_HOST"))
            .or_else(|| from_env("DOCKER_HOST"))
            .unwrap_or_else(|| DEFAULT_HOST.to_owned());
        Host::parse(&spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn precedence_is_flag_then_berth_host_then_docker_host_then_default() {
        let both = env(&[
            ("BERTH_HOST", "unix:///b.sock"),
            ("DOCKER_HOST", "unix:///d.sock"),
        ]);
        assert_eq!(
            Host::resolve(Some("unix:///f.sock"), &both).unwrap().socket,
            PathBuf::from("/f.sock")
        );
        assert_eq!(
            Host::resolve(None, &both).unwrap().socket,
            PathBuf::from("/b.sock")
        );
        let docker_only = env(&[("BERTH_HOST", ""), ("DOCKER_HOST", "unix:///d.sock")]);
        assert_eq!(
            Host::resolve(None, &docker_only).unwrap().socket,
            PathBuf::from("/d.sock")
        );
        let none = env(&[]);
        let host = Host::resolve(None, &none).unwrap();
        assert_eq!(host.socket, PathBuf::from("/run/berth/berth.sock"));
        assert_eq!(host.display, DEFAULT_HOST);
    }

    #[test]
    fn tcp_and_ssh_hosts_are_refused_clearly() {
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375"),
            Err(HostError::UnsupportedScheme("tcp://127.0.0.1:2375".into()))
        );
        assert!(Host::parse("ssh://me@box").is_err());
        assert_eq!(
            Host::parse("unix://"),
            Err(HostError::EmptyPath("unix://".into()))
        );
        assert_eq!(
            Host::parse("/tmp/x.sock").unwrap().display,
            "unix:///tmp/x.sock"
        );
    }
}
