//! One actor per container. It owns the container's record and state machine
//! (created → running → exited → removing); everything else reaches them by message.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use berth_runtime::ProcessIo;
use berth_supervisor::{ContainerIo, ExitRecord, SpawnRequest};
use chrono::Utc;
use tokio::sync::{mpsc, oneshot, watch};

use super::error::Error;
use super::exec::Execs;
use super::output::{self, Chunk, LogProgress, OutputHub};
use super::record::{ContainerDir, ContainerRecord, Status};
use super::registry::Unregister;
use super::spec;
use super::stdio::{self, StdinPort, TerminalHandle};
use super::view;
use crate::engine::Services;
use crate::events::Publish;
use crate::stats;

mod copy_in;
mod detached;
mod observe;
mod orphan;
mod pause;

pub use copy_in::{CopyInGuard, OpenView};
pub use detached::Detached;
pub use observe::{LogFollow, LogFollowing, TopProcesses};
pub use orphan::SupervisorLost;
pub use pause::{Pause, Unpause};

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
    persist_seq: Arc<AtomicU64>,
    persist_lock: Arc<parking_lot::Mutex<()>>,
    /// Whether output is still being copied from the container's pipes.
    pump_running: bool,
    /// An exit that is recorded only once the output is drained, so that a container never
    /// shows as exited while its last lines are still missing from its log (as in Docker).
    exit_awaiting_output: Option<ExitRecord>,
    /// A copy into the stopped container's file system is under way (`cp`): it has the
    /// overlay mounted, so the container must not start until it ends.
    pub(super) copying_in: bool,
    /// The running PID 1, held by a pidfd: signalled and watched without the supervisor.
    process: Option<super::process::Process>,
    /// The PID of the supervisor that parents the running process.
    supervised_by: i32,
    /// That supervisor died: berthd manages the process alone, and no supervisor knows it.
    orphaned: bool,
    /// The PID 1 whose exit berthd took without the supervisor's report (it was stuck).
    taken_exit_pid: i32,
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
            persist_seq: Arc::default(),
            persist_lock: Arc::default(),
            pump_running: false,
            exit_awaiting_output: None,
            copying_in: false,
            process: None,
            supervised_by: 0,
            orphaned: false,
            taken_exit_pid: 0,
        }
    }

    /// Saves the record off the actor's thread. Writes may finish out of order, so each
    /// carries a sequence number and a write that is no longer the newest is skipped.
    fn persist(&self) {
        drop(self.save_record());
    }

    /// [`Self::persist`], with a handle that completes once the record is written (or the
    /// write was skipped for a newer one).
    fn save_record(&self) -> tokio::task::JoinHandle<()> {
        let seq = self.persist_seq.fetch_add(1, Ordering::SeqCst) + 1;
        let latest = self.persist_seq.clone();
        let lock = self.persist_lock.clone();
        let record = self.record.clone();
        let dir = self.dir.clone();
        actix_rt::task::spawn_blocking(move || {
            let _guard = lock.lock();
            if latest.load(Ordering::SeqCst) != seq {
                return;
            }
            if let Err(err) = record.save(&dir) {
                tracing::error!("{err}");
            }
        })
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
        berth_cgroups::manager(hierarchy, &spec::cgroup_path(&self.record.id))
            .map_err(|err| tracing::warn!("cgroup of {}: {err}", self.record.id))
            .ok()
    }

    /// Tells the stats sampler that the container runs, with which PID 1.
    fn track(&self) {
        self.services.stats.do_send(stats::Track {
            id: self.record.id.clone(),
            pid: self.record.state.pid,
            host_network: self.record.host_config.network_mode.as_deref() == Some("host"),
        });
    }

    fn prepare_start(&self) -> Result<PreparedStart, Error> {
        let config = spec::runtime_config(&self.record, &self.dir)?;
        let request = SpawnRequest {
            config,
            state_dir: self.dir.root.clone(),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.log(&self.record.id))
            .map_err(|err| {
                Error::internal(format!(
                    "opening log file {}: {err}",
                    self.dir.log(&self.record.id).display()
                ))
            })?;
        if self.record.config.tty == Some(true) {
            // The terminal's master comes back from the start; the supervisor keeps a copy.
            let io = ContainerIo {
                io: ProcessIo::Terminal,
                keep: Vec::new(),
                stdin_writer: None,
            };
            return Ok(PreparedStart {
                request,
                io,
                daemon: DaemonIo::Terminal { log },
            });
        }
        let pipe = || -> Result<(OwnedFd, OwnedFd), Error> {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|err| Error::internal(format!("creating a stdio pipe: {err}")))
        };
        let output_pipe = || -> Result<(OwnedFd, OwnedFd), Error> {
            let (read, write) = pipe()?;
            // A larger pipe lets a chatty container run on while the daemon is restarting.
            let _ = nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
            Ok((read, write))
        };
        let (stdout_read, stdout_write) = output_pipe()?;
        let (stderr_read, stderr_write) = output_pipe()?;
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map_err(|err| Error::internal(format!("duplicating a stdio pipe: {err}")))
        };
        let keep = vec![dup(&stdout_read)?, dup(&stderr_read)?];
        let (stdin, stdin_writer) = if self.record.config.open_stdin == Some(true) {
            let (read, write) = pipe()?;
            (Some(read), Some(write))
        } else {
            (None, None)
        };
        let io = ContainerIo {
            io: ProcessIo::Pipes(berth_runtime::Stdio {
                stdin,
                stdout: stdout_write,
                stderr: stderr_write,
            }),
            keep,
            stdin_writer: stdin_writer.as_ref().map(dup).transpose()?,
        };
        Ok(PreparedStart {
            request,
            io,
            daemon: DaemonIo::Pipes {
                stdout: stdout_read,
                stderr: stderr_read,
                stdin: stdin_writer,
                log,
            },
        })
    }

    /// Starts copying output until every writer of the pipes is gone.
    fn start_pump(
        &mut self,
        stdout: OwnedFd,
        stderr: OwnedFd,
        log: std::fs::File,
        ctx: &mut Context<Self>,
    ) {
        let hub = self.hub.clone();
        let (progress, watcher) = tokio::sync::watch::channel(LogProgress::default());
        self.log_progress = Some(watcher);
        self.pump_running = true;
        ctx.spawn(
            output::pump(stdout, stderr, log, hub, progress)
                .into_actor(self)
                .map(|(), act, ctx| act.output_ended(ctx)),
        );
    }

    /// The container's output is all in the log: an exit that waited for it is recorded.
    fn output_ended(&mut self, ctx: &mut Context<Self>) {
        self.pump_running = false;
        if let Some(exit) = self.exit_awaiting_output.take() {
            self.finish_exit(exit, ctx);
        }
    }

    /// Connects the daemon's side of a started (or adopted) container's stdio: its output to
    /// the log and the attached clients, and its stdin to them.
    fn connect_io(&mut self, io: DaemonIo, terminal: Option<OwnedFd>, ctx: &mut Context<Self>) {
        match (io, terminal) {
            (
                DaemonIo::Pipes {
                    stdout,
                    stderr,
                    stdin,
                    log,
                },
                _,
            ) => {
                self.start_pump(stdout, stderr, log, ctx);
                if let Some(writer) = stdin {
                    self.open_stdin_pipe(writer);
                }
            }
            (DaemonIo::Terminal { log }, Some(master)) => {
                if let Err(err) = self.connect_terminal(master, log, ctx) {
                    tracing::error!("connecting to the terminal of {}: {err}", self.record.id);
                    self.hub.close();
                }
            }
            (DaemonIo::Terminal { .. }, None) => {
                tracing::error!("container {} started without its terminal", self.record.id);
                self.hub.close();
            }
        }
    }

    /// The daemon's writer of the stdin pipe. A client's end-of-file closes it, and the
    /// supervisor's copy, so that the container reads EOF.
    fn open_stdin_pipe(&mut self, writer: OwnedFd) {
        let supervisor = self.services.supervisor.clone();
        let id = self.record.id.clone();
        let close_kept = move || -> futures_util::future::LocalBoxFuture<'static, ()> {
            Box::pin(async move {
                if let Err(err) = supervisor.close_stdin(&id).await {
                    tracing::warn!("closing the stdin of {id} in the supervisor: {err}");
                }
            })
        };
        match StdinPort::open(writer, close_kept) {
            Ok(port) => {
                self.stdin.send_replace(Some(port));
            }
            Err(err) => tracing::error!("opening the stdin of {}: {err}", self.record.id),
        }
    }

    fn connect_terminal(
        &mut self,
        master: OwnedFd,
        log: std::fs::File,
        ctx: &mut Context<Self>,
    ) -> std::io::Result<()> {
        let terminal = TerminalHandle::new(master);
        let reader = terminal.duplicate()?;
        let (progress, watcher) = tokio::sync::watch::channel(LogProgress::default());
        self.log_progress = Some(watcher);
        self.pump_running = true;
        let log = stdio::TerminalLog {
            file: log,
            progress,
        };
        ctx.spawn(
            stdio::relay_terminal(reader, Some(log), self.hub.clone())
                .into_actor(self)
                .map(|(), act, ctx| act.output_ended(ctx)),
        );
        if self.record.config.open_stdin == Some(true) {
            let writer = terminal.duplicate()?;
            let port = StdinPort::open(writer, || Box::pin(async {}))?;
            self.stdin.send_replace(Some(port));
        }
        self.terminal = Some(terminal);
        Ok(())
    }
}

struct PreparedStart {
    request: SpawnRequest,
    io: ContainerIo,
    daemon: DaemonIo,
}

/// The daemon's side of a container's stdio.
enum DaemonIo {
    Pipes {
        stdout: OwnedFd,
        stderr: OwnedFd,
        /// The writer of the stdin pipe, with `OpenStdin`.
        stdin: Option<OwnedFd>,
        log: std::fs::File,
    },
    /// The master arrives with the start.
    Terminal { log: std::fs::File },
}

// ---- messages -------------------------------------------------------------------------

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
        AtomicResponse::new(Box::pin(
            async move { supervisor.spawn_with(request, io).await }
                .into_actor(self)
                .map(move |outcome, act, ctx| {
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
                            act.watch_process(started.spawned.pid, ctx);
                            act.connect_io(daemon, started.terminal, ctx);
                            act.track();
                            act.emit("start", &[]);
                            Ok(())
                        }
                        Ok(Err(failure)) => {
                            state.exit_code = failure.kind.exit_code();
                            state.error = failure.message.clone();
                            act.persist();
                            act.hub.close();
                            if let Some(h) = &act.services.cgroups {
                                let cgroup = spec::cgroup_path(&act.record.id);
                                let removed =
                                    berth_cgroups::manager(h, &cgroup).and_then(|cg| cg.remove());
                                if let Err(err) = removed {
                                    tracing::warn!("removing cgroup {cgroup}: {err}");
                                }
                            }
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
    fn finish_exit(&mut self, exit: ExitRecord, ctx: &mut Context<Self>) {
        self.services.stats.do_send(stats::Untrack {
            id: self.record.id.clone(),
        });
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
    fn restart_delay(&self) -> Option<Duration> {
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

    /// After a start that failed: an auto-remove container is removed, as by dockerd.
    fn remove_if_auto(&mut self, ctx: &mut Context<Self>) {
        if self.record.host_config.auto_remove == Some(true) {
            self.remove_now(ctx);
        }
    }

    fn remove_now(&mut self, ctx: &mut Context<Self>) {
        self.record.state.status = Status::Removing;
        self.execs.forget_all(&self.services.execs);
        self.services.registry.do_send(Unregister {
            id: self.record.id.clone(),
        });
        let dir = self.dir.root.clone();
        let replies = std::mem::take(&mut self.pending_removals);
        let images = self.services.images.clone();
        let id = self.record.id.clone();
        // Writes still queued must not recreate the directory once it is gone.
        self.persist_seq.fetch_add(1, Ordering::SeqCst);
        let persist_lock = self.persist_lock.clone();
        let trash = self.services.trash.clone();
        ctx.spawn(
            async move {
                actix_rt::task::spawn_blocking(move || {
                    let _no_writes = persist_lock.lock();
                    // The directory's files are deleted in the background: once it has left
                    // the containers directory the container is gone for every client. Its
                    // record leases its layers (at the next daemon start too), so the
                    // layers are released only once it is gone.
                    let discarded = trash.discard(&dir);
                    if discarded.is_ok() {
                        if let Err(err) = images.release_layers(&id) {
                            tracing::warn!("releasing the layers of {id}: {err}");
                        }
                    }
                    discarded
                })
                .await
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                let outcome = match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(err)) => Err(format!("removing container {}: {err}", act.record.id)),
                    Err(err) => Err(format!("removing container: {err}")),
                };
                for reply in replies {
                    let _ = reply.send(outcome.clone().map_err(Error::Internal));
                }
                act.record.state.status = Status::Dead;
                act.services.stats.do_send(stats::Forget {
                    id: act.record.id.clone(),
                });
                act.emit("destroy", &[]);
                act.wake(true);
                ctx.stop();
            }),
        );
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
        let signal = super::signal::parse(&signal_name)?;
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
#[rtype(result = "Result<oneshot::Receiver<Result<(), Error>>, Error>")]
pub struct Remove {
    pub force: bool,
}

impl Handler<Remove> for ContainerActor {
    type Result = Result<oneshot::Receiver<Result<(), Error>>, Error>;

    fn handle(&mut self, msg: Remove, ctx: &mut Context<Self>) -> Self::Result {
        let (reply, rx) = oneshot::channel();
        match self.record.state.status {
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(format!(
                    "removal of container {} is already in progress",
                    self.record.id
                )))
            }
            status if status.is_live() => {
                if !msg.force {
                    return Err(Error::conflict(format!(
                        "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                        self.record.name
                    )));
                }
                self.record.state.stopped_by_user = true;
                self.pending_removals.push(reply);
                self.signal(libc::SIGKILL, ctx);
            }
            _ => {
                self.pending_removals.push(reply);
                self.remove_now(ctx);
            }
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

/// Subscribes a client to the container's output and, if it asks, its stdin.
#[derive(Message)]
#[rtype(result = "Result<Attachment, Error>")]
pub struct Attach {
    /// The container's name or ID as the client typed it, for Docker's messages.
    pub typed: String,
    pub stdin: bool,
    /// Whether the client wants live output (stream=1), not only the log.
    pub stream: bool,
}

pub struct Attachment {
    pub output: Option<mpsc::Receiver<Chunk>>,
    pub tty: bool,
    /// The container's stdin, if the client asked and the container keeps it open.
    pub stdin: Option<watch::Receiver<Option<StdinPort>>>,
    pub stdin_once: bool,
    pub log: std::path::PathBuf,
}

impl Handler<Attach> for ContainerActor {
    type Result = Result<Attachment, Error>;
    fn handle(&mut self, msg: Attach, _: &mut Context<Self>) -> Self::Result {
        match self.record.state.status {
            Status::Paused => {
                return Err(Error::conflict(format!(
                    "container {} is paused, unpause the container before attach",
                    msg.typed
                )))
            }
            Status::Restarting => {
                return Err(Error::conflict(format!(
                    "container {} is restarting, wait until the container is running",
                    msg.typed
                )))
            }
            // A created or exited container is attached to before it starts (`start -a`);
            // refusing `docker attach` to a stopped one is the CLI's job.
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(format!(
                    "container {} is being removed",
                    self.record.id
                )))
            }
            _ => {}
        }
        self.emit("attach", &[]);
        let config = &self.record.config;
        Ok(Attachment {
            output: msg.stream.then(|| self.hub.subscribe()),
            tty: config.tty == Some(true),
            stdin: (msg.stdin && config.open_stdin == Some(true)).then(|| self.stdin.subscribe()),
            stdin_once: config.stdin_once == Some(true),
            log: self.dir.log(&self.record.id),
        })
    }
}

/// Sets the size of the container's terminal (`docker run -t`, then resize).
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Resize {
    pub rows: u16,
    pub columns: u16,
}

impl Handler<Resize> for ContainerActor {
    type Result = Result<(), Error>;
    fn handle(&mut self, msg: Resize, _: &mut Context<Self>) -> Self::Result {
        if !self.record.state.status.is_live() {
            return Err(Error::conflict(format!(
                "container {} is not running",
                self.record.id
            )));
        }
        if let Some(terminal) = &self.terminal {
            terminal
                .resize(msg.rows, msg.columns)
                .map_err(|err| Error::internal(err.to_string()))?;
        }
        // Docker's runtime ignores a resize of a container without a terminal, and reports
        // it all the same.
        self.emit(
            "resize",
            &[
                ("height", msg.rows.to_string()),
                ("width", msg.columns.to_string()),
            ],
        );
        Ok(())
    }
}

#[derive(Message)]
#[rtype(result = "bollard_stubs::models::ContainerInspectResponse")]
pub struct Inspect;

impl Handler<Inspect> for ContainerActor {
    type Result = MessageResult<Inspect>;
    fn handle(&mut self, _: Inspect, _: &mut Context<Self>) -> Self::Result {
        let mut inspected = view::inspect(&self.record, &self.dir);
        let execs = self.execs.running_ids();
        inspected.exec_ids = (!execs.is_empty()).then_some(execs);
        MessageResult(inspected)
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

/// After a daemon restart: the supervisor still runs this container. Take its stdio back.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Adopt {
    pub pid: i32,
    pub io: AdoptedIo,
}

/// What the supervisor kept of a running container's stdio.
pub enum AdoptedIo {
    Pipes {
        stdout: OwnedFd,
        stderr: OwnedFd,
        stdin_writer: Option<OwnedFd>,
    },
    Terminal(OwnedFd),
}

impl Handler<Adopt> for ContainerActor {
    type Result = ();
    fn handle(&mut self, msg: Adopt, ctx: &mut Context<Self>) {
        // The start answered before its record was written, and the daemon died between.
        let start_unrecorded = self.record.state.status == Status::Created;
        // A container paused before the daemon restarted is still frozen.
        let frozen = self
            .cgroup()
            .is_some_and(|cg| cg.is_frozen().unwrap_or(false));
        self.record.state.status = if frozen {
            Status::Paused
        } else {
            Status::Running
        };
        self.record.state.pid = msg.pid;
        if start_unrecorded {
            self.persist();
        }
        self.watch_process(msg.pid, ctx);
        self.track();
        let log = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.log(&self.record.id))
        {
            Ok(log) => log,
            Err(err) => {
                tracing::error!("reopening the log of {}: {err}", self.record.id);
                return;
            }
        };
        let (io, terminal) = match msg.io {
            AdoptedIo::Pipes {
                stdout,
                stderr,
                stdin_writer,
            } => {
                let io = DaemonIo::Pipes {
                    stdout,
                    stderr,
                    stdin: stdin_writer,
                    log,
                };
                (io, None)
            }
            AdoptedIo::Terminal(master) => (DaemonIo::Terminal { log }, Some(master)),
        };
        self.connect_io(io, terminal, ctx);
    }
}
