//! `docker exec`: a new process inside a running container.
//!
//! The container is already set up; the new process only joins it. The supervisor opens the
//! container's namespaces through `/proc/<pid>/ns/*` while the container's PID 1 is its
//! (unreaped) child, so the PID cannot name anyone else; the process is cloned straight into
//! the container's pid namespace, placed in the container's cgroup, and joins the other
//! namespaces itself, the mount namespace last (which also makes the container's root its
//! root). It then gets the container's seccomp filter and the capabilities, rlimits and
//! no_new_privs of its own process spec, which the engine derives from the container's.

use std::path::Path;

use oci_spec::runtime::LinuxNamespaceType;

use crate::child;
use crate::namespaces::{self, OpenNamespace};
use crate::plan::{self, ProcessPlan};
use crate::spawn::{self, check_io, Launch, SpawnError};
use crate::{ExecConfig, ProcessIo, Started};

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
pub struct EnterPlan {
    pub namespaces: Vec<OpenNamespace>,
    pub process: ProcessPlan,
}

/// Starts `config.process` inside the running container whose PID 1 is `container_pid` (as
/// seen from the host; it must be the caller's child, not yet reaped), and returns once its
/// program runs. Must be called from a single-threaded process. The caller reaps the new
/// process; the container's cgroup stays the container's.
pub fn exec(config: &ExecConfig, container_pid: i32, io: ProcessIo) -> Result<Started, SpawnError> {
    let seccomp = config
        .container
        .spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.seccomp().as_ref());
    let process = ProcessPlan::new(
        &config.process,
        config.user.clone(),
        crate::plan::group_add(&config.container.spec),
        seccomp,
    )?;
    check_io(&process, &io)?;
    let proc_ns = Path::new("/proc")
        .join(container_pid.to_string())
        .join("ns");
    let pid_namespace = namespaces::open(LinuxNamespaceType::Pid, &proc_ns.join("pid"))?;
    let namespaces = JOINED
        .iter()
        .map(|(typ, name)| namespaces::open(*typ, &proc_ns.join(name)))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = EnterPlan {
        namespaces,
        process,
    };
    let cgroup = spawn::cgroup(&config.container)?;
    let cgroup_path = plan::cgroup_path(&config.container);
    let launch = Launch {
        clone_flags: 0,
        pid_namespace: Some(&pid_namespace),
        cgroup: &*cgroup,
        cgroup_path: &cgroup_path,
    };
    launch.start(io, |ends| child::run_in_container(&plan, ends))
}
