//! `docker exec`: processes started inside a running container. Each exec belongs to its
//! container's actor; [`ExecIndex`] finds the container of an exec ID.
//!
//! An exec is created (its settings checked and stored), started once (the supervisor runs
//! it, joined to the container's namespaces and cgroup, and parents it), and its exit arrives
//! as an exit event carrying its ID. Its exit code stays inspectable until the container is
//! removed; of the finished execs of one container only the newest [`FINISHED_KEPT`] are
//! kept, so that a container exec'd into forever does not grow the daemon.
//!
//! This file holds the execs' bookkeeping, create, exit, inspect and resize; `start` the
//! start of an exec's process and its stdio.

mod base;
mod start;

pub(crate) use base::ExecBase;

use start::event_action;
pub use start::{CheckExec, ExecStart, StartExec};

use std::collections::HashMap;

use actix::prelude::*;
use berth_stdio::DetachKeys;
use berth_supervisor::ExitRecord;
use bollard_stubs::models::ExecConfig as ExecCreateBody;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::actor::ContainerActor;
use super::error::Error;
use super::record::Status;
use super::stdio::TerminalHandle;
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
    /// Told the exit code once it is recorded: a healthcheck's probe reads it from here
    /// rather than inspecting the exec after its exit.
    exit_code: Option<oneshot::Sender<i64>>,
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
        if let Some(exit_code) = self.exit_code.take() {
            let _ = exit_code.send(code);
        }
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
        self.create_exec(msg, None)
    }
}

/// [`CreateExec`] for a healthcheck: the same exec (Docker registers its probes as execs,
/// with their events), answered with a receiver of its exit code.
#[derive(Message)]
#[rtype(result = "Result<(String, oneshot::Receiver<i64>), Error>")]
pub struct CreateProbeExec(pub CreateExec);

impl Handler<CreateProbeExec> for ContainerActor {
    type Result = Result<(String, oneshot::Receiver<i64>), Error>;

    fn handle(
        &mut self,
        CreateProbeExec(msg): CreateProbeExec,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let (sender, exit_code) = oneshot::channel();
        let id = self.create_exec(msg, Some(sender))?;
        Ok((id, exit_code))
    }
}

impl ContainerActor {
    fn create_exec(
        &mut self,
        msg: CreateExec,
        exit_code: Option<oneshot::Sender<i64>>,
    ) -> Result<String, Error> {
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
            exit_code,
        });
        self.execs.trim(&self.services.execs);
        Ok(id)
    }
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
        self.publish_execs();
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
