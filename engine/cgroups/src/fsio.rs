//! The only place this crate touches the filesystem. Each helper wraps the `io::Error` with
//! the path and the operation.
//!
//! Writes open the file without `O_CREAT`: cgroupfs creates its files itself, so a missing
//! file means a missing controller (or feature), never something to create.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crate::error::{CgroupError, ParseError, Result};
use crate::limits::Setting;
use crate::stats::{StatsFile, StatsSource};

pub(crate) fn io_error(op: &'static str, path: &Path, source: io::Error) -> CgroupError {
    CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn parse_error(path: &Path, source: ParseError) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn is_not_found(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound
}

pub(crate) fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| io_error("read", path, e))
}

/// Like [`read`], but a missing file is `None` rather than an error.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(io_error("read", path, e)),
    }
}

/// Writes `value` in a single `write(2)`, as cgroupfs expects one value per write.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    write_raw(path, value).map_err(|e| io_error("write", path, e))
}

/// [`write`] without the error wrapping, for callers that react to particular errnos.
pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).truncate(true).open(path)?;
    file.write_all(value.as_bytes())
}

/// Opens `path` for writing and keeps it open, for a file written again and again
/// (`cgroup.procs`, by processes that join the cgroup themselves).
pub(crate) fn open_for_writing(path: &Path) -> Result<std::os::fd::OwnedFd> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map(std::os::fd::OwnedFd::from)
        .map_err(|e| io_error("open", path, e))
}

/// Creates one directory; one that exists already is fine.
pub(crate) fn mkdir(path: &Path) -> Result<()> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_error("mkdir", path, e)),
    }
}

/// The directories strictly between `root` and `leaf`, then `leaf` itself, top-down.
/// `leaf` must be `root` joined with a relative path.
pub(crate) fn chain_below(root: &Path, leaf: &Path) -> Vec<PathBuf> {
    let mut chain: Vec<PathBuf> = leaf
        .ancestors()
        .take_while(|dir| *dir != root)
        .map(Path::to_path_buf)
        .collect();
    chain.reverse();
    chain
}

/// How often and how long `rmdir` is retried on EBUSY: a cgroup stays busy for a moment
/// after its last process has been reaped.
const RMDIR_ATTEMPTS: u32 = 8;
const RMDIR_FIRST_BACKOFF: Duration = Duration::from_millis(5);
const RMDIR_MAX_BACKOFF: Duration = Duration::from_millis(100);

/// Removes a cgroup directory and every cgroup below it, deepest first. A directory that is
/// already gone is not an error. Only directories are removed: cgroupfs interface files
/// vanish with their directory and cannot be unlinked.
pub(crate) fn remove_cgroup_tree(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(io_error("read directory", dir, e)),
    };
    for child in child_cgroups(dir, entries)? {
        remove_cgroup_tree(&child)?;
    }
    rmdir_retrying(dir)
}

/// The cgroups directly below `dir`: the subdirectories among `entries`, its listing.
fn child_cgroups(dir: &Path, entries: fs::ReadDir) -> Result<Vec<PathBuf>> {
    let mut children = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("read directory", dir, e))?;
        let file_type = entry
            .file_type()
            .map_err(|e| io_error("stat", &entry.path(), e))?;
        if file_type.is_dir() {
            children.push(entry.path());
        }
    }
    Ok(children)
}

fn rmdir_retrying(dir: &Path) -> Result<()> {
    let mut backoff = RMDIR_FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < RMDIR_ATTEMPTS => {
                thread::sleep(backoff);
                backoff = (backoff * 2).min(RMDIR_MAX_BACKOFF);
                attempt += 1;
            }
            Err(e) => return Err(io_error("rmdir", dir, e)),
        }
    }
}

/// The PIDs in `cgroup.procs` of `dir` and of every cgroup below it.
pub(crate) fn procs_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut pids = Vec::new();
    collect_procs(dir, &mut pids)?;
    Ok(pids)
}

fn collect_procs(dir: &Path, pids: &mut Vec<i32>) -> Result<()> {
    let procs_file = dir.join("cgroup.procs");
    let text = read(&procs_file)?;
    pids.extend(crate::stats::parse_procs(&text).map_err(|e| parse_error(&procs_file, e))?);
    let entries = fs::read_dir(dir).map_err(|e| io_error("read directory", dir, e))?;
    for child in child_cgroups(dir, entries)? {
        collect_procs(&child, pids)?;
    }
    Ok(())
}

/// Polls `reached` with a growing sleep until it returns true or `timeout` has passed.
/// Returns whether the state was reached.
pub(crate) fn wait_until(
    timeout: Duration,
    mut reached: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    let mut backoff = Duration::from_millis(1);
    loop {
        if reached()? {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(50));
    }
}

/// Carries out a plan from [`crate::limits`]. `dir_of` finds the directory holding a
/// controller's files; a file the kernel does not provide means the controller (or the
/// feature) is not available, which `unavailable_reason` explains.
pub(crate) fn write_settings(
    plan: &[Setting],
    dir_of: impl Fn(&Setting) -> Result<PathBuf>,
    unavailable_reason: &'static str,
) -> Result<()> {
    for setting in plan {
        let dir = dir_of(setting)?;
        let path = dir.join(&setting.file);
        match write_raw(&path, &setting.value) {
            Ok(()) => {}
            Err(e) if is_not_found(&e) && setting.only_if_present => {
                tracing::warn!(
                    path = %path.display(),
                    "{} not applied: the kernel does not provide this file (swap accounting off?)",
                    setting.resource
                );
            }
            Err(e) if is_not_found(&e) => {
                return Err(CgroupError::ControllerUnavailable {
                    resource: setting.resource,
                    controller: setting.controller,
                    path: dir,
                    reason: unavailable_reason,
                })
            }
            Err(e) => return Err(io_error("write", &path, e)),
        }
    }
    Ok(())
}

/// A [`StatsSource`] that reads each file from disk when asked.
pub(crate) struct FileStatsSource<F: Fn(StatsFile) -> Option<PathBuf>> {
    locate: F,
    buffer: String,
}

impl<F: Fn(StatsFile) -> Option<PathBuf>> FileStatsSource<F> {
    /// `locate` gives a file's path, or `None` if its controller is not mounted at all.
    pub(crate) fn new(locate: F) -> Self {
        FileStatsSource {
            locate,
            buffer: String::new(),
        }
    }
}

impl<F: Fn(StatsFile) -> Option<PathBuf>> StatsSource for FileStatsSource<F> {
    fn read(&mut self, file: StatsFile) -> Result<Option<&str>> {
        let Some(path) = (self.locate)(file) else {
            return Ok(None);
        };
        match read_if_exists(&path)? {
            None => Ok(None),
            Some(text) => {
                self.buffer = text;
                Ok(Some(&self.buffer))
            }
        }
    }

    fn path(&self, file: StatsFile) -> PathBuf {
        (self.locate)(file).unwrap_or_else(|| PathBuf::from(format!("{file:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_lists_every_level_below_the_root_top_down() {
        let chain = chain_below(
            Path::new("/sys/fs/cgroup"),
            Path::new("/sys/fs/cgroup/a/b/c"),
        );
        assert_eq!(
            chain,
            vec![
                PathBuf::from("/sys/fs/cgroup/a"),
                PathBuf::from("/sys/fs/cgroup/a/b"),
                PathBuf::from("/sys/fs/cgroup/a/b/c"),
            ]
        );
    }

    #[test]
    fn write_never_creates_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("memory.max");
        let err = write(&missing, "1").unwrap_err();
        assert!(matches!(&err, CgroupError::Io { op: "write", path, source }
            if path == &missing && is_not_found(source)));
        assert!(!missing.exists());
    }

    #[test]
    fn write_replaces_the_whole_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pids.max");
        fs::write(&file, "max\n").unwrap();
        write(&file, "7").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "7");
    }

    #[test]
    fn removing_a_tree_removes_nested_cgroups_and_tolerates_absence() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("ctr");
        fs::create_dir_all(top.join("sub/deeper")).unwrap();
        fs::create_dir_all(top.join("other")).unwrap();
        remove_cgroup_tree(&top).unwrap();
        assert!(!top.exists());
        remove_cgroup_tree(&top).unwrap();
    }
}
