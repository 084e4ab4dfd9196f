//! overlayfs mounts of stored layers, for uses on the host side (export, commit). Containers
//! mount their rootfs inside their own mount namespace (see berth-runtime), possibly with
//! [`mount_options`].

use std::path::{Path, PathBuf};

use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, UnmountFlags};

/// The kernel copies mount data into one page.
const MAX_OPTIONS_LEN: usize = 4095;
/// Layers may share inodes ([`crate::dedup`]): a copy-up must never link two paths of the
/// merged tree because their lower files happened to be one inode.
const INDEX_OFF: &str = "index=off";

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("an overlay needs at least one lower directory")]
    NoLowerDir,
    #[error("overlay path {path} contains ',', ':' or '\\', which mount options cannot carry")]
    UnsafePath { path: PathBuf },
    #[error("overlay mount options are {len} bytes, over the kernel's limit of {MAX_OPTIONS_LEN}; use overlay::mount")]
    OptionsTooLong { len: usize },
    #[error("{op} overlay at {target}: {source}")]
    Mount {
        op: &'static str,
        target: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl OverlayError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            OverlayError::Mount { .. } => crate::ErrorKind::Internal,
            _ => crate::ErrorKind::InvalidArgument,
        }
    }
}

/// The `mount(2)` data string for an overlay: `lowerdir=<top>:…:<bottom>,upperdir=…,workdir=…`.
/// `lower` is top-most first, as overlayfs wants it.
pub fn mount_options(lower: &[PathBuf], upper: &Path, work: &Path) -> Result<String, OverlayError> {
    if lower.is_empty() {
        return Err(OverlayError::NoLowerDir);
    }
    for path in lower.iter().map(PathBuf::as_path).chain([upper, work]) {
        check_path(path)?;
    }
    let lowerdir = lower
        .iter()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join(":");
    let options = format!(
        "lowerdir={lowerdir},upperdir={},workdir={},{INDEX_OFF}",
        upper.to_string_lossy(),
        work.to_string_lossy()
    );
    if options.len() > MAX_OPTIONS_LEN {
        return Err(OverlayError::OptionsTooLong { len: options.len() });
    }
    Ok(options)
}

fn check_path(path: &Path) -> Result<(), OverlayError> {
    let text = path.to_string_lossy();
    if text.contains([',', ':', '\\']) || path.to_str().is_none() {
        return Err(OverlayError::UnsafePath {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Mounts an overlay of `lower` (top-most first) with `upper`/`work` on `target`.
///
/// It uses the new mount API, adding one lower directory per `lowerdir+` call, so neither the
/// number of layers nor the characters in their paths are limited by an option string.
pub fn mount(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), OverlayError> {
    if lower.is_empty() {
        return Err(OverlayError::NoLowerDir);
    }
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| mount_error("opening", target, e, None))?;
    for dir in lower {
        rustix::mount::fsconfig_set_string(&fs, "lowerdir+", dir)
            .map_err(|e| mount_error("adding a lower directory to", target, e, Some(dir)))?;
    }
    rustix::mount::fsconfig_set_string(&fs, "upperdir", upper)
        .map_err(|e| mount_error("setting the upper directory of", target, e, Some(upper)))?;
    rustix::mount::fsconfig_set_string(&fs, "workdir", work)
        .map_err(|e| mount_error("setting the work directory of", target, e, Some(work)))?;
    rustix::mount::fsconfig_set_string(&fs, "index", "off")
        .map_err(|e| mount_error("turning the inode index off for", target, e, None))?;
    rustix::mount::fsconfig_create(&fs).map_err(|e| mount_error("creating", target, e, None))?;
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| mount_error("creating", target, e, None))?;
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| mount_error("attaching", target, e, None))
}

/// A mount error naming the target and, when the kernel refused one of them, the directory.
fn mount_error(
    op: &'static str,
    target: &Path,
    errno: rustix::io::Errno,
    dir: Option<&Path>,
) -> OverlayError {
    let source = std::io::Error::from(errno);
    let source = match dir {
        Some(dir) => std::io::Error::new(source.kind(), format!("{}: {source}", dir.display())),
        None => source,
    };
    OverlayError::Mount {
        op,
        target: target.to_path_buf(),
        source,
    }
}

/// Unmounts the overlay at `target`.
pub fn unmount(target: &Path) -> Result<(), OverlayError> {
    rustix::mount::unmount(target, UnmountFlags::empty())
        .map_err(|errno| mount_error("unmounting", target, errno, None))
}
