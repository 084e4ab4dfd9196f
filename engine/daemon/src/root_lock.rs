//! One berthd per exec root and per data root.
//!
//! A second berthd on a root another one uses would take over the first one's supervisor
//! (the newest connection wins) and kill the containers it has no record of, or interleave
//! writes to the same records. So before it touches anything else, berthd takes an exclusive
//! `flock` on `berthd.lock` in each root and writes its PID inside; a daemon that finds a
//! lock held refuses to start and names the path and the PID holding it. The kernel drops the
//! lock when the process dies however it dies, so a crash never leaves a stale lock.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, Write as _};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// The lock file's name in each root.
pub const LOCK_FILE: &str = "berthd.lock";

#[derive(Debug, thiserror::Error)]
pub enum RootLockError {
    #[error("another berthd (pid {pid}) is already running with {what} {root} (it holds {lock})")]
    Held {
        what: &'static str,
        root: PathBuf,
        lock: PathBuf,
        pid: String,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// A root held by this daemon until it is dropped (or the process dies).
#[derive(Debug)]
pub struct RootLock {
    _file: File,
}

/// Takes `root`'s lock (`what` names the root in the error: "exec root", "data root"),
/// creating the directory if needed. Nothing else in the root is read or written.
pub fn lock_root(root: &Path, what: &'static str) -> Result<RootLock, RootLockError> {
    let io_error = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| RootLockError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(root).map_err(io_error("creating", root))?;
    let path = root.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_error("opening", &path))?;
    match rustix::fs::flock(
        file.as_fd(),
        rustix::fs::FlockOperation::NonBlockingLockExclusive,
    ) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut owner = String::new();
            // The holder may be between its lock and its write: an empty PID says so.
            let _ = file.read_to_string(&mut owner);
            let pid = match owner.trim() {
                "" => "unknown".to_owned(),
                pid => pid.to_owned(),
            };
            return Err(RootLockError::Held {
                what,
                root: root.to_path_buf(),
                lock: path,
                pid,
            });
        }
        Err(errno) => return Err(io_error("locking", &path)(errno.into())),
    }
    // Written through the locked descriptor: a reader that sees the lock held reads this.
    file.set_len(0).map_err(io_error("truncating", &path))?;
    file.rewind().map_err(io_error("rewinding", &path))?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .map_err(io_error("writing", &path))?;
    Ok(RootLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_root_names_the_path_and_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("exec");
        let _held = lock_root(&root, "exec root").unwrap();
        let pid = std::fs::read_to_string(root.join(LOCK_FILE)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        // flock locks belong to the open file description: a second open conflicts even in
        // the same process, as it does in a second berthd.
        let err = lock_root(&root, "exec root").unwrap_err();
        assert!(matches!(err, RootLockError::Held { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains(&root.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("exec root"), "{message}");
    }

    #[test]
    fn a_dropped_lock_is_free_again() {
        let dir = tempfile::tempdir().unwrap();
        drop(lock_root(dir.path(), "data root").unwrap());
        lock_root(dir.path(), "data root").unwrap();
    }
}
