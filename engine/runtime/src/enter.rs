//! `docker exec`: a new process inside a running container.
//!
//! The container is already set up; the new process only joins it. What every exec of one
//! container shares is prepared once and kept in an [`ExecTarget`]: the container's compiled
//! seccomp filter, its `--group-add` entries, its cgroup, and (from the first exec on) its
//! namespaces and the `cgroup.procs` files of its cgroup, open. The namespaces are opened
//! through `/proc/<pid>/ns/*` while the container's PID 1 is the caller's (unreaped) child,
//! so the PID cannot name anyone else, and once open the descriptors name the namespaces
//! themselves: the caller drops the target when it reaps PID 1, which lets them go. The
//! process is vforked (`crate::vfork`) straight into the container's pid namespace, writes
//! itself into the container's cgroup, and joins the other namespaces itself, the mount
//! namespace last (which also makes the container's root its root). It then gets the container's seccomp filter and the
//! capabilities, rlimits and no_new_privs of its own process spec, which the engine derives
//! from the container's.
//!
//! Kept descriptors have a budget: ~18 per container on cgroup v1 (12 hierarchies), and a
//! supervisor that cannot raise its hard limit would run out at about a thousand exec'd
//! containers. So all targets together keep at most half of the descriptor limit open; past
//! that, a target opens what an exec needs for that exec alone and closes it after.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use oci_spec::runtime::LinuxNamespaceType;

use crate::child;
use crate::namespaces::{self, OpenNamespace};
use crate::plan::{self, ProcessPlan};
use crate::seccomp::SeccompFilter;
use crate::spawn::{self, check_io, Creation, Launch, SpawnError};
use crate::vfork::ExecSlot;
use crate::{ContainerConfig, ExecConfig, ProcessIo, Started};

/// The namespaces an exec'd process joins after clone, in order. User and time namespaces
/// are never made by berth.
const JOINED: [(LinuxNamespaceType, &str); 5] = [
    (LinuxNamespaceType::Ipc, "ipc"),
    (LinuxNamespaceType::Uts, "uts"),
    (LinuxNamespaceType::Network, "net"),
    (LinuxNamespaceType::Cgroup, "cgroup"),
    (LinuxNamespaceType::Mount, "mnt"),
];

/// Everything the new process does, decided before the clone.
pub struct EnterPlan<'a> {
    /// Joined through the descriptors the child is given (their numbers there may differ),
    /// in this order, after the `cgroup.procs` files.
    pub namespaces: &'a [OpenNamespace],
    /// How many `cgroup.procs` files (one per hierarchy) the child is given first.
    pub cgroup_procs: usize,
    pub cgroup_path: &'a str,
    pub process: ProcessPlan,
    /// What the vfork child leaves for the caller to free.
    pub slot: &'a ExecSlot,
}

/// What the execs into one running container share, kept by the caller for the container's
/// life (see the module's documentation).
pub struct ExecTarget {
    pid: i32,
    seccomp: Option<Arc<SeccompFilter>>,
    group_add: Vec<String>,
    cgroup: Box<dyn berth_cgroups::CgroupManager>,
    /// Opened at the first exec.
    opened: Option<Opened>,
}

struct Opened {
    pid_namespace: OpenNamespace,
    /// In [`JOINED`]'s order.
    namespaces: Vec<OpenNamespace>,
    /// The container's `cgroup.procs`, one per hierarchy.
    cgroup_procs: Vec<OwnedFd>,
    /// Counted in [`KEPT`] (kept for the container's life, not for one exec).
    kept: bool,
}

/// Descriptors the targets of this process keep open between execs.
static KEPT: AtomicUsize = AtomicUsize::new(0);

impl Opened {
    fn descriptors(&self) -> usize {
        1 + self.namespaces.len() + self.cgroup_procs.len()
    }

    /// Counts these descriptors as kept, if the budget has room for them.
    fn keep(&mut self) -> bool {
        self.kept = reserve(&KEPT, self.descriptors(), keep_budget());
        self.kept
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        if self.kept {
            KEPT.fetch_sub(self.descriptors(), Ordering::Relaxed);
        }
    }
}

/// Adds `n` to `kept` unless that would pass `budget`.
fn reserve(kept: &AtomicUsize, n: usize, budget: usize) -> bool {
    kept.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
        (now + n <= budget).then_some(now + n)
    })
    .is_ok()
}

/// Half of this process's soft descriptor limit, read at the first exec (the supervisor
/// raises its limit at start, before any).
fn keep_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
            0 => usize::try_from(limit.rlim_cur / 2).unwrap_or(usize::MAX),
            _ => 512,
        }
    })
}

impl std::fmt::Debug for ExecTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecTarget")
            .field("pid", &self.pid)
            .field("cgroup", &self.cgroup.path())
            .field("opened", &self.opened.is_some())
            .finish()
    }
}

impl ExecTarget {
    /// The running container `config` describes, whose PID 1 is `pid` as seen from the host:
    /// the caller's child, not yet reaped, or a process the caller holds (a pidfd) and
    /// checks to be the container's after each exec. Compiles the container's seccomp
    /// filter; nothing is opened yet.
    pub fn new(config: &ContainerConfig, pid: i32) -> Result<ExecTarget, SpawnError> {
        let seccomp = plan::compile_seccomp(&config.spec)?;
        ExecTarget::with_filter(config, pid, seccomp)
    }

    /// [`ExecTarget::new`] with the filter compiled already (by the container's start).
    pub(crate) fn with_filter(
        config: &ContainerConfig,
        pid: i32,
        seccomp: Option<Arc<SeccompFilter>>,
    ) -> Result<ExecTarget, SpawnError> {
        Ok(ExecTarget {
            pid,
            seccomp,
            group_add: plan::group_add(&config.spec),
            cgroup: spawn::cgroup(config)?,
            opened: None,
        })
    }

    /// The container's PID 1.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Starts `config.process` inside the container and returns once its program runs. Must
    /// be called from a single-threaded process. The caller reaps the new process; the
    /// container's cgroup stays the container's.
    pub fn exec(&mut self, config: &ExecConfig, io: ProcessIo) -> Result<Started, SpawnError> {
        let process = ProcessPlan::new(
            &config.process,
            config.user.clone(),
            self.group_add.clone(),
            self.seccomp.clone(),
        )?;
        check_io(&process, &io)?;
        // Past the budget: opened for this exec alone, closed when it has started.
        let mut this_exec_only = None;
        let opened = match &mut self.opened {
            Some(opened) => opened,
            empty => {
                let mut opened = open(self.pid, &*self.cgroup)?;
                match opened.keep() {
                    true => empty.insert(opened),
                    false => this_exec_only.insert(opened),
                }
            }
        };
        let slot = ExecSlot::default();
        let plan = EnterPlan {
            namespaces: &opened.namespaces,
            cgroup_procs: opened.cgroup_procs.len(),
            cgroup_path: self.cgroup.path(),
            process,
            slot: &slot,
        };
        let extra: Vec<BorrowedFd<'_>> = (opened.cgroup_procs.iter().map(AsFd::as_fd))
            .chain(opened.namespaces.iter().map(OpenNamespace::fd))
            .collect();
        let launch = Launch {
            clone_flags: 0,
            pid_namespace: Some(&opened.pid_namespace),
            creation: Creation::Vfork { extra: &extra },
        };
        let started = launch.start(io, |ends, fds| child::run_in_container(&plan, ends, fds))?;
        // Silence on the report pipe means an exec only if the child got that far (it may
        // have been killed on the way).
        if !slot.reached_exec() {
            spawn::abandon(started.spawned.pid);
            return Err(SpawnError::EndedEarly);
        }
        Ok(started)
    }
}

fn open(pid: i32, cgroup: &dyn berth_cgroups::CgroupManager) -> Result<Opened, SpawnError> {
    let proc_ns = Path::new("/proc").join(pid.to_string()).join("ns");
    let pid_namespace = namespaces::open(LinuxNamespaceType::Pid, &proc_ns.join("pid"))?;
    let namespaces = JOINED
        .iter()
        .map(|(typ, name)| namespaces::open(*typ, &proc_ns.join(name)))
        .collect::<Result<Vec<_>, _>>()?;
    let cgroup_procs = cgroup.open_procs().map_err(|source| SpawnError::Cgroup {
        path: cgroup.path().to_owned(),
        source,
    })?;
    Ok(Opened {
        pid_namespace,
        namespaces,
        cgroup_procs,
        kept: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_descriptors_stay_within_the_budget() {
        let kept = AtomicUsize::new(0);
        assert!(reserve(&kept, 18, 40));
        assert!(reserve(&kept, 18, 40));
        // A third container's 18 would pass 40: its execs open and close their own.
        assert!(!reserve(&kept, 18, 40));
        assert_eq!(kept.load(Ordering::Relaxed), 36);
        assert!(reserve(&kept, 4, 40));
        assert!(!reserve(&kept, 1, 40));
    }
}
