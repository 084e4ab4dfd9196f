//! The container's side of its healthcheck: it asks the daemon's health monitor to check
//! it while it runs, and records each result in its state (`State.Health`).

use actix::prelude::*;

use super::ContainerActor;
use crate::health::monitor::{HealthResult, Unwatch, Watch};
use crate::health::{write_for, Health, HealthStatus, HealthWrite, Probe};

impl ContainerActor {
    fn probe(&self) -> Option<Probe> {
        Probe::from_config(self.record.config.healthcheck.as_ref())
    }

    /// The container runs: checks begin. A (re)start begins at "starting"; a restarted
    /// daemon adopting a running container keeps the health it had.
    pub(super) fn watch_health(&mut self, ctx: &mut Context<Self>, restarted: bool) {
        let Some(probe) = self.probe() else {
            return;
        };
        let state = &mut self.record.state;
        if restarted || state.health.is_none() {
            state.health = Some(Health::restart(state.health.take()));
            self.persist();
        }
        self.services.health.do_send(Watch {
            id: self.record.id.clone(),
            addr: ctx.address(),
            probe,
            started_at: self
                .record
                .state
                .started_at
                .unwrap_or_else(chrono::Utc::now),
        });
    }

    /// The container stopped: checks end, and its health is "unhealthy", as Docker leaves
    /// a stopped container's.
    pub(super) fn unwatch_health(&mut self) {
        if let Some(health) = self.record.state.health.as_mut() {
            health.status = HealthStatus::Unhealthy;
            self.services
                .health
                .do_send(Unwatch(self.record.id.clone()));
        }
    }
}

impl Handler<HealthResult> for ContainerActor {
    type Result = ();

    fn handle(&mut self, HealthResult(result, probe): HealthResult, _: &mut Context<Self>) {
        // A paused container refuses execs: that says nothing of its health.
        if self.record.state.status != crate::container::record::Status::Running {
            return;
        }
        let started_at = self.record.state.started_at.unwrap_or(result.start);
        let Some(health) = self.record.state.health.as_mut() else {
            return;
        };
        let before = (health.status, health.failing_streak);
        let changed = health.record(&probe, started_at, result);
        let now = std::time::Instant::now();
        // A healthy container's result repeats the last verdict every interval: written
        // whole every time, the record cost most of a check's CPU in berthd. See
        // `health::write_for` and the README's design section.
        match write_for(before, health, probe.retries, self.health_log_written, now) {
            HealthWrite::Durable => {
                self.health_log_written = Some(now);
                self.persist();
            }
            HealthWrite::Log => {
                self.health_log_written = Some(now);
                self.persist_replace();
            }
            HealthWrite::Memory => {
                self.health_unsaved = true;
                self.publish();
            }
        }
        if let Some(status) = changed {
            self.emit(&format!("health_status: {}", status.as_str()), &[]);
        }
    }
}

/// Write the health log if results are in memory only (a daemon that stops): what
/// `write_for` left unwritten would otherwise be lost to a plain restart.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushHealth;

impl Handler<FlushHealth> for ContainerActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: FlushHealth, _: &mut Context<Self>) -> Self::Result {
        if !self.health_unsaved {
            return Box::pin(async {});
        }
        let written = self.save_record_as(crate::container::record::Durability::Replace);
        Box::pin(async move {
            let _ = written.await;
        })
    }
}
