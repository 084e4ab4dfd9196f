//! The served registry's blobs and blob uploads.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use fsdriver::Digest;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::RANGE;
use hyper::{Request, StatusCode};
use tokio::io::AsyncWriteExt;

use super::{
    blob_unknown, error, internal, query_param, reply, upload_unknown, RegistryError, Reply,
};
use crate::api::http::{empty, Body};
use crate::registry_server::Registry;

impl Registry {
    pub(super) fn has_blob(&self, name: &str, digest: &Digest) -> bool {
        self.repositories
            .lock()
            .repositories
            .get(name)
            .is_some_and(|r| r.blobs.contains(digest) || r.manifests.contains(digest))
    }

    pub(super) async fn get_blob(
        &self,
        name: &str,
        digest: &Digest,
        head: bool,
        req: &Request<Incoming>,
    ) -> Result<Reply, RegistryError> {
        if !self.has_blob(name, digest) {
            return Err(blob_unknown());
        }
        let size = self.images.blob_size(digest).map_err(internal)?;
        let mut headers = vec![
            ("content-type", "application/octet-stream".to_string()),
            ("docker-content-digest", digest.to_string()),
            ("accept-ranges", "bytes".to_string()),
        ];
        let start = req
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse::<u64>().ok());
        let (status, offset) = match start {
            Some(start) if start >= size && size > 0 => {
                return Err(error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "BLOB_UNKNOWN",
                    "range not satisfiable",
                ))
            }
            Some(start) if start > 0 => {
                headers.push((
                    "content-range",
                    format!("bytes {start}-{}/{size}", size - 1),
                ));
                (StatusCode::PARTIAL_CONTENT, start)
            }
            _ => (StatusCode::OK, 0),
        };
        headers.push(("content-length", (size - offset).to_string()));
        if head {
            return Ok(reply(status, &headers, empty()));
        }
        let file = self.images.open_blob(digest).map_err(internal)?;
        Ok(reply(status, &headers, file_body(file, offset)))
    }

    pub(super) fn delete_blob(&self, name: &str, digest: &Digest) -> Result<Reply, RegistryError> {
        self.change_repository(name, |repository| {
            if repository.blobs.remove(digest) {
                Ok(())
            } else {
                Err(blob_unknown())
            }
        })?;
        Ok(reply(StatusCode::ACCEPTED, &[], empty()))
    }

    pub(super) fn upload_path(&self, id: &str) -> Result<PathBuf, RegistryError> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(upload_unknown());
        }
        Ok(self.paths.uploads.join(id))
    }

    /// The file of an upload in progress; an unknown one is the registry's
    /// `BLOB_UPLOAD_UNKNOWN`.
    pub(super) fn existing_upload(&self, id: &str) -> Result<PathBuf, RegistryError> {
        let path = self.upload_path(id)?;
        if !path.is_file() {
            return Err(upload_unknown());
        }
        Ok(path)
    }

    pub(super) fn upload_reply(
        &self,
        status: StatusCode,
        name: &str,
        id: &str,
    ) -> Result<Reply, RegistryError> {
        let size = std::fs::metadata(self.upload_path(id)?)
            .map_err(|_| upload_unknown())?
            .len();
        let range = if size == 0 {
            "0-0".to_string()
        } else {
            format!("0-{}", size - 1)
        };
        Ok(reply(
            status,
            &[
                ("location", format!("/v2/{name}/blobs/uploads/{id}")),
                ("range", range),
                ("docker-upload-uuid", id.to_string()),
                ("content-length", "0".to_string()),
            ],
            empty(),
        ))
    }

    pub(super) async fn start_upload(
        &self,
        name: &str,
        req: Request<Incoming>,
    ) -> Result<Reply, RegistryError> {
        if let (Some(mount), Some(from)) = (query_param(&req, "mount"), query_param(&req, "from")) {
            if let Ok(digest) = Digest::parse(&mount) {
                if self.has_blob(&from, &digest) {
                    self.link_blob(name, &digest)?;
                    return Ok(reply(
                        StatusCode::CREATED,
                        &[
                            ("location", format!("/v2/{name}/blobs/{digest}")),
                            ("docker-content-digest", digest.to_string()),
                        ],
                        empty(),
                    ));
                }
            }
        }
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(internal)?;
        let id = hex::encode(bytes);
        let path = self.upload_path(&id)?;
        std::fs::File::create(&path).map_err(internal)?;
        if let Some(digest) = query_param(&req, "digest") {
            // A monolithic upload in the POST itself.
            append_body(&path, req.into_body()).await?;
            return self.complete(name, &id, &digest);
        }
        self.upload_reply(StatusCode::ACCEPTED, name, &id)
    }

    pub(super) async fn patch_upload(
        &self,
        name: &str,
        id: &str,
        req: Request<Incoming>,
    ) -> Result<Reply, RegistryError> {
        let path = self.existing_upload(id)?;
        append_body(&path, req.into_body()).await?;
        self.upload_reply(StatusCode::ACCEPTED, name, id)
    }

    pub(super) async fn finish_upload(
        &self,
        name: &str,
        id: &str,
        req: Request<Incoming>,
    ) -> Result<Reply, RegistryError> {
        let path = self.existing_upload(id)?;
        let digest = query_param(&req, "digest")
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "digest missing"))?;
        append_body(&path, req.into_body()).await?;
        self.complete(name, id, &digest)
    }

    pub(super) fn upload_status(&self, name: &str, id: &str) -> Result<Reply, RegistryError> {
        self.upload_reply(StatusCode::NO_CONTENT, name, id)
    }

    /// Moves a finished upload into the content store, checked against `digest`.
    pub(super) fn complete(
        &self,
        name: &str,
        id: &str,
        digest: &str,
    ) -> Result<Reply, RegistryError> {
        let path = self.upload_path(id)?;
        let digest = Digest::parse(digest)
            .map_err(|e| error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string()))?;
        let pin = self.images.pin(Vec::new(), vec![digest.clone()]);
        let file = std::fs::File::open(&path).map_err(|_| upload_unknown())?;
        let stored = self.images.ingest_blob(file, Some(&digest));
        let _ = std::fs::remove_file(&path);
        stored.map_err(|e| error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string()))?;
        self.link_blob(name, &digest)?;
        drop(pin);
        Ok(reply(
            StatusCode::CREATED,
            &[
                ("location", format!("/v2/{name}/blobs/{digest}")),
                ("docker-content-digest", digest.to_string()),
                ("content-length", "0".to_string()),
            ],
            empty(),
        ))
    }

    pub(super) fn link_blob(&self, name: &str, digest: &Digest) -> Result<(), RegistryError> {
        let mut repositories = self.repositories.lock();
        let mut updated = repositories.clone();
        updated
            .repositories
            .entry(name.to_string())
            .or_default()
            .blobs
            .insert(digest.clone());
        self.save(&updated)?;
        *repositories = updated;
        Ok(())
    }
}

async fn append_body(path: &Path, mut body: Incoming) -> Result<(), RegistryError> {
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await
        .map_err(|_| upload_unknown())?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "BLOB_UPLOAD_INVALID",
                e.to_string(),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            file.write_all(&data).await.map_err(internal)?;
        }
    }
    file.flush().await.map_err(internal)
}

fn file_body(file: std::fs::File, offset: u64) -> Body {
    use http_body_util::StreamBody;
    use std::io::{Seek, SeekFrom};
    use tokio::io::AsyncReadExt;
    let mut file = file;
    let start = file.seek(SeekFrom::Start(offset));
    let file = tokio::fs::File::from_std(file);
    let stream =
        futures_util::stream::unfold((file, start.err()), |(mut file, failed)| async move {
            if let Some(e) = failed {
                return Some((Err(e), (file, None)));
            }
            let mut buf = vec![0u8; 256 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(hyper::body::Frame::data(Bytes::from(buf))), (file, None)))
                }
                Err(e) => Some((Err(e), (file, None))),
            }
        });
    StreamBody::new(stream).boxed_unsync()
}
