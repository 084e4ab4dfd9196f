//! Deleting a removed container's directory off the request path.
//!
//! A removal renames the container's directory into the trash (one metadata operation on
//! the same file system) and answers at once; a single background thread deletes what is in
//! the trash. Deleting thousands of files costs milliseconds to seconds on a busy disk (on a
//! file system mounted `discard`, every unlink waits for a discard), and none of it changes
//! what a client can observe once the container is unregistered. A daemon killed before
//! the thread finished leaves the rest in the trash, which the next daemon empties at start,
//! so nothing leaks.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

/// The trash of one data root: `<containers dir>/.trash`, inside the containers directory
/// so that a rename into it never crosses a file system.
#[derive(Clone)]
pub struct Trash {
    dir: PathBuf,
    /// Whether a thread is emptying the trash, and whether more arrived since it last looked.
    emptying: Arc<Mutex<Emptying>>,
}

#[derive(Default)]
struct Emptying {
    running: bool,
    more: bool,
}

/// The name of the trash inside the containers directory; container IDs are hex, so no
/// container can have it.
pub const TRASH_NAME: &str = ".trash";

impl Trash {
    /// Creates the trash directory if needed and starts deleting whatever a previous daemon
    /// left in it.
    pub fn open(containers_dir: &Path) -> io::Result<Trash> {
        let dir = containers_dir.join(TRASH_NAME);
        std::fs::create_dir_all(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", dir.display())))?;
        let left_over = std::fs::read_dir(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", dir.display())))?
            .next()
            .is_some();
        let trash = Trash {
            dir,
            emptying: Arc::default(),
        };
        // No thread when there is nothing to delete: an idle daemon keeps no stack for it.
        if left_over {
            trash.empty_in_background();
        }
        Ok(trash)
    }

    /// Moves `dir` into the trash and schedules its deletion. A `dir` that does not exist is
    /// not an error: there is nothing to delete.
    pub fn discard(&self, dir: &Path) -> io::Result<()> {
        let name = dir.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} has no file name", dir.display()),
            )
        })?;
        let target = self.dir.join(name);
        match std::fs::rename(dir, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            // The trash still holds a directory of that name (an ID cannot repeat, but a
            // previous removal may have been interrupted): delete in place instead.
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                return remove_tree(dir);
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("moving {} to {}: {e}", dir.display(), self.dir.display()),
                ))
            }
        }
        self.empty_in_background();
        Ok(())
    }

    /// Starts the deleting thread unless one runs; a running one is told to look again.
    fn empty_in_background(&self) {
        {
            let mut state = self.emptying.lock();
            if state.running {
                state.more = true;
                return;
            }
            state.running = true;
        }
        let trash = self.clone();
        let spawned = std::thread::Builder::new()
            .name("trash".into())
            .spawn(move || trash.empty());
        if let Err(err) = spawned {
            tracing::warn!(
                "starting the thread that empties {}: {err}",
                self.dir.display()
            );
            self.emptying.lock().running = false;
        }
    }

    fn empty(&self) {
        loop {
            self.emptying.lock().more = false;
            match std::fs::read_dir(&self.dir) {
                Ok(entries) => {
                    for entry in entries.flatten() {
                        let path = entry.path();
                        if let Err(err) = remove_tree(&path) {
                            tracing::warn!("{err}");
                        }
                    }
                }
                Err(err) => tracing::warn!("reading {}: {err}", self.dir.display()),
            }
            let mut state = self.emptying.lock();
            if !state.more {
                state.running = false;
                return;
            }
        }
    }

    #[cfg(test)]
    fn is_idle(&self) -> bool {
        !self.emptying.lock().running
    }
}

fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("deleting {}: {e}", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_until_idle(trash: &Trash) {
        while !trash.is_idle() {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_discarded_directory_is_gone_at_once_and_deleted_from_the_trash() {
        let root = tempfile::tempdir().unwrap();
        let trash = Trash::open(root.path()).unwrap();
        let container = root.path().join("abc");
        std::fs::create_dir_all(container.join("rootfs/upper/etc")).unwrap();
        std::fs::write(container.join("config.json"), b"{}").unwrap();
        trash.discard(&container).unwrap();
        assert!(!container.exists());
        wait_until_idle(&trash);
        let left: Vec<_> = std::fs::read_dir(root.path().join(TRASH_NAME))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn opening_empties_what_a_previous_daemon_left() {
        let root = tempfile::tempdir().unwrap();
        let left_over = root.path().join(TRASH_NAME).join("old/rootfs/work");
        std::fs::create_dir_all(&left_over).unwrap();
        let trash = Trash::open(root.path()).unwrap();
        wait_until_idle(&trash);
        assert!(!root.path().join(TRASH_NAME).join("old").exists());
    }

    #[test]
    fn discarding_a_missing_directory_is_no_error() {
        let root = tempfile::tempdir().unwrap();
        let trash = Trash::open(root.path()).unwrap();
        trash.discard(&root.path().join("never-created")).unwrap();
    }
}
