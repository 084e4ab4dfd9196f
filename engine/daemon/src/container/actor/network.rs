//! The container actor's side of networking: set up before the runtime starts the
//! process, taken down at its exit (the next start waits for that), set up again for the
//! embedded DNS when a restarted daemon adopts the container. The work itself is
//! `crate::network::attach`'s, on a blocking thread.

use std::future::Future;

use actix::prelude::*;

use super::ContainerActor;
use crate::api::error::ApiError;
use crate::container::record::{ContainerDir, ContainerRecord};
use crate::container::registry::Lookup;
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
            actix_rt::task::spawn_blocking(move || attach::start(&net, &record, &dir, peers))
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
    pub(super) fn network_failed(
        &mut self,
        err: NetworkError,
        ctx: &mut Context<Self>,
    ) -> ApiError {
        self.hub.close();
        self.record.state.exit_code = 128;
        self.record.state.error = err.to_string();
        self.persist();
        if self.record.host_config.auto_remove == Some(true) {
            self.remove_now(ctx);
        }
        ApiError::from(err)
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
            let _ = actix_rt::task::spawn_blocking(move || attach::stop(&net, &record)).await;
        }));
    }

    /// After a daemon restart, for a running container: its DNS scope again.
    pub(super) fn network_readopt(&self) {
        let net = self.services.network.clone();
        let record = self.record.clone();
        actix_rt::spawn(async move {
            let id = record.id.clone();
            let done = actix_rt::task::spawn_blocking(move || attach::readopt(&net, &record)).await;
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
    for link in record.host_config.links.iter().flatten() {
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
        peers.links.push(Link { ip, names });
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
        .registry
        .send(Lookup(name.to_string()))
        .await
        .map_err(|err| NetworkError::Internal(err.to_string()))?
        .map_err(|err| NetworkError::NotFound(err.message))?;
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
