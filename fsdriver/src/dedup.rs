//! Identical files across layers, stored once.
//!
//! The index is a directory, `<root>/files`, of hard links named by a blake3 key of a file's
//! content *and* inode metadata (mode, owner, mtime, xattrs): a hard-linked file has one
//! inode, so only files that agree on all of it can share one. After a layer is extracted
//! (and before it becomes visible), each of its regular files is looked up: when the index
//! has it, the file is replaced by a link to the indexed inode; otherwise the file itself is
//! indexed. Ten images built on a common base then cost about one base, even when their
//! layers differ (a squashed or re-imported copy of the base shares every unchanged file).
//!
//! This is safe because stored layers are never written: containers see them as overlayfs
//! lower directories, and overlayfs copies a file up into the container's own upper
//! directory before any change to its content or metadata, so a write in one container can
//! never reach another layer through a shared inode. (berth mounts overlays with
//! `index=off`, so a copy-up never links paths that happened to share a lower inode.)
//!
//! Within one layer, the tar's own hard links are kept as they are and no two of its files
//! are joined, so every layer keeps exactly the link structure its tar describes.
//!
//! An index entry whose link count is 1 is used by no layer; [`DedupIndex::sweep`] removes
//! those. Lookups and sweeps may race: the worst outcome is a file not shared.

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

/// Temporary links are made in the index directory, which only we write: a layer's tar
/// can use any name.
const TEMP_PREFIX: &str = ".tmp-";
const INDEX_DIR: &str = "files";
const KEY_DOMAIN: &[u8] = b"berth dedup key v1\0";
const HASH_CHUNK: usize = 256 * 1024;
/// Threads hashing one layer at most.
const MAX_WORKERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What [`DedupIndex::share`] did to a layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shared {
    /// Files replaced by a link to an identical stored file.
    pub files: u64,
    /// Their bytes, no longer stored twice.
    pub bytes: u64,
}

/// What [`DedupIndex::sweep`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub files: u64,
    /// Disk space freed.
    pub bytes: u64,
}

#[derive(Debug)]
pub struct DedupIndex {
    dir: PathBuf,
}

impl DedupIndex {
    /// Opens (creating if needed) the index under `root`, which must be on the same file
    /// system as the layers.
    /// Temporary links an interrupted pass left are removed, so only one index may be open
    /// per root.
    pub fn open(root: &Path) -> Result<DedupIndex, DedupError> {
        let dir = root.join(INDEX_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| DedupError::Io {
            op: "creating",
            path: dir.clone(),
            source,
        })?;
        let index = open_dir(&dir).map_err(|e| io_err("opening", &dir, e))?;
        for name in list(&index).map_err(|e| io_err("listing", &dir, e))? {
            if name.as_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
                match rustix::fs::unlinkat(&index, name.as_c_str(), AtFlags::empty()) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(e) => {
                        return Err(io_err(
                            "removing",
                            &dir.join(OsStr::from_bytes(name.as_bytes())),
                            e,
                        ))
                    }
                }
            }
        }
        Ok(DedupIndex { dir })
    }

    /// Shares the regular files of the tree at `tree` (a layer not yet in use) with
    /// identical files already stored, and indexes the others. Directory times are kept.
    pub fn share(&self, tree: &Path) -> Result<Shared, DedupError> {
        let index = open_dir(&self.dir).map_err(|e| io_err("opening", &self.dir, e))?;
        let root = open_dir(tree).map_err(|e| io_err("opening", tree, e))?;
        let used = Mutex::new(HashSet::new());
        let queue = Queue::new(PathBuf::new());
        // Hashing is most of the work, and each directory is a piece of it.
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS));
        std::thread::scope(|scope| {
            let passes: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut pass = Pass {
                            index: &index,
                            index_path: &self.dir,
                            root: &root,
                            tree,
                            used: &used,
                            shared: Shared::default(),
                            buf: vec![0u8; HASH_CHUNK],
                        };
                        while let Some(dir) = queue.next() {
                            match pass.share_dir(&dir) {
                                Ok(subdirs) => queue.done(subdirs),
                                Err(e) => {
                                    queue.fail();
                                    return Err(e);
                                }
                            }
                        }
                        Ok(pass.shared)
                    })
                })
                .collect();
            let mut total = Shared::default();
            let mut first_error = None;
            for pass in passes {
                match pass
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                {
                    Ok(shared) => {
                        total.files += shared.files;
                        total.bytes += shared.bytes;
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            first_error.map_or(Ok(total), Err)
        })
    }

    /// Removes the entries no layer links to any more.
    pub fn sweep(&self) -> Result<Swept, DedupError> {
        let index = open_dir(&self.dir).map_err(|e| io_err("opening", &self.dir, e))?;
        let mut swept = Swept::default();
        for name in list(&index).map_err(|e| io_err("listing", &self.dir, e))? {
            if name.as_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
                continue; // a pass in progress
            }
            let stat = match rustix::fs::statat(&index, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
            {
                Ok(stat) => stat,
                Err(Errno::NOENT) => continue,
                Err(e) => {
                    return Err(io_err(
                        "stat",
                        &self.dir.join(OsStr::from_bytes(name.as_bytes())),
                        e,
                    ))
                }
            };
            if stat.st_nlink == 1 {
                match rustix::fs::unlinkat(&index, name.as_c_str(), AtFlags::empty()) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(e) => {
                        return Err(io_err(
                            "removing",
                            &self.dir.join(OsStr::from_bytes(name.as_bytes())),
                            e,
                        ))
                    }
                }
                swept.files += 1;
                swept.bytes += stat.st_blocks as u64 * 512;
            }
        }
        Ok(swept)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// Directories of the layer left to share (relative to its root), for the workers of one
/// [`DedupIndex::share`]. Paths rather than open directories, so their number does not
/// count against the descriptor limit.
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

struct QueueState {
    dirs: Vec<PathBuf>,
    /// Directories taken and not yet done (their subdirectories are still to come).
    busy: usize,
    failed: bool,
}

impl Queue {
    fn new(root: PathBuf) -> Queue {
        Queue {
            state: Mutex::new(QueueState {
                dirs: vec![root],
                busy: 0,
                failed: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// The next directory; None once every directory is done or a worker failed.
    fn next(&self) -> Option<PathBuf> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.failed {
                return None;
            }
            if let Some(dir) = state.dirs.pop() {
                state.busy += 1;
                return Some(dir);
            }
            if state.busy == 0 {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn done(&self, subdirs: Vec<PathBuf>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.dirs.extend(subdirs);
        state.busy -= 1;
        self.changed.notify_all();
    }

    fn fail(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.failed = true;
        state.busy -= 1;
        self.changed.notify_all();
    }
}

/// One worker of one [`DedupIndex::share`] over one layer.
struct Pass<'a> {
    index: &'a OwnedFd,
    index_path: &'a Path,
    /// The layer's root, and its path for messages.
    root: &'a OwnedFd,
    tree: &'a Path,
    /// Keys of this layer's files, which are never joined to each other.
    used: &'a Mutex<HashSet<[u8; 32]>>,
    shared: Shared,
    buf: Vec<u8>,
}

impl Pass<'_> {
    /// Shares the files directly in `rel` (relative to the layer's root); returns its
    /// subdirectories.
    fn share_dir(&mut self, rel: &Path) -> Result<Vec<PathBuf>, DedupError> {
        let path = &self.tree.join(rel);
        // Every component is a directory of the layer we listed: nothing may be a symlink.
        let dir = &rustix::fs::openat2(
            self.root,
            if rel.as_os_str().is_empty() {
                Path::new(".")
            } else {
                rel
            },
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
        )
        .map_err(|e| io_err("opening", path, e))?;
        let times = rustix::fs::fstat(dir).map_err(|e| io_err("stat", path, e))?;
        let mut subdirs = Vec::new();
        let mut changed = false;
        for (name, file_type) in list_typed(dir).map_err(|e| io_err("listing", path, e))? {
            let child = path.join(OsStr::from_bytes(name.as_bytes()));
            let file_type = match file_type {
                FileType::Unknown => {
                    rustix::fs::statat(dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
                        .map(|stat| FileType::from_raw_mode(stat.st_mode))
                        .map_err(|e| io_err("stat", &child, e))?
                }
                known => known,
            };
            match file_type {
                FileType::Directory => subdirs.push(rel.join(OsStr::from_bytes(name.as_bytes()))),
                FileType::RegularFile => changed |= self.share_file(dir, &name, &child)?,
                _ => {}
            }
        }
        if changed {
            // Renaming into the directory changed its times, which came from the tar.
            let restored = Timestamps {
                last_access: timespec(times.st_atime, times.st_atime_nsec as i64),
                last_modification: timespec(times.st_mtime, times.st_mtime_nsec as i64),
            };
            rustix::fs::futimens(dir, &restored)
                .map_err(|e| io_err("setting times of", path, e))?;
        }
        Ok(subdirs)
    }

    /// Links the file `name` to an identical indexed one, or indexes it; returns whether
    /// the directory changed.
    fn share_file(
        &mut self,
        dir: &OwnedFd,
        name: &CString,
        path: &Path,
    ) -> Result<bool, DedupError> {
        // Reading must not touch the access time, which came from the tar.
        let open = |flags| {
            rustix::fs::openat(
                dir,
                name.as_c_str(),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | flags,
                Mode::empty(),
            )
        };
        let file = match open(OFlags::NOATIME) {
            Err(Errno::PERM) => open(OFlags::empty()),
            other => other,
        }
        .map_err(|e| io_err("opening", path, e))?;
        let stat = rustix::fs::fstat(&file).map_err(|e| io_err("stat", path, e))?;
        if stat.st_nlink != 1 {
            // A file the tar hard-linked keeps its own links.
            return Ok(false);
        }
        let key = self
            .key(file, &stat)
            .map_err(|e| io_err("reading", path, e))?;
        if !self
            .used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key)
        {
            return Ok(false);
        }
        let key_name = CString::new(hex::encode(key)).expect("hex has no NUL");
        let temp = temp_name();
        match rustix::fs::linkat(
            self.index,
            key_name.as_c_str(),
            self.index,
            temp.as_c_str(),
            AtFlags::empty(),
        ) {
            Ok(()) => self.replace_with_shared(dir, name, path, &temp, &stat),
            Err(Errno::NOENT) => {
                self.index_file(dir, name, &key_name, path)?;
                Ok(false)
            }
            Err(Errno::MLINK) => {
                // The stored inode has all the links it can: this file takes its place in
                // the index for the layers to come.
                self.repoint(dir, name, &key_name, &temp, path)?;
                Ok(false)
            }
            Err(e) => Err(io_err("linking a shared file for", path, e)),
        }
    }

    /// The temporary link to the indexed inode replaces `name`, if the inode really has the
    /// same metadata (the key says so; the inode is checked all the same).
    fn replace_with_shared(
        &mut self,
        dir: &OwnedFd,
        name: &CString,
        path: &Path,
        temp: &CString,
        ours: &Stat,
    ) -> Result<bool, DedupError> {
        let temp_path = self.index_path.join(OsStr::from_bytes(temp.as_bytes()));
        let theirs = rustix::fs::statat(self.index, temp.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| io_err("stat", &temp_path, e))?;
        let same = theirs.st_mode == ours.st_mode
            && theirs.st_uid == ours.st_uid
            && theirs.st_gid == ours.st_gid
            && theirs.st_size == ours.st_size
            && (theirs.st_mtime, theirs.st_mtime_nsec) == (ours.st_mtime, ours.st_mtime_nsec);
        if !same {
            rustix::fs::unlinkat(self.index, temp.as_c_str(), AtFlags::empty())
                .map_err(|e| io_err("removing", &temp_path, e))?;
            return Ok(false);
        }
        rustix::fs::renameat(self.index, temp.as_c_str(), dir, name.as_c_str())
            .map_err(|e| io_err("replacing with a shared file", path, e))?;
        self.shared.files += 1;
        self.shared.bytes += ours.st_size as u64;
        Ok(true)
    }

    fn index_file(
        &self,
        dir: &OwnedFd,
        name: &CString,
        key: &CString,
        path: &Path,
    ) -> Result<(), DedupError> {
        match rustix::fs::linkat(
            dir,
            name.as_c_str(),
            self.index,
            key.as_c_str(),
            AtFlags::empty(),
        ) {
            // Another layer indexed the same file meanwhile: this one stays apart.
            Ok(()) | Err(Errno::EXIST) => Ok(()),
            Err(e) => Err(io_err("indexing", path, e)),
        }
    }

    fn repoint(
        &self,
        dir: &OwnedFd,
        name: &CString,
        key: &CString,
        temp: &CString,
        path: &Path,
    ) -> Result<(), DedupError> {
        rustix::fs::linkat(
            dir,
            name.as_c_str(),
            self.index,
            temp.as_c_str(),
            AtFlags::empty(),
        )
        .map_err(|e| io_err("indexing", path, e))?;
        rustix::fs::renameat(self.index, temp.as_c_str(), self.index, key.as_c_str())
            .map_err(|e| io_err("indexing", path, e))
    }

    /// blake3 of the content and of everything a hard link would share.
    fn key(&mut self, file: OwnedFd, stat: &Stat) -> rustix::io::Result<[u8; 32]> {
        let mut hasher = blake3::Hasher::new();
        hasher.update(KEY_DOMAIN);
        hasher.update(&(stat.st_mode & 0o7777).to_le_bytes());
        hasher.update(&stat.st_uid.to_le_bytes());
        hasher.update(&stat.st_gid.to_le_bytes());
        hasher.update(&stat.st_mtime.to_le_bytes());
        hasher.update(&(stat.st_mtime_nsec as i64).to_le_bytes());
        for (name, value) in xattrs(file.as_fd())? {
            hasher.update(&(name.len() as u64).to_le_bytes());
            hasher.update(&name);
            hasher.update(&(value.len() as u64).to_le_bytes());
            hasher.update(&value);
        }
        hasher.update(&(stat.st_size as u64).to_le_bytes());
        // The layer is ours and not in use: the file has exactly its size, and reading
        // that much spares a read for the end.
        let mut file = File::from(file);
        let mut left = stat.st_size as u64;
        while left > 0 {
            let want = self.buf.len().min(left as usize);
            match file.read(&mut self.buf[..want]) {
                Ok(0) => return Err(Errno::IO),
                Ok(n) => {
                    hasher.update(&self.buf[..n]);
                    left -= n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Errno::from_io_error(&e).unwrap_or(Errno::IO)),
            }
        }
        Ok(*hasher.finalize().as_bytes())
    }
}

/// The file's xattrs, sorted by name.
fn xattrs(fd: BorrowedFd<'_>) -> rustix::io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut names = Vec::new();
    loop {
        let len = rustix::fs::flistxattr_query(fd)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        names.resize(len, 0);
        match rustix::fs::flistxattr(fd, &mut names[..]) {
            Ok(n) => {
                names.truncate(n);
                break;
            }
            // Changed in between: ask again.
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    }
    let mut xattrs = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::from_bytes(name);
        let mut value = vec![0u8; rustix::fs::fgetxattr_query(fd, name)?];
        let n = rustix::fs::fgetxattr(fd, name, &mut value[..])?;
        value.truncate(n);
        xattrs.push((name.as_bytes().to_vec(), value));
    }
    xattrs.sort();
    Ok(xattrs)
}

fn open_dir(path: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The names in `dir`, but `.` and `..`.
fn list(dir: &OwnedFd) -> rustix::io::Result<Vec<CString>> {
    Ok(list_typed(dir)?.into_iter().map(|(name, _)| name).collect())
}

/// The names in `dir` with their types as the directory records them (possibly
/// [`FileType::Unknown`]), but `.` and `..`.
fn list_typed(dir: &OwnedFd) -> rustix::io::Result<Vec<(CString, FileType)>> {
    let mut names = Vec::new();
    let mut listing = Dir::read_from(dir)?;
    while let Some(entry) = listing.read() {
        let entry = entry?;
        let name = entry.file_name();
        if !matches!(name.to_bytes(), b"." | b"..") {
            names.push((name.to_owned(), entry.file_type()));
        }
    }
    Ok(names)
}

/// A name for a temporary link in the index, unique among this process's passes (and
/// other processes do not use the index while we have it open).
fn temp_name() -> CString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    CString::new(format!("{TEMP_PREFIX}{}-{n}", std::process::id())).expect("no NUL")
}

fn timespec(sec: i64, nsec: i64) -> Timespec {
    Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

fn io_err(op: &'static str, path: &Path, errno: Errno) -> DedupError {
    DedupError::Io {
        op,
        path: path.to_path_buf(),
        source: errno.into(),
    }
}
