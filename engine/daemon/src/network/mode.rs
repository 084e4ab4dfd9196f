//! `HostConfig.NetworkMode` and what a create may combine with it, checked before anything
//! exists: Docker's refusals, in its words, and the networks the container will join.

use std::collections::HashMap;

use bollard_stubs::models::{ContainerCreateBody, EndpointSettings, HostConfig};

use super::settings::ContainerNetwork;
use super::{NetworkError, Result};

/// Where a container's network namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The default network `bridge`.
    Bridge,
    /// A namespace with only `lo`.
    None,
    /// The host's own namespace.
    Host,
    /// Another container's namespace (`container:NAME|ID`).
    Container(String),
    /// A user-defined network, by name or ID.
    Named(String),
}

impl Mode {
    /// `default` and an empty mode mean the default network, or no network at all with
    /// `--bridge none` (as dockerd with `-b none`).
    pub fn parse(mode: Option<&str>, has_default_bridge: bool) -> Mode {
        match mode.unwrap_or("") {
            "" | "default" if has_default_bridge => Mode::Bridge,
            "" | "default" | "none" => Mode::None,
            "bridge" => Mode::Bridge,
            "host" => Mode::Host,
            other => match other.strip_prefix("container:") {
                Some(target) => Mode::Container(target.to_string()),
                None => Mode::Named(other.to_string()),
            },
        }
    }

    /// The mode as the record keeps it (and inspect shows it): `default` resolved.
    pub fn as_string(&self) -> String {
        match self {
            Mode::Bridge => "bridge".to_string(),
            Mode::None => "none".to_string(),
            Mode::Host => "host".to_string(),
            Mode::Container(target) => format!("container:{target}"),
            Mode::Named(name) => name.clone(),
        }
    }

    /// The network the mode puts the container on, when it is one of the data plane's.
    pub fn network(&self) -> Option<&str> {
        match self {
            Mode::Bridge => Some("bridge"),
            Mode::Named(name) => Some(name),
            _ => None,
        }
    }
}

/// Docker's conflicts between the network mode and the rest of the request.
pub fn check_conflicts(mode: &Mode, body: &ContainerCreateBody, host: &HostConfig) -> Result<()> {
    let conflict = |message: &str| Err(NetworkError::invalid(message));
    let set = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    let mac = body.mac_address.as_deref().is_some_and(|m| !m.is_empty());
    match mode {
        Mode::Container(_) => {
            if body.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
                return conflict("conflicting options: hostname and the network mode");
            }
            if set(&host.links) {
                return conflict("conflicting options: container type network can't be used with links. This would result in undefined behavior");
            }
            if set(&host.dns) {
                return conflict("conflicting options: dns and the network mode");
            }
            if set(&host.extra_hosts) {
                return conflict(
                    "conflicting options: custom host-to-IP mapping and the network mode",
                );
            }
            if mac {
                return conflict("conflicting options: mac-address and the network mode");
            }
            if host.port_bindings.as_ref().is_some_and(|p| !p.is_empty())
                || host.publish_all_ports == Some(true)
            {
                return conflict(
                    "conflicting options: port publishing and the container type network mode",
                );
            }
            if set(&body.exposed_ports) {
                return conflict(
                    "conflicting options: port exposing and the container type network mode",
                );
            }
        }
        Mode::Host => {
            if set(&host.links) {
                return conflict("conflicting options: host type networking can't be used with links. This would result in undefined behavior");
            }
            if mac {
                return conflict("conflicting options: mac-address and the network mode");
            }
        }
        _ => {}
    }
    // On a user-defined network a link is a DNS alias of the linking container's own
    // (`dns::link_aliases`); under `none` there is nothing it could be.
    if host.links.iter().flatten().next().is_some() && matches!(mode, Mode::None) {
        return Err(NetworkError::NotSupported(
            "--link with --network none".to_string(),
        ));
    }
    Ok(())
}

/// The warnings Docker returns with such a create.
pub fn warnings(mode: &Mode, host: &HostConfig) -> Vec<String> {
    let publishes = host.port_bindings.as_ref().is_some_and(|p| !p.is_empty())
        || host.publish_all_ports == Some(true);
    if *mode == Mode::Host && publishes {
        vec!["Published ports are discarded when using host network mode".to_string()]
    } else {
        Vec::new()
    }
}

/// A network as far as a create needs it: resolved to its ID and name.
pub struct Resolved {
    pub id: String,
    pub name: String,
    /// The default `bridge` (no `--ip`, no aliases there).
    pub default_bridge: bool,
    pub subnets: Vec<berth_network::IpamPool>,
    /// The IPv6 pool of a network created with `--ipv6`.
    pub subnet6: Option<berth_network::Ipam6Pool>,
    /// Whether the user chose its subnet (an `--ip` is only allowed then).
    pub user_subnet: bool,
}

/// What the container will join, checked against each network: the mode's network first,
/// then the other `EndpointsConfig` entries. `resolve` finds a network by name or ID.
pub fn plan(
    mode: &Mode,
    typed_mode: Option<&str>,
    body: &ContainerCreateBody,
    resolve: &dyn Fn(&str) -> Result<Resolved>,
) -> Result<ContainerNetwork> {
    let mut requested: HashMap<String, EndpointSettings> = body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.clone())
        .unwrap_or_default();
    // The docker CLI keys the mode's endpoint by the mode as typed (`default`, an ID…).
    if let Some(typed) = typed_mode.filter(|t| *t != mode.as_string()) {
        if let Some(settings) = requested.remove(typed) {
            let key = mode
                .network()
                .map(str::to_string)
                .unwrap_or_else(|| mode.as_string());
            requested.insert(key, settings);
        }
    }
    let mut network = ContainerNetwork::default();
    match mode {
        Mode::None | Mode::Host => {
            if requested.keys().any(|k| k != &mode.as_string()) {
                return Err(NetworkError::invalid(if *mode == Mode::Host {
                    "container sharing network namespace with another container or host cannot be connected to any other network"
                } else {
                    "container cannot be connected to multiple networks with one of the networks in private (none) mode"
                }));
            }
            network
                .networks
                .push((mode.as_string(), EndpointSettings::default()));
            return Ok(network);
        }
        Mode::Container(_) => {
            if !requested.is_empty() {
                return Err(NetworkError::invalid("container sharing network namespace with another container or host cannot be connected to any other network"));
            }
            return Ok(network);
        }
        Mode::Bridge | Mode::Named(_) => {}
    }
    let primary = mode.network().unwrap_or("bridge").to_string();
    let mut order: Vec<&String> = requested.keys().filter(|k| **k != primary).collect();
    order.sort();
    let mut names = vec![(primary.clone(), requested.get(&primary))];
    names.extend(order.into_iter().map(|k| (k.clone(), requested.get(k))));
    for (index, (wanted, settings)) in names.into_iter().enumerate() {
        let mut settings = settings.cloned().unwrap_or_default();
        // As dockerd: a network may be created between the container's create and its
        // start, so one missing now is looked for again at the start.
        let resolved = match resolve(&wanted) {
            Err(err) if err.kind() == crate::error::ErrorKind::NotFound => {
                network.networks.push((wanted, settings));
                continue;
            }
            other => other?,
        };
        if index == 0 {
            if let Some(mac) = body.mac_address.clone().filter(|m| !m.is_empty()) {
                settings.mac_address = Some(mac);
            }
        }
        check_endpoint(&resolved, &settings)?;
        if let Some(mac) = settings.mac_address.clone().filter(|m| !m.is_empty()) {
            network.chosen_macs.insert(resolved.name.clone(), mac);
        }
        settings.network_id = Some(resolved.id.clone());
        super::settings::clear_endpoint(&mut settings);
        if network.get(&resolved.name).is_none() {
            network.networks.push((resolved.name, settings));
        }
    }
    Ok(network)
}

/// Docker's checks of one network's `EndpointSettings`.
pub fn check_endpoint(network: &Resolved, settings: &EndpointSettings) -> Result<()> {
    let ipam = settings.ipam_config.as_ref();
    let ipv4 = ipam
        .and_then(|c| c.ipv4_address.as_deref())
        .filter(|a| !a.is_empty());
    let ipv6 = ipam
        .and_then(|c| c.ipv6_address.as_deref())
        .filter(|a| !a.is_empty());
    let aliases = settings.aliases.as_ref().is_some_and(|a| !a.is_empty());
    if network.default_bridge {
        if ipv4.is_some() || ipv6.is_some() {
            return Err(NetworkError::invalid(
                "user specified IP address is supported on user defined networks only",
            ));
        }
        if aliases {
            return Err(NetworkError::invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
    }
    let invalid = |detail: String| {
        NetworkError::invalid(format!(
            "invalid config for network {}: invalid endpoint settings:\n{detail}",
            network.name
        ))
    };
    if let Some(text) = ipv4 {
        let address: std::net::Ipv4Addr = text
            .parse()
            .map_err(|_| invalid(format!("invalid IPv4 address: {text}")))?;
        if !network.user_subnet {
            return Err(NetworkError::invalid("user specified IP address is supported only when connecting to networks with user configured subnets"));
        }
        let inside = network.subnets.iter().any(|pool| match pool.ip_range {
            Some(range) => range.contains(&address),
            None => pool.subnet.contains(&address),
        });
        if !inside {
            return Err(invalid(format!(
                "no configured subnet or ip-range contain the IP address {text}"
            )));
        }
    }
    if let Some(text) = ipv6 {
        let address: std::net::Ipv6Addr = text
            .parse()
            .map_err(|_| invalid(format!("invalid IPv6 address: {text}")))?;
        if !network.user_subnet {
            return Err(NetworkError::invalid("user specified IP address is supported only when connecting to networks with user configured subnets"));
        }
        let inside = network
            .subnet6
            .as_ref()
            .is_some_and(|pool| pool.subnet.contains(&address));
        if !inside {
            return Err(invalid(format!(
                "no configured subnet or ip-range contain the IP address {text}"
            )));
        }
    }
    if let Some(mac) = settings.mac_address.as_deref().filter(|m| !m.is_empty()) {
        mac.parse::<berth_network::MacAddr>()
            .map_err(|err| invalid(err.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{EndpointIpamConfig, NetworkingConfig};

    fn resolver(name: &str) -> Result<Resolved> {
        match name {
            "bridge" => Ok(Resolved {
                id: "b".repeat(64),
                name: "bridge".into(),
                default_bridge: true,
                subnets: Vec::new(),
                subnet6: None,
                user_subnet: false,
            }),
            "front" => Ok(Resolved {
                id: "f".repeat(64),
                name: "front".into(),
                default_bridge: false,
                subnets: vec![berth_network::IpamPool {
                    subnet: "10.1.0.0/24".parse().unwrap(),
                    gateway: "10.1.0.1".parse().unwrap(),
                    ip_range: None,
                    aux_addresses: Default::default(),
                }],
                subnet6: Some(berth_network::Ipam6Pool {
                    subnet: "fd00:1::/64".parse().unwrap(),
                    gateway: "fd00:1::1".parse().unwrap(),
                    ip_range: None,
                    aux_addresses: Default::default(),
                }),
                user_subnet: true,
            }),
            other => Err(NetworkError::NotFound(format!("network {other} not found"))),
        }
    }

    fn with_endpoint(network: &str, settings: EndpointSettings) -> ContainerCreateBody {
        ContainerCreateBody {
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some([(network.to_string(), settings)].into_iter().collect()),
            }),
            ..Default::default()
        }
    }

    fn ip(address: &str) -> EndpointSettings {
        EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(address.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn modes_parse_as_docker_names_them() {
        assert_eq!(Mode::parse(Some("default"), true), Mode::Bridge);
        assert_eq!(Mode::parse(None, false), Mode::None);
        assert_eq!(Mode::parse(Some("host"), true), Mode::Host);
        assert_eq!(
            Mode::parse(Some("container:web"), true),
            Mode::Container("web".into())
        );
        assert_eq!(
            Mode::parse(Some("front"), true),
            Mode::Named("front".into())
        );
    }

    #[test]
    fn the_mode_network_comes_first_and_gets_its_id() {
        let body = with_endpoint("front", ip("10.1.0.9"));
        let planned = plan(&Mode::Named("front".into()), None, &body, &resolver).unwrap();
        assert_eq!(planned.networks.len(), 1);
        let (name, settings) = &planned.networks[0];
        assert_eq!(name, "front");
        assert_eq!(
            settings.network_id.as_deref(),
            Some("f".repeat(64).as_str())
        );
    }

    #[test]
    fn addresses_are_checked_against_the_network() {
        let outside = with_endpoint("front", ip("10.9.9.9"));
        let err = plan(&Mode::Named("front".into()), None, &outside, &resolver).unwrap_err();
        assert_eq!(err.to_string(), "invalid config for network front: invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 10.9.9.9");
        let on_default = with_endpoint("default", ip("10.9.9.9"));
        let err = plan(&Mode::Bridge, Some("default"), &on_default, &resolver).unwrap_err();
        assert_eq!(
            err.to_string(),
            "user specified IP address is supported on user defined networks only"
        );
        let missing = plan(
            &Mode::Named("nope".into()),
            None,
            &ContainerCreateBody::default(),
            &resolver,
        );
        let later = missing.unwrap();
        assert_eq!(later.networks[0].0, "nope", "looked for again at the start");
        let ip6 = |a: &str| EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv6_address: Some(a.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let front = Mode::Named("front".into());
        assert!(plan(
            &front,
            None,
            &with_endpoint("front", ip6("fd00:1::9")),
            &resolver
        )
        .is_ok());
        let err = plan(
            &front,
            None,
            &with_endpoint("front", ip6("fd00:2::9")),
            &resolver,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "invalid config for network front: invalid endpoint settings:\nno configured subnet or ip-range contain the IP address fd00:2::9");
        let err = plan(
            &front,
            None,
            &with_endpoint("front", ip6("10.1.0.9")),
            &resolver,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "invalid config for network front: invalid endpoint settings:\ninvalid IPv6 address: 10.1.0.9");
        let err = plan(
            &Mode::Bridge,
            Some("default"),
            &with_endpoint("default", ip6("fd00:1::9")),
            &resolver,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "user specified IP address is supported on user defined networks only"
        );
    }

    #[test]
    fn the_clis_default_endpoint_follows_the_mode_without_a_default_bridge() {
        let body = with_endpoint("default", EndpointSettings::default());
        let planned = plan(&Mode::None, Some("default"), &body, &resolver).unwrap();
        assert_eq!(planned.networks[0].0, "none");
    }

    #[test]
    fn container_mode_conflicts_with_ports_and_hostname() {
        let mode = Mode::Container("web".into());
        let host = HostConfig {
            publish_all_ports: Some(true),
            ..Default::default()
        };
        let err = check_conflicts(&mode, &ContainerCreateBody::default(), &host).unwrap_err();
        assert_eq!(
            err.to_string(),
            "conflicting options: port publishing and the container type network mode"
        );
        let named = ContainerCreateBody {
            hostname: Some("h".into()),
            ..Default::default()
        };
        assert!(check_conflicts(&mode, &named, &HostConfig::default()).is_err());
        assert!(check_conflicts(&Mode::Bridge, &named, &HostConfig::default()).is_ok());
    }
}
