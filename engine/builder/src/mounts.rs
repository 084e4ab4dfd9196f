//! BuildKit's `RUN --mount=…` on berth's builder: `type=cache` (a directory kept between
//! builds), `type=tmpfs`, and `type=bind` (read-only by default, from the context or from
//! another stage or image). `type=secret` and `type=ssh` need a BuildKit session, which the
//! classic build API does not have.

use std::path::PathBuf;

use crate::ErrorKind;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MountError {
    #[error("invalid mount {spec:?}: {reason}")]
    Invalid { spec: String, reason: String },
    #[error("RUN --mount=type={0}: not supported by berth yet (the classic build API carries no BuildKit session)")]
    Unsupported(String),
}

impl MountError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            MountError::Invalid { .. } => ErrorKind::InvalidArgument,
            MountError::Unsupported(_) => ErrorKind::NotImplemented,
        }
    }
}

/// How concurrent builds share one cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    /// One RUN at a time uses it.
    Locked,
}

/// A `--mount` as written, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    Cache {
        target: String,
        id: String,
        sharing: Sharing,
        readonly: bool,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    Tmpfs {
        target: String,
        size: Option<String>,
    },
    Bind {
        target: String,
        /// A path in the context or in `from`.
        source: String,
        from: Option<String>,
        readonly: bool,
    },
}

/// A mount a RUN container gets, its source resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    /// The cache directory `id` (the executor decides where it lives).
    Cache {
        id: String,
        target: String,
        sharing: Sharing,
        readonly: bool,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    Tmpfs {
        target: String,
        options: String,
    },
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
    },
}

fn truthy(value: Option<&str>) -> bool {
    matches!(value, None | Some("true" | "1"))
}

/// Parses one `--mount` value (`type=cache,target=/x,id=y`).
pub fn parse(spec: &str) -> Result<MountSpec, MountError> {
    let invalid = |reason: &str| MountError::Invalid {
        spec: spec.to_string(),
        reason: reason.to_string(),
    };
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        fields.push((key, value));
    }
    let get = |names: &[&str]| {
        fields
            .iter()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.clone())
    };
    let target = get(&["target", "dst", "destination"])
        .flatten()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("a target is required"))?;
    let number = |name: &str, default: u32, radix: u32| -> Result<u32, MountError> {
        match get(&[name]).flatten() {
            None => Ok(default),
            Some(v) => u32::from_str_radix(&v, radix).map_err(|_| invalid(&format!("bad {name}"))),
        }
    };
    let readonly = match (get(&["readonly", "ro"]), get(&["rw", "readwrite"])) {
        (Some(v), _) => truthy(v.as_deref()),
        (None, Some(v)) => !truthy(v.as_deref()),
        (None, None) => false,
    };
    let kind = get(&["type"]).flatten().unwrap_or_else(|| "bind".into());
    match kind.as_str() {
        "cache" => Ok(MountSpec::Cache {
            id: get(&["id"]).flatten().unwrap_or_else(|| target.clone()),
            sharing: match get(&["sharing"]).flatten().as_deref() {
                None | Some("shared") | Some("private") => Sharing::Shared,
                Some("locked") => Sharing::Locked,
                Some(_) => return Err(invalid("sharing is shared, private or locked")),
            },
            readonly,
            uid: number("uid", 0, 10)?,
            gid: number("gid", 0, 10)?,
            mode: number("mode", 0o755, 8)?,
            target,
        }),
        "tmpfs" => Ok(MountSpec::Tmpfs {
            size: get(&["size"]).flatten(),
            target,
        }),
        "bind" => Ok(MountSpec::Bind {
            source: get(&["source", "src"]).flatten().unwrap_or_default(),
            from: get(&["from"]).flatten(),
            // BuildKit's bind mounts are read-only unless `rw` is given.
            readonly: get(&["rw", "readwrite"]).is_none_or(|v| !truthy(v.as_deref())),
            target,
        }),
        "secret" | "ssh" => Err(MountError::Unsupported(kind)),
        other => Err(invalid(&format!("unknown mount type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mounts_with_their_options() {
        assert_eq!(
            parse("type=cache,target=/root/.cache").unwrap(),
            MountSpec::Cache {
                target: "/root/.cache".into(),
                id: "/root/.cache".into(),
                sharing: Sharing::Shared,
                readonly: false,
                uid: 0,
                gid: 0,
                mode: 0o755,
            }
        );
        let MountSpec::Cache {
            id,
            sharing,
            uid,
            mode,
            ..
        } = parse("type=cache,dst=/c,id=go,sharing=locked,uid=1000,mode=0700").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (id.as_str(), sharing, uid, mode),
            ("go", Sharing::Locked, 1000, 0o700)
        );
    }

    #[test]
    fn bind_and_tmpfs() {
        assert_eq!(
            parse("target=/src,source=app,from=build").unwrap(),
            MountSpec::Bind {
                target: "/src".into(),
                source: "app".into(),
                from: Some("build".into()),
                readonly: true,
            }
        );
        assert!(matches!(
            parse("type=bind,target=/src,rw").unwrap(),
            MountSpec::Bind {
                readonly: false,
                ..
            }
        ));
        assert_eq!(
            parse("type=tmpfs,target=/t,size=1m").unwrap(),
            MountSpec::Tmpfs {
                target: "/t".into(),
                size: Some("1m".into())
            }
        );
    }

    #[test]
    fn bad_and_unsupported_mounts() {
        assert!(matches!(
            parse("type=cache"),
            Err(MountError::Invalid { .. })
        ));
        assert!(matches!(
            parse("type=weird,target=/x"),
            Err(MountError::Invalid { .. })
        ));
        assert_eq!(
            parse("type=secret,id=token,target=/run/secrets/token")
                .unwrap_err()
                .kind(),
            ErrorKind::NotImplemented
        );
        assert!(parse("type=cache,target=/x,uid=abc").is_err());
    }
}
