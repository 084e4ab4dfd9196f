//! The spec's mounts, made inside the container's rootfs before pivot_root.
//!
//! Every destination is resolved with openat2(RESOLVE_IN_ROOT): symlinks and `..` in the
//! image (or in a bind-mounted volume) are followed as if the rootfs were `/`, so a mount can
//! never land outside it. Missing mount points are created, as a file when a file is bound
//! onto them and as a directory otherwise, and the mount goes onto the opened descriptor
//! (through /proc/self/fd), so nothing can swap the path between check and mount.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use crate::os_error::OsError;

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;
use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::mount_options::{MountOptionError, MountOptions};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount {destination}: {source}")]
    Options {
        destination: String,
        source: MountOptionError,
    },
    #[error("mount {destination}: {what}: {source}")]
    Os {
        destination: String,
        what: String,
        source: OsError,
    },
    #[error("mount {destination}: {reason}")]
    Invalid { destination: String, reason: String },
    #[error("opening the rootfs {path}: {source}")]
    Root { path: String, source: OsError },
}

impl MountError {
    fn os(destination: &Path, what: impl Into<String>, source: impl Into<OsError>) -> Self {
        MountError::Os {
            destination: destination.display().to_string(),
            what: what.into(),
            source: source.into(),
        }
    }
}

/// What a missing mount point is created as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountPointKind {
    Directory,
    File,
}

/// The container's rootfs, open, for resolving paths inside it.
pub struct RootDir {
    fd: OwnedFd,
}

impl RootDir {
    pub fn open(path: &Path) -> Result<RootDir, MountError> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| MountError::Root {
            path: path.display().to_string(),
            source: e.into(),
        })?;
        Ok(RootDir { fd })
    }

    /// Opens `inside` (a path as the container sees it) as an O_PATH descriptor.
    pub fn open_inside(&self, inside: &Path) -> io::Result<OwnedFd> {
        let relative = relative(inside);
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &relative
        };
        rustix::fs::openat2(
            &self.fd,
            relative,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(io::Error::from)
    }

    /// Opens `inside`, creating it and its missing parents first. A dangling symlink on
    /// the way is followed inside the rootfs and its target created, as runc does.
    pub fn ensure(&self, inside: &Path, kind: MountPointKind) -> Result<OwnedFd, MountError> {
        let mut wanted = relative(inside);
        // The kernel's own limit on symlinks in one lookup.
        for _ in 0..40 {
            match self.create_missing(inside, &wanted, kind)? {
                Creation::Done(fd) => return Ok(fd),
                Creation::DanglingLink { link, rest } => {
                    let parent = link.parent().unwrap_or(Path::new(""));
                    let parent_fd = self.open_inside(parent).map_err(|e| {
                        MountError::os(&Path::new("/").join(parent), "resolving", e)
                    })?;
                    let name = link.file_name().unwrap_or_default();
                    let target =
                        rustix::fs::readlinkat(&parent_fd, name, Vec::new()).map_err(|e| {
                            MountError::os(&Path::new("/").join(&link), "reading the link", e)
                        })?;
                    let target = PathBuf::from(std::ffi::OsString::from_vec(target.into_bytes()));
                    // Absolute targets start again at the rootfs; `..` is resolved by
                    // openat2, which never climbs above it.
                    wanted = if target.is_absolute() {
                        relative(&target)
                    } else {
                        parent.join(target)
                    };
                    wanted.push(rest);
                }
            }
        }
        Err(MountError::Invalid {
            destination: inside.display().to_string(),
            reason: "too many levels of symbolic links".into(),
        })
    }

    /// Creates each missing component of `wanted`, stopping at a dangling symlink.
    fn create_missing(
        &self,
        inside: &Path,
        wanted: &Path,
        kind: MountPointKind,
    ) -> Result<Creation, MountError> {
        let shown = |prefix: &Path| Path::new("/").join(prefix);
        match self.open_inside(wanted) {
            Ok(fd) => return Ok(Creation::Done(fd)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(MountError::os(inside, "resolving the mount point", e)),
        }
        let components: Vec<Component> = wanted.components().collect();
        let mut prefix = PathBuf::new();
        let mut parent = self
            .open_inside(Path::new(""))
            .map_err(|e| MountError::os(inside, "opening /", e))?;
        for (i, component) in components.iter().enumerate() {
            prefix.push(component);
            let name = match *component {
                Component::Normal(name) => name,
                // `..` names a directory that exists, since its parent does.
                _ => {
                    parent = self
                        .open_inside(&prefix)
                        .map_err(|e| MountError::os(&shown(&prefix), "resolving", e))?;
                    continue;
                }
            };
            match self.open_inside(&prefix) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(MountError::os(&shown(&prefix), "resolving", e)),
            }
            let last = i + 1 == components.len();
            let created = if last && kind == MountPointKind::File {
                rustix::fs::openat(
                    &parent,
                    name,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::CLOEXEC
                        | OFlags::NOFOLLOW,
                    Mode::from_raw_mode(0o644),
                )
                .map(drop)
            } else {
                rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755))
            };
            match created {
                Ok(()) => {}
                // It exists but does not resolve: a symlink to something missing.
                Err(rustix::io::Errno::EXIST) => {
                    let rest: PathBuf = components[i + 1..].iter().collect();
                    return Ok(Creation::DanglingLink { link: prefix, rest });
                }
                Err(e) => {
                    return Err(MountError::os(
                        &shown(&prefix),
                        "creating the mount point",
                        e,
                    ))
                }
            }
            parent = self
                .open_inside(&prefix)
                .map_err(|e| MountError::os(&shown(&prefix), "opening the new mount point", e))?;
        }
        Ok(Creation::Done(parent))
    }
}

enum Creation {
    Done(OwnedFd),
    /// `link` (relative to the rootfs) is a symlink whose target is missing; `rest` is
    /// what was still to be created beyond it.
    DanglingLink {
        link: PathBuf,
        rest: PathBuf,
    },
}

/// `inside` relative to the rootfs (`/etc/hosts` → `etc/hosts`).
fn relative(inside: &Path) -> PathBuf {
    inside
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect()
}

/// The path through which the kernel reaches what `fd` is open on.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Makes one mount of the spec inside `root`. `cgroups` tells how to mount type "cgroup".
pub fn mount_one(root: &RootDir, entry: &Mount, cgroups: &CgroupMounts) -> Result<(), MountError> {
    let destination = entry.destination();
    let options =
        MountOptions::parse(entry.options().as_deref().unwrap_or_default()).map_err(|source| {
            MountError::Options {
                destination: destination.display().to_string(),
                source,
            }
        })?;
    let typ = entry.typ().as_deref().unwrap_or("none");
    let bind = options.bind || typ == "bind";

    if bind {
        let source = entry.source().as_ref().ok_or_else(|| MountError::Invalid {
            destination: destination.display().to_string(),
            reason: "a bind mount needs a source".into(),
        })?;
        let metadata = std::fs::metadata(source).map_err(|e| {
            MountError::os(destination, format!("bind source {}", source.display()), e)
        })?;
        let kind = if metadata.is_dir() {
            MountPointKind::Directory
        } else {
            MountPointKind::File
        };
        let target = root.ensure(destination, kind)?;
        let recursive = if options.recursive {
            MsFlags::MS_REC
        } else {
            MsFlags::empty()
        };
        mount(
            Some(source),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND | recursive,
            None::<&str>,
        )
        .map_err(|e| MountError::os(destination, format!("binding {}", source.display()), e))?;
        if !options.flags.is_empty() {
            // A bind mount takes its flags only through a remount of the new mount.
            remount(&reopen(root, destination)?, options.flags)
                .map_err(|e| MountError::os(destination, "remounting with its flags", e))?;
        }
    } else if typ == "cgroup" {
        cgroups.mount(root, destination, options.flags)?;
    } else {
        let target = root.ensure(destination, MountPointKind::Directory)?;
        let source = entry.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let data = (!options.data.is_empty()).then_some(options.data.as_str());
        mount(
            Some(&source),
            &fd_path(&target),
            Some(typ),
            options.flags,
            data,
        )
        .map_err(|e| MountError::os(destination, format!("mounting {typ}"), e))?;
    }

    for propagation in &options.propagation {
        mount(
            None::<&str>,
            &fd_path(&reopen(root, destination)?),
            None::<&str>,
            *propagation,
            None::<&str>,
        )
        .map_err(|e| MountError::os(destination, "changing the propagation", e))?;
    }
    Ok(())
}

/// Remounts the mount `fd` is the root of with `flags`, keeping the flags the kernel
/// already enforces on it (a plain remount would drop nosuid, nodev, noexec…).
pub fn remount(fd: &impl AsFd, flags: MsFlags) -> io::Result<()> {
    let current = rustix::fs::fstatvfs(fd)?.f_flag.bits();
    let mut kept = MsFlags::empty();
    for (statvfs_bit, flag) in [
        (libc::ST_RDONLY, MsFlags::MS_RDONLY),
        (libc::ST_NOSUID, MsFlags::MS_NOSUID),
        (libc::ST_NODEV, MsFlags::MS_NODEV),
        (libc::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (libc::ST_NOATIME, MsFlags::MS_NOATIME),
        (libc::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (libc::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current & statvfs_bit != 0 {
            kept |= flag;
        }
    }
    let path = fd_path(&fd.as_fd());
    mount(
        None::<&str>,
        &path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | kept | flags,
        None::<&str>,
    )
    .map_err(io::Error::from)
}

/// How the container's /sys/fs/cgroup is made.
#[derive(Debug, Clone)]
pub struct CgroupMounts {
    layout: CgroupLayout,
    view: CgroupView,
}

#[derive(Debug, Clone)]
enum CgroupLayout {
    /// cgroup v2: one cgroup2 mount.
    Unified { host_dir: PathBuf },
    /// cgroup v1: a tmpfs holding one mount per hierarchy.
    Hierarchies(Vec<V1Hierarchy>),
}

#[derive(Debug, Clone)]
struct V1Hierarchy {
    /// The directory name inside /sys/fs/cgroup (`memory`, `cpu,cpuacct`, `systemd`).
    name: String,
    /// The mount options naming the hierarchy (`memory`, `cpu,cpuacct`, `name=systemd`).
    options: String,
    /// The container's cgroup in this hierarchy, on the host.
    host_dir: PathBuf,
    /// Controllers co-mounted here get a symlink each (`cpu` → `cpu,cpuacct`).
    aliases: Vec<String>,
}

/// Whether the container has its own cgroup namespace (then a fresh cgroup filesystem shows
/// its own cgroup as the root), or shares the host's (then its cgroup directories are bound,
/// so it still sees only its own cgroup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupView {
    Namespaced,
    HostNamespace,
}

impl CgroupMounts {
    /// The layout for a container in `cgroup_path` on a host with `hierarchy`.
    pub fn new(
        hierarchy: &berth_cgroups::Hierarchy,
        cgroup_path: &str,
        view: CgroupView,
    ) -> CgroupMounts {
        let below = |dir: &Path| dir.join(cgroup_path.trim_start_matches('/'));
        let layout = match hierarchy {
            berth_cgroups::Hierarchy::V2 { root } => CgroupLayout::Unified {
                host_dir: below(root),
            },
            berth_cgroups::Hierarchy::V1 { mounts } => {
                let mut by_dir: Vec<(PathBuf, Vec<String>)> = Vec::new();
                for (controller, dir) in mounts {
                    match by_dir.iter_mut().find(|(known, _)| known == dir) {
                        Some((_, controllers)) => controllers.push(controller.clone()),
                        None => by_dir.push((dir.clone(), vec![controller.clone()])),
                    }
                }
                let hierarchies = by_dir
                    .into_iter()
                    .map(|(dir, controllers)| {
                        let name = dir
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| controllers.join(","));
                        let aliases = if controllers.len() > 1 {
                            controllers
                                .iter()
                                .filter(|c| **c != name)
                                .cloned()
                                .collect()
                        } else {
                            Vec::new()
                        };
                        V1Hierarchy {
                            name,
                            options: controllers.join(","),
                            host_dir: below(&dir),
                            aliases,
                        }
                    })
                    .collect();
                CgroupLayout::Hierarchies(hierarchies)
            }
        };
        CgroupMounts { layout, view }
    }

    fn mount(&self, root: &RootDir, destination: &Path, flags: MsFlags) -> Result<(), MountError> {
        let target = root.ensure(destination, MountPointKind::Directory)?;
        match &self.layout {
            CgroupLayout::Unified { host_dir } => match self.view {
                CgroupView::Namespaced => mount(
                    Some("cgroup2"),
                    &fd_path(&target),
                    Some("cgroup2"),
                    flags,
                    None::<&str>,
                )
                .map_err(|e| MountError::os(destination, "mounting cgroup2", e)),
                CgroupView::HostNamespace => bind_with_flags(root, host_dir, destination, flags),
            },
            CgroupLayout::Hierarchies(hierarchies) => {
                let tmpfs_flags = flags - MsFlags::MS_RDONLY;
                mount(
                    Some("tmpfs"),
                    &fd_path(&target),
                    Some("tmpfs"),
                    tmpfs_flags,
                    Some("mode=755"),
                )
                .map_err(|e| MountError::os(destination, "mounting the cgroup tmpfs", e))?;
                for hierarchy in hierarchies {
                    let inside = destination.join(&hierarchy.name);
                    match self.view {
                        CgroupView::Namespaced => {
                            let sub = root.ensure(&inside, MountPointKind::Directory)?;
                            mount(
                                Some("cgroup"),
                                &fd_path(&sub),
                                Some("cgroup"),
                                flags,
                                Some(hierarchy.options.as_str()),
                            )
                            .map_err(|e| {
                                MountError::os(
                                    &inside,
                                    format!("mounting cgroup {}", hierarchy.options),
                                    e,
                                )
                            })?
                        }
                        CgroupView::HostNamespace => {
                            bind_with_flags(root, &hierarchy.host_dir, &inside, flags)?
                        }
                    }
                    let dir = reopen(root, destination)?;
                    for alias in &hierarchy.aliases {
                        rustix::fs::symlinkat(hierarchy.name.as_str(), &dir, alias.as_str())
                            .map_err(|e| MountError::os(&destination.join(alias), "linking", e))?;
                    }
                }
                if flags.contains(MsFlags::MS_RDONLY) {
                    remount(&reopen(root, destination)?, MsFlags::MS_RDONLY)
                        .map_err(|e| MountError::os(destination, "remounting read-only", e))?;
                }
                Ok(())
            }
        }
    }
}

/// Opens what is now mounted at `destination` (the descriptor from before the mount still
/// points at the covered directory).
fn reopen(root: &RootDir, destination: &Path) -> Result<OwnedFd, MountError> {
    root.open_inside(destination)
        .map_err(|e| MountError::os(destination, "reopening", e))
}

fn bind_with_flags(
    root: &RootDir,
    source: &Path,
    destination: &Path,
    flags: MsFlags,
) -> Result<(), MountError> {
    let target = root.ensure(destination, MountPointKind::Directory)?;
    mount(
        Some(source),
        &fd_path(&target),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| MountError::os(destination, format!("binding {}", source.display()), e))?;
    if !flags.is_empty() {
        remount(&reopen(root, destination)?, flags)
            .map_err(|e| MountError::os(destination, "remounting with its flags", e))?;
    }
    Ok(())
}
