//! Where a registry is reached, and how it is trusted.
//!
//! As in Docker: `docker.io` is served at `registry-1.docker.io`; a registry is spoken to
//! over HTTPS verified against the system roots plus every `*.crt` in
//! `<certs dir>/HOST[:PORT]/` (with `client.cert`/`client.key` as a client identity); an
//! insecure registry (listed with `--insecure-registry`, or on the loopback network, which
//! Docker treats as insecure by default) is tried over HTTPS without verification and then
//! over plain HTTP. Host names are matched by name only: berth resolves no names to decide.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::auth::Credentials;
use crate::client::Repository;
use crate::Error;

pub const DOCKER_HUB_DOMAIN: &str = berth_images::reference::DEFAULT_DOMAIN;
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";
/// Where `docker login` without a server stores Docker Hub's credentials.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
pub const DEFAULT_CERTS_DIR: &str = "/etc/docker/certs.d";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection silent for this long is considered dropped (and a download resumed).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Insecure {
    Host(String),
    Network { addr: IpAddr, prefix: u8 },
}

impl Insecure {
    fn parse(entry: &str) -> Result<Insecure, Error> {
        let entry = entry
            .trim()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if entry.is_empty() {
            return Err(Error::Config("empty --insecure-registry entry".into()));
        }
        if let Some((addr, prefix)) = entry.split_once('/') {
            let addr: IpAddr = addr.parse().map_err(|_| {
                Error::Config(format!("insecure registry {entry:?}: invalid CIDR address"))
            })?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix.parse().ok().filter(|p| *p <= max).ok_or_else(|| {
                Error::Config(format!("insecure registry {entry:?}: invalid CIDR prefix"))
            })?;
            return Ok(Insecure::Network { addr, prefix });
        }
        if entry.contains("://") {
            return Err(Error::Config(format!(
                "insecure registry {entry:?} should not contain '://'"
            )));
        }
        Ok(Insecure::Host(entry.to_ascii_lowercase()))
    }

    fn matches(&self, domain: &str, host_ip: Option<IpAddr>) -> bool {
        match (self, host_ip) {
            (Insecure::Host(name), _) => {
                *name == domain.to_ascii_lowercase() || Some(name.as_str()) == host_of(domain)
            }
            (Insecure::Network { addr, prefix }, Some(ip)) => in_network(ip, *addr, *prefix),
            (Insecure::Network { .. }, None) => false,
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The host part of `host[:port]` or `[v6]:port`.
fn host_of(domain: &str) -> Option<&str> {
    if let Some(rest) = domain.strip_prefix('[') {
        return rest.split_once(']').map(|(h, _)| h);
    }
    Some(domain.rsplit_once(':').map(|(h, _)| h).unwrap_or(domain))
}

/// The daemon's registry settings.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    insecure: Vec<Insecure>,
    certs_dir: PathBuf,
}

impl RegistryConfig {
    /// `insecure` are `--insecure-registry` entries: `host[:port]` or a CIDR network.
    /// 127.0.0.0/8, ::1 and `localhost` are always insecure, as in Docker.
    pub fn new(insecure: &[String], certs_dir: &Path) -> Result<RegistryConfig, Error> {
        let mut entries = vec![
            Insecure::Network {
                addr: IpAddr::from([127, 0, 0, 0]),
                prefix: 8,
            },
            Insecure::Network {
                addr: "::1".parse().expect("valid address"),
                prefix: 128,
            },
            Insecure::Host("localhost".into()),
        ];
        for entry in insecure {
            entries.push(Insecure::parse(entry)?);
        }
        Ok(RegistryConfig {
            insecure: entries,
            certs_dir: certs_dir.to_path_buf(),
        })
    }

    /// Whether the registry at `domain` (`host[:port]`) may be used without verified TLS.
    pub fn is_insecure(&self, domain: &str) -> bool {
        let ip = host_of(domain).and_then(|h| h.parse::<IpAddr>().ok());
        self.insecure.iter().any(|entry| entry.matches(domain, ip))
    }

    /// The host that serves the registry named `domain` in references.
    pub fn endpoint_host(domain: &str) -> &str {
        if domain == DOCKER_HUB_DOMAIN {
            DOCKER_HUB_HOST
        } else {
            domain
        }
    }

    /// The key under which Docker stores the registry's credentials in config.json.
    pub fn auth_key(domain: &str) -> String {
        if domain == DOCKER_HUB_DOMAIN {
            DOCKER_HUB_AUTH_KEY.to_string()
        } else {
            domain.to_string()
        }
    }

    fn http_client(&self, host: &str, verify: bool) -> Result<reqwest::Client, Error> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .danger_accept_invalid_certs(!verify);
        let dir = self.certs_dir.join(host);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(Error::Config(format!("reading {}: {e}", dir.display())));
            }
        };
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|e| Error::Config(format!("reading {}: {e}", path.display())))
        };
        for path in &entries {
            match path.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let pem = read(path)?;
                    for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                        Error::Config(format!("CA certificate {}: {e}", path.display()))
                    })? {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                Some("cert") => {
                    let key = path.with_extension("key");
                    let mut pem = read(path)?;
                    pem.extend(read(&key).map_err(|_| {
                        Error::Config(format!(
                            "client certificate {} has no key {}",
                            path.display(),
                            key.display()
                        ))
                    })?);
                    let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                        Error::Config(format!("client certificate {}: {e}", path.display()))
                    })?;
                    builder = builder.identity(identity);
                }
                _ => {}
            }
        }
        builder
            .build()
            .map_err(|e| Error::Config(format!("TLS setup for {host}: {e}")))
    }

    /// The endpoints to try, in order, for the registry named `domain`.
    fn endpoints(&self, domain: &str) -> Result<Vec<(Url, reqwest::Client)>, Error> {
        let host = Self::endpoint_host(domain);
        let insecure = self.is_insecure(domain);
        let url = |scheme: &str| {
            Url::parse(&format!("{scheme}://{host}/"))
                .map_err(|e| Error::Config(format!("registry address {host:?}: {e}")))
        };
        let mut endpoints = vec![(url("https")?, self.http_client(host, !insecure)?)];
        if insecure {
            endpoints.push((url("http")?, self.http_client(host, false)?));
        }
        Ok(endpoints)
    }
}

/// Opens repositories on registries with the daemon's settings.
#[derive(Debug, Clone)]
pub struct Registries {
    config: RegistryConfig,
}

impl Registries {
    pub fn new(config: RegistryConfig) -> Registries {
        Registries { config }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Reaches the registry `domain` (the first endpoint that answers `GET /v2/`), ready to
    /// work on repository `path` with `actions` (`pull`, `push`), plus pull access to
    /// `mount_from` repositories for cross-repository mounts.
    pub async fn repository(
        &self,
        domain: &str,
        path: &str,
        credentials: Option<Credentials>,
        actions: &[&str],
        mount_from: &[String],
    ) -> Result<Repository, Error> {
        let mut scopes = vec![format!("repository:{path}:{}", actions.join(","))];
        scopes.extend(
            mount_from
                .iter()
                .filter(|from| from.as_str() != path)
                .map(|from| format!("repository:{from}:pull")),
        );
        let mut last_error = None;
        for (base, http) in self.config.endpoints(domain)? {
            match Repository::connect(
                http,
                base.clone(),
                path,
                credentials.clone(),
                scopes.clone(),
            )
            .await
            {
                Ok(repository) => return Ok(repository),
                Err(e @ Error::Http { .. }) => {
                    tracing::debug!(%base, "registry endpoint unusable: {e}");
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("there is always at least one endpoint"))
    }

    /// Checks credentials against a registry, as `docker login` does.
    pub async fn login(&self, domain: &str, credentials: Credentials) -> Result<(), Error> {
        let mut last_error = None;
        for (base, http) in self.config.endpoints(domain)? {
            match Repository::login(http, base.clone(), credentials.clone()).await {
                Ok(()) => return Ok(()),
                Err(e @ Error::Http { .. }) => {
                    tracing::debug!(%base, "registry endpoint unusable: {e}");
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("there is always at least one endpoint"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(insecure: &[&str]) -> RegistryConfig {
        let list: Vec<String> = insecure.iter().map(|s| s.to_string()).collect();
        RegistryConfig::new(&list, Path::new("/nonexistent")).unwrap()
    }

    #[test]
    fn loopback_is_insecure_by_default_as_in_docker() {
        let c = config(&[]);
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("127.1.2.3"));
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(!c.is_insecure("docker.io"));
        assert!(!c.is_insecure("10.0.0.1:5000"));
        assert!(!c.is_insecure("myregistry:5000"));
    }

    #[test]
    fn insecure_list_takes_hosts_and_networks() {
        let c = config(&["myregistry:5000", "10.1.0.0/16", "other.example"]);
        assert!(c.is_insecure("myregistry:5000"));
        assert!(!c.is_insecure("myregistry:5001"));
        assert!(c.is_insecure("10.1.200.3:443"));
        assert!(!c.is_insecure("10.2.0.1"));
        assert!(c.is_insecure("other.example:8443"));
        for bad in ["", "10.0.0.0/33", "nothost/8"] {
            let list = vec![bad.to_string()];
            assert!(
                RegistryConfig::new(&list, Path::new("/x")).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn docker_hub_is_served_by_registry_1() {
        assert_eq!(
            RegistryConfig::endpoint_host("docker.io"),
            "registry-1.docker.io"
        );
        assert_eq!(
            RegistryConfig::endpoint_host("localhost:5000"),
            "localhost:5000"
        );
        assert_eq!(
            RegistryConfig::auth_key("docker.io"),
            "https://index.docker.io/v1/"
        );
        let endpoints = config(&[]).endpoints("docker.io").unwrap();
        assert_eq!(endpoints.len(), 1, "Docker Hub is HTTPS only");
        assert_eq!(endpoints[0].0.as_str(), "https://registry-1.docker.io/");
        let endpoints = config(&[]).endpoints("127.0.0.1:5000").unwrap();
        let urls: Vec<String> = endpoints.iter().map(|e| e.0.to_string()).collect();
        assert_eq!(urls, ["https://127.0.0.1:5000/", "http://127.0.0.1:5000/"]);
    }
}
