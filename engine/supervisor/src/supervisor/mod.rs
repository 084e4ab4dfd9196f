//! The supervisor process: a single-threaded poll loop over its listening socket, the daemon
//! connection and a signalfd for SIGCHLD.

mod connection;
mod orphan;
mod setup;
mod table;

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use berth_runtime::{ProcessIo, StartFailure, StartFailureKind, Started, Stdio};
use chrono::Utc;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use rustix::net::SocketFlags;
use rustix::process::WaitOptions;

use crate::exit::{write_exit_record, ExitRecord};
use crate::framing::Incoming;
use crate::protocol::{
    ExecRequest, ExitEvent, Refusal, Reply, Request, RequestBody, SpawnDescriptors, SpawnRequest,
    StdioLayout, SupervisorMessage, PROTOCOL_VERSION,
};
use crate::spawner::{Entered, RuntimeSpawner, Spawner};
use connection::Connection;
use setup::Resources;
use table::{Exited, KeptDescriptors, Table, Target};

/// The environment variable through which the process that starts a supervisor names the
/// descriptor of the daemon connection it was started with (see [`SupervisorOptions::from_env`]).
pub const CONNECTION_FD_ENV: &str = "BERTH_SUPERVISOR_FD";

/// How a supervisor is started.
#[derive(Debug)]
pub struct SupervisorOptions {
    /// Holds `supervisor.sock`, `supervisor.lock` and `supervisor.log`.
    pub exec_root: PathBuf,
    /// A connection to the daemon made before the supervisor existed: the daemon that starts
    /// the supervisor hands over one end of a socketpair, so it never waits for the socket to
    /// appear, and the supervisor never waits for a daemon that died before connecting.
    pub connection: Option<OwnedFd>,
}

impl SupervisorOptions {
    /// Options for a supervisor started by [`crate::SupervisorClient::connect_or_start`],
    /// which passes the connection's descriptor number in [`CONNECTION_FD_ENV`]. Without the
    /// variable the supervisor starts unconnected (and exits at once unless a daemon connects
    /// before it looks, as it holds no containers). Call it before any thread exists.
    pub fn from_env(exec_root: PathBuf) -> Result<Self, SupervisorError> {
        let Some(value) = std::env::var_os(CONNECTION_FD_ENV) else {
            return Ok(SupervisorOptions {
                exec_root,
                connection: None,
            });
        };
        let value = value.to_string_lossy().into_owned();
        let bad = |reason: String| SupervisorError::ConnectionFd {
            value: value.clone(),
            reason,
        };
        let fd: RawFd = value.parse().map_err(|_| bad("not a number".into()))?;
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat only fills the buffer; a descriptor that is not open is EBADF.
        if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
            return Err(bad(io::Error::last_os_error().to_string()));
        }
        // SAFETY: fstat succeeded, so it filled the buffer.
        let stat = unsafe { stat.assume_init() };
        if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return Err(bad("not a socket".into()));
        }
        // SAFETY: the variable is the starter's promise that `fd` is an open socket handed to
        // this process and owned by nothing else in it; fstat just confirmed it is a socket.
        // It is moved to a close-on-exec descriptor so no container inherits it.
        let inherited = unsafe { OwnedFd::from_raw_fd(fd) };
        let connection = rustix::io::fcntl_dupfd_cloexec(&inherited, 3)
            .map_err(|errno| bad(format!("duplicating it: {errno}")))?;
        if fd > 2 {
            drop(inherited);
        } else {
            // A standard descriptor: setup points it at /dev/null rather than leaving it closed.
            std::mem::forget(inherited);
        }
        // Only sound without other threads, which callers guarantee (see above).
        std::env::remove_var(CONNECTION_FD_ENV);
        Ok(SupervisorOptions {
            exec_root,
            connection: Some(connection),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("the supervisor must start in a single-threaded process, but this one has {threads} threads")]
    NotSingleThreaded { threads: usize },
    #[error("{CONNECTION_FD_ENV}={value}: {reason}")]
    ConnectionFd { value: String, reason: String },
    #[error("another supervisor is running on this exec root (it holds {lock})")]
    Busy { lock: PathBuf },
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{0}: {1}")]
    Process(&'static str, Errno),
    #[error("waiting for events: {0}")]
    Poll(Errno),
}

/// Becomes the supervisor of `options.exec_root` and serves until no daemon is connected and
/// no container is left, then returns `Ok`.
///
/// Must be called from a single-threaded process (before any async runtime starts): it forks
/// to detach, and the process that called it exits with status 0 right away while the
/// supervisor carries on in the child. If it cannot serve (another supervisor holds the exec
/// root, the socket cannot be bound), it says why on `options.connection` and returns the
/// error.
pub fn run<S: Spawner>(options: SupervisorOptions, spawner: S) -> Result<(), SupervisorError> {
    let SupervisorOptions {
        exec_root,
        connection,
    } = options;
    let resources = match setup::prepare(&exec_root) {
        Ok(resources) => resources,
        Err(error) => {
            if let Some(socket) = connection {
                let mut connection = Connection::new(socket);
                let message = SupervisorMessage::StartupFailed {
                    busy: matches!(error, SupervisorError::Busy { .. }),
                    message: error.to_string(),
                };
                connection.queue(&message, Vec::new());
                // A fresh connection's buffer is empty: this one packet always fits.
                let _ = connection.flush();
            }
            return Err(error);
        }
    };
    let mut supervisor = Supervisor {
        resources,
        spawner,
        table: Table::default(),
        connection: None,
    };
    if let Some(socket) = connection {
        supervisor.adopt(socket);
    }
    supervisor.serve()
}

/// `berth-supervisor --exec-root DIR`: the supervisor of `exec_root` with berth-runtime's
/// spawner, connected as [`crate::SupervisorClient::connect_or_start`] arranges. See [`run`].
pub fn run_supervisor(exec_root: &Path) -> Result<(), SupervisorError> {
    let options = SupervisorOptions::from_env(exec_root.to_owned())?;
    // First, while the descriptor table is short: the slots are reserved low in it.
    if let Err(error) = berth_runtime::reserve_descriptors() {
        tracing::warn!("execs will copy the descriptor table: {error}");
    }
    if let Err(error) = berth_runtime::raise_descriptor_limit() {
        tracing::warn!("keeping the inherited descriptor limit: {error}");
    }
    run(options, RuntimeSpawner::default())
}

struct Supervisor<S> {
    resources: Resources,
    spawner: S,
    table: Table,
    connection: Option<Connection>,
}

/// What one `poll` reported.
struct Ready {
    child_exits: bool,
    listener: bool,
    connection_readable: bool,
    connection_writable: bool,
}

impl<S: Spawner> Supervisor<S> {
    fn serve(mut self) -> Result<(), SupervisorError> {
        loop {
            if self.connection.is_none() && self.table.is_empty() && !self.accept_pending() {
                // Still holding the lock: a supervisor starting now cannot have bound yet.
                let _ = std::fs::remove_file(&self.resources.socket_path);
                tracing::info!("no daemon and no container left; exiting");
                return Ok(());
            }
            let ready = self.wait()?;
            // The connection first: a daemon that hung up before a child exited is seen gone
            // before that exit is handled, whatever order poll found them in.
            if ready.connection_readable {
                self.read_requests();
            }
            if ready.child_exits {
                while let Ok(Some(_)) = self.resources.child_exits.read_signal() {}
                self.reap();
            }
            if ready.listener {
                self.accept_pending();
            }
            if ready.connection_writable
                || self
                    .connection
                    .as_ref()
                    .is_some_and(Connection::has_backlog)
            {
                self.flush();
            }
        }
    }

    fn wait(&self) -> Result<Ready, SupervisorError> {
        let mut fds = vec![
            PollFd::new(self.resources.child_exits.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.resources.listener.as_fd(), PollFlags::POLLIN),
        ];
        if let Some(connection) = &self.connection {
            let mut events = PollFlags::POLLIN;
            if connection.has_backlog() {
                events |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(connection.socket().as_fd(), events));
        }
        loop {
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(SupervisorError::Poll(errno)),
            }
        }
        let has = |index: usize, flags: PollFlags| {
            fds.get(index)
                .and_then(PollFd::revents)
                .is_some_and(|revents| revents.intersects(flags))
        };
        let gone = PollFlags::POLLHUP | PollFlags::POLLERR;
        Ok(Ready {
            child_exits: has(0, PollFlags::POLLIN),
            listener: has(1, PollFlags::POLLIN),
            connection_readable: has(2, PollFlags::POLLIN | gone),
            connection_writable: has(2, PollFlags::POLLOUT),
        })
    }

    /// Accepts every connection waiting; the newest one is the daemon. Returns whether there
    /// was any.
    fn accept_pending(&mut self) -> bool {
        let mut accepted = false;
        loop {
            match rustix::net::accept_with(&self.resources.listener, SocketFlags::CLOEXEC) {
                Ok(socket) => {
                    self.adopt(socket);
                    accepted = true;
                }
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::CONNABORTED) => continue,
                Err(rustix::io::Errno::AGAIN) => return accepted,
                Err(errno) => {
                    tracing::warn!(
                        "accepting on {}: {errno}",
                        self.resources.socket_path.display()
                    );
                    return accepted;
                }
            }
        }
    }

    /// Makes `socket` the daemon connection, replacing (and closing) any previous one: a
    /// daemon that connects is the live one, the old connection belonged to its dead or
    /// stuck predecessor.
    fn adopt(&mut self, socket: OwnedFd) {
        if self.connection.is_some() {
            tracing::info!("a new daemon connection replaces the previous one");
        }
        let mut connection = Connection::new(socket);
        let welcome = SupervisorMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            pid: std::process::id() as i32,
        };
        connection.queue(&welcome, Vec::new());
        self.connection = Some(connection);
    }

    fn read_requests(&mut self) {
        while let Some(connection) = &mut self.connection {
            match connection.receive() {
                Ok(Incoming::Message { message, fds }) => self.handle(message, fds),
                Ok(Incoming::Partial) => continue,
                Ok(Incoming::Closed) => {
                    tracing::info!("the daemon disconnected");
                    self.connection = None;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::warn!("dropping the daemon connection: {error}");
                    self.connection = None;
                }
            }
        }
    }

    fn handle(&mut self, request: Request, fds: Vec<OwnedFd>) {
        let Request { seq, body } = request;
        let (reply, reply_fds) = match body {
            RequestBody::Spawn {
                request,
                descriptors,
            } => self.spawn(*request, descriptors, fds),
            RequestBody::Exec { request, stdio } => self.exec(*request, stdio, fds),
            RequestBody::Signal { id, signal } => (self.signal(id, signal), Vec::new()),
            RequestBody::List => match self.table.list() {
                Ok((listed, kept)) => (Reply::Listed(listed), kept),
                Err(error) => (
                    Reply::Refused(Refusal::System {
                        message: format!("duplicating kept descriptors: {error}"),
                    }),
                    Vec::new(),
                ),
            },
            RequestBody::Release { id } => match self.table.release(&id) {
                Ok(()) => (Reply::Released, Vec::new()),
                Err(refusal) => (Reply::Refused(refusal), Vec::new()),
            },
            RequestBody::CloseStdin { id } => match self.table.close_stdin(&id) {
                Ok(()) => (Reply::StdinClosed, Vec::new()),
                Err(refusal) => (Reply::Refused(refusal), Vec::new()),
            },
        };
        // Queued before the loop looks at the signalfd again: the daemon always hears
        // `Spawned` before that container's `Exited`.
        self.send(&SupervisorMessage::Reply { seq, reply }, reply_fds);
    }

    /// Starts a container; the reply carries its terminal's master when it has one, and the
    /// table keeps a copy of it.
    fn spawn(
        &mut self,
        request: SpawnRequest,
        descriptors: SpawnDescriptors,
        fds: Vec<OwnedFd>,
    ) -> (Reply, Vec<OwnedFd>) {
        let SpawnRequest { config, state_dir } = request;
        if fds.len() != descriptors.count() {
            let refusal = Refusal::Descriptors {
                expected: descriptors.count(),
                received: fds.len(),
            };
            return (Reply::Refused(refusal), Vec::new());
        }
        if let Err(refusal) = self.table.check_new(&config.id) {
            return (Reply::Refused(refusal), Vec::new());
        }
        if let Err(refusal) = check_state_dir(&state_dir) {
            return (Reply::Refused(refusal), Vec::new());
        }
        let mut fds = fds.into_iter();
        let io = process_io(descriptors.stdio, &mut fds);
        let mut kept: Vec<OwnedFd> = fds.collect();
        let stdin_writer = descriptors.stdin_writer.then(|| kept.pop()).flatten();

        match self.spawner.spawn(&config, io) {
            Ok(Started { spawned, terminal }) => {
                let (terminal, reply_fds) = match share(terminal) {
                    Ok(shared) => shared,
                    Err(failure) => {
                        // The daemon could never reach this container: it must not run.
                        // Reaped as a stray, since the table never knew it.
                        // SAFETY: kill takes plain integers.
                        unsafe { libc::kill(spawned.pid, libc::SIGKILL) };
                        self.spawner.forget(&config.id);
                        return (Reply::Failed(failure), Vec::new());
                    }
                };
                let kept = KeptDescriptors {
                    kept,
                    stdin_writer,
                    terminal,
                };
                self.table.insert(config.id, spawned.pid, state_dir, kept);
                (Reply::Spawned(spawned), reply_fds)
            }
            Err(failure) => {
                tracing::info!("container {} failed to start: {failure}", config.id);
                (Reply::Failed(failure), Vec::new())
            }
        }
    }

    /// Starts a process in a running container; its exit is reported with the exec's ID.
    fn exec(
        &mut self,
        request: ExecRequest,
        stdio: StdioLayout,
        fds: Vec<OwnedFd>,
    ) -> (Reply, Vec<OwnedFd>) {
        let ExecRequest {
            exec_id,
            container,
            config,
            orphan,
        } = request;
        if fds.len() != stdio.count() {
            let refusal = Refusal::Descriptors {
                expected: stdio.count(),
                received: fds.len(),
            };
            return (Reply::Refused(refusal), Vec::new());
        }
        if let Err(refusal) = self.table.check_new_exec(&exec_id) {
            return (Reply::Refused(refusal), Vec::new());
        }
        let mut held = None;
        let entered = match (self.table.target(&container), &orphan) {
            (Ok(Target::Running(pid)), _) => Entered::Child {
                id: &container,
                pid,
            },
            (Ok(Target::Exited), _) => {
                return (
                    Reply::Refused(Refusal::NotRunning { id: container }),
                    Vec::new(),
                )
            }
            (Err(Refusal::UnknownContainer { .. }), Some(orphan))
                if orphan.config.id == container =>
            {
                match orphan::Orphan::hold(orphan.pid, &orphan.config) {
                    Ok(orphan_held) => {
                        held = Some(orphan_held);
                        Entered::Orphan {
                            pid: orphan.pid,
                            config: &orphan.config,
                        }
                    }
                    Err(refusal) => return (Reply::Refused(refusal), Vec::new()),
                }
            }
            (Err(refusal), _) => return (Reply::Refused(refusal), Vec::new()),
        };
        let io = process_io(stdio, &mut fds.into_iter());
        let started = self.spawner.exec(entered, &config, io);
        if let (Ok(started), Some(orphan)) = (&started, &held) {
            // Its namespaces were opened by PID: they were the container's only if that
            // process is still the container's PID 1 now.
            if let Err(refusal) = orphan.still_the_container() {
                // SAFETY: kill takes plain integers; the new process is this one's child,
                // not yet reaped, so its PID is still its own.
                unsafe { libc::kill(started.spawned.pid, libc::SIGKILL) };
                return (Reply::Refused(refusal), Vec::new());
            }
        }
        match started {
            Ok(Started { spawned, terminal }) => {
                self.table.insert_exec(exec_id, container, spawned.pid);
                (Reply::Spawned(spawned), terminal.into_iter().collect())
            }
            Err(failure) => {
                tracing::info!("exec {exec_id} in container {container} failed: {failure}");
                (Reply::Failed(failure), Vec::new())
            }
        }
    }

    fn signal(&mut self, id: String, signal: i32) -> Reply {
        match self.table.target(&id) {
            Err(refusal) => Reply::Refused(refusal),
            Ok(Target::Exited) => Reply::NotRunning,
            // Not reaped yet, so the PID cannot have been reused: kill reaches the container
            // (or its zombie, harmlessly).
            // SAFETY: kill takes plain integers; an invalid signal is EINVAL, not UB.
            Ok(Target::Running(pid)) => match Errno::result(unsafe { libc::kill(pid, signal) }) {
                Ok(_) => Reply::Signalled,
                Err(errno) => Reply::Refused(Refusal::Signal {
                    id,
                    signal,
                    message: errno.to_string(),
                }),
            },
        }
    }

    /// Reaps every child that has exited. A container's exit is written to its state directory
    /// before the daemon hears of it; a stray (a process the subreaper inherited) is dropped.
    fn reap(&mut self) {
        // __WALL: also children whose exit signal is not SIGCHLD, should the runtime use any.
        let options = WaitOptions::NOHANG | WaitOptions::from_bits_retain(libc::__WALL as u32);
        loop {
            let (pid, status) = match rustix::process::wait(options) {
                Ok(Some(exited)) => exited,
                Ok(None) | Err(rustix::io::Errno::CHILD) => return,
                Err(rustix::io::Errno::INTR) => continue,
                Err(errno) => {
                    tracing::error!("waiting for children: {errno}");
                    return;
                }
            };
            let finished_at = Utc::now();
            let exit = if let Some(code) = status.exit_status() {
                ExitRecord::exited(code, finished_at)
            } else if let Some(signal) = status.terminating_signal() {
                ExitRecord::killed(signal, finished_at)
            } else {
                continue;
            };
            let pid = pid.as_raw_nonzero().get();
            let event = match self.table.record_exit(pid, exit.clone()) {
                None => continue,
                Some(Exited::Container { id, state_dir }) => {
                    // Its namespaces and cgroup files, held for execs, go with it.
                    self.spawner.forget(id);
                    let durable = self.connection.is_none();
                    if let Err(error) = write_exit_record(state_dir, &exit, durable) {
                        tracing::error!("container {id} exited with {}: {error}", exit.exit_code);
                    }
                    ExitEvent {
                        id: id.to_owned(),
                        exec: None,
                        pid,
                        exit,
                    }
                }
                // An exec's exit is only news for a connected daemon; nothing is written.
                Some(Exited::Exec { id, container }) => ExitEvent {
                    id: container,
                    exec: Some(id),
                    pid,
                    exit,
                },
            };
            self.send(&SupervisorMessage::Exited(event), Vec::new());
        }
    }

    fn send(&mut self, message: &SupervisorMessage, fds: Vec<OwnedFd>) {
        if let Some(connection) = &mut self.connection {
            connection.queue(message, fds);
        }
    }

    fn flush(&mut self) {
        if let Some(connection) = &mut self.connection {
            if let Err(error) = connection.flush() {
                tracing::warn!(
                    "dropping the daemon connection (fd {}): {error}",
                    connection.socket().as_raw_fd()
                );
                self.connection = None;
            }
        }
    }
}

/// The child's stdio from the request's descriptors, in the order the layout gives them.
fn process_io(layout: StdioLayout, fds: &mut impl Iterator<Item = OwnedFd>) -> ProcessIo {
    match layout {
        StdioLayout::Terminal => ProcessIo::Terminal,
        StdioLayout::Pipes { stdin } => {
            let mut next = || fds.next().expect("the descriptor count was checked");
            let stdin = stdin.then(&mut next);
            let (stdout, stderr) = (next(), next());
            ProcessIo::Pipes(Stdio {
                stdin,
                stdout,
                stderr,
            })
        }
    }
}

/// A terminal's master for the table and a copy of it for the reply.
fn share(terminal: Option<OwnedFd>) -> Result<(Option<OwnedFd>, Vec<OwnedFd>), StartFailure> {
    let Some(master) = terminal else {
        return Ok((None, Vec::new()));
    };
    let copy = master.try_clone().map_err(|error| StartFailure {
        kind: StartFailureKind::Other,
        message: format!("the supervisor could not duplicate the terminal's master: {error}"),
    })?;
    Ok((Some(master), vec![copy]))
}

fn check_state_dir(path: &Path) -> Result<(), Refusal> {
    let refuse = |message: String| {
        Err(Refusal::StateDir {
            path: path.to_owned(),
            message,
        })
    };
    if !path.is_absolute() {
        return refuse("not an absolute path".into());
    }
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => refuse("not a directory".into()),
        Err(error) => refuse(error.to_string()),
    }
}
