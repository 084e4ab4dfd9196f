//! The Distribution API v2 routes of the served registry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use berth_images::parse;
use berth_images::ImageStore;
use bytes::Bytes;
use fsdriver::Digest;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RANGE};
use hyper::{Method, Request, Response, StatusCode};
use parking_lot::Mutex;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::auth::Htpasswd;
use super::repositories::{Paths, Repositories, Repository};
use crate::api::http::{empty, full, Body};
use crate::engine::Engine;

type Reply = Response<Body>;

const LEASE_HOLDER: &str = "registry";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A registry error as the spec shapes it: `{"errors":[{"code","message","detail"}]}`.
struct RegistryError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> RegistryError {
    RegistryError {
        status,
        code,
        message: message.into(),
    }
}

fn internal(e: impl std::fmt::Display) -> RegistryError {
    error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string())
}

impl RegistryError {
    fn into_reply(self) -> Reply {
        let body =
            json!({ "errors": [{ "code": self.code, "message": self.message, "detail": null }] });
        let mut reply = Response::new(full(body.to_string()));
        *reply.status_mut() = self.status;
        reply
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        reply
    }
}

fn reply(status: StatusCode, headers: &[(&str, String)], body: Body) -> Reply {
    let mut reply = Response::new(body);
    *reply.status_mut() = status;
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            reply.headers_mut().insert(name, value);
        }
    }
    reply
}

/// The served registry's state.
pub struct Registry {
    images: Arc<ImageStore>,
    paths: Paths,
    repositories: Mutex<Repositories>,
    htpasswd: Option<Htpasswd>,
}

/// What a request is about, from its path.
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, Digest),
    Uploads(String),
    Upload(String, String),
}

fn parse_route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    let name_ok = |name: &str| {
        berth_images::reference::Reference::parse_normalized(&format!("registry.invalid/{name}"))
            .is_ok_and(|r| r.path() == name && r.tag().is_none() && r.digest().is_none())
    };
    let split = |marker: &str| {
        rest.rfind(marker)
            .map(|i| (rest[..i].to_string(), rest[i + marker.len()..].to_string()))
            .filter(|(name, _)| name_ok(name))
    };
    if let Some((name, tail)) = split("/tags/") {
        return (tail == "list").then_some(Route::Tags(name));
    }
    if let Some((name, reference)) = split("/manifests/") {
        return (!reference.is_empty()).then_some(Route::Manifest(name, reference));
    }
    if let Some((name, id)) = split("/blobs/uploads/") {
        return Some(if id.is_empty() {
            Route::Uploads(name)
        } else {
            Route::Upload(name, id)
        });
    }
    if rest.ends_with("/blobs/uploads") {
        let name = rest.trim_end_matches("/blobs/uploads").to_string();
        return name_ok(&name).then_some(Route::Uploads(name));
    }
    if let Some((name, digest)) = split("/blobs/") {
        return Digest::parse(&digest).ok().map(|d| Route::Blob(name, d));
    }
    None
}

fn query_param(req: &Request<Incoming>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl Registry {
    pub fn open(engine: &Engine, htpasswd: Option<&Path>) -> anyhow::Result<Registry> {
        let paths = Paths::new(&engine.config.data_root);
        std::fs::create_dir_all(&paths.uploads)
            .with_context(|| format!("creating {}", paths.uploads.display()))?;
        let repositories = Repositories::load(&paths.repositories)
            .with_context(|| format!("reading {}", paths.repositories.display()))?;
        engine
            .images
            .lease_blobs(LEASE_HOLDER, repositories.all_blobs())
            .context("keeping the registry's blobs")?;
        let htpasswd = htpasswd.map(Htpasswd::load).transpose()?;
        Ok(Registry {
            images: engine.images.clone(),
            paths,
            repositories: Mutex::new(repositories),
            htpasswd,
        })
    }

    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Reply {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let mut response = match self.route(req).await {
            Ok(reply) => reply,
            Err(e) => e.into_reply(),
        };
        response.headers_mut().insert(
            "docker-distribution-api-version",
            HeaderValue::from_static("registry/2.0"),
        );
        tracing::debug!("registry {method} {path} -> {}", response.status());
        response
    }

    async fn route(self: &Arc<Self>, req: Request<Incoming>) -> Result<Reply, RegistryError> {
        if self.htpasswd.is_some() {
            let header = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let htpasswd_ok = {
                let registry = self.clone();
                actix_rt::task::spawn_blocking(move || {
                    registry
                        .htpasswd
                        .as_ref()
                        .is_some_and(|h| h.check(header.as_deref()))
                })
                .await
                .unwrap_or(false)
            };
            if !htpasswd_ok {
                let mut reply = error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "authentication required",
                )
                .into_reply();
                reply.headers_mut().insert(
                    "www-authenticate",
                    HeaderValue::from_static("Basic realm=\"berth registry\""),
                );
                return Ok(reply);
            }
        }
        let Some(route) = parse_route(req.uri().path()) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "NAME_INVALID",
                "invalid repository name or path",
            ));
        };
        let method = req.method().clone();
        match (method, route) {
            (Method::GET | Method::HEAD, Route::Base) => Ok(reply(
                StatusCode::OK,
                &[("content-type", "application/json".into())],
                full("{}"),
            )),
            (Method::GET, Route::Catalog) => self.catalog(&req),
            (Method::GET, Route::Tags(name)) => self.tags(&name, &req),
            (m @ (Method::GET | Method::HEAD), Route::Manifest(name, reference)) => {
                self.get_manifest(&name, &reference, m == Method::HEAD)
            }
            (Method::PUT, Route::Manifest(name, reference)) => {
                self.put_manifest(&name, &reference, req).await
            }
            (Method::DELETE, Route::Manifest(name, reference)) => {
                self.delete_manifest(&name, &reference)
            }
            (m @ (Method::GET | Method::HEAD), Route::Blob(name, digest)) => {
                self.get_blob(&name, &digest, m == Method::HEAD, &req).await
            }
            (Method::DELETE, Route::Blob(name, digest)) => self.delete_blob(&name, &digest),
            (Method::POST, Route::Uploads(name)) => self.start_upload(&name, req).await,
            (Method::PATCH, Route::Upload(name, id)) => self.patch_upload(&name, &id, req).await,
            (Method::PUT, Route::Upload(name, id)) => self.finish_upload(&name, &id, req).await,
            (Method::GET, Route::Upload(name, id)) => self.upload_status(&name, &id),
            (Method::DELETE, Route::Upload(_, id)) => {
                let path = self.upload_path(&id)?;
                std::fs::remove_file(&path).map_err(|_| upload_unknown())?;
                Ok(reply(StatusCode::NO_CONTENT, &[], empty()))
            }
            _ => Err(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "the operation is unsupported",
            )),
        }
    }

    /// Saves the bookkeeping and the lease that keeps the blobs.
    fn commit(&self, repositories: &Repositories) -> Result<(), RegistryError> {
        self.images
            .lease_blobs(LEASE_HOLDER, repositories.all_blobs())
            .map_err(internal)?;
        repositories
            .save(&self.paths.repositories)
            .map_err(internal)
    }

    fn catalog(&self, req: &Request<Incoming>) -> Result<Reply, RegistryError> {
        let names: Vec<String> = self
            .repositories
            .lock()
            .repositories
            .keys()
            .cloned()
            .collect();
        let (page, link) = paginate(names, req, "/v2/_catalog");
        let mut headers = vec![("content-type", "application/json".to_string())];
        headers.extend(link.map(|l| ("link", l)));
        Ok(reply(
            StatusCode::OK,
            &headers,
            full(json!({ "repositories": page }).to_string()),
        ))
    }

    fn tags(&self, name: &str, req: &Request<Incoming>) -> Result<Reply, RegistryError> {
        let tags: Vec<String> = {
            let repositories = self.repositories.lock();
            let repository = repositories
                .repositories
                .get(name)
                .ok_or_else(|| name_unknown(name))?;
            repository.tags.keys().cloned().collect()
        };
        let (page, link) = paginate(tags, req, &format!("/v2/{name}/tags/list"));
        let mut headers = vec![("content-type", "application/json".to_string())];
        headers.extend(link.map(|l| ("link", l)));
        Ok(reply(
            StatusCode::OK,
            &headers,
            full(json!({ "name": name, "tags": page }).to_string()),
        ))
    }

    fn resolve_manifest(&self, name: &str, reference: &str) -> Result<Digest, RegistryError> {
        let repositories = self.repositories.lock();
        let repository = repositories
            .repositories
            .get(name)
            .ok_or_else(|| name_unknown(name))?;
        let digest = match Digest::parse(reference) {
            Ok(digest) => repository.manifests.contains(&digest).then_some(digest),
            Err(_) => repository.tags.get(reference).cloned(),
        };
        digest.ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                "manifest unknown",
            )
        })
    }

    fn get_manifest(
        &self,
        name: &str,
        reference: &str,
        head: bool,
    ) -> Result<Reply, RegistryError> {
        let digest = self.resolve_manifest(name, reference)?;
        let bytes = self.images.read_blob(&digest).map_err(internal)?;
        let media_type = media_type_of(&bytes).unwrap_or_else(|| OCI_MANIFEST.to_string());
        let headers = [
            ("content-type", media_type),
            ("docker-content-digest", digest.to_string()),
            ("content-length", bytes.len().to_string()),
        ];
        let body = if head { empty() } else { full(bytes) };
        Ok(reply(StatusCode::OK, &headers, body))
    }

    async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        req: Request<Incoming>,
    ) -> Result<Reply, RegistryError> {
        let bytes = read_body(req.into_body(), parse::MAX_MANIFEST_BYTES).await?;
        let digest = Digest::of_bytes(&bytes);
        if let Ok(expected) = Digest::parse(reference) {
            if expected != digest {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                ));
            }
        }
        let invalid = |e: parse::ParseError| {
            error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", e.to_string())
        };
        let is_index = media_type_of(&bytes)
            .is_some_and(|t| t.contains("index") || t.contains("manifest.list"));
        let needed: Vec<Digest> = if is_index {
            let index = parse::parse_index(&bytes).map_err(invalid)?;
            index
                .manifests()
                .iter()
                .map(parse::descriptor_digest)
                .collect()
        } else {
            let manifest = parse::parse_manifest(&bytes).map_err(invalid)?;
            std::iter::once(manifest.config())
                .chain(manifest.layers())
                .map(parse::descriptor_digest)
                .collect()
        };
        let pin = self.images.pin(Vec::new(), vec![digest.clone()]);
        self.images
            .ingest_blob(&bytes[..], Some(&digest))
            .map_err(internal)?;
        let mut repositories = self.repositories.lock();
        let mut updated = repositories.clone();
        let repository = updated.repositories.entry(name.to_string()).or_default();
        if let Some(missing) = needed
            .iter()
            .find(|d| !(repository.blobs.contains(d) || repository.manifests.contains(d)))
        {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "MANIFEST_BLOB_UNKNOWN",
                format!("blob unknown to registry: {missing}"),
            ));
        }
        repository.manifests.insert(digest.clone());
        if Digest::parse(reference).is_err() {
            berth_images::reference::Reference::parse_normalized("x")
                .and_then(|r| r.with_tag(reference))
                .map_err(|_| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "TAG_INVALID",
                        "manifest tag did not match URI",
                    )
                })?;
            repository
                .tags
                .insert(reference.to_string(), digest.clone());
        }
        self.commit(&updated)?;
        *repositories = updated;
        drop(pin);
        Ok(reply(
            StatusCode::CREATED,
            &[
                ("location", format!("/v2/{name}/manifests/{digest}")),
                ("docker-content-digest", digest.to_string()),
            ],
            empty(),
        ))
    }

    fn delete_manifest(&self, name: &str, reference: &str) -> Result<Reply, RegistryError> {
        let digest = Digest::parse(reference).map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                "manifests are deleted by digest",
            )
        })?;
        self.change_repository(name, |repository| {
            if !repository.manifests.remove(&digest) {
                return Err(error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    "manifest unknown",
                ));
            }
            repository.tags.retain(|_, d| *d != digest);
            Ok(())
        })?;
        Ok(reply(StatusCode::ACCEPTED, &[], empty()))
    }

    /// Applies `change` to the existing repository `name` and saves the result; nothing
    /// changes if `change` or the save fails.
    fn change_repository(
        &self,
        name: &str,
        change: impl FnOnce(&mut Repository) -> Result<(), RegistryError>,
    ) -> Result<(), RegistryError> {
        let mut repositories = self.repositories.lock();
        let mut updated = repositories.clone();
        let repository = updated
            .repositories
            .get_mut(name)
            .ok_or_else(|| name_unknown(name))?;
        change(repository)?;
        self.commit(&updated)?;
        *repositories = updated;
        Ok(())
    }

    fn has_blob(&self, name: &str, digest: &Digest) -> bool {
        self.repositories
            .lock()
            .repositories
            .get(name)
            .is_some_and(|r| r.blobs.contains(digest) || r.manifests.contains(digest))
    }

    async fn get_blob(
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

    fn delete_blob(&self, name: &str, digest: &Digest) -> Result<Reply, RegistryError> {
        self.change_repository(name, |repository| {
            if repository.blobs.remove(digest) {
                Ok(())
            } else {
                Err(blob_unknown())
            }
        })?;
        Ok(reply(StatusCode::ACCEPTED, &[], empty()))
    }

    fn upload_path(&self, id: &str) -> Result<PathBuf, RegistryError> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(upload_unknown());
        }
        Ok(self.paths.uploads.join(id))
    }

    /// The file of an upload in progress; an unknown one is the registry's
    /// `BLOB_UPLOAD_UNKNOWN`.
    fn existing_upload(&self, id: &str) -> Result<PathBuf, RegistryError> {
        let path = self.upload_path(id)?;
        if !path.is_file() {
            return Err(upload_unknown());
        }
        Ok(path)
    }

    fn upload_reply(
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

    async fn start_upload(
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

    async fn patch_upload(
        &self,
        name: &str,
        id: &str,
        req: Request<Incoming>,
    ) -> Result<Reply, RegistryError> {
        let path = self.existing_upload(id)?;
        append_body(&path, req.into_body()).await?;
        self.upload_reply(StatusCode::ACCEPTED, name, id)
    }

    async fn finish_upload(
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

    fn upload_status(&self, name: &str, id: &str) -> Result<Reply, RegistryError> {
        self.upload_reply(StatusCode::NO_CONTENT, name, id)
    }

    /// Moves a finished upload into the content store, checked against `digest`.
    fn complete(&self, name: &str, id: &str, digest: &str) -> Result<Reply, RegistryError> {
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

    fn link_blob(&self, name: &str, digest: &Digest) -> Result<(), RegistryError> {
        let mut repositories = self.repositories.lock();
        let mut updated = repositories.clone();
        updated
            .repositories
            .entry(name.to_string())
            .or_default()
            .blobs
            .insert(digest.clone());
        self.commit(&updated)?;
        *repositories = updated;
        Ok(())
    }
}

fn name_unknown(name: &str) -> RegistryError {
    error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        format!("repository name not known to registry: {name}"),
    )
}

fn blob_unknown() -> RegistryError {
    error(
        StatusCode::NOT_FOUND,
        "BLOB_UNKNOWN",
        "blob unknown to registry",
    )
}

fn upload_unknown() -> RegistryError {
    error(
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
        "blob upload unknown to registry",
    )
}

fn media_type_of(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string)
}

/// `n` and `last` pagination, with a `Link` to the next page.
fn paginate(
    items: Vec<String>,
    req: &Request<Incoming>,
    path: &str,
) -> (Vec<String>, Option<String>) {
    let last = query_param(req, "last");
    let n = query_param(req, "n").and_then(|n| n.parse::<usize>().ok());
    let rest: Vec<String> = items
        .into_iter()
        .filter(|item| last.as_ref().is_none_or(|l| item > l))
        .collect();
    match n {
        Some(n) if rest.len() > n => {
            let page: Vec<String> = rest.into_iter().take(n).collect();
            let link = format!("<{path}?n={n}&last={}>; rel=\"next\"", page[n - 1]);
            (page, Some(link))
        }
        _ => (rest, None),
    }
}

async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, RegistryError> {
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "SIZE_INVALID",
                format!("reading the body: {e}"),
            )
        })?
        .to_bytes();
    Ok(bytes)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_split_names_with_slashes() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(parse_route("/v2/"), Some(Route::Base)));
        assert!(matches!(parse_route("/v2/_catalog"), Some(Route::Catalog)));
        assert!(matches!(parse_route("/v2/a/b/tags/list"), Some(Route::Tags(n)) if n == "a/b"));
        assert!(
            matches!(parse_route("/v2/a/manifests/v1"), Some(Route::Manifest(n, r)) if n == "a" && r == "v1")
        );
        assert!(
            matches!(parse_route(&format!("/v2/x/y/blobs/{d}")), Some(Route::Blob(n, _)) if n == "x/y")
        );
        assert!(matches!(parse_route("/v2/x/blobs/uploads/"), Some(Route::Uploads(n)) if n == "x"));
        assert!(
            matches!(parse_route("/v2/x/blobs/uploads/abc"), Some(Route::Upload(n, i)) if n == "x" && i == "abc")
        );
        assert!(parse_route("/v2/Bad/manifests/v1").is_none());
        assert!(parse_route("/v2/x/blobs/sha256:zz").is_none());
        assert!(parse_route("/other").is_none());
    }
}
