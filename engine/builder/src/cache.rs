//! The step cache: which image a step made, by a key of everything the step depends on.
//!
//! A key is the blake3 hash of the parent image, the step's history text (its instruction
//! after substitution), the configuration the step leaves (environment, user, working
//! directory… what a RUN runs with) and, for COPY/ADD, the hash of the files it reads. Each
//! record is one small file `<root>/<key>.json` written atomically, so a record is either
//! whole or absent after any crash, and an interrupted build never leaves one pointing at an
//! image that was not stored (the image is stored before its record is written).

use std::path::{Path, PathBuf};

use oci_spec::image::Config;
use serde::{Deserialize, Serialize};

use crate::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CacheError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What a step depends on.
pub struct StepKey<'a> {
    pub parent: Option<&'a str>,
    pub created_by: &'a str,
    pub config: &'a Config,
    /// Docker's configuration fields `Config` lacks (healthcheck, triggers), serialized;
    /// empty when the step has none, so keys made before they existed still match.
    pub docker: String,
    /// Whatever else decides the result: the flags of the instruction, the content hash of
    /// the files a COPY reads.
    pub extra: &'a str,
}

impl StepKey<'_> {
    pub fn docker_fields(spec: &crate::executor::CommitSpec) -> String {
        if spec.healthcheck.is_none() && spec.on_build.is_empty() {
            return String::new();
        }
        serde_json::json!({"Healthcheck": spec.healthcheck, "OnBuild": spec.on_build}).to_string()
    }

    pub fn digest(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        let config = serde_json::to_vec(self.config).unwrap_or_default();
        for part in [
            self.parent.unwrap_or("scratch").as_bytes(),
            self.created_by.as_bytes(),
            &config,
            self.extra.as_bytes(),
        ] {
            // Length-prefixed, so no two different steps give the same byte stream.
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        if !self.docker.is_empty() {
            hasher.update(&(self.docker.len() as u64).to_le_bytes());
            hasher.update(self.docker.as_bytes());
        }
        hasher.finalize().to_hex().to_string()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    image: String,
    /// The step's parent image, so that `cachefrom` can tell an image's ancestors.
    #[serde(default)]
    parent: Option<String>,
}

/// The records under one directory (`<data-root>/builder/cache`).
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn open(root: &Path) -> Result<Cache, CacheError> {
        std::fs::create_dir_all(root).map_err(io_err("creating", root))?;
        Ok(Cache {
            root: root.to_path_buf(),
        })
    }

    /// The records under `root`, without creating it (a reader's view).
    pub fn at(root: &Path) -> Cache {
        Cache {
            root: root.to_path_buf(),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.json"))
    }

    /// The image recorded for `key`. A record that cannot be read or parsed is a miss: the
    /// step runs again and its new record replaces it.
    pub fn get(&self, key: &str) -> Option<String> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let record: Record = serde_json::from_slice(&bytes).ok()?;
        Some(record.image)
    }

    pub fn put(&self, key: &str, image: &str, parent: Option<&str>) -> Result<(), CacheError> {
        let path = self.path(key);
        let bytes = serde_json::to_vec(&Record {
            image: image.to_string(),
            parent: parent.map(str::to_string),
        })
        .unwrap_or_default();
        fsdriver::atomic::write_atomic(&path, &bytes).map_err(io_err("writing", &path))
    }

    /// Each image's parent, as the records know them.
    pub fn parents(&self) -> std::collections::HashMap<String, String> {
        let mut parents = std::collections::HashMap::new();
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return parents;
        };
        for entry in entries.flatten() {
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            if let Ok(Record {
                image,
                parent: Some(parent),
            }) = serde_json::from_slice(&bytes)
            {
                parents.insert(image, parent);
            }
        }
        parents
    }

    /// Removes every record (`POST /build/prune`); returns their keys and bytes.
    pub fn prune(&self) -> Result<(Vec<String>, u64), CacheError> {
        let mut removed = (Vec::new(), 0);
        let entries = std::fs::read_dir(&self.root).map_err(io_err("reading", &self.root))?;
        for entry in entries {
            let entry = entry.map_err(io_err("reading", &self.root))?;
            let path = entry.path();
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    let name = entry.file_name().to_string_lossy().to_string();
                    removed
                        .0
                        .push(name.strip_suffix(".json").unwrap_or(&name).to_string());
                    removed.1 += size;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("removing", &path)(e)),
            }
        }
        Ok(removed)
    }

    /// How many records there are and what they take on disk (`system df`).
    pub fn usage(&self) -> (u64, u64) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return (0, 0);
        };
        entries.flatten().fold((0, 0), |(n, size), e| {
            (n + 1, size + e.metadata().map(|m| m.len()).unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(parent: Option<&'a str>, created_by: &'a str, config: &'a Config) -> StepKey<'a> {
        StepKey {
            parent,
            created_by,
            config,
            docker: String::new(),
            extra: "",
        }
    }

    #[test]
    fn keys_differ_by_every_part() {
        let config = Config::default();
        let mut other = Config::default();
        other.set_user(Some("nobody".into()));
        let base = key(Some("sha256:a"), "RUN x", &config).digest();
        assert_eq!(base, key(Some("sha256:a"), "RUN x", &config).digest());
        assert_ne!(base, key(Some("sha256:b"), "RUN x", &config).digest());
        assert_ne!(base, key(None, "RUN x", &config).digest());
        assert_ne!(base, key(Some("sha256:a"), "RUN y", &config).digest());
        assert_ne!(base, key(Some("sha256:a"), "RUN x", &other).digest());
        let mut with_files = key(Some("sha256:a"), "RUN x", &config);
        with_files.extra = "files:1";
        assert_ne!(base, with_files.digest());
    }

    #[test]
    fn records_survive_reopening_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        assert_eq!(cache.get("k"), None);
        cache.put("k", "sha256:img", Some("sha256:parent")).unwrap();
        let reopened = Cache::open(&dir.path().join("cache")).unwrap();
        assert_eq!(reopened.get("k").as_deref(), Some("sha256:img"));
        assert_eq!(reopened.usage().0, 1);
        assert_eq!(reopened.parents()["sha256:img"], "sha256:parent");
        std::fs::write(dir.path().join("cache/bad.json"), b"{not json").unwrap();
        assert_eq!(reopened.get("bad"), None);
        assert_eq!(reopened.prune().unwrap().0.len(), 2);
        assert_eq!(reopened.get("k"), None);
    }
}
