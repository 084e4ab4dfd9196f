//! `HEAD`, `GET` and `PUT /containers/{id}/archive`: the daemon's half of `cp`. The client
//! decides where files land; the daemon stats a path, sends a tar of it, or unpacks a tar
//! into a directory, always inside the container's own view of its file system
//! ([`rootfs_view`]).

use std::fs::{self, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::archive::ChannelWriter;
use super::containers::find;
use super::error::ApiError;
use super::http::{status_only, ApiResult, Query};
use crate::container::actor::{CopyInGuard, OpenView};
use crate::container::rootfs_view::{self, View};
use crate::engine::Engine;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// What Docker's `ContainerPathStat` carries; `mode` in Go's `os.FileMode` bits, which the
/// docker CLI decodes.
#[derive(Debug, Serialize, PartialEq)]
struct PathStat {
    name: String,
    size: i64,
    mode: u32,
    mtime: String,
    #[serde(rename = "linkTarget")]
    link_target: String,
}

/// Why a container path could not be read, classified for the API.
enum PathFailure {
    NotFound,
    NotADirectory,
    Other(String),
}

/// `HEAD`: the path's stat in the header.
pub async fn stat(engine: &Engine, name: &str, req: Request<Incoming>) -> ApiResult {
    let path = container_path(&req)?;
    let (view, _) = open_view(engine, name, false).await?;
    let lookup = path.clone();
    let stat = rootfs_view::run_in(view, move || path_stat(&lookup))
        .await
        .map_err(|_| ApiError::internal("the copy thread ended early"))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let stat = answer_failure(stat, &path, name)?;
    let mut response = status_only(StatusCode::OK)?;
    response
        .headers_mut()
        .insert(STAT_HEADER, stat_header(&stat)?);
    Ok(response)
}

/// `GET`: a tar of the path, named by its last component, with its stat in the header.
pub async fn get(engine: &Engine, name: &str, req: Request<Incoming>) -> ApiResult {
    let path = container_path(&req)?;
    let (view, _) = open_view(engine, name, false).await?;
    let (stat_tx, stat_rx) = oneshot::channel();
    let (body_tx, body_rx) = mpsc::channel(8);
    let lookup = path.clone();
    let entered = rootfs_view::run_in(view, move || {
        let stat = path_stat(&lookup);
        let is_dir = stat.as_ref().ok().map(PathStat::is_dir);
        let _ = stat_tx.send(stat);
        if let Some(is_dir) = is_dir {
            let mut out = ChannelWriter::new(body_tx);
            if let Err(e) = write_tar(&lookup, is_dir, &mut out).and_then(|()| out.flush()) {
                tracing::warn!("copying {} out of a container: {e}", lookup.display());
                out.fail(e);
            }
        }
    });
    let stat = match stat_rx.await {
        Ok(stat) => stat,
        // The thread never ran the work: its own answer says why.
        Err(_) => match entered.await {
            Ok(Err(e)) => return Err(ApiError::internal(e.to_string())),
            _ => return Err(ApiError::internal("the copy thread ended early")),
        },
    };
    let stat = answer_failure(stat, &path, name)?;
    let mut response = Response::new(super::containers::channel_body(body_rx));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    headers.insert(STAT_HEADER, stat_header(&stat)?);
    Ok(response)
}

/// `PUT`: unpacks the tar body into the directory `path`, which must exist.
pub async fn put(engine: &Engine, name: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let options = UnpackOptions {
        no_overwrite_dir_non_dir: query.flag("noOverwriteDirNonDir"),
        keep_ownership: query.flag("copyUIDGID"),
    };
    let path = container_path(&req)?;
    let (view, guard) = match open_view(engine, name, true).await {
        Ok(opened) => opened,
        Err(e) => {
            super::http::discard_body(req.into_body()).await;
            return Err(e);
        }
    };
    let mut body = super::images::body_reader(req.into_body());
    let target = path.clone();
    let unpacked = rootfs_view::run_in(view, move || {
        let unpacked = unpack_into(&target, &mut body, options);
        // The container may start again once the overlay is gone with this thread.
        drop(guard);
        if unpacked.is_err() {
            let _ = io::copy(&mut body.take(super::http::DISCARD_LIMIT), &mut io::sink());
        }
        unpacked
    })
    .await
    .map_err(|_| ApiError::internal("the copy thread ended early"))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    answer_failure(unpacked, &path, name)?;
    status_only(StatusCode::OK)
}

async fn open_view(
    engine: &Engine,
    name: &str,
    writable: bool,
) -> Result<(View, Option<CopyInGuard>), ApiError> {
    let (_, addr) = find(engine, name).await?;
    Ok(addr.send(OpenView { writable }).await??)
}

/// The `path` query parameter, absolute inside the container (Docker takes a relative one
/// from the root). A trailing `/` or `/.` is kept: it asks for a directory, or its contents.
fn container_path(req: &Request<Incoming>) -> Result<PathBuf, ApiError> {
    let query = Query::parse(req.uri().query());
    let path = query
        .get("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("no path given"))?;
    if path.contains('\0') {
        return Err(ApiError::bad_request("the path holds a NUL byte"));
    }
    Ok(if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        PathBuf::from(format!("/{path}"))
    })
}

fn answer_failure<T>(
    result: Result<T, PathFailure>,
    path: &Path,
    container: &str,
) -> Result<T, ApiError> {
    result.map_err(|failure| match failure {
        PathFailure::NotFound => ApiError::not_found(format!(
            "Could not find the file {} in container {container}",
            path.display()
        )),
        PathFailure::NotADirectory => {
            ApiError::bad_request("extraction point is not a directory".to_string())
        }
        PathFailure::Other(message) => ApiError::internal(message),
    })
}

fn classify(what: &str, path: &Path, e: io::Error) -> PathFailure {
    match e.kind() {
        io::ErrorKind::NotFound => PathFailure::NotFound,
        io::ErrorKind::NotADirectory => PathFailure::NotADirectory,
        _ => PathFailure::Other(format!("{what} {}: {e}", path.display())),
    }
}

/// Whether the container path ends in `/` or `/.`: the directory itself is meant, so a
/// symlink there is followed.
fn names_a_directory(path: &Path) -> bool {
    let text = path.as_os_str().as_encoded_bytes();
    text.ends_with(b"/") || text.ends_with(b"/.")
}

/// Runs inside the view: the path's stat as Docker reports it. A symlink as the last
/// component is the link itself, with the path it resolves to as its target.
fn path_stat(path: &Path) -> Result<PathStat, PathFailure> {
    let meta = if names_a_directory(path) {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    }
    .map_err(|e| classify("stat", path, e))?;
    let link_target = if meta.file_type().is_symlink() {
        match fs::canonicalize(path) {
            Ok(resolved) => resolved.display().to_string(),
            Err(_) => {
                let target = fs::read_link(path).map_err(|e| classify("readlink", path, e))?;
                path.parent()
                    .unwrap_or(Path::new("/"))
                    .join(target)
                    .display()
                    .to_string()
            }
        }
    } else {
        String::new()
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".to_owned());
    let mtime = chrono::DateTime::from_timestamp(meta.mtime(), meta.mtime_nsec() as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    Ok(PathStat {
        name,
        size: meta.len() as i64,
        mode: go_file_mode(&meta),
        mtime,
        link_target,
    })
}

fn stat_header(stat: &PathStat) -> Result<HeaderValue, ApiError> {
    let json = serde_json::to_vec(stat).map_err(|e| ApiError::internal(e.to_string()))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Go's `os.ModeDir`.
const GO_MODE_DIR: u32 = 1 << 31;

impl PathStat {
    fn is_dir(&self) -> bool {
        self.mode & GO_MODE_DIR != 0
    }
}

/// Unix mode bits as Go's `os.FileMode`: permissions in the low bits, the file type and
/// setuid/setgid/sticky as flags of their own.
fn go_file_mode(meta: &Metadata) -> u32 {
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const NAMED_PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR_DEVICE: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let unix = meta.permissions().mode();
    let file_type = meta.file_type();
    let mut mode = unix & 0o777;
    for (is, flag) in [
        (file_type.is_dir(), GO_MODE_DIR),
        (file_type.is_symlink(), SYMLINK),
        (file_type.is_block_device(), DEVICE),
        (file_type.is_char_device(), DEVICE | CHAR_DEVICE),
        (file_type.is_fifo(), NAMED_PIPE),
        (file_type.is_socket(), SOCKET),
        (unix & 0o4000 != 0, SETUID),
        (unix & 0o2000 != 0, SETGID),
        (unix & 0o1000 != 0, STICKY),
    ] {
        if is {
            mode |= flag;
        }
    }
    mode
}

/// Runs inside the view: a tar of `path` (a directory when `is_dir`, as its stat said) whose
/// top entry is named by the path's last component (`.` for a `/.` path, whose contents are
/// meant).
fn write_tar(path: &Path, is_dir: bool, out: &mut ChannelWriter) -> io::Result<()> {
    let top = if path.as_os_str().as_encoded_bytes().ends_with(b"/.") {
        PathBuf::from(".")
    } else {
        PathBuf::from(path.file_name().unwrap_or(std::ffi::OsStr::new(".")))
    };
    let mut archive = tar::Builder::new(out);
    archive.follow_symlinks(false);
    if is_dir {
        archive.append_dir_all(&top, path)?;
    } else {
        archive.append_path_with_name(path, &top)?;
    }
    archive.finish()
}

#[derive(Debug, Clone, Copy)]
struct UnpackOptions {
    /// Refuse to replace a directory with a non-directory or the other way round.
    no_overwrite_dir_non_dir: bool,
    /// Keep the tar's owners; otherwise files belong to the container's root.
    keep_ownership: bool,
}

/// Runs inside the view: unpacks `tar` into the existing directory `dir`. The tar crate
/// refuses entries that climb out of `dir`; the view keeps everything in the container.
fn unpack_into(dir: &Path, tar: impl Read, options: UnpackOptions) -> Result<(), PathFailure> {
    let meta = fs::metadata(dir).map_err(|e| classify("stat", dir, e))?;
    if !meta.is_dir() {
        return Err(PathFailure::NotADirectory);
    }
    let bad = |e: io::Error| PathFailure::Other(format!("unpacking into {}: {e}", dir.display()));
    let mut archive = tar::Archive::new(tar);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_preserve_ownerships(options.keep_ownership);
    archive.set_overwrite(true);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if options.no_overwrite_dir_non_dir {
            let name = entry.path().map_err(bad)?.into_owned();
            let entry_is_dir = entry.header().entry_type().is_dir();
            if let Ok(existing) = fs::symlink_metadata(dir.join(&name)) {
                if existing.is_dir() != entry_is_dir {
                    let (from, to) = if existing.is_dir() {
                        ("directory", "non-directory")
                    } else {
                        ("non-directory", "directory")
                    };
                    return Err(PathFailure::Other(format!(
                        "cannot overwrite {from} {:?} with {to} {:?}",
                        dir.join(&name).display().to_string(),
                        name.display().to_string()
                    )));
                }
            }
        }
        entry.unpack_in(dir).map_err(bad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_gos() {
        let dir = tempfile::tempdir().unwrap();
        let meta = fs::metadata(dir.path()).unwrap();
        assert_eq!(go_file_mode(&meta), (1 << 31) | (meta.mode() & 0o777));
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o4755)).unwrap();
        assert_eq!(
            go_file_mode(&fs::metadata(&file).unwrap()),
            (1 << 23) | 0o755
        );
        std::os::unix::fs::symlink("f", dir.path().join("l")).unwrap();
        let link = fs::symlink_metadata(dir.path().join("l")).unwrap();
        assert_eq!(go_file_mode(&link) & (1 << 27), 1 << 27);
    }

    #[test]
    fn a_trailing_dot_or_slash_names_a_directory() {
        assert!(names_a_directory(Path::new("/etc/.")));
        assert!(names_a_directory(Path::new("/etc/")));
        assert!(!names_a_directory(Path::new("/etc")));
        assert!(!names_a_directory(Path::new("/etc/.profile")));
    }

    #[test]
    fn unpacking_refuses_to_replace_a_directory_with_a_file_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "sub", &b"x"[..]).unwrap();
        let bytes = tar.into_inner().unwrap();
        let refuse = UnpackOptions {
            no_overwrite_dir_non_dir: true,
            keep_ownership: false,
        };
        match unpack_into(dir.path(), bytes.as_slice(), refuse) {
            Err(PathFailure::Other(message)) => {
                assert!(message.contains("cannot overwrite directory"), "{message}")
            }
            _ => panic!("a file replaced a directory"),
        }
        assert!(dir.path().join("sub").is_dir());
        match unpack_into(&dir.path().join("missing"), bytes.as_slice(), refuse) {
            Err(PathFailure::NotFound) => {}
            _ => panic!("unpacked into a missing directory"),
        }
    }
}
