//! Starting an exec: its process built from the container's, its stdio (a terminal or
//! pipes), the supervisor asked to run it, and the client answered with its streams.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use actix::prelude::*;
use berth_runtime::{ProcessIo, StartFailureKind, Stdio};
use berth_stdio::DetachKeys;
use berth_supervisor::{ClientError, ExecRequest, OrphanContainer, Refusal};
use oci_spec::runtime::{LinuxCapabilitiesBuilder, Process};
use tokio::sync::{mpsc, oneshot, watch};

use super::base::ExecBase;
use super::{check_enterable, replace_or_append, Exec, Settings, State};
use crate::container::actor::ContainerActor;
use crate::container::create::DEFAULT_PATH;
use crate::container::error::Error;
use crate::container::exec_user;
use crate::container::output::{Chunk, OutputHub};
use crate::container::spec;
use crate::container::stdio::{self, StdinPort, TerminalHandle};

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
        if let Err(why) = check_enterable(self, &msg.typed) {
            // The container changed (paused, say) since the check before the client's
            // connection was taken over: the client is attached already, so the exec
            // ends as one that could not be run, with 126, the exit code its CLI shows.
            return match self.execs.get_mut(&msg.id) {
                Ok(exec) if exec.check_startable().is_ok() => {
                    let settings = exec.settings.clone();
                    let failed = failed_start(exec, &settings, None, 126, why);
                    AtomicResponse::new(Box::pin(fut::ready(Ok(failed))))
                }
                _ => refuse(why),
            };
        }
        let prepared = self.prepare_exec(&msg);
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
                    // Run at once: `?` and `return` leave it, not the map, so the
                    // execs are published whatever became of this one.
                    let started = (|| {
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
                            // The supervisor died or missed its deadline: the exec did not run (as
                            // Docker's when containerd fails it), and an attached client, whose
                            // connection was taken over already, reads 126 as its exit code.
                            Err(error) => {
                                let why = supervisor_error(error);
                                return Ok(failed_start(exec, &settings, output, 126, why));
                            }
                        };
                        let (exit_sender, exited) = oneshot::channel();
                        exec.exit_waiters.push(exit_sender);
                        exec.state = State::Running {
                            pid: started.spawned.pid,
                        };
                        let stdin =
                            connect_exec_io(exec, &settings, started.terminal, daemon_io, hub)
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
                    })();
                    // An exec's start changes no record field, only the running execs.
                    act.publish_execs();
                    started
                }),
        ))
    }
}

/// Docker's action for an exec's events: the command and its arguments after a space, which
/// is there even when there are none.
pub(super) fn event_action(kind: &str, cmd: &[String]) -> String {
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
        let pid = self.record.state.pid;
        // Its supervisor died: the one serving now knows nothing of it, and enters it
        // through its PID 1 with the configuration it was spawned with.
        let orphan = match self.is_orphaned() {
            true => Some(OrphanContainer {
                pid,
                config: Box::new(spec::runtime_config(
                    &self.record,
                    &self.dir,
                    &self.services.cgroup_parent,
                )?),
            }),
            false => None,
        };
        let (record, dir, cgroup_parent) = (&self.record, &self.dir, &self.services.cgroup_parent);
        let base = ExecBase::current(&mut self.exec_base, pid, || match &orphan {
            Some(orphan) => ExecBase::new(pid, &orphan.config),
            None => ExecBase::new(pid, &spec::runtime_config(record, dir, cgroup_parent)?),
        })?;
        let hostname = self.record.config.hostname.as_deref().unwrap_or_default();
        let container_env = self.record.config.env.as_deref().unwrap_or_default();
        let exec = self.execs.get_mut(&msg.id)?;
        exec.check_startable()?;
        let mut settings = exec.settings.clone();
        if msg.console_size.is_some() {
            settings.console_size = msg.console_size;
        }
        let process = exec_process(&base.process, &settings, hostname, container_env)?;
        let (process_io, daemon_io) = exec_stdio(&settings, msg.attached)?;
        // Claimed: a second start is refused while this one runs.
        exec.state = State::Running { pid: 0 };
        // Without `-u`, an exec runs as the container's user, with its groups and
        // `--group-add`, as in Docker.
        let user = Some(settings.user.clone())
            .filter(|u| !u.is_empty())
            .or_else(|| base.user.clone());
        let request = ExecRequest {
            exec_id: exec.id.clone(),
            container: self.record.id.clone(),
            config: berth_runtime::ExecConfig { process, user },
            orphan,
        };
        Ok((request, process_io, daemon_io, settings))
    }
}

/// The exec's process: the container's, with the exec's command, environment, working
/// directory and terminal, and every capability for `--privileged`.
fn exec_process(
    container: &Process,
    settings: &Settings,
    hostname: &str,
    container_env: &[String],
) -> Result<Process, Error> {
    let mut process = container.clone();
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
