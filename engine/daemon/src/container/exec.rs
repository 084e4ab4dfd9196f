//! `docker exec`: processes started inside a running container. Each exec belongs to its
//! container's actor; [`ExecIndex`] finds the container of an exec ID.
//!
//! An exec is created (its settings checked and stored), started once (the supervisor runs
//! it, joined to the container's namespaces and cgroup, and parents it), and its exit arrives
//! as an exit event carrying its ID. Its exit code stays inspectable until the container is
//! removed; of the finished execs of one container only the newest [`FINISHED_KEPT`] are
//! kept, so that a container exec'd into forever does not grow the daemon.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use actix::prelude::*;
use berth_runtime::{ProcessIo, StartFailureKind, Stdio};
use berth_stdio::DetachKeys;
use berth_supervisor::{ClientError, ExecRequest, ExitRecord, Refusal};
use bollard_stubs::models::ExecConfig as ExecCreateBody;
use oci_spec::runtime::{LinuxCapabilitiesBuilder, Process};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};

use super::actor::ContainerActor;
use super::create::DEFAULT_PATH;
use super::error::Error;
use super::exec_user;
use super::output::{Chunk, OutputHub};
use super::record::Status;
use super::spec;
use super::stdio::{self, StdinPort, TerminalHandle};
use crate::ids;

/// How many finished execs a container keeps for inspection.
const FINISHED_KEPT: usize = 64;

/// Which container each exec ID belongs to.
#[derive(Default)]
pub struct ExecIndex(Mutex<HashMap<String, String>>);

impl ExecIndex {
    pub fn container_of(&self, exec_id: &str) -> Option<String> {
        self.0.lock().get(exec_id).cloned()
    }

    fn insert(&self, exec_id: &str, container_id: &str) {
        self.0
            .lock()
            .insert(exec_id.to_owned(), container_id.to_owned());
    }

    fn forget<'a>(&self, exec_ids: impl IntoIterator<Item = &'a str>) {
        let mut index = self.0.lock();
        for id in exec_ids {
            index.remove(id);
        }
    }
}

/// An exec as created: what to run and how to attach.
#[derive(Debug, Clone)]
struct Settings {
    cmd: Vec<String>,
    env: Vec<String>,
    user: String,
    working_dir: String,
    privileged: bool,
    tty: bool,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    detach_keys: DetachKeys,
    detach_keys_text: String,
    console_size: Option<(u16, u16)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Created,
    Running { pid: i32 },
    Exited { pid: i32, code: i64 },
}

struct Exec {
    id: String,
    settings: Settings,
    state: State,
    terminal: Option<TerminalHandle>,
    /// Told once the exit code is recorded.
    exit_waiters: Vec<oneshot::Sender<()>>,
}

impl Exec {
    fn check_startable(&self) -> Result<(), Error> {
        match self.state {
            State::Created => Ok(()),
            State::Running { .. } => Err(Error::conflict(format!(
                "exec command {} is already running",
                self.id
            ))),
            State::Exited { .. } => Err(Error::conflict(format!(
                "exec command {} has already run",
                self.id
            ))),
        }
    }

    fn record_exit(&mut self, pid: i32, code: i64) {
        self.state = State::Exited { pid, code };
        self.terminal = None;
        for waiter in self.exit_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }
}

/// The execs of one container, oldest first.
#[derive(Default)]
pub struct Execs(Vec<Exec>);

impl Execs {
    fn get(&self, id: &str) -> Result<&Exec, Error> {
        self.0
            .iter()
            .find(|exec| exec.id == id)
            .ok_or_else(|| no_such_exec(id))
    }

    fn get_mut(&mut self, id: &str) -> Result<&mut Exec, Error> {
        self.0
            .iter_mut()
            .find(|exec| exec.id == id)
            .ok_or_else(|| no_such_exec(id))
    }

    /// The execs still running, for `inspect`'s ExecIDs.
    /// The execs whose process runs, with its PID.
    pub fn running_pids(&self) -> Vec<(String, i32)> {
        self.0
            .iter()
            .filter_map(|exec| match exec.state {
                State::Running { pid } if pid > 0 => Some((exec.id.clone(), pid)),
                _ => None,
            })
            .collect()
    }

    pub fn running_ids(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|exec| matches!(exec.state, State::Running { .. }))
            .map(|exec| exec.id.clone())
            .collect()
    }

    /// Forgets every exec (the container is being removed).
    pub fn forget_all(&mut self, index: &ExecIndex) {
        index.forget(self.0.iter().map(|exec| exec.id.as_str()));
        self.0.clear();
    }

    /// Drops the oldest finished execs beyond [`FINISHED_KEPT`].
    fn trim(&mut self, index: &ExecIndex) {
        let finished = |exec: &Exec| matches!(exec.state, State::Exited { .. });
        let mut excess = self
            .0
            .iter()
            .filter(|exec| finished(exec))
            .count()
            .saturating_sub(FINISHED_KEPT);
        let mut dropped = Vec::new();
        self.0.retain(|exec| {
            let drop_it = excess > 0 && finished(exec);
            if drop_it {
                excess -= 1;
                dropped.push(exec.id.clone());
            }
            !drop_it
        });
        index.forget(dropped.iter().map(String::as_str));
    }
}

fn no_such_exec(id: &str) -> Error {
    Error::NoSuchExec(id.to_string())
}

/// Docker's errors for a container an exec cannot enter. `typed` is the name the client used.
fn check_enterable(actor: &ContainerActor, typed: &str) -> Result<(), Error> {
    match actor.record.state.status {
        Status::Paused => Err(Error::conflict(format!(
            "Container {typed} is paused, unpause the container before exec"
        ))),
        Status::Restarting => Err(Error::conflict(format!(
            "Container {} is restarting, wait until the container is running",
            actor.record.id
        ))),
        // Its supervisor died: the one serving now did not start it and cannot enter it.
        Status::Running if actor.is_orphaned() => Err(Error::NotSupported(format!(
            "exec in container {}, whose supervisor died while it ran",
            actor.record.id
        ))),
        Status::Running => Ok(()),
        _ => Err(Error::conflict(format!(
            "container {} is not running",
            actor.record.id
        ))),
    }
}

/// `[height, width]` as the API sends it; zeros mean "not given".
pub fn console_size(size: Option<&Vec<usize>>) -> Result<Option<(u16, u16)>, Error> {
    match size.map(Vec::as_slice) {
        None | Some([]) | Some([0, 0]) => Ok(None),
        Some([height, width]) => {
            let fit = |n: usize| u16::try_from(n).ok().filter(|n| *n > 0);
            match (fit(*height), fit(*width)) {
                (Some(height), Some(width)) => Ok(Some((height, width))),
                _ => Err(Error::invalid(format!(
                    "invalid console size {height}x{width}: both must be between 1 and 65535"
                ))),
            }
        }
        Some(other) => Err(Error::invalid(format!(
            "invalid ConsoleSize {other:?}: expected [height, width]"
        ))),
    }
}

/// Docker's rule for environment lists: a `KEY=value` replaces an earlier `KEY`, a bare
/// `KEY` removes it, anything new is appended.
pub fn replace_or_append(env: &mut Vec<String>, overrides: &[String]) {
    for var in overrides {
        let (key, has_value) = match var.split_once('=') {
            Some((key, _)) => (key, true),
            None => (var.as_str(), false),
        };
        let existing = env.iter().position(|e| e.split('=').next() == Some(key));
        match (existing, has_value) {
            (Some(i), true) => env[i] = var.clone(),
            (Some(i), false) => {
                env.remove(i);
            }
            (None, true) => env.push(var.clone()),
            (None, false) => {}
        }
    }
}

// ---- create ------------------------------------------------------------------------------

#[derive(Message)]
#[rtype(result = "Result<String, Error>")]
pub struct CreateExec {
    /// The container's name or ID as the client typed it, for Docker's messages.
    pub typed: String,
    pub body: ExecCreateBody,
}

impl Handler<CreateExec> for ContainerActor {
    type Result = Result<String, Error>;

    fn handle(&mut self, msg: CreateExec, _: &mut Context<Self>) -> Self::Result {
        let CreateExec { typed, body } = msg;
        let cmd = body.cmd.unwrap_or_default();
        if cmd.is_empty() {
            return Err(Error::invalid("No exec command specified"));
        }
        check_enterable(self, &typed)?;
        let detach_keys_text = body.detach_keys.unwrap_or_default();
        let detach_keys = DetachKeys::parse(&detach_keys_text).map_err(|_| {
            Error::invalid(format!("Invalid escape keys ({detach_keys_text}) provided"))
        })?;
        let config = &self.record.config;
        let settings = Settings {
            cmd,
            env: body.env.unwrap_or_default(),
            user: body
                .user
                .filter(|u| !u.is_empty())
                .or_else(|| config.user.clone())
                .unwrap_or_default(),
            working_dir: body
                .working_dir
                .filter(|w| !w.is_empty())
                .or_else(|| config.working_dir.clone())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            privileged: body.privileged.unwrap_or(false),
            tty: body.tty.unwrap_or(false),
            attach_stdin: body.attach_stdin.unwrap_or(false),
            attach_stdout: body.attach_stdout.unwrap_or(false),
            attach_stderr: body.attach_stderr.unwrap_or(false),
            detach_keys,
            detach_keys_text,
            console_size: console_size(body.console_size.as_ref())?,
        };
        let id = ids::new_container_id();
        self.emit(
            &event_action("exec_create", &settings.cmd),
            &[("execID", id.clone())],
        );
        self.services.execs.insert(&id, &self.record.id);
        self.execs.0.push(Exec {
            id: id.clone(),
            settings,
            state: State::Created,
            terminal: None,
            exit_waiters: Vec::new(),
        });
        self.execs.trim(&self.services.execs);
        Ok(id)
    }
}

// ---- start -------------------------------------------------------------------------------

/// Whether exec `id` could start now: an attached client is answered before the process
/// starts, as with Docker, so that it is connected before the process can write.
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct CheckExec {
    pub id: String,
    pub typed: String,
}

impl Handler<CheckExec> for ContainerActor {
    type Result = Result<(), Error>;

    fn handle(&mut self, msg: CheckExec, _: &mut Context<Self>) -> Self::Result {
        check_enterable(self, &msg.typed)?;
        self.execs.get(&msg.id)?.check_startable()
    }
}

#[derive(Message)]
#[rtype(result = "Result<ExecStart, Error>")]
pub struct StartExec {
    pub id: String,
    pub typed: String,
    /// Overrides the size given at creation.
    pub console_size: Option<(u16, u16)>,
    /// Whether a client is attached (not `exec -d`).
    pub attached: bool,
}

/// A started (or failed) exec, for the client that started it.
pub struct ExecStart {
    pub tty: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// The exec's output, for an attached client.
    pub output: Option<mpsc::Receiver<Chunk>>,
    /// Its stdin, for an attached client that asked for it.
    pub stdin: Option<watch::Receiver<Option<StdinPort>>>,
    pub detach_keys: DetachKeys,
    /// Why the process could not start (its exit code is recorded already); nothing comes
    /// out of `output` then.
    pub failure: Option<Error>,
    /// Resolves once the exit code is recorded.
    pub exited: oneshot::Receiver<()>,
}

/// The daemon's side of an exec's stdio, kept until the start succeeds.
struct ExecIo {
    output: Option<(OwnedFd, OwnedFd)>,
    stdin: Option<OwnedFd>,
}

impl Handler<StartExec> for ContainerActor {
    type Result = AtomicResponse<Self, Result<ExecStart, Error>>;

    fn handle(&mut self, msg: StartExec, _: &mut Context<Self>) -> Self::Result {
        let refuse = |error| AtomicResponse::new(Box::pin(fut::ready(Err(error))));
        let prepared = check_enterable(self, &msg.typed).and_then(|()| self.prepare_exec(&msg));
        let (request, process_io, daemon_io, settings) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => return refuse(error),
        };
        // As Docker's, announced before anything can fail.
        self.emit(
            &event_action("exec_start", &settings.cmd),
            &[("execID", msg.id.clone())],
        );
        let hub = Arc::new(OutputHub::default());
        let output = msg.attached.then(|| hub.subscribe());
        if let Some(user) = &request.config.user {
            if let Err(error) = exec_user::check(self.record.state.pid, user) {
                let start = self.execs.get_mut(&msg.id).map(|exec| {
                    // Docker's lookup error is untyped: a 500 for `exec -d`.
                    let why = Error::internal(error.to_string());
                    failed_start(exec, &settings, output, 126, why)
                });
                return AtomicResponse::new(Box::pin(fut::ready(start)));
            }
        }
        let supervisor = self.services.supervisor.clone();
        let id = msg.id.clone();
        AtomicResponse::new(Box::pin(
            async move { supervisor.exec(request, process_io).await }
                .into_actor(self)
                .map(move |outcome, act, _| {
                    let exec = act.execs.get_mut(&id)?;
                    let started = match outcome {
                        Ok(Ok(started)) => started,
                        Ok(Err(failure)) => {
                            // 127 for a missing command, 126 for anything that could not be
                            // run, as Docker's CLI expects of `exec`.
                            let code = match failure.kind {
                                StartFailureKind::NotFound => 127,
                                _ => 126,
                            };
                            let why = Error::invalid(format!(
                                "exec failed: unable to start container process: {}",
                                failure.message
                            ));
                            return Ok(failed_start(exec, &settings, output, code, why));
                        }
                        Err(error) => {
                            exec.state = State::Created;
                            return Err(supervisor_error(error));
                        }
                    };
                    let (exit_sender, exited) = oneshot::channel();
                    exec.exit_waiters.push(exit_sender);
                    exec.state = State::Running {
                        pid: started.spawned.pid,
                    };
                    let stdin = connect_exec_io(exec, &settings, started.terminal, daemon_io, hub)
                        .map_err(|error| {
                            Error::internal(format!("connecting to exec {id}: {error}"))
                        })?
                        .map(|port| watch::channel(Some(port)).1);
                    Ok(ExecStart {
                        tty: settings.tty,
                        attach_stdout: settings.attach_stdout,
                        attach_stderr: settings.attach_stderr,
                        output,
                        stdin,
                        detach_keys: settings.detach_keys.clone(),
                        failure: None,
                        exited,
                    })
                }),
        ))
    }
}

/// Docker's action for an exec's events: the command and its arguments after a space, which
/// is there even when there are none.
fn event_action(kind: &str, cmd: &[String]) -> String {
    let (program, args) = cmd
        .split_first()
        .map_or(("", &[][..]), |(p, a)| (p.as_str(), a));
    format!("{kind}: {program} {}", args.join(" "))
}

/// Records that `exec` could not start, with exit code `code`, and says why to its client.
fn failed_start(
    exec: &mut Exec,
    settings: &Settings,
    output: Option<mpsc::Receiver<Chunk>>,
    code: i64,
    why: Error,
) -> ExecStart {
    let (exit_sender, exited) = oneshot::channel();
    exec.exit_waiters.push(exit_sender);
    exec.record_exit(0, code);
    ExecStart {
        tty: settings.tty,
        attach_stdout: settings.attach_stdout,
        attach_stderr: settings.attach_stderr,
        output,
        stdin: None,
        detach_keys: settings.detach_keys.clone(),
        failure: Some(why),
        exited,
    }
}

fn supervisor_error(error: ClientError) -> Error {
    match error {
        ClientError::Refused(Refusal::NotRunning { id }) => {
            Error::conflict(format!("container {id} is not running"))
        }
        other => Error::internal(format!("supervisor: {other}")),
    }
}

/// Starts relaying the exec's output into `hub` and returns the way into its stdin, if the
/// client asked for one.
fn connect_exec_io(
    exec: &mut Exec,
    settings: &Settings,
    terminal: Option<OwnedFd>,
    daemon_io: ExecIo,
    hub: Arc<OutputHub>,
) -> std::io::Result<Option<StdinPort>> {
    let no_close = || -> futures_util::future::LocalBoxFuture<'static, ()> { Box::pin(async {}) };
    match terminal {
        Some(master) => {
            let handle = TerminalHandle::new(master);
            actix_rt::spawn(stdio::relay_terminal(handle.duplicate()?, None, hub));
            let port = if settings.attach_stdin {
                Some(StdinPort::open(handle.duplicate()?, no_close)?)
            } else {
                None
            };
            exec.terminal = Some(handle);
            Ok(port)
        }
        None => {
            if let Some((stdout, stderr)) = daemon_io.output {
                actix_rt::spawn(stdio::relay_pipes(stdout, stderr, hub));
            }
            daemon_io
                .stdin
                .map(|writer| StdinPort::open(writer, no_close))
                .transpose()
        }
    }
}

impl ContainerActor {
    /// Claims exec `msg.id` for starting and builds what the supervisor needs.
    fn prepare_exec(
        &mut self,
        msg: &StartExec,
    ) -> Result<(ExecRequest, ProcessIo, ExecIo, Settings), Error> {
        let container = spec::runtime_config(&self.record, &self.dir)?;
        let hostname = self.record.config.hostname.clone().unwrap_or_default();
        let container_env = self.record.config.env.clone().unwrap_or_default();
        let exec = self.execs.get_mut(&msg.id)?;
        exec.check_startable()?;
        let mut settings = exec.settings.clone();
        if msg.console_size.is_some() {
            settings.console_size = msg.console_size;
        }
        let process = exec_process(&container, &settings, &hostname, &container_env)?;
        let (process_io, daemon_io) = exec_stdio(&settings, msg.attached)?;
        // Claimed: a second start is refused while this one runs.
        exec.state = State::Running { pid: 0 };
        let user = Some(settings.user.clone()).filter(|u| !u.is_empty());
        let request = ExecRequest {
            exec_id: exec.id.clone(),
            config: berth_runtime::ExecConfig {
                container,
                process,
                user,
            },
        };
        Ok((request, process_io, daemon_io, settings))
    }
}

/// The exec's process: the container's, with the exec's command, environment, working
/// directory and terminal, and every capability for `--privileged`.
fn exec_process(
    container: &berth_runtime::ContainerConfig,
    settings: &Settings,
    hostname: &str,
    container_env: &[String],
) -> Result<Process, Error> {
    let mut process = container
        .spec
        .process()
        .clone()
        .ok_or_else(|| Error::internal("the container's spec has no process"))?;
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if settings.tty {
        env.push("TERM=xterm".into());
    }
    replace_or_append(&mut env, container_env);
    replace_or_append(&mut env, &settings.env);
    process
        .set_args(Some(settings.cmd.clone()))
        .set_env(Some(env))
        .set_cwd(settings.working_dir.clone().into())
        .set_terminal(Some(settings.tty));
    if let Some((height, width)) = settings.console_size.filter(|_| settings.tty) {
        let size = oci_spec::runtime::BoxBuilder::default()
            .height(u64::from(height))
            .width(u64::from(width))
            .build()
            .map_err(|e| Error::internal(format!("building the console size: {e}")))?;
        process.set_console_size(Some(size));
    }
    if settings.privileged {
        let all: std::collections::HashSet<_> = berth_runtime::defaults::all_capabilities()
            .into_iter()
            .collect();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(all.clone())
            .effective(all.clone())
            .permitted(all)
            .build()
            .map_err(|e| Error::internal(format!("building capabilities: {e}")))?;
        process.set_capabilities(Some(caps));
    }
    Ok(process)
}

/// The exec's stdio: a terminal, or pipes (stdin only for a client that attaches it; output
/// thrown away for `exec -d`).
fn exec_stdio(settings: &Settings, attached: bool) -> Result<(ProcessIo, ExecIo), Error> {
    if settings.tty {
        return Ok((
            ProcessIo::Terminal,
            ExecIo {
                output: None,
                stdin: None,
            },
        ));
    }
    let pipe = || {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::internal(format!("creating an exec pipe: {e}")))
    };
    let (stdin, stdin_writer) = if attached && settings.attach_stdin {
        let (read, write) = pipe()?;
        (Some(read), Some(write))
    } else {
        (None, None)
    };
    if !attached {
        let null = || -> Result<OwnedFd, Error> {
            File::options()
                .write(true)
                .open("/dev/null")
                .map(OwnedFd::from)
                .map_err(|e| Error::internal(format!("opening /dev/null: {e}")))
        };
        let stdio = Stdio {
            stdin,
            stdout: null()?,
            stderr: null()?,
        };
        let io = ExecIo {
            output: None,
            stdin: None,
        };
        return Ok((ProcessIo::Pipes(stdio), io));
    }
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let stdio = Stdio {
        stdin,
        stdout: stdout_write,
        stderr: stderr_write,
    };
    let io = ExecIo {
        output: Some((stdout_read, stderr_read)),
        stdin: stdin_writer,
    };
    Ok((ProcessIo::Pipes(stdio), io))
}

// ---- exit, inspect, resize -----------------------------------------------------------------

/// The supervisor saw an exec's process exit.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ExecExited {
    pub exec_id: String,
    pub pid: i32,
    pub exit: ExitRecord,
}

impl Handler<ExecExited> for ContainerActor {
    type Result = ();

    fn handle(&mut self, msg: ExecExited, _: &mut Context<Self>) {
        match self.execs.get_mut(&msg.exec_id) {
            Ok(exec) => exec.record_exit(msg.pid, i64::from(msg.exit.exit_code)),
            Err(_) => tracing::debug!("exit of a forgotten exec {}", msg.exec_id),
        }
        self.emit(
            "exec_die",
            &[
                ("execID", msg.exec_id),
                ("exitCode", msg.exit.exit_code.to_string()),
            ],
        );
    }
}

#[derive(Message)]
#[rtype(result = "Result<serde_json::Value, Error>")]
pub struct InspectExec(pub String);

impl Handler<InspectExec> for ContainerActor {
    type Result = Result<serde_json::Value, Error>;

    fn handle(&mut self, InspectExec(id): InspectExec, _: &mut Context<Self>) -> Self::Result {
        let exec = self.execs.get(&id)?;
        let settings = &exec.settings;
        let (running, exit_code, pid) = match exec.state {
            State::Created => (false, None, 0),
            State::Running { pid } => (true, None, pid),
            State::Exited { pid, code } => (false, Some(code), pid),
        };
        let (entrypoint, arguments) = settings
            .cmd
            .split_first()
            .map(|(first, rest)| (first.clone(), rest.to_vec()))
            .unwrap_or_default();
        // Built by hand: Docker sends `"ExitCode": null` while the exec has not exited, and
        // clients index the key.
        Ok(serde_json::json!({
            "ID": exec.id,
            "Running": running,
            "ExitCode": exit_code,
            "ProcessConfig": {
                "tty": settings.tty,
                "entrypoint": entrypoint,
                "arguments": arguments,
                "privileged": settings.privileged,
                "user": settings.user,
            },
            "OpenStdin": settings.attach_stdin,
            "OpenStderr": settings.attach_stderr,
            "OpenStdout": settings.attach_stdout,
            "CanRemove": false,
            "ContainerID": self.record.id,
            "DetachKeys": settings.detach_keys_text,
            "Pid": pid,
        }))
    }
}

#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct ResizeExec {
    pub id: String,
    pub typed: String,
    pub rows: u16,
    pub columns: u16,
}

impl Handler<ResizeExec> for ContainerActor {
    type Result = Result<(), Error>;

    fn handle(&mut self, msg: ResizeExec, _: &mut Context<Self>) -> Self::Result {
        check_enterable(self, &msg.typed)?;
        let exec = self.execs.get(&msg.id)?;
        match (&exec.state, &exec.terminal) {
            (State::Running { .. }, Some(terminal)) => terminal
                .resize(msg.rows, msg.columns)
                .map_err(|e| Error::internal(e.to_string())),
            // Docker's runtime ignores a resize of a process without a terminal.
            (State::Running { .. }, None) => Ok(()),
            _ => Err(Error::conflict(format!("exec {} is not running", exec.id))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_follow_docker() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".into(), "B=2".into()];
        replace_or_append(
            &mut env,
            &["A=9".into(), "B".into(), "C=3".into(), "D".into()],
        );
        assert_eq!(env, ["PATH=/bin", "A=9", "C=3"]);
    }

    #[test]
    fn console_sizes_are_height_then_width() {
        assert_eq!(console_size(None).unwrap(), None);
        assert_eq!(console_size(Some(&vec![0, 0])).unwrap(), None);
        assert_eq!(console_size(Some(&vec![24, 80])).unwrap(), Some((24, 80)));
        assert!(console_size(Some(&vec![24])).is_err());
        assert!(console_size(Some(&vec![0, 80])).is_err());
        assert!(console_size(Some(&vec![70000, 80])).is_err());
    }
}
