//! A container's overlay upper directory written as a layer tar in Docker's form (`commit`).
//!
//! The upper directory holds what the container changed, in overlayfs' own notation, which a
//! layer tar cannot carry as such:
//! - a deleted path is a character device 0/0, which becomes an empty `.wh.NAME` file;
//! - a directory whose lower contents are hidden has `trusted.overlay.opaque=y`, which
//!   becomes a `.wh..wh..opq` file inside it.
//!
//! Other `trusted.overlay.*` xattrs are overlayfs bookkeeping and are left out; every other
//! xattr travels as a PAX `SCHILY.xattr.` record. Files that are hard links of each other
//! within the upper directory stay hard links in the tar.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
pub(crate) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Upper entries whose content stays in a lower layer.
const LOWER_REFERENCES: &[(&[u8], &str)] = &[
    (b"trusted.overlay.redirect", "redirect"),
    (b"trusted.overlay.metacopy", "metadata-only copy"),
];
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Extended attributes, name and value.
type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the layer tar: {0}")]
    Write(#[source] io::Error),
    /// overlayfs kept only a reference to lower content (redirect_dir or metacopy is
    /// enabled), which a layer tar cannot express.
    #[error(
        "{path} is an overlayfs {what}, which a layer cannot hold (mount overlays with \
         redirect_dir=off and metacopy=off)"
    )]
    Unrepresentable { path: PathBuf, what: &'static str },
}

impl DiffError {
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::Internal
    }
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> DiffError + 'a {
    move |source| DiffError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the changes recorded in the overlay upper directory `upper` to `out` as a layer
/// tar, entries sorted by path so the same changes always give the same diff_id. The
/// paths in `skip` (relative to `upper`) are left out: mount points the engine made, which
/// hold nothing of the container's.
pub fn write_upper_as_layer(
    upper: &Path,
    skip: &[PathBuf],
    out: impl Write,
) -> Result<(), DiffError> {
    let mut writer = DiffWriter {
        archive: tar::Builder::new(out),
        links: HashMap::new(),
        skip,
    };
    writer.directory_contents(upper, Path::new(""))?;
    writer
        .archive
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(DiffError::Write)
}

struct DiffWriter<'a, W: Write> {
    archive: tar::Builder<W>,
    skip: &'a [PathBuf],
    /// The first tar path of each multiply-linked inode already written.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> DiffWriter<'_, W> {
    fn directory_contents(&mut self, dir: &Path, relative: &Path) -> Result<(), DiffError> {
        for (name, entry_relative) in kept_entries(dir, relative, self.skip)? {
            self.entry(&dir.join(&name), &entry_relative, &name)?;
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, relative: &Path, name: &OsStr) -> Result<(), DiffError> {
        let meta = fs::symlink_metadata(path).map_err(io_err("stat", path))?;
        let file_type = meta.file_type();
        if file_type.is_char_device() && meta.rdev() == 0 {
            let mut whiteout = std::ffi::OsString::from(WHITEOUT_PREFIX);
            whiteout.push(name);
            let whiteout = relative.with_file_name(whiteout);
            return self.empty_file(&whiteout, &meta);
        }
        let xattrs = read_xattrs(path)?;
        let mut header = header_for(&meta);
        if !xattrs.is_empty() {
            self.pax_xattrs(&xattrs)?;
        }
        if file_type.is_dir() {
            header.set_entry_type(EntryType::Directory);
            self.append(&mut header, &dir_path(relative), io::empty())?;
            if lgetxattr(path, OPAQUE_XATTR)?.as_deref() == Some(b"y") {
                self.empty_file(&relative.join(OPAQUE_WHITEOUT), &meta)?;
            }
            return self.directory_contents(path, relative);
        }
        if file_type.is_symlink() {
            let target = fs::read_link(path).map_err(io_err("reading the link", path))?;
            header.set_entry_type(EntryType::Symlink);
            return self
                .archive
                .append_link(&mut header, relative, target)
                .map_err(DiffError::Write);
        }
        if meta.nlink() > 1 && !file_type.is_dir() {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                let first = first.clone();
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                return self
                    .archive
                    .append_link(&mut header, relative, first)
                    .map_err(DiffError::Write);
            }
            self.links.insert(key, relative.to_path_buf());
        }
        if file_type.is_file() {
            let file = File::open(path).map_err(io_err("opening", path))?;
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            return self.append(&mut header, relative, file);
        }
        let kind = if file_type.is_char_device() {
            EntryType::Char
        } else if file_type.is_block_device() {
            EntryType::Block
        } else if file_type.is_fifo() {
            EntryType::Fifo
        } else {
            // A socket cannot be stored in a tar (Docker skips them too).
            return Ok(());
        };
        header.set_entry_type(kind);
        let rdev = meta.rdev();
        header
            .set_device_major(rustix::fs::major(rdev))
            .and_then(|()| header.set_device_minor(rustix::fs::minor(rdev)))
            .map_err(DiffError::Write)?;
        self.append(&mut header, relative, io::empty())
    }

    fn empty_file(&mut self, relative: &Path, like: &fs::Metadata) -> Result<(), DiffError> {
        let mut header = header_for(like);
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o600);
        header.set_size(0);
        self.append(&mut header, relative, io::empty())
    }

    fn append(
        &mut self,
        header: &mut Header,
        relative: &Path,
        data: impl io::Read,
    ) -> Result<(), DiffError> {
        self.archive
            .append_data(header, relative, data)
            .map_err(DiffError::Write)
    }

    /// A PAX extended header carrying the next entry's xattrs.
    fn pax_xattrs(&mut self, xattrs: &Xattrs) -> Result<(), DiffError> {
        let mut records = Vec::new();
        for (name, value) in xattrs {
            let mut key = PAX_XATTR_PREFIX.as_bytes().to_vec();
            key.extend_from_slice(name);
            records.extend(pax_record(&key, value));
        }
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::XHeader);
        header.set_size(records.len() as u64);
        header.set_mode(0o644);
        header.set_path("PaxHeader").map_err(DiffError::Write)?;
        header.set_cksum();
        self.archive
            .append(&header, records.as_slice())
            .map_err(DiffError::Write)
    }
}

/// Ownership, mode and modification time of `meta`, in a GNU header (long names allowed).
fn header_for(meta: &fs::Metadata) -> Header {
    let mut header = Header::new_gnu();
    header.set_mode(meta.mode() & 0o7777);
    header.set_uid(meta.uid().into());
    header.set_gid(meta.gid().into());
    header.set_mtime(meta.mtime().max(0) as u64);
    header.set_size(0);
    header
}

fn dir_path(relative: &Path) -> PathBuf {
    let mut bytes = relative.as_os_str().as_bytes().to_vec();
    bytes.push(b'/');
    PathBuf::from(OsStr::from_bytes(&bytes))
}

/// One PAX record: `<length> <key>=<value>\n`, the length counting itself.
fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut length = rest + 1;
    while length != rest + length.to_string().len() {
        length = rest + length.to_string().len();
    }
    let mut record = length.to_string().into_bytes();
    record.push(b' ');
    record.extend_from_slice(key);
    record.push(b'=');
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// The xattrs of `path` that belong in a layer: all but overlayfs' own.
fn read_xattrs(path: &Path) -> Result<Xattrs, DiffError> {
    let mut names = vec![0u8; 4096];
    let len = loop {
        match rustix::fs::llistxattr(path, &mut names[..]) {
            Ok(len) => break len,
            Err(rustix::io::Errno::RANGE) => names.resize(names.len() * 4, 0),
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(io_err("listing the xattrs of", path)(e.into())),
        }
    };
    let mut xattrs = Vec::new();
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if let Some((_, what)) = LOWER_REFERENCES.iter().find(|(n, _)| *n == name) {
            return Err(DiffError::Unrepresentable {
                path: path.to_path_buf(),
                what,
            });
        }
        if name.starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        let name_str = OsStr::from_bytes(name);
        if let Some(value) = lgetxattr(path, name_str)? {
            xattrs.push((name.to_vec(), value));
        }
    }
    Ok(xattrs)
}

/// The names in `dir` (at `relative` inside the upper directory) in sorted order, each with
/// its relative path, leaving out the paths in `skip`.
pub(crate) fn kept_entries(
    dir: &Path,
    relative: &Path,
    skip: &[PathBuf],
) -> Result<Vec<(std::ffi::OsString, PathBuf)>, DiffError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(io_err("listing", dir))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io_err("listing", dir))?;
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| {
            let entry_relative = relative.join(&name);
            (name, entry_relative)
        })
        .filter(|(_, entry_relative)| !skip.contains(entry_relative))
        .collect())
}

/// The value of one xattr, or `None` when the file does not have it.
pub(crate) fn lgetxattr(
    path: &Path,
    name: impl AsRef<OsStr>,
) -> Result<Option<Vec<u8>>, DiffError> {
    let mut value = vec![0u8; 256];
    loop {
        match rustix::fs::lgetxattr(path, name.as_ref(), &mut value[..]) {
            Ok(len) => {
                value.truncate(len);
                return Ok(Some(value));
            }
            Err(rustix::io::Errno::RANGE) => value.resize(value.len() * 4, 0),
            Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(io_err("reading an xattr of", path)(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the calling test is skipped: it needs root (it sets owners, makes device nodes,
    /// mounts or writes cgroups) and runs as a normal user. Says so on stderr, past the test
    /// harness's capture, so that `cargo test` shows it.
    fn skipped_without_root() -> bool {
        if rustix::process::geteuid().is_root() {
            return false;
        }
        use std::io::Write as _;
        let thread = std::thread::current();
        let name = match thread.name() {
            Some("main") | None => std::env::args().next().unwrap_or_default(),
            Some(name) => name.to_string(),
        };
        let _ = writeln!(std::io::stderr(), "skipped {name}: it needs root");
        true
    }

    fn entries(tar: &[u8]) -> Vec<(String, EntryType, u64)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                (path, e.header().entry_type(), e.header().size().unwrap())
            })
            .collect()
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let record = pax_record(b"SCHILY.xattr.user.a", b"b");
        let text = String::from_utf8(record.clone()).unwrap();
        let (length, _) = text.split_once(' ').unwrap();
        assert_eq!(length.parse::<usize>().unwrap(), record.len());
        // 99 bytes without the length: two digits would make 101, which needs three.
        let long = pax_record(b"k", &[b'v'; 95]);
        let text = String::from_utf8(long.clone()).unwrap();
        let (length, _) = text.split_once(' ').unwrap();
        assert_eq!(length.parse::<usize>().unwrap(), long.len());
    }

    #[test]
    fn whiteouts_and_opaque_directories_take_dockers_form() {
        if skipped_without_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path();
        fs::create_dir(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/new.conf"), b"hello").unwrap();
        fs::hard_link(upper.join("etc/new.conf"), upper.join("etc/same.conf")).unwrap();
        std::os::unix::fs::symlink("new.conf", upper.join("etc/link")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.join("etc/gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        fs::create_dir(upper.join("var")).unwrap();
        rustix::fs::lsetxattr(
            upper.join("var"),
            OPAQUE_XATTR,
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();

        fs::write(upper.join("etc/hosts"), b"").unwrap();

        let mut tar = Vec::new();
        write_upper_as_layer(upper, &[PathBuf::from("etc/hosts")], &mut tar).unwrap();
        let found = entries(&tar);
        let expected = vec![
            ("etc/".to_string(), EntryType::Directory, 0),
            ("etc/.wh.gone".to_string(), EntryType::Regular, 0),
            ("etc/link".to_string(), EntryType::Symlink, 0),
            ("etc/new.conf".to_string(), EntryType::Regular, 5),
            ("etc/same.conf".to_string(), EntryType::Link, 0),
            ("var/".to_string(), EntryType::Directory, 0),
            ("var/.wh..wh..opq".to_string(), EntryType::Regular, 0),
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn content_left_in_a_lower_layer_is_refused() {
        if skipped_without_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("moved")).unwrap();
        rustix::fs::lsetxattr(
            dir.path().join("moved"),
            "trusted.overlay.redirect",
            b"/old",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let err = write_upper_as_layer(dir.path(), &[], io::sink()).unwrap_err();
        assert!(err.to_string().contains("redirect"), "{err}");
    }

    #[test]
    fn xattrs_travel_as_pax_records_but_overlay_ones_do_not() {
        if skipped_without_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path();
        fs::write(upper.join("f"), b"x").unwrap();
        rustix::fs::lsetxattr(
            upper.join("f"),
            "user.colour",
            b"blue",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        rustix::fs::lsetxattr(
            upper.join("f"),
            "trusted.overlay.origin",
            b"z",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let mut tar = Vec::new();
        write_upper_as_layer(upper, &[], &mut tar).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap(), Path::new("f"));
        let pax: Vec<(String, Vec<u8>)> = entry
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.key().unwrap().to_string(), e.value_bytes().to_vec())
            })
            .collect();
        assert_eq!(
            pax,
            vec![("SCHILY.xattr.user.colour".to_string(), b"blue".to_vec())]
        );
    }
}
