//! The layer directory being written, and every change an entry can make to it, one plain
//! syscall at a time. This is the reference behaviour: the io_uring extractor calls these
//! same functions for everything it does not batch itself.
//!
//! Confinement is enforced by the kernel rather than by string checks: every parent directory
//! is resolved from the layer root with `openat2(RESOLVE_IN_ROOT)`, which treats the root as
//! `/` for `..`, absolute paths and symlinks met on the way, and each entry is then created
//! relative to that directory descriptor with `O_NOFOLLOW`-style calls.

use std::cell::Cell;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Timestamps, XattrFlags};
use rustix::io::Errno;

use super::archive::{join, Action, Components, Content, Metadata, Node, Planned};
use super::ExtractError;

const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const COPY_CHUNK: usize = 128 * 1024;

/// A failed syscall on an entry, before it is classified.
#[derive(Debug)]
pub(crate) struct Failure {
    pub op: &'static str,
    pub errno: Errno,
}

pub(crate) trait Op<T> {
    fn op(self, op: &'static str) -> Result<T, Failure>;
}

impl<T> Op<T> for rustix::io::Result<T> {
    fn op(self, op: &'static str) -> Result<T, Failure> {
        self.map_err(|errno| Failure { op, errno })
    }
}

/// A directory whose times are to be set once the extraction is over.
pub(crate) type DirTimes = (Components, Timestamps);

/// `path` extended with `leaf`.
pub(crate) fn child(path: &[Vec<u8>], leaf: &[u8]) -> Components {
    let mut path = path.to_vec();
    path.push(leaf.to_vec());
    path
}

/// The layer directory, opened once.
pub(crate) struct Tree<'a> {
    root: OwnedFd,
    dest: &'a Path,
    /// Bumped whenever a directory or a symlink is removed, or an existing directory's
    /// metadata is applied again: what a cache of resolved directories must forget.
    generation: Cell<u64>,
}

impl<'a> Tree<'a> {
    pub fn open(dest: &'a Path) -> Result<Tree<'a>, ExtractError> {
        let root = rustix::fs::open(
            dest,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ExtractError::Io {
            op: "opening layer directory",
            path: dest.to_path_buf(),
            source: e.into(),
        })?;
        Ok(Tree {
            root,
            dest,
            generation: Cell::new(0),
        })
    }

    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    fn invalidate(&self) {
        self.generation.set(self.generation.get() + 1);
    }

    /// Applies one entry, resolving its parent from the root. A directory's times are not
    /// set here but returned, to be applied once every entry is in place (creating entries
    /// in a directory changes its mtime).
    pub fn apply(
        &self,
        planned: Planned,
        content: &mut Content<'_>,
    ) -> Result<Option<DirTimes>, ExtractError> {
        let dir_path = planned.action.dir().to_vec();
        let dir = self
            .open_dir(&dir_path, true)
            .map_err(|f| self.classify(f, &dir_path, &planned.raw_path))?;
        if let Action::Create {
            leaf,
            node: Node::Regular,
            meta,
            ..
        } = &planned.action
        {
            let path = child(&dir_path, leaf);
            let file = self
                .create_file(dir.as_fd(), leaf)
                .map_err(|f| self.classify(f, &path, &planned.raw_path))?;
            self.write_file(file, &path, meta, content, &planned.raw_path)?;
            return Ok(None);
        }
        self.apply_in(dir.as_fd(), &dir_path, planned)
    }

    /// Applies one entry other than a regular file, given its directory (see
    /// [`Action::dir`]) open as `dir`.
    pub fn apply_in(
        &self,
        dir: BorrowedFd<'_>,
        dir_path: &[Vec<u8>],
        planned: Planned,
    ) -> Result<Option<DirTimes>, ExtractError> {
        let raw_path = &planned.raw_path;
        match planned.action {
            Action::Root(meta) => {
                self.apply_metadata(dir, &meta)
                    .map_err(|f| self.classify(f, &[], raw_path))?;
                // What new entries inherit from the root may have changed.
                self.invalidate();
                Ok(Some((Vec::new(), meta.times)))
            }
            Action::Parent { .. } => Ok(None),
            Action::Opaque { .. } => {
                rustix::fs::fsetxattr(dir, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .op("marking directory opaque")
                    .map_err(|f| self.classify(f, dir_path, raw_path))?;
                Ok(None)
            }
            Action::Whiteout { hidden, meta, .. } => {
                self.whiteout(dir, &hidden, &meta)
                    .map_err(|f| self.classify(f, &child(dir_path, &hidden), raw_path))?;
                Ok(None)
            }
            Action::Create {
                leaf, node, meta, ..
            } => {
                let path = child(dir_path, &leaf);
                let done = match node {
                    Node::Regular => unreachable!("regular files come with their content"),
                    Node::Directory => self
                        .directory(dir, &leaf, &meta)
                        .map(|_| Some((path.clone(), meta.times.clone()))),
                    Node::Symlink { target } => {
                        self.symlink(dir, &leaf, &target, &meta).map(|()| None)
                    }
                    Node::HardLink { target } => self.hard_link(dir, &leaf, &target).map(|()| None),
                    Node::Special { file_type, dev } => self
                        .special(dir, &leaf, file_type, dev, &meta)
                        .map(|()| None),
                };
                done.map_err(|f| self.classify(f, &path, raw_path))
            }
        }
    }

    /// Opens the directory at `components` (resolved inside the root), creating missing
    /// directories as root-owned 0755 when `create` is set.
    pub fn open_dir(&self, components: &[Vec<u8>], create: bool) -> Result<OwnedFd, Failure> {
        match self.resolve(components) {
            Err(Errno::NOENT) if create => {}
            other => return other.op("opening directory"),
        }
        let mut dir = self.resolve(&[]).op("opening directory")?;
        for depth in 1..=components.len() {
            match self.resolve(&components[..depth]) {
                Ok(fd) => dir = fd,
                Err(Errno::NOENT) => {
                    let name = OsStr::from_bytes(&components[depth - 1]);
                    rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))
                        .op("creating directory")?;
                    dir = self.resolve(&components[..depth]).op("opening directory")?;
                    // mkdir applied the umask.
                    rustix::fs::fchmod(&dir, Mode::from_raw_mode(0o755)).op("chmod")?;
                }
                Err(e) => return Err(e).op("opening directory"),
            }
        }
        Ok(dir)
    }

    /// openat2 with the layer root as `/`: `..`, absolute symlinks and symlinks that climb
    /// out are all resolved inside the root.
    pub fn resolve(&self, components: &[Vec<u8>]) -> rustix::io::Result<OwnedFd> {
        let path = join(components);
        loop {
            match rustix::fs::openat2(
                &self.root,
                OsStr::from_bytes(&path),
                OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            ) {
                // The kernel asks for a retry when a rename raced with the lookup.
                Err(Errno::AGAIN) => continue,
                other => return other,
            }
        }
    }

    /// Replaces whatever is named `leaf` by a new, empty regular file open for writing.
    pub fn create_file(&self, parent: BorrowedFd<'_>, leaf: &[u8]) -> Result<OwnedFd, Failure> {
        let leaf = OsStr::from_bytes(leaf);
        self.clear(parent, leaf, false)?;
        rustix::fs::openat(
            parent,
            leaf,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .op("creating file")
    }

    /// Copies the entry's content into `file`, then applies its metadata.
    fn write_file(
        &self,
        file: OwnedFd,
        path: &[Vec<u8>],
        meta: &Metadata,
        content: &mut Content<'_>,
        raw_path: &[u8],
    ) -> Result<(), ExtractError> {
        let mut file = File::from(file);
        let mut buf = vec![0u8; COPY_CHUNK];
        loop {
            let n = content.read(&mut buf)?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n])
                .map_err(|e| self.io("writing", path, e))?;
        }
        self.finish_file(file.as_fd(), meta)
            .map_err(|f| self.classify(f, path, raw_path))
    }

    /// The metadata of a regular file whose content is complete.
    pub fn finish_file(&self, file: BorrowedFd<'_>, meta: &Metadata) -> Result<(), Failure> {
        self.apply_metadata(file, meta)?;
        rustix::fs::futimens(file, &meta.times).op("setting times")
    }

    /// Creates (or keeps, as tar does) the directory `leaf` and applies its metadata;
    /// returns it open.
    pub fn directory(
        &self,
        parent: BorrowedFd<'_>,
        leaf: &[u8],
        meta: &Metadata,
    ) -> Result<OwnedFd, Failure> {
        let leaf = OsStr::from_bytes(leaf);
        // An existing directory is kept with its content (tar semantics); anything else at
        // that name, a symlink in particular, is replaced.
        if self.clear(parent, leaf, true)? {
            self.invalidate();
        } else {
            rustix::fs::mkdirat(parent, leaf, Mode::from_raw_mode(0o700))
                .op("creating directory")?;
        }
        let dir = rustix::fs::openat(
            parent,
            leaf,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .op("opening directory")?;
        self.apply_metadata(dir.as_fd(), meta)?;
        Ok(dir)
    }

    pub fn symlink(
        &self,
        parent: BorrowedFd<'_>,
        leaf: &[u8],
        target: &[u8],
        meta: &Metadata,
    ) -> Result<(), Failure> {
        let name = OsStr::from_bytes(leaf);
        self.clear(parent, name, false)?;
        // The target is stored verbatim: it can point anywhere, because every lookup we make
        // through it is confined to the root.
        rustix::fs::symlinkat(OsStr::from_bytes(target), parent, name).op("creating symlink")?;
        self.apply_metadata_at(parent, leaf, meta)
    }

    pub fn hard_link(
        &self,
        parent: BorrowedFd<'_>,
        leaf: &[u8],
        target: &[Vec<u8>],
    ) -> Result<(), Failure> {
        let (target_leaf, target_parent) = target.split_last().expect("target is not empty");
        let target_dir = self.open_dir(target_parent, false).map_err(|f| Failure {
            op: "finding hard link target",
            errno: f.errno,
        })?;
        let name = OsStr::from_bytes(leaf);
        self.clear(parent, name, false)?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself, so the target
        // is always an entry inside the root.
        rustix::fs::linkat(
            &target_dir,
            OsStr::from_bytes(target_leaf),
            parent,
            name,
            AtFlags::empty(),
        )
        .op("creating hard link")
    }

    pub fn special(
        &self,
        parent: BorrowedFd<'_>,
        leaf: &[u8],
        file_type: FileType,
        dev: rustix::fs::Dev,
        meta: &Metadata,
    ) -> Result<(), Failure> {
        let name = OsStr::from_bytes(leaf);
        self.clear(parent, name, false)?;
        rustix::fs::mknodat(parent, name, file_type, meta.mode, dev).op("creating device node")?;
        self.apply_metadata_at(parent, leaf, meta)
    }

    /// `hidden` in `parent` becomes a 0:0 character device, overlay's whiteout.
    pub fn whiteout(
        &self,
        parent: BorrowedFd<'_>,
        hidden: &[u8],
        meta: &Metadata,
    ) -> Result<(), Failure> {
        let name = OsStr::from_bytes(hidden);
        self.clear(parent, name, false)?;
        rustix::fs::mknodat(
            parent,
            name,
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .op("creating whiteout")?;
        chown_no_follow(parent, name, meta)
    }

    /// Owner, then mode (chown clears setuid/setgid), then xattrs (chown also clears
    /// security.capability), through an open descriptor.
    pub fn apply_metadata(&self, fd: BorrowedFd<'_>, meta: &Metadata) -> Result<(), Failure> {
        rustix::fs::fchown(
            fd,
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
        )
        .op("chown")?;
        rustix::fs::fchmod(fd, meta.mode).op("chmod")?;
        for (name, value) in &meta.xattrs {
            rustix::fs::fsetxattr(fd, OsStr::from_bytes(name), value, XattrFlags::empty())
                .op("setting xattr")?;
        }
        Ok(())
    }

    /// The same for entries that cannot be opened (symlinks, devices, fifos), by name
    /// relative to their parent and without following the name.
    fn apply_metadata_at(
        &self,
        parent: BorrowedFd<'_>,
        leaf: &[u8],
        meta: &Metadata,
    ) -> Result<(), Failure> {
        let name = OsStr::from_bytes(leaf);
        chown_no_follow(parent, name, meta)?;
        let is_symlink = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
            .op("stat")?;
        if !is_symlink {
            // Symlinks have no mode of their own. The node was just created by us in a
            // directory only we write to, so following the name is safe.
            rustix::fs::chmodat(parent, name, meta.mode, AtFlags::empty()).op("chmod")?;
        }
        if !meta.xattrs.is_empty() {
            // There is no setxattr relative to a directory descriptor in rustix; going
            // through our own descriptor's /proc entry keeps the lookup anchored to `parent`
            // while lsetxattr leaves the final name unfollowed.
            let mut path = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
            path.extend_from_slice(leaf);
            for (xname, value) in &meta.xattrs {
                rustix::fs::lsetxattr(
                    OsStr::from_bytes(&path),
                    OsStr::from_bytes(xname),
                    value,
                    XattrFlags::empty(),
                )
                .op("setting xattr")?;
            }
        }
        rustix::fs::utimensat(parent, name, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
            .op("setting times")
    }

    pub fn apply_dir_times(&self, dir_times: &[DirTimes]) -> Result<(), ExtractError> {
        for (path, times) in dir_times {
            // A directory replaced by a later entry keeps that entry's times.
            let dir = match self.resolve(path) {
                Ok(dir) => dir,
                Err(Errno::NOENT | Errno::NOTDIR) => continue,
                Err(e) => return Err(self.io("opening", path, e.into())),
            };
            rustix::fs::futimens(&dir, times)
                .map_err(|e| self.io("setting times of", path, e.into()))?;
        }
        Ok(())
    }

    fn host_path(&self, components: &[Vec<u8>]) -> PathBuf {
        let mut path = self.dest.to_path_buf();
        for c in components {
            path.push(OsStr::from_bytes(c));
        }
        path
    }

    pub fn io(&self, op: &'static str, components: &[Vec<u8>], source: io::Error) -> ExtractError {
        ExtractError::Io {
            op,
            path: self.host_path(components),
            source,
        }
    }

    /// Errors that mean the tar contradicts itself (a file used as a directory, a hard link
    /// to nothing, a name the kernel refuses) are the archive's fault; the rest (no space,
    /// I/O errors) are ours.
    pub fn classify(
        &self,
        failure: Failure,
        components: &[Vec<u8>],
        raw_path: &[u8],
    ) -> ExtractError {
        match failure.errno {
            Errno::NOTDIR
            | Errno::LOOP
            | Errno::EXIST
            | Errno::ISDIR
            | Errno::NAMETOOLONG
            | Errno::INVAL
            | Errno::XDEV
            | Errno::MLINK
            | Errno::NOENT
            | Errno::PERM => ExtractError::BadEntry {
                path: String::from_utf8_lossy(raw_path).into_owned(),
                reason: format!("{}: {}", failure.op, io::Error::from(failure.errno)),
            },
            errno => self.io(failure.op, components, errno.into()),
        }
    }

    /// Makes room for a new entry named `name`: removes whatever is there, except that an
    /// existing directory is kept when `keep_dir` is set. Returns whether a directory was
    /// kept.
    pub fn clear(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        keep_dir: bool,
    ) -> Result<bool, Failure> {
        let stat = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e).op("stat"),
        };
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory if keep_dir => return Ok(true),
            FileType::Directory => {
                self.invalidate();
                remove_tree(parent, name).op("removing directory")?;
            }
            file_type => {
                if file_type == FileType::Symlink {
                    self.invalidate();
                }
                rustix::fs::unlinkat(parent, name, AtFlags::empty()).op("removing")?;
            }
        }
        Ok(false)
    }
}

/// Gives `name` under `parent` the owner in `meta`, not following it if it is a symlink.
fn chown_no_follow(parent: BorrowedFd<'_>, name: &OsStr, meta: &Metadata) -> Result<(), Failure> {
    rustix::fs::chownat(
        parent,
        name,
        Some(rustix::fs::Uid::from_raw(meta.uid)),
        Some(rustix::fs::Gid::from_raw(meta.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .op("chown")
}

/// Removes the directory `name` under `parent` and everything in it, never following a
/// symlink.
fn remove_tree(parent: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<()> {
    let dir = rustix::fs::openat(
        parent,
        name,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut children = Vec::new();
    let mut listing = Dir::read_from(&dir)?;
    while let Some(entry) = listing.read() {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child != b"." && child != b".." {
            children.push((child.to_vec(), entry.file_type()));
        }
    }
    for (child, file_type) in children {
        let child = OsStr::from_bytes(&child);
        let is_dir = match file_type {
            FileType::Directory => true,
            FileType::Unknown => {
                let st = rustix::fs::statat(&dir, child, AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(st.st_mode) == FileType::Directory
            }
            _ => false,
        };
        if is_dir {
            remove_tree(dir.as_fd(), child)?;
        } else {
            rustix::fs::unlinkat(&dir, child, AtFlags::empty())?;
        }
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}
