//! The daemon's configuration, as given on its command line.

use std::path::PathBuf;

pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// dockerd's port for a `tcp://` host without one (the unencrypted API).
const DEFAULT_TCP_PORT: u16 = 2375;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unsupported host {0:?}: berthd listens on unix://PATH and tcp://ADDR:PORT")]
    UnsupportedHost(String),
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost { host: String, reason: String },
    /// Whoever reaches an unencrypted API has root on the host; berthd has no API TLS yet.
    #[error("{what} {path}: {source}")]
    Root {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to serve the API on {host} without TLS: berthd listens on TCP only on loopback addresses (TLS for the API is not supported by berth yet)")]
    NotLoopback { host: String },
}

/// Where the API is served (`-H`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    /// Always a loopback address: see [`ConfigError::NotLoopback`].
    Tcp(std::net::SocketAddr),
}

impl Host {
    /// Parses a `-H` value as dockerd does: `unix://PATH` (or a bare absolute path), and
    /// `tcp://[HOST][:PORT]` (127.0.0.1 and 2375 when left out).
    pub fn parse(host: &str) -> Result<Host, ConfigError> {
        if let Some(path) = host.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(ConfigError::InvalidHost {
                    host: host.to_owned(),
                    reason: "no socket path".to_owned(),
                });
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        if host.starts_with('/') {
            return Ok(Host::Unix(PathBuf::from(host)));
        }
        let Some(rest) = host.strip_prefix("tcp://") else {
            return Err(ConfigError::UnsupportedHost(host.to_owned()));
        };
        let invalid = |reason: &str| ConfigError::InvalidHost {
            host: host.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = rest.trim_end_matches('/');
        let (address, port) = match rest.rsplit_once(':') {
            // An IPv6 address without a port has colons but ends with ']'.
            Some((address, port)) if !port.ends_with(']') => (address, Some(port)),
            _ => (rest, None),
        };
        let port = match port {
            None | Some("") => DEFAULT_TCP_PORT,
            Some(port) => port
                .parse()
                .map_err(|_| invalid("the port is not a number"))?,
        };
        let address = address.trim_start_matches('[').trim_end_matches(']');
        let ip: std::net::IpAddr = match address {
            "" => std::net::Ipv4Addr::LOCALHOST.into(),
            "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
            other => other
                .parse()
                .map_err(|_| invalid("the address is not an IP address"))?,
        };
        if !ip.is_loopback() {
            return Err(ConfigError::NotLoopback {
                host: host.to_owned(),
            });
        }
        Ok(Host::Tcp(std::net::SocketAddr::new(ip, port)))
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
            Host::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// Every `-H`, in the order given; at least one.
    pub hosts: Vec<Host>,
    pub distribution: DistributionConfig,
    pub network: NetworkOptions,
    /// `--cgroup-parent`: the cgroup every container's own cgroup is made in (dockerd's
    /// flag of the same name), absolute in each hierarchy, e.g. `/berth`.
    pub cgroup_parent: String,
}

/// Where containers' cgroups go unless `--cgroup-parent` says otherwise.
pub const DEFAULT_CGROUP_PARENT: &str = "/berth";

/// The name of the default bridge, as dockerd names its `docker0`.
pub const DEFAULT_BRIDGE: &str = "berth0";
/// berth's own nftables table (family `inet`).
pub const DEFAULT_FIREWALL_TABLE: &str = "berth";

/// How berthd sets up container networking (dockerd's `--bridge`, `--bip`, `--dns`…).
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// The Linux bridge of the default network `bridge`; `None` with `--bridge none`: no
    /// default network, and containers without `--network` get only a loopback.
    pub bridge: Option<String>,
    /// `--bip`: the default bridge's gateway address and subnet (`192.168.1.1/24`).
    pub bip: Option<String>,
    /// `--ipv6`: the default bridge is dual-stack; `--fixed-cidr-v6` its IPv6 subnet.
    pub ipv6: bool,
    pub fixed_cidr_v6: Option<String>,
    /// The nftables table berth keeps its rules in; nothing else is ever touched.
    pub firewall_table: String,
    /// Name servers, search domains and resolver options given to every container that
    /// does not set its own (`--dns`, `--dns-search`, `--dns-opt`).
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// The hidden `--bridge-port-limit` test knob: endpoints past this many on one bridge
    /// are routed (`None`: the bridge's own limit, 1,023).
    pub bridge_port_limit: Option<usize>,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            bridge: Some(DEFAULT_BRIDGE.to_string()),
            bip: None,
            ipv6: false,
            fixed_cidr_v6: None,
            firewall_table: DEFAULT_FIREWALL_TABLE.to_string(),
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_options: Vec::new(),
            bridge_port_limit: None,
        }
    }
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
    /// `hosts` as given with `-H`; none means the default unix socket.
    pub fn new(
        data_root: PathBuf,
        exec_root: PathBuf,
        hosts: &[String],
    ) -> Result<Self, ConfigError> {
        let mut parsed = hosts
            .iter()
            .map(|host| Host::parse(host))
            .collect::<Result<Vec<_>, _>>()?;
        if parsed.is_empty() {
            parsed.push(Host::parse(DEFAULT_HOST)?);
        }
        // The supervisor takes state directories as absolute paths only, and a relative
        // root would change meaning with berthd's working directory.
        let absolute = |what, path: PathBuf| {
            std::path::absolute(&path).map_err(|source| ConfigError::Root { what, path, source })
        };
        let data_root = absolute("data root", data_root)?;
        let exec_root = absolute("exec root", exec_root)?;
        Ok(DaemonConfig {
            data_root,
            exec_root,
            hosts: parsed,
            distribution: DistributionConfig::default(),
            network: NetworkOptions::default(),
            cgroup_parent: DEFAULT_CGROUP_PARENT.to_string(),
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

    /// Networks and endpoints, one JSON file each.
    pub fn network_dir(&self) -> PathBuf {
        self.data_root.join("network")
    }

    /// Where each container's network namespace is bind-mounted, named by its ID.
    pub fn netns_dir(&self) -> PathBuf {
        self.exec_root.join("netns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_dockerd_parses_them() {
        let tcp = |s: &str| Host::Tcp(s.parse().unwrap());
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2376").unwrap(),
            tcp("127.0.0.1:2376")
        );
        assert_eq!(Host::parse("tcp://").unwrap(), tcp("127.0.0.1:2375"));
        assert_eq!(Host::parse("tcp://:4243").unwrap(), tcp("127.0.0.1:4243"));
        assert_eq!(
            Host::parse("tcp://localhost:1").unwrap(),
            tcp("127.0.0.1:1")
        );
        assert_eq!(Host::parse("tcp://[::1]:5").unwrap(), tcp("[::1]:5"));
        assert_eq!(Host::parse("tcp://[::1]").unwrap(), tcp("[::1]:2375"));
        assert_eq!(
            Host::parse("unix:///run/x.sock").unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Host::parse("/run/y.sock").unwrap(),
            Host::Unix("/run/y.sock".into())
        );
    }

    #[test]
    fn bad_and_non_loopback_hosts_are_refused() {
        for host in [
            "tcp://0.0.0.0:2375",
            "tcp://192.168.1.2:2375",
            "tcp://[::]:1",
        ] {
            let err = Host::parse(host).unwrap_err();
            assert!(
                matches!(err, ConfigError::NotLoopback { .. }),
                "{host}: {err}"
            );
            assert!(err.to_string().contains("without TLS"), "{err}");
        }
        for host in ["tcp://127.0.0.1:x", "tcp://example.com:1", "unix://"] {
            assert!(
                matches!(Host::parse(host), Err(ConfigError::InvalidHost { .. })),
                "{host}"
            );
        }
        assert!(matches!(
            Host::parse("fd://"),
            Err(ConfigError::UnsupportedHost(_))
        ));
    }

    #[test]
    fn no_host_means_the_default_socket() {
        let config = DaemonConfig::new("/d".into(), "/e".into(), &[]).unwrap();
        assert_eq!(config.hosts, vec![Host::Unix(DEFAULT_HOST[7..].into())]);
    }

    #[test]
    fn relative_roots_are_made_absolute() {
        let config = DaemonConfig::new("d".into(), "./e".into(), &[]).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(config.data_root, cwd.join("d"));
        assert!(config.exec_root.is_absolute() && config.exec_root.ends_with("e"));
    }
}
