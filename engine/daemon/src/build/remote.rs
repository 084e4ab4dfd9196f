//! `remote=` of `POST /build`: a URL to a tar (or a Dockerfile) fetched over HTTP, or a
//! git repository cloned with the host's `git`, as dockerd reads them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

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
    #[error("unable to prepare context: unable to 'git clone' to temporary context directory: git {command}: no answer from {url} for {seconds} s")]
    Stalled {
        command: String,
        url: String,
        seconds: u64,
    },
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

/// How long a remote may keep a build waiting. dockerd sets no limit, so a server that
/// accepts the connection and never answers holds its build (and its client) forever; berth
/// gives up once nothing arrived for `stall`.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// For the TCP (and TLS) connection of an HTTP fetch.
    pub connect: Duration,
    /// Without a byte of the HTTP response, or a line of git's progress.
    pub stall: Duration,
}

impl Default for Patience {
    fn default() -> Patience {
        Patience {
            connect: Duration::from_secs(30),
            stall: Duration::from_secs(60),
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
pub async fn fetch(url: &str, dest: &Path, patience: Patience) -> Result<(), RemoteError> {
    use tokio::io::AsyncWriteExt;
    let failed = |reason: String| RemoteError::Fetch {
        url: url.to_string(),
        reason,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(patience.connect)
        .read_timeout(patience.stall)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
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
    patience: Patience,
) -> Result<PathBuf, RemoteError> {
    std::fs::create_dir_all(dest).map_err(|source| RemoteError::Io {
        op: "creating",
        path: dest.to_path_buf(),
        source,
    })?;
    // Only the fetch talks to the remote; the local steps print nothing to be timed by.
    let git = |args: &[&str]| run_git(url, dest, args, None);
    let fetch = |args: &[&str]| run_git(url, dest, args, Some(patience.stall));
    git(&["init", "--quiet"])?;
    git(&["remote", "add", "origin", "--", url])?;
    let wanted = reference.unwrap_or("HEAD");
    // A shallow fetch first, as dockerd does; a server that cannot (git's "dumb" HTTP) gets
    // a whole one.
    // `--progress` even without a terminal: its lines are what tells a slow server from a
    // silent one.
    // A server that stayed silent is not asked twice.
    fetch(&[
        "fetch",
        "--progress",
        "--depth",
        "1",
        "origin",
        "--",
        wanted,
    ])
    .or_else(|e| match e {
        RemoteError::Clone(_) => fetch(&["fetch", "--progress", "origin", "--", wanted]),
        other => Err(other),
    })?;
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

/// Runs `git ARGS` in `dest`, killed once it has been silent on stderr for `stall` if given.
fn run_git(
    url: &str,
    dest: &Path,
    args: &[&str],
    stall: Option<Duration>,
) -> Result<(), RemoteError> {
    let low_speed_time = stall.unwrap_or(Patience::default().stall);
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dest)
        // No prompt for credentials (it would hang the build), and only the transports a
        // remote context can mean: never `ext::` or local files. Over http(s) git itself
        // gives up on a transfer slower than a byte a second for the stall's length.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ALLOW_PROTOCOL", "http:https:git:ssh")
        .env("GIT_HTTP_LOW_SPEED_LIMIT", "1")
        .env(
            "GIT_HTTP_LOW_SPEED_TIME",
            low_speed_time.as_secs().max(1).to_string(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RemoteError::NoGit(url.to_string()),
            _ => RemoteError::Clone(format!("starting git: {e}")),
        })?;
    let heard = Arc::new(Mutex::new(Instant::now()));
    let stderr = child.stderr.take().map(|mut pipe| {
        let heard = Arc::clone(&heard);
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                *heard.lock() = Instant::now();
                text.extend_from_slice(&buf[..n]);
            }
            text
        })
    });
    let command = args.first().copied().unwrap_or_default();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if stall.is_some_and(|stall| heard.lock().elapsed() >= stall) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RemoteError::Stalled {
                    command: command.to_string(),
                    url: url.to_string(),
                    seconds: stall.map_or(0, |stall| stall.as_secs()),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(RemoteError::Clone(format!("waiting for git: {e}"))),
        }
    };
    let text = stderr
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    Err(RemoteError::Clone(format!(
        "git {command}: {}",
        last_words(&String::from_utf8_lossy(&text))
    )))
}

/// What git said on failure without its progress lines (`\r`-separated updates).
fn last_words(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let said: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .collect();
    match said.is_empty() {
        true => lines.last().copied().unwrap_or_default().to_string(),
        false => said.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that accepts connections and never says a word, on 127.0.0.1.
    fn silent_server() -> (std::net::TcpListener, u16) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    fn short() -> Patience {
        Patience {
            connect: Duration::from_secs(1),
            stall: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn a_silent_http_server_fails_the_fetch_instead_of_holding_it() {
        let (_listener, port) = silent_server();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}/ctx.tar");
        let started = Instant::now();
        let err = fetch(&url, &dir.path().join("remote"), short())
            .await
            .unwrap_err();
        assert!(matches!(err, RemoteError::Fetch { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    }

    #[test]
    fn a_silent_git_server_fails_the_clone_instead_of_holding_it() {
        if Command::new("git").arg("--version").output().is_err() {
            eprintln!("skipped: no git on this host");
            return;
        }
        let (_listener, port) = silent_server();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("git://127.0.0.1:{port}/repo.git");
        let err = clone(&url, None, None, &dir.path().join("git"), short()).unwrap_err();
        assert!(matches!(err, RemoteError::Stalled { .. }), "{err}");
        assert!(err.to_string().contains("no answer from"), "{err}");
    }

    #[test]
    fn gits_failure_is_told_without_its_progress_lines() {
        assert_eq!(
            last_words("Receiving objects:  10%\rReceiving objects:  20%\nfatal: bad ref\n"),
            "fatal: bad ref"
        );
        assert_eq!(last_words("one\ntwo\n"), "two");
    }

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
