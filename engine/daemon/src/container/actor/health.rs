//! The container's side of its healthcheck: it asks the daemon's health monitor to check
//! it while it runs, and records each result in its state (`State.Health`).

use actix::prelude::*;

use super::ContainerActor;
use crate::health::monitor::{HealthResult, Unwatch, Watch};
use crate::health::{Health, HealthStatus, Probe};

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

    fn handle(&mut self, HealthResult(result): HealthResult, _: &mut Context<Self>) {
        // A paused container refuses execs: that says nothing of its health.
        let running = self.record.state.status == crate::container::record::Status::Running;
        let (Some(probe), true) = (self.probe(), running) else {
            return;
        };
        let started_at = self.record.state.started_at.unwrap_or(result.start);
        let Some(health) = self.record.state.health.as_mut() else {
            return;
        };
        let streak = health.failing_streak;
        let changed = health.record(&probe, started_at, result);
        // The status and the failing streak are written durably when they move. A result
        // that repeats the last one's verdict (a healthy container's, every interval) is
        // written without the fsyncs: a kill -9 still loses none, and a power cut at most
        // the last results of the log, instead of a durable write per container per check.
        if changed.is_some() || health.failing_streak != streak {
            self.persist();
        } else {
            self.persist_replace();
        }
        if let Some(status) = changed {
            self.emit(&format!("health_status: {}", status.as_str()), &[]);
        }
    }
}
