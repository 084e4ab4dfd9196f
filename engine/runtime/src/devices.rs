//! The container's /dev: the standard device nodes, the spec's extra devices, and the
//! symlinks programs expect.

use std::io;
use std::path::{Path, PathBuf};

use crate::os_error::OsError;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use rustix::fs::{AtFlags, FileType, Mode};

use crate::mounts::{MountError, MountPointKind, RootDir};

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("device {path}: {what}: {source}")]
    Os {
        path: String,
        what: &'static str,
        source: OsError,
    },
    #[error("device {path}: type {typ:?} cannot be created (only c, u, b and p)")]
    Type { path: String, typ: LinuxDeviceType },
    #[error(transparent)]
    Mount(#[from] MountError),
}

/// The nodes every container gets: (name, major, minor), all 0666.
const STANDARD: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const SYMLINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Creates the standard devices and `extra` (the spec's `linux.devices`) in the rootfs's
/// /dev, its symlinks, and /dev/ptmx pointing at the container's own devpts instance.
pub fn populate(root: &RootDir, extra: &[LinuxDevice]) -> Result<(), DeviceError> {
    let dev = root.ensure(Path::new("/dev"), MountPointKind::Directory)?;
    for (name, major, minor) in STANDARD {
        let path = PathBuf::from("/dev").join(name);
        if extra.iter().any(|d| d.path() == &path) {
            continue;
        }
        make_node(
            &dev,
            name,
            &path,
            FileType::CharacterDevice,
            0o666,
            rustix::fs::makedev(major as u32, minor as u32),
        )?;
    }
    for device in extra {
        let path = device.path();
        let typ = match device.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
            LinuxDeviceType::B => FileType::BlockDevice,
            LinuxDeviceType::P => FileType::Fifo,
            other => {
                return Err(DeviceError::Type {
                    path: path.display().to_string(),
                    typ: other,
                })
            }
        };
        let parent = root.ensure(
            path.parent().unwrap_or(Path::new("/")),
            MountPointKind::Directory,
        )?;
        let name = path.file_name().ok_or_else(|| DeviceError::Os {
            path: path.display().to_string(),
            what: "naming",
            source: io::Error::from(io::ErrorKind::InvalidInput).into(),
        })?;
        let number = rustix::fs::makedev(device.major() as u32, device.minor() as u32);
        make_node(
            &parent,
            name,
            path,
            typ,
            device.file_mode().unwrap_or(0o666) & 0o7777,
            number,
        )?;
        rustix::fs::chownat(
            &parent,
            name,
            Some(rustix::fs::Uid::from_raw(device.uid().unwrap_or(0))),
            Some(rustix::fs::Gid::from_raw(device.gid().unwrap_or(0))),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| os(path, "chown", e))?;
    }

    for (name, target) in SYMLINKS {
        replace_with_symlink(&dev, name, target)?;
    }
    let has_devpts = rustix::fs::statat(&dev, "pts/ptmx", AtFlags::SYMLINK_NOFOLLOW).is_ok();
    if has_devpts {
        replace_with_symlink(&dev, "ptmx", "pts/ptmx")?;
    }
    Ok(())
}

fn make_node(
    dir: &impl std::os::fd::AsFd,
    name: impl rustix::path::Arg + Copy,
    path: &Path,
    typ: FileType,
    mode: u32,
    number: rustix::fs::Dev,
) -> Result<(), DeviceError> {
    match rustix::fs::mknodat(dir, name, typ, Mode::from_raw_mode(mode), number) {
        Ok(()) => {}
        // The image shipped something there: ours replaces it.
        Err(rustix::io::Errno::EXIST) => {
            rustix::fs::unlinkat(dir, name, AtFlags::empty())
                .map_err(|e| os(path, "replacing", e))?;
            rustix::fs::mknodat(dir, name, typ, Mode::from_raw_mode(mode), number)
                .map_err(|e| os(path, "mknod", e))?;
        }
        Err(e) => return Err(os(path, "mknod", e)),
    }
    // mknod honours the umask; the mode must be exact.
    rustix::fs::chmodat(dir, name, Mode::from_raw_mode(mode), AtFlags::empty())
        .map_err(|e| os(path, "chmod", e))
}

fn replace_with_symlink(
    dev: &impl std::os::fd::AsFd,
    name: &str,
    target: &str,
) -> Result<(), DeviceError> {
    let path = Path::new("/dev").join(name);
    match rustix::fs::unlinkat(dev, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(os(&path, "replacing", e)),
    }
    rustix::fs::symlinkat(target, dev, name).map_err(|e| os(&path, "symlink", e))
}

fn os(path: &Path, what: &'static str, source: rustix::io::Errno) -> DeviceError {
    DeviceError::Os {
        path: path.display().to_string(),
        what,
        source: source.into(),
    }
}
