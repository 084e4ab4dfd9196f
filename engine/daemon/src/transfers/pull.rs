//! `docker pull`: resolve the manifest (choosing a platform from an index), fetch the
//! config, transfer the missing layers concurrently, then record the image.

use std::sync::Arc;

use berth_distribution::platform::{self, Platform};
use berth_distribution::{Credentials, FetchedManifest, Repository};
use berth_images::parse::{self, descriptor_digest, MAX_CONFIG_BYTES};
use berth_images::reference::Reference;
use berth_images::ImageStore;
use fsdriver::Digest;

use super::progress::Progress;
use super::transfer::{short, transfer_all, Download, LayerTransfer};
use super::{TransferError, Transfers};

pub struct PullRequest {
    /// The repository, with the tag or digest to pull; neither means every tag (`-a`).
    pub reference: Reference,
    pub platform: Platform,
    pub credentials: Option<Credentials>,
}

/// Pulls as Docker does, reporting progress; errors are returned, not reported.
pub async fn pull(
    transfers: &Transfers,
    images: &Arc<ImageStore>,
    request: PullRequest,
    progress: &Progress,
) -> Result<(), TransferError> {
    let reference = &request.reference;
    let repository = transfers
        .open_repository(reference, request.credentials.clone(), &["pull"], &[])
        .await?;
    let targets: Vec<Reference> = if reference.tag().is_none() && reference.digest().is_none() {
        let mut tags = repository.tags().await?;
        tags.sort();
        tags.into_iter()
            .map(|tag| {
                reference.with_tag(&tag).map_err(|_| {
                    TransferError::Invalid(format!("the registry lists an invalid tag {tag:?}"))
                })
            })
            .collect::<Result<_, _>>()?
    } else {
        vec![reference.clone()]
    };
    let mut any_new = false;
    for target in &targets {
        any_new |= pull_one(
            transfers,
            images,
            &repository,
            target,
            &request.platform,
            progress,
        )
        .await?;
    }
    let shown = if targets.len() == 1 {
        targets[0].familiar()
    } else {
        reference.familiar_name()
    };
    if any_new {
        progress.status(&format!("Status: Downloaded newer image for {shown}"));
    } else {
        progress.status(&format!("Status: Image is up to date for {shown}"));
    }
    Ok(())
}

/// Pulls one tag or digest; returns whether the reference now names another image.
async fn pull_one(
    transfers: &Transfers,
    images: &Arc<ImageStore>,
    repository: &Arc<Repository>,
    target: &Reference,
    wanted: &Platform,
    progress: &Progress,
) -> Result<bool, TransferError> {
    let asked = match (target.digest(), target.tag()) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.to_string(),
        (None, None) => unreachable!("every target has a tag or a digest"),
    };
    progress.layer(&asked, &format!("Pulling from {}", target.path()));
    let fetched = repository.get_manifest(&asked).await.map_err(|e| match e {
        berth_distribution::Error::NotFound(m) => {
            TransferError::NotFound(format!("manifest for {} not found: {m}", target.familiar()))
        }
        e => e.into(),
    })?;
    let repo_digest = fetched.digest.clone();
    let manifest = resolve_platform(repository, fetched, wanted).await?;
    let parsed = parse::parse_manifest(&manifest.bytes)
        .map_err(|e| TransferError::Invalid(e.to_string()))?;
    let config_digest = descriptor_digest(parsed.config());
    let layer_blobs: Vec<(Digest, u64)> = parsed
        .layers()
        .iter()
        .map(|d| (descriptor_digest(d), d.size()))
        .collect();
    let mut blobs: Vec<Digest> = layer_blobs.iter().map(|(d, _)| d.clone()).collect();
    blobs.push(config_digest.clone());
    let pin = images.pin(Vec::new(), blobs.clone());

    let config = if images.has_blob(&config_digest) {
        images.read_blob(&config_digest)?
    } else {
        repository
            .get_blob_bytes(&config_digest, MAX_CONFIG_BYTES)
            .await?
            .to_vec()
    };
    let image_config =
        parse::parse_config(&config).map_err(|e| TransferError::Invalid(e.to_string()))?;
    let diff_ids = parse::diff_ids(&image_config);
    if diff_ids.len() != layer_blobs.len() {
        return Err(TransferError::Invalid(format!(
            "malformed image: the config has {} layers, the manifest {}",
            diff_ids.len(),
            layer_blobs.len()
        )));
    }
    pin.extend(diff_ids.clone(), Vec::new());

    // Docker's "up to date": the reference already named this very image.
    let up_to_date = images
        .resolve(&target.to_string())
        .is_ok_and(|record| record.id == config_digest);
    let mut downloads = Vec::new();
    for ((blob, size), diff_id) in layer_blobs.iter().zip(&diff_ids) {
        let id = short(blob);
        if images.has_layer(diff_id, blob) {
            progress.layer(&id, "Already exists");
            continue;
        }
        progress.layer(&id, "Pulling fs layer");
        downloads.push(Download {
            blob: blob.clone(),
            size: *size,
            diff_id: diff_id.clone(),
        });
    }
    let shared = LayerTransfer {
        repository: repository.clone(),
        images: images.clone(),
        progress: progress.clone(),
        permits: transfers.downloads.clone(),
    };
    if let Err(e) = transfer_all(&shared, downloads).await {
        // What the failed pull stored is referenced by no image: take it away again.
        drop(pin);
        images.discard_unreferenced(&diff_ids, &blobs)?;
        return Err(e);
    }

    let mut references = vec![target.with_digest(&repo_digest)];
    if target.digest().is_none() {
        references.push(target.clone());
    }
    let images_for_record = images.clone();
    let manifest_bytes = manifest.bytes.clone();
    actix_rt::task::spawn_blocking(move || {
        images_for_record.add_image(&manifest_bytes, &config, &references)
    })
    .await
    .map_err(|e| TransferError::Internal(format!("recording the image: {e}")))??;
    drop(pin);
    transfers.sources.record(&target.name(), &blobs);
    progress.status(&format!("Digest: {repo_digest}"));
    Ok(!up_to_date)
}

/// An index is resolved to the manifest of the wanted platform.
async fn resolve_platform(
    repository: &Repository,
    fetched: FetchedManifest,
    wanted: &Platform,
) -> Result<FetchedManifest, TransferError> {
    if !fetched.is_index() {
        return Ok(fetched);
    }
    let index =
        parse::parse_index(&fetched.bytes).map_err(|e| TransferError::Invalid(e.to_string()))?;
    let descriptor = platform::select(&index, wanted).ok_or_else(|| {
        TransferError::NotFound(format!(
            "no matching manifest for {wanted} in the manifest list entries"
        ))
    })?;
    let digest = descriptor_digest(descriptor);
    let manifest = repository.get_manifest(digest.as_str()).await?;
    if manifest.is_index() {
        return Err(TransferError::Invalid(format!(
            "manifest {digest} for {wanted} is itself an index"
        )));
    }
    Ok(manifest)
}
