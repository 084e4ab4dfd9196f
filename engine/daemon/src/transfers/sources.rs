//! Where each blob came from: the repositories (`domain/path`) it was pulled from or pushed
//! to, so a push can ask a registry to mount a blob from a repository that has it instead
//! of uploading it again. Kept in `<data-root>/distribution/sources.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use fsdriver::Digest;
use parking_lot::Mutex;

use super::TransferError;

/// At most this many repositories are remembered per blob.
const MAX_SOURCES: usize = 8;

pub struct Sources {
    path: PathBuf,
    known: Mutex<BTreeMap<Digest, BTreeSet<String>>>,
}

impl Sources {
    pub fn open(dir: &Path) -> Result<Sources, TransferError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| TransferError::Internal(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join("sources.json");
        let known = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!("ignoring {}: {e}", path.display());
                BTreeMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(TransferError::Internal(format!(
                    "reading {}: {e}",
                    path.display()
                )))
            }
        };
        Ok(Sources {
            path,
            known: Mutex::new(known),
        })
    }

    /// Remembers that the repository `domain/path` has `blobs`.
    pub fn record(&self, repository: &str, blobs: &[Digest]) {
        let mut known = self.known.lock();
        let mut changed = false;
        for blob in blobs {
            let repositories = known.entry(blob.clone()).or_default();
            if repositories.len() < MAX_SOURCES {
                changed |= repositories.insert(repository.to_string());
            }
        }
        if changed {
            let json = serde_json::to_vec(&*known).expect("sources serialize");
            if let Err(e) = fsdriver::atomic::write_atomic(&self.path, &json) {
                tracing::warn!("writing {}: {e}", self.path.display());
            }
        }
    }

    /// Repository paths on registry `domain`, other than `except`, known to have `blob`.
    pub fn on_registry(&self, blob: &Digest, domain: &str, except: &str) -> Vec<String> {
        let prefix = format!("{domain}/");
        self.known
            .lock()
            .get(blob)
            .into_iter()
            .flatten()
            .filter_map(|repository| repository.strip_prefix(&prefix))
            .filter(|path| *path != except)
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_sources_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let blob = Digest::of_bytes(b"layer");
        let sources = Sources::open(dir.path()).unwrap();
        sources.record("127.0.0.1:5000/a", std::slice::from_ref(&blob));
        sources.record("127.0.0.1:5000/b", std::slice::from_ref(&blob));
        sources.record("example.com/c", std::slice::from_ref(&blob));
        let reopened = Sources::open(dir.path()).unwrap();
        assert_eq!(reopened.on_registry(&blob, "127.0.0.1:5000", "b"), ["a"]);
        assert!(reopened.on_registry(&blob, "other", "x").is_empty());
    }
}
