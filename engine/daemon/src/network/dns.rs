//! The embedded DNS side of a container's networking: the names it answers to on each
//! user-defined network, its scope (the sockets bound at 127.0.0.11 inside its namespace,
//! served by the daemon's one `berth-dns` server), set at start, updated by connect and
//! disconnect, and set again when a restarted daemon adopts the container.

use std::net::SocketAddr;
use std::path::PathBuf;

use berth_network::Endpoint;
use bollard_stubs::models::EndpointSettings;

use super::etc_files::DnsSettings;
use super::{NetworkError, NetworkService, Result};
use crate::container::record::ContainerRecord;

/// Whether a network is user-defined (it has embedded DNS).
pub(super) fn is_user_network(network: &berth_network::Network) -> bool {
    !network.predefined
}

/// The resolver settings of a container: its own, else the daemon's.
pub(super) fn dns_settings(net: &NetworkService, record: &ContainerRecord) -> DnsSettings {
    let host = &record.host_config;
    let pick = |own: &Option<Vec<String>>, daemon: &Vec<String>| {
        own.clone()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| daemon.clone())
    };
    DnsSettings {
        servers: pick(&host.dns, &net.options.dns),
        search: pick(&host.dns_search, &net.options.dns_search),
        options: pick(&host.dns_options, &net.options.dns_options),
    }
}

/// The names a container answers to in the embedded DNS on one network.
pub(super) fn dns_names(record: &ContainerRecord, settings: &EndpointSettings) -> Vec<String> {
    let mut names = vec![record.name.clone()];
    names.extend(settings.aliases.iter().flatten().cloned());
    names.push(record.short_id().to_string());
    if let Some(hostname) = record.config.hostname.as_deref().filter(|h| !h.is_empty()) {
        if !names.iter().any(|n| n == hostname) {
            names.push(hostname.to_string());
        }
    }
    names
}

/// A container's links on user-defined networks, as (alias, name) pairs for its DNS scope,
/// lower-case: its `--link NAME:ALIAS`es when its mode is a user-defined network (on the
/// default bridge they are hosts entries and variables instead), and those given per
/// network (`EndpointSettings.Links`, as `network connect --link` and compose send them).
/// A link without an alias is its name, which resolves already.
fn link_aliases(net: &NetworkService, record: &ContainerRecord) -> Vec<(String, String)> {
    let mode = super::mode::Mode::parse(
        record.host_config.network_mode.as_deref(),
        net.has_default_bridge(),
    );
    let own = match mode {
        super::mode::Mode::Named(_) => record.host_config.links.as_deref().unwrap_or_default(),
        _ => &[],
    };
    let per_network = record
        .network
        .networks
        .iter()
        .filter(|(name, _)| name != "bridge")
        .flat_map(|(_, settings)| settings.links.iter().flatten());
    let mut aliases: Vec<(String, String)> = Vec::new();
    for link in own.iter().chain(per_network) {
        let Some((name, alias)) = link.split_once(':') else {
            continue;
        };
        let name = name.trim_start_matches('/').to_ascii_lowercase();
        let alias = alias
            .rsplit('/')
            .next()
            .unwrap_or(alias)
            .to_ascii_lowercase();
        if !name.is_empty() && !alias.is_empty() && !aliases.iter().any(|(a, _)| *a == alias) {
            aliases.push((alias, name));
        }
    }
    aliases
}

/// Sets the container's records on its user-defined networks and opens its scope: the
/// sockets are bound inside its namespace and handed to the server.
pub(super) fn register(
    net: &NetworkService,
    record: &ContainerRecord,
    netns: &std::path::Path,
    networks: &[&(berth_network::Network, Endpoint)],
    asked: &DnsSettings,
    host_resolv: &str,
) -> Result<()> {
    let Some(dns) = &net.dns else {
        return Ok(());
    };
    for (network, endpoint) in networks {
        dns.set_records(
            &network.id,
            &record.id,
            endpoint.dns_names.clone(),
            vec![endpoint.address.addr()],
            endpoint.address6.iter().map(|a| a.addr()).collect(),
        );
    }
    let sockets = berth_dns::bind_in_netns(netns, berth_dns::EMBEDDED_DNS_ADDR)
        .map_err(|err| NetworkError::Internal(err.to_string()))?;
    let info = scope_info(net, record, networks, asked, host_resolv);
    dns.register(&record.id, sockets, info)
        .map_err(|err| NetworkError::Internal(err.to_string()))
}

/// Whether any of the container's endpoints is on a network with a way out (its DNS scope
/// then forwards what it does not know, as Docker's resolver does for containers with
/// external access, whichever network gives it).
fn has_way_out(net: &NetworkService, record: &ContainerRecord) -> bool {
    net.plane
        .endpoints(&record.id)
        .iter()
        .any(|e| net.plane.get(&e.network_id).is_ok_and(|n| !n.internal))
}

/// What the embedded DNS needs to know of the container: its user-defined networks, where
/// its other names go, whether it may go out at all, its links.
fn scope_info(
    net: &NetworkService,
    record: &ContainerRecord,
    networks: &[&(berth_network::Network, Endpoint)],
    asked: &DnsSettings,
    host_resolv: &str,
) -> berth_dns::ScopeInfo {
    let upstreams: Vec<SocketAddr> = asked
        .servers
        .iter()
        .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    let ndots_set = asked.options.iter().any(|o| o.starts_with("ndots:"))
        || (asked.options.is_empty()
            && host_resolv
                .lines()
                .any(|l| l.starts_with("options") && l.contains("ndots:")));
    berth_dns::ScopeInfo {
        networks: networks
            .iter()
            .map(|(n, _)| berth_dns::ScopeNetwork {
                id: n.id.clone(),
                name: n.name.clone(),
            })
            .collect(),
        upstreams,
        ndots_set,
        internal: !has_way_out(net, record),
        links: link_aliases(net, record),
    }
}

/// After a daemon restart, for a container still running: its endpoints survived in the
/// data plane; its DNS names and scope lived in the old daemon and are set up again. A
/// container that has left every user-defined network but whose resolv.conf still names
/// the embedded DNS had a scope with no networks: it gets that back.
pub fn readopt(
    net: &NetworkService,
    record: &ContainerRecord,
    resolv_conf: &std::path::Path,
) -> Result<()> {
    let Some(_) = &net.dns else {
        return Ok(());
    };
    if record.network.sandbox_key.is_empty() {
        return Ok(());
    }
    let netns = PathBuf::from(&record.network.sandbox_key);
    let endpoints = net.plane.endpoints(&record.id);
    let mut user = Vec::new();
    for endpoint in endpoints {
        let network = net.plane.get(&endpoint.network_id)?;
        if is_user_network(&network) {
            user.push((network, endpoint));
        }
    }
    let had_scope = !user.is_empty()
        || std::fs::read_to_string(resolv_conf).is_ok_and(|text| {
            text.lines().any(|l| {
                l.split_whitespace()
                    .eq(["nameserver", super::etc_files::EMBEDDED_DNS])
            })
        });
    if !had_scope || netns != net.netns_path(&record.id) {
        return Ok(());
    }
    let refs: Vec<&(berth_network::Network, Endpoint)> = user.iter().collect();
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    register(
        net,
        record,
        &netns,
        &refs,
        &dns_settings(net, record),
        &host_resolv,
    )
}

/// The embedded DNS scope of a running container, after its networks changed: registered
/// when it joined its first user-defined network, else updated. A container that left its
/// last user-defined network keeps its scope with no networks, as Docker keeps a sandbox's
/// resolver until the sandbox goes: its resolv.conf still names 127.0.0.11, which then
/// only forwards, and a reconnect finds the sockets it needs already bound (binding
/// 127.0.0.11:53 again right after closing them can fail with EADDRINUSE).
pub(super) fn refresh(
    net: &NetworkService,
    record: &ContainerRecord,
    netns: &std::path::Path,
) -> Result<()> {
    let Some(dns) = &net.dns else {
        return Ok(());
    };
    let mut user = Vec::new();
    for endpoint in net.plane.endpoints(&record.id) {
        let network = net.plane.get(&endpoint.network_id)?;
        if is_user_network(&network) {
            user.push((network, endpoint));
        }
    }
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let asked = dns_settings(net, record);
    let refs: Vec<&(berth_network::Network, Endpoint)> = user.iter().collect();
    let info = scope_info(net, record, &refs, &asked, &host_resolv);
    if user.is_empty() {
        // No scope (it never joined a user network): nothing to keep.
        let _ = dns.update_scope(&record.id, info);
        return Ok(());
    }
    match dns.update_scope(&record.id, info) {
        Ok(()) => {
            for (network, endpoint) in &user {
                dns.set_records(
                    &network.id,
                    &record.id,
                    endpoint.dns_names.clone(),
                    vec![endpoint.address.addr()],
                    endpoint.address6.iter().map(|a| a.addr()).collect(),
                );
            }
            Ok(())
        }
        Err(_) => register(net, record, netns, &refs, &asked, &host_resolv),
    }
}
