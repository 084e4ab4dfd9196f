//! `GET /containers/{id}/changes`: what the container changed in its file system.

use hyper::StatusCode;
use serde_json::json;

use super::containers::find;
use super::error::ApiError;
use super::http::{json, ApiResult};
use crate::container::actor::Snapshot;
use crate::container::record::ContainerDir;
use crate::container::spec::engine_files;
use crate::engine::Engine;

pub async fn changes(engine: &Engine, name: &str) -> ApiResult {
    let (id, addr) = find(engine, name).await?;
    let record = addr.send(Snapshot).await?;
    let upper = ContainerDir::new(&engine.config.containers_dir(), &id).upper();
    let skip = engine_files();
    let changes = actix_rt::task::spawn_blocking(move || {
        fsdriver::changes::upper_changes(&upper, &record.layers, &skip)
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the changes of container {id}: {e}")))?
    .map_err(|e| ApiError::internal(format!("reading the changes of container {id}: {e}")))?;
    let body: Vec<_> = changes
        .iter()
        .map(|c| json!({ "Path": c.path, "Kind": c.kind.code() }))
        .collect();
    json(StatusCode::OK, &body)
}
