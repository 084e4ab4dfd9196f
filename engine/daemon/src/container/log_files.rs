//! Log rotation, as Docker's json-file and local drivers do it: the log is one file; once
//! the next entry would take it past `max-size`, it becomes `<log>.1` (the older ones shift
//! to `.2`… and the one past `max-file - 1` goes) and a new file starts. With `compress`,
//! a rotated file is gzipped to `<log>.N.gz` in the background. Readers read the rotated
//! files oldest first, then the current one ([`super::log_chain`]).
//!
//! A file keeps its identity (device and inode) across renames; a compressed one carries
//! the identity of the file it was made from in its gzip header, so that a follower can
//! tell which of the files it sees it already holds.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bollard_stubs::models::HostConfig;
use flate2::read::GzDecoder;
use flate2::{Compression, GzBuilder};

use super::error::Error;
use super::record::ContainerDir;

/// When and how far a container's log rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The size past which the current file is rotated.
    pub max_size: u64,
    /// How many files are kept, the current one included.
    pub max_file: u32,
    /// Rotated files are gzipped.
    pub compress: bool,
}

/// The local driver's defaults (Docker's: 20 MiB, 5 files, compressed).
const LOCAL_MAX_SIZE: u64 = 20 * 1024 * 1024;
const LOCAL_MAX_FILE: u32 = 5;

/// A log file's identity: its device, inode and birth time (zero: not known). The birth
/// time tells a file from a later one given the inode a removed file had (filesystems
/// without one give zero; then the newest of the files that match is taken, see
/// [`super::log_chain`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub born: u128,
}

impl FileId {
    pub fn of(file: &File) -> io::Result<FileId> {
        let meta = file.metadata()?;
        let born = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            born,
        })
    }

    fn comment(self) -> String {
        format!("berth-log {}:{}:{}", self.dev, self.ino, self.born)
    }

    fn parse_comment(text: &[u8]) -> Option<FileId> {
        let text = std::str::from_utf8(text).ok()?.strip_prefix("berth-log ")?;
        let mut parts = text.split(':');
        let id = FileId {
            dev: parts.next()?.parse().ok()?,
            ino: parts.next()?.parse().ok()?,
            born: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(id)
    }
}

/// Where a container's log lives for its driver: `None` with `none`, which keeps nothing.
pub fn log_path(dir: &ContainerDir, id: &str, host: &HostConfig) -> Option<PathBuf> {
    match super::defaults::log_driver(host) {
        "none" => None,
        // Where Docker keeps it, though berth's format is json-file's (see the README).
        "local" => Some(dir.root.join("local-logs").join("container.log")),
        _ => Some(dir.log(id)),
    }
}

/// The rotation a log's options ask for (`None`: the log grows without bound), in Docker's
/// words when they are wrong.
pub fn rotation(host: &HostConfig) -> Result<Option<Rotation>, Error> {
    let options = host.log_config.as_ref().and_then(|l| l.config.as_ref());
    let get = |key: &str| options.and_then(|o| o.get(key)).map(String::as_str);
    match super::defaults::log_driver(host) {
        "json-file" => json_file_rotation(get("max-size"), get("max-file"), get("compress")),
        "local" => local_rotation(get("max-size"), get("max-file"), get("compress")),
        _ => Ok(None),
    }
}

/// json-file's checks, in Docker's order and words.
fn json_file_rotation(
    size: Option<&str>,
    files: Option<&str>,
    compress: Option<&str>,
) -> Result<Option<Rotation>, Error> {
    let max_size = match size {
        Some(text) => {
            let size = human_size(text)?;
            if size == 0 {
                return Err(Error::invalid("max-size must be a positive number"));
            }
            Some(size)
        }
        None => None,
    };
    let max_file = match files {
        Some(text) => {
            let n = atoi(text)?;
            if n < 1 {
                return Err(Error::invalid("max-file cannot be less than 1"));
            }
            u32::try_from(n).map_err(|_| Error::invalid(format!("max-file {n} is too large")))?
        }
        None => 1,
    };
    let compress = compress.map(parse_bool).transpose()?.unwrap_or(false);
    if compress && (max_file == 1 || max_size.is_none()) {
        return Err(Error::invalid(
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ));
    }
    Ok(max_size.map(|max_size| Rotation {
        max_size,
        max_file,
        compress,
    }))
}

/// local's defaults and checks, in Docker's words.
fn local_rotation(
    size: Option<&str>,
    files: Option<&str>,
    compress: Option<&str>,
) -> Result<Option<Rotation>, Error> {
    let max_size = match size {
        Some(text) => human_size(text)
            .map_err(|err| Error::invalid(format!("invalid value for max-size: {text}: {err}")))?,
        None => LOCAL_MAX_SIZE,
    };
    let max_file = match files {
        Some(text) => atoi(text)
            .map_err(|err| Error::invalid(format!("invalid value for max-file: {text}: {err}")))?,
        None => i64::from(LOCAL_MAX_FILE),
    };
    let compress = match compress {
        Some(text) => parse_bool(text)
            .map_err(|err| Error::invalid(format!("error reading compress log option: {err}")))?,
        None => true,
    };
    if max_file < 0 {
        return Err(Error::invalid("max-file cannot be less than 0"));
    }
    if compress && max_size == 0 {
        return Err(Error::invalid(
            "compression cannot be enabled when max file size is 0",
        ));
    }
    if compress && max_file <= 1 {
        return Err(Error::invalid(
            "compression cannot be enabled when max file count is 1",
        ));
    }
    let max_file = u32::try_from(max_file.max(1))
        .map_err(|_| Error::invalid(format!("max-file {max_file} is too large")))?;
    Ok((max_size > 0).then_some(Rotation {
        max_size,
        max_file,
        compress,
    }))
}

/// Go's `strconv.Atoi`, with its error.
fn atoi(text: &str) -> Result<i64, Error> {
    text.parse()
        .map_err(|_| Error::invalid(format!("strconv.Atoi: parsing {text:?}: invalid syntax")))
}

/// Go's `strconv.ParseBool`, with its error.
fn parse_bool(text: &str) -> Result<bool, Error> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(Error::invalid(format!(
            "strconv.ParseBool: parsing {text:?}: invalid syntax"
        ))),
    }
}

/// Docker's `units.FromHumanSize`: decimal units (`10k` = 10,000 bytes, `1m`, `1.5g`…).
fn human_size(text: &str) -> Result<u64, Error> {
    let invalid = || Error::invalid(format!("invalid size: '{text}'"));
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let multiplier = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "p" => 1e15,
        _ => return Err(invalid()),
    };
    Ok((number * multiplier) as u64)
}

/// The `n`th rotated file of `path`, plain (`path.n`) or compressed (`path.n.gz`).
pub fn rotated(path: &Path, n: u32, compressed: bool) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    if compressed {
        name.push(".gz");
    }
    PathBuf::from(name)
}

/// Rotation and the end of a compression rename the same names: one at a time.
static RENAMES: Mutex<()> = Mutex::new(());

fn io_error(what: &str, path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{what} {}: {err}", path.display()))
}

/// Moves `path` to `path.1` (and each `path.n`, plain or compressed, to `path.n+1`,
/// dropping what passes `max_file - 1`), then creates an empty `path`. Readers holding the
/// old files keep them.
pub fn rotate(path: &Path, max_file: u32) -> io::Result<File> {
    let ignore_missing = |what: &str, at: &Path, result: io::Result<()>| match result {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io_error(what, at, err)),
        _ => Ok(()),
    };
    {
        let _renaming = RENAMES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if max_file < 2 {
            ignore_missing("removing", path, std::fs::remove_file(path))?;
        } else {
            for compressed in [false, true] {
                let last = rotated(path, max_file - 1, compressed);
                ignore_missing("removing", &last, std::fs::remove_file(&last))?;
            }
            for n in (1..max_file - 1).rev() {
                for compressed in [false, true] {
                    let from = rotated(path, n, compressed);
                    let to = rotated(path, n + 1, compressed);
                    ignore_missing("renaming", &from, std::fs::rename(&from, &to))?;
                }
            }
            let first = rotated(path, 1, false);
            ignore_missing("renaming", path, std::fs::rename(path, first))?;
        }
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|err| io_error("creating", path, err))
}

/// Gzips `path.1` into `path.1.gz` (written aside, synced, renamed) and removes `path.1`,
/// unless a rotation moved it on meanwhile (then the copy is dropped: the file is read
/// plain wherever it went).
pub fn compress_first(path: &Path) -> io::Result<()> {
    let plain = rotated(path, 1, false);
    let source = File::open(&plain).map_err(|err| io_error("opening", &plain, err))?;
    let id = FileId::of(&source).map_err(|err| io_error("reading", &plain, err))?;
    let target = rotated(path, 1, true);
    let mut temporary = target.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let write = || -> io::Result<()> {
        let out = File::create(&temporary)?;
        let mut encoder = GzBuilder::new()
            .comment(id.comment())
            .write(out, Compression::fast());
        io::copy(&mut BufReader::new(&source), &mut encoder)?;
        let out = encoder.finish()?;
        out.sync_all()
    };
    if let Err(err) = write() {
        let _ = std::fs::remove_file(&temporary);
        return Err(io_error("compressing into", &temporary, err));
    }
    let _renaming = RENAMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let still_first = File::open(&plain)
        .and_then(|file| FileId::of(&file))
        .is_ok_and(|now| now == id);
    if !still_first {
        return std::fs::remove_file(&temporary)
            .map_err(|err| io_error("removing", &temporary, err));
    }
    std::fs::rename(&temporary, &target).map_err(|err| io_error("renaming", &temporary, err))?;
    std::fs::remove_file(&plain).map_err(|err| io_error("removing", &plain, err))
}

/// One file of a log, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: PathBuf,
    pub compressed: bool,
}

impl LogFile {
    /// Its identity: its own, or for a compressed one that of the file it was made from.
    /// `None` when it is gone.
    pub fn id(&self) -> io::Result<Option<FileId>> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(io_error("opening", &self.path, err)),
        };
        let own = FileId::of(&file).map_err(|err| io_error("reading", &self.path, err))?;
        if !self.compressed {
            return Ok(Some(own));
        }
        let decoder = GzDecoder::new(BufReader::new(file));
        let origin = decoder
            .header()
            .and_then(|header| header.comment())
            .and_then(FileId::parse_comment);
        Ok(Some(origin.unwrap_or(own)))
    }

    /// The file to read: itself, or its text unpacked into an unnamed temporary file beside
    /// it. `None` when it is gone.
    pub fn open(&self) -> io::Result<Option<File>> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(io_error("opening", &self.path, err)),
        };
        if !self.compressed {
            return Ok(Some(file));
        }
        let unpack = || -> io::Result<File> {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            let mut out = tempfile::tempfile_in(dir)?;
            io::copy(&mut GzDecoder::new(BufReader::new(file)), &mut out)?;
            out.flush()?;
            out.seek(SeekFrom::Start(0))?;
            Ok(out)
        };
        unpack()
            .map(Some)
            .map_err(|err| io_error("decompressing", &self.path, err))
    }
}

/// The files of the log at `path`, oldest first: the rotated ones (plain when both forms
/// are there, as during a compression), then `path` itself.
pub fn in_order(path: &Path) -> Vec<LogFile> {
    let mut older = Vec::new();
    let mut n = 1;
    loop {
        let plain = rotated(path, n, false);
        let compressed = rotated(path, n, true);
        if plain.exists() {
            older.push(LogFile {
                path: plain,
                compressed: false,
            });
        } else if compressed.exists() {
            older.push(LogFile {
                path: compressed,
                compressed: true,
            });
        } else {
            break;
        }
        n += 1;
    }
    older.reverse();
    older.push(LogFile {
        path: path.to_path_buf(),
        compressed: false,
    });
    older
}

/// The files of the log at `path` that exist, oldest first, with their identities, as of
/// one moment: taken while no rotation or compression renames them. Without that, a file
/// being compressed could be missed (listed as `path.n`, gone by the time its identity is
/// read), and a follower holding it would take the older files as new and read them twice.
pub fn identified(path: &Path) -> io::Result<Vec<(FileId, LogFile)>> {
    let _renaming = RENAMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut listed = Vec::new();
    for file in in_order(path) {
        if let Some(id) = file.id()? {
            listed.push((id, file));
        }
    }
    Ok(listed)
}

#[cfg(test)]
#[path = "log_files_tests.rs"]
mod tests;
