//! The messages exchanged on the supervisor socket.
//!
//! Every message is one JSON document, cut into SOCK_SEQPACKET packets by [`crate::framing`].
//! Descriptors travel as SCM_RIGHTS next to the message that names them; a message says how
//! many it carries and in which order, never their numbers.
//!
//! The daemon sends [`Request`]s, each with a sequence number of its choosing; the supervisor
//! answers each with exactly one [`SupervisorMessage::Reply`] carrying the same number, in the
//! order the requests arrived. [`SupervisorMessage::Exited`] events are interleaved whenever a
//! container exits. A new kind of work is a new [`RequestBody`] variant.
//!
//! Version 2 added terminals (a spawn or exec whose process gets a pty: the reply carries its
//! master), a kept writer of a container's stdin with `CloseStdin` to let it go, and `Exec`,
//! whose process is reported in [`ExitEvent`]s carrying the exec's ID.
//!
//! Version 3: an [`ExecRequest`] names its container and carries only the process; the
//! container's configuration comes along only for an orphan (a container this supervisor
//! did not spawn), since the supervisor keeps what execs need from each spawn.

use std::path::PathBuf;

use berth_runtime::{ContainerConfig, ExecConfig, Spawned, StartFailure};
use serde::{Deserialize, Serialize};

use crate::exit::ExitRecord;

/// Bumped whenever a message changes shape, so that a daemon never talks to a supervisor left
/// running by an older berthd without noticing.
pub const PROTOCOL_VERSION: u32 = 3;

/// What the daemon asks of the supervisor to start one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpawnRequest {
    pub config: ContainerConfig,
    /// Where the supervisor writes `exit.json` when the container exits. Must be an existing
    /// directory, given as an absolute path.
    pub state_dir: PathBuf,
}

/// What the daemon asks of the supervisor to start a process in a running container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The exec's own ID, which its exit event carries.
    pub exec_id: String,
    /// The container to enter (its full ID); it must be running.
    pub container: String,
    /// The process: what to run, and as whom.
    pub config: ExecConfig,
    /// Set when this supervisor does not parent the container (the one that did died, see
    /// berthd's `supervision`), so it knows nothing of it.
    #[serde(default)]
    pub orphan: Option<OrphanContainer>,
}

/// A container whose supervisor died, as an exec into it needs it described.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrphanContainer {
    /// Its PID 1, entered through `/proc/<pid>`, once it is known to be the container's
    /// (alive, in the container's cgroup) after its namespaces were opened.
    pub pid: i32,
    /// As it was spawned: its cgroup, seccomp filter and `--group-add` apply to the exec.
    pub config: Box<ContainerConfig>,
}

/// A container's exit, or the exit of a process exec'd into it, as reported to the connected
/// daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitEvent {
    /// The container.
    pub id: String,
    /// Set when the process was exec'd into the container rather than its PID 1.
    pub exec: Option<String>,
    pub pid: i32,
    pub exit: ExitRecord,
}

/// Why the supervisor turned a request down. These are the daemon's mistakes or races, never
/// the container's: a container that fails to start is a [`StartFailure`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    #[error("the supervisor knows no container {id}")]
    UnknownContainer { id: String },
    #[error("the supervisor already holds a container {id}; release it before starting it again")]
    DuplicateContainer { id: String },
    #[error("container {id} is still running")]
    StillRunning { id: String },
    #[error("container {id} is not running")]
    NotRunning { id: String },
    #[error("the supervisor already runs an exec {id}")]
    DuplicateExec { id: String },
    #[error("the request announced {expected} file descriptors but {received} arrived")]
    Descriptors { expected: usize, received: usize },
    #[error("state directory {path}: {message}")]
    StateDir { path: PathBuf, message: String },
    #[error("the supervisor could not do it: {message}")]
    System { message: String },
    #[error("cannot send signal {signal} to container {id}: {message}")]
    Signal {
        id: String,
        signal: i32,
        message: String,
    },
}

/// A request from the daemon, numbered so the reply can be matched to it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub seq: u64,
    pub body: RequestBody,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum RequestBody {
    /// Descriptors: `[stdin?, stdout, stderr, keep..., stdin writer?]`, as
    /// [`SpawnDescriptors`] says. With a terminal the reply carries its master.
    Spawn {
        request: Box<SpawnRequest>,
        descriptors: SpawnDescriptors,
    },
    /// Descriptors: the child's stdio, as [`StdioLayout`] says. With a terminal the reply
    /// carries its master.
    Exec {
        request: Box<ExecRequest>,
        stdio: StdioLayout,
    },
    Signal {
        id: String,
        signal: i32,
    },
    List,
    Release {
        id: String,
    },
    /// Closes the writer of the container's stdin that the supervisor keeps, so that the
    /// container sees end-of-file once the daemon has closed its own.
    CloseStdin {
        id: String,
    },
}

impl RequestBody {
    /// The request's name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            RequestBody::Spawn { .. } => "a spawn",
            RequestBody::Exec { .. } => "an exec",
            RequestBody::Signal { .. } => "a signal",
            RequestBody::List => "a list",
            RequestBody::Release { .. } => "a release",
            RequestBody::CloseStdin { .. } => "a stdin close",
        }
    }
}

/// The child's stdio descriptors in a spawn or exec request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StdioLayout {
    /// `[stdin?, stdout, stderr]`.
    Pipes { stdin: bool },
    /// None: the process gets a terminal.
    Terminal,
}

impl StdioLayout {
    pub fn count(self) -> usize {
        match self {
            StdioLayout::Pipes { stdin } => usize::from(stdin) + 2,
            StdioLayout::Terminal => 0,
        }
    }
}

/// How the descriptors attached to a spawn request are laid out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct SpawnDescriptors {
    pub stdio: StdioLayout,
    /// How many descriptors after the child's stdio the supervisor keeps for the daemon.
    pub keep: usize,
    /// Whether a writer of the child's stdin comes last, kept until `CloseStdin`.
    pub stdin_writer: bool,
}

impl SpawnDescriptors {
    pub fn count(self) -> usize {
        self.stdio.count() + self.keep + usize::from(self.stdin_writer)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum SupervisorMessage {
    /// The first message on every connection.
    Welcome {
        protocol: u32,
        pid: i32,
    },
    /// Sent instead of `Welcome` on the connection a supervisor was started with, when it
    /// cannot serve. `busy` means another supervisor holds the exec root.
    StartupFailed {
        busy: bool,
        message: String,
    },
    Reply {
        seq: u64,
        reply: Reply,
    },
    Exited(ExitEvent),
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// Descriptors: the terminal's master, for a process that got one.
    Spawned(Spawned),
    Failed(StartFailure),
    Signalled,
    NotRunning,
    /// Descriptors: every container's kept descriptors, one container after the other, as
    /// each [`ListedContainer`] says.
    Listed(Vec<ListedContainer>),
    Released,
    StdinClosed,
    Refused(Refusal),
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ListedContainer {
    pub id: String,
    pub pid: i32,
    pub state_dir: PathBuf,
    pub exit: Option<ExitRecord>,
    /// How many of the reply's descriptors belong to this container: `kept` kept ones, then
    /// the writer of its stdin and the master of its terminal when it has them.
    pub kept: usize,
    pub stdin_writer: bool,
    pub terminal: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_runtime::Rootfs;

    fn request(orphan: Option<OrphanContainer>) -> ExecRequest {
        let mut process = oci_spec::runtime::Process::default();
        process.set_args(Some(vec!["true".into()]));
        ExecRequest {
            exec_id: "e1".into(),
            container: "c1".into(),
            config: ExecConfig {
                process,
                user: Some("app".into()),
            },
            orphan,
        }
    }

    #[test]
    fn an_exec_request_carries_the_container_only_for_an_orphan() {
        let plain = serde_json::to_value(request(None)).unwrap();
        assert_eq!(plain["container"], "c1");
        assert!(plain["orphan"].is_null());
        // Only the process: nothing of the container's spec (its seccomp profile) travels.
        assert!(plain["config"].get("container").is_none());
        let back: ExecRequest = serde_json::from_value(plain).unwrap();
        assert!(back.orphan.is_none());
        assert_eq!(back.config.user.as_deref(), Some("app"));

        let orphan = OrphanContainer {
            pid: 4321,
            config: Box::new(ContainerConfig {
                id: "c1".into(),
                spec: oci_spec::runtime::Spec::default(),
                rootfs: Rootfs::Directory("/rootfs".into()),
                init: false,
            }),
        };
        let text = serde_json::to_string(&request(Some(orphan))).unwrap();
        let back: ExecRequest = serde_json::from_str(&text).unwrap();
        let orphan = back.orphan.unwrap();
        assert_eq!((orphan.pid, orphan.config.id.as_str()), (4321, "c1"));
    }

    #[test]
    fn a_request_without_the_orphan_field_is_no_orphan() {
        let mut value = serde_json::to_value(request(None)).unwrap();
        value.as_object_mut().unwrap().remove("orphan");
        let back: ExecRequest = serde_json::from_value(value).unwrap();
        assert!(back.orphan.is_none());
    }
}
