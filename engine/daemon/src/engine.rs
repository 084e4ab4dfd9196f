//! What every request handler can reach: the actors' addresses and the shared services.

use std::sync::Arc;

use actix::Addr;
use berth_images::ImageStore;

use crate::config::DaemonConfig;
use crate::container::exec::ExecIndex;
use crate::container::registry::Registry;
use crate::events::EventBus;
use crate::stats::Sampler;

/// Services the container actors share. None of them holds container state.
pub struct Services {
    pub supervisor: crate::supervision::Supervisor,
    pub registry: Addr<Registry>,
    pub images: Arc<ImageStore>,
    /// `None` when no cgroup hierarchy could be found; containers then run unconfined
    /// and any resource limit is refused.
    pub cgroups: Option<berth_cgroups::Hierarchy>,
    /// Which container each exec belongs to.
    pub execs: ExecIndex,
    /// Where container events go (`GET /events`).
    pub events: Addr<EventBus>,
    /// The one stats sampler of every container.
    pub stats: Addr<Sampler>,
    /// Where removed containers' directories are deleted, off the request path.
    pub trash: crate::container::trash::Trash,
}

#[derive(Clone)]
pub struct Engine {
    pub config: Arc<DaemonConfig>,
    pub images: Arc<ImageStore>,
    pub distribution: Arc<crate::distribution::Distribution>,
    pub services: Arc<Services>,
}

impl Engine {
    pub fn registry(&self) -> &Addr<Registry> {
        &self.services.registry
    }
}
