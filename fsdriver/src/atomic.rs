//! Atomic replacement of small state files: a reader (or a daemon restarted after kill -9)
//! sees either the old content or the new one, never a torn file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically and durably: a temporary file in the same directory is
/// written and fsynced, renamed over `path`, and the directory is fsynced so the rename itself
/// survives a crash. Errors name `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (tmp_path, mut file) = create_temp_beside(path).map_err(|e| with_path(e, path))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp_path, path));
    if let Err(err) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(with_path(err, path));
    }
    sync_dir(dir)
}

/// Writes `bytes` to `path` atomically but not durably: a temporary file is written and
/// renamed over `path`, without any fsync. Readers, and a process restarted after kill -9,
/// see the old content or the new one, never a torn file; after a power cut the file may
/// hold either, or be missing if it is new. For state that is worthless after a host crash
/// or that exists durably elsewhere, where two fsyncs (milliseconds on a busy disk) buy
/// nothing. Errors name `path`.
pub fn write_replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (tmp_path, mut file) = create_temp_beside(path).map_err(|e| with_path(e, path))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| fs::rename(&tmp_path, path));
    if let Err(err) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(with_path(err, path));
    }
    Ok(())
}

/// fsyncs a directory so that entries created or renamed in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| with_path(e, dir))
}

/// Creates `.<name>.tmp-<pid>-<n>` next to `path`. The leading dot and the suffix keep it out
/// of anything that lists state files by their extension.
fn create_temp_beside(path: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}-{n}", std::process::id()));
        let tmp_path = path.with_file_name(tmp_name);
        // create_new: a stale temp file left by a crashed process with the same pid is
        // never reused, we just take the next number.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
        {
            Ok(file) => return Ok((tmp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The PID of the writer of a temporary file of this module (`.<name>.tmp-<pid>-<n>`).
fn temp_writer(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?;
    let (_, suffix) = rest.rsplit_once(".tmp-")?;
    let (pid, n) = suffix.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Removes the temporary files of writes that never finished because their writer died (a
/// kill -9 between create and rename), in `root` and its subdirectories down to `depth`
/// levels, not entering directories named in `skip` (file trees that are not state:
/// container root filesystems, volume data). A file whose writer still runs is left to it.
/// Returns what was removed; unreadable directories are passed over.
pub fn remove_stale_temps(root: &Path, depth: usize, skip: &[&str]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), 0)];
    while let Some((dir, level)) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                if level < depth && !skip.contains(&name.as_ref()) {
                    dirs.push((entry.path(), level + 1));
                }
            } else if let Some(pid) = temp_writer(&name) {
                let alive =
                    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
                if !alive && fs::remove_file(entry.path()).is_ok() {
                    removed.push(entry.path());
                }
            }
        }
    }
    removed
}

fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temps_of_dead_writers_are_removed_and_live_ones_and_skipped_trees_kept() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let skipped = dir.path().join("rootfs");
        fs::create_dir_all(&nested).unwrap();
        fs::create_dir_all(&skipped).unwrap();
        // PIDs above pid_max (4194304 at most) name no process.
        let dead = ".state.json.tmp-99999999-3";
        let live = format!(".state.json.tmp-{}-0", std::process::id());
        for (where_, name) in [
            (dir.path(), dead),
            (nested.as_path(), dead),
            (dir.path(), live.as_str()),
            (skipped.as_path(), dead),
            (dir.path(), "state.json"),
            (dir.path(), ".tmp-layer"),
        ] {
            fs::write(where_.join(name), b"x").unwrap();
        }
        let mut removed = remove_stale_temps(dir.path(), 2, &["rootfs"]);
        removed.sort();
        let mut expected = vec![nested.join(dead), dir.path().join(dead)];
        expected.sort();
        assert_eq!(removed, expected);
        for kept in [
            dir.path().join(&live),
            skipped.join(dead),
            dir.path().join("state.json"),
            dir.path().join(".tmp-layer"),
        ] {
            assert!(kept.exists(), "{}", kept.display());
        }
    }

    #[test]
    fn write_replace_replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_replace(&path, b"one").unwrap();
        write_replace(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("state.json");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing-dir/state.json"), "{err}");
    }
}
