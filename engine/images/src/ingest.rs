//! Storing images that arrive in parts (pulled from a registry, loaded from an archive):
//! each layer blob is checked against its digest and diff_id while it is extracted, and the
//! image is recorded only once every part is stored.

use std::fs::File;
use std::io::Read;

use fsdriver::content::Descriptor;
use fsdriver::import::ReceivedLayer;
use fsdriver::layer::LayerInfo;
use fsdriver::Digest;

use crate::parse::{self, descriptor_digest};
use crate::reference::Reference;
use crate::store::{parse_created, record, Image};
use crate::{Error, ImageRecord, ImageStore};

fn store_err(e: impl Into<fsdriver::Error>) -> Error {
    Error::Store(e.into())
}

impl ImageStore {
    /// Whether the layer `diff_id` is extracted and its blob `blob` stored: such a layer
    /// needs no transfer.
    pub fn has_layer(&self, diff_id: &Digest, blob: &Digest) -> bool {
        self.layers.contains(diff_id) && self.content.contains(blob)
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.content.contains(digest)
    }

    /// Whether the layer `diff_id` is extracted (its blob may be missing).
    pub fn has_extracted_layer(&self, diff_id: &Digest) -> bool {
        self.layers.contains(diff_id)
    }

    /// Stores the layer blob read from `reader` and extracts it as it arrives (gzip, zstd or
    /// plain). The blob must hash to `blob` and its uncompressed stream to `diff_id`;
    /// otherwise nothing is stored. The caller pins both beforehand.
    pub fn ingest_layer_blob(
        &self,
        reader: impl Read,
        blob: &Digest,
        diff_id: &Digest,
    ) -> Result<LayerInfo, Error> {
        let received = fsdriver::import::receive_layer(&self.content, &self.layers, reader)
            .map_err(store_err)?;
        check_received(&received, Some(blob), diff_id)?;
        Ok(received.commit().map_err(store_err)?.layer)
    }

    /// Stores a blob read from `reader`; with `expected`, it must hash to that digest or
    /// nothing is stored.
    pub fn ingest_blob(
        &self,
        reader: impl Read,
        expected: Option<&Digest>,
    ) -> Result<Descriptor, Error> {
        self.content.ingest(reader, expected).map_err(store_err)
    }

    /// Extracts a stored layer blob whose layer is missing (an archive that shares a blob
    /// with an image whose layer was removed, say).
    pub fn extract_stored_blob(&self, blob: &Digest, diff_id: &Digest) -> Result<(), Error> {
        let file = self.open_blob(blob)?;
        let (_, stream) = fsdriver::compression::decompress(file).map_err(store_err)?;
        let staged = self.layers.stage(stream).map_err(store_err)?;
        if staged.diff_id() != diff_id {
            return Err(Error::InvalidArgument(format!(
                "layer {blob} does not match its diff_id: expected {diff_id}, got {}",
                staged.diff_id()
            )));
        }
        staged.commit().map_err(store_err).map(drop)
    }

    /// Opens a stored blob for streaming.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, Error> {
        self.content.open_blob(digest).map_err(store_err)
    }

    /// Reads a stored blob whole (manifests and configs).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        Ok(self.content.read(digest).map_err(store_err)?.to_vec())
    }

    pub fn blob_size(&self, digest: &Digest) -> Result<u64, Error> {
        self.content.size(digest).map_err(store_err)
    }

    /// Bytes of regular file content in a stored layer.
    pub fn layer_size(&self, diff_id: &Digest) -> Result<u64, Error> {
        Ok(self.layers.info(diff_id).map_err(store_err)?.size)
    }

    /// The extracted directory of a stored layer.
    pub fn layer_path(&self, diff_id: &Digest) -> std::path::PathBuf {
        self.layers.path(diff_id)
    }

    /// Records an image whose layers and layer blobs are stored (and pinned by the caller),
    /// from its manifest and config, and points `references` at it. An image that is
    /// already stored keeps its manifest and gains the references.
    pub fn add_image(
        &self,
        manifest: &[u8],
        config: &[u8],
        references: &[Reference],
    ) -> Result<ImageRecord, Error> {
        let invalid = |e: parse::ParseError| Error::InvalidArgument(e.to_string());
        let parsed = parse::parse_manifest(manifest).map_err(invalid)?;
        let id = descriptor_digest(parsed.config());
        let actual = Digest::of_bytes(config);
        if actual != id {
            return Err(Error::InvalidArgument(format!(
                "config does not match the manifest: expected digest {id}, got {actual}"
            )));
        }
        let image_config = parse::parse_config(config).map_err(invalid)?;
        let layers = parse::diff_ids(&image_config);
        if layers.len() != parsed.layers().len() {
            return Err(Error::InvalidArgument(format!(
                "malformed image: the config has {} layers, the manifest {}",
                layers.len(),
                parsed.layers().len()
            )));
        }
        let layer_blobs: Vec<Digest> = parsed.layers().iter().map(descriptor_digest).collect();
        let mut size = 0;
        for (diff_id, blob) in layers.iter().zip(&layer_blobs) {
            if !self.has_layer(diff_id, blob) {
                return Err(Error::Internal(format!(
                    "layer {diff_id} (blob {blob}) is not stored"
                )));
            }
            size += self.layers.info(diff_id).map_err(store_err)?.size;
        }
        let _gc = self.gc.read();
        let manifest_blob = self.put(manifest)?;
        self.put(config)?;
        let mut blobs = vec![manifest_blob.digest.clone(), id.clone()];
        blobs.extend(layer_blobs);
        let image = Image {
            id: id.clone(),
            manifest: manifest_blob.digest,
            created: parse_created(&image_config),
            config: image_config,
            healthcheck: parse::healthcheck(config),
            on_build: parse::on_build(config),
            layers,
            blobs,
            size,
        };
        let mut state = self.state.lock();
        if !state.images.contains_key(&id) {
            self.write_image_file(&image)?;
            state.images.insert(id.clone(), image);
        }
        state.point_references(references.iter().cloned(), &id)?;
        Ok(record(&state, &state.images[&id]))
    }

    /// Deletes whichever of `layers` and `blobs` nothing references (what a failed pull or
    /// load stored).
    pub fn discard_unreferenced(&self, layers: &[Digest], blobs: &[Digest]) -> Result<(), Error> {
        self.collect(layers, blobs)
    }

    /// Points `reference` (a tag or a digest reference) at the stored image `id`.
    pub fn add_reference(&self, reference: Reference, id: &Digest) -> Result<(), Error> {
        let mut state = self.state.lock();
        if !state.images.contains_key(id) {
            return Err(Error::NotFound(id.to_string()));
        }
        state.point_references([reference], id)
    }

    /// Every reference of the repository `name` (full form, `docker.io/library/busybox`),
    /// tags only, with the image each points to.
    pub fn repository_tags(&self, name: &str) -> Vec<(Reference, Digest)> {
        let state = self.state.lock();
        state
            .tags
            .all()
            .filter(|(r, _)| r.name() == name && r.digest().is_none())
            .map(|(r, id)| (r.clone(), id.clone()))
            .collect()
    }
}

/// Checks a layer received for an image against what the image says it is: its blob digest
/// (when the image names it) and its diff_id.
pub(crate) fn check_received(
    received: &ReceivedLayer<'_>,
    blob: Option<&Digest>,
    diff_id: &Digest,
) -> Result<(), Error> {
    let actual = received.blob().digest;
    if let Some(blob) = blob.filter(|blob| **blob != actual) {
        return Err(Error::InvalidArgument(format!(
            "digest mismatch: expected {blob}, got {actual}"
        )));
    }
    if received.diff_id() != diff_id {
        return Err(Error::InvalidArgument(format!(
            "layer {actual} does not match its diff_id: expected {diff_id}, got {}",
            received.diff_id()
        )));
    }
    Ok(())
}
