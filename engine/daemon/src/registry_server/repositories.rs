//! The served registry's bookkeeping: which blobs, manifests and tags each repository
//! has, in `<data-root>/registry/repositories.json`. The bytes themselves live in the image
//! store's content store, leased there under the holder `registry`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use fsdriver::Digest;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Repository {
    pub blobs: BTreeSet<Digest>,
    pub manifests: BTreeSet<Digest>,
    pub tags: BTreeMap<String, Digest>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Repositories {
    #[serde(flatten)]
    pub repositories: BTreeMap<String, Repository>,
}

impl Repositories {
    pub fn load(path: &Path) -> std::io::Result<Repositories> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Repositories::default()),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).expect("repositories serialize");
        fsdriver::atomic::write_atomic(path, &json)
    }

    /// Every blob any repository holds (manifests included): what the lease keeps.
    pub fn all_blobs(&self) -> BTreeSet<Digest> {
        self.repositories
            .values()
            .flat_map(|r| r.blobs.iter().chain(&r.manifests))
            .cloned()
            .collect()
    }
}

/// Where the served registry keeps its files.
pub struct Paths {
    pub repositories: PathBuf,
    pub uploads: PathBuf,
}

impl Paths {
    pub fn new(data_root: &Path) -> Paths {
        let root = data_root.join("registry");
        Paths {
            repositories: root.join("repositories.json"),
            uploads: root.join("uploads"),
        }
    }
}
