//! `docker push`: upload each layer blob the registry lacks (or mount it from a repository
//! of the same registry that has it), then the config, then the manifest as stored, so the
//! image keeps its digest.

use std::sync::Arc;

use berth_distribution::{Credentials, Repository};
use berth_images::parse::{self, descriptor_digest};
use berth_images::reference::Reference;
use berth_images::ImageStore;
use serde_json::json;

use super::progress::Progress;
use super::transfer::{short, transfer_all, LayerTransfer, Upload};
use super::{TransferError, Transfers};

pub struct PushRequest {
    /// The repository, with the tag to push; no tag means every tag of the repository.
    pub reference: Reference,
    pub credentials: Option<Credentials>,
}

pub async fn push(
    transfers: &Transfers,
    images: &Arc<ImageStore>,
    request: PushRequest,
    progress: &Progress,
) -> Result<(), TransferError> {
    let reference = &request.reference;
    let targets: Vec<Reference> = match reference.tag() {
        Some(_) => {
            images.resolve(&reference.to_string()).map_err(|_| {
                TransferError::NotFound(format!(
                    "An image does not exist locally with the tag: {}",
                    reference.familiar_name()
                ))
            })?;
            vec![reference.clone()]
        }
        None => {
            let tags: Vec<Reference> = images
                .repository_tags(&reference.name())
                .into_iter()
                .map(|(r, _)| r)
                .collect();
            if tags.is_empty() {
                return Err(TransferError::NotFound(format!(
                    "An image does not exist locally with the tag: {}",
                    reference.familiar_name()
                )));
            }
            tags
        }
    };
    // Every blob we may mount, so the token covers pulling from its repository.
    let mut mount_sources = Vec::new();
    for target in &targets {
        let record = images.resolve(&target.to_string())?;
        let manifest = parse::parse_manifest(&images.read_blob(&record.manifest)?)
            .map_err(|e| TransferError::Internal(e.to_string()))?;
        for layer in manifest.layers() {
            for from in transfers.sources.on_registry(
                &descriptor_digest(layer),
                reference.domain(),
                reference.path(),
            ) {
                if !mount_sources.contains(&from) {
                    mount_sources.push(from);
                }
            }
        }
    }
    progress.status(&format!(
        "The push refers to repository [{}]",
        reference.familiar_name()
    ));
    let repository = transfers
        .open_repository(
            reference,
            request.credentials.clone(),
            &["pull", "push"],
            &mount_sources,
        )
        .await?;
    for target in &targets {
        push_one(transfers, images, &repository, target, progress).await?;
    }
    Ok(())
}

async fn push_one(
    transfers: &Transfers,
    images: &Arc<ImageStore>,
    repository: &Arc<Repository>,
    target: &Reference,
    progress: &Progress,
) -> Result<(), TransferError> {
    let record = images.resolve(&target.to_string())?;
    let manifest_bytes = images.read_blob(&record.manifest)?;
    let manifest = parse::parse_manifest(&manifest_bytes)
        .map_err(|e| TransferError::Internal(e.to_string()))?;
    let blobs: Vec<_> = manifest.layers().iter().map(descriptor_digest).collect();
    // Docker lists the top-most layer first, by its diff_id.
    let ids: Vec<String> = record.layers.iter().map(short).collect();
    for id in ids.iter().rev() {
        progress.layer(id, "Preparing");
    }
    let uploads = blobs
        .iter()
        .zip(&ids)
        .rev()
        .map(|(blob, id)| Upload {
            blob: blob.clone(),
            id: id.clone(),
            mount_from: transfers
                .sources
                .on_registry(blob, target.domain(), target.path()),
        })
        .collect();
    let shared = LayerTransfer {
        repository: repository.clone(),
        images: images.clone(),
        progress: progress.clone(),
        permits: transfers.uploads.clone(),
    };
    transfer_all(&shared, uploads).await?;
    let config = descriptor_digest(manifest.config());
    if !repository.blob_exists(&config).await? {
        let location = repository.start_upload().await?;
        let bytes = images.read_blob(&config)?;
        let size = bytes.len() as u64;
        repository
            .finish_upload(location, &config, size, bytes.into())
            .await?;
    }
    let tag = target.tag().expect("push targets are tags");
    let media_type = manifest
        .media_type()
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".to_string());
    let size = manifest_bytes.len();
    let digest = repository
        .put_manifest(tag, manifest_bytes.into(), &media_type)
        .await?;
    progress.status(&format!("{tag}: digest: {digest} size: {size}"));
    progress.aux(json!({ "Tag": tag, "Digest": digest.to_string(), "Size": size }));
    let mut all = blobs;
    all.push(config);
    transfers.sources.record(&target.name(), &all);
    images.add_reference(target.with_digest(&digest), &record.id)?;
    Ok(())
}
