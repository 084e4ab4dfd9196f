//! One actor per container. It owns the container's record and state machine
//! (created → running → exited → removing); everything else reaches them by message.
//!
//! This file holds the actor's state and what every concern shares (persisting the
//! record, events, waiters, signals); `lifecycle` the state machine (start, exit, restart
//! policy, stop, kill), `io` the stdio plumbing and attach, `removal` the removal, and
//! `pause`, `copy_in`, `observe`, `detached`, `update` one message family each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use berth_supervisor::ExitRecord;
use tokio::sync::{oneshot, watch};

use super::error::Error;
use super::exec::Execs;
use super::output::{LogProgress, OutputHub};
use super::published::{Published, PublishedView};
use super::record::{ContainerDir, ContainerRecord, Durability, Status};
use super::spec;
use super::stdio::{StdinPort, TerminalHandle};
use crate::engine::Services;
use crate::events::Publish;
use crate::stats;

mod copy_in;
mod detached;
mod health;
mod io;
mod lifecycle;
mod network;
mod observe;
mod orphan;
mod pause;
mod removal;
mod update;

pub use copy_in::{CopyInGuard, OpenView};
pub use detached::Detached;
pub use health::FlushHealth;
pub use io::{Adopt, AdoptedIo, Attach, Attachment, Resize};
pub use lifecycle::{Exited, Kill, Start, Stop};
pub use network::{ConnectNetwork, DisconnectNetwork};
pub use observe::{LogFollow, LogFollowing, TopProcesses};
pub use orphan::SupervisorLost;
pub use pause::{Pause, Unpause};
pub use removal::Remove;
pub use update::Update;

pub struct ContainerActor {
    pub(super) record: ContainerRecord,
    pub(super) dir: ContainerDir,
    pub(super) services: Arc<Services>,
    hub: Arc<OutputHub>,
    /// The running process's stdin, for attached clients (`None` before a start and after
    /// an exit, or without `OpenStdin`).
    stdin: watch::Sender<Option<StdinPort>>,
    /// The running process's terminal, for resizing.
    terminal: Option<TerminalHandle>,
    pub(super) execs: Execs,
    waiters: Vec<Waiter>,
    /// Replies owed to a forced remove that is waiting for the container to die.
    pending_removals: Vec<oneshot::Sender<Result<(), Error>>>,
    kill_timer: Option<SpawnHandle>,
    /// A `stop` is under way: its exit is followed by a "stop" event.
    stop_requested: bool,
    /// How far the current run's output has reached the log file, for `logs -f`; `None`
    /// while nothing pumps output.
    log_progress: Option<tokio::sync::watch::Receiver<LogProgress>>,
    /// What inspect and listings read without a message; see [`PublishedView`].
    published: PublishedView,
    persist_seq: Arc<AtomicU64>,
    /// When a healthcheck's result last wrote the record (see `health::write_for`).
    health_log_written: Option<std::time::Instant>,
    /// A health result is published but not written (see `health::write_for`).
    health_unsaved: bool,
    persist_lock: Arc<parking_lot::Mutex<()>>,
    /// Whether output is still being copied from the container's pipes.
    pump_running: bool,
    /// An exit that is recorded only once the output is drained, so that a container never
    /// shows as exited while its last lines are still missing from its log (as in Docker).
    exit_awaiting_output: Option<ExitRecord>,
    /// A copy into the stopped container's file system is under way (`cp`): it has the
    /// overlay mounted, so the container must not start until it ends.
    pub(super) copying_in: bool,
    /// The taking down of the last run's networking, which the next start waits for.
    network_down: Option<tokio::task::JoinHandle<()>>,
    /// A removal asked for the anonymous volumes to go too (`rm -v`; `--rm` always does).
    remove_volumes: bool,
    /// The running PID 1, held by a pidfd: signalled and watched without the supervisor.
    process: Option<super::process::Process>,
    /// The PID of the supervisor that parents the running process.
    supervised_by: i32,
    /// That supervisor died: berthd manages the process alone, and no supervisor knows it.
    orphaned: bool,
    /// The PID 1 whose exit berthd took without the supervisor's report (it was stuck).
    taken_exit_pid: i32,
    /// What the execs of the current run start from, built at the first (see `ExecBase`).
    pub(crate) exec_base: Option<crate::container::exec::ExecBase>,
}

struct Waiter {
    condition: WaitCondition,
    reply: oneshot::Sender<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl Actor for ContainerActor {
    type Context = Context<Self>;

    /// A restart that was pending when the previous daemon stopped goes ahead now.
    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.record.state.status == Status::Restarting {
            self.record.state.status = Status::Exited;
            ctx.notify(Start);
        }
    }
}

impl ContainerActor {
    pub fn new(record: ContainerRecord, dir: ContainerDir, services: Arc<Services>) -> Self {
        let published = PublishedView::new(Published {
            record: Arc::new(record.clone()),
            dir: dir.clone(),
            exec_ids: Vec::new(),
        });
        ContainerActor {
            record,
            dir,
            services,
            hub: Arc::default(),
            stdin: watch::channel(None).0,
            terminal: None,
            execs: Execs::default(),
            waiters: Vec::new(),
            pending_removals: Vec::new(),
            kill_timer: None,
            stop_requested: false,
            log_progress: None,
            published,
            persist_seq: Arc::default(),
            health_log_written: None,
            health_unsaved: false,
            persist_lock: Arc::default(),
            pump_running: false,
            exit_awaiting_output: None,
            copying_in: false,
            network_down: None,
            remove_volumes: false,
            process: None,
            supervised_by: 0,
            exec_base: None,
            orphaned: false,
            taken_exit_pid: 0,
        }
    }

    /// Saves the record off the actor's thread. Writes may finish out of order, so each
    /// carries a sequence number and a write that is no longer the newest is skipped.
    fn persist(&mut self) {
        drop(self.save_record());
    }

    /// [`Self::persist`], with a handle that completes once the record is written (or the
    /// write was skipped for a newer one).
    fn save_record(&mut self) -> tokio::task::JoinHandle<()> {
        self.save_record_as(Durability::of(&self.record))
    }

    /// [`Self::persist`] without the fsyncs, for changes a power cut may lose but a kill -9
    /// must not (a healthcheck's log, written now and then).
    fn persist_replace(&mut self) {
        drop(self.save_record_as(Durability::Replace));
    }

    fn save_record_as(&mut self, durability: Durability) -> tokio::task::JoinHandle<()> {
        // The copy published is the one written: one copy of the record per save.
        let record = self.publish();
        self.health_unsaved = false;
        let seq = self.persist_seq.fetch_add(1, Ordering::SeqCst) + 1;
        let latest = self.persist_seq.clone();
        let lock = self.persist_lock.clone();
        let dir = self.dir.clone();
        actix_rt::task::spawn_blocking(move || {
            let _guard = lock.lock();
            if latest.load(Ordering::SeqCst) != seq {
                return;
            }
            if let Err(err) = record.save_as(&dir, durability) {
                tracing::error!("{err}");
            }
        })
    }

    /// The handle readers hold on what this actor publishes.
    pub fn published(&self) -> PublishedView {
        self.published.clone()
    }

    /// Publishes the record and running execs as they are now, and answers the record as
    /// published. Every record change is published (saved, or for a healthcheck's result
    /// perhaps only published); exec starts and exits publish themselves.
    pub(in crate::container) fn publish(&self) -> Arc<ContainerRecord> {
        let record = Arc::new(self.record.clone());
        self.published.set(Published {
            record: record.clone(),
            dir: self.dir.clone(),
            exec_ids: self.execs.running_ids(),
        });
        record
    }

    /// Publishes the running execs with the record as last published, which is the record
    /// as it is (every change of it is published): no copy of the record for an exec's exit.
    pub(in crate::container) fn publish_execs(&self) {
        let last = self.published.get();
        self.published.set(Published {
            record: last.record.clone(),
            dir: self.dir.clone(),
            exec_ids: self.execs.running_ids(),
        });
    }

    fn not_running(&self) -> Error {
        Error::conflict(format!("Container {} is not running", self.record.id))
    }

    fn wake(&mut self, removed: bool) {
        let code = self.record.state.exit_code as i64;
        for waiter in self.take_due(removed) {
            let _ = waiter.reply.send(code);
        }
    }

    /// The waiters whose condition is met now (`removed`: the container is gone).
    fn take_due(&mut self, removed: bool) -> Vec<Waiter> {
        let (due, waiting) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|waiter| match waiter.condition {
                WaitCondition::NotRunning | WaitCondition::NextExit => true,
                WaitCondition::Removed => removed,
            });
        self.waiters = waiting;
        due
    }

    /// Publishes one of this container's events.
    pub(super) fn emit(&self, action: &str, extra: &[(&str, String)]) {
        let mut event = super::notify::event(&self.record, action);
        for (key, value) in extra {
            event = event.with(key, value.clone());
        }
        self.services.events.do_send(Publish(event));
    }

    /// Sends a signal to the container's PID 1. A paused container is thawed right after,
    /// so that the signal is delivered, when the signal is meant to stop it: as Docker
    /// does, that is SIGKILL, the container's stop signal, or any signal when the container
    /// has no stop signal of its own.
    fn signal(&self, signal: i32, ctx: &mut Context<Self>) {
        let supervisor = self.services.supervisor.clone();
        let id = self.record.id.clone();
        let stop_signal = self
            .record
            .config
            .stop_signal
            .as_deref()
            .and_then(|name| super::signal::parse(name).ok());
        let thaw = (self.record.state.status == Status::Paused
            && (signal == libc::SIGKILL || stop_signal.is_none_or(|s| s == signal)))
        .then(|| self.cgroup())
        .flatten();
        self.emit("kill", &[("signal", signal.to_string())]);
        // Through the pidfd when berthd holds one: it works whatever state the supervisor
        // is in, so stop, kill and rm -f always complete.
        let direct = self.signal_directly(signal).is_some();
        ctx.spawn(
            async move {
                if !direct {
                    if let Err(err) = supervisor.signal(&id, signal).await {
                        tracing::error!("signalling container {id}: {err}");
                    }
                }
                let cgroup = thaw?;
                match actix_rt::task::spawn_blocking(move || cgroup.thaw()).await {
                    Ok(Ok(())) => Some(()),
                    Ok(Err(err)) => {
                        tracing::warn!("unpausing container {id} to deliver a signal: {err}");
                        None
                    }
                    Err(err) => {
                        tracing::warn!("unpausing container {id}: {err}");
                        None
                    }
                }
            }
            .into_actor(self)
            .map(|thawed, act, _| {
                if thawed.is_some() && act.record.state.status == Status::Paused {
                    act.record.state.status = Status::Running;
                    act.persist();
                    act.emit("unpause", &[]);
                }
            }),
        );
    }

    /// The container's cgroup, when the host has a hierarchy.
    fn cgroup(&self) -> Option<Box<dyn berth_cgroups::CgroupManager>> {
        let hierarchy = self.services.cgroups.as_ref()?;
        berth_cgroups::manager(hierarchy, &self.cgroup_path())
            .map_err(|err| tracing::warn!("cgroup of {}: {err}", self.record.id))
            .ok()
    }

    /// The path of the container's cgroup in each hierarchy.
    pub(super) fn cgroup_path(&self) -> String {
        spec::cgroup_path(&self.services.cgroup_parent, &self.record.id)
    }

    /// Tells the stats sampler that the container runs, with which PID 1.
    fn track(&self) {
        self.services.stats.do_send(stats::Track {
            id: self.record.id.clone(),
            pid: self.record.state.pid,
            cgroup: self.cgroup_path(),
            host_network: self.record.host_config.network_mode.as_deref() == Some("host"),
        });
    }
}

#[derive(Message)]
#[rtype(result = "Result<oneshot::Receiver<i64>, Error>")]
pub struct Wait(pub WaitCondition);

impl Handler<Wait> for ContainerActor {
    type Result = Result<oneshot::Receiver<i64>, Error>;

    fn handle(&mut self, Wait(condition): Wait, _: &mut Context<Self>) -> Self::Result {
        let (reply, rx) = oneshot::channel();
        if condition == WaitCondition::NotRunning && !self.record.state.status.is_live() {
            let _ = reply.send(self.record.state.exit_code as i64);
        } else {
            self.waiters.push(Waiter { condition, reply });
        }
        Ok(rx)
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Renamed(pub String);

impl Handler<Renamed> for ContainerActor {
    type Result = ();
    fn handle(&mut self, Renamed(name): Renamed, _: &mut Context<Self>) {
        let old_name = std::mem::replace(&mut self.record.name, name);
        self.persist();
        self.emit("rename", &[("oldName", format!("/{old_name}"))]);
    }
}

/// A copy of the record, for listings and filters.
#[derive(Message)]
#[rtype(result = "ContainerRecord")]
pub struct Snapshot;

impl Handler<Snapshot> for ContainerActor {
    type Result = MessageResult<Snapshot>;
    fn handle(&mut self, _: Snapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.record.clone())
    }
}

#[cfg(test)]
mod tests;
