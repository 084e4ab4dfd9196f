//! The container's stdio: the pipes or terminal a start prepares, the pump that copies its
//! output to the log and the attached clients, attaching, resizing, and taking a running
//! container's stdio back after a daemon restart.

use std::os::fd::OwnedFd;

use actix::prelude::*;
use berth_runtime::ProcessIo;
use berth_supervisor::{ContainerIo, SpawnRequest};
use tokio::sync::{mpsc, watch};

use super::ContainerActor;
use crate::container::error::Error;
use crate::container::log_files;
use crate::container::output::{self, Chunk, LogProgress};
use crate::container::record::Status;
use crate::container::spec;
use crate::container::stdio::{self, StdinPort, TerminalHandle};

impl ContainerActor {
    /// Where the log lives, for the container's driver (`None`: `none` keeps nothing).
    pub(super) fn log_path(&self) -> Option<std::path::PathBuf> {
        log_files::log_path(&self.dir, &self.record.id, &self.record.host_config)
    }

    /// Where the output pump writes: the log file, or nowhere with the `none` log driver
    /// (the output still reaches attached clients).
    fn open_log(&self) -> Result<std::fs::File, Error> {
        let Some(path) = self.log_path() else {
            return std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .map_err(|err| Error::internal(format!("opening /dev/null: {err}")));
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|err| {
                Error::internal(format!("creating log directory {}: {err}", dir.display()))
            })?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|err| Error::internal(format!("opening log file {}: {err}", path.display())))
    }

    /// The log file with the rotation its options ask for (checked at create).
    fn log_target(&self, file: std::fs::File) -> output::LogTarget {
        let rotation = log_files::rotation(&self.record.host_config)
            .ok()
            .flatten()
            .zip(self.log_path())
            .map(|(rotation, path)| (path, rotation));
        output::LogTarget { file, rotation }
    }

    pub(super) fn prepare_start(&self) -> Result<PreparedStart, Error> {
        let config = spec::runtime_config(&self.record, &self.dir, &self.services.cgroup_parent)?;
        let request = SpawnRequest {
            config,
            state_dir: self.dir.root.clone(),
        };
        let log = self.open_log()?;
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
    pub(super) fn start_pump(
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
        let log = self.log_target(log);
        ctx.spawn(
            output::pump(stdout, stderr, log, hub, progress)
                .into_actor(self)
                .map(|(), act, ctx| act.output_ended(ctx)),
        );
    }

    /// The container's output is all in the log: an exit that waited for it is recorded.
    pub(super) fn output_ended(&mut self, ctx: &mut Context<Self>) {
        self.pump_running = false;
        if let Some(exit) = self.exit_awaiting_output.take() {
            self.finish_exit(exit, ctx);
        }
    }

    /// Connects the daemon's side of a started (or adopted) container's stdio: its output to
    /// the log and the attached clients, and its stdin to them.
    pub(super) fn connect_io(
        &mut self,
        io: DaemonIo,
        terminal: Option<OwnedFd>,
        ctx: &mut Context<Self>,
    ) {
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
    pub(super) fn open_stdin_pipe(&mut self, writer: OwnedFd) {
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

    pub(super) fn connect_terminal(
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
            target: self.log_target(log),
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

pub(super) struct PreparedStart {
    pub(super) request: SpawnRequest,
    pub(super) io: ContainerIo,
    pub(super) daemon: DaemonIo,
}

/// The daemon's side of a container's stdio.
pub(super) enum DaemonIo {
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
    /// The log to replay (`None` with the `none` driver).
    pub log: Option<std::path::PathBuf>,
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
            log: self.log_path(),
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
        let served_by = self.services.supervisor.pid();
        self.watch_process(msg.pid, served_by, ctx);
        self.track();
        self.network_readopt();
        self.watch_health(ctx, false);
        let log = match self.open_log() {
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
