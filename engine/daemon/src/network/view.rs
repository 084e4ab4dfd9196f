//! Networks and container networking as the Engine API shows them (`GET /networks`,
//! `GET /networks/{id}`, `NetworkSettings` of a container's inspect).

use std::collections::{BTreeSet, HashMap};

use bollard_stubs::models::{
    ConfigReference, Ipam, IpamConfig, Network, NetworkContainer, NetworkSettings,
};

use super::ports::{self, ContainerPort};
use super::settings::ContainerNetwork;

/// One attached (running) container, for a network's inspect.
pub struct Attached {
    pub container_id: String,
    pub name: String,
    /// Its entry for this network, as its record holds it.
    pub settings: bollard_stubs::models::EndpointSettings,
}

fn created(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Docker's `Network` object. `containers` is `None` for a listing (Docker leaves that
/// map empty there) and the attached containers for an inspect.
pub fn network(network: &berth_network::Network, containers: Option<Vec<Attached>>) -> Network {
    let aux =
        |addrs: Vec<(String, String)>| (!addrs.is_empty()).then(|| addrs.into_iter().collect());
    // Docker lists the IPv4 pool, then the IPv6 one.
    let config: Vec<IpamConfig> = network
        .ipam
        .iter()
        .map(|pool| IpamConfig {
            subnet: Some(pool.subnet.to_string()),
            ip_range: pool.ip_range.map(|r| r.to_string()),
            gateway: Some(pool.gateway.to_string()),
            auxiliary_addresses: aux(pool
                .aux_addresses
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect()),
        })
        .chain(network.ipam6.iter().map(|pool| {
            IpamConfig {
                subnet: Some(pool.subnet.to_string()),
                ip_range: pool.ip_range.map(|r| r.to_string()),
                gateway: Some(pool.gateway.to_string()),
                auxiliary_addresses: aux(pool
                    .aux_addresses
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect()),
            }
        }))
        .collect();
    let containers: HashMap<String, NetworkContainer> = containers
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            (
                c.container_id,
                NetworkContainer {
                    name: Some(c.name),
                    endpoint_id: c.settings.endpoint_id.clone(),
                    mac_address: c.settings.mac_address.clone(),
                    ipv4_address: Some(format!(
                        "{}/{}",
                        c.settings.ip_address.unwrap_or_default(),
                        c.settings.ip_prefix_len.unwrap_or(0)
                    )),
                    // Docker shows "" for a container without an IPv6 address.
                    ipv6_address: Some(
                        c.settings
                            .global_ipv6_address
                            .filter(|a| !a.is_empty())
                            .map(|a| {
                                format!("{a}/{}", c.settings.global_ipv6_prefix_len.unwrap_or(0))
                            })
                            .unwrap_or_default(),
                    ),
                },
            )
        })
        .collect();
    Network {
        name: Some(network.name.clone()),
        id: Some(network.id.clone()),
        created: created(network.created).parse().ok(),
        scope: Some("local".to_string()),
        driver: Some(network.driver.as_str().to_string()),
        enable_ipv4: Some(network.driver == berth_network::Driver::Bridge),
        enable_ipv6: Some(network.enable_ipv6),
        ipam: Some(Ipam {
            driver: Some("default".to_string()),
            config: Some(config),
            options: (!network.ipam_options.is_empty())
                .then(|| network.ipam_options.clone().into_iter().collect()),
        }),
        internal: Some(network.internal),
        attachable: Some(network.attachable),
        ingress: Some(false),
        config_from: Some(ConfigReference {
            network: Some(String::new()),
        }),
        config_only: Some(false),
        containers: Some(containers),
        options: Some(network.options.clone().into_iter().collect()),
        labels: Some(network.labels.clone().into_iter().collect()),
        peers: None,
    }
}

/// A container's `NetworkSettings`: its networks as recorded, the ports it exposes and
/// publishes, its namespace; the top-level fields (deprecated, still read by clients)
/// from its `bridge` endpoint, as Docker fills them.
pub fn settings(network: &ContainerNetwork, exposed: &BTreeSet<ContainerPort>) -> NetworkSettings {
    let networks: HashMap<_, _> = network.networks.iter().cloned().collect();
    let bridge = network.get("bridge");
    let field = |pick: fn(&bollard_stubs::models::EndpointSettings) -> Option<String>| {
        Some(bridge.and_then(pick).unwrap_or_default())
    };
    NetworkSettings {
        bridge: Some(String::new()),
        sandbox_id: Some(
            network
                .sandbox_key
                .rsplit('/')
                .next()
                .filter(|_| !network.sandbox_key.is_empty())
                .unwrap_or_default()
                .to_string(),
        ),
        hairpin_mode: Some(false),
        link_local_ipv6_address: Some(String::new()),
        link_local_ipv6_prefix_len: Some(0),
        ports: Some(ports::port_map(exposed, &network.published)),
        sandbox_key: Some(network.sandbox_key.clone()),
        secondary_ip_addresses: None,
        secondary_ipv6_addresses: None,
        endpoint_id: field(|s| s.endpoint_id.clone()),
        gateway: field(|s| s.gateway.clone()),
        global_ipv6_address: field(|s| s.global_ipv6_address.clone()),
        global_ipv6_prefix_len: Some(bridge.and_then(|s| s.global_ipv6_prefix_len).unwrap_or(0)),
        ip_address: field(|s| s.ip_address.clone()),
        ip_prefix_len: Some(bridge.and_then(|s| s.ip_prefix_len).unwrap_or(0)),
        ipv6_gateway: field(|s| s.ipv6_gateway.clone()),
        mac_address: field(|s| s.mac_address.clone()),
        networks: Some(networks),
    }
}
