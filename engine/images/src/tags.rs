//! The tag store: which image each reference points to, persisted in `repositories.json`
//! (`{"Repositories": {"<name>": {"<reference>": "<image id>"}}}`, full normalized names).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use fsdriver::Digest;

use crate::reference::Reference;
use crate::Error;

#[derive(Debug, Clone)]
pub(crate) struct Tags {
    path: PathBuf,
    refs: BTreeMap<Reference, Digest>,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct File {
    #[serde(rename = "Repositories")]
    repositories: BTreeMap<String, BTreeMap<String, Digest>>,
}

impl Tags {
    pub(crate) fn load(path: &Path) -> Result<Tags, Error> {
        let file: File = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Internal(format!("tag store {} is corrupt: {e}", path.display()))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => File::default(),
            Err(source) => {
                return Err(Error::Io {
                    op: "reading",
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let mut refs = BTreeMap::new();
        for (text, id) in file.repositories.into_values().flatten() {
            let reference = Reference::parse_normalized(&text).map_err(|e| {
                Error::Internal(format!("tag store {}: {text:?}: {e}", path.display()))
            })?;
            refs.insert(reference, id);
        }
        Ok(Tags {
            path: path.to_path_buf(),
            refs,
        })
    }

    /// Writes the whole store atomically.
    pub(crate) fn save(&self) -> Result<(), Error> {
        let mut file = File::default();
        for (reference, id) in &self.refs {
            file.repositories
                .entry(reference.name())
                .or_default()
                .insert(reference.to_string(), id.clone());
        }
        let json = serde_json::to_vec_pretty(&file).expect("the tag store serializes");
        fsdriver::atomic::write_atomic(&self.path, &json).map_err(|source| Error::Io {
            op: "writing",
            path: self.path.clone(),
            source,
        })
    }

    pub(crate) fn get(&self, reference: &Reference) -> Option<&Digest> {
        self.refs.get(reference)
    }

    pub(crate) fn insert(&mut self, reference: Reference, id: Digest) {
        self.refs.insert(reference, id);
    }

    pub(crate) fn remove(&mut self, reference: &Reference) -> Option<Digest> {
        self.refs.remove(reference)
    }

    /// Every reference, sorted.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&Reference, &Digest)> {
        self.refs.iter()
    }

    /// Every reference to `id`, sorted.
    pub(crate) fn refs_of(&self, id: &Digest) -> Vec<Reference> {
        self.refs
            .iter()
            .filter(|(_, target)| *target == id)
            .map(|(reference, _)| reference.clone())
            .collect()
    }
}
