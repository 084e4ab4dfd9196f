//! The supervisor's side of starting a container: the cgroup, the clone, and the handshake
//! that tells a started program from a failed setup.
//!
//! Two pipes link the supervisor and a container's first process. Over `go` the supervisor
//! says the process now sits in its cgroup (with its limits in force), so it may unshare its
//! cgroup namespace and go on. `report` is close-on-exec: a successful execve closes it with
//! nothing written, while a failure is written there as a [`StartFailure`] before the
//! process exits. A process with a terminal also gets one end of a socketpair, over which it
//! sends the terminal's master before it execs. Exec into a running container
//! (`crate::enter`) goes through the same [`Launch`], but vforks (`crate::vfork`): the
//! supervisor is suspended until the child execs, so there is no `go`, and the child joins
//! its cgroup itself.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::child::{self, ChildEnds, ChildIo};
use crate::enter::ExecTarget;
use crate::namespaces::{self, NamespaceError, OpenNamespace};
use crate::os_error::OsError;
use crate::plan::{self, Plan, PlanError, ProcessPlan};
use crate::terminal::{self, TerminalError};
use crate::vfork;
use crate::{ContainerConfig, ProcessIo, Spawned, StartFailure, StartFailureKind, Started, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("cgroup {path}: {source}")]
    Cgroup {
        path: String,
        source: berth_cgroups::CgroupError,
    },
    #[error("{what}: {source}")]
    Os { what: &'static str, source: OsError },
    #[error("the exec'd process ended before its program started")]
    EndedEarly,
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    /// The container's process reported why it could not start.
    #[error(transparent)]
    Start(StartFailure),
    #[error("the container's process sent an unreadable failure report: {0:?}")]
    Report(String),
    #[error(transparent)]
    Terminal(#[from] TerminalError),
}

impl SpawnError {
    pub fn to_start_failure(&self) -> StartFailure {
        match self {
            SpawnError::Start(failure) => failure.clone(),
            other => StartFailure {
                kind: StartFailureKind::Other,
                message: other.to_string(),
            },
        }
    }
}

impl From<&SpawnError> for StartFailure {
    fn from(error: &SpawnError) -> StartFailure {
        error.to_start_failure()
    }
}

fn os(what: &'static str) -> impl FnOnce(nix::errno::Errno) -> SpawnError {
    move |e| SpawnError::Os {
        what,
        source: e.into(),
    }
}

/// The host's cgroup layout, read once per supervisor.
pub(crate) fn hierarchy() -> Result<&'static berth_cgroups::Hierarchy, SpawnError> {
    static HIERARCHY: OnceLock<berth_cgroups::Hierarchy> = OnceLock::new();
    if let Some(known) = HIERARCHY.get() {
        return Ok(known);
    }
    let detected = berth_cgroups::detect().map_err(|source| SpawnError::Cgroup {
        path: "/".into(),
        source,
    })?;
    Ok(HIERARCHY.get_or_init(|| detected))
}

/// The manager of the container's cgroup (for its limits, stats and removal).
pub fn cgroup(
    config: &ContainerConfig,
) -> Result<Box<dyn berth_cgroups::CgroupManager>, SpawnError> {
    let path = plan::cgroup_path(config);
    berth_cgroups::manager(hierarchy()?, &path)
        .map_err(|source| SpawnError::Cgroup { path, source })
}

/// Starts the container described by `config` with `stdio` as its 0, 1 and 2, and returns
/// once its program runs. Must be called from a single-threaded process.
///
/// The container's cgroup is created here and removed again if the start fails; after a
/// successful start the caller removes it (see [`cgroup`]) once the container has exited.
pub fn spawn(config: &ContainerConfig, stdio: Stdio) -> Result<Spawned, SpawnError> {
    spawn_with(config, ProcessIo::Pipes(stdio)).map(|started| started.spawned)
}

/// [`spawn`] with the process's stdio chosen by `io`: the caller's descriptors, or a terminal
/// whose master is returned (the spec's `process.terminal` must say the same).
pub fn spawn_with(config: &ContainerConfig, io: ProcessIo) -> Result<Started, SpawnError> {
    spawn_container(config, io).map(|(started, _)| started)
}

/// [`spawn_with`], which also returns what execs into the new container need of it: keep it
/// while the container runs, drop it when its PID 1 is reaped (see [`ExecTarget`]).
pub fn spawn_container(
    config: &ContainerConfig,
    io: ProcessIo,
) -> Result<(Started, ExecTarget), SpawnError> {
    let plan = Plan::new(config, hierarchy()?)?;
    check_io(&plan.process, &io)?;
    let cgroup = cgroup(config)?;
    let cgroup_error = |source| SpawnError::Cgroup {
        path: plan.cgroup_path.clone(),
        source,
    };
    cgroup.create().map_err(cgroup_error)?;
    let resources = config
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let launch = Launch {
        clone_flags: plan.namespaces.clone_flags.bits(),
        pid_namespace: plan.join_pid.as_ref(),
        creation: Creation::Fork { cgroup: &*cgroup },
    };
    let started = cgroup
        .apply(&resources)
        .map_err(cgroup_error)
        .and_then(|()| launch.start(io, |ends, _| child::run(&plan, ends)))
        .and_then(|started| {
            let pid = started.spawned.pid;
            match ExecTarget::with_filter(config, pid, plan.process.seccomp.clone()) {
                Ok(target) => Ok((started, target)),
                Err(error) => {
                    abandon(pid);
                    Err(error)
                }
            }
        });
    if started.is_err() {
        if let Err(e) = cgroup.remove() {
            tracing::warn!(cgroup = %plan.cgroup_path, error = %e, "removing the cgroup of a failed start");
        }
    }
    started
}

/// `io` and the spec's `process.terminal` must agree, so that a caller never waits on pipes
/// the process does not write, or misses a terminal it asked for.
pub(crate) fn check_io(process: &ProcessPlan, io: &ProcessIo) -> Result<(), PlanError> {
    match (process.terminal, io) {
        (true, ProcessIo::Pipes(_)) => Err(PlanError::Invalid(
            "process.terminal is set, but the caller gave pipes instead of asking for a terminal"
                .into(),
        )),
        (false, ProcessIo::Terminal) => Err(PlanError::Invalid(
            "a terminal was asked for, but process.terminal is not set".into(),
        )),
        _ => Ok(()),
    }
}

/// How a new process is created: with which clone flags, in which pid namespace, and how it
/// gets into its cgroup.
pub(crate) struct Launch<'a> {
    pub clone_flags: libc::c_int,
    /// An existing pid namespace for the process (a container's, for exec).
    pub pid_namespace: Option<&'a OpenNamespace>,
    pub creation: Creation<'a>,
}

pub(crate) enum Creation<'a> {
    /// A fork-like clone (new namespaces may come with it): the caller moves the child into
    /// `cgroup` by PID, then tells it to go on. A container's first process.
    Fork {
        cgroup: &'a dyn berth_cgroups::CgroupManager,
    },
    /// `CLONE_VM | CLONE_VFORK` (see `crate::vfork`): the child joins its cgroup itself and
    /// the caller is suspended until it execs or exits. Execs. The child gets `extra` too,
    /// maybe under other numbers, which it is given.
    Vfork { extra: &'a [BorrowedFd<'a>] },
}

impl Launch<'_> {
    /// Clones, runs `child` in the new process (with the numbers of [`Creation::Vfork`]'s
    /// `extra` there), and returns once its program runs.
    pub fn start(
        &self,
        io: ProcessIo,
        child: impl FnOnce(ChildEnds, &[RawFd]) -> Infallible,
    ) -> Result<Started, SpawnError> {
        let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(os("creating the report pipe"))?;
        let (child_io, console) = match io {
            ProcessIo::Pipes(stdio) => (ChildIo::Pipes(stdio), None),
            ProcessIo::Terminal => {
                let (ours, theirs) = rustix::net::socketpair(
                    rustix::net::AddressFamily::UNIX,
                    rustix::net::SocketType::SEQPACKET,
                    rustix::net::SocketFlags::CLOEXEC,
                    None,
                )
                .map_err(|e| SpawnError::Os {
                    what: "creating the terminal socket",
                    source: e.into(),
                })?;
                (ChildIo::Terminal(theirs), Some(ours))
            }
        };
        let pid = match self.creation {
            Creation::Fork { cgroup } => self.fork(
                cgroup,
                child,
                child_io,
                report_write,
                &report_read,
                &console,
            )?,
            Creation::Vfork { extra } => {
                let ends = ChildEnds {
                    io: child_io,
                    go: None,
                    report: report_write,
                };
                let clone = || vfork::clone_vfork(self.clone_flags, ends, extra, child);
                match self.pid_namespace {
                    Some(pid_namespace) => {
                        namespaces::with_pid_namespace_for_children(pid_namespace, clone)??
                    }
                    None => clone()?,
                }
            }
        };

        let mut report = Vec::new();
        std::fs::File::from(report_read)
            .read_to_end(&mut report)
            .map_err(|e| SpawnError::Os {
                what: "reading the start report",
                source: e.into(),
            })?;
        if !report.is_empty() {
            let _ = waitpid(Pid::from_raw(pid), None);
            return match serde_json::from_slice::<StartFailure>(&report) {
                Ok(failure) => Err(SpawnError::Start(failure)),
                Err(_) => Err(SpawnError::Report(
                    String::from_utf8_lossy(&report).into_owned(),
                )),
            };
        }
        let terminal = match console {
            None => None,
            Some(socket) => match terminal::receive(socket.as_fd()) {
                Ok(master) => Some(master),
                Err(error) => {
                    abandon(pid);
                    return Err(SpawnError::Terminal(error));
                }
            },
        };
        Ok(Started {
            spawned: Spawned { pid },
            terminal,
        })
    }

    /// The fork-like clone: returns the child's PID once it sits in `cgroup` and was told
    /// to go on.
    fn fork(
        &self,
        cgroup: &dyn berth_cgroups::CgroupManager,
        child: impl FnOnce(ChildEnds, &[RawFd]) -> Infallible,
        child_io: ChildIo,
        report_write: OwnedFd,
        report_read: &OwnedFd,
        console: &Option<OwnedFd>,
    ) -> Result<i32, SpawnError> {
        let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(os("creating the start pipe"))?;
        let flags = self.clone_flags | libc::SIGCHLD;
        let parent_ends = [
            go_write.as_raw_fd(),
            report_read.as_raw_fd(),
            console.as_ref().map_or(-1, AsRawFd::as_raw_fd),
        ];
        let clone = move || {
            // A raw clone behaves like fork but can create namespaces for the child alone.
            // The caller is single-threaded, so the copied memory holds no lock taken by
            // another thread.
            // SAFETY: no stack is given, so the child runs on a copy of ours, as after fork.
            let pid = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    flags as libc::c_ulong,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            };
            if pid == 0 {
                for fd in parent_ends.into_iter().filter(|fd| *fd >= 0) {
                    // SAFETY: the child's copies of the supervisor's ends; it never uses
                    // them, and holding the write end of `go` would hide the supervisor's
                    // death.
                    unsafe { libc::close(fd) };
                }
                let ends = ChildEnds {
                    io: child_io,
                    go: Some(go_read),
                    report: report_write,
                };
                match child(ends, &[]) {}
            }
            // The parent's copies of the child's ends close here.
            pid
        };
        let pid = match self.pid_namespace {
            Some(pid_namespace) => {
                namespaces::with_pid_namespace_for_children(pid_namespace, clone)?
            }
            None => clone(),
        };
        if pid < 0 {
            return Err(SpawnError::Os {
                what: "clone",
                source: std::io::Error::last_os_error().into(),
            });
        }
        let pid = pid as i32;

        if let Err(source) = cgroup.add_task(pid) {
            abandon(pid);
            return Err(SpawnError::Cgroup {
                path: cgroup.path().to_owned(),
                source,
            });
        }
        // If the child died already the write fails; its report (or silence) says the rest.
        let _ = std::fs::File::from(go_write).write_all(&[1]);
        Ok(pid)
    }
}

/// Kills and reaps a child that will never be told to go on.
pub(crate) fn abandon(pid: i32) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
}
