//! The served registry's Distribution API v2 over HTTP: the listener, the routes, and
//! the registry's error shape (`{"errors":[{"code","message","detail"}]}`).

mod blobs;
mod manifests;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use fsdriver::Digest;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use super::http::{empty, full, Body};
use crate::config::DistributionConfig;
use crate::engine::Engine;
use crate::registry_server::{tls_acceptor, Registry};

type Reply = Response<Body>;

/// A registry error as the spec shapes it: `{"errors":[{"code","message","detail"}]}`.
pub(super) struct RegistryError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

pub(super) fn error(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> RegistryError {
    RegistryError {
        status,
        code,
        message: message.into(),
    }
}

pub(super) fn internal(e: impl std::fmt::Display) -> RegistryError {
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

pub(super) fn reply(status: StatusCode, headers: &[(&str, String)], body: Body) -> Reply {
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

pub(super) fn query_param(req: &Request<Incoming>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Binds the registry's address and serves it until the daemon stops.
pub async fn start(engine: &Engine, config: &DistributionConfig, addr: SocketAddr) -> Result<()> {
    let registry = Arc::new(Registry::open(engine, config.registry_htpasswd.as_deref())?);
    let tls = match &config.registry_tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for the registry on {addr}"))?;
    tracing::info!(
        "serving a registry on {}://{addr}",
        if tls.is_some() { "https" } else { "http" }
    );
    actix_rt::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accepting a registry connection: {e}");
                    continue;
                }
            };
            let registry = registry.clone();
            let tls = tls.clone();
            actix_rt::spawn(async move {
                let service = service_fn(move |req| {
                    let registry = registry.clone();
                    async move { Ok::<_, Infallible>(handle(&registry, req).await) }
                });
                let result = match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => {
                            http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Err(e) => {
                            tracing::debug!(%peer, "registry TLS handshake failed: {e}");
                            return;
                        }
                    },
                    None => {
                        http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(%peer, "registry connection ended: {e}");
                }
            });
        }
    });
    Ok(())
}

async fn handle(registry: &Arc<Registry>, req: Request<Incoming>) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut response = match route(registry, req).await {
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

async fn route(registry: &Arc<Registry>, req: Request<Incoming>) -> Result<Reply, RegistryError> {
    if registry.htpasswd.is_some() {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let htpasswd_ok = {
            let registry = registry.clone();
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
        (Method::GET, Route::Catalog) => registry.catalog(&req),
        (Method::GET, Route::Tags(name)) => registry.tags(&name, &req),
        (m @ (Method::GET | Method::HEAD), Route::Manifest(name, reference)) => {
            registry.get_manifest(&name, &reference, m == Method::HEAD)
        }
        (Method::PUT, Route::Manifest(name, reference)) => {
            registry.put_manifest(&name, &reference, req).await
        }
        (Method::DELETE, Route::Manifest(name, reference)) => {
            registry.delete_manifest(&name, &reference)
        }
        (m @ (Method::GET | Method::HEAD), Route::Blob(name, digest)) => {
            registry
                .get_blob(&name, &digest, m == Method::HEAD, &req)
                .await
        }
        (Method::DELETE, Route::Blob(name, digest)) => registry.delete_blob(&name, &digest),
        (Method::POST, Route::Uploads(name)) => registry.start_upload(&name, req).await,
        (Method::PATCH, Route::Upload(name, id)) => registry.patch_upload(&name, &id, req).await,
        (Method::PUT, Route::Upload(name, id)) => registry.finish_upload(&name, &id, req).await,
        (Method::GET, Route::Upload(name, id)) => registry.upload_status(&name, &id),
        (Method::DELETE, Route::Upload(_, id)) => {
            let path = registry.upload_path(&id)?;
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

pub(super) fn name_unknown(name: &str) -> RegistryError {
    error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        format!("repository name not known to registry: {name}"),
    )
}

pub(super) fn blob_unknown() -> RegistryError {
    error(
        StatusCode::NOT_FOUND,
        "BLOB_UNKNOWN",
        "blob unknown to registry",
    )
}

pub(super) fn upload_unknown() -> RegistryError {
    error(
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
        "blob upload unknown to registry",
    )
}

pub(super) fn media_type_of(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string)
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
