//! Blob leases: sets of blobs kept stored for a holder other than an image (the registry
//! berthd serves keeps its repositories' blobs this way), persisted in
//! `blob-leases/<holder>` so garbage collection at start-up respects them.

use std::collections::BTreeSet;
use std::fs;

use fsdriver::Digest;

use crate::{io_err, Error, ImageStore};

pub(crate) const BLOB_LEASES_DIR: &str = "blob-leases";

impl ImageStore {
    /// Replaces the blobs leased to `holder` (a plain name); blobs no longer leased by
    /// anyone or referenced by an image are deleted.
    pub fn lease_blobs(&self, holder: &str, blobs: BTreeSet<Digest>) -> Result<(), Error> {
        crate::store::check_holder(holder)?;
        let path = self.blob_leases_dir.join(holder);
        let released: Vec<Digest> = {
            let mut state = self.state.lock();
            let json = serde_json::to_vec(&blobs).expect("a blob lease serializes");
            fsdriver::atomic::write_atomic(&path, &json).map_err(|source| Error::Io {
                op: "writing",
                path: path.clone(),
                source,
            })?;
            let previous = state.blob_leases.insert(holder.to_string(), blobs.clone());
            previous
                .unwrap_or_default()
                .difference(&blobs)
                .cloned()
                .collect()
        };
        self.collect(&[], &released)
    }

    /// Reads every blob lease (at open, before garbage collection).
    pub(crate) fn load_blob_leases(&mut self) -> Result<(), Error> {
        let dir = self.blob_leases_dir.clone();
        for entry in fs::read_dir(&dir).map_err(io_err("reading", &dir))? {
            let entry = entry.map_err(io_err("reading", &dir))?;
            let holder = entry.file_name().to_string_lossy().into_owned();
            if crate::store::check_holder(&holder).is_err() {
                continue; // a temporary file of an interrupted atomic write
            }
            let bytes = fs::read(entry.path()).map_err(io_err("reading", &entry.path()))?;
            let blobs: BTreeSet<Digest> = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Internal(format!(
                    "blob lease {} is corrupt: {e}",
                    entry.path().display()
                ))
            })?;
            self.state.get_mut().blob_leases.insert(holder, blobs);
        }
        Ok(())
    }
}
