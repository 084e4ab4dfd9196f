//! The reference layer extractor: applies an uncompressed tar stream to a directory with
//! plain syscalls, one entry at a time. It is the behaviour any faster extractor must match.
//!
//! Confinement is enforced by the kernel rather than by string checks: every parent directory
//! is resolved from the layer root with `openat2(RESOLVE_IN_ROOT)`, which treats the root as
//! `/` for `..`, absolute paths and symlinks met on the way, and each entry is then created
//! relative to that directory descriptor with `O_NOFOLLOW`-style calls. A tar can therefore
//! name `../../etc/passwd`, or plant a symlink to `/` and write through it, and still only
//! ever touch files inside the layer (as Docker does, such paths are confined, not refused).
//!
//! Whiteouts are converted to overlayfs' own form so that a layer directory can be used as a
//! lower layer as it is: `.wh.NAME` becomes a 0:0 character device `NAME`, and `.wh..wh..opq`
//! sets `trusted.overlay.opaque=y` on its directory.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags,
};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};
use tar::EntryType;

use crate::digest::Digest;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_WHITEOUT: &[u8] = b".wh..wh..opq";
const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// overlayfs acts on these xattrs (redirects, metacopy, opacity); a layer tar must not be
/// able to set them, only our whiteout conversion does.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Bounds that turn a tar bomb into a clean error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// The most entries a layer may have.
    pub max_entries: u64,
    /// The most bytes of uncompressed tar stream read, and of file content written (a sparse
    /// entry can expand far beyond its size in the stream).
    pub max_bytes: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            max_entries: 1 << 20,
            max_bytes: 32 << 30,
        }
    }
}

/// What an extraction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// sha256 of the whole uncompressed tar stream (the OCI diff_id).
    pub diff_id: Digest,
    /// Bytes of regular file content written.
    pub size: u64,
    pub entries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("invalid layer tar: {0}")]
    Archive(#[source] io::Error),
    #[error("layer has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("layer is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("invalid layer tar: entry {path:?}: {reason}")]
    BadEntry { path: String, reason: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ExtractError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            ExtractError::Io { .. } => crate::ErrorKind::Internal,
            _ => crate::ErrorKind::InvalidArgument,
        }
    }
}

/// Extracts the uncompressed tar `reader` into the existing directory `dest`, reading the
/// stream to its end so the returned diff_id covers all of it.
pub fn extract(
    reader: impl Read,
    dest: &Path,
    limits: &ExtractLimits,
) -> Result<Extracted, ExtractError> {
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
    let mut archive = tar::Archive::new(HashingReader {
        inner: reader,
        hasher: Sha256::new(),
        read: 0,
        limit: limits.max_bytes,
        exceeded: false,
    });
    let mut extractor = Extractor {
        root,
        dest,
        limits,
        written: 0,
        entries: 0,
        dir_times: Vec::new(),
    };
    let unpacked = extractor.unpack_all(&mut archive);
    let mut stream = archive.into_inner();
    // Whatever follows the end-of-archive blocks is part of the diff_id, and reading it to
    // the end makes a decompressor check its trailer, which is how a truncated gzip is caught.
    let result = unpacked.and_then(|()| {
        io::copy(&mut stream, &mut io::sink())
            .map(drop)
            .map_err(ExtractError::Archive)
    });
    match result {
        Err(ExtractError::Archive(_)) if stream.exceeded => Err(ExtractError::TooLarge {
            limit: limits.max_bytes,
        }),
        Err(e) => Err(e),
        Ok(()) => {
            extractor.apply_dir_times()?;
            Ok(Extracted {
                diff_id: Digest::from_sha256_bytes(&stream.hasher.finalize().into()),
                size: extractor.written,
                entries: extractor.entries,
            })
        }
    }
}

/// Hashes the stream and enforces the size limit as it is read.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    limit: u64,
    exceeded: bool,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("layer size limit exceeded"));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// An entry's path after confinement: the normal components that remain once empty parts
/// and `.` are dropped and `..` is applied (never climbing above the root).
type Components = Vec<Vec<u8>>;

fn clean(raw: &[u8]) -> Components {
    let mut components: Components = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                components.pop();
            }
            _ => components.push(part.to_vec()),
        }
    }
    components
}

fn join(components: &[Vec<u8>]) -> Vec<u8> {
    if components.is_empty() {
        return b".".to_vec();
    }
    components.join(&b'/')
}

/// Ownership, permissions, times and xattrs of one entry.
struct Metadata {
    uid: u32,
    gid: u32,
    mode: Mode,
    times: Timestamps,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Extractor<'a> {
    root: OwnedFd,
    dest: &'a Path,
    limits: &'a ExtractLimits,
    written: u64,
    entries: u64,
    /// Directory times are set last, since creating entries inside a directory changes its
    /// mtime.
    dir_times: Vec<(Components, Timestamps)>,
}

/// A failed syscall on an entry, before it is classified.
struct Failure {
    op: &'static str,
    errno: Errno,
}

trait Op<T> {
    fn op(self, op: &'static str) -> Result<T, Failure>;
}

impl<T> Op<T> for rustix::io::Result<T> {
    fn op(self, op: &'static str) -> Result<T, Failure> {
        self.map_err(|errno| Failure { op, errno })
    }
}

impl Extractor<'_> {
    fn unpack_all<R: Read>(&mut self, archive: &mut tar::Archive<R>) -> Result<(), ExtractError> {
        for entry in archive.entries().map_err(ExtractError::Archive)? {
            let mut entry = entry.map_err(ExtractError::Archive)?;
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(ExtractError::TooManyEntries {
                    limit: self.limits.max_entries,
                });
            }
            self.unpack_entry(&mut entry)?;
        }
        Ok(())
    }

    fn unpack_entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), ExtractError> {
        let raw_path = entry.path_bytes().into_owned();
        let bad = |reason: String| ExtractError::BadEntry {
            path: String::from_utf8_lossy(&raw_path).into_owned(),
            reason,
        };
        let entry_type = entry.header().entry_type();
        if entry_type == EntryType::XGlobalHeader {
            return Ok(());
        }
        let meta = read_metadata(entry).map_err(|e| bad(e.to_string()))?;
        let mut components = clean(&raw_path);

        let Some(leaf) = components.pop() else {
            // The archive's root ("./"): only its metadata can be applied.
            if entry_type != EntryType::Directory {
                return Err(bad("the layer root can only be a directory".into()));
            }
            let root = self
                .root
                .try_clone()
                .map_err(|e| self.io("opening", &[], e))?;
            self.apply_metadata(root.as_fd(), &meta)
                .map_err(|f| self.classify(f, &[], &raw_path))?;
            self.dir_times.push((Vec::new(), meta.times));
            return Ok(());
        };
        let parent = components;
        let parent_fd = self
            .open_dir(&parent, true)
            .map_err(|f| self.classify(f, &parent, &raw_path))?;

        let outcome = if leaf.starts_with(WHITEOUT_PREFIX) {
            self.whiteout(parent_fd.as_fd(), &leaf, &meta)
        } else {
            match entry_type {
                EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                    return self.regular_file(
                        parent_fd.as_fd(),
                        &parent,
                        &leaf,
                        &meta,
                        entry,
                        &raw_path,
                    );
                }
                EntryType::Directory => self.directory(parent_fd.as_fd(), &leaf, &meta).map(|()| {
                    let mut path = parent.clone();
                    path.push(leaf.clone());
                    self.dir_times.push((path, meta.times));
                }),
                EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .ok_or_else(|| bad("symlink without a target".into()))?;
                    self.symlink(parent_fd.as_fd(), &leaf, &target, &meta)
                }
                EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .ok_or_else(|| bad("hard link without a target".into()))?;
                    let mut path = parent.clone();
                    path.push(leaf.clone());
                    let target = clean(&target);
                    if target == path {
                        // A link to itself: nothing to do, and clearing the leaf would
                        // delete the target.
                        return Ok(());
                    }
                    if target.is_empty() {
                        return Err(bad("hard link to the layer root".into()));
                    }
                    self.hard_link(parent_fd.as_fd(), &leaf, &target)
                }
                EntryType::Char | EntryType::Block | EntryType::Fifo => {
                    let file_type = match entry_type {
                        EntryType::Char => FileType::CharacterDevice,
                        EntryType::Block => FileType::BlockDevice,
                        _ => FileType::Fifo,
                    };
                    let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                    let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                    let dev = rustix::fs::makedev(major, minor);
                    self.special(parent_fd.as_fd(), &leaf, file_type, dev, &meta)
                }
                other => return Err(bad(format!("unsupported tar entry type {other:?}"))),
            }
        };
        let mut path = parent;
        path.push(leaf);
        outcome.map_err(|f| self.classify(f, &path, &raw_path))
    }

    /// Opens the directory at `components` (resolved inside the root), creating missing
    /// directories as root-owned 0755 when `create` is set.
    fn open_dir(&self, components: &[Vec<u8>], create: bool) -> Result<OwnedFd, Failure> {
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
    fn resolve(&self, components: &[Vec<u8>]) -> rustix::io::Result<OwnedFd> {
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

    fn regular_file<R: Read>(
        &mut self,
        parent: BorrowedFd<'_>,
        parent_path: &[Vec<u8>],
        leaf: &[u8],
        meta: &Metadata,
        entry: &mut tar::Entry<R>,
        raw_path: &[u8],
    ) -> Result<(), ExtractError> {
        let mut path = parent_path.to_vec();
        path.push(leaf.to_vec());
        let leaf = OsStr::from_bytes(leaf);
        let file = clear(parent, leaf, false)
            .and_then(|_| {
                rustix::fs::openat(
                    parent,
                    leaf,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .op("creating file")
            })
            .map_err(|f| self.classify(f, &path, raw_path))?;
        let mut file = File::from(file);
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ExtractError::Archive(e)),
            };
            self.written += n as u64;
            if self.written > self.limits.max_bytes {
                return Err(ExtractError::TooLarge {
                    limit: self.limits.max_bytes,
                });
            }
            file.write_all(&buf[..n])
                .map_err(|e| self.io("writing", &path, e))?;
        }
        self.apply_metadata(file.as_fd(), meta)
            .and_then(|()| rustix::fs::futimens(&file, &meta.times).op("setting times"))
            .map_err(|f| self.classify(f, &path, raw_path))
    }

    fn directory(
        &self,
        parent: BorrowedFd<'_>,
        leaf: &[u8],
        meta: &Metadata,
    ) -> Result<(), Failure> {
        let leaf = OsStr::from_bytes(leaf);
        // An existing directory is kept with its content (tar semantics); anything else at
        // that name, a symlink in particular, is replaced.
        if !clear(parent, leaf, true)? {
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
        self.apply_metadata(dir.as_fd(), meta)
    }

    fn symlink(
        &self,
        parent: BorrowedFd<'_>,
        leaf: &[u8],
        target: &[u8],
        meta: &Metadata,
    ) -> Result<(), Failure> {
        let name = OsStr::from_bytes(leaf);
        clear(parent, name, false)?;
        // The target is stored verbatim: it can point anywhere, because every lookup we make
        // through it is confined to the root.
        rustix::fs::symlinkat(OsStr::from_bytes(target), parent, name).op("creating symlink")?;
        self.apply_metadata_at(parent, leaf, meta)
    }

    fn hard_link(
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
        clear(parent, name, false)?;
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

    fn special(
        &self,
        parent: BorrowedFd<'_>,
        leaf: &[u8],
        file_type: FileType,
        dev: rustix::fs::Dev,
        meta: &Metadata,
    ) -> Result<(), Failure> {
        let name = OsStr::from_bytes(leaf);
        clear(parent, name, false)?;
        rustix::fs::mknodat(parent, name, file_type, meta.mode, dev).op("creating device node")?;
        self.apply_metadata_at(parent, leaf, meta)
    }

    fn whiteout(
        &self,
        parent: BorrowedFd<'_>,
        leaf: &[u8],
        meta: &Metadata,
    ) -> Result<(), Failure> {
        if leaf == OPAQUE_WHITEOUT {
            return rustix::fs::fsetxattr(parent, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                .op("marking directory opaque");
        }
        if leaf.starts_with(WHITEOUT_META_PREFIX) {
            // Other `.wh..wh.` names are aufs bookkeeping with no meaning for overlayfs.
            return Ok(());
        }
        let hidden = &leaf[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(Failure {
                op: "whiteout names no file",
                errno: Errno::INVAL,
            });
        }
        let name = OsStr::from_bytes(hidden);
        clear(parent, name, false)?;
        rustix::fs::mknodat(
            parent,
            name,
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .op("creating whiteout")?;
        rustix::fs::chownat(
            parent,
            name,
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .op("chown")
    }

    /// Owner, then mode (chown clears setuid/setgid), then xattrs (chown also clears
    /// security.capability), through an open descriptor.
    fn apply_metadata(&self, fd: BorrowedFd<'_>, meta: &Metadata) -> Result<(), Failure> {
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
        rustix::fs::chownat(
            parent,
            name,
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .op("chown")?;
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

    fn apply_dir_times(&self) -> Result<(), ExtractError> {
        for (path, times) in &self.dir_times {
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

    fn io(&self, op: &'static str, components: &[Vec<u8>], source: io::Error) -> ExtractError {
        ExtractError::Io {
            op,
            path: self.host_path(components),
            source,
        }
    }

    /// Errors that mean the tar contradicts itself (a file used as a directory, a hard link
    /// to nothing, a name the kernel refuses) are the archive's fault; the rest (no space,
    /// I/O errors) are ours.
    fn classify(&self, failure: Failure, components: &[Vec<u8>], raw_path: &[u8]) -> ExtractError {
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
}

/// Makes room for a new entry named `name`: removes whatever is there, except that an
/// existing directory is kept when `keep_dir` is set. Returns whether a directory was kept.
fn clear(parent: BorrowedFd<'_>, name: &OsStr, keep_dir: bool) -> Result<bool, Failure> {
    let stat = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e).op("stat"),
    };
    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
        if keep_dir {
            return Ok(true);
        }
        remove_tree(parent, name).op("removing directory")?;
    } else {
        rustix::fs::unlinkat(parent, name, AtFlags::empty()).op("removing")?;
    }
    Ok(false)
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

fn read_metadata<R: Read>(entry: &mut tar::Entry<R>) -> io::Result<Metadata> {
    let header = entry.header();
    let id = |value: u64, what: &str| {
        u32::try_from(value).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{what} {value} is out of range"),
            )
        })
    };
    let old = header.as_old();
    let uid = id(blank_is_zero(header.uid(), &old.uid)?, "uid")?;
    let gid = id(blank_is_zero(header.gid(), &old.gid)?, "gid")?;
    let mode = blank_is_zero(header.mode().map(u64::from), &old.mode)?;
    let mode = Mode::from_raw_mode((mode & 0o7777) as u32);
    let mtime = Timespec {
        tv_sec: i64::try_from(blank_is_zero(header.mtime(), &old.mtime)?).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let mut times = Timestamps {
        last_access: mtime,
        last_modification: mtime,
    };
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            let key = extension.key_bytes();
            if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                if !name.starts_with(OVERLAY_XATTR_PREFIX) {
                    xattrs.push((name.to_vec(), extension.value_bytes().to_vec()));
                }
            } else if key == b"mtime" {
                if let Some(t) = parse_pax_time(extension.value_bytes()) {
                    times.last_modification = t;
                }
            } else if key == b"atime" {
                atime = parse_pax_time(extension.value_bytes());
            }
        }
    }
    times.last_access = atime.unwrap_or(times.last_modification);
    Ok(Metadata {
        uid,
        gid,
        mode,
        times,
        xattrs,
    })
}

/// Some archivers leave numeric fields they do not care about empty; Go's archive/tar (and so
/// Docker) reads those as 0, where the tar crate reports an error.
fn blank_is_zero(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

/// PAX times are decimal seconds with an optional fraction, e.g. `1700000000.25`.
fn parse_pax_time(value: &[u8]) -> Option<Timespec> {
    let text = std::str::from_utf8(value).ok()?;
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let tv_nsec: i64 = digits.parse().ok()?;
    if secs.starts_with('-') && tv_nsec > 0 {
        // -1.25 means 1.25 seconds before the epoch: -2 s plus 0.75 s.
        return Some(Timespec {
            tv_sec: tv_sec - 1,
            tv_nsec: 1_000_000_000 - tv_nsec,
        });
    }
    Some(Timespec { tv_sec, tv_nsec })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_confines_paths() {
        let c = |s: &str| -> Vec<String> {
            clean(s.as_bytes())
                .into_iter()
                .map(|c| String::from_utf8(c).unwrap())
                .collect()
        };
        assert_eq!(c("./a/b"), ["a", "b"]);
        assert_eq!(c("/etc/passwd"), ["etc", "passwd"]);
        assert_eq!(c("../../etc/passwd"), ["etc", "passwd"]);
        assert_eq!(c("a/../../b/./c//d/"), ["b", "c", "d"]);
        assert!(c("./").is_empty());
        assert!(c("..").is_empty());
    }

    #[test]
    fn parses_pax_times() {
        let t = parse_pax_time(b"1700000000.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 250_000_000));
        let t = parse_pax_time(b"12").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 0));
        let t = parse_pax_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        assert!(parse_pax_time(b"abc").is_none());
        assert!(parse_pax_time(b"1.x").is_none());
    }
}
