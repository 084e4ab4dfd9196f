//! What every request handler can reach: the actors' addresses and the shared services.

use std::sync::Arc;

use actix::Addr;
use berth_images::ImageStore;

use crate::config::DaemonConfig;
use crate::container::exec::ExecIndex;
use crate::container::names::Names;
use crate::events::EventBus;
use crate::image_leases::ImageLeases;
use crate::stats::Sampler;
use crate::supervisor::Supervisor;

/// Services the container actors share. None of them holds container state. The
/// supervisor and the image store are behind traits, so that the actors' logic is
/// unit-tested without root.
pub struct Services {
    pub supervisor: Arc<dyn Supervisor>,
    pub names: Addr<Names>,
    pub images: Arc<dyn ImageLeases>,
    /// `None` when no cgroup hierarchy could be found; containers then run unconfined
    /// and any resource limit is refused.
    pub cgroups: Option<berth_cgroups::Hierarchy>,
    /// The cgroup every container's cgroup is made in (`--cgroup-parent`).
    pub cgroup_parent: String,
    /// Which container each exec belongs to.
    pub execs: ExecIndex,
    /// Where container events go (`GET /events`).
    pub events: Addr<EventBus>,
    /// The one stats sampler of every container.
    pub stats: Addr<Sampler>,
    /// Where removed containers' directories are deleted, off the request path.
    pub trash: crate::container::trash::Trash,
    /// Networks, endpoints, published ports and the embedded DNS.
    pub network: Arc<crate::network::NetworkService>,
    /// The one timer of every container's healthcheck.
    pub health: Addr<crate::health::monitor::HealthMonitor>,
    /// The volumes (`<data-root>/volumes`) and which containers use them.
    pub volumes: Arc<berth_volumes::Store>,
}

#[derive(Clone)]
pub struct Engine {
    pub config: Arc<DaemonConfig>,
    pub images: Arc<ImageStore>,
    pub transfers: Arc<crate::transfers::Transfers>,
    pub services: Arc<Services>,
}

impl Engine {
    pub fn names(&self) -> &Addr<Names> {
        &self.services.names
    }
}
