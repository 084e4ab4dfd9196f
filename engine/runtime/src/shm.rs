//! The `/dev/shm` of another container (`--ipc container:X`): its mount is cloned out of
//! the donor's mount namespace, so both containers see one tmpfs, as they share one IPC
//! namespace. The clone is a detached mount (`open_tree(OPEN_TREE_CLONE)`), taken in the
//! child before it builds its root and attached where the spec's `/dev/shm` would go.

use std::os::fd::OwnedFd;
use std::path::Path;

use oci_spec::runtime::LinuxNamespaceType;
use rustix::mount::{MoveMountFlags, OpenTreeFlags};

use crate::mounts::{MountPointKind, RootDir};
use crate::namespaces::{self, OpenNamespace};
use crate::os_error::OsError;

/// Where the shared mount goes in the container.
pub const SHM_PATH: &str = "/dev/shm";

/// Clones the donor's `/dev/shm` mount: enters the donor's mount namespace, clones the
/// mount, and comes back to the child's own namespace (whatever the clone gave).
pub fn clone_from(donor: &OpenNamespace) -> Result<OwnedFd, String> {
    let own = namespaces::open(LinuxNamespaceType::Mount, Path::new("/proc/self/ns/mnt"))
        .map_err(|e| e.to_string())?;
    donor.join().map_err(|e| e.to_string())?;
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        SHM_PATH,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    );
    own.join().map_err(|e| e.to_string())?;
    tree.map_err(|e| {
        format!(
            "cloning {SHM_PATH} of the IPC donor {}: {}",
            donor.path().display(),
            OsError::from(e)
        )
    })
}

/// Attaches the cloned mount at `/dev/shm` inside `root`.
pub fn attach(root: &RootDir, tree: &OwnedFd) -> Result<(), String> {
    let target = root
        .ensure(Path::new(SHM_PATH), MountPointKind::Directory)
        .map_err(|e| e.to_string())?;
    rustix::mount::move_mount(
        tree,
        "",
        &target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| format!("attaching the IPC donor's {SHM_PATH}: {}", OsError::from(e)))
}
