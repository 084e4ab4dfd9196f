//! Everything the container's process will do, decided and checked in the supervisor before
//! forking: a bad spec fails here, with nothing created yet, and the child only carries out.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec::runtime::{LinuxDevice, Mount, PosixRlimitType, Process, Spec};

use crate::capabilities::{self, CapabilityError, CapabilitySet, ProcessCapabilities};
use crate::mounts::{CgroupMounts, CgroupView};
use crate::namespaces::{self, NamespaceError, NamespacePlan, OpenNamespace};
use crate::seccomp::{SeccompError, SeccompFilter};
use crate::{ContainerConfig, Rootfs};

/// The annotation carrying `-u` as the user typed it, resolved inside the container.
pub const USER_ANNOTATION: &str = "org.berth.user";
/// The annotation naming the mount namespace whose `/dev/shm` the container shares
/// (`--ipc container:X`: the donor's `/proc/<pid>/ns/mnt`).
pub const SHM_FROM_ANNOTATION: &str = "org.berth.shm-from";
/// The annotation carrying `--group-add` (one group, a name or a number, per line), resolved
/// in the container's own /etc/group.
pub const GROUP_ADD_ANNOTATION: &str = "org.berth.group-add";

/// The `--group-add` entries of `spec`.
pub(crate) fn group_add(spec: &Spec) -> Vec<String> {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(GROUP_ADD_ANNOTATION))
        .map(|list| list.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("invalid container spec: {0}")]
    Invalid(String),
    #[error("{0} is not supported by berth")]
    Unsupported(&'static str),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error(transparent)]
    Capability(#[from] CapabilityError),
}

#[derive(Debug, Clone)]
pub struct UserPlan {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// `-u` as typed; when present it overrides uid/gid after pivot_root.
    pub name: Option<String>,
    /// `--group-add`: more groups, by name or number, after the user's own.
    pub group_add: Vec<String>,
    pub umask: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct Rlimit {
    pub resource: libc::__rlimit_resource_t,
    pub name: &'static str,
    pub soft: u64,
    pub hard: u64,
}

pub struct Plan {
    pub namespaces: NamespacePlan,
    /// Namespaces to join, opened by the supervisor (pid excluded: see `join_pid`).
    pub joined: Vec<OpenNamespace>,
    pub join_pid: Option<OpenNamespace>,
    /// The mount namespace whose `/dev/shm` replaces the container's own.
    pub shm_from: Option<OpenNamespace>,
    pub rootfs: Rootfs,
    pub mounts: Vec<Mount>,
    pub cgroup_path: String,
    pub cgroup_mounts: CgroupMounts,
    pub devices: Vec<LinuxDevice>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctl: Vec<(String, String)>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub root_readonly: bool,
    pub process: ProcessPlan,
    pub init: bool,
}

/// What the process itself becomes once its container is in place: the same for a
/// container's first process and for one exec'd into it later.
pub struct ProcessPlan {
    pub cwd: PathBuf,
    pub user: UserPlan,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub capabilities: ProcessCapabilities,
    /// What this host lets us keep in a bounding set (for dropping the rest).
    pub available_capabilities: CapabilitySet,
    pub no_new_privileges: bool,
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adj: Option<i32>,
    /// Shared with every other process of the container (compiled once, at its start).
    pub seccomp: Option<Arc<SeccompFilter>>,
    /// A terminal from the container's devpts instead of the caller's descriptors.
    pub terminal: bool,
    /// (rows, columns) of that terminal at start.
    pub console_size: Option<(u16, u16)>,
}

impl ProcessPlan {
    /// `user_name` is `-u` as typed and `group_add` the `--group-add` entries (both resolved
    /// inside the container later); `seccomp` is the container's compiled filter, which
    /// every process of the container gets.
    pub fn new(
        process: &Process,
        user_name: Option<String>,
        group_add: Vec<String>,
        seccomp: Option<Arc<SeccompFilter>>,
    ) -> Result<ProcessPlan, PlanError> {
        let args = process.args().clone().unwrap_or_default();
        if args.is_empty() {
            return Err(PlanError::Invalid("process.args is empty".into()));
        }
        let cwd = process.cwd().clone();
        if !cwd.is_absolute() {
            return Err(PlanError::Invalid(format!(
                "the working directory {} is not absolute",
                cwd.display()
            )));
        }
        let available = capabilities::available()?;
        let user = process.user();
        let clamp = |n: u64| u16::try_from(n).unwrap_or(u16::MAX);
        Ok(ProcessPlan {
            cwd,
            user: UserPlan {
                uid: user.uid(),
                gid: user.gid(),
                additional_gids: user.additional_gids().clone().unwrap_or_default(),
                name: user_name.filter(|u| !u.is_empty()),
                group_add,
                umask: user.umask().unwrap_or(0o022),
            },
            args,
            env: process.env().clone().unwrap_or_default(),
            capabilities: ProcessCapabilities::from_spec(process.capabilities().as_ref())
                .limited_to(available),
            available_capabilities: available,
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
            rlimits: process
                .rlimits()
                .iter()
                .flatten()
                .map(|r| rlimit(r.typ(), r.soft(), r.hard()))
                .collect(),
            oom_score_adj: process.oom_score_adj(),
            seccomp,
            terminal: process.terminal().unwrap_or(false),
            console_size: process
                .console_size()
                .as_ref()
                .filter(|size| size.height() > 0 && size.width() > 0)
                .map(|size| (clamp(size.height()), clamp(size.width()))),
        })
    }
}

impl Plan {
    pub fn new(
        config: &ContainerConfig,
        hierarchy: &berth_cgroups::Hierarchy,
    ) -> Result<Plan, PlanError> {
        let spec: &Spec = &config.spec;
        let invalid = |reason: &str| PlanError::Invalid(reason.to_string());
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| invalid("it has no process"))?;
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| invalid("it has no linux section"))?;

        refuse_unsupported(spec)?;

        if let Rootfs::Overlay {
            lower,
            upper,
            work,
            merged,
            ..
        } = &config.rootfs
        {
            if let Some(relative) = lower
                .iter()
                .chain([upper, work, merged])
                .find(|p| !p.is_absolute())
            {
                return Err(PlanError::Invalid(format!(
                    "the rootfs path {} is not absolute",
                    relative.display()
                )));
            }
        }
        let annotations = spec.annotations().as_ref();
        let user_name = annotations.and_then(|a| a.get(USER_ANNOTATION)).cloned();
        let process =
            ProcessPlan::new(process, user_name, group_add(spec), compile_seccomp(spec)?)?;

        let namespaces =
            NamespacePlan::from_spec(linux.namespaces().as_deref().unwrap_or_default())?;
        if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !namespaces.private_uts() {
            return Err(invalid("a hostname needs a UTS namespace of its own"));
        }
        let joined = namespaces
            .join
            .iter()
            .map(|(typ, path)| namespaces::open(*typ, path))
            .collect::<Result<Vec<_>, _>>()?;
        let join_pid = namespaces
            .join_pid
            .as_ref()
            .map(|path| namespaces::open(oci_spec::runtime::LinuxNamespaceType::Pid, path))
            .transpose()?;

        let shm_from = annotations
            .and_then(|a| a.get(SHM_FROM_ANNOTATION))
            .map(|path| {
                namespaces::open(
                    oci_spec::runtime::LinuxNamespaceType::Mount,
                    Path::new(path),
                )
            })
            .transpose()?;
        if shm_from.is_some()
            && !namespaces
                .join
                .iter()
                .any(|(typ, _)| *typ == oci_spec::runtime::LinuxNamespaceType::Ipc)
        {
            return Err(invalid(
                "another container's /dev/shm comes only with its IPC namespace",
            ));
        }

        let cgroup_path = cgroup_path(config);
        let view = if namespaces.new_cgroup {
            CgroupView::Namespaced
        } else {
            CgroupView::HostNamespace
        };

        Ok(Plan {
            joined,
            join_pid,
            shm_from,
            rootfs: config.rootfs.clone(),
            mounts: spec.mounts().clone().unwrap_or_default(),
            cgroup_mounts: CgroupMounts::new(hierarchy, &cgroup_path, view),
            cgroup_path,
            devices: linux.devices().clone().unwrap_or_default(),
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            domainname: spec.domainname().clone().filter(|d| !d.is_empty()),
            sysctl: linux
                .sysctl()
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            masked_paths: linux.masked_paths().clone().unwrap_or_default(),
            readonly_paths: linux.readonly_paths().clone().unwrap_or_default(),
            root_readonly: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            process,
            init: config.init,
            namespaces,
        })
    }
}

/// The container's seccomp filter, compiled from `linux.seccomp`.
pub(crate) fn compile_seccomp(spec: &Spec) -> Result<Option<Arc<SeccompFilter>>, PlanError> {
    let profile = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    Ok(profile
        .map(SeccompFilter::compile)
        .transpose()?
        .map(Arc::new))
}

/// The container's cgroup: `linux.cgroupsPath`, or `/berth/<id>` when the spec names none.
pub fn cgroup_path(config: &ContainerConfig) -> String {
    config
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| Path::new("/").join(p).display().to_string())
        .unwrap_or_else(|| format!("/berth/{}", config.id))
}

/// Spec features berth does not implement fail loudly instead of being ignored.
fn refuse_unsupported(spec: &Spec) -> Result<(), PlanError> {
    let process = spec.process().as_ref();
    let linux = spec.linux().as_ref();
    let checks: [(bool, &'static str); 9] = [
        (
            process.is_some_and(|p| p.apparmor_profile().as_ref().is_some_and(|a| !a.is_empty())),
            "AppArmor",
        ),
        (
            process.is_some_and(|p| p.selinux_label().as_ref().is_some_and(|l| !l.is_empty())),
            "SELinux",
        ),
        (
            process.is_some_and(|p| p.scheduler().is_some() || p.io_priority().is_some()),
            "process scheduling and I/O priority",
        ),
        (spec.hooks().as_ref().is_some_and(has_hooks), "OCI hooks"),
        (
            linux.is_some_and(|l| l.uid_mappings().is_some() || l.gid_mappings().is_some()),
            "user namespace id mappings",
        ),
        (
            linux.is_some_and(|l| l.personality().is_some()),
            "linux.personality",
        ),
        (linux.is_some_and(|l| l.intel_rdt().is_some()), "Intel RDT"),
        (
            linux.is_some_and(|l| l.time_offsets().is_some()),
            "time namespace offsets",
        ),
        (
            linux
                .and_then(|l| l.rootfs_propagation().as_deref())
                .is_some_and(|p| !matches!(p, "" | "private" | "rprivate")),
            "a rootfs propagation other than private",
        ),
    ];
    match checks.into_iter().find(|(present, _)| *present) {
        Some((_, what)) => Err(PlanError::Unsupported(what)),
        None => Ok(()),
    }
}

// prestart is deprecated in the spec, but a spec naming it still asks for hooks.
#[allow(deprecated)]
fn has_hooks(hooks: &oci_spec::runtime::Hooks) -> bool {
    [
        hooks.prestart(),
        hooks.create_runtime(),
        hooks.create_container(),
        hooks.start_container(),
        hooks.poststart(),
        hooks.poststop(),
    ]
    .iter()
    .any(|list| list.as_ref().is_some_and(|l| !l.is_empty()))
}

fn rlimit(typ: PosixRlimitType, soft: u64, hard: u64) -> Rlimit {
    let (resource, name) = match typ {
        PosixRlimitType::RlimitCpu => (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        PosixRlimitType::RlimitFsize => (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        PosixRlimitType::RlimitData => (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        PosixRlimitType::RlimitStack => (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        PosixRlimitType::RlimitCore => (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        PosixRlimitType::RlimitRss => (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        PosixRlimitType::RlimitNproc => (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        PosixRlimitType::RlimitNofile => (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        PosixRlimitType::RlimitMemlock => (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        PosixRlimitType::RlimitAs => (libc::RLIMIT_AS, "RLIMIT_AS"),
        PosixRlimitType::RlimitLocks => (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        PosixRlimitType::RlimitSigpending => (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        PosixRlimitType::RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        PosixRlimitType::RlimitNice => (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        PosixRlimitType::RlimitRtprio => (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        PosixRlimitType::RlimitRttime => (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    };
    Rlimit {
        resource,
        name,
        soft,
        hard,
    }
}
