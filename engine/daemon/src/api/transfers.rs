//! Registry endpoints of the Engine API: `POST /images/create?fromImage=` (pull),
//! `POST /images/{name}/push`, `POST /auth` (login).

use std::future::Future;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot};

use berth_distribution::{Credentials, Platform};
use berth_images::reference::Reference;

use super::error::ApiError;
use super::http::{json, read_json, ApiResult, Body, Query};
use crate::engine::Engine;
use crate::transfers::progress::Progress;
use crate::transfers::pull::{pull, PullRequest};
use crate::transfers::push::{push, PushRequest};
use crate::transfers::TransferError;

fn credentials<B>(req: &Request<B>) -> Result<Option<Credentials>, ApiError> {
    match req.headers().get("x-registry-auth") {
        None => Ok(None),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::bad_request("invalid X-Registry-Auth header"))?;
            Credentials::from_header(text).map_err(|e| ApiError::bad_request(e.to_string()))
        }
    }
}

/// `fromImage` and `tag` as Docker combines them: the tag may also be a digest, and an
/// image named without tag or digest means every tag.
fn pull_reference(image: &str, tag: Option<&str>) -> Result<Reference, ApiError> {
    let reference =
        Reference::parse_normalized(image).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match tag.filter(|t| !t.is_empty()) {
        None => Ok(reference),
        Some(tag) if tag.starts_with("sha256:") => {
            let digest =
                fsdriver::Digest::parse(tag).map_err(|e| ApiError::bad_request(e.to_string()))?;
            Ok(reference.with_digest(&digest))
        }
        Some(tag) => reference
            .with_tag(tag)
            .map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

pub async fn pull_image(engine: &Engine, image: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let reference = pull_reference(image, query.get("tag"))?;
    let platform = match query.get("platform").filter(|p| !p.is_empty()) {
        Some(text) => Platform::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => Platform::default(),
    };
    let request = PullRequest {
        reference,
        platform,
        credentials: credentials(&req)?,
    };
    let engine = engine.clone();
    streamed(move |progress| async move {
        pull(&engine.transfers, &engine.images, request, &progress).await
    })
    .await
}

pub async fn push_image(engine: &Engine, name: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let mut reference =
        Reference::parse_normalized(name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if reference.digest().is_some() {
        return Err(ApiError::bad_request(
            "cannot push a digest reference: push a tag",
        ));
    }
    if let Some(tag) = query.get("tag").filter(|t| !t.is_empty()) {
        reference = reference
            .with_tag(tag)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let request = PushRequest {
        reference,
        credentials: credentials(&req)?,
    };
    let engine = engine.clone();
    streamed(move |progress| async move {
        push(&engine.transfers, &engine.images, request, &progress).await
    })
    .await
}

/// `POST /auth`: checks the credentials against the registry, as `docker login` asks.
pub async fn auth(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let credentials: Credentials = read_json(req.into_body()).await?;
    let domain = registry_domain(&credentials.server_address);
    engine
        .transfers
        .registries
        .login(&domain, credentials)
        .await
        .map_err(|e| match e.kind() {
            berth_distribution::ErrorKind::Unauthorized => {
                ApiError::new(super::error::ErrorKind::Unauthorized, e.to_string())
            }
            _ => ApiError::from(TransferError::from(e)),
        })?;
    json(
        StatusCode::OK,
        &serde_json::json!({ "Status": "Login Succeeded", "IdentityToken": "" }),
    )
}

/// The registry a login's `serveraddress` names: `https://index.docker.io/v1/` (or
/// nothing) is Docker Hub; otherwise the host of `[scheme://]host[:port][/path]`.
fn registry_domain(server: &str) -> String {
    let trimmed = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = trimmed.split('/').next().unwrap_or_default();
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => {
            berth_images::reference::DEFAULT_DOMAIN.to_string()
        }
        host => host.to_string(),
    }
}

/// Runs a transfer that reports through a [`Progress`], answering with its messages as
/// they come. A failure before the first message is answered with an HTTP error status,
/// a later one as an error message in the stream (what the docker CLI expects).
pub async fn streamed<F, Fut>(work: F) -> ApiResult
where
    F: FnOnce(Progress) -> Fut,
    Fut: Future<Output = Result<(), TransferError>> + 'static,
{
    let (progress, mut rx) = Progress::channel();
    let (early_tx, early_rx) = oneshot::channel();
    let task = work(progress.clone());
    actix_rt::spawn(async move {
        if let Err(e) = task.await {
            tracing::info!("transfer failed: {e}");
            if progress.sent_any() {
                progress.error(&e.to_string());
            } else {
                let _ = early_tx.send(e);
            }
        }
    });
    // The early error is looked at first: when the work fails without a message, the
    // stream's end and the error are ready together.
    let first = tokio::select! {
        biased;
        early = early_rx => match early {
            Ok(e) => return Err(e.into()),
            Err(_) => rx.recv().await,
        },
        first = rx.recv() => first,
    };
    let mut response = Response::new(progress_body(first, rx));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

fn progress_body(first: Option<Bytes>, rx: mpsc::UnboundedReceiver<Bytes>) -> Body {
    use http_body_util::StreamBody;
    let stream = futures_util::stream::unfold((first, rx), |(first, mut rx)| async move {
        let next = match first {
            Some(bytes) => Some(bytes),
            None => rx.recv().await,
        };
        next.map(|bytes| (Ok(Frame::data(bytes)), (None, rx)))
    });
    StreamBody::new(stream).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_references_combine_image_and_tag() {
        let r = |image: &str, tag: Option<&str>| pull_reference(image, tag).unwrap().to_string();
        assert_eq!(
            r("busybox", Some("latest")),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(r("busybox:1.36", None), "docker.io/library/busybox:1.36");
        assert_eq!(r("busybox", None), "docker.io/library/busybox");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            r("127.0.0.1:5000/x", Some(&digest)),
            format!("127.0.0.1:5000/x@{digest}")
        );
        assert!(pull_reference("Bad", None).is_err());
        assert!(pull_reference("x", Some("bad tag")).is_err());
    }

    #[test]
    fn login_server_addresses_name_registries() {
        assert_eq!(registry_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_domain(""), "docker.io");
        assert_eq!(registry_domain("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            registry_domain("https://localhost:5000/v2/"),
            "localhost:5000"
        );
    }
}
