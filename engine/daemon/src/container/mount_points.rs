//! Which binds and volumes a container mounts, decided from its create request before
//! anything is made: `-v`/`Binds`, `--mount`, `Config.Volumes` (the image's `VOLUME`s
//! merged in) and `--volumes-from`, with Docker's precedence and Docker's messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bollard_stubs::models::{HostConfig, Mount, MountTypeEnum};
use serde::{Deserialize, Serialize};

use super::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
}

/// One bind or volume of a container, as its record keeps it and `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// The volume's name (empty for a bind, and for an anonymous volume not made yet).
    pub name: String,
    /// The host directory mounted: the bind's source, or the volume's `_data`.
    pub source: PathBuf,
    pub destination: String,
    pub rw: bool,
    /// The mode as the client wrote it (`ro`, `z`, `nocopy`…).
    pub mode: String,
    /// `rprivate` for binds unless asked otherwise, empty for volumes, as Docker shows them.
    pub propagation: String,
    /// Whether the image's content at the destination is copied into an empty volume.
    pub copy_data: bool,
    /// The directory inside the volume that is mounted (`volume-subpath`).
    #[serde(default)]
    pub subpath: String,
}

/// A volume a mount point needs: its name (`None` for an anonymous one) and what it is
/// created with if it does not exist yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeWanted {
    pub name: Option<String>,
    pub driver: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// A mount point decided, with the volume it needs, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub point: MountPoint,
    pub volume: Option<VolumeWanted>,
}

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

fn mount_config(kind: &str, reason: impl std::fmt::Display) -> String {
    format!("invalid mount config for type \"{kind}\": {reason}")
}

fn check_target(target: &str) -> Result<(), String> {
    let cleaned = clean(target);
    if cleaned == "/" {
        return Err("invalid specification: destination can't be '/'".to_string());
    }
    if !target.starts_with('/') {
        return Err(format!(
            "invalid mount path: '{target}' mount path must be absolute"
        ));
    }
    Ok(())
}

/// `path.Clean` for absolute container paths: no `.`, no `..`, no doubled or trailing `/`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "slave", "rslave", "shared", "rshared",
];

/// Docker's valid `-v` modes: at most one of each family.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0; 5];
    for option in mode.split(',') {
        let family = match option {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            o if PROPAGATIONS.contains(&o) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[family] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

/// One `-v` / `Binds` entry: `[SOURCE:]TARGET[:MODE]`, a host path or a volume name.
pub fn parse_bind(raw: &str, volume_driver: Option<&str>) -> Result<Planned, Error> {
    let parts: Vec<&str> = raw.splitn(4, ':').collect();
    if parts[0].is_empty() {
        return Err(Error::invalid(invalid_spec(raw)));
    }
    let (source, target, mode) = match parts.as_slice() {
        [target] => ("", *target, ""),
        [_, second] if valid_mode(second) => return Err(Error::invalid(invalid_spec(raw))),
        [source, target] => (*source, *target, ""),
        [source, target, mode] => (*source, *target, *mode),
        _ => return Err(Error::invalid(invalid_spec(raw))),
    };
    if !valid_mode(mode) {
        return Err(Error::invalid(format!(
            "{}: invalid mode: {mode}",
            invalid_spec(raw)
        )));
    }
    let options: Vec<&str> = mode.split(',').collect();
    let rw = !options.contains(&"ro");
    let is_bind = source.starts_with('/');
    let kind = if is_bind { "bind" } else { "volume" };
    check_target(target).map_err(|reason| {
        Error::invalid(format!(
            "{}: {}",
            invalid_spec(raw),
            mount_config(kind, reason)
        ))
    })?;
    if is_bind {
        let propagation = options
            .iter()
            .find(|o| PROPAGATIONS.contains(o))
            .copied()
            .unwrap_or("rprivate");
        return Ok(Planned {
            point: MountPoint {
                kind: MountKind::Bind,
                name: String::new(),
                source: PathBuf::from(clean(source)),
                destination: clean(target),
                rw,
                mode: mode.to_string(),
                propagation: propagation.to_string(),
                copy_data: false,
                subpath: String::new(),
            },
            volume: None,
        });
    }
    if source.is_empty() && !rw {
        return Err(Error::invalid(format!(
            "{}: {}",
            invalid_spec(raw),
            mount_config(
                "volume",
                "must not set ReadOnly mode when using anonymous volumes"
            )
        )));
    }
    let name = (!source.is_empty()).then(|| source.to_string());
    Ok(volume_point(
        name,
        clean(target),
        rw,
        mode.to_string(),
        !options.contains(&"nocopy"),
        String::new(),
        VolumeWanted {
            driver: volume_driver.map(str::to_string),
            ..Default::default()
        },
    ))
}

fn volume_point(
    name: Option<String>,
    destination: String,
    rw: bool,
    mode: String,
    copy_data: bool,
    subpath: String,
    mut wanted: VolumeWanted,
) -> Planned {
    wanted.name = name.clone();
    Planned {
        point: MountPoint {
            kind: MountKind::Volume,
            name: name.unwrap_or_default(),
            source: PathBuf::new(),
            destination,
            rw,
            mode,
            propagation: String::new(),
            copy_data,
            subpath,
        },
        volume: Some(wanted),
    }
}

/// One `--mount` of type bind or volume (tmpfs mounts are the runtime spec's alone).
pub fn parse_mount(mount: &Mount) -> Result<Option<Planned>, Error> {
    let kind = match mount.typ {
        Some(MountTypeEnum::BIND) => "bind",
        Some(MountTypeEnum::VOLUME) => "volume",
        Some(MountTypeEnum::TMPFS) => return Ok(None),
        other => {
            return Err(Error::unsupported(&format!(
                "mounts of type {}",
                other.map(|t| t.to_string()).unwrap_or_default()
            )))
        }
    };
    let fail = |reason: String| Error::invalid(mount_config(kind, reason));
    let target = mount.target.clone().unwrap_or_default();
    if target.is_empty() {
        return Err(fail("field Target must not be empty".to_string()));
    }
    check_target(&target).map_err(fail)?;
    let source = mount.source.clone().unwrap_or_default();
    let rw = mount.read_only != Some(true);
    if kind == "bind" {
        if source.is_empty() {
            return Err(fail("field Source must not be empty".to_string()));
        }
        if mount.volume_options.is_some() {
            return Err(fail(
                "field VolumeOptions must not be specified".to_string(),
            ));
        }
        if !source.starts_with('/') {
            return Err(fail(format!(
                "invalid mount path: '{source}' mount path must be absolute"
            )));
        }
        if !Path::new(&source).exists() {
            return Err(fail(format!("bind source path does not exist: {source}")));
        }
        let propagation = mount
            .bind_options
            .as_ref()
            .and_then(|b| b.propagation)
            .map(|p| p.to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "rprivate".to_string());
        return Ok(Some(Planned {
            point: MountPoint {
                kind: MountKind::Bind,
                name: String::new(),
                source: PathBuf::from(clean(&source)),
                destination: clean(&target),
                rw,
                mode: String::new(),
                propagation,
                copy_data: false,
                subpath: String::new(),
            },
            volume: None,
        }));
    }
    if mount.bind_options.is_some() {
        return Err(fail("field BindOptions must not be specified".to_string()));
    }
    let options = mount.volume_options.clone().unwrap_or_default();
    let subpath = options.subpath.clone().unwrap_or_default();
    if source.is_empty() {
        if !subpath.is_empty() {
            return Err(fail(
                "must not set Subpath when using anonymous volumes".to_string(),
            ));
        }
        if !rw {
            return Err(fail(
                "must not set ReadOnly mode when using anonymous volumes".to_string(),
            ));
        }
    }
    if !subpath.is_empty() && (subpath.starts_with('/') || subpath.split('/').any(|p| p == "..")) {
        return Err(fail(
            "subpath must be a relative path within the volume".to_string(),
        ));
    }
    let driver = options.driver_config.clone().unwrap_or_default();
    let wanted = VolumeWanted {
        name: None,
        driver: driver.name.filter(|n| !n.is_empty()),
        labels: options.labels.unwrap_or_default().into_iter().collect(),
        options: driver.options.unwrap_or_default().into_iter().collect(),
    };
    Ok(Some(volume_point(
        (!source.is_empty()).then_some(source),
        clean(&target),
        rw,
        String::new(),
        options.no_copy != Some(true),
        subpath,
        wanted,
    )))
}

/// `--volumes-from CONTAINER[:ro|rw]`: the container and the mode.
pub fn parse_volumes_from(spec: &str) -> Result<(String, String), Error> {
    if spec.is_empty() {
        return Err(Error::invalid(
            "volumes-from specification cannot be an empty string",
        ));
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    let mode = if mode.is_empty() { "rw" } else { mode };
    let options: Vec<&str> = mode.split(',').collect();
    if !valid_mode(mode)
        || options
            .iter()
            .any(|o| PROPAGATIONS.contains(o) || *o == "nocopy")
    {
        return Err(Error::invalid(format!("invalid mode: {mode}")));
    }
    Ok((id.to_string(), mode.to_string()))
}

/// Every mount point of a container, by Docker's precedence: `Config.Volumes` first, then
/// the volumes of `--volumes-from` containers, then `Binds`, then `Mounts`; a later one on
/// the same destination replaces an earlier one. `from` holds each `--volumes-from`
/// container's mount points with the mode asked for it.
pub fn plan(
    host: &HostConfig,
    config_volumes: &[String],
    from: &[(Vec<MountPoint>, String)],
) -> Result<Vec<Planned>, Error> {
    let mut planned: BTreeMap<String, Planned> = BTreeMap::new();
    let driver = host.volume_driver.as_deref().filter(|d| !d.is_empty());
    for path in config_volumes {
        let point = parse_bind(path, driver)?;
        planned.insert(point.point.destination.clone(), point);
    }
    for (points, mode) in from {
        let ro = mode.split(',').any(|o| o == "ro");
        for point in points {
            let mut point = point.clone();
            point.rw = point.rw && !ro;
            point.copy_data = false;
            planned.insert(
                point.destination.clone(),
                Planned {
                    point,
                    volume: None,
                },
            );
        }
    }
    let mut explicit = std::collections::BTreeSet::new();
    for raw in host.binds.iter().flatten() {
        let point = parse_bind(raw, driver)?;
        if !explicit.insert(point.point.destination.clone()) {
            return Err(Error::invalid(format!(
                "Duplicate mount point: {}",
                point.point.destination
            )));
        }
        planned.insert(point.point.destination.clone(), point);
    }
    for mount in host.mounts.iter().flatten() {
        if let Some(point) = parse_mount(mount)? {
            if !explicit.insert(point.point.destination.clone()) {
                return Err(Error::invalid(format!(
                    "Duplicate mount point: {}",
                    point.point.destination
                )));
            }
            planned.insert(point.point.destination.clone(), point);
        }
    }
    Ok(planned.into_values().collect())
}

#[cfg(test)]
#[path = "mount_points_tests.rs"]
mod tests;
