//! Pins: layers and blobs an operation in progress (a pull, a load, a commit) is storing or
//! reusing but no image references yet. Garbage collection treats them as referenced, so a
//! concurrent removal never deletes a layer a pull has just found "already there".
//!
//! Pins live in memory only: after a crash, whatever they protected is unreferenced again
//! and collected when the store is next opened.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fsdriver::Digest;

use crate::ImageStore;

#[derive(Debug, Default)]
pub(crate) struct Pins {
    next: u64,
    held: BTreeMap<u64, (Vec<Digest>, Vec<Digest>)>,
}

impl Pins {
    pub(crate) fn add_to(&self, layers: &mut BTreeSet<Digest>, blobs: &mut BTreeSet<Digest>) {
        for (pinned_layers, pinned_blobs) in self.held.values() {
            layers.extend(pinned_layers.iter().cloned());
            blobs.extend(pinned_blobs.iter().cloned());
        }
    }
}

/// Keeps its layers and blobs from being collected until dropped.
pub struct Pinned {
    store: Arc<ImageStore>,
    id: u64,
}

impl ImageStore {
    /// Pins `layers` (diff_ids) and `blobs`. Waits for a collection in progress to finish,
    /// so what is found stored after this call stays stored.
    pub fn pin(self: &Arc<Self>, layers: Vec<Digest>, blobs: Vec<Digest>) -> Pinned {
        let _gc = self.gc.read();
        let mut state = self.state.lock();
        let id = state.pins.next;
        state.pins.next += 1;
        state.pins.held.insert(id, (layers, blobs));
        Pinned {
            store: self.clone(),
            id,
        }
    }
}

impl Pinned {
    /// Adds to what this pin protects.
    pub fn extend(&self, layers: Vec<Digest>, blobs: Vec<Digest>) {
        let _gc = self.store.gc.read();
        let mut state = self.store.state.lock();
        if let Some((held_layers, held_blobs)) = state.pins.held.get_mut(&self.id) {
            held_layers.extend(layers);
            held_blobs.extend(blobs);
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        self.store.state.lock().pins.held.remove(&self.id);
    }
}
