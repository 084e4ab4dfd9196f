//! `/images/…`: import, list, inspect, tag and remove. Pulls and pushes are issue 4's.

use std::io::Read;
use std::sync::mpsc as std_mpsc;

use bollard_stubs::models::{
    ImageDeleteResponseItem, ImageInspect, ImageInspectRootFs, ImageSummary,
};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::error::ApiError;
use super::http::{json, status_only, ApiResult, Query};
use crate::engine::Engine;

/// A blocking `Read` over an async request body, so the importer can run on a blocking
/// thread while the body is still arriving.
pub(crate) struct BodyReader {
    chunks: std_mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.recv() {
                Ok(Ok(bytes)) => self.current = bytes,
                Ok(Err(err)) => return Err(std::io::Error::other(err)),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

pub(crate) fn body_reader(mut body: Incoming) -> BodyReader {
    let (tx, rx) = std_mpsc::sync_channel(32);
    actix_rt::spawn(async move {
        while let Some(frame) = body.frame().await {
            let item = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => Ok(data),
                    Err(_) => continue,
                },
                Err(err) => Err(format!("reading request body: {err}")),
            };
            let failed = item.is_err();
            // `send` blocks when the importer lags; hand that wait to a blocking thread.
            let tx = tx.clone();
            let sent = actix_rt::task::spawn_blocking(move || tx.send(item).is_ok()).await;
            if failed || !matches!(sent, Ok(true)) {
                return;
            }
        }
    });
    BodyReader {
        chunks: rx,
        current: Bytes::new(),
    }
}

pub async fn create(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    if let Some(image) = query.get("fromImage").filter(|i| !i.is_empty()) {
        let image = image.to_string();
        return super::transfers::pull_image(engine, &image, req).await;
    }
    match query.get("fromSrc") {
        Some("-") => {}
        Some("") | None => {
            return Err(ApiError::bad_request(
                "either fromImage or fromSrc must be given",
            ))
        }
        Some(url) => {
            return Err(ApiError::unsupported(&format!(
                "importing from a URL ({url})"
            )))
        }
    }
    let reference = match (
        query.get("repo").filter(|r| !r.is_empty()),
        query.get("tag").filter(|t| !t.is_empty()),
    ) {
        (Some(repo), Some(tag)) => Some(format!("{repo}:{tag}")),
        (Some(repo), None) => Some(repo.to_string()),
        (None, _) => None,
    };
    let options = berth_images::ImportOptions {
        changes: query.all("changes"),
        message: query.get("message").unwrap_or("").to_string(),
    };
    let reader = body_reader(req.into_body());
    let images = engine.images.clone();
    let record = actix_rt::task::spawn_blocking(move || {
        images.import(reader, reference.as_deref(), options)
    })
    .await
    .map_err(|err| ApiError::internal(format!("importing image: {err}")))??;
    let line = serde_json::json!({ "status": record.id.to_string() });
    let mut response = json(StatusCode::OK, &line)?;
    *response.body_mut() = super::http::full(format!("{line}\n"));
    Ok(response)
}

fn created_unix(record: &berth_images::ImageRecord) -> i64 {
    record.created.map(|c| c.timestamp()).unwrap_or(0)
}

async fn containers_per_image(engine: &Engine) -> std::collections::HashMap<String, i64> {
    let mut counts = std::collections::HashMap::new();
    for record in super::containers::snapshots(engine)
        .await
        .unwrap_or_default()
    {
        *counts.entry(record.image_id).or_insert(0) += 1;
    }
    counts
}

pub async fn list(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let filters = query.filters()?;
    for key in filters.keys() {
        if !matches!(key, "reference" | "label" | "dangling") {
            return Err(ApiError::bad_request(format!("invalid filter '{key}'")));
        }
    }
    let counts = containers_per_image(engine).await;
    let parents = super::build::image_parents(engine);
    let records = engine.images.list();
    let intermediate = super::build::intermediates(&parents, &records);
    let mut summaries = Vec::new();
    for record in records {
        // A build's intermediate images are listed with `all` only, as Docker lists them.
        if intermediate.contains(&record.id.to_string()) && !query.flag("all") {
            continue;
        }
        let references = filters.get("reference");
        if !references.is_empty()
            && !record
                .repo_tags
                .iter()
                .any(|tag| references.iter().any(|r| reference_matches(r, tag)))
        {
            continue;
        }
        if filters.get("dangling").iter().any(|d| d == "true") && !record.repo_tags.is_empty() {
            continue;
        }
        let labels = record
            .config
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .unwrap_or_default();
        if !filters
            .get("label")
            .iter()
            .all(|wanted| match wanted.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                None => labels.contains_key(wanted.as_str()),
            })
        {
            continue;
        }
        summaries.push(ImageSummary {
            id: record.id.to_string(),
            parent_id: parents
                .get(&record.id.to_string())
                .cloned()
                .unwrap_or_default(),
            repo_tags: record.repo_tags.clone(),
            repo_digests: record.repo_digests.clone(),
            created: created_unix(&record),
            size: record.size as i64,
            shared_size: -1,
            virtual_size: Some(record.size as i64),
            labels: labels.into_iter().collect(),
            containers: counts.get(&record.id.to_string()).copied().unwrap_or(0),
            manifests: None,
            descriptor: None,
        });
    }
    summaries.sort_by_key(|s| std::cmp::Reverse(s.created));
    json(StatusCode::OK, &summaries)
}

/// Docker's `reference=` filter: a glob on the familiar name, with or without the tag.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let repo = tag.rsplit_once(':').map(|(r, _)| r).unwrap_or(tag);
    glob(pattern, tag) || glob(pattern, repo)
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(after) = text.strip_prefix(head) else {
                return false;
            };
            (0..=after.len()).any(|i| after.is_char_boundary(i) && glob(rest, &after[i..]))
        }
    }
}

pub async fn inspect(engine: &Engine, name: &str) -> ApiResult {
    let images = engine.images.clone();
    let lookup = name.to_string();
    let record = actix_rt::task::spawn_blocking(move || images.resolve(&lookup))
        .await
        .map_err(|err| ApiError::internal(format!("inspecting image: {err}")))??;
    let config = &record.config;
    let body = ImageInspect {
        id: Some(record.id.to_string()),
        repo_tags: Some(record.repo_tags.clone()),
        repo_digests: Some(record.repo_digests.clone()),
        parent: Some(String::new()),
        comment: Some(
            config
                .history()
                .as_ref()
                .and_then(|h| h.last())
                .and_then(|h| h.comment().clone())
                .unwrap_or_default(),
        ),
        created: record.created.map(|c| {
            c.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                .parse()
                .unwrap_or_default()
        }),
        docker_version: Some(String::new()),
        author: Some(config.author().clone().unwrap_or_default()),
        config: Some(image_config(&record)),
        architecture: Some(config.architecture().to_string()),
        os: Some(config.os().to_string()),
        size: Some(record.size as i64),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".to_string(),
            layers: Some(record.layers.iter().map(|d| d.to_string()).collect()),
        }),
        ..Default::default()
    };
    json(StatusCode::OK, &body)
}

/// The image's `Config` as Docker shows it: the OCI configuration, with the healthcheck and
/// triggers of the config blob that the OCI one has no field for.
fn image_config(record: &berth_images::ImageRecord) -> bollard_stubs::models::ImageConfig {
    let mut config: bollard_stubs::models::ImageConfig =
        serde_json::from_value(serde_json::to_value(record.config.config()).unwrap_or_default())
            .unwrap_or_default();
    config.healthcheck = record
        .healthcheck
        .clone()
        .and_then(|h| serde_json::from_value(h).ok());
    config.on_build = (!record.on_build.is_empty()).then(|| record.on_build.clone());
    config
}

pub async fn tag(engine: &Engine, name: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let repo = query
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("repository name must have at least one component"))?;
    let target = match query.get("tag").filter(|t| !t.is_empty()) {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo.to_string(),
    };
    let images = engine.images.clone();
    let source = name.to_string();
    actix_rt::task::spawn_blocking(move || images.tag(&source, &target))
        .await
        .map_err(|err| ApiError::internal(format!("tagging image: {err}")))??;
    status_only(StatusCode::CREATED)
}

pub async fn remove(engine: &Engine, name: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let force = query.flag("force");
    // Which containers use which image, decided before the store is asked to delete.
    let mut users: std::collections::HashMap<String, (String, bool)> = Default::default();
    for record in super::containers::snapshots(engine).await? {
        let running = record.state.status.is_live();
        let entry = users
            .entry(record.image_id.clone())
            .or_insert((record.id.clone(), running));
        if running && !entry.1 {
            *entry = (record.id.clone(), true);
        }
    }
    let images = engine.images.clone();
    let name = name.to_string();
    let actions = actix_rt::task::spawn_blocking(move || {
        images.remove(&name, force, &|image: &fsdriver::digest::Digest| {
            users
                .get(&image.to_string())
                .map(|(id, running)| berth_images::ImageUser {
                    container_id: id.clone(),
                    running: *running,
                })
        })
    })
    .await
    .map_err(|err| ApiError::internal(format!("removing image: {err}")))??;
    let items: Vec<ImageDeleteResponseItem> = actions
        .into_iter()
        .map(|action| match action {
            berth_images::RemoveAction::Untagged(tag) => ImageDeleteResponseItem {
                untagged: Some(tag),
                deleted: None,
            },
            berth_images::RemoveAction::Deleted(digest) => ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(digest.to_string()),
            },
        })
        .collect();
    json(StatusCode::OK, &items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(!reference_matches("alpine", "busybox:latest"));
    }

    #[test]
    fn body_reader_concatenates_chunks() {
        let (tx, rx) = std_mpsc::sync_channel(4);
        tx.send(Ok(Bytes::from_static(b"ab"))).unwrap();
        tx.send(Ok(Bytes::from_static(b"cd"))).unwrap();
        drop(tx);
        let mut reader = BodyReader {
            chunks: rx,
            current: Bytes::new(),
        };
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        assert_eq!(out, "abcd");
    }
}
