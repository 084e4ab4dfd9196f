//! The Docker Engine API over hyper. Each request becomes messages to actors; no handler
//! holds a lock across a container operation.

pub mod archive;
pub mod attach;
pub mod commit;
pub mod containers;
pub mod distribution;
pub mod error;
pub mod events;
pub mod exec;
mod hijack;
pub mod http;
pub mod image_admin;
pub mod images;
pub mod observe;
pub mod system;

use std::convert::Infallible;
use std::os::fd::AsRawFd;
use std::path::Path;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use crate::engine::Engine;
use error::ApiError;
use http::{ApiResponse, ApiResult};

/// The newest API version berth speaks, and the oldest it accepts.
pub const API_VERSION: &str = "1.49";
pub const MIN_API_VERSION: &str = "1.24";

/// Accepts connections until the listener is dropped. Each connection is served on the
/// daemon's single thread; upgrades (attach) stay on it too.
pub async fn serve(listener: UnixListener, engine: Engine) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!("accepting an API connection: {err}");
                continue;
            }
        };
        let engine = engine.clone();
        let socket = hijack::ConnectionSocket(stream.as_raw_fd());
        actix_rt::spawn(async move {
            let service = service_fn(move |mut req: Request<Incoming>| {
                let engine = engine.clone();
                req.extensions_mut().insert(socket);
                async move { Ok::<_, Infallible>(handle(engine, req).await) }
            });
            let connection = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(err) = connection.await {
                tracing::debug!("API connection ended: {err}");
            }
        });
    }
}

async fn handle(engine: Engine, req: Request<Incoming>) -> ApiResponse {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = route(engine, req)
        .await
        .unwrap_or_else(ApiError::into_response);
    tracing::debug!("{method} {path} -> {}", response.status());
    with_server_headers(response)
}

fn with_server_headers(mut response: ApiResponse) -> ApiResponse {
    use hyper::header::{HeaderName, HeaderValue};
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("api-version"),
        HeaderValue::from_static(API_VERSION),
    );
    headers.insert(
        HeaderName::from_static("ostype"),
        HeaderValue::from_static("linux"),
    );
    headers.insert(
        hyper::header::SERVER,
        HeaderValue::from_static(concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    response
}

/// Strips an optional `/v1.NN` prefix, refusing versions outside what we speak.
fn strip_version(path: &str) -> Result<&str, ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let (version, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Some((major, minor)) = version.split_once('.') else {
        return Ok(path);
    };
    let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>()) else {
        return Ok(path);
    };
    let min_minor: u32 = MIN_API_VERSION[2..].parse().unwrap_or(24);
    let max_minor: u32 = API_VERSION[2..].parse().unwrap_or(49);
    if major != 1 || minor < min_minor {
        return Err(ApiError::bad_request(format!(
            "client version {major}.{minor} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if minor > max_minor + 10 {
        return Err(ApiError::bad_request(format!(
            "client version {major}.{minor} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok(tail)
}

async fn route(engine: Engine, req: Request<Incoming>) -> ApiResult {
    let path = strip_version(req.uri().path())?.to_string();
    let method = req.method().clone();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => system::ping(&method),
        (&Method::GET, ["version"]) => system::version(&engine).await,
        (&Method::GET, ["info"]) => system::info(&engine).await,

        (&Method::GET, ["containers", "json"]) => containers::list(&engine, req).await,
        (&Method::POST, ["containers", "create"]) => containers::create(&engine, req).await,
        (&Method::GET, ["containers", id, "json"]) => containers::inspect(&engine, id).await,
        (&Method::POST, ["containers", id, "start"]) => containers::start(&engine, id).await,
        (&Method::POST, ["containers", id, "stop"]) => containers::stop(&engine, id, req).await,
        (&Method::POST, ["containers", id, "restart"]) => {
            containers::restart(&engine, id, req).await
        }
        (&Method::POST, ["containers", id, "kill"]) => containers::kill(&engine, id, req).await,
        (&Method::POST, ["containers", id, "wait"]) => containers::wait(&engine, id, req).await,
        (&Method::POST, ["containers", id, "rename"]) => containers::rename(&engine, id, req).await,
        (&Method::POST, ["containers", id, "attach"]) => attach::attach(&engine, id, req).await,
        (&Method::POST, ["containers", id, "resize"]) => attach::resize(&engine, id, req).await,
        (&Method::POST, ["containers", id, "exec"]) => exec::create(&engine, id, req).await,
        (&Method::POST, ["exec", id, "start"]) => exec::start(&engine, id, req).await,
        (&Method::POST, ["exec", id, "resize"]) => exec::resize(&engine, id, req).await,
        (&Method::GET, ["exec", id, "json"]) => exec::inspect(&engine, id).await,
        (&Method::GET, ["containers", id, "logs"]) => observe::logs(&engine, id, req).await,
        (&Method::GET, ["containers", id, "top"]) => observe::top(&engine, id, req).await,
        (&Method::GET, ["containers", id, "stats"]) => observe::stats(&engine, id, req).await,
        (&Method::POST, ["containers", id, "pause"]) => observe::pause(&engine, id).await,
        (&Method::POST, ["containers", id, "unpause"]) => observe::unpause(&engine, id).await,
        (&Method::GET, ["events"]) => events::events(&engine, req).await,
        (&Method::GET, ["containers", id, "export"]) => archive::export(&engine, id).await,
        (&Method::DELETE, ["containers", id]) => containers::remove(&engine, id, req).await,

        (&Method::POST, ["commit"]) => commit::commit(&engine, req).await,
        (&Method::POST, ["images", "create"]) => images::create(&engine, req).await,
        (&Method::POST, ["images", name @ .., "push"]) if !name.is_empty() => {
            distribution::push_image(&engine, &name.join("/"), req).await
        }
        (&Method::POST, ["auth"]) => distribution::auth(&engine, req).await,
        (&Method::GET, ["images", "json"]) => images::list(&engine, req).await,
        (&Method::GET, ["images", "get"]) => archive::save_many(&engine, req).await,
        (&Method::POST, ["images", "load"]) => archive::load(&engine, req).await,
        (&Method::POST, ["images", "prune"]) => image_admin::prune(&engine, req).await,
        (&Method::GET, ["system", "df"]) => image_admin::df(&engine).await,
        (&Method::GET, ["images", name @ .., "history"]) if !name.is_empty() => {
            image_admin::history(&engine, &name.join("/")).await
        }
        (&Method::GET, ["images", name @ .., "get"]) if !name.is_empty() => {
            archive::save(&engine, vec![name.join("/")]).await
        }
        (&Method::GET, ["images", name @ .., "json"]) if !name.is_empty() => {
            images::inspect(&engine, &name.join("/")).await
        }
        (&Method::POST, ["images", name @ .., "tag"]) if !name.is_empty() => {
            images::tag(&engine, &name.join("/"), req).await
        }
        (&Method::DELETE, ["images", name @ ..]) if !name.is_empty() => {
            images::remove(&engine, &name.join("/"), req).await
        }
        _ => Err(unsupported_or_unknown(&method, &path)),
    }
}

/// Endpoints of the Docker API that later work will add answer 501 with a clear text;
/// anything else is Docker's 404 "page not found".
fn unsupported_or_unknown(method: &Method, path: &str) -> ApiError {
    const LATER: &[&str] = &[
        "/build",
        "/networks",
        "/volumes",
        "/system",
        "/plugins",
        "/swarm",
        "/services",
        "/nodes",
        "/secrets",
        "/configs",
        "/tasks",
        "/session",
        "/distribution",
    ];
    let container_later = ["/changes", "/archive", "/update", "/attach/ws"];
    if LATER.iter().any(|p| path.starts_with(p))
        || (path.starts_with("/containers/") && container_later.iter().any(|s| path.ends_with(s)))
        || (path.starts_with("/images/") && method != Method::GET)
        || path.starts_with("/images/search")
        || path.starts_with("/containers/prune")
    {
        return ApiError::unsupported(&format!("{method} {path}"));
    }
    ApiError::not_found("page not found")
}

/// Where a unix socket is created, its directory must exist and a stale file be gone.
pub fn bind(socket: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(socket) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let listener = UnixListener::bind(socket)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes_are_stripped_within_range() {
        assert_eq!(
            strip_version("/v1.24/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/v1.49/_ping").unwrap(), "/_ping");
        assert_eq!(strip_version("/v1.51/info").unwrap(), "/info");
        assert_eq!(
            strip_version("/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(
            strip_version("/v1.12/info").unwrap_err().status,
            hyper::StatusCode::BAD_REQUEST
        );
        // A path that merely starts with "v" is not a version.
        assert_eq!(strip_version("/volumes").unwrap(), "/volumes");
    }
}
