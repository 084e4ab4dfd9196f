//! BuildKit's `RUN --mount=…` on berth's builder: `type=cache` (a directory kept between
//! builds), `type=tmpfs`, `type=bind` (read-only by default, from the context or from
//! another stage or image) and `type=secret` (a file of the build's secrets, given by the
//! client beside the context, that exists for that RUN only: neither its content nor a
//! hash of it enters the layer, the cache key or the history). `type=ssh` needs a BuildKit
//! session, which the classic build API does not have.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::build::{BuildError, Shared};
use crate::config::StageState;
use crate::context::{self, Context};
use crate::copy;
use crate::executor::Progress;
use crate::steps::{scratch_dir, with_rootfs};
use crate::subst;
use crate::ErrorKind;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MountError {
    #[error("invalid mount {spec:?}: {reason}")]
    Invalid { spec: String, reason: String },
    #[error("RUN --mount=type={0}: not supported by berth yet (the classic build API carries no BuildKit session)")]
    Unsupported(String),
    #[error("secret {0}: not found (give it with berth build --secret id={0},src=PATH)")]
    SecretMissing(String),
}

impl MountError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            MountError::Invalid { .. } | MountError::SecretMissing(_) => ErrorKind::InvalidArgument,
            MountError::Unsupported(_) => ErrorKind::NotImplemented,
        }
    }
}

/// A secret's bytes, never shown by `Debug` (a spec may be logged).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(pub Vec<u8>);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<secret of {} bytes>", self.0.len())
    }
}

/// The build's secrets by ID, as the client sent them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub BTreeMap<String, SecretValue>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
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
    Secret {
        id: String,
        target: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
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
    /// A read-only file of `content` at `target`, in memory only.
    Secret {
        target: String,
        content: SecretValue,
        mode: u32,
        uid: u32,
        gid: u32,
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
    let kind = get(&["type"]).flatten().unwrap_or_else(|| "bind".into());
    let given_target = get(&["target", "dst", "destination"])
        .flatten()
        .filter(|t| !t.is_empty());
    if kind == "secret" {
        return secret(&get, given_target, &invalid);
    }
    let target = given_target.ok_or_else(|| invalid("a target is required"))?;
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
        "ssh" => Err(MountError::Unsupported(kind)),
        other => Err(invalid(&format!("unknown mount type {other:?}"))),
    }
}

/// `type=secret`: the ID defaults to the target's file name, the target to
/// `/run/secrets/<id>`, the file is 0400 root's unless `mode`, `uid`, `gid` say otherwise.
fn secret(
    get: &dyn Fn(&[&str]) -> Option<Option<String>>,
    target: Option<String>,
    invalid: &dyn Fn(&str) -> MountError,
) -> Result<MountSpec, MountError> {
    let number = |name: &str, default: u32, radix: u32| -> Result<u32, MountError> {
        match get(&[name]).flatten() {
            None => Ok(default),
            Some(v) => u32::from_str_radix(&v, radix).map_err(|_| invalid(&format!("bad {name}"))),
        }
    };
    if get(&["env"]).is_some() {
        return Err(invalid(
            "env: secrets as environment variables are not supported by berth yet",
        ));
    }
    let id = get(&["id"])
        .flatten()
        .filter(|id| !id.is_empty())
        .or_else(|| {
            target
                .as_deref()
                .and_then(|t| t.rsplit('/').find(|s| !s.is_empty()))
                .map(str::to_string)
        })
        .ok_or_else(|| invalid("a secret needs an id or a target"))?;
    let target = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
    if !target.starts_with('/') {
        return Err(invalid("a secret's target must be an absolute path"));
    }
    Ok(MountSpec::Secret {
        required: get(&["required"]).is_some_and(|v| truthy(v.as_deref())),
        mode: number("mode", 0o400, 8)?,
        uid: number("uid", 0, 10)?,
        gid: number("gid", 0, 10)?,
        id,
        target,
    })
}

/// The RUN's mounts with their sources, and what of them decides the step's result (a
/// bind's content; a cache's or a tmpfs's only its place).
pub(crate) fn resolve(
    shared: &Shared<'_>,
    stage: usize,
    state: &StageState,
    line: usize,
    specs: &[MountSpec],
    holding: &mut Vec<tempfile::TempDir>,
    progress: &dyn Progress,
) -> Result<(Vec<RunMount>, String), BuildError> {
    let escape = shared.dockerfile.escape;
    let word = |w: &str| {
        subst::process_word(w, &state.vars(), escape)
            .map_err(|source| BuildError::Subst { line, source })
    };
    let mut hasher = blake3::Hasher::new();
    let mut resolved = Vec::new();
    for spec in specs {
        // A secret's spec is in the key, never its content.
        hasher.update(format!("{spec:?}").as_bytes());
        resolved.push(match spec {
            MountSpec::Secret {
                id,
                target,
                required,
                mode,
                uid,
                gid,
            } => match shared.options.secrets.0.get(id) {
                Some(content) => RunMount::Secret {
                    target: target.clone(),
                    content: content.clone(),
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                },
                // BuildKit skips an optional secret the client did not give.
                None if !required => continue,
                None => {
                    return Err(BuildError::Mount {
                        line,
                        source: MountError::SecretMissing(id.clone()),
                    })
                }
            },
            MountSpec::Cache {
                target,
                id,
                sharing,
                readonly,
                uid,
                gid,
                mode,
            } => RunMount::Cache {
                id: id.clone(),
                target: target.clone(),
                sharing: *sharing,
                readonly: *readonly,
                uid: *uid,
                gid: *gid,
                mode: *mode,
            },
            MountSpec::Tmpfs { target, size } => RunMount::Tmpfs {
                target: target.clone(),
                options: size
                    .as_ref()
                    .map(|s| format!("size={s}"))
                    .unwrap_or_default(),
            },
            MountSpec::Bind {
                target,
                source,
                from,
                readonly,
            } => {
                let source = word(source)?;
                let pattern = if source.is_empty() {
                    ".".to_string()
                } else {
                    source
                };
                let held = scratch_dir(shared)?;
                let copy = held.path().join("source");
                let what = "RUN --mount";
                let path = match from.as_deref().map(word).transpose()? {
                    None => {
                        let found = shared
                            .builder
                            .context
                            .sources(&pattern)
                            .map_err(|source| BuildError::Context { what, source })?;
                        let path = found[0].path.clone();
                        let context = shared.builder.context;
                        context
                            .hash(&mut hasher, &path)
                            .map_err(|source| BuildError::Context { what, source })?;
                        // The RUN sees the files themselves: a streamed context is
                        // extracted for it (once per build).
                        context
                            .materialize()
                            .map_err(|source| BuildError::Context { what, source })?;
                        if *readonly {
                            path
                        } else {
                            // Writes go to a copy: the context stays as the client sent it.
                            copy::copy_out(&path, &copy)
                                .map_err(|source| BuildError::Copy { what, source })?;
                            copy.clone()
                        }
                    }
                    Some(reference) => {
                        let image = match shared.stage_image(stage, &reference) {
                            Some(image) => image,
                            None => Some(
                                shared
                                    .builder
                                    .executor
                                    .base_image(&reference, false, progress)?
                                    .id,
                            ),
                        };
                        hasher.update(format!("{image:?}").as_bytes());
                        with_rootfs(shared, image.as_deref(), |root| {
                            let root = root.ok_or_else(|| BuildError::Context {
                                what,
                                source: context::ContextError::NotFound(pattern.clone()),
                            })?;
                            let found = Context::rootfs(root)
                                .sources(&pattern)
                                .map_err(|source| BuildError::Context { what, source })?;
                            copy::copy_out(&found[0].path, &copy)
                                .map_err(|source| BuildError::Copy { what, source })
                        })?;
                        copy.clone()
                    }
                };
                holding.push(held);
                RunMount::Bind {
                    source: path,
                    target: target.clone(),
                    readonly: *readonly,
                }
            }
        });
    }
    Ok((resolved, hasher.finalize().to_hex().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_mounts_default_as_buildkits() {
        assert_eq!(
            parse("type=secret,id=token").unwrap(),
            MountSpec::Secret {
                id: "token".into(),
                target: "/run/secrets/token".into(),
                required: false,
                mode: 0o400,
                uid: 0,
                gid: 0,
            }
        );
        assert_eq!(
            parse("type=secret,target=/etc/app/key,required,mode=0440,uid=1,gid=2").unwrap(),
            MountSpec::Secret {
                id: "key".into(),
                target: "/etc/app/key".into(),
                required: true,
                mode: 0o440,
                uid: 1,
                gid: 2,
            }
        );
        assert!(parse("type=secret").is_err());
        assert!(parse("type=secret,id=a,target=rel").is_err());
        assert!(parse("type=secret,id=a,env=A").is_err());
        let secrets = Secrets([("a".to_string(), SecretValue(b"hunter2".to_vec()))].into());
        assert_eq!(format!("{secrets:?}"), r#"{"a"}"#);
        assert!(!format!("{:?}", secrets.0["a"]).contains("hunter2"));
    }

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
            parse("type=ssh,target=/run/ssh").unwrap_err().kind(),
            ErrorKind::NotImplemented
        );
        assert!(parse("type=cache,target=/x,uid=abc").is_err());
    }
}
