//! A container's volumes: made on first use and taken for the container at its create,
//! filled from the image (copy-up), and let go (anonymous ones removed if asked) when the
//! container goes.

use std::fs::File;
use std::path::Path;

use berth_volumes::{CreateRequest, Store};
use bollard_stubs::models::{ContainerConfig, HostConfig};

use super::actor::Snapshot;
use super::error::Error;
use super::mount_points::{self, MountKind, MountPoint, Planned};
use super::names::Lookup;
use super::record::{ContainerDir, ContainerRecord};
use super::rootfs_view::{self, View};
use crate::engine::Services;
use crate::events::EventBus;
use actix::Addr;

/// Decides the container's mount points, the `--volumes-from` containers' looked up;
/// nothing is made yet, so a refusal changes nothing.
pub async fn plan(
    services: &Services,
    host: &HostConfig,
    config: &ContainerConfig,
) -> Result<Vec<Planned>, Error> {
    let mut from = Vec::new();
    for spec in host.volumes_from.iter().flatten() {
        let (container, mode) = mount_points::parse_volumes_from(spec)?;
        let (_, addr) = services.names.send(Lookup(container)).await??;
        let record = addr.send(Snapshot).await?;
        from.push((record.mount_points, mode));
    }
    let config_volumes = config.volumes.clone().unwrap_or_default();
    mount_points::plan(host, &config_volumes, &from)
}

/// Makes the volumes the planned mount points need and takes them for container `id`;
/// answers the mount points with their host directories. Every name and option is checked
/// before anything is made, and on a failure what was taken is let go and the anonymous
/// volumes made are removed, so a refused create changes nothing stored.
pub fn take(
    store: &Store,
    events: &Addr<EventBus>,
    id: &str,
    planned: Vec<Planned>,
) -> Result<Vec<MountPoint>, Error> {
    for wanted in planned.iter().filter_map(|p| p.volume.as_ref()) {
        if let Some(name) = &wanted.name {
            berth_volumes::validate_name(name)?;
        }
        let driver = wanted
            .driver
            .as_deref()
            .unwrap_or(berth_volumes::LOCAL_DRIVER);
        if driver != berth_volumes::LOCAL_DRIVER {
            // Docker's text, but not its 404: the docker CLI answers a 404 to a create by
            // pulling the image and trying again.
            let unknown = berth_volumes::Error::UnknownDriver {
                name: wanted.name.clone().unwrap_or_default(),
                driver: driver.to_string(),
            };
            return Err(Error::invalid(unknown.to_string()));
        }
    }
    let mut made_anonymous = Vec::new();
    let taken = take_each(store, events, id, planned, &mut made_anonymous);
    if taken.is_err() {
        store.release(id);
        for name in made_anonymous {
            match store.remove(&name, true) {
                Ok(()) => publish(events, "destroy", &name),
                Err(err) => {
                    tracing::warn!("removing anonymous volume {name} of a failed create: {err}")
                }
            }
        }
    }
    taken
}

fn take_each(
    store: &Store,
    events: &Addr<EventBus>,
    id: &str,
    planned: Vec<Planned>,
    made_anonymous: &mut Vec<String>,
) -> Result<Vec<MountPoint>, Error> {
    let mut points = Vec::with_capacity(planned.len());
    for Planned { mut point, volume } in planned {
        if point.kind == MountKind::Volume {
            if let Some(wanted) = volume {
                let anonymous = wanted.name.is_none();
                let new = wanted.name.as_deref().is_none_or(|n| store.get(n).is_err());
                let made = store.create(CreateRequest {
                    name: wanted.name,
                    driver: wanted.driver,
                    labels: wanted.labels,
                    options: wanted.options,
                })?;
                if anonymous {
                    made_anonymous.push(made.name.clone());
                }
                if new {
                    publish(events, "create", &made.name);
                }
                point.name = made.name;
            }
            let data = store.acquire(&point.name, id)?;
            point.source = if point.subpath.is_empty() {
                data
            } else {
                let inside = data.join(&point.subpath);
                if !inside.exists() {
                    return Err(Error::invalid(format!(
                        "cannot access path {}: subpath {} does not exist in volume {}",
                        inside.display(),
                        point.subpath,
                        point.name
                    )));
                }
                inside
            };
        }
        points.push(point);
    }
    Ok(points)
}

/// The container `id` no longer exists (or its create was undone): its volumes are let go,
/// and its anonymous ones removed when `remove_anonymous` (`rm -v`, `--rm`). A volume
/// another container also uses stays.
pub fn release(
    store: &Store,
    events: &Addr<EventBus>,
    id: &str,
    points: &[MountPoint],
    remove_anonymous: bool,
) {
    store.release(id);
    if !remove_anonymous {
        return;
    }
    for point in points.iter().filter(|p| p.kind == MountKind::Volume) {
        let anonymous = store.get(&point.name).is_ok_and(|v| v.is_anonymous());
        if !anonymous {
            continue;
        }
        match store.remove(&point.name, true) {
            Ok(()) => publish(events, "destroy", &point.name),
            Err(berth_volumes::Error::InUse { .. }) => {}
            Err(err) => tracing::warn!("removing volume {}: {err}", point.name),
        }
    }
}

/// At daemon start: each container takes back the volumes its record names.
pub fn restore_users(store: &Store, records: &[(ContainerDir, ContainerRecord)]) {
    for (_, record) in records {
        for point in record
            .mount_points
            .iter()
            .filter(|p| p.kind == MountKind::Volume)
        {
            if let Err(err) = store.acquire(&point.name, &record.id) {
                tracing::warn!("container {}: volume {}: {err}", record.id, point.name);
            }
        }
    }
}

/// Copies the image's content at each volume's destination into the volume if it is empty,
/// as Docker does at a volume's first mount. Runs on a thread of its own that mounts the
/// container's file system read-only in a private mount namespace, chroots into it (so the
/// destination's symlinks resolve inside the container) and works from the volume's
/// directory, opened beforehand, as its working directory.
pub fn copy_up(record: &ContainerRecord, dir: &ContainerDir) -> Result<(), Error> {
    let mut layers = vec![dir.upper()];
    layers.extend(record.layers.iter().cloned());
    for point in &record.mount_points {
        if point.kind != MountKind::Volume || !point.copy_data || !point.subpath.is_empty() {
            continue;
        }
        // Nothing to copy, and no mount to pay for, when no layer has the path.
        let relative = point.destination.trim_start_matches('/');
        if !layers
            .iter()
            .any(|l| l.join(relative).symlink_metadata().is_ok())
        {
            continue;
        }
        let volume_dir = File::open(&point.source).map_err(|err| {
            Error::internal(format!("opening volume {}: {err}", point.source.display()))
        })?;
        let destination = point.destination.clone();
        let view = View::StoppedReadOnly {
            layers: layers.clone(),
            merged: dir.merged(),
        };
        let answer = rootfs_view::run_in(view, move || copy_in_view(&destination, &volume_dir))
            .blocking_recv()
            .map_err(|_| Error::internal("the copy-up thread stopped"))?
            .map_err(|err| Error::internal(err.to_string()))?;
        answer?;
    }
    Ok(())
}

fn copy_in_view(destination: &str, volume_dir: &File) -> Result<(), Error> {
    nix::unistd::fchdir(volume_dir)
        .map_err(|err| Error::internal(format!("entering the volume's directory: {err}")))?;
    // Inside the chroot: the path as the container would see it.
    let source = match std::fs::canonicalize(destination) {
        Ok(path) => path,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => {
            return Err(Error::internal(format!(
                "resolving {destination} in the image: {err}"
            )))
        }
    };
    berth_volumes::copy_up(&source, Path::new("."))
        .map(drop)
        .map_err(|err| Error::internal(err.to_string()))
}

/// A volume's event (`create`, `destroy`), as Docker publishes it: the volume's name as the
/// actor, its driver as an attribute.
pub fn publish(events: &Addr<EventBus>, action: &str, name: &str) {
    let event = crate::events::Event::new(crate::events::ObjectType::Volume, action, name)
        .with("driver", berth_volumes::LOCAL_DRIVER);
    events.do_send(crate::events::Publish(event));
}
