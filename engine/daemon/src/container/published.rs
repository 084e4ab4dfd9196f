//! What each container's actor last published of itself: its record as last changed (every
//! save publishes; a healthcheck's result may be published and written only later) and its
//! running execs. Inspect and listings read it without messaging the actor, which answers
//! nothing else while it starts the container (a start waits on the supervisor, up to its
//! deadline when that one is stuck), so `ps` or `inspect` never queue behind a start. This
//! is the view dockerd keeps of its checkpointed containers for the same reason.

use std::sync::Arc;

use bollard_stubs::models::ContainerInspectResponse;
use parking_lot::RwLock;

use super::record::{ContainerDir, ContainerRecord};
use super::view;

pub struct Published {
    /// Shared with the write of the record that published it, and kept as it is by a
    /// publish of the execs alone (an exec's start or exit changes nothing else).
    pub record: Arc<ContainerRecord>,
    pub dir: ContainerDir,
    /// The execs running in it, for inspect's `ExecIDs`.
    pub exec_ids: Vec<String>,
}

impl Published {
    /// `GET /containers/{id}/json`.
    pub fn inspect(&self) -> ContainerInspectResponse {
        let mut inspected = view::inspect(&self.record, &self.dir);
        inspected.exec_ids = (!self.exec_ids.is_empty()).then(|| self.exec_ids.clone());
        inspected
    }
}

/// A shared handle on one container's [`Published`] state; the actor writes it, readers
/// take the newest whole copy.
#[derive(Clone)]
pub struct PublishedView(Arc<RwLock<Arc<Published>>>);

impl PublishedView {
    pub fn new(published: Published) -> PublishedView {
        PublishedView(Arc::new(RwLock::new(Arc::new(published))))
    }

    pub fn get(&self) -> Arc<Published> {
        self.0.read().clone()
    }

    pub(super) fn set(&self, published: Published) {
        *self.0.write() = Arc::new(published);
    }
}
