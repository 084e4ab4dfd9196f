//! An image's files, read-only, for a build step that must look at them (where a COPY
//! lands, who `--chown=name` is, what `COPY --from` takes).
//!
//! The image's layers are merged by an overlay mounted on a thread of its own that first
//! leaves berthd's mount namespace (`unshare(CLONE_FS | CLONE_NEWNS)`): nobody else sees
//! the mount, and it goes with the thread, whatever happens to berthd.

use std::path::{Path, PathBuf};

use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{what} {object}: {source}")]
    Os {
        what: &'static str,
        object: String,
        #[source]
        source: std::io::Error,
    },
    #[error("making the build's private mounts: {0}")]
    Private(#[from] berth_runtime::RootfsError),
    #[error("the thread reading an image's files panicked")]
    Panicked,
}

impl RootfsError {
    pub fn kind(&self) -> berth_builder::ErrorKind {
        berth_builder::ErrorKind::Internal
    }
}

fn os(
    what: &'static str,
    object: impl std::fmt::Display,
) -> impl FnOnce(rustix::io::Errno) -> RootfsError {
    let object = object.to_string();
    move |errno| RootfsError::Os {
        what,
        object,
        source: std::io::Error::from(errno),
    }
}

/// Calls `work` with a directory showing `layers` (top-most first) merged. `mountpoint` is
/// an empty directory the overlay is mounted on when there are several layers.
pub fn with_layers(
    layers: &[PathBuf],
    mountpoint: &Path,
    work: &mut (dyn FnMut(&Path) + Send),
) -> Result<(), RootfsError> {
    match layers {
        // One layer is its own merged view (a whiteout in it hides nothing below).
        [only] => {
            work(only);
            Ok(())
        }
        [] => {
            work(mountpoint);
            Ok(())
        }
        _ => std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    mount_private(layers, mountpoint)?;
                    work(mountpoint);
                    Ok(())
                })
                .join()
                .unwrap_or(Err(RootfsError::Panicked))
        }),
    }
}

/// Mounts the overlay in a mount namespace of this thread's own.
fn mount_private(layers: &[PathBuf], target: &Path) -> Result<(), RootfsError> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS | nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|errno| RootfsError::Os {
            what: "leaving berthd's mount namespace",
            object: "to read an image's files".into(),
            source: std::io::Error::from(errno),
        })?;
    berth_runtime::make_mounts_private()?;
    // One `lowerdir+` per layer: neither the number of layers nor their paths' length is
    // bounded by a mount option string.
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(os("opening an overlay for", target.display()))?;
    for layer in layers {
        rustix::mount::fsconfig_set_string(&fs, "lowerdir+", layer)
            .map_err(os("adding the lower directory", layer.display()))?;
    }
    rustix::mount::fsconfig_create(&fs).map_err(os("creating the overlay on", target.display()))?;
    let mnt = rustix::mount::fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY,
    )
    .map_err(os("mounting the overlay on", target.display()))?;
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(os("attaching the overlay on", target.display()))
}
