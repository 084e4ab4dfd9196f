//! `remote=` of `POST /build`: a URL to a tar (or a Dockerfile) fetched over HTTP, or a
//! git repository cloned with the host's `git`, as dockerd reads them.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_builder::context::{resolve_in, Confinement};

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("unable to prepare context: remoteURL ({0}) could not be recognized as URL")]
    Unrecognized(String),
    #[error("unable to prepare context: error downloading remote context {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("unable to prepare context: git is not installed on the daemon's host, so the git context {0} cannot be cloned")]
    NoGit(String),
    #[error(
        "unable to prepare context: unable to 'git clone' to temporary context directory: {0}"
    )]
    Clone(String),
    #[error("unable to prepare context: {subdir} is not a directory of the repository {url}")]
    Subdir { url: String, subdir: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RemoteError {
    pub fn kind(&self) -> crate::error::ErrorKind {
        match self {
            RemoteError::Io { .. } => crate::error::ErrorKind::Internal,
            _ => crate::error::ErrorKind::InvalidArgument,
        }
    }
}

/// What a `remote=` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// A tar (possibly compressed) or a Dockerfile, over http or https.
    Http(String),
    /// A repository, with the `#ref:subdir` fragment split off.
    Git {
        url: String,
        reference: Option<String>,
        subdir: Option<String>,
    },
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

impl Remote {
    /// Docker's rules (moby's `urlutil`): `git://`, `git@`, `github.com/`, or an http(s) URL
    /// whose path ends in `.git` (before a fragment) is a repository; another http(s) URL
    /// is a file; anything else is refused.
    pub fn parse(remote: &str) -> Result<Remote, RemoteError> {
        let (base, fragment) = remote.split_once('#').unwrap_or((remote, ""));
        let git = ["git://", "git@", "github.com/"]
            .iter()
            .any(|p| remote.starts_with(p))
            || (is_http(remote) && base.ends_with(".git"));
        if git {
            let url = match base.strip_prefix("github.com/") {
                Some(_) => format!("https://{base}"),
                None => base.to_string(),
            };
            let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
            let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
            return Ok(Remote::Git {
                url,
                reference: some(reference),
                subdir: some(subdir),
            });
        }
        if is_http(remote) && url::Url::parse(remote).is_ok() {
            return Ok(Remote::Http(remote.to_string()));
        }
        Err(RemoteError::Unrecognized(remote.to_string()))
    }
}

/// Downloads `url` to `dest`.
pub async fn fetch(url: &str, dest: &Path) -> Result<(), RemoteError> {
    use tokio::io::AsyncWriteExt;
    let failed = |reason: String| RemoteError::Fetch {
        url: url.to_string(),
        reason,
    };
    let mut response = reqwest::get(url).await.map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!(
            "failed to GET {url} with status {}",
            response.status()
        )));
    }
    let io = |op| {
        move |source| RemoteError::Io {
            op,
            path: dest.to_path_buf(),
            source,
        }
    };
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(io("creating"))?;
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        file.write_all(&chunk).await.map_err(io("writing"))?;
    }
    file.flush().await.map_err(io("writing"))
}

/// Clones the repository into `dest` (which must not exist) at `reference` (its default
/// branch if none) and returns the context directory in it (`subdir`, confined to the
/// clone). Blocking.
pub fn clone(
    url: &str,
    reference: Option<&str>,
    subdir: Option<&str>,
    dest: &Path,
) -> Result<PathBuf, RemoteError> {
    std::fs::create_dir_all(dest).map_err(|source| RemoteError::Io {
        op: "creating",
        path: dest.to_path_buf(),
        source,
    })?;
    let git = |args: &[&str]| -> Result<(), RemoteError> {
        let output = Command::new("git")
            .args(args)
            .current_dir(dest)
            // No prompt for credentials (it would hang the build), and only the transports
            // a remote context can mean: never `ext::` or local files.
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ALLOW_PROTOCOL", "http:https:git:ssh")
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => RemoteError::NoGit(url.to_string()),
                _ => RemoteError::Clone(e.to_string()),
            })?;
        if output.status.success() {
            return Ok(());
        }
        Err(RemoteError::Clone(format!(
            "git {}: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    };
    git(&["init", "--quiet"])?;
    git(&["remote", "add", "origin", "--", url])?;
    let wanted = reference.unwrap_or("HEAD");
    // A shallow fetch first, as dockerd does; a server that cannot (git's "dumb" HTTP) gets
    // a whole one.
    git(&["fetch", "--quiet", "--depth", "1", "origin", "--", wanted])
        .or_else(|_| git(&["fetch", "--quiet", "origin", "--", wanted]))?;
    git(&["checkout", "--quiet", "FETCH_HEAD"])?;
    let Some(subdir) = subdir else {
        return Ok(dest.to_path_buf());
    };
    let bad = || RemoteError::Subdir {
        url: url.to_string(),
        subdir: subdir.to_string(),
    };
    let path = resolve_in(dest, subdir, true, Confinement::Refuse).map_err(|_| bad())?;
    if !path.is_dir() {
        return Err(bad());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_are_told_apart_as_docker_does() {
        assert_eq!(
            Remote::parse("http://127.0.0.1:1/ctx.tar").unwrap(),
            Remote::Http("http://127.0.0.1:1/ctx.tar".into())
        );
        assert_eq!(
            Remote::parse("https://host/repo.git#main:app").unwrap(),
            Remote::Git {
                url: "https://host/repo.git".into(),
                reference: Some("main".into()),
                subdir: Some("app".into())
            }
        );
        assert_eq!(
            Remote::parse("github.com/org/repo").unwrap(),
            Remote::Git {
                url: "https://github.com/org/repo".into(),
                reference: None,
                subdir: None
            }
        );
        assert!(matches!(
            Remote::parse("git@host:org/repo").unwrap(),
            Remote::Git { .. }
        ));
        for bad in ["ftp://host/x.tar", "/etc/passwd", "http://", "-x"] {
            let err = Remote::parse(bad).unwrap_err();
            assert_eq!(
                err.kind(),
                crate::error::ErrorKind::InvalidArgument,
                "{bad}"
            );
        }
    }
}
