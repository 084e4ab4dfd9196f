//! A container's file system seen from a thread of berthd's own, for `cp`.
//!
//! The thread first leaves berthd's file-system context (`unshare(CLONE_FS | CLONE_NEWNS)`),
//! then either joins a running container's mount namespace, where it sees the container's
//! own mounts (binds, tmpfs) as the container does, or mounts a stopped container's overlay in
//! its private namespace and chroots into it. Either way the container's root is then the
//! thread's `/`: absolute symlinks and `..` in a container path resolve inside the container,
//! never on the host. The namespace, and any mount made in it, goes with the thread.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use berth_runtime::Rootfs;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use tokio::sync::oneshot;

/// Which view of the container's file system the thread works in.
pub enum View {
    /// The running container whose first process is `pid`.
    Running { pid: i32 },
    /// A container with no process: its overlay, mounted read-only (its upper directory as
    /// the top-most lower layer) so that a start meanwhile is unaffected.
    StoppedReadOnly {
        layers: Vec<PathBuf>,
        merged: PathBuf,
    },
    /// A container with no process, mounted writable; the caller keeps it from starting
    /// meanwhile (two overlays on one upper directory are undefined).
    StoppedWritable { rootfs: Rootfs },
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("{what} {object}: {source}")]
    Os {
        what: &'static str,
        object: String,
        #[source]
        source: io::Error,
    },
    #[error("mounting the container's file system: {0}")]
    Rootfs(#[from] berth_runtime::RootfsError),
    #[error("the thread working in the container's file system stopped: {0}")]
    Thread(String),
}

fn os(what: &'static str, object: impl std::fmt::Display) -> impl FnOnce(nix::Error) -> ViewError {
    let object = object.to_string();
    move |errno| ViewError::Os {
        what,
        object,
        source: io::Error::from(errno),
    }
}

/// Runs `work` on a new thread whose `/` is the container's root; its answer comes back on
/// the returned channel. A failure to enter the view is reported there too, `work` unrun.
pub fn run_in<T: Send + 'static>(
    view: View,
    work: impl FnOnce() -> T + Send + 'static,
) -> oneshot::Receiver<Result<T, ViewError>> {
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("berth-rootfs-view".into())
        .spawn(move || {
            let answer = enter(view).map(|()| work());
            let _ = tx.send(answer);
        });
    if let Err(e) = spawned {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Err(ViewError::Thread(e.to_string())));
        return rx;
    }
    rx
}

fn enter(view: View) -> Result<(), ViewError> {
    // CLONE_FS gives this thread its own root and working directory, which chroot and setns
    // change; CLONE_NEWNS its own mounts. The rest of berthd is untouched.
    unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
        .map_err(os("leaving berthd's mount namespace", "for a file copy"))?;
    match view {
        View::Running { pid } => {
            let path = format!("/proc/{pid}/ns/mnt");
            let namespace = File::open(&path).map_err(|source| ViewError::Os {
                what: "opening",
                object: path.clone(),
                source,
            })?;
            // Joining a mount namespace also moves the thread's root and working directory
            // to the namespace's root: the container's.
            setns(&namespace, CloneFlags::CLONE_NEWNS).map_err(os("joining", &path))?;
        }
        View::StoppedReadOnly { layers, merged } => {
            berth_runtime::make_mounts_private()?;
            let lowerdir: Vec<String> = layers.iter().map(|p| p.display().to_string()).collect();
            let options = format!("lowerdir={}", lowerdir.join(":"));
            mount(
                Some("overlay"),
                &merged,
                Some("overlay"),
                MsFlags::MS_RDONLY,
                Some(options.as_str()),
            )
            .map_err(os("mounting the overlay read-only on", merged.display()))?;
            chroot(&merged)?;
        }
        View::StoppedWritable { rootfs } => {
            let merged = berth_runtime::mount_rootfs(&rootfs)?;
            chroot(&merged)?;
        }
    }
    Ok(())
}

fn chroot(root: &Path) -> Result<(), ViewError> {
    nix::unistd::chroot(root).map_err(os("chroot to", root.display()))?;
    nix::unistd::chdir("/").map_err(os("chdir to", "/ of the container"))
}
