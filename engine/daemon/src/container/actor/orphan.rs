//! A container whose supervisor died: berthd holds its PID 1 by a pidfd from the start
//! (`container::process`), so it goes on signalling it, sees it exit and takes its real exit
//! status itself (see `crate::supervision` for why berthd can).

use std::time::Duration;

use actix::prelude::*;
use berth_supervisor::ExitRecord;

use super::{ContainerActor, Exited};
use crate::container::exec::ExecExited;
use crate::container::process::{unknown_exit, Process};

/// How often berthd looks again, once a container's PID 1 ended, whether it has to take the
/// exit without the supervisor (one that is stuck or stopped) or may wait for its report.
const REPORT_GRACE: Duration = Duration::from_secs(2);

/// How many more [`REPORT_GRACE`]s a supervisor that runs may take to report an exit: in
/// all, its requests' deadline.
const REPORT_PATIENCE: u32 = 4;

/// Whether process `pid` is stopped (SIGSTOP, or a debugger holds it): it reports nothing
/// until it is let go.
fn is_stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t'))
    })
}

/// The supervisor with this PID died; a successor serves new containers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SupervisorLost {
    pub pid: i32,
}

impl ContainerActor {
    /// Holds the PID 1 of a container that was just started or adopted, and watches it.
    /// `served_by`: the PID of the supervisor that started (or still holds) it.
    pub(super) fn watch_process(&mut self, pid: i32, served_by: i32, ctx: &mut Context<Self>) {
        self.supervised_by = served_by;
        let process = match Process::open(pid) {
            Ok(process) => process,
            Err(err) => {
                // Signals then go through the supervisor; its death would cost the exit code.
                tracing::warn!("container {}: {err}", self.record.id);
                return;
            }
        };
        self.process = Some(process.clone());
        ctx.spawn(
            async move { process.exited().await }
                .into_actor(self)
                .map(move |(), act, ctx| act.process_ended(pid, ctx)),
        );
    }

    fn process_ended(&mut self, pid: i32, ctx: &mut Context<Self>) {
        if !self.record.state.status.is_live() || self.record.state.pid != pid {
            return;
        }
        if self.orphaned {
            self.take_exit(ctx);
            return;
        }
        self.await_report(pid, REPORT_PATIENCE, ctx);
    }

    /// Waits for the supervisor's report of the exit of PID 1 `pid`, [`REPORT_GRACE`] at a
    /// time: a supervisor busy with many starts reports late (it writes the exit record
    /// first, so once that is there the exit is known), and only one that is stopped or
    /// that had all of berthd's patience is gone without.
    fn await_report(&mut self, pid: i32, patience: u32, ctx: &mut Context<Self>) {
        ctx.run_later(REPORT_GRACE, move |act, ctx| {
            if !act.record.state.status.is_live() || act.record.state.pid != pid {
                return;
            }
            let stopped = is_stopped(act.supervised_by);
            if act.orphaned || patience == 0 || stopped || act.recorded_exit().is_some() {
                if act.recorded_exit().is_none() {
                    tracing::warn!(
                        "the supervisor did not report the exit of container {} (pid {pid}): taking it without it",
                        act.record.id
                    );
                }
                act.take_exit(ctx);
            } else {
                act.await_report(pid, patience - 1, ctx);
            }
        });
    }

    /// The exit record the supervisor wrote for the current run (not an earlier one's).
    fn recorded_exit(&self) -> Option<ExitRecord> {
        let started = self.record.state.started_at;
        berth_supervisor::read_exit_record(&self.dir.root)
            .filter(|exit| started.is_none_or(|at| exit.finished_at >= at))
    }

    /// Its supervisor died while it ran: no supervisor knows it.
    pub(crate) fn is_orphaned(&self) -> bool {
        self.orphaned
    }

    /// The exit of a PID 1 that has ended, learnt without the supervisor.
    fn take_exit(&mut self, ctx: &mut Context<Self>) {
        let Some(process) = &self.process else {
            return;
        };
        let exit = process
            .reap()
            .or_else(|| self.recorded_exit())
            .unwrap_or_else(unknown_exit);
        if !self.orphaned {
            self.taken_exit_pid = process.pid();
        }
        ctx.notify(Exited {
            pid: process.pid(),
            exit,
        });
    }

    /// Signals PID 1 through its pidfd. `None` when berthd holds no pidfd for it.
    pub(super) fn signal_directly(&self, signal: i32) -> Option<()> {
        let process = self.process.as_ref()?;
        if let Err(err) = process.signal(signal) {
            tracing::error!("signalling container {}: {err}", self.record.id);
        }
        Some(())
    }
}

impl Handler<SupervisorLost> for ContainerActor {
    type Result = ();

    fn handle(&mut self, SupervisorLost { pid }: SupervisorLost, ctx: &mut Context<Self>) {
        if !self.record.state.status.is_live() || self.supervised_by != pid {
            return;
        }
        self.orphaned = true;
        tracing::warn!(
            "container {} lost its supervisor: berthd manages it itself",
            self.record.id
        );
        if self.process.is_none() {
            // Nothing holds its PID 1 (its pidfd could not be opened): nobody can manage it
            // or learn how it ends. Reported exited only once nothing runs in its cgroup.
            tracing::error!(
                "container {}: no pidfd held, killing what runs in its cgroup",
                self.record.id
            );
            let cgroup = self.cgroup();
            let pid = self.record.state.pid;
            ctx.spawn(
                async move {
                    let cgroup = cgroup?;
                    actix_rt::task::spawn_blocking(move || {
                        crate::container::sweep::kill_unmanaged(cgroup.as_ref())
                    })
                    .await
                    .ok()
                }
                .into_actor(self)
                .map(move |killed, _, ctx| {
                    let exit = match killed {
                        Some(n) if n > 0 => ExitRecord::killed(libc::SIGKILL, chrono::Utc::now()),
                        _ => unknown_exit(),
                    };
                    ctx.notify(Exited { pid, exit });
                }),
            );
            return;
        }
        // Its execs were the dead supervisor's children too: berthd reaps them now.
        for (exec_id, exec_pid) in self.execs.running_pids() {
            let process = match Process::open(exec_pid) {
                Ok(process) => process,
                Err(err) => {
                    tracing::warn!("exec {exec_id}: {err}");
                    continue;
                }
            };
            ctx.spawn(
                async move {
                    process.exited().await;
                    process
                }
                .into_actor(self)
                .map(move |process, _, ctx| {
                    ctx.notify(ExecExited {
                        exec_id,
                        pid: process.pid(),
                        exit: process.reap().unwrap_or_else(unknown_exit),
                    })
                }),
            );
        }
        // An exit the supervisor died before reporting.
        let pid = self.record.state.pid;
        if let Some(process) = self.process.clone() {
            ctx.spawn(
                async move { process.exited().await }
                    .into_actor(self)
                    .map(move |(), act, ctx| act.process_ended(pid, ctx)),
            );
        }
    }
}
