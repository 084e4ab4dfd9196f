//! Ports: what a create asks to publish (`HostConfig.PortBindings`, `-P` over the exposed
//! ports) turned into the data plane's requests, and what was published shown as Docker
//! shows it (`NetworkSettings.Ports`, the `Ports` of `GET /containers/json`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use berth_network::{PortRequest, Protocol, PublishedPort};
use bollard_stubs::models::{Port, PortBinding, PortMap, PortTypeEnum};

use super::{NetworkError, Result};

/// A container port as Docker keys it: `80/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContainerPort {
    pub port: u16,
    pub proto: Protocol,
}

impl ContainerPort {
    /// `80`, `80/tcp`, `53/udp`.
    pub fn parse(key: &str) -> Result<ContainerPort> {
        let bad = || NetworkError::invalid(format!("invalid port specification: \"{key}\""));
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let proto: Protocol = proto
            .parse()
            .map_err(|_| NetworkError::invalid(format!("invalid proto: {proto}")))?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(bad)?;
        Ok(ContainerPort { port, proto })
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.port, self.proto)
    }
}

/// A host port or range of a binding: `""` (any), `8080`, `8000-8010`.
fn host_ports(spec: &str) -> Result<(u16, u16)> {
    let bad = || NetworkError::invalid(format!("invalid port specification: \"{spec}\""));
    let spec = spec.trim();
    if spec.is_empty() {
        return Ok((0, 0));
    }
    let number = |s: &str| s.parse::<u16>().map_err(|_| bad());
    match spec.split_once('-') {
        Some((start, end)) => {
            let (start, end) = (number(start)?, number(end)?);
            if start > end {
                return Err(NetworkError::invalid(format!(
                    "invalid range specified for port: {spec}"
                )));
            }
            Ok((start, end))
        }
        None => {
            let port = number(spec)?;
            Ok((port, port))
        }
    }
}

fn host_ip(ip: Option<&str>) -> Result<Option<IpAddr>> {
    match ip.map(str::trim).filter(|ip| !ip.is_empty()) {
        None => Ok(None),
        Some(text) => {
            let ip: IpAddr = text
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| NetworkError::invalid(format!("invalid host IP address: {text}")))?;
            // `0.0.0.0` and `::` stay: each means every address of its family only, as
            // in Docker 28, where an empty host IP means both.
            Ok(Some(ip))
        }
    }
}

/// Every port the container exposes: the image's and the request's `ExposedPorts`, and
/// those it publishes.
pub fn exposed(exposed: &[String], bindings: Option<&PortMap>) -> Result<BTreeSet<ContainerPort>> {
    let mut ports = BTreeSet::new();
    for key in exposed {
        ports.insert(ContainerPort::parse(key)?);
    }
    for key in bindings.into_iter().flat_map(|b| b.keys()) {
        ports.insert(ContainerPort::parse(key)?);
    }
    Ok(ports)
}

/// What to ask the data plane to publish: each binding of `PortBindings`, and with
/// `PublishAllPorts` an ephemeral host port for each exposed port without one.
pub fn requests(
    bindings: Option<&PortMap>,
    publish_all: bool,
    exposed_ports: &BTreeSet<ContainerPort>,
) -> Result<Vec<PortRequest>> {
    let mut requests = Vec::new();
    let mut bound = BTreeSet::new();
    let mut sorted: BTreeMap<ContainerPort, &Option<Vec<PortBinding>>> = BTreeMap::new();
    for (key, list) in bindings.into_iter().flatten() {
        sorted.insert(ContainerPort::parse(key)?, list);
    }
    for (port, list) in sorted {
        let list = list.as_deref().unwrap_or_default();
        if list.is_empty() {
            continue;
        }
        bound.insert(port);
        for binding in list {
            let (start, end) = host_ports(binding.host_port.as_deref().unwrap_or(""))?;
            let ip = host_ip(binding.host_ip.as_deref())?;
            requests.push(PortRequest {
                host_ip: ip,
                host_port: start,
                host_port_end: end,
                container_port: port.port,
                proto: port.proto,
            });
        }
    }
    if publish_all {
        for port in exposed_ports.iter().filter(|p| !bound.contains(p)) {
            requests.push(PortRequest {
                host_ip: None,
                host_port: 0,
                host_port_end: 0,
                container_port: port.port,
                proto: port.proto,
            });
        }
    }
    Ok(requests)
}

/// `NetworkSettings.Ports`: every exposed port, with the host ports it is published on
/// (`null` for one that is only exposed).
pub fn port_map(
    exposed_ports: &BTreeSet<ContainerPort>,
    published: &BTreeMap<String, Vec<PortBinding>>,
) -> PortMap {
    let mut map: PortMap = exposed_ports.iter().map(|p| (p.key(), None)).collect();
    for (key, bindings) in published {
        map.insert(key.clone(), Some(bindings.clone()));
    }
    map
}

/// What was published, keyed as `NetworkSettings.Ports` keys it.
pub fn published_map(published: &[PublishedPort]) -> BTreeMap<String, Vec<PortBinding>> {
    let mut map: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
    for port in published {
        let key = ContainerPort {
            port: port.container_port,
            proto: port.proto,
        }
        .key();
        map.entry(key).or_default().push(PortBinding {
            host_ip: Some(port.host_ip.to_string()),
            host_port: Some(port.host_port.to_string()),
        });
    }
    map
}

/// The `Ports` of a container in `GET /containers/json` (the `ps` PORTS column): one entry
/// per published binding, and one without a public port per port only exposed.
pub fn summary_ports(
    exposed_ports: &BTreeSet<ContainerPort>,
    published: &BTreeMap<String, Vec<PortBinding>>,
) -> Vec<Port> {
    let mut ports = Vec::new();
    for port in exposed_ports {
        let typ = Some(match port.proto {
            Protocol::Tcp => PortTypeEnum::TCP,
            Protocol::Udp => PortTypeEnum::UDP,
            Protocol::Sctp => PortTypeEnum::SCTP,
        });
        match published.get(&port.key()) {
            Some(bindings) if !bindings.is_empty() => {
                for binding in bindings {
                    ports.push(Port {
                        ip: binding.host_ip.clone(),
                        private_port: port.port,
                        public_port: binding.host_port.as_deref().and_then(|p| p.parse().ok()),
                        typ,
                    });
                }
            }
            _ => ports.push(Port {
                ip: None,
                private_port: port.port,
                public_port: None,
                typ,
            }),
        }
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn bindings(entries: &[(&str, &str, &str)]) -> PortMap {
        let mut map: PortMap = HashMap::new();
        for (key, ip, port) in entries {
            map.entry(key.to_string())
                .or_insert_with(|| Some(Vec::new()))
                .as_mut()
                .unwrap()
                .push(PortBinding {
                    host_ip: Some(ip.to_string()),
                    host_port: Some(port.to_string()),
                });
        }
        map
    }

    #[test]
    fn bindings_become_requests() {
        let map = bindings(&[("80/tcp", "127.0.0.1", "8080"), ("53/udp", "", "")]);
        let exposed = exposed(&[], Some(&map)).unwrap();
        let requests = requests(Some(&map), false, &exposed).unwrap();
        assert_eq!(requests.len(), 2);
        let udp = requests.iter().find(|r| r.proto == Protocol::Udp).unwrap();
        assert_eq!(
            (udp.host_ip, udp.host_port, udp.container_port),
            (None, 0, 53)
        );
        let tcp = requests.iter().find(|r| r.proto == Protocol::Tcp).unwrap();
        assert_eq!(tcp.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!((tcp.host_port, tcp.host_port_end), (8080, 8080));
    }

    #[test]
    fn publish_all_covers_exposed_ports_without_a_binding() {
        let map = bindings(&[("80/tcp", "", "8080")]);
        let exposed = exposed(&["80/tcp".into(), "443/tcp".into()], Some(&map)).unwrap();
        let requests = requests(Some(&map), true, &exposed).unwrap();
        assert_eq!(requests.len(), 2);
        assert!(requests
            .iter()
            .any(|r| r.container_port == 443 && r.host_port == 0));
    }

    #[test]
    fn bad_ports_are_refused_in_dockers_words() {
        assert_eq!(
            ContainerPort::parse("http").unwrap_err().to_string(),
            "invalid port specification: \"http\""
        );
        assert_eq!(
            ContainerPort::parse("80/icmp").unwrap_err().to_string(),
            "invalid proto: icmp"
        );
        let map = bindings(&[("80/tcp", "", "9000-8000")]);
        assert!(requests(Some(&map), false, &BTreeSet::new()).is_err());
        let map = bindings(&[("80/tcp", "not-an-ip", "80")]);
        assert_eq!(
            requests(Some(&map), false, &BTreeSet::new())
                .unwrap_err()
                .to_string(),
            "invalid host IP address: not-an-ip"
        );
    }

    #[test]
    fn inspect_and_ps_show_exposed_and_published_ports() {
        let published = published_map(&[PublishedPort {
            host_ip: "0.0.0.0".parse().unwrap(),
            host_port: 8080,
            container_ip: "10.0.0.2".parse().unwrap(),
            container_port: 80,
            proto: Protocol::Tcp,
        }]);
        let exposed = exposed(&["80/tcp".into(), "443/tcp".into()], None).unwrap();
        let map = port_map(&exposed, &published);
        assert_eq!(map["443/tcp"], None);
        let bound = map["80/tcp"].as_ref().unwrap();
        assert_eq!(bound[0].host_ip.as_deref(), Some("0.0.0.0"));
        assert_eq!(bound[0].host_port.as_deref(), Some("8080"));
        let ps = summary_ports(&exposed, &published);
        assert_eq!(ps.len(), 2);
        let web = ps.iter().find(|p| p.private_port == 80).unwrap();
        assert_eq!(web.public_port, Some(8080));
        let tls = ps.iter().find(|p| p.private_port == 443).unwrap();
        assert_eq!(tls.public_port, None);
    }
}
