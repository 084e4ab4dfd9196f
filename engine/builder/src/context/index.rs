//! A streamed build context: the client's tar read once as it arrives, each entry's
//! metadata kept in memory with the blake3 hash of its content, and the plain tar written
//! to a spool file beside it.
//!
//! A build whose steps are all cache hits needs nothing but those hashes (and the
//! Dockerfile, read back from the spool by offset), so nothing is extracted; the first
//! step that must copy from the context extracts the spool once, through fsdriver's layer
//! extractor, and every later one reads the files it left.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{io_err, resolve, ContextError};

/// Types as `st_mode` has them, so a hash names the kind of every entry.
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
/// Bounds as the layer extractor's: a tar bomb is a clean error.
const MAX_ENTRIES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Its content's blake3 hash, and where the content starts in the spool.
    File {
        hash: [u8; 32],
        offset: u64,
    },
    Dir,
    Symlink(PathBuf),
    /// A device or a pipe: the extractor makes it, nothing can read it.
    Other,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    /// Permission bits, as the tar header gives them.
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    /// Seconds, as the tar header gives them: a COPY keeps a file's modification time.
    /// Not hashed (nor is it on disk): Docker's cache ignores times too.
    mtime: u64,
}

impl Entry {
    fn dir(mode: u32) -> Entry {
        Entry {
            kind: Kind::Dir,
            mode,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
        }
    }

    fn st_mode(&self) -> u32 {
        let kind = match self.kind {
            Kind::File { .. } => S_IFREG,
            Kind::Dir => S_IFDIR,
            Kind::Symlink(_) => S_IFLNK,
            Kind::Other => 0,
        };
        kind | (self.mode & 0o7777)
    }
}

/// An entry as a COPY straight from the spool reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// Its content is `size` bytes at `offset` in the spool.
    File {
        offset: u64,
        size: u64,
    },
    Dir,
    Symlink(&'a Path),
    /// A device or a pipe.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spooled<'a> {
    pub(crate) item: Item<'a>,
    /// Permission bits.
    pub(crate) mode: u32,
    pub(crate) mtime: u64,
}

/// The context's entries by relative path (`""` is its root), with each directory's
/// children, and the spool they were read from.
#[derive(Debug)]
pub(crate) struct Index {
    entries: HashMap<String, Entry>,
    children: HashMap<String, BTreeSet<String>>,
    spool: PathBuf,
    /// Whether the spool was extracted into the context's root yet.
    extracted: Mutex<bool>,
}

/// What reads the stream passes on to the spool, in buffers of [`SPOOL_CHUNK`] that a
/// thread of its own writes: the page cache copies (a big part of an unchanged rebuild's
/// time) then overlap the parsing and hashing instead of adding to them.
struct Tee<R> {
    inner: R,
    buf: Vec<u8>,
    /// `None` once the writer has stopped (it failed; [`Tee::finish`] says why).
    out: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
}

const SPOOL_CHUNK: usize = 1 << 20;
/// Chunks the parser may run ahead of the spool writer.
const SPOOL_QUEUED: usize = 4;

impl<R> Tee<R> {
    fn send(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(SPOOL_CHUNK));
        if let Some(out) = &self.out {
            if out.send(chunk).is_err() {
                self.out = None;
            }
        }
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.buf.extend_from_slice(&buf[..n]);
        if self.buf.len() >= SPOOL_CHUNK {
            self.send();
        }
        Ok(n)
    }
}

/// Writes the chunks it receives to `file` until the sender is dropped.
fn spool_writer(
    file: std::fs::File,
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let mut file = file;
    for chunk in chunks {
        file.write_all(&chunk)?;
    }
    file.flush()
}

fn split_parent(name: &str) -> (&str, &str) {
    name.rsplit_once('/').unwrap_or(("", name))
}

impl Index {
    /// Reads the plain tar `reader` to its end, writing it to `spool` as it goes.
    pub(crate) fn read(reader: impl Read, spool: &Path) -> Result<Index, ContextError> {
        let file = std::fs::File::create(spool).map_err(io_err("creating", spool))?;
        let mut index = Index {
            entries: HashMap::from([(String::new(), Entry::dir(0o755))]),
            children: HashMap::new(),
            spool: spool.to_path_buf(),
            extracted: Mutex::new(false),
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(SPOOL_QUEUED);
        let writer = std::thread::Builder::new()
            .name("context-spool".into())
            .spawn(move || spool_writer(file, rx))
            .map_err(io_err("starting the writer of", spool))?;
        let tee = Tee {
            inner: reader,
            buf: Vec::with_capacity(SPOOL_CHUNK),
            out: Some(tx),
        };
        let read = index.read_entries(tee);
        // The writer ends once the sender is gone, whatever the reading did.
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the spool writer panicked")));
        read?;
        written.map_err(io_err("writing", spool)).map(|_| index)
    }

    fn read_entries<R: Read>(&mut self, tee: Tee<R>) -> Result<(), ContextError> {
        let mut archive = tar::Archive::new(tee);
        let bad = |e: std::io::Error| ContextError::Archive(e.to_string());
        // One buffer for every file's content: blake3's own `update_reader` zeroes 64 KiB
        // on each call, which for thousands of small files cost more than the hashing.
        let mut buf = vec![0; 1 << 16];
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            self.add(&mut entry, &mut buf)?;
            if self.entries.len() > MAX_ENTRIES {
                return Err(ContextError::Archive(format!(
                    "more than {MAX_ENTRIES} entries"
                )));
            }
        }
        // What follows the end-of-archive blocks is read too: the client's whole body.
        let mut tee = archive.into_inner();
        std::io::copy(&mut tee, &mut std::io::sink()).map_err(bad)?;
        tee.send();
        Ok(())
    }

    fn add<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        buf: &mut [u8],
    ) -> Result<(), ContextError> {
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).to_string();
        // As the extractor confines a `../` name to the root rather than refusing it.
        let name = resolve::clean_clamped(&raw_name);
        let header = entry.header();
        let bad = |why: &str| ContextError::Archive(format!("entry {raw_name:?}: {why}"));
        // A blank number is 0, as the layer extractor reads it.
        let old = header.as_old();
        let number = |parsed: std::io::Result<u64>, raw: &[u8]| match parsed {
            Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
            other => other.map_err(|e| bad(&e.to_string())),
        };
        let mode = number(header.mode().map(u64::from), &old.mode)? as u32;
        let uid = number(header.uid(), &old.uid)?;
        let gid = number(header.gid(), &old.gid)?;
        let mtime = number(header.mtime(), &old.mtime)?;
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let offset = entry.raw_file_position();
                let mut hasher = blake3::Hasher::new();
                loop {
                    match entry.read(buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            hasher.update(&buf[..n]);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(bad(&e.to_string())),
                    }
                }
                Kind::File {
                    hash: *hasher.finalize().as_bytes(),
                    offset,
                }
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| bad(&e.to_string()))?
                    .ok_or_else(|| bad("a symlink without a target"))?;
                Kind::Symlink(target.into_owned())
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| bad(&e.to_string()))?
                    .ok_or_else(|| bad("a hard link without a target"))?;
                let target = resolve::clean_clamped(&target.to_string_lossy());
                // A hard link is the same inode: the same content, mode and owner.
                let linked = self
                    .entries
                    .get(&target)
                    .filter(|e| matches!(e.kind, Kind::File { .. }))
                    .cloned()
                    .ok_or_else(|| bad(&format!("a hard link to {target:?}, no file before it")))?;
                return self.insert(name, linked, &bad);
            }
            tar::EntryType::GNUSparse => {
                return Err(bad(
                    "sparse files in a build context: not supported by berth yet",
                ))
            }
            // Headers the tar crate has applied to the entry they precede.
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => return Ok(()),
            _ => Kind::Other,
        };
        let size = match kind {
            Kind::File { .. } => entry.size(),
            _ => 0,
        };
        let new = Entry {
            kind,
            mode,
            uid,
            gid,
            size,
            mtime,
        };
        self.insert(name, new, &bad)
    }

    fn insert(
        &mut self,
        name: String,
        entry: Entry,
        bad: &dyn Fn(&str) -> ContextError,
    ) -> Result<(), ContextError> {
        if name.is_empty() {
            // `./`: the root's own mode and owner.
            if entry.kind == Kind::Dir {
                self.entries.insert(name, entry);
            }
            return Ok(());
        }
        // Parents the tar did not list are made as the extractor makes them. One that is
        // not a directory (a symlink, say) is refused: the extractor would write through
        // it somewhere else than the name says.
        let (parent, base) = split_parent(&name);
        let mut missing = Vec::new();
        let mut at = parent;
        loop {
            match self.entries.get(at) {
                Some(e) if e.kind == Kind::Dir => break,
                Some(_) => return Err(bad(&format!("{at:?} before it is not a directory"))),
                None => {
                    missing.push(at.to_string());
                    at = split_parent(at).0;
                }
            }
        }
        for dir in missing.into_iter().rev() {
            let (up, dir_base) = split_parent(&dir);
            self.children
                .entry(up.to_string())
                .or_default()
                .insert(dir_base.to_string());
            self.entries.insert(dir, Entry::dir(0o755));
        }
        if let Some(old) = self.entries.get(&name) {
            if old.kind == Kind::Dir && entry.kind != Kind::Dir {
                self.remove_below(&name);
            }
        }
        self.children
            .entry(parent.to_string())
            .or_default()
            .insert(base.to_string());
        self.entries.insert(name, entry);
        Ok(())
    }

    fn remove_below(&mut self, dir: &str) {
        for child in self.children.remove(dir).unwrap_or_default() {
            let path = format!("{dir}/{child}");
            self.remove_below(&path);
            self.entries.remove(&path);
        }
    }

    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.entries.contains_key(rel)
    }

    pub(crate) fn is_dir(&self, rel: &str) -> bool {
        self.entries.get(rel).is_some_and(|e| e.kind == Kind::Dir)
    }

    /// The target of the symlink `rel`, if it is one.
    pub(crate) fn link(&self, rel: &str) -> Option<PathBuf> {
        match self.entries.get(rel).map(|e| &e.kind) {
            Some(Kind::Symlink(target)) => Some(target.clone()),
            _ => None,
        }
    }

    /// What a COPY of the entry `rel` needs of it (see [`Spooled`]).
    pub(crate) fn spooled(&self, rel: &str) -> Option<Spooled<'_>> {
        let entry = self.entries.get(rel)?;
        let item = match &entry.kind {
            Kind::File { offset, .. } => Item::File {
                offset: *offset,
                size: entry.size,
            },
            Kind::Dir => Item::Dir,
            Kind::Symlink(target) => Item::Symlink(target),
            Kind::Other => Item::Other,
        };
        Some(Spooled {
            item,
            mode: entry.mode & 0o7777,
            mtime: entry.mtime,
        })
    }

    /// The plain tar the entries were read from.
    pub(crate) fn spool(&self) -> &Path {
        &self.spool
    }

    /// The names in directory `rel`, sorted.
    pub(crate) fn children(&self, rel: &str) -> Vec<String> {
        self.children
            .get(rel)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The content of the regular file `rel`, read back from the spool.
    pub(crate) fn content(&self, rel: &str) -> Option<Result<Vec<u8>, ContextError>> {
        let entry = self.entries.get(rel)?;
        let Kind::File { offset, .. } = entry.kind else {
            return None;
        };
        let read = || -> std::io::Result<Vec<u8>> {
            let file = std::fs::File::open(&self.spool)?;
            let mut bytes = vec![0; entry.size as usize];
            file.read_exact_at(&mut bytes, offset)?;
            Ok(bytes)
        };
        Some(read().map_err(io_err("reading", &self.spool)))
    }

    /// Adds the entry `rel` (a file, link or whole tree) to `hasher` as `name`: names,
    /// types, modes, owners, link targets and the hashes of contents, in a fixed order.
    pub(crate) fn hash(&self, hasher: &mut blake3::Hasher, rel: &str, name: &str) {
        let Some(entry) = self.entries.get(rel) else {
            return;
        };
        let header = format!(
            "{name}\0{:o}\0{}\0{}\0{}\0",
            entry.st_mode(),
            entry.uid,
            entry.gid,
            entry.size
        );
        hasher.update(&(header.len() as u64).to_le_bytes());
        hasher.update(header.as_bytes());
        match &entry.kind {
            Kind::File { hash, .. } => {
                hasher.update(hash);
            }
            Kind::Symlink(target) => {
                hasher.update(target.as_os_str().as_encoded_bytes());
            }
            Kind::Dir => {
                for child in self.children(rel) {
                    let child_rel = match rel {
                        "" => child.clone(),
                        _ => format!("{rel}/{child}"),
                    };
                    self.hash(hasher, &child_rel, &format!("{name}/{child}"));
                }
            }
            Kind::Other => {}
        }
    }

    /// Extracts the spool into `root` the first time a step needs the files.
    pub(crate) fn extract_into(&self, root: &Path) -> Result<(), ContextError> {
        let mut extracted = self.extracted.lock().unwrap_or_else(|e| e.into_inner());
        if *extracted {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let spool = std::fs::File::open(&self.spool).map_err(io_err("opening", &self.spool))?;
        let reader = std::io::BufReader::with_capacity(1 << 20, spool);
        fsdriver::extract::Extractor::detect()
            .extract(reader, root, &fsdriver::extract::ExtractLimits::default())
            .map_err(|e| match e.kind() {
                fsdriver::ErrorKind::Internal => ContextError::Io {
                    op: "extracting the build context into",
                    path: root.to_path_buf(),
                    source: std::io::Error::other(e.to_string()),
                },
                _ => ContextError::Archive(e.to_string()),
            })?;
        *extracted = true;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            entries = self.entries.len(),
            "build context extracted"
        );
        Ok(())
    }
}
