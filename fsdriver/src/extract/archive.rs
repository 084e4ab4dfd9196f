//! Reading a layer tar into what each entry asks of the file system, independently of how it
//! is then done: both extractors apply the same [`Planned`] entries, so they cannot disagree
//! on what a tar means (paths, whiteouts, metadata, limits), only on how fast they do it.

use std::io::{self, Read};

use rustix::fs::{FileType, Mode, Timespec, Timestamps};
use sha2::{Digest as _, Sha256};
use tar::EntryType;

use super::{ExtractError, ExtractLimits};
use crate::digest::Digest;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_WHITEOUT: &[u8] = b".wh..wh..opq";
/// overlayfs acts on these xattrs (redirects, metacopy, opacity); a layer tar must not be
/// able to set them, only our whiteout conversion does.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";
/// The xattr namespaces of xattr(7). A name outside them is refused as the archive's fault
/// before anything is written (setting it would fail with EOPNOTSUPP half-way through, a
/// failure that reads as the host's).
const XATTR_NAMESPACES: [&[u8]; 4] = [b"user.", b"trusted.", b"security.", b"system."];

/// An entry's path after confinement: the normal components that remain once empty parts
/// and `.` are dropped and `..` is applied (never climbing above the root).
pub(crate) type Components = Vec<Vec<u8>>;

pub(crate) fn clean(raw: &[u8]) -> Components {
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

pub(crate) fn join(components: &[Vec<u8>]) -> Vec<u8> {
    if components.is_empty() {
        return b".".to_vec();
    }
    components.join(&b'/')
}

/// Ownership, permissions, times and xattrs of one entry.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub uid: u32,
    pub gid: u32,
    pub mode: Mode,
    pub times: Timestamps,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One tar entry, interpreted.
#[derive(Debug)]
pub(crate) struct Planned {
    /// The path as the archive spelled it, for error messages.
    pub raw_path: Vec<u8>,
    pub action: Action,
}

#[derive(Debug)]
pub(crate) enum Action {
    /// `./` (or anything that cleans to the root): metadata for the layer root itself.
    Root(Metadata),
    /// Only makes sure `parent` exists: a hard link to itself, or aufs bookkeeping.
    Parent { parent: Components },
    /// A new node named `leaf` in `parent`, replacing whatever has that name.
    Create {
        parent: Components,
        leaf: Vec<u8>,
        node: Node,
        meta: Metadata,
    },
    /// `.wh.NAME`: `hidden` (NAME) becomes an overlay whiteout.
    Whiteout {
        parent: Components,
        hidden: Vec<u8>,
        meta: Metadata,
    },
    /// `.wh..wh..opq`: `dir` becomes opaque.
    Opaque { dir: Components },
}

impl Action {
    /// The directory the entry is applied in: the parent of what it creates, or the
    /// directory it marks.
    pub fn dir(&self) -> &[Vec<u8>] {
        match self {
            Action::Root(_) => &[],
            Action::Parent { parent }
            | Action::Whiteout { parent, .. }
            | Action::Create { parent, .. } => parent,
            Action::Opaque { dir } => dir,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Node {
    /// Content follows, through [`Content`].
    Regular,
    Directory,
    Symlink {
        target: Vec<u8>,
    },
    /// A second name for the existing entry at `target` (inside the root, not empty).
    HardLink {
        target: Components,
    },
    Special {
        file_type: FileType,
        dev: rustix::fs::Dev,
    },
}

/// The content of the regular file being extracted, with the size limit applied as it is
/// read (a sparse entry can expand far beyond its size in the stream).
pub(crate) struct Content<'a> {
    entry: &'a mut dyn Read,
    /// The entry's size in the stream: a hint, since sparse entries expand.
    pub size_hint: u64,
    written: &'a mut u64,
    limit: u64,
}

impl Content<'_> {
    /// Reads the next bytes of content into `buf`; 0 at the end.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, ExtractError> {
        loop {
            match self.entry.read(buf) {
                Ok(n) => {
                    *self.written += n as u64;
                    if *self.written > self.limit {
                        return Err(ExtractError::TooLarge { limit: self.limit });
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ExtractError::Archive(e)),
            }
        }
    }
}

/// What a whole archive amounted to.
pub(crate) struct Summary {
    pub diff_id: Digest,
    pub size: u64,
    pub entries: u64,
}

/// Reads the uncompressed tar `reader` to its end, handing each entry to `apply` in order
/// (with its content, which `apply` must read for regular files).
pub(crate) fn read_archive(
    reader: impl Read,
    limits: &ExtractLimits,
    mut apply: impl FnMut(Planned, &mut Content<'_>) -> Result<(), ExtractError>,
) -> Result<Summary, ExtractError> {
    let mut archive = tar::Archive::new(HashingReader {
        inner: reader,
        hasher: Sha256::new(),
        read: 0,
        limit: limits.max_bytes,
        exceeded: false,
    });
    let mut written = 0;
    let mut entries = 0;
    let unpacked = (|| {
        for entry in archive.entries().map_err(ExtractError::Archive)? {
            let mut entry = entry.map_err(ExtractError::Archive)?;
            entries += 1;
            if entries > limits.max_entries {
                return Err(ExtractError::TooManyEntries {
                    limit: limits.max_entries,
                });
            }
            let Some(planned) = plan(&mut entry)? else {
                continue;
            };
            let size_hint = entry.size();
            let mut content = Content {
                entry: &mut entry,
                size_hint,
                written: &mut written,
                limit: limits.max_bytes,
            };
            apply(planned, &mut content)?;
        }
        Ok(())
    })();
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
        Ok(()) => Ok(Summary {
            diff_id: Digest::from_sha256_bytes(&stream.hasher.finalize().into()),
            size: written,
            entries,
        }),
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

/// What `entry` asks for; None for entries with no effect (PAX global headers).
fn plan<R: Read>(entry: &mut tar::Entry<R>) -> Result<Option<Planned>, ExtractError> {
    let raw_path = entry.path_bytes().into_owned();
    let bad = |reason: String| ExtractError::BadEntry {
        path: String::from_utf8_lossy(&raw_path).into_owned(),
        reason,
    };
    let entry_type = entry.header().entry_type();
    if entry_type == EntryType::XGlobalHeader {
        return Ok(None);
    }
    let meta = read_metadata(entry).map_err(|e| bad(e.to_string()))?;
    let mut parent = clean(&raw_path);
    let Some(leaf) = parent.pop() else {
        if entry_type != EntryType::Directory {
            return Err(bad("the layer root can only be a directory".into()));
        }
        return Ok(Some(Planned {
            raw_path,
            action: Action::Root(meta),
        }));
    };

    let action = if leaf.starts_with(WHITEOUT_PREFIX) {
        if leaf == OPAQUE_WHITEOUT {
            Action::Opaque { dir: parent }
        } else if leaf.starts_with(WHITEOUT_META_PREFIX) {
            // Other `.wh..wh.` names are aufs bookkeeping with no meaning for overlayfs.
            Action::Parent { parent }
        } else {
            let hidden = leaf[WHITEOUT_PREFIX.len()..].to_vec();
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(bad("whiteout names no file".into()));
            }
            Action::Whiteout {
                parent,
                hidden,
                meta,
            }
        }
    } else {
        let node = match entry_type {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Node::Regular,
            EntryType::Directory => Node::Directory,
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad("symlink without a target".into()))?;
                Node::Symlink {
                    target: target.into_owned(),
                }
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad("hard link without a target".into()))?;
                let target = clean(&target);
                if target.split_last() == Some((&leaf, &parent[..])) {
                    // A link to itself: nothing to do, and clearing the leaf would delete
                    // the target.
                    return Ok(Some(Planned {
                        raw_path,
                        action: Action::Parent { parent },
                    }));
                }
                if target.is_empty() {
                    return Err(bad("hard link to the layer root".into()));
                }
                Node::HardLink { target }
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let file_type = match entry_type {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                Node::Special {
                    file_type,
                    dev: rustix::fs::makedev(major, minor),
                }
            }
            other => return Err(bad(format!("unsupported tar entry type {other:?}"))),
        };
        Action::Create {
            parent,
            leaf,
            node,
            meta,
        }
    };
    Ok(Some(Planned { raw_path, action }))
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
                if !XATTR_NAMESPACES.iter().any(|ns| name.starts_with(ns)) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "xattr {:?} is in no namespace Linux has",
                            String::from_utf8_lossy(name)
                        ),
                    ));
                }
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
