//! `GET /images/{name}/history`, `POST /images/prune`, `GET /system/df`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};

use super::containers::snapshots;
use super::error::ApiError;
use super::http::{json, ApiResult, Query};
use crate::container::record::{ContainerDir, ContainerRecord};
use crate::container::view;
use crate::engine::Engine;

pub async fn history(engine: &Engine, name: &str) -> ApiResult {
    let record = engine.images.resolve(name)?;
    let mut sizes = Vec::new();
    for diff_id in &record.layers {
        sizes.push(engine.images.layer_size(diff_id)?);
    }
    let history = record.config.history().clone().unwrap_or_default();
    let mut entries = Vec::new();
    let mut layer = 0;
    if history.is_empty() {
        for size in &sizes {
            entries.push(json!({ "Created": 0, "CreatedBy": "", "Size": size, "Comment": "" }));
        }
    }
    for item in &history {
        let empty = item.empty_layer().unwrap_or(false);
        let size = if empty {
            0
        } else {
            let size = sizes.get(layer).copied().unwrap_or(0);
            layer += 1;
            size
        };
        let created = item
            .created()
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|c| c.timestamp())
            .unwrap_or(0);
        entries.push(json!({
            "Created": created,
            "CreatedBy": item.created_by().clone().unwrap_or_default(),
            "Size": size,
            "Comment": item.comment().clone().unwrap_or_default(),
        }));
    }
    entries.reverse();
    for (i, entry) in entries.iter_mut().enumerate() {
        let object = entry.as_object_mut().expect("entries are objects");
        if i == 0 {
            object.insert("Id".into(), json!(record.id.to_string()));
            object.insert("Tags".into(), json!(record.repo_tags));
        } else {
            object.insert("Id".into(), json!("<missing>"));
            object.insert("Tags".into(), Value::Null);
        }
    }
    json(StatusCode::OK, &entries)
}

/// Images that containers use, by ID.
fn used_images(records: &[ContainerRecord]) -> BTreeSet<String> {
    records.iter().map(|r| r.image_id.clone()).collect()
}

/// Disk space the image store takes: extracted layers (files they share counted once) and
/// blobs.
fn store_bytes(engine: &Engine) -> Result<u64, ApiError> {
    Ok(engine.images.layers_disk_usage()?.allocated + engine.images.blobs_size()?)
}

/// `POST /images/prune`: dangling images (or, with `dangling=false`, every unused image).
pub async fn prune(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let filters = query.filters()?;
    for key in filters.keys() {
        if key != "dangling" {
            return Err(ApiError::bad_request(format!(
                "invalid filter '{key}': berth prunes by dangling only"
            )));
        }
    }
    let dangling_only = !filters
        .get("dangling")
        .iter()
        .any(|d| matches!(d.as_str(), "false" | "0"));
    let used = used_images(&snapshots(engine).await?);
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for record in engine.images.list() {
        if used.contains(&record.id.to_string()) || (dangling_only && !record.repo_tags.is_empty())
        {
            continue;
        }
        let (actions, freed) =
            engine
                .images
                .remove_reclaiming(record.id.as_str(), true, &|_| None)?;
        reclaimed += freed;
        for action in actions {
            deleted.push(match action {
                berth_images::RemoveAction::Untagged(tag) => json!({ "Untagged": tag }),
                berth_images::RemoveAction::Deleted(id) => json!({ "Deleted": id.to_string() }),
            });
        }
    }
    // Whatever else nothing references (left by an interrupted pull or load) goes too.
    let images = engine.images.clone();
    match actix_rt::task::spawn_blocking(move || images.gc()).await {
        Ok(Ok(collected)) => reclaimed += collected.bytes_freed,
        Ok(Err(e)) => tracing::warn!("image prune: collecting unreferenced layers: {e}"),
        Err(e) => tracing::warn!("image prune: collecting unreferenced layers: {e}"),
    }
    json(
        StatusCode::OK,
        &json!({
            "ImagesDeleted": if deleted.is_empty() { Value::Null } else { Value::Array(deleted) },
            "SpaceReclaimed": reclaimed,
        }),
    )
}

/// Bytes of regular files under `dir` (a container's writable layer).
pub(super) fn du(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => du(&entry.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

/// `GET /system/df`.
pub async fn df(engine: &Engine) -> ApiResult {
    let records = snapshots(engine).await?;
    let mut uses: HashMap<String, i64> = HashMap::new();
    for record in &records {
        *uses.entry(record.image_id.clone()).or_default() += 1;
    }
    // Layers used by more than one image count as shared.
    let images = engine.images.list();
    let mut layer_users: HashMap<fsdriver::Digest, usize> = HashMap::new();
    for record in &images {
        for layer in &record.layers {
            *layer_users.entry(layer.clone()).or_default() += 1;
        }
    }
    let layers_size = store_bytes(engine)?;
    let mut summaries = Vec::new();
    for record in &images {
        let mut shared = 0;
        for layer in &record.layers {
            if layer_users[layer] > 1 {
                shared += engine.images.layer_size(layer)?;
            }
        }
        summaries.push(json!({
            "Id": record.id.to_string(),
            "ParentId": "",
            "RepoTags": record.repo_tags,
            "RepoDigests": record.repo_digests,
            "Created": record.created.map(|c| c.timestamp()).unwrap_or(0),
            "Size": record.size,
            "SharedSize": shared,
            "VirtualSize": record.size,
            "Labels": {},
            "Containers": uses.get(&record.id.to_string()).copied().unwrap_or(0),
        }));
    }
    let now = chrono::Utc::now();
    let containers_dir = engine.config.containers_dir();
    let mut container_summaries = Vec::new();
    for record in &records {
        let image = record
            .config
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| record.image_id.clone());
        let mut summary = serde_json::to_value(view::summary(record, image, now))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let size_rw = du(&ContainerDir::new(&containers_dir, &record.id).upper());
        summary["SizeRw"] = json!(size_rw);
        summary["SizeRootFs"] = json!(size_rw);
        container_summaries.push(summary);
    }
    json(
        StatusCode::OK,
        &json!({
            "LayersSize": layers_size,
            "Images": summaries,
            "Containers": container_summaries,
            "Volumes": super::volumes::usage(engine).await?,
            "BuildCache": super::build::cache_usage(engine),
        }),
    )
}
