//! What a start sets up and an exit takes down, in order: the namespace, one endpoint per
//! network (`eth0`, `eth1`…), the published ports, the embedded DNS scope and records (user
//! networks), then `/etc/hosts` and `/etc/resolv.conf`. A failing step undoes the steps
//! before it, so a start that fails leaves nothing behind. Blocking: run off the actor.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use berth_network::{Endpoint, EndpointRequest};
use bollard_stubs::models::EndpointSettings;

use super::etc_files::{self, Hosts};
use super::mode::Mode;
use super::settings::{fill_endpoint, ContainerNetwork};
use super::{dns, ports, NetworkError, NetworkService, Result};
use crate::container::record::{ContainerDir, ContainerRecord};

/// Another container whose namespace this one joins (`--network container:X`), as it is now.
pub struct SharedNamespace {
    pub path: PathBuf,
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
}

/// A `--link`ed container's address, the names it gets in the hosts file and the
/// environment variables Docker describes it with (`DB_PORT_5432_TCP_ADDR`…).
pub struct Link {
    pub ip: Ipv4Addr,
    pub names: Vec<String>,
    pub env: Vec<String>,
}

/// Docker's variables for a link named `alias` (of container `from`) to a container at
/// `ip` with `env` and exposed `ports`.
pub fn link_env(
    alias: &str,
    from: &str,
    ip: Ipv4Addr,
    env: &[String],
    ports: &std::collections::BTreeSet<ports::ContainerPort>,
) -> Vec<String> {
    let prefix = alias.to_ascii_uppercase().replace('-', "_");
    let mut vars = vec![format!("{prefix}_NAME=/{from}/{alias}")];
    if let Some(first) = ports.iter().next() {
        vars.push(format!(
            "{prefix}_PORT={}://{ip}:{}",
            first.proto, first.port
        ));
    }
    for port in ports {
        let key = format!(
            "{prefix}_PORT_{}_{}",
            port.port,
            port.proto.as_str().to_ascii_uppercase()
        );
        vars.push(format!("{key}={}://{ip}:{}", port.proto, port.port));
        vars.push(format!("{key}_ADDR={ip}"));
        vars.push(format!("{key}_PORT={}", port.port));
        vars.push(format!("{key}_PROTO={}", port.proto));
    }
    for var in env {
        let name = var.split('=').next().unwrap_or_default();
        if !matches!(name, "HOME" | "HOSTNAME" | "PATH") {
            vars.push(format!("{prefix}_ENV_{var}"));
        }
    }
    vars
}

/// What a start needs that only other actors know.
#[derive(Default)]
pub struct Peers {
    pub shared: Option<SharedNamespace>,
    pub links: Vec<Link>,
}

/// Which network namespace the container's process gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespace {
    /// The host's (`--network host`).
    Host,
    /// A new one of its own with only `lo`, made by the runtime (`--network none`).
    Private,
    /// The one at this path: the daemon's sandbox with the container's endpoints, or
    /// another container's (`--network container:X`).
    Join(PathBuf),
}

/// What a start got: the namespace the runtime joins, the networking to record, and the
/// variables of its links.
pub struct Started {
    pub namespace: Namespace,
    pub network: ContainerNetwork,
    pub link_env: Vec<String>,
}

/// Points the runtime spec's network namespace at what the start chose (the spec has a
/// new network namespace unless the container is on the host's), and adds the links'
/// variables to its environment (the container's own win).
pub fn apply(started: &Started, spec: &mut oci_spec::runtime::Spec) {
    if let Some(process) = spec.process_mut().as_mut() {
        let mut env = process.env().clone().unwrap_or_default();
        for var in &started.link_env {
            let name = var.split('=').next().unwrap_or_default();
            if !env.iter().any(|v| v.split('=').next() == Some(name)) {
                env.push(var.clone());
            }
        }
        process.set_env(Some(env));
    }
    let Namespace::Join(path) = &started.namespace else {
        return;
    };
    let namespaces = spec
        .linux_mut()
        .as_mut()
        .and_then(|linux| linux.namespaces_mut().as_mut());
    for entry in namespaces.into_iter().flatten() {
        if entry.typ() == oci_spec::runtime::LinuxNamespaceType::Network {
            entry.set_path(Some(path.clone()));
        }
    }
}

/// The request for one endpoint.
fn endpoint_request(
    record: &ContainerRecord,
    network: &ContainerNetwork,
    name: &str,
    settings: &EndpointSettings,
    user_network: bool,
) -> Result<EndpointRequest> {
    let ipv4 = settings
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv4_address.as_deref())
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse::<Ipv4Addr>()
                .map_err(|_| NetworkError::invalid(format!("invalid IPv4 address: {a}")))
        })
        .transpose()?;
    let ipv6 = settings
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv6_address.as_deref())
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse::<std::net::Ipv6Addr>()
                .map_err(|_| NetworkError::invalid(format!("invalid IPv6 address: {a}")))
        })
        .transpose()?;
    let mac = network
        .chosen_macs
        .get(name)
        .map(|m| m.parse())
        .transpose()?;
    Ok(EndpointRequest {
        ipv4,
        ipv6,
        mac,
        aliases: settings.aliases.clone().unwrap_or_default(),
        dns_names: if user_network {
            dns::dns_names(record, settings)
        } else {
            Vec::new()
        },
        interface: None,
    })
}

/// An endpoint's addresses as /etc/hosts lists them: IPv4, then IPv6 when it has one.
fn own_addresses(endpoint: &Endpoint) -> impl Iterator<Item = std::net::IpAddr> + '_ {
    std::iter::once(endpoint.address.addr().into())
        .chain(endpoint.address6.map(|a| a.addr().into()))
}

/// Sets up the container's networking for a start.
pub fn start(
    net: &NetworkService,
    record: &ContainerRecord,
    dir: &ContainerDir,
    peers: Peers,
) -> Result<Started> {
    let mode = Mode::parse(
        record.host_config.network_mode.as_deref(),
        net.has_default_bridge(),
    );
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    match mode {
        Mode::Host => {
            let mut hosts = std::fs::read_to_string("/etc/hosts")
                .unwrap_or_else(|_| etc_files::HOSTS_BASE.to_string());
            for (name, ip) in extra_hosts(net, record, None)? {
                hosts.push_str(&format!("{ip}\t{name}\n"));
            }
            write_files(dir, &hosts, &host_resolv)?;
            return Ok(Started {
                namespace: Namespace::Host,
                network: record.network.clone(),
                link_env: Vec::new(),
            });
        }
        Mode::Container(ref target) => {
            let shared = peers.shared.ok_or_else(|| {
                NetworkError::Internal(format!("the namespace of container {target} is unknown"))
            })?;
            let read = |path: &PathBuf| std::fs::read_to_string(path).unwrap_or_default();
            write_files(dir, &read(&shared.hosts), &read(&shared.resolv_conf))?;
            let mut network = record.network.clone();
            network.sandbox_key = shared.path.display().to_string();
            return Ok(Started {
                namespace: Namespace::Join(shared.path),
                network,
                link_env: Vec::new(),
            });
        }
        Mode::None => {
            let hosts = Hosts {
                extra: extra_hosts(net, record, None)?,
                ..Default::default()
            };
            let resolv =
                etc_files::resolv_conf(&host_resolv, &dns::dns_settings(net, record), false);
            write_files(dir, &hosts.render(), &resolv)?;
            let mut network = record.network.clone();
            network.clear_runtime();
            return Ok(Started {
                namespace: Namespace::Private,
                network,
                link_env: Vec::new(),
            });
        }
        Mode::Bridge | Mode::Named(_) => {}
    }
    let netns = net.plane.create_sandbox(&record.id)?;
    let mut attempt = record.clone();
    attempt.network.sandbox_key = netns.display().to_string();
    match connect_all(net, &attempt, dir, &netns, &peers.links, &host_resolv) {
        Ok(mut network) => {
            network.sandbox_key = netns.display().to_string();
            Ok(Started {
                namespace: Namespace::Join(netns),
                network,
                link_env: peers.links.iter().flat_map(|l| l.env.clone()).collect(),
            })
        }
        Err(err) => {
            stop(net, &attempt);
            Err(err)
        }
    }
}

/// The endpoints, ports, DNS and files of a container with a namespace of its own. On
/// failure the caller removes the namespace, which takes every endpoint and port with it.
fn connect_all(
    net: &NetworkService,
    record: &ContainerRecord,
    dir: &ContainerDir,
    netns: &std::path::Path,
    links: &[Link],
    host_resolv: &str,
) -> Result<ContainerNetwork> {
    let mut network = record.network.clone();
    network.clear_runtime();
    let mut endpoints: Vec<(berth_network::Network, Endpoint)> = Vec::new();
    let names: Vec<String> = network.networks.iter().map(|(n, _)| n.clone()).collect();
    for name in names.iter().filter(|n| *n != "none") {
        let settings = network.get(name).cloned().unwrap_or_default();
        let target = net
            .plane
            .get(settings.network_id.as_deref().unwrap_or(name))
            .map_err(|err| match err.kind() {
                berth_network::ErrorKind::NotFound => NetworkError::NotFound(format!(
                    "failed to set up container networking: network {name} not found"
                )),
                _ => err.into(),
            })?;
        let request = endpoint_request(
            record,
            &network,
            name,
            &settings,
            dns::is_user_network(&target),
        )?;
        let endpoint = net.plane.connect(&record.id, netns, &target.id, request)?;
        if let Some(entry) = network.get_mut(name) {
            fill_endpoint(entry, &endpoint);
        }
        endpoints.push((target, endpoint));
    }
    if !endpoints.is_empty() {
        let exposed = ports::exposed(
            record.config.exposed_ports.as_deref().unwrap_or_default(),
            record.host_config.port_bindings.as_ref(),
        )?;
        let requests = ports::requests(
            record.host_config.port_bindings.as_ref(),
            record.host_config.publish_all_ports == Some(true),
            &exposed,
        )?;
        if !requests.is_empty() {
            let _span = tracing::debug_span!("publish").entered();
            let published = net
                .plane
                .publish(&record.id, &requests)
                .map_err(|err| publish_failed(record, &endpoints, err))?;
            network.published = ports::published_map(&published);
        }
    }
    let asked = dns::dns_settings(net, record);
    let user_networks: Vec<&(berth_network::Network, Endpoint)> = endpoints
        .iter()
        .filter(|(n, _)| dns::is_user_network(n))
        .collect();
    if !user_networks.is_empty() {
        tracing::debug_span!("dns")
            .in_scope(|| dns::register(net, record, netns, &user_networks, &asked, host_resolv))?;
    }
    let hostname = record.config.hostname.clone().unwrap_or_default();
    let domainname = record.config.domainname.clone().unwrap_or_default();
    let hosts = Hosts {
        extra: extra_hosts(net, record, endpoints.first().map(|(_, e)| e))?,
        links: links.iter().map(|l| (l.ip, l.names.clone())).collect(),
        own: endpoints
            .iter()
            .flat_map(|(_, e)| own_addresses(e))
            .map(|ip| (ip, hostname.as_str(), domainname.as_str()))
            .collect(),
    };
    let resolv = etc_files::resolv_conf(host_resolv, &asked, !user_networks.is_empty());
    tracing::debug_span!("etc_files").in_scope(|| write_files(dir, &hosts.render(), &resolv))?;
    Ok(network)
}

/// A failed publish in Docker 28's words: "failed to set up container networking: driver
/// failed programming external connectivity on endpoint NAME (ID): …", the endpoint being
/// the one the ports go to (the first with a way out). The kind stays the plane's.
fn publish_failed(
    record: &ContainerRecord,
    endpoints: &[(berth_network::Network, Endpoint)],
    err: berth_network::Error,
) -> NetworkError {
    let Some((_, endpoint)) = endpoints.iter().find(|(n, _)| !n.internal) else {
        return err.into();
    };
    NetworkError::Context {
        context: format!(
            "failed to set up container networking: driver failed programming external connectivity on endpoint {} ({})",
            record.name, endpoint.id
        ),
        source: err,
    }
}

/// `--add-host` entries, `host-gateway` being the default bridge's address (Docker's
/// default host-gateway IP), else the gateway of the container's first network.
fn extra_hosts(
    net: &NetworkService,
    record: &ContainerRecord,
    first: Option<&Endpoint>,
) -> Result<Vec<(String, String)>> {
    let mut entries = Vec::new();
    for entry in record.host_config.extra_hosts.iter().flatten() {
        let (name, ip) = etc_files::parse_extra_host(entry).map_err(NetworkError::invalid)?;
        let ip = if ip == "host-gateway" {
            host_gateway(net, first)
                .ok_or_else(|| {
                    NetworkError::invalid(
                        "unable to derive the IP value for host-gateway: no default bridge",
                    )
                })?
                .to_string()
        } else {
            ip
        };
        entries.push((name, ip));
    }
    Ok(entries)
}

fn host_gateway(net: &NetworkService, first: Option<&Endpoint>) -> Option<Ipv4Addr> {
    let bridge = net
        .has_default_bridge()
        .then(|| net.plane.get("bridge").ok())
        .flatten()
        .and_then(|b| b.ipam.first().map(|p| p.gateway));
    bridge.or_else(|| first.and_then(|e| e.gateway))
}

fn write_files(dir: &ContainerDir, hosts: &str, resolv: &str) -> Result<()> {
    for (path, content) in [(dir.hosts(), hosts), (dir.resolv_conf(), resolv)] {
        fsdriver::atomic::write_replace(&path, content.as_bytes())
            .map_err(|err| NetworkError::Internal(format!("writing {}: {err}", path.display())))?;
    }
    Ok(())
}

/// Takes down what a run set up: DNS names and scope, ports, endpoints, the namespace.
/// Whatever is already gone is skipped; other failures are logged, as an exit cannot fail.
pub fn stop(net: &NetworkService, record: &ContainerRecord) {
    // Only a container the daemon made a namespace for has anything to take down.
    let own = net.netns_path(&record.id);
    if record.network.sandbox_key != own.display().to_string() && !own.exists() {
        return;
    }
    if let Some(dns) = &net.dns {
        dns.unregister(&record.id);
        for (_, settings) in &record.network.networks {
            if let Some(id) = settings.network_id.as_deref() {
                dns.remove_records(id, &record.id);
            }
        }
    }
    match net.plane.remove_sandbox(&record.id) {
        Ok(()) => {}
        Err(err) if err.kind() == berth_network::ErrorKind::NotFound => {}
        Err(err) => tracing::warn!("removing the network of container {}: {err}", record.id),
    }
}

/// `network connect` of a running container: a new endpoint in its namespace (the next
/// `ethN`), its DNS names there, its address in `/etc/hosts` and, on its first
/// user-defined network, `/etc/resolv.conf` pointed at the embedded DNS (as Docker's
/// sandbox starts its resolver then). Returns the endpoint to record.
pub fn connect_running(
    net: &NetworkService,
    record: &ContainerRecord,
    dir: &ContainerDir,
    network: &berth_network::Network,
    settings: &EndpointSettings,
) -> Result<Endpoint> {
    let netns = PathBuf::from(&record.network.sandbox_key);
    if record.network.sandbox_key.is_empty() || netns != net.netns_path(&record.id) {
        return Err(NetworkError::Internal(format!(
            "container {} has no network namespace of its own",
            record.id
        )));
    }
    let mut with_mac = record.network.clone();
    if let Some(mac) = settings.mac_address.clone().filter(|m| !m.is_empty()) {
        with_mac.chosen_macs.insert(network.name.clone(), mac);
    }
    let request = endpoint_request(
        record,
        &with_mac,
        &network.name,
        settings,
        dns::is_user_network(network),
    )?;
    let endpoint = net
        .plane
        .connect(&record.id, &netns, &network.id, request)?;
    // What the record will say once connected: its links there count for the DNS scope.
    let mut joined = record.clone();
    joined
        .network
        .networks
        .push((network.name.clone(), settings.clone()));
    let files = dns::refresh(net, &joined, &netns)
        .and_then(|()| update_files(net, record, dir, &endpoint, true));
    if let Err(err) = files {
        let _ = net.plane.disconnect(&record.id, &network.id);
        if let Some(dns) = &net.dns {
            dns.remove_records(&network.id, &record.id);
        }
        let _ = dns::refresh(net, record, &netns);
        return Err(err);
    }
    Ok(endpoint)
}

/// `network disconnect` of a running container: its endpoint, DNS names and hosts line
/// there go. Its resolv.conf stays as it is, as in Docker (the embedded DNS it may name
/// keeps forwarding).
pub fn disconnect_running(
    net: &NetworkService,
    record: &ContainerRecord,
    dir: &ContainerDir,
    network_id: &str,
) -> Result<()> {
    let leaving = net
        .plane
        .endpoints(&record.id)
        .into_iter()
        .find(|e| e.network_id == network_id);
    net.plane.disconnect(&record.id, network_id)?;
    if let Some(dns) = &net.dns {
        dns.remove_records(network_id, &record.id);
    }
    dns::refresh(
        net,
        record,
        std::path::Path::new(&record.network.sandbox_key),
    )?;
    match leaving {
        Some(endpoint) => update_files(net, record, dir, &endpoint, false),
        None => Ok(()),
    }
}

/// The hosts (and on a first user network, resolv.conf) of a running container after it
/// joined (`joined`) or left the network of `endpoint`, rewritten in place: both files
/// are bind-mounted into it.
fn update_files(
    net: &NetworkService,
    record: &ContainerRecord,
    dir: &ContainerDir,
    endpoint: &Endpoint,
    joined: bool,
) -> Result<()> {
    let write = |path: &std::path::Path, text: &str| {
        etc_files::rewrite_in_place(path, text)
            .map_err(|err| NetworkError::Internal(format!("writing {}: {err}", path.display())))
    };
    let hosts_path = dir.hosts();
    let hosts = std::fs::read_to_string(&hosts_path).map_err(|err| {
        NetworkError::Internal(format!("reading {}: {err}", hosts_path.display()))
    })?;
    let mut updated = hosts.clone();
    for ip in own_addresses(endpoint) {
        let line = etc_files::own_line(
            ip,
            record.config.hostname.as_deref().unwrap_or_default(),
            record.config.domainname.as_deref().unwrap_or_default(),
        );
        updated = if joined {
            etc_files::hosts_with(&updated, &line)
        } else {
            etc_files::hosts_without(&updated, &line)
        };
    }
    if updated != hosts {
        write(&hosts_path, &updated)?;
    }
    let on_user_network = net
        .plane
        .get(&endpoint.network_id)
        .is_ok_and(|n| dns::is_user_network(&n));
    if joined && on_user_network {
        let resolv_path = dir.resolv_conf();
        let current = std::fs::read_to_string(&resolv_path).unwrap_or_default();
        let names_embedded = current.lines().any(|l| {
            l.split_whitespace()
                .eq(["nameserver", etc_files::EMBEDDED_DNS])
        });
        if !names_embedded {
            let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let resolv =
                etc_files::resolv_conf(&host_resolv, &dns::dns_settings(net, record), true);
            write(&resolv_path, &resolv)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_variables_are_dockers() {
        let ports = ports::exposed(&["5432/tcp".into(), "80/tcp".into()], None).unwrap();
        let env = link_env(
            "my-db",
            "web",
            "10.0.0.5".parse().unwrap(),
            &["PATH=/bin".into(), "PGDATA=/data".into()],
            &ports,
        );
        assert_eq!(
            env,
            [
                "MY_DB_NAME=/web/my-db",
                "MY_DB_PORT=tcp://10.0.0.5:80",
                "MY_DB_PORT_80_TCP=tcp://10.0.0.5:80",
                "MY_DB_PORT_80_TCP_ADDR=10.0.0.5",
                "MY_DB_PORT_80_TCP_PORT=80",
                "MY_DB_PORT_80_TCP_PROTO=tcp",
                "MY_DB_PORT_5432_TCP=tcp://10.0.0.5:5432",
                "MY_DB_PORT_5432_TCP_ADDR=10.0.0.5",
                "MY_DB_PORT_5432_TCP_PORT=5432",
                "MY_DB_PORT_5432_TCP_PROTO=tcp",
                "MY_DB_ENV_PGDATA=/data",
            ]
        );
    }
}
