//! `-v` and `--mount` values → Binds, anonymous Volumes and Mounts, as the
//! docker client parses them.

use std::path::Path;

use bollard_stubs::models::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountTypeEnum,
    MountVolumeOptions,
};

use super::units::parse_ram;
use super::OptionsError;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Volume {
    Bind(String),
    Anonymous(String),
}

const VOLUME_MODES: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "shared",
    "slave",
    "private",
    "rshared",
    "rslave",
    "rprivate",
    "nocopy",
    "consistent",
    "cached",
    "delegated",
];

/// `-v HOST:CONTAINER[:MODE]` is a bind (relative `./` hosts are made
/// absolute); `-v NAME:CONTAINER` a named volume; `-v CONTAINER` an anonymous
/// volume.
pub(super) fn parse_volume(spec: &str, cwd: &Path) -> Result<Volume, OptionsError> {
    let error = |reason: &str| OptionsError::Volume {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let absolute = |p: &str| p.starts_with('/');
    match parts.as_slice() {
        [target] => {
            if !absolute(target) {
                return Err(error("the container path must be absolute"));
            }
            Ok(Volume::Anonymous((*target).to_owned()))
        }
        [source, target, rest @ ..] if rest.len() <= 1 => {
            if source.is_empty() {
                return Err(error("the host path is empty"));
            }
            if !absolute(target) {
                return Err(error("the container path must be absolute"));
            }
            if let Some(mode) = rest.first() {
                if let Some(bad) = mode.split(',').find(|m| !VOLUME_MODES.contains(m)) {
                    return Err(error(&format!("invalid mode: {bad}")));
                }
            }
            let source = if source.starts_with('.') {
                absolute_from(cwd, source)
            } else {
                (*source).to_owned()
            };
            let mut bind = format!("{source}:{target}");
            if let Some(mode) = rest.first() {
                bind.push(':');
                bind.push_str(mode);
            }
            Ok(Volume::Bind(bind))
        }
        _ => Err(error("too many colons")),
    }
}

/// `cwd` joined with the relative `path`, cleaned lexically (`.` dropped,
/// `..` climbing) as Go's `filepath.Abs` does.
fn absolute_from(cwd: &Path, path: &str) -> String {
    use std::path::Component;
    let mut parts: Vec<String> = Vec::new();
    for component in cwd.join(path).components() {
        match component {
            Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// Splits a `--mount` value the way a CSV record splits: commas separate
/// fields, double quotes protect commas inside a field.
pub(super) fn csv_fields(spec: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    fields.push(current);
    fields
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

pub(super) fn parse_mount(spec: &str) -> Result<Mount, OptionsError> {
    let error = |reason: String| OptionsError::Mount {
        spec: spec.to_owned(),
        reason,
    };
    if spec.is_empty() {
        return Err(error("value is empty".into()));
    }
    let mut mount = Mount::default();
    let mut typ = MountTypeEnum::VOLUME;
    let mut bind = MountBindOptions::default();
    let mut tmpfs = MountTmpfsOptions::default();
    let mut volume = MountVolumeOptions::default();
    let (mut uses_bind, mut uses_tmpfs, mut uses_volume) = (false, false, false);
    for field in csv_fields(spec) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), Some(v.trim().to_owned())),
            None => (field.trim().to_lowercase(), None),
        };
        let required = |value: Option<String>| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| error(format!("invalid field '{field}' must be a key=value pair")))
        };
        match key.as_str() {
            "type" => {
                typ = match required(value)?.as_str() {
                    "bind" => MountTypeEnum::BIND,
                    "tmpfs" => MountTypeEnum::TMPFS,
                    "volume" => MountTypeEnum::VOLUME,
                    other => {
                        return Err(error(format!(
                        "unsupported mount type '{other}' (berth supports bind, tmpfs and volume)"
                    )))
                    }
                }
            }
            "source" | "src" => mount.source = Some(required(value)?),
            "target" | "dst" | "destination" => mount.target = Some(required(value)?),
            "readonly" | "ro" => {
                let flag = match value {
                    None => true,
                    Some(v) => parse_bool(&v)
                        .ok_or_else(|| error(format!("invalid value for {key}: {v}")))?,
                };
                mount.read_only = Some(flag);
            }
            "consistency" => mount.consistency = Some(required(value)?),
            "bind-propagation" => {
                uses_bind = true;
                let v = required(value)?;
                bind.propagation = Some(match v.as_str() {
                    "private" => MountBindOptionsPropagationEnum::PRIVATE,
                    "rprivate" => MountBindOptionsPropagationEnum::RPRIVATE,
                    "shared" => MountBindOptionsPropagationEnum::SHARED,
                    "rshared" => MountBindOptionsPropagationEnum::RSHARED,
                    "slave" => MountBindOptionsPropagationEnum::SLAVE,
                    "rslave" => MountBindOptionsPropagationEnum::RSLAVE,
                    _ => return Err(error(format!("invalid value for {key}: {v}"))),
                });
            }
            "bind-create-src" => {
                uses_bind = true;
                bind.create_mountpoint = Some(match value {
                    None => true,
                    Some(v) => parse_bool(&v)
                        .ok_or_else(|| error(format!("invalid value for {key}: {v}")))?,
                });
            }
            "tmpfs-size" => {
                uses_tmpfs = true;
                let v = required(value)?;
                tmpfs.size_bytes = Some(
                    parse_ram(&v).map_err(|_| error(format!("invalid value for {key}: {v}")))?,
                );
            }
            "tmpfs-mode" => {
                uses_tmpfs = true;
                let v = required(value)?;
                tmpfs.mode = Some(
                    i64::from_str_radix(&v, 8)
                        .map_err(|_| error(format!("invalid value for {key}: {v}")))?,
                );
            }
            "volume-nocopy" => {
                uses_volume = true;
                volume.no_copy = Some(match value {
                    None => true,
                    Some(v) => parse_bool(&v)
                        .ok_or_else(|| error(format!("invalid value for {key}: {v}")))?,
                });
            }
            other
                if other.starts_with("bind-")
                    || other.starts_with("volume-")
                    || other.starts_with("image-")
                    || other.starts_with("tmpfs-") =>
            {
                return Err(error(format!(
                    "option '{other}' is not supported by berth yet"
                )))
            }
            other => return Err(error(format!("unknown option '{other}' in '{field}'"))),
        }
    }
    if mount.target.is_none() {
        return Err(error("target is required".into()));
    }
    let type_name = match typ {
        MountTypeEnum::BIND => "bind",
        MountTypeEnum::TMPFS => "tmpfs",
        _ => "volume",
    };
    let mixed = |prefix: &str| {
        error(format!(
            "cannot mix '{prefix}-*' options with mount type '{type_name}'"
        ))
    };
    if uses_bind && typ != MountTypeEnum::BIND {
        return Err(mixed("bind"));
    }
    if uses_tmpfs && typ != MountTypeEnum::TMPFS {
        return Err(mixed("tmpfs"));
    }
    if uses_volume && typ != MountTypeEnum::VOLUME {
        return Err(mixed("volume"));
    }
    if typ == MountTypeEnum::BIND && mount.source.is_none() {
        return Err(error("source is required for a bind mount".into()));
    }
    mount.bind_options = uses_bind.then_some(bind);
    mount.tmpfs_options = uses_tmpfs.then_some(tmpfs);
    mount.volume_options = uses_volume.then_some(volume);
    mount.typ = Some(typ);
    Ok(mount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_bind_sources_become_clean_absolute_paths() {
        assert_eq!(
            absolute_from(Path::new("/work/dir"), "./a/../b"),
            "/work/dir/b"
        );
        assert_eq!(absolute_from(Path::new("/work/dir"), "../x"), "/work/x");
        assert_eq!(absolute_from(Path::new("/"), "."), "/");
    }
}
