//! `commit`: a new image from a container's changes, one layer on top of its image.

use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use fsdriver::import::IngestedLayer;
use fsdriver::Digest;
use oci_spec::image::{Config, Descriptor, HistoryBuilder, MediaType};

use crate::changes::apply_changes;
use crate::parse::{self, descriptor_digest};
use crate::reference::Reference;
use crate::store::{descriptor, manifest_bytes, parse_created, parse_tag_reference, record, Image};
use crate::{io_err, Error, ImageRecord, ImageStore};

/// What `commit` records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `REPO[:TAG]` to point at the new image.
    pub reference: Option<String>,
    /// The history comment (`-m`).
    pub comment: String,
    /// The image's author (`-a`).
    pub author: String,
    /// The new image's run configuration, before `changes` apply (the container's own).
    pub config: Config,
    /// `--change` instructions (see [`crate::changes`]).
    pub changes: Vec<String>,
    /// The command that made the layer, for the history.
    pub created_by: String,
    /// Paths of the upper directory (relative to it) left out of the layer: the mount
    /// points the engine makes, which hold nothing of the container's.
    pub skip: Vec<PathBuf>,
    /// Docker's `config.Healthcheck` of the container (its own or its image's), which the
    /// OCI `Config` has no field for: written into the config blob beside it, as dockerd
    /// keeps it, so a container of the new image checks its health as the old one did.
    pub healthcheck: Option<serde_json::Value>,
}

impl ImageStore {
    /// Stores the changes in the overlay upper directory `upper` as a layer on top of the
    /// image `parent`, as a new image, like `docker commit`: the parent's layers and
    /// history, plus this layer and an entry for it. The layer tar is written to a
    /// temporary file under `scratch` first. The caller keeps the upper directory still
    /// (a paused or stopped container).
    pub fn commit(
        &self,
        parent: &Digest,
        upper: &Path,
        scratch: &Path,
        mut options: CommitOptions,
    ) -> Result<ImageRecord, Error> {
        // Everything the caller controls is checked before anything is stored.
        let reference = options
            .reference
            .as_deref()
            .map(parse_tag_reference)
            .transpose()?;
        apply_changes(&mut options.config, &options.changes)?;

        // Nothing is collected until the new image references what it shares with its
        // parent and what it adds.
        let gc = self.gc.read();
        let parent = self
            .state
            .lock()
            .images
            .get(parent)
            .cloned()
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "{parent} (the container's image was removed, so its layers cannot be \
                     committed)"
                ))
            })?;
        let parent_manifest = parse::parse_manifest(&self.read_blob(&parent.manifest)?)
            .map_err(|e| Error::Internal(format!("image {}: {e}", parent.id)))?;
        let layer = layer_tar(upper, &options.skip, scratch)?;
        let ingested = fsdriver::import::ingest_layer(&self.content, &self.layers, layer)
            .map_err(fsdriver::Error::from)?;
        let mut layer_blobs = parent_manifest.layers().clone();
        layer_blobs.push(descriptor(
            MediaType::from(ingested.media_type),
            &ingested.blob,
        ));
        let recorded = self.record_commit(&parent, layer_blobs, &ingested, options, reference);
        drop(gc);
        if recorded.is_err() {
            // The new layer, unless an image already had the same.
            self.collect(
                std::slice::from_ref(&ingested.diff_id),
                std::slice::from_ref(&ingested.blob.digest),
            )?;
        }
        recorded
    }

    /// Records the image made of `parent` and the stored layer `ingested`, whose blobs,
    /// the parent's first, are `layer_blobs`.
    fn record_commit(
        &self,
        parent: &Image,
        layer_blobs: Vec<Descriptor>,
        ingested: &IngestedLayer,
        options: CommitOptions,
        reference: Option<Reference>,
    ) -> Result<ImageRecord, Error> {
        let created = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        let mut image_config = parent.config.clone();
        image_config.set_created(Some(created.clone()));
        image_config.set_author((!options.author.is_empty()).then(|| options.author.clone()));
        image_config.set_config(Some(options.config));
        image_config
            .rootfs_mut()
            .diff_ids_mut()
            .push(ingested.diff_id.to_string());
        let mut entry = HistoryBuilder::default()
            .created(created)
            .created_by(options.created_by)
            .build()
            .expect("history has no required fields");
        if !options.author.is_empty() {
            entry.set_author(Some(options.author));
        }
        if !options.comment.is_empty() {
            entry.set_comment(Some(options.comment));
        }
        image_config
            .history_mut()
            .get_or_insert_with(Vec::new)
            .push(entry);
        let config_bytes =
            crate::build_step::config_blob(&image_config, options.healthcheck.as_ref(), &[]);
        let config_blob = self.put(&config_bytes)?;
        let mut blobs = vec![config_blob.digest.clone()];
        blobs.extend(layer_blobs.iter().map(descriptor_digest));
        let manifest_blob = self.put(&manifest_bytes(&config_bytes, layer_blobs))?;
        blobs.push(manifest_blob.digest.clone());

        let mut layers = parent.layers.clone();
        layers.push(ingested.diff_id.clone());
        let image = Image {
            id: config_blob.digest.clone(),
            manifest: manifest_blob.digest,
            created: parse_created(&image_config),
            config: image_config,
            healthcheck: parse::healthcheck(&config_bytes),
            // As dockerd's commit, triggers are not carried over from the container.
            on_build: Vec::new(),
            layers,
            blobs,
            size: parent.size + ingested.layer.size,
        };
        let mut state = self.state.lock();
        let id = image.id.clone();
        if !state.images.contains_key(&id) {
            self.write_image_file(&image)?;
            state.images.insert(id.clone(), image);
        }
        state.point_references(reference, &id)?;
        Ok(record(&state, &state.images[&id]))
    }
}

/// The upper directory as a layer tar in an unnamed temporary file, rewound.
pub(crate) fn layer_tar(
    upper: &Path,
    skip: &[PathBuf],
    scratch: &Path,
) -> Result<std::fs::File, Error> {
    std::fs::create_dir_all(scratch).map_err(io_err("creating", scratch))?;
    let mut file =
        tempfile::tempfile_in(scratch).map_err(io_err("creating a temporary file in", scratch))?;
    fsdriver::diff::write_upper_as_layer(upper, skip, std::io::BufWriter::new(&mut file)).map_err(
        |err| match err {
            // The tar goes to an unnamed file: the error names the directory it is in.
            fsdriver::diff::DiffError::Write(source) => {
                io_err("writing the layer tar in", scratch)(source)
            }
            other => fsdriver::Error::from(other).into(),
        },
    )?;
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("rewinding a temporary file in", scratch))?;
    Ok(file)
}
