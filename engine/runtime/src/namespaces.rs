//! Which namespaces a container gets: new ones come from clone(2) (cgroup: from unshare once
//! the process sits in its cgroup), existing ones named by path are joined with setns(2).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::os_error::OsError;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("{0} namespaces are not supported by berth")]
    Unsupported(&'static str),
    #[error("a container needs its own mount namespace")]
    NoMountNamespace,
    #[error("joining an existing mount namespace ({0}) is not supported by berth")]
    JoinMount(String),
    #[error("the {0} namespace is listed twice")]
    Duplicate(&'static str),
    #[error("opening the {kind} namespace {path}: {source}")]
    Open {
        kind: &'static str,
        path: String,
        source: OsError,
    },
    #[error("joining the {kind} namespace {path}: {source}")]
    Join {
        kind: &'static str,
        path: String,
        source: OsError,
    },
    #[error("creating the cgroup namespace: {0}")]
    UnshareCgroup(OsError),
    #[error("bringing up the loopback interface lo: {0}")]
    Loopback(OsError),
}

/// The namespaces of one container, decided from the spec before anything is created.
#[derive(Debug, Clone)]
pub struct NamespacePlan {
    /// New namespaces made by clone(2): mount, uts, ipc, net, pid.
    pub clone_flags: CloneFlags,
    /// A new cgroup namespace, made after the process has joined its cgroup.
    pub new_cgroup: bool,
    /// Existing namespaces to join, in the child (all but pid).
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
    /// An existing pid namespace: the container's process must be created inside it.
    pub join_pid: Option<PathBuf>,
}

impl NamespacePlan {
    pub fn from_spec(namespaces: &[LinuxNamespace]) -> Result<NamespacePlan, NamespaceError> {
        let mut plan = NamespacePlan {
            clone_flags: CloneFlags::empty(),
            new_cgroup: false,
            join: Vec::new(),
            join_pid: None,
        };
        let mut seen = Vec::new();
        for namespace in namespaces {
            let typ = namespace.typ();
            if seen.contains(&typ) {
                return Err(NamespaceError::Duplicate(kind_name(typ)));
            }
            seen.push(typ);
            let flag = match typ {
                LinuxNamespaceType::User => return Err(NamespaceError::Unsupported("user")),
                LinuxNamespaceType::Time => return Err(NamespaceError::Unsupported("time")),
                LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
                LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
                LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
                LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
                LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
                LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            };
            match (namespace.path(), typ) {
                (Some(path), LinuxNamespaceType::Mount) => {
                    return Err(NamespaceError::JoinMount(path.display().to_string()))
                }
                (Some(path), LinuxNamespaceType::Pid) => plan.join_pid = Some(path.clone()),
                (Some(path), _) => plan.join.push((typ, path.clone())),
                (None, LinuxNamespaceType::Cgroup) => plan.new_cgroup = true,
                (None, _) => plan.clone_flags |= flag,
            }
        }
        if !plan.clone_flags.contains(CloneFlags::CLONE_NEWNS) {
            return Err(NamespaceError::NoMountNamespace);
        }
        Ok(plan)
    }

    pub fn new_network(&self) -> bool {
        self.clone_flags.contains(CloneFlags::CLONE_NEWNET)
    }

    /// Whether the container has a UTS namespace of its own, so that setting its hostname
    /// cannot touch the host's.
    pub fn private_uts(&self) -> bool {
        self.clone_flags.contains(CloneFlags::CLONE_NEWUTS)
            || self
                .join
                .iter()
                .any(|(typ, _)| *typ == LinuxNamespaceType::Uts)
    }
}

/// A namespace opened in the supervisor, joined in the child.
pub struct OpenNamespace {
    typ: LinuxNamespaceType,
    path: PathBuf,
    fd: OwnedFd,
}

pub fn open(typ: LinuxNamespaceType, path: &Path) -> Result<OpenNamespace, NamespaceError> {
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| NamespaceError::Open {
        kind: kind_name(typ),
        path: path.display().to_string(),
        source: e.into(),
    })?;
    Ok(OpenNamespace {
        typ,
        path: path.to_path_buf(),
        fd,
    })
}

impl OpenNamespace {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self) -> Result<(), NamespaceError> {
        self.join_through(self.fd.as_fd())
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Joins this namespace through `fd`, a descriptor of it under another number (a vfork
    /// child's copy).
    pub fn join_through(&self, fd: std::os::fd::BorrowedFd<'_>) -> Result<(), NamespaceError> {
        let flag = CloneFlags::from_bits_truncate(self.typ as libc::c_int);
        nix::sched::setns(fd, flag).map_err(|e| NamespaceError::Join {
            kind: kind_name(self.typ),
            path: self.path.display().to_string(),
            source: e.into(),
        })
    }
}

/// Creates a child in `pid_namespace`: switches this process's namespace for children, runs
/// `create` (which must not return in the child), and switches back, so the supervisor itself
/// never moves.
pub fn with_pid_namespace_for_children<T>(
    pid_namespace: &OpenNamespace,
    create: impl FnOnce() -> T,
) -> Result<T, NamespaceError> {
    // The caller's own pid namespace never changes: opened once, not per exec.
    static OWN: std::sync::OnceLock<OpenNamespace> = std::sync::OnceLock::new();
    let own = match OWN.get() {
        Some(own) => own,
        None => {
            let opened = open(LinuxNamespaceType::Pid, Path::new("/proc/self/ns/pid"))?;
            OWN.get_or_init(|| opened)
        }
    };
    pid_namespace.join()?;
    let created = create();
    own.join()?;
    Ok(created)
}

pub fn unshare_cgroup() -> Result<(), NamespaceError> {
    nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
        .map_err(|e| NamespaceError::UnshareCgroup(e.into()))
}

/// Sets IFF_UP on `lo` in the current network namespace.
pub fn bring_up_loopback() -> Result<(), NamespaceError> {
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(|e| NamespaceError::Loopback(e.into()))?;
    // SAFETY: ifreq is plain data; the name fits IFNAMSIZ with its NUL.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    // SAFETY: both ioctls read and write only `request`.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request) != 0 {
            return Err(NamespaceError::Loopback(io::Error::last_os_error().into()));
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS, &request) != 0 {
            return Err(NamespaceError::Loopback(io::Error::last_os_error().into()));
        }
    }
    Ok(())
}

fn kind_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace(typ: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(typ).set_path(path.map(PathBuf::from));
        ns
    }

    #[test]
    fn docker_defaults_clone_five_and_unshare_cgroup() {
        let plan = NamespacePlan::from_spec(&oci_spec::runtime::get_default_namespaces()).unwrap();
        assert_eq!(
            plan.clone_flags,
            CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWUTS
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_NEWNET
                | CloneFlags::CLONE_NEWPID
        );
        assert!(plan.new_cgroup && plan.new_network() && plan.private_uts());
    }

    #[test]
    fn host_network_means_no_network_namespace_and_paths_are_joined() {
        let plan = NamespacePlan::from_spec(&[
            namespace(LinuxNamespaceType::Mount, None),
            namespace(LinuxNamespaceType::Ipc, Some("/proc/7/ns/ipc")),
            namespace(LinuxNamespaceType::Pid, Some("/proc/7/ns/pid")),
        ])
        .unwrap();
        assert!(!plan.new_network() && !plan.private_uts() && !plan.new_cgroup);
        assert_eq!(
            plan.join,
            vec![(LinuxNamespaceType::Ipc, PathBuf::from("/proc/7/ns/ipc"))]
        );
        assert_eq!(plan.join_pid, Some(PathBuf::from("/proc/7/ns/pid")));
    }

    #[test]
    fn unsupported_layouts_are_refused() {
        let refuse =
            |list: &[LinuxNamespace]| NamespacePlan::from_spec(list).unwrap_err().to_string();
        assert_eq!(refuse(&[]), "a container needs its own mount namespace");
        assert_eq!(
            refuse(&[
                namespace(LinuxNamespaceType::Mount, None),
                namespace(LinuxNamespaceType::User, None)
            ]),
            "user namespaces are not supported by berth"
        );
        assert!(
            refuse(&[namespace(LinuxNamespaceType::Mount, Some("/proc/1/ns/mnt"))])
                .contains("/proc/1/ns/mnt")
        );
    }
}
