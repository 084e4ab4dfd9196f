//! `build_step`: the image a build step makes, on top of its parent or of nothing.
//!
//! Docker's classic builder makes an image per step: a configuration change (`ENV`, `CMD`…)
//! adds a history entry marked `empty_layer` and no layer; a `RUN` or a `COPY` adds the
//! layer its files make. Both go through here, the layer laid out like an overlay upper
//! directory as `commit` takes it.

use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use fsdriver::Digest;
use oci_spec::image::{
    Arch, Config, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, MediaType, Os,
    RootFsBuilder,
};

use crate::commit::layer_tar;
use crate::parse;
use crate::store::{descriptor, manifest_bytes, parse_created, record, Image};
use crate::{Error, ImageRecord, ImageStore};

/// What one step records.
#[derive(Debug, Clone, Default)]
pub struct BuildStep {
    pub config: Config,
    pub created_by: String,
    /// `MAINTAINER`; `None` keeps the parent's.
    pub author: Option<String>,
    /// Docker's `config.Healthcheck` (`HEALTHCHECK`, or the base image's), which the OCI
    /// config has no field for: written into the config blob beside it.
    pub healthcheck: Option<serde_json::Value>,
    /// Docker's `config.OnBuild` (`ONBUILD` triggers), written the same way.
    pub on_build: Vec<String>,
}

/// The config blob: the OCI configuration, with Docker's fields it has no place for added
/// into its `config` object as dockerd writes them.
pub(crate) fn config_blob(
    config: &ImageConfiguration,
    healthcheck: Option<&serde_json::Value>,
    on_build: &[String],
) -> Vec<u8> {
    let plain = || serde_json::to_vec(config).expect("image config serializes");
    if healthcheck.is_none() && on_build.is_empty() {
        return plain();
    }
    let mut value = serde_json::to_value(config).expect("image config serializes");
    let Some(object) = value.as_object_mut() else {
        return plain();
    };
    let inner = object
        .entry("config")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(inner) = inner.as_object_mut() {
        if let Some(healthcheck) = healthcheck {
            inner.insert("Healthcheck".into(), healthcheck.clone());
        }
        if !on_build.is_empty() {
            inner.insert("OnBuild".into(), serde_json::json!(on_build));
        }
    }
    serde_json::to_vec(&value).expect("image config serializes")
}

/// A new layer for a step.
pub enum StepLayer<'a> {
    /// A directory laid out like an overlay upper directory (a RUN's), with paths in it
    /// to leave out.
    Upper {
        upper: &'a Path,
        skip: &'a [PathBuf],
    },
    /// A plain layer tar that the function writes (a COPY's, straight from the build
    /// context), stored as it is written.
    Tar(&'a mut fsdriver::import::LayerWriter<'a>),
}

fn empty_image_config() -> ImageConfiguration {
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(Vec::<String>::new())
        .build()
        .expect("rootfs is complete");
    ImageConfigurationBuilder::default()
        .architecture(Arch::default())
        .os(Os::Linux)
        .rootfs(rootfs)
        .build()
        .expect("image config is complete")
}

impl ImageStore {
    /// Stores the image `parent` (or an empty image) plus `layer`, with `step`'s
    /// configuration and history entry. `scratch` holds the tar of an upper directory
    /// while it is stored.
    pub fn build_step(
        &self,
        parent: Option<&Digest>,
        layer: Option<StepLayer<'_>>,
        scratch: &Path,
        step: BuildStep,
    ) -> Result<ImageRecord, Error> {
        // Nothing is collected until the new image references what it shares with its
        // parent and what it adds.
        let gc = self.gc.read();
        let parent = match parent {
            None => None,
            Some(id) => Some(self.state.lock().images.get(id).cloned().ok_or_else(|| {
                Error::NotFound(format!("{id} (a build step's parent image was removed)"))
            })?),
        };
        let mut layer_blobs = match &parent {
            Some(parent) => parse::parse_manifest(&self.read_blob(&parent.manifest)?)
                .map_err(|e| Error::Internal(format!("image {}: {e}", parent.id)))?
                .layers()
                .clone(),
            None => Vec::new(),
        };
        let ingested = match layer {
            Some(StepLayer::Upper { upper, skip }) => {
                let tar = layer_tar(upper, skip, scratch)?;
                Some(
                    fsdriver::import::ingest_layer(&self.content, &self.layers, tar)
                        .map_err(fsdriver::Error::from)?,
                )
            }
            Some(StepLayer::Tar(write)) => Some(
                fsdriver::import::ingest_written(&self.content, &self.layers, write)
                    .map_err(fsdriver::Error::from)?,
            ),
            None => None,
        };

        let created = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        let mut config = parent
            .as_ref()
            .map_or_else(empty_image_config, |p| p.config.clone());
        config.set_created(Some(created.clone()));
        if step.author.is_some() {
            config.set_author(step.author);
        }
        config.set_config(Some(step.config));
        let (healthcheck, on_build) = (step.healthcheck, step.on_build);
        let mut entry = HistoryBuilder::default()
            .created(created)
            .created_by(step.created_by)
            .build()
            .expect("history has no required fields");
        let mut layers = parent
            .as_ref()
            .map(|p| p.layers.clone())
            .unwrap_or_default();
        let mut size = parent.as_ref().map_or(0, |p| p.size);
        match &ingested {
            Some(ingested) => {
                config
                    .rootfs_mut()
                    .diff_ids_mut()
                    .push(ingested.diff_id.to_string());
                layer_blobs.push(descriptor(
                    MediaType::from(ingested.media_type),
                    &ingested.blob,
                ));
                layers.push(ingested.diff_id.clone());
                size += ingested.layer.size;
            }
            None => {
                entry.set_empty_layer(Some(true));
            }
        }
        config
            .history_mut()
            .get_or_insert_with(Vec::new)
            .push(entry);

        let recorded = (|| {
            let config_bytes = config_blob(&config, healthcheck.as_ref(), &on_build);
            let config_blob = self.put(&config_bytes)?;
            let mut blobs = vec![config_blob.digest.clone()];
            blobs.extend(layer_blobs.iter().map(parse::descriptor_digest));
            let manifest_blob = self.put(&manifest_bytes(&config_bytes, layer_blobs))?;
            blobs.push(manifest_blob.digest.clone());
            let image = Image {
                id: config_blob.digest.clone(),
                manifest: manifest_blob.digest,
                created: parse_created(&config),
                config,
                // As the store reads it back from the blob at its next start.
                healthcheck: parse::healthcheck(&config_bytes),
                on_build: parse::on_build(&config_bytes),
                layers,
                blobs,
                size,
            };
            let mut state = self.state.lock();
            let id = image.id.clone();
            if !state.images.contains_key(&id) {
                self.write_image_file(&image)?;
                state.images.insert(id.clone(), image);
            }
            Ok(record(&state, &state.images[&id]))
        })();
        drop(gc);
        if let (Err(_), Some(ingested)) = (&recorded, &ingested) {
            // The new layer, unless an image already had the same.
            self.collect(
                std::slice::from_ref(&ingested.diff_id),
                std::slice::from_ref(&ingested.blob.digest),
            )?;
        }
        recorded
    }

    /// Whether an image with this exact ID is stored.
    pub fn contains(&self, id: &Digest) -> bool {
        self.state.lock().images.contains_key(id)
    }
}
