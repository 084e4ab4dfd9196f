//! `--cidfile`: the file `run`/`create` write the new container's ID into, as docker's
//! client keeps it: refused when it already exists (another container may own it), made
//! before the container is asked for, and removed again when no ID was written into it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::CliError;

fn failure(message: String) -> CliError {
    CliError::Status { code: 1, message }
}

/// A container ID file made for a create that has not answered yet.
pub struct CidFile {
    path: PathBuf,
    file: Option<File>,
}

impl CidFile {
    /// Makes the file at `path` (nothing for no `--cidfile`). Made exclusively, so that two
    /// runs naming one file cannot both take it.
    pub fn create(path: Option<&Path>) -> Result<Option<CidFile>, CliError> {
        let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(None);
        };
        let found = || {
            failure(format!(
                "container ID file found, make sure the other container isn't running or delete {}",
                path.display()
            ))
        };
        if path.symlink_metadata().is_ok() {
            return Err(found());
        }
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(file) => Ok(Some(CidFile {
                path: path.to_owned(),
                file: Some(file),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(found()),
            Err(e) => Err(failure(format!(
                "failed to create the container ID file: open {}: {}",
                path.display(),
                os_reason(&e)
            ))),
        }
    }

    /// Writes the ID (no newline, as docker) and keeps the file.
    pub fn write(mut self, id: &str) -> Result<(), CliError> {
        let Some(mut file) = self.file.take() else {
            return Ok(());
        };
        let written = file.write_all(id.as_bytes()).and_then(|()| file.sync_all());
        if let Err(e) = written {
            // Dropped without an ID: the half-written file goes.
            self.file = Some(file);
            return Err(failure(format!(
                "failed to write the container ID to the file: write {}: {}",
                self.path.display(),
                os_reason(&e)
            )));
        }
        Ok(())
    }
}

impl Drop for CidFile {
    /// A create that failed leaves no file behind to block the next attempt.
    fn drop(&mut self) {
        if self.file.take().is_some() {
            if let Err(e) = std::fs::remove_file(&self.path) {
                eprintln!(
                    "failed to remove the CID file '{}': {}",
                    self.path.display(),
                    os_reason(&e)
                );
            }
        }
    }
}

/// The OS's words for an error, without Rust's "(os error N)".
fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_lowercase(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_kept_failed_removed_existing_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cid");
        assert!(CidFile::create(None).unwrap().is_none());

        let cid = CidFile::create(Some(&path)).unwrap().unwrap();
        assert!(path.is_file(), "made before the create is asked for");
        cid.write("c0ffee").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "c0ffee");

        let err = CidFile::create(Some(&path)).err().unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "container ID file found, make sure the other container isn't running or delete {}",
                path.display()
            )
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "c0ffee",
            "untouched"
        );

        std::fs::remove_file(&path).unwrap();
        drop(CidFile::create(Some(&path)).unwrap());
        assert!(!path.exists(), "a failed create leaves no file");

        let err = CidFile::create(Some(&dir.path().join("no/dir/cid")))
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "failed to create the container ID file: open {}: no such file or directory",
                dir.path().join("no/dir/cid").display()
            )
        );
    }
}
