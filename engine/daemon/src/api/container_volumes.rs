//! The volumes part of `POST /containers/create`: the mount points decided from the request
//! (with the `--volumes-from` containers' looked up), then the volumes made and taken, and
//! filled from the image once the container's directory exists.

use bollard_stubs::models::{ContainerConfig, HostConfig};

use super::containers::find;
use super::error::ApiError;
use crate::container::actor::Snapshot;
use crate::container::mount_points::{self, Planned};
use crate::container::record::{ContainerDir, ContainerRecord};
use crate::container::volumes;
use crate::engine::Engine;

/// Decides the container's mount points; nothing is made yet, so a refusal changes nothing.
pub async fn plan(
    engine: &Engine,
    host: &HostConfig,
    config: &ContainerConfig,
) -> Result<Vec<Planned>, ApiError> {
    let mut from = Vec::new();
    for spec in host.volumes_from.iter().flatten() {
        let (container, mode) = mount_points::parse_volumes_from(spec)?;
        let (_, addr) = find(engine, &container).await?;
        let record = addr.send(Snapshot).await?;
        from.push((record.mount_points, mode));
    }
    let config_volumes = config.volumes.clone().unwrap_or_default();
    Ok(mount_points::plan(host, &config_volumes, &from)?)
}

/// Makes and takes the planned volumes for container `id`.
pub async fn take(
    engine: &Engine,
    id: &str,
    planned: Vec<Planned>,
) -> Result<Vec<mount_points::MountPoint>, ApiError> {
    let store = engine.services.volumes.clone();
    let id = id.to_string();
    actix_rt::task::spawn_blocking(move || volumes::take(&store, &id, planned))
        .await
        .map_err(|err| ApiError::internal(format!("taking volumes: {err}")))?
        .map_err(ApiError::from)
}

/// Copies the image's content into the container's empty volumes; on a failure the
/// container's volumes are let go (its anonymous ones removed).
pub async fn fill(
    engine: &Engine,
    record: &ContainerRecord,
    dir: &ContainerDir,
) -> Result<(), ApiError> {
    if record.mount_points.is_empty() {
        return Ok(());
    }
    let store = engine.services.volumes.clone();
    let record = record.clone();
    let dir = dir.clone();
    actix_rt::task::spawn_blocking(move || {
        let filled = volumes::copy_up(&record, &dir);
        if filled.is_err() {
            volumes::release(&store, &record, true);
        }
        filled
    })
    .await
    .map_err(|err| ApiError::internal(format!("copying into volumes: {err}")))?
    .map_err(ApiError::from)
}

/// A create failed after its volumes were taken: they are let go, the anonymous ones
/// made for it removed.
pub fn abandon(engine: &Engine, record: &ContainerRecord) {
    volumes::release(&engine.services.volumes, record, true);
}
