//! The lifecycle state machine: start, the exit of PID 1, the restart policy, stop and kill.

use std::time::Duration;

use actix::prelude::*;
use berth_supervisor::{ClientError, ExitRecord};
use chrono::Utc;
use tokio::sync::oneshot;

use super::io::PreparedStart;
use super::{ContainerActor, WaitCondition, Waiter};
use crate::container::error::Error;
use crate::container::record::Status;
use crate::container::shared_namespaces;
use crate::stats;

#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Start;

impl Handler<Start> for ContainerActor {
    type Result = AtomicResponse<Self, Result<(), Error>>;

    fn handle(&mut self, _: Start, ctx: &mut Context<Self>) -> Self::Result {
        let refuse = |err| AtomicResponse::new(Box::pin(fut::ready(Err(err))));
        match self.record.state.status {
            Status::Paused => {
                return refuse(Error::conflict(
                    "cannot start a paused container, try unpause instead",
                ))
            }
            Status::Running | Status::Restarting => return refuse(Error::NotModified),
            Status::Removing | Status::Dead => {
                return refuse(Error::conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    self.record.id
                )))
            }
            Status::Created | Status::Exited => {}
        }
        if self.copying_in {
            return refuse(Error::conflict(format!(
                "container {} is busy: files are being copied into it",
                self.record.id
            )));
        }
        let prepared = match self.prepare_start() {
            Ok(prepared) => prepared,
            Err(err) => {
                // As dockerd does: an auto-remove container whose start fails goes, so a
                // client waiting for its removal (`docker run --rm`) gets its answer.
                self.remove_if_auto(ctx);
                return refuse(err);
            }
        };
        let PreparedStart {
            request,
            io,
            daemon,
        } = prepared;
        let supervisor = self.services.supervisor.clone();
        let network = self.network_up();
        let (services, record) = (self.services.clone(), self.record.clone());
        let cgroup = self.cgroup();
        let id = self.record.id.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let started = network.await.map_err(StartStep::Network)?;
                let joins = match shared_namespaces::resolve(&services, &record).await {
                    Ok(joins) => joins,
                    Err(err) => return Err(StartStep::Namespaces(err, started)),
                };
                let mut request = request;
                crate::network::attach::apply(&started, &mut request.config.spec);
                shared_namespaces::apply(&joins, &mut request.config.spec);
                // Read with no await before the spawn, which goes to the same supervisor:
                // the container is its child, whatever supervisor serves by the time the
                // answer is handled.
                let served_by = supervisor.pid();
                let outcome = supervisor.spawn(request, io).await;
                if !matches!(outcome, Ok(Ok(_))) {
                    clear_failed_start(supervisor, id, cgroup, &outcome).await;
                }
                Ok((outcome, started, served_by))
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                let (outcome, network, served_by) = match result {
                    Ok(done) => done,
                    Err(StartStep::Network(err)) => return Err(act.network_failed(err, ctx)),
                    Err(StartStep::Namespaces(err, network)) => {
                        act.network_started(network, false);
                        act.hub.close();
                        act.remove_if_auto(ctx);
                        return Err(err);
                    }
                };
                act.network_started(network, matches!(outcome, Ok(Ok(_))));
                let state = &mut act.record.state;
                match outcome {
                    Ok(Ok(started)) => {
                        state.status = Status::Running;
                        state.pid = started.spawned.pid;
                        state.started_at = Some(Utc::now());
                        state.finished_at = None;
                        state.exit_code = 0;
                        state.error.clear();
                        state.oom_killed = false;
                        state.stopped_by_user = false;
                        act.persist();
                        act.watch_process(started.spawned.pid, served_by, ctx);
                        act.connect_io(daemon, started.terminal, ctx);
                        act.track();
                        act.emit("start", &[]);
                        act.watch_health(ctx, true);
                        Ok(())
                    }
                    Ok(Err(failure)) => {
                        state.exit_code = failure.kind.exit_code();
                        state.error = failure.message.clone();
                        act.persist();
                        act.hub.close();
                        act.remove_if_auto(ctx);
                        Err(Error::StartFailed {
                            id: act.record.id.clone(),
                            message: failure.message,
                            invalid: !matches!(
                                failure.kind,
                                berth_runtime::StartFailureKind::Other
                            ),
                        })
                    }
                    Err(err) => {
                        act.hub.close();
                        act.remove_if_auto(ctx);
                        Err(Error::internal(format!("supervisor: {err}")))
                    }
                }
            }),
        ))
    }
}

/// The step before the spawn that failed a start.
enum StartStep {
    Network(crate::network::NetworkError),
    /// Another container's namespace could not be joined; the networking that was set up
    /// goes again.
    Namespaces(Error, crate::network::attach::Started),
}

/// Leaves nothing of a start that failed. When its answer was lost (the supervisor died, or
/// missed its deadline) the container may have been forked all the same: it runs in its
/// cgroup, a child of berthd or of the late supervisor, while its record says it never
/// started, and nothing would ever stop it. So what runs in its cgroup is killed and the
/// cgroup removed (also after a refusal: the runtime may have made it); a supervisor that
/// only missed the deadline is told to kill and forget the container too, behind the
/// spawn it may still carry out.
async fn clear_failed_start(
    supervisor: std::sync::Arc<dyn crate::supervisor::Supervisor>,
    id: String,
    cgroup: Option<Box<dyn berth_cgroups::CgroupManager>>,
    outcome: &Result<Result<berth_runtime::Started, berth_runtime::StartFailure>, ClientError>,
) {
    if let Some(cgroup) = cgroup {
        let swept = actix_rt::task::spawn_blocking(move || {
            crate::container::sweep::kill_unmanaged(cgroup.as_ref())
        })
        .await;
        match swept {
            Ok(0) => {}
            Ok(killed) => tracing::warn!(
                "container {id}: its start failed ({}) but {killed} process(es) ran in its cgroup: killed",
                describe(outcome)
            ),
            Err(err) => tracing::warn!("sweeping the cgroup of {id}: {err}"),
        }
    }
    if matches!(outcome, Err(ClientError::Deadline { .. })) {
        actix_rt::spawn(async move {
            let _ = supervisor.signal(&id, libc::SIGKILL).await;
            let _ = supervisor.release(&id).await;
        });
    }
}

fn describe(
    outcome: &Result<Result<berth_runtime::Started, berth_runtime::StartFailure>, ClientError>,
) -> String {
    match outcome {
        Ok(Ok(_)) => "it did not".to_owned(),
        Ok(Err(failure)) => failure.message.clone(),
        Err(err) => err.to_string(),
    }
}

/// The supervisor saw the container's PID 1 exit (or a restarted daemon found it exited).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Exited {
    /// The process that exited; 0 when a restarted daemon no longer knows it.
    pub pid: i32,
    pub exit: ExitRecord,
}

impl Handler<Exited> for ContainerActor {
    type Result = ();

    fn handle(&mut self, Exited { pid, exit }: Exited, ctx: &mut Context<Self>) {
        // The exit of an earlier run, reported twice across a daemon restart (by the
        // supervisor's listing and by its event), must not end the run a restart policy began.
        let earlier_run = pid != 0 && pid != self.record.state.pid;
        if !self.record.state.status.is_live() || earlier_run {
            // The supervisor reports the exit of the run berthd already ended without it (it
            // was stuck): the release berthd sent then may have come before the reaping and
            // been refused, so it is sent again, or the supervisor would hold it for ever.
            if pid != 0 && pid == self.taken_exit_pid {
                self.taken_exit_pid = 0;
                self.release_in_supervisor();
                // Its real exit code, where berthd had to record the unknown one.
                if self.record.state.status == Status::Exited {
                    self.record.state.exit_code = exit.exit_code;
                    self.persist();
                }
            }
            return;
        }
        if let Some(timer) = self.kill_timer.take() {
            ctx.cancel_future(timer);
        }
        if self.pump_running {
            self.exit_awaiting_output = Some(exit);
        } else {
            self.finish_exit(exit, ctx);
        }
    }
}

impl ContainerActor {
    /// Tells the supervisor to forget the container's ended run.
    fn release_in_supervisor(&self) {
        let supervisor = self.services.supervisor.clone();
        let id = self.record.id.clone();
        actix_rt::spawn(async move {
            if let Err(err) = supervisor.release(&id).await {
                tracing::warn!("releasing {id} in the supervisor: {err}");
            }
        });
    }

    pub(super) fn finish_exit(&mut self, exit: ExitRecord, ctx: &mut Context<Self>) {
        self.services.stats.do_send(stats::Untrack {
            id: self.record.id.clone(),
        });
        self.network_exited();
        self.unwatch_health();
        self.stdin.send_replace(None);
        self.terminal = None;
        let cgroup = self.cgroup();
        let state = &mut self.record.state;
        state.status = Status::Exited;
        state.pid = 0;
        state.exit_code = exit.exit_code;
        state.finished_at = Some(exit.finished_at);
        state.oom_killed = cgroup
            .as_ref()
            .is_some_and(|cg| cg.oom_killed().unwrap_or(false));
        if let Some(cg) = cgroup {
            if let Err(err) = cg.remove() {
                tracing::warn!("removing cgroup of {}: {err}", self.record.id);
            }
        }
        self.process = None;
        // A container whose supervisor died is known to no supervisor.
        if !std::mem::take(&mut self.orphaned) {
            self.release_in_supervisor();
        }
        // The waiters of this exit are answered once it is stored: a client whose `wait` (or
        // foreground `run`) returned finds it on disk, as with Docker. Not on the actor's
        // context: a removal may stop the actor first.
        let saved = self.save_record();
        let due = self.take_due(false);
        let code = self.record.state.exit_code as i64;
        actix_rt::spawn(async move {
            let _ = saved.await;
            for waiter in due {
                let _ = waiter.reply.send(code);
            }
        });
        if self.record.state.oom_killed {
            self.emit("oom", &[]);
        }
        let ran_for = match (self.record.state.started_at, self.record.state.finished_at) {
            (Some(started), Some(finished)) => (finished - started).num_seconds().max(0),
            _ => 0,
        };
        self.emit(
            "die",
            &[
                ("exitCode", self.record.state.exit_code.to_string()),
                ("execDuration", ran_for.to_string()),
            ],
        );
        if std::mem::take(&mut self.stop_requested) {
            self.emit("stop", &[]);
        }

        if !self.pending_removals.is_empty() || self.record.host_config.auto_remove == Some(true) {
            self.remove_now(ctx);
            return;
        }
        if let Some(delay) = self.restart_delay() {
            // Docker shows "restarting" for the whole back-off; a stop during it cancels it.
            self.record.state.restart_count += 1;
            self.record.state.status = Status::Restarting;
            self.persist();
            ctx.run_later(delay, |act, ctx| {
                if act.record.state.status == Status::Restarting {
                    act.record.state.status = Status::Exited;
                    ctx.notify(Start);
                }
            });
        }
    }
}

impl ContainerActor {
    /// Whether the restart policy brings the container back, and after how long (Docker
    /// doubles the delay from 100 ms on each consecutive restart).
    pub(super) fn restart_delay(&self) -> Option<Duration> {
        use bollard_stubs::models::RestartPolicyNameEnum as Policy;
        let policy = self.record.host_config.restart_policy.as_ref()?;
        let state = &self.record.state;
        let restart = match policy.name? {
            Policy::ALWAYS | Policy::UNLESS_STOPPED => !state.stopped_by_user,
            Policy::ON_FAILURE => {
                let max = policy.maximum_retry_count.unwrap_or(0);
                state.exit_code != 0
                    && !state.stopped_by_user
                    && (max == 0 || state.restart_count < max)
            }
            _ => false,
        };
        let doublings = state.restart_count.min(10) as u32;
        restart.then(|| Duration::from_millis(100 << doublings))
    }
}

#[derive(Message)]
#[rtype(result = "Result<oneshot::Receiver<i64>, Error>")]
pub struct Stop {
    pub timeout: Option<i64>,
    pub signal: Option<String>,
}

impl Handler<Stop> for ContainerActor {
    type Result = Result<oneshot::Receiver<i64>, Error>;

    fn handle(&mut self, msg: Stop, ctx: &mut Context<Self>) -> Self::Result {
        if self.record.state.status == Status::Restarting {
            self.record.state.stopped_by_user = true;
            self.record.state.status = Status::Exited;
            self.persist();
            let (reply, rx) = oneshot::channel();
            let _ = reply.send(self.record.state.exit_code as i64);
            return Ok(rx);
        }
        if !self.record.state.status.is_live() {
            return Err(Error::NotModified);
        }
        let signal_name = msg
            .signal
            .or_else(|| self.record.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".to_string());
        let signal = crate::container::signal::parse(&signal_name)?;
        let timeout = msg
            .timeout
            .or(self.record.config.stop_timeout)
            .unwrap_or(10);
        self.record.state.stopped_by_user = true;
        self.stop_requested = true;
        let (reply, rx) = oneshot::channel();
        self.waiters.push(Waiter {
            condition: WaitCondition::NextExit,
            reply,
        });
        if timeout == 0 {
            self.signal(libc::SIGKILL, ctx);
        } else {
            self.signal(signal, ctx);
            if timeout > 0 {
                let handle = ctx.run_later(Duration::from_secs(timeout as u64), |act, ctx| {
                    act.kill_timer = None;
                    if act.record.state.status.is_live() {
                        act.signal(libc::SIGKILL, ctx);
                    }
                });
                self.kill_timer = Some(handle);
            }
        }
        Ok(rx)
    }
}

#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Kill {
    pub signal: i32,
}

impl Handler<Kill> for ContainerActor {
    type Result = Result<(), Error>;

    fn handle(&mut self, msg: Kill, ctx: &mut Context<Self>) -> Self::Result {
        if !self.record.state.status.is_live() {
            return Err(self.not_running());
        }
        if msg.signal == libc::SIGKILL {
            self.record.state.stopped_by_user = true;
        }
        self.signal(msg.signal, ctx);
        Ok(())
    }
}
