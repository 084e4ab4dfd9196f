//! The messages exchanged on the supervisor socket.
//!
//! Every message is one JSON document, cut into SOCK_SEQPACKET packets by [`crate::framing`].
//! Descriptors travel as SCM_RIGHTS next to the message that names them; a message says how
//! many it carries and in which order, never their numbers.
//!
//! The daemon sends [`Request`]s, each with a sequence number of its choosing; the supervisor
//! answers each with exactly one [`SupervisorMessage::Reply`] carrying the same number, in the
//! order the requests arrived. [`SupervisorMessage::Exited`] events are interleaved whenever a
//! container exits. A new kind of work (issue 3's exec) is a new [`RequestBody`] variant.

use std::path::PathBuf;

use berth_runtime::{ContainerConfig, Spawned, StartFailure};
use serde::{Deserialize, Serialize};

use crate::exit::ExitRecord;

/// Bumped whenever a message changes shape, so that a daemon never talks to a supervisor left
/// running by an older berthd without noticing.
pub const PROTOCOL_VERSION: u32 = 1;

/// What the daemon asks of the supervisor to start one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpawnRequest {
    pub config: ContainerConfig,
    /// Where the supervisor writes `exit.json` when the container exits. Must be an existing
    /// directory, given as an absolute path.
    pub state_dir: PathBuf,
}

/// A container's exit, as reported to the connected daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitEvent {
    pub id: String,
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
    /// Descriptors: `[stdin?, stdout, stderr, keep...]`, as [`SpawnDescriptors`] says.
    Spawn {
        request: Box<SpawnRequest>,
        descriptors: SpawnDescriptors,
    },
    Signal {
        id: String,
        signal: i32,
    },
    List,
    Release {
        id: String,
    },
}

/// How the descriptors attached to a spawn request are laid out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct SpawnDescriptors {
    pub stdin: bool,
    /// How many descriptors after the child's stdio the supervisor keeps for the daemon.
    pub keep: usize,
}

impl SpawnDescriptors {
    pub fn count(self) -> usize {
        usize::from(self.stdin) + 2 + self.keep
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
    Spawned(Spawned),
    Failed(StartFailure),
    Signalled,
    NotRunning,
    /// Descriptors: every container's kept descriptors, one container after the other.
    Listed(Vec<ListedContainer>),
    Released,
    Refused(Refusal),
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ListedContainer {
    pub id: String,
    pub pid: i32,
    pub state_dir: PathBuf,
    pub exit: Option<ExitRecord>,
    /// How many of the reply's descriptors belong to this container.
    pub kept: usize,
}
