//! Layer leases: the layers a container keeps stored even if its image is removed.
//!
//! A lease lives in memory only. The container's record, which the daemon writes durably
//! before a create answers, names the container's layer directories; at open the daemon
//! hands every record's layers back ([`LayerLeases`]), before anything is collected. So a
//! create costs no lease file and no fsync of its own, and a daemon killed (or a host
//! crashed) at any point leaves nothing to reconcile: a container whose record is on disk
//! has its lease back, and a create that never wrote its record leases nothing.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use fsdriver::Digest;

use crate::store::{check_holder, ImageRecord, ImageStore};
use crate::{io_err, Error};

/// Where versions that kept a file per lease kept them; container records replace them.
const LEASE_FILES_DIR: &str = "leases";

/// The layers each existing container uses, as its record names them (layer directories),
/// for [`ImageStore::open_with_leases`].
#[derive(Debug)]
pub struct LayerLeases {
    held: BTreeMap<String, Vec<PathBuf>>,
    /// Whether every container's record could be read: the layers of one that could not
    /// are unknown, so nothing may be collected.
    complete: bool,
}

impl Default for LayerLeases {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerLeases {
    /// No lease yet; complete until [`LayerLeases::mark_incomplete`].
    pub fn new() -> LayerLeases {
        LayerLeases {
            held: BTreeMap::new(),
            complete: true,
        }
    }

    /// `holder` (a container ID) uses these layer directories.
    pub fn hold(&mut self, holder: &str, layers: Vec<PathBuf>) {
        self.held.insert(holder.to_string(), layers);
    }

    /// A container's record could not be read: its layers are unknown.
    pub fn mark_incomplete(&mut self) {
        self.complete = false;
    }
}

/// Deletes the lease files of older versions; the containers' records say the same.
pub(crate) fn remove_lease_files(root: &Path) -> Result<(), Error> {
    let dir = root.join(LEASE_FILES_DIR);
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("removing", &dir)(e)),
        _ => Ok(()),
    }
}

impl ImageStore {
    /// Takes the leases given at open; returns whether every one is known, layer by layer.
    pub(crate) fn take_leases(&mut self, leases: LayerLeases) -> bool {
        let mut complete = leases.complete;
        let mut held = BTreeMap::new();
        for (holder, paths) in leases.held {
            let mut layers = Vec::with_capacity(paths.len());
            for path in &paths {
                match self.layer_at(path) {
                    Some(diff_id) => layers.push(diff_id),
                    None => {
                        tracing::warn!(
                            "container {holder} uses {}, which is not a layer of this store",
                            path.display()
                        );
                        complete = false;
                    }
                }
            }
            held.insert(holder, layers);
        }
        self.state.get_mut().leases = held;
        complete
    }

    /// The layer whose directory `path` is (the inverse of the layer store's `path`).
    fn layer_at(&self, path: &Path) -> Option<Digest> {
        let hex = path.parent()?.file_name()?.to_str()?;
        let diff_id = Digest::from_hex(hex).ok()?;
        (self.layers.path(&diff_id) == path).then_some(diff_id)
    }

    /// Keeps the image's layers stored for `holder` (a container ID) until
    /// [`ImageStore::release_layers`], even if the image is removed meanwhile; returns
    /// the layer directories top-most first. The caller records them durably (the
    /// container's record) and passes them back at the next open.
    pub fn lease_layers(&self, holder: &str, image: &ImageRecord) -> Result<Vec<PathBuf>, Error> {
        check_holder(holder)?;
        let mut state = self.state.lock();
        if !state.images.contains_key(&image.id) {
            return Err(Error::NotFound(image.id.to_string()));
        }
        let paths = self.rootfs_layers(image)?;
        state
            .leases
            .insert(holder.to_string(), image.layers.clone());
        Ok(paths)
    }

    /// Ends `holder`'s lease (if any) and deletes the layers nothing else needs.
    pub fn release_layers(&self, holder: &str) -> Result<(), Error> {
        check_holder(holder)?;
        let released = self.state.lock().leases.remove(holder).unwrap_or_default();
        self.collect(&released, &[])
    }
}
