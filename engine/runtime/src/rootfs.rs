//! The container's root: the overlay (or bound directory) mounted inside the container's own
//! mount namespace, pivot_root into it, and the protections applied afterwards.

use std::io;
use std::path::{Path, PathBuf};

use crate::os_error::OsError;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::mounts::remount;
use crate::Rootfs;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{what} {path}: {source}")]
    Os {
        what: &'static str,
        path: String,
        source: OsError,
    },
    #[error("overlay rootfs: {0}")]
    Overlay(String),
}

fn os(what: &'static str, path: &Path, source: impl Into<OsError>) -> RootfsError {
    RootfsError::Os {
        what,
        path: path.display().to_string(),
        source: source.into(),
    }
}

/// The kernel copies mount data into one page.
const MAX_MOUNT_DATA: usize = 4095;

/// Mounts the rootfs and returns where it is. Must run in the container's fresh mount
/// namespace: the namespace's mounts are made private first, so nothing done here reaches
/// the host and the overlay vanishes with the namespace.
pub fn mount_rootfs(rootfs: &Rootfs) -> Result<PathBuf, RootfsError> {
    make_mounts_private()?;
    match rootfs {
        Rootfs::Overlay {
            lower,
            upper,
            work,
            merged,
            volatile,
        } => {
            if *volatile {
                refuse_volatile_leftover(work)?;
            }
            let data = overlay_data(lower, upper, work, *volatile)?;
            let data = if data.len() <= MAX_MOUNT_DATA {
                data
            } else {
                // Long layer lists fit when given relative to their common parent directory.
                let parent = common_parent(lower).ok_or_else(|| {
                    RootfsError::Overlay("the layer paths are too long and share no parent".into())
                })?;
                std::env::set_current_dir(&parent).map_err(|e| os("chdir", &parent, e))?;
                let relative: Vec<PathBuf> = lower
                    .iter()
                    .map(|l| l.strip_prefix(&parent).unwrap_or(l).to_path_buf())
                    .collect();
                let short = overlay_data(&relative, upper, work, *volatile)?;
                if short.len() > MAX_MOUNT_DATA {
                    return Err(RootfsError::Overlay(format!(
                        "{} layers need {} bytes of mount options, more than the kernel's {MAX_MOUNT_DATA}",
                        lower.len(),
                        short.len()
                    )));
                }
                short
            };
            mount(
                Some("overlay"),
                merged,
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
            .map_err(|e| os("mounting the overlay rootfs on", merged, e))?;
            Ok(merged.clone())
        }
        Rootfs::Directory(dir) => {
            // pivot_root needs the new root to be a mount point.
            mount(
                Some(dir),
                dir,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| os("binding the rootfs", dir, e))?;
            Ok(dir.clone())
        }
    }
}

/// Makes every mount of the caller's (fresh) mount namespace private, so that what it
/// mounts from now on never propagates back to the namespace it came from.
pub fn make_mounts_private() -> Result<(), RootfsError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| os("making mounts private under", Path::new("/"), e))
}

/// A volatile overlay leaves `work/work/incompat/volatile` behind, and overlayfs refuses to
/// mount that work directory again (with a bare EINVAL): say why instead.
fn refuse_volatile_leftover(work: &Path) -> Result<(), RootfsError> {
    let marker = work.join("work/incompat/volatile");
    if marker.exists() {
        return Err(RootfsError::Overlay(format!(
            "{} exists: this container's file system was mounted volatile before and may \
             have lost writes in a crash; it cannot be mounted again",
            marker.display()
        )));
    }
    Ok(())
}

fn overlay_data(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    volatile: bool,
) -> Result<String, RootfsError> {
    if lower.is_empty() {
        return Err(RootfsError::Overlay("no layer directory given".into()));
    }
    let checked = |path: &Path| -> Result<String, RootfsError> {
        let text = path
            .to_str()
            .ok_or_else(|| RootfsError::Overlay(format!("{} is not UTF-8", path.display())))?;
        // These separate overlay options and layers; our own paths never contain them.
        if text.contains([':', ',', '\\']) {
            return Err(RootfsError::Overlay(format!(
                "{text} contains ':', ',' or '\\'"
            )));
        }
        Ok(text.to_string())
    };
    let lowers = lower
        .iter()
        .map(|l| checked(l))
        .collect::<Result<Vec<_>, _>>()?;
    // index=off: layers may share inodes (fsdriver stores identical files once), and a
    // copy-up must not link two paths of the container because their lower files did.
    Ok(format!(
        "lowerdir={},upperdir={},workdir={},index=off{}",
        lowers.join(":"),
        checked(upper)?,
        checked(work)?,
        if volatile { ",volatile" } else { "" }
    ))
}

fn common_parent(paths: &[PathBuf]) -> Option<PathBuf> {
    let first = paths.first()?.parent()?;
    first
        .ancestors()
        .find(|candidate| paths.iter().all(|p| p.starts_with(candidate)))
        .map(Path::to_path_buf)
}

/// Makes `new_root` the root of the mount namespace and drops the old one.
pub fn pivot(new_root: &Path) -> Result<(), RootfsError> {
    std::env::set_current_dir(new_root).map_err(|e| os("chdir", new_root, e))?;
    // Stacking the old root on the new one and detaching it needs no directory for it in
    // the image.
    nix::unistd::pivot_root(".", ".").map_err(|e| os("pivot_root", new_root, e))?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| os("detaching the old root from", new_root, e))?;
    std::env::set_current_dir("/").map_err(|e| os("chdir", Path::new("/"), e))
}

/// Hides `paths` (after pivot_root): /dev/null over files, an empty read-only tmpfs over
/// directories. Paths that do not exist are skipped.
pub fn mask(paths: &[String]) -> Result<(), RootfsError> {
    for path in paths.iter().map(Path::new) {
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(os("masking", path, e)),
        };
        if metadata.is_dir() {
            mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(|e| os("masking", path, e))?;
        } else {
            mount(
                Some("/dev/null"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| os("masking", path, e))?;
        }
    }
    Ok(())
}

/// Makes `paths` read-only (after pivot_root). Paths that do not exist are skipped.
pub fn make_readonly(paths: &[String]) -> Result<(), RootfsError> {
    for path in paths.iter().map(Path::new) {
        match mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(os("binding read-only", path, e)),
        }
        remount_readonly(path)?;
    }
    Ok(())
}

/// Remounts the mount at `path` read-only, keeping its other flags.
pub fn remount_readonly(path: &Path) -> Result<(), RootfsError> {
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| os("opening", path, e))?;
    remount(&fd, MsFlags::MS_RDONLY).map_err(|e| os("remounting read-only", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_list_layers_top_first() {
        let data = overlay_data(
            &["/l/b".into(), "/l/a".into()],
            Path::new("/c/up"),
            Path::new("/c/work"),
            false,
        )
        .unwrap();
        assert_eq!(
            data,
            "lowerdir=/l/b:/l/a,upperdir=/c/up,workdir=/c/work,index=off"
        );
        let (upper, work) = (Path::new("/u"), Path::new("/w"));
        assert!(overlay_data(&["/l/a:b".into()], upper, work, false).is_err());
        assert!(overlay_data(&[], upper, work, false).is_err());
    }

    #[test]
    fn a_volatile_overlay_says_so_and_refuses_a_work_directory_it_used_before() {
        let data = overlay_data(&["/l/a".into()], Path::new("/u"), Path::new("/w"), true);
        assert!(data.unwrap().ends_with(",index=off,volatile"));
        let work = tempfile::tempdir().unwrap();
        refuse_volatile_leftover(work.path()).unwrap();
        std::fs::create_dir_all(work.path().join("work/incompat/volatile")).unwrap();
        let err = refuse_volatile_leftover(work.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("mounted volatile before"), "{err}");
    }

    #[test]
    fn layers_share_their_deepest_common_parent() {
        let layers = [
            "/var/lib/berth/layers/aa/diff".into(),
            "/var/lib/berth/layers/bb/diff".into(),
        ];
        assert_eq!(
            common_parent(&layers),
            Some(PathBuf::from("/var/lib/berth/layers"))
        );
        assert_eq!(
            common_parent(&["/x/diff".into()]),
            Some(PathBuf::from("/x"))
        );
    }
}
