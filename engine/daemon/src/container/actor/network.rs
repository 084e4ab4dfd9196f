//! The container actor's side of networking: set up before the runtime starts the
//! process, taken down at its exit (the next start waits for that), set up again for the
//! embedded DNS when a restarted daemon adopts the container. The work itself is
//! `crate::network::attach`'s, on a blocking thread.

use std::future::Future;

use actix::prelude::*;
use bollard_stubs::models::EndpointSettings;

use super::ContainerActor;
use crate::container::error::Error;
use crate::container::names::Lookup;
use crate::container::record::{ContainerDir, ContainerRecord};
use crate::engine::Services;
use crate::network::attach::{self, Link, Peers, SharedNamespace, Started};
use crate::network::mode::Mode;
use crate::network::NetworkError;

impl ContainerActor {
    /// Sets up the container's networking for a start, once the previous run's is down.
    pub(super) fn network_up(&mut self) -> impl Future<Output = Result<Started, NetworkError>> {
        let services = self.services.clone();
        let record = self.record.clone();
        let dir = self.dir.clone();
        let previous = self.network_down.take();
        async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            let peers = peers(&services, &record, &dir).await?;
            let net = services.network.clone();
            let span = tracing::Span::current();
            actix_rt::task::spawn_blocking(move || {
                span.in_scope(|| attach::start(&net, &record, &dir, peers))
            })
            .await
            .map_err(|err| NetworkError::Internal(format!("setting up networking: {err}")))?
        }
    }

    /// The start's process is running (`ran`): its networking is recorded. Otherwise what
    /// was set up for it is taken down again.
    pub(super) fn network_started(&mut self, started: Started, ran: bool) {
        if ran {
            self.record.network = started.network;
        } else {
            let mut attempt = self.record.clone();
            attempt.network = started.network;
            self.take_network_down(attempt);
        }
    }

    /// A start whose networking failed: recorded as Docker records it, and refused.
    pub(super) fn network_failed(&mut self, err: NetworkError, ctx: &mut Context<Self>) -> Error {
        self.hub.close();
        self.record.state.exit_code = 128;
        self.record.state.error = err.to_string();
        self.persist();
        self.remove_if_auto(ctx);
        Error::from(err)
    }

    /// At the container's exit: its names, ports, endpoints and namespace go; what was
    /// asked for stays in the record.
    pub(super) fn network_exited(&mut self) {
        let record = self.record.clone();
        self.record.network.clear_runtime();
        self.take_network_down(record);
    }

    fn take_network_down(&mut self, record: ContainerRecord) {
        let net = self.services.network.clone();
        let previous = self.network_down.take();
        self.network_down = Some(actix_rt::spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            let _ = actix_rt::task::spawn_blocking(move || {
                let _span =
                    tracing::debug_span!("network_teardown", container = %record.short_id())
                        .entered();
                attach::stop(&net, &record)
            })
            .await;
        }));
    }

    /// After a daemon restart, for a running container: its DNS scope again.
    pub(super) fn network_readopt(&self) {
        let net = self.services.network.clone();
        let record = self.record.clone();
        let resolv_conf = self.dir.resolv_conf();
        actix_rt::spawn(async move {
            let id = record.id.clone();
            let done = actix_rt::task::spawn_blocking(move || {
                crate::network::dns::readopt(&net, &record, &resolv_conf)
            })
            .await;
            if let Ok(Err(err)) = done {
                tracing::warn!("embedded DNS of container {id}: {err}");
            }
        });
    }
}

/// What a start needs from other containers: the one whose namespace it joins, and the
/// addresses of those it links to.
async fn peers(
    services: &Services,
    record: &ContainerRecord,
    dir: &ContainerDir,
) -> Result<Peers, NetworkError> {
    let mut peers = Peers::default();
    let mode = Mode::parse(
        record.host_config.network_mode.as_deref(),
        services.network.has_default_bridge(),
    );
    if let Mode::Container(target) = &mode {
        let other = running(services, &record.id, target, |other| {
            format!(
                "cannot join network namespace of a non running container: container {} is {}",
                other.name,
                other.state.status.as_str()
            )
        })
        .await?;
        let path = if other.network.sandbox_key.is_empty() {
            std::path::PathBuf::from(format!("/proc/{}/ns/net", other.state.pid))
        } else {
            std::path::PathBuf::from(&other.network.sandbox_key)
        };
        let containers = dir.root.parent().unwrap_or(&dir.root);
        let other_dir = ContainerDir::new(containers, &other.id);
        peers.shared = Some(SharedNamespace {
            path,
            hosts: other_dir.hosts(),
            resolv_conf: other_dir.resolv_conf(),
        });
    }
    // Links on a user-defined network are DNS aliases (`dns::link_aliases`), not peers.
    let legacy_links = match mode {
        Mode::Bridge => record.host_config.links.as_deref().unwrap_or_default(),
        _ => &[],
    };
    for link in legacy_links {
        let (name, alias) = link.split_once(':').unwrap_or((link, link));
        let name = name.trim_start_matches('/');
        let alias = alias.rsplit('/').next().unwrap_or(alias);
        let other = running(services, &record.id, name, |_| {
            format!(
                "Cannot link to a non running container: /{name} AS /{}/{alias}",
                record.name
            )
        })
        .await?;
        let ip = other
            .network
            .get("bridge")
            .and_then(|s| s.ip_address.as_deref())
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| {
                NetworkError::invalid(format!(
                    "Cannot link to /{name}, as it is not on the default bridge network"
                ))
            })?;
        let mut names = vec![alias.to_string()];
        for extra in [
            other.config.hostname.clone().unwrap_or_default(),
            other.name.clone(),
        ] {
            if !extra.is_empty() && !names.contains(&extra) {
                names.push(extra);
            }
        }
        let exposed = crate::network::ports::exposed(
            other.config.exposed_ports.as_deref().unwrap_or_default(),
            other.host_config.port_bindings.as_ref(),
        )?;
        let env = attach::link_env(
            alias,
            &record.name,
            ip,
            other.config.env.as_deref().unwrap_or_default(),
            &exposed,
        );
        peers.links.push(Link { ip, names, env });
    }
    Ok(peers)
}

/// Another container's record, which must be running. (Asking the container itself would
/// wait forever: its actor is busy with this start.)
async fn running(
    services: &Services,
    own_id: &str,
    name: &str,
    not_running: impl Fn(&ContainerRecord) -> String,
) -> Result<ContainerRecord, NetworkError> {
    let (id, addr) = services
        .names
        .send(Lookup(name.to_string()))
        .await
        .map_err(|err| NetworkError::Internal(err.to_string()))?
        .map_err(|err| NetworkError::NotFound(err.to_string()))?;
    if id == own_id {
        return Err(NetworkError::invalid("cannot join own network namespace"));
    }
    let other = addr
        .send(super::Snapshot)
        .await
        .map_err(|err| NetworkError::Internal(err.to_string()))?;
    if other.state.status != crate::container::record::Status::Running {
        return Err(NetworkError::Conflict(not_running(&other)));
    }
    Ok(other)
}

/// `POST /networks/{id}/connect`: the container joins `network`, at once if it runs,
/// else at its next start.
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct ConnectNetwork {
    pub network: berth_network::Network,
    pub settings: EndpointSettings,
}

/// `POST /networks/{id}/disconnect`.
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct DisconnectNetwork {
    pub network: berth_network::Network,
}

type Reply = AtomicResponse<ContainerActor, Result<(), Error>>;

fn refuse(err: NetworkError) -> Reply {
    AtomicResponse::new(Box::pin(fut::ready(Err(Error::from(err)))))
}

impl ContainerActor {
    /// Docker's refusals of a connect or disconnect for the container's network mode.
    fn check_mode_allows_networks(&self) -> Result<(), NetworkError> {
        let mode = Mode::parse(
            self.record.host_config.network_mode.as_deref(),
            self.services.network.has_default_bridge(),
        );
        match mode {
            Mode::Host => Err(NetworkError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            )),
            Mode::Container(_) => Err(NetworkError::Forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            )),
            Mode::None => Err(NetworkError::Forbidden(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
            )),
            Mode::Bridge | Mode::Named(_) => Ok(()),
        }
    }
}

impl Handler<ConnectNetwork> for ContainerActor {
    type Result = Reply;

    fn handle(&mut self, msg: ConnectNetwork, _: &mut Context<Self>) -> Reply {
        if let Err(err) = self.check_mode_allows_networks() {
            return refuse(err);
        }
        let ConnectNetwork {
            network,
            mut settings,
        } = msg;
        if self.record.network.get(&network.name).is_some() {
            return refuse(NetworkError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                self.record.name, network.name
            )));
        }
        let default_bridge = network.predefined && network.name == "bridge";
        let resolved = crate::network::mode::Resolved {
            id: network.id.clone(),
            name: network.name.clone(),
            default_bridge,
            subnets: network.ipam.clone(),
            subnet6: network.ipam6.clone(),
            user_subnet: !default_bridge,
        };
        if let Err(err) = crate::network::mode::check_endpoint(&resolved, &settings) {
            return refuse(err);
        }
        settings.network_id = Some(network.id.clone());
        let chosen_mac = settings.mac_address.clone().filter(|m| !m.is_empty());
        if !self.record.state.status.is_live() {
            crate::network::settings::clear_endpoint(&mut settings);
            self.record_connected(&network, settings, chosen_mac);
            return AtomicResponse::new(Box::pin(fut::ready(Ok(()))));
        }
        let net = self.services.network.clone();
        let record = self.record.clone();
        let dir = self.dir.clone();
        let asked = settings.clone();
        let target = network.clone();
        AtomicResponse::new(Box::pin(
            async move {
                actix_rt::task::spawn_blocking(move || {
                    attach::connect_running(&net, &record, &dir, &target, &asked)
                })
                .await
                .map_err(|err| NetworkError::Internal(format!("connecting: {err}")))?
            }
            .into_actor(self)
            .map(move |outcome, act, _| {
                let endpoint = outcome?;
                crate::network::settings::fill_endpoint(&mut settings, &endpoint);
                act.record_connected(&network, settings, chosen_mac);
                Ok(())
            }),
        ))
    }
}

impl ContainerActor {
    fn record_connected(
        &mut self,
        network: &berth_network::Network,
        settings: EndpointSettings,
        chosen_mac: Option<String>,
    ) {
        if let Some(mac) = chosen_mac {
            self.record
                .network
                .chosen_macs
                .insert(network.name.clone(), mac);
        }
        self.record
            .network
            .networks
            .push((network.name.clone(), settings));
        self.persist();
    }

    fn record_disconnected(&mut self, network: &berth_network::Network) {
        self.record.network.networks.retain(|(name, settings)| {
            name != &network.name && settings.network_id.as_deref() != Some(network.id.as_str())
        });
        self.record.network.chosen_macs.remove(&network.name);
        self.persist();
    }
}

impl Handler<DisconnectNetwork> for ContainerActor {
    type Result = Reply;

    fn handle(&mut self, msg: DisconnectNetwork, _: &mut Context<Self>) -> Reply {
        let network = msg.network;
        let mode = Mode::parse(
            self.record.host_config.network_mode.as_deref(),
            self.services.network.has_default_bridge(),
        );
        if mode == Mode::Host || network.driver == berth_network::Driver::Host {
            return refuse(NetworkError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        if !self.record.network.on_network_id(&network.id)
            && self.record.network.get(&network.name).is_none()
        {
            return refuse(NetworkError::Forbidden(format!(
                "container {} is not connected to network {}",
                self.record.id, network.name
            )));
        }
        if !self.record.state.status.is_live() {
            self.record_disconnected(&network);
            return AtomicResponse::new(Box::pin(fut::ready(Ok(()))));
        }
        let net = self.services.network.clone();
        let record = self.record.clone();
        let dir = self.dir.clone();
        let id = network.id.clone();
        AtomicResponse::new(Box::pin(
            async move {
                actix_rt::task::spawn_blocking(move || {
                    attach::disconnect_running(&net, &record, &dir, &id)
                })
                .await
                .map_err(|err| NetworkError::Internal(format!("disconnecting: {err}")))?
            }
            .into_actor(self)
            .map(move |outcome, act, _| {
                outcome?;
                act.record_disconnected(&network);
                Ok(())
            }),
        ))
    }
}
