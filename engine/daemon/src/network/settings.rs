//! What a container's record keeps of its networking: the networks it is to join with
//! what was asked for each (Docker's `EndpointSettings`, request fields), and while it
//! runs, what it got (addresses, endpoint IDs, published ports, its namespace). Inspect
//! shows this as it is; the data plane's endpoint files stay the truth for restarts.

use std::collections::BTreeMap;

use bollard_stubs::models::{EndpointSettings, PortBinding};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerNetwork {
    /// By network name, in the order they were given; the network mode's network first
    /// (it gets `eth0`).
    pub networks: Vec<(String, EndpointSettings)>,
    /// The ports published while the container runs (`NetworkSettings.Ports`), by
    /// container port.
    #[serde(default)]
    pub published: BTreeMap<String, Vec<PortBinding>>,
    /// The container's network namespace while it runs (`NetworkSettings.SandboxKey`).
    #[serde(default)]
    pub sandbox_key: String,
    /// The MAC addresses the user chose (`--mac-address`), by network name; the others
    /// are generated per run.
    #[serde(default)]
    pub chosen_macs: BTreeMap<String, String>,
}

impl ContainerNetwork {
    pub fn get(&self, name: &str) -> Option<&EndpointSettings> {
        self.networks
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut EndpointSettings> {
        self.networks
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    /// Whether the container is on the network of that ID.
    pub fn on_network_id(&self, id: &str) -> bool {
        self.networks
            .iter()
            .any(|(_, s)| s.network_id.as_deref() == Some(id))
    }

    /// Forgets what a run was given; what was asked for stays, as Docker keeps it.
    pub fn clear_runtime(&mut self) {
        for (name, settings) in &mut self.networks {
            clear_endpoint(settings);
            settings.mac_address = Some(self.chosen_macs.get(name).cloned().unwrap_or_default());
        }
        self.published.clear();
        self.sandbox_key.clear();
    }
}

/// Empties the fields of one endpoint that only a running container has.
pub fn clear_endpoint(settings: &mut EndpointSettings) {
    settings.endpoint_id = Some(String::new());
    settings.gateway = Some(String::new());
    settings.ip_address = Some(String::new());
    settings.ip_prefix_len = Some(0);
    settings.ipv6_gateway = Some(String::new());
    settings.global_ipv6_address = Some(String::new());
    settings.global_ipv6_prefix_len = Some(0);
    settings.dns_names = None;
}

/// Fills one network's entry from the endpoint the data plane made.
pub fn fill_endpoint(settings: &mut EndpointSettings, endpoint: &berth_network::Endpoint) {
    settings.network_id = Some(endpoint.network_id.clone());
    settings.endpoint_id = Some(endpoint.id.clone());
    settings.gateway = Some(endpoint.gateway.map(|g| g.to_string()).unwrap_or_default());
    settings.ip_address = Some(endpoint.address.addr().to_string());
    settings.ip_prefix_len = Some(endpoint.address.prefix_len() as i64);
    settings.mac_address = Some(endpoint.mac.to_string());
    settings.dns_names = (!endpoint.dns_names.is_empty()).then(|| endpoint.dns_names.clone());
    settings.ipv6_gateway = Some(endpoint.gateway6.map(|g| g.to_string()).unwrap_or_default());
    settings.global_ipv6_address = Some(
        endpoint
            .address6
            .map(|a| a.addr().to_string())
            .unwrap_or_default(),
    );
    settings.global_ipv6_prefix_len = Some(endpoint.address6.map_or(0, |a| a.prefix_len() as i64));
}
