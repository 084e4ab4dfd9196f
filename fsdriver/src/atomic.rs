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

fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
