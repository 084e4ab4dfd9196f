//! berth-runtime: turns an OCI runtime spec into a running, isolated process.
//!
//! The engine builds an [`oci_spec::runtime::Spec`] from a Docker create request (as dockerd
//! does for containerd); this crate applies it: namespaces, the overlay rootfs mounted inside
//! the container's own mount namespace, pivot_root, /proc, /dev, masked and read-only paths,
//! capabilities, seccomp, the cgroup, the user, and finally execve.
//!
//! [`spawn`] forks. It must be called from a single-threaded process: berth calls it only from
//! the supervisor (see berth-supervisor), which never starts a second thread.
//!
//! What [`spawn`] does, in order:
//! 1. In the caller: checks the spec and decides everything ([`PlanError`] for what berth
//!    does not support), compiles the seccomp filter, opens namespaces to join, creates the
//!    cgroup (`linux.cgroupsPath`, default `/berth/<id>`) and writes its limits.
//! 2. clone(2) with new mount, uts, ipc, net and pid namespaces as listed; a pid namespace
//!    given by path is entered for the child only. The caller moves the child into the
//!    cgroup, then lets it go on.
//! 3. In the child: joins namespaces given by path, unshares its cgroup namespace (so its
//!    own cgroup is the root it sees), brings up `lo` in a new network namespace, makes every
//!    mount private and mounts the rootfs, then `spec.mounts` in order, each destination
//!    resolved inside the rootfs, then the /dev nodes and links; pivot_root; hostname,
//!    sysctls, the working directory (created if missing), masked and read-only paths, a
//!    read-only root; rlimits and oom_score_adj; the user (from [`USER_ANNOTATION`] when
//!    present, resolved in the container's /etc/passwd and /etc/group); capabilities,
//!    no_new_privs and seccomp; with `init`, the fork of the container's process under a
//!    minimal init; execve.
//! 4. The caller returns once the program runs; a failure anywhere before is reported back
//!    as a [`StartFailure`] (kind NotFound, PermissionDenied or Other, runc's wording), the
//!    child reaped and the cgroup removed.
//!
//! After a successful start the caller owns the child (waitpid) and, once it has exited, the
//! cgroup ([`cgroup`] gives its manager, for stats, OOM state and removal). The overlay mount
//! lives only in the container's mount namespace and goes away with it.
//!
//! With [`ProcessIo::Terminal`] the process gets a pseudo-terminal instead of the caller's
//! descriptors. It comes from the container's own devpts instance (`/dev/pts/ptmx`, opened
//! inside the container once it is mounted), so the container sees a `/dev/pts/N` of its
//! own. The slave becomes the process's controlling terminal (setsid, TIOCSCTTY) and its 0,
//! 1 and 2; the master travels back to the caller over a socketpair (SCM_RIGHTS) before the
//! program is exec'd, as runc's console socket does.
//!
//! [`ExecTarget::exec`] starts another process in a running container (`docker exec`): it
//! joins the container's namespaces (through `/proc/<pid>/ns/*`, opened once per container)
//! and cgroup, and gets the container's seccomp filter (compiled once, at its start, when
//! [`spawn_container`] made the target) and whatever capabilities, rlimits and no_new_privs
//! its process spec gives. The same failure reports apply.

mod capabilities;
mod child;
pub mod defaults;
mod devices;
mod enter;
mod exec;
mod init;
mod limits;
mod mount_options;
mod mounts;
mod namespaces;
mod os_error;
mod plan;
mod rootfs;
mod seccomp;
mod shm;
mod spawn;
mod terminal;
mod user;
mod vfork;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use enter::ExecTarget;
pub use limits::raise_descriptor_limit;
pub use plan::{
    cgroup_path, PlanError, GROUP_ADD_ANNOTATION, SHM_FROM_ANNOTATION, USER_ANNOTATION,
};
pub use rootfs::{make_mounts_private, mount_rootfs, RootfsError};
pub use seccomp::{SeccompError, SeccompFilter};
pub use spawn::{cgroup, spawn, spawn_container, spawn_with, SpawnError};
pub use terminal::TerminalError;
pub use user::{resolve as resolve_user, ExecUser, UserError};
pub use vfork::reserve_descriptors;

/// Where the container's root filesystem comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Rootfs {
    /// An overlay of image layers, mounted inside the container's mount namespace so that it
    /// disappears with the namespace and never shows on the host.
    Overlay {
        /// Layer directories, top-most first (overlayfs `lowerdir` order).
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        /// An empty directory to mount the overlay on (inside the container's namespace).
        merged: PathBuf,
        /// Mount with overlayfs' `volatile` option: no sync of the upper file system, not
        /// at writes and not at the unmount when the container's mount namespace dies
        /// (which otherwise syncs the whole file system under `upper`, tens of
        /// milliseconds on a busy disk, inside the container's exit). After a host crash
        /// the upper directory cannot be trusted; overlayfs marks it by leaving
        /// `work/work/incompat/volatile` behind and refuses to mount it again. Only for
        /// containers whose upper directory is thrown away when they stop (`--rm`).
        #[serde(default)]
        volatile: bool,
    },
    /// A directory prepared by the caller, used as it is.
    Directory(PathBuf),
}

/// Everything the runtime needs to start one container, apart from its stdio descriptors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The container's full ID (64 hex characters).
    pub id: String,
    pub spec: oci_spec::runtime::Spec,
    pub rootfs: Rootfs,
    /// Run a small init as PID 1 that reaps zombies and forwards signals (`--init`).
    pub init: bool,
}

/// The descriptors the container's process gets as 0, 1 and 2.
/// Without stdin the process gets /dev/null.
#[derive(Debug)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// How a process's 0, 1 and 2 are set up. It must agree with the spec's `process.terminal`.
#[derive(Debug)]
pub enum ProcessIo {
    /// The caller's descriptors (pipes, files).
    Pipes(Stdio),
    /// A new pseudo-terminal from the container's devpts; the caller gets its master.
    Terminal,
}

/// A started container.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Spawned {
    /// The container's PID 1, as seen from the host.
    pub pid: i32,
}

/// A started process, with the master side of its terminal for [`ProcessIo::Terminal`].
#[derive(Debug)]
pub struct Started {
    pub spawned: Spawned,
    pub terminal: Option<OwnedFd>,
}

/// A process to start inside a running container (`docker exec`), whose cgroup, namespaces
/// and seccomp filter come from the container's [`ExecTarget`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecConfig {
    /// What to run and as what: args, env, cwd, capabilities, rlimits, no_new_privileges,
    /// terminal and console size. The user is `user` when given, else `process.user`.
    pub process: oci_spec::runtime::Process,
    /// `-u` as typed, resolved in the container's own /etc/passwd and /etc/group.
    pub user: Option<String>,
}

/// Why a container could not be started, in a form that crosses the supervisor socket.
///
/// The message follows runc's wording, because the docker CLI picks its exit code by
/// searching the text: "executable file not found" or "no such file or directory" gives 127,
/// "permission denied" gives 126, anything else 125.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StartFailure {
    pub kind: StartFailureKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum StartFailureKind {
    /// The command does not exist (exit code 127).
    NotFound,
    /// The command exists but cannot be executed (exit code 126).
    PermissionDenied,
    /// Anything else: a mount, cgroup or namespace failed (exit code 125).
    Other,
}

impl StartFailureKind {
    /// The exit code Docker records for a container that failed this way.
    pub fn exit_code(self) -> i32 {
        match self {
            StartFailureKind::NotFound => 127,
            StartFailureKind::PermissionDenied => 126,
            StartFailureKind::Other => 125,
        }
    }
}
