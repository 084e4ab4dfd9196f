//! The served registry's catalog, tags and manifests.

use berth_images::parse;
use bytes::Bytes;
use fsdriver::Digest;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::{
    error, internal, media_type_of, name_unknown, query_param, reply, RegistryError, Reply,
};
use crate::api::http::{empty, full};
use crate::registry_server::{Registry, Repositories, Repository};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

impl Registry {
    pub(super) fn catalog(&self, req: &Request<Incoming>) -> Result<Reply, RegistryError> {
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

    pub(super) fn tags(&self, name: &str, req: &Request<Incoming>) -> Result<Reply, RegistryError> {
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

    pub(super) fn resolve_manifest(
        &self,
        name: &str,
        reference: &str,
    ) -> Result<Digest, RegistryError> {
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

    pub(super) fn get_manifest(
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

    pub(super) async fn put_manifest(
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
        self.save(&updated)?;
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

    pub(super) fn delete_manifest(
        &self,
        name: &str,
        reference: &str,
    ) -> Result<Reply, RegistryError> {
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
    pub(super) fn change_repository(
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
        self.save(&updated)?;
        *repositories = updated;
        Ok(())
    }

    /// Saves the bookkeeping, as the registry's error.
    pub(super) fn save(&self, repositories: &Repositories) -> Result<(), RegistryError> {
        self.commit(repositories).map_err(internal)
    }
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
