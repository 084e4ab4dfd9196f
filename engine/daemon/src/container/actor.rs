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

use super::exec::Execs;
use super::output::{self, Chunk, OutputHub};
use super::record::{ContainerDir, ContainerRecord, Status};
use super::registry::Unregister;
use super::spec;
use super::stdio::{self, StdinPort, TerminalHandle};
use super::view;
use crate::api::error::ApiError;
use crate::engine::Services;

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
    pending_removals: Vec<oneshot::Sender<Result<(), ApiError>>>,
    kill_timer: Option<SpawnHandle>,
    persist_seq: Arc<AtomicU64>,
    persist_lock: Arc<parking_lot::Mutex<()>>,
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
            persist_seq: Arc::default(),
            persist_lock: Arc::default(),
        }
    }

    /// Saves the record off the actor's thread. Writes may finish out of order, so each
    /// carries a sequence number and a write that is no longer the newest is skipped.
    fn persist(&self) {
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
        });
    }

    fn not_running(&self) -> ApiError {
        ApiError::conflict(format!("Container {} is not running", self.record.id))
    }

    fn wake(&mut self, removed: bool) {
        let code = self.record.state.exit_code as i64;
        let waiters = std::mem::take(&mut self.waiters);
        for waiter in waiters {
            let done = match waiter.condition {
                WaitCondition::NotRunning | WaitCondition::NextExit => true,
                WaitCondition::Removed => removed,
            };
            if done {
                let _ = waiter.reply.send(code);
            } else {
                self.waiters.push(waiter);
            }
        }
    }

    fn signal(&self, signal: i32, ctx: &mut Context<Self>) {
        let supervisor = self.services.supervisor.clone();
        let id = self.record.id.clone();
        ctx.spawn(
            async move {
                if let Err(err) = supervisor.signal(&id, signal).await {
                    tracing::error!("signalling container {id}: {err}");
                }
            }
            .into_actor(self),
        );
    }

    fn prepare_start(&self) -> Result<PreparedStart, ApiError> {
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
                ApiError::internal(format!(
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
        let pipe = || -> Result<(OwnedFd, OwnedFd), ApiError> {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|err| ApiError::internal(format!("creating a stdio pipe: {err}")))
        };
        let output_pipe = || -> Result<(OwnedFd, OwnedFd), ApiError> {
            let (read, write) = pipe()?;
            // A larger pipe lets a chatty container run on while the daemon is restarting.
            let _ = nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
            Ok((read, write))
        };
        let (stdout_read, stdout_write) = output_pipe()?;
        let (stderr_read, stderr_write) = output_pipe()?;
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map_err(|err| ApiError::internal(format!("duplicating a stdio pipe: {err}")))
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
        &self,
        stdout: OwnedFd,
        stderr: OwnedFd,
        log: std::fs::File,
        ctx: &mut Context<Self>,
    ) {
        let hub = self.hub.clone();
        ctx.spawn(output::pump(stdout, stderr, log, hub).into_actor(self));
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
        ctx.spawn(stdio::relay_terminal(reader, Some(log), self.hub.clone()).into_actor(self));
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
#[rtype(result = "Result<(), ApiError>")]
pub struct Start;

impl Handler<Start> for ContainerActor {
    type Result = AtomicResponse<Self, Result<(), ApiError>>;

    fn handle(&mut self, _: Start, _: &mut Context<Self>) -> Self::Result {
        let refuse = |err| AtomicResponse::new(Box::pin(fut::ready(Err(err))));
        match self.record.state.status {
            Status::Running | Status::Paused | Status::Restarting => {
                return refuse(ApiError::not_modified())
            }
            Status::Removing | Status::Dead => {
                return refuse(ApiError::conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    self.record.id
                )))
            }
            Status::Created | Status::Exited => {}
        }
        let prepared = match self.prepare_start() {
            Ok(prepared) => prepared,
            Err(err) => return refuse(err),
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
                            act.connect_io(daemon, started.terminal, ctx);
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
                            if act.record.host_config.auto_remove == Some(true) {
                                act.remove_now(ctx);
                            }
                            let status = match failure.kind {
                                berth_runtime::StartFailureKind::Other => {
                                    hyper::StatusCode::INTERNAL_SERVER_ERROR
                                }
                                _ => hyper::StatusCode::BAD_REQUEST,
                            };
                            Err(ApiError::new(
                                status,
                                format!(
                                    "failed to start container {}: {}",
                                    act.record.id, failure.message
                                ),
                            ))
                        }
                        Err(err) => {
                            act.hub.close();
                            Err(ApiError::internal(format!("supervisor: {err}")))
                        }
                    }
                }),
        ))
    }
}

/// The supervisor saw the container's PID 1 exit (or a restarted daemon found it exited).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Exited(pub ExitRecord);

impl Handler<Exited> for ContainerActor {
    type Result = ();

    fn handle(&mut self, Exited(exit): Exited, ctx: &mut Context<Self>) {
        if !self.record.state.status.is_live() {
            return;
        }
        if let Some(timer) = self.kill_timer.take() {
            ctx.cancel_future(timer);
        }
        let cgroup = self.services.cgroups.as_ref().and_then(|h| {
            berth_cgroups::manager(h, &spec::cgroup_path(&self.record.id))
                .map_err(|err| tracing::warn!("cgroup of {}: {err}", self.record.id))
                .ok()
        });
        self.stdin.send_replace(None);
        self.terminal = None;
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
        let supervisor = self.services.supervisor.clone();
        let id = self.record.id.clone();
        actix_rt::spawn(async move {
            if let Err(err) = supervisor.release(&id).await {
                tracing::warn!("releasing {id} in the supervisor: {err}");
            }
        });
        self.persist();
        self.wake(false);

        if !self.pending_removals.is_empty() || self.record.host_config.auto_remove == Some(true) {
            self.remove_now(ctx);
            return;
        }
        if let Some(delay) = self.restart_delay() {
            self.record.state.restart_count += 1;
            ctx.run_later(delay, |act, ctx| {
                if act.record.state.status == Status::Exited && !act.record.state.stopped_by_user {
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
        ctx.spawn(
            async move {
                actix_rt::task::spawn_blocking(move || {
                    if let Err(err) = images.release_layers(&id) {
                        tracing::warn!("releasing the layers of {id}: {err}");
                    }
                    std::fs::remove_dir_all(&dir).map_err(|e| (dir, e))
                })
                .await
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                let outcome = match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err((dir, err))) if err.kind() == std::io::ErrorKind::NotFound => {
                        let _ = dir;
                        Ok(())
                    }
                    Ok(Err((dir, err))) => Err(ApiError::internal(format!(
                        "removing container directory {}: {err}",
                        dir.display()
                    ))),
                    Err(err) => Err(ApiError::internal(format!("removing container: {err}"))),
                };
                for reply in replies {
                    let _ = reply.send(outcome.clone());
                }
                act.record.state.status = Status::Dead;
                act.wake(true);
                ctx.stop();
            }),
        );
    }
}

#[derive(Message)]
#[rtype(result = "Result<oneshot::Receiver<i64>, ApiError>")]
pub struct Stop {
    pub timeout: Option<i64>,
    pub signal: Option<String>,
}

impl Handler<Stop> for ContainerActor {
    type Result = Result<oneshot::Receiver<i64>, ApiError>;

    fn handle(&mut self, msg: Stop, ctx: &mut Context<Self>) -> Self::Result {
        if !self.record.state.status.is_live() {
            return Err(ApiError::not_modified());
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
#[rtype(result = "Result<(), ApiError>")]
pub struct Kill {
    pub signal: i32,
}

impl Handler<Kill> for ContainerActor {
    type Result = Result<(), ApiError>;

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
#[rtype(result = "Result<oneshot::Receiver<i64>, ApiError>")]
pub struct Wait(pub WaitCondition);

impl Handler<Wait> for ContainerActor {
    type Result = Result<oneshot::Receiver<i64>, ApiError>;

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
#[rtype(result = "Result<oneshot::Receiver<Result<(), ApiError>>, ApiError>")]
pub struct Remove {
    pub force: bool,
}

impl Handler<Remove> for ContainerActor {
    type Result = Result<oneshot::Receiver<Result<(), ApiError>>, ApiError>;

    fn handle(&mut self, msg: Remove, ctx: &mut Context<Self>) -> Self::Result {
        let (reply, rx) = oneshot::channel();
        match self.record.state.status {
            Status::Removing | Status::Dead => {
                return Err(ApiError::conflict(format!(
                    "removal of container {} is already in progress",
                    self.record.id
                )))
            }
            status if status.is_live() => {
                if !msg.force {
                    return Err(ApiError::conflict(format!(
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
        self.record.name = name;
        self.persist();
    }
}

/// Subscribes a client to the container's output and, if it asks, its stdin.
#[derive(Message)]
#[rtype(result = "Result<Attachment, ApiError>")]
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
    type Result = Result<Attachment, ApiError>;
    fn handle(&mut self, msg: Attach, _: &mut Context<Self>) -> Self::Result {
        match self.record.state.status {
            Status::Paused => {
                return Err(ApiError::conflict(format!(
                    "container {} is paused, unpause the container before attach",
                    msg.typed
                )))
            }
            Status::Restarting => {
                return Err(ApiError::conflict(format!(
                    "container {} is restarting, wait until the container is running",
                    msg.typed
                )))
            }
            // A created or exited container is attached to before it starts (`start -a`);
            // the docker CLI refuses `attach` to a stopped one by itself.
            Status::Removing | Status::Dead => {
                return Err(ApiError::conflict(
                    "You cannot attach to a stopped container, start it first",
                ))
            }
            _ => {}
        }
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
#[rtype(result = "Result<(), ApiError>")]
pub struct Resize {
    pub rows: u16,
    pub columns: u16,
}

impl Handler<Resize> for ContainerActor {
    type Result = Result<(), ApiError>;
    fn handle(&mut self, msg: Resize, _: &mut Context<Self>) -> Self::Result {
        if !self.record.state.status.is_live() {
            return Err(ApiError::conflict(format!(
                "container {} is not running",
                self.record.id
            )));
        }
        match &self.terminal {
            Some(terminal) => terminal
                .resize(msg.rows, msg.columns)
                .map_err(|err| ApiError::internal(err.to_string())),
            // Docker's runtime ignores a resize of a container without a terminal.
            None => Ok(()),
        }
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

/// The log file and whether the container has a TTY, for `logs`.
#[derive(Message)]
#[rtype(result = "(std::path::PathBuf, bool)")]
pub struct LogSource;

impl Handler<LogSource> for ContainerActor {
    type Result = MessageResult<LogSource>;
    fn handle(&mut self, _: LogSource, _: &mut Context<Self>) -> Self::Result {
        MessageResult((
            self.dir.log(&self.record.id),
            self.record.config.tty == Some(true),
        ))
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
        self.record.state.status = Status::Running;
        self.record.state.pid = msg.pid;
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
