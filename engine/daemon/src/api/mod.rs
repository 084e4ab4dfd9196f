//! The Docker Engine API over hyper. Each request becomes messages to actors; no handler
//! holds a lock across a container operation.

pub mod archive;
pub mod attach;
pub mod build;
pub mod changes;
pub mod commit;
pub mod container_archive;
pub mod container_prune;
pub mod containers;
pub mod error;
pub mod events;
pub mod exec;
mod hijack;
pub mod http;
pub mod image_admin;
pub mod images;
pub mod networks;
pub mod observe;
pub mod registry_server;
pub mod routes;
pub mod system;
pub mod transfers;
pub mod volumes;

use std::convert::Infallible;
use std::os::fd::AsRawFd;
use std::path::Path;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use crate::engine::Engine;
use error::ApiError;
use http::{ApiResponse, ApiResult};
pub use routes::{parse_route, Route};

/// The newest API version berth speaks, and the oldest it accepts.
pub const API_VERSION: &str = "1.49";
pub const MIN_API_VERSION: &str = "1.24";

/// A socket the API is served on (`-H`, repeatable).
pub enum Listener {
    Unix(UnixListener),
    Tcp(tokio::net::TcpListener),
}

/// Accepts connections until the listener is dropped. Each connection is served on the
/// daemon's single thread; upgrades (attach) stay on it too.
pub async fn serve(listener: Listener, engine: Engine) {
    loop {
        let accepted = match &listener {
            Listener::Unix(unix) => unix.accept().await.map(|(stream, _)| {
                let socket = hijack::ConnectionSocket(stream.as_raw_fd());
                serve_connection(stream, socket, engine.clone())
            }),
            Listener::Tcp(tcp) => tcp.accept().await.map(|(stream, _)| {
                // Small answers (the 101 of an attach, a ping) go out at once.
                let _ = stream.set_nodelay(true);
                let socket = hijack::ConnectionSocket(stream.as_raw_fd());
                serve_connection(stream, socket, engine.clone())
            }),
        };
        if let Err(err) = accepted {
            tracing::warn!("accepting an API connection: {err}");
        }
    }
}

fn serve_connection<S>(stream: S, socket: hijack::ConnectionSocket, engine: Engine)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
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

async fn handle(engine: Engine, req: Request<Incoming>) -> ApiResponse {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = route(engine, req)
        .await
        .unwrap_or_else(ApiError::into_response);
    tracing::debug!("{method} {path} -> {}", response.status());
    crate::heap::note_request();
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
pub fn strip_version(path: &str) -> Result<&str, ApiError> {
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
    let engine = &engine;
    match parse_route(&method, &path)? {
        Route::Ping => system::ping(&method),
        Route::Version => system::version(engine).await,
        Route::Info => system::info(engine).await,
        Route::Events => events::events(engine, req).await,
        Route::SystemDf => image_admin::df(engine).await,
        Route::Auth => transfers::auth(engine, req).await,

        Route::ContainerList => containers::list(engine, req).await,
        Route::ContainerCreate => containers::create(engine, req).await,
        Route::ContainerPrune => container_prune::prune(engine, req).await,
        Route::ContainerInspect(id) => containers::inspect(engine, id).await,
        Route::ContainerStart(id) => containers::start(engine, id).await,
        Route::ContainerStop(id) => containers::stop(engine, id, req).await,
        Route::ContainerRestart(id) => containers::restart(engine, id, req).await,
        Route::ContainerKill(id) => containers::kill(engine, id, req).await,
        Route::ContainerWait(id) => containers::wait(engine, id, req).await,
        Route::ContainerRename(id) => containers::rename(engine, id, req).await,
        Route::ContainerAttach(id) => attach::attach(engine, id, req).await,
        Route::ContainerResize(id) => attach::resize(engine, id, req).await,
        Route::ContainerLogs(id) => observe::logs(engine, id, req).await,
        Route::ContainerTop(id) => observe::top(engine, id, req).await,
        Route::ContainerStats(id) => observe::stats(engine, id, req).await,
        Route::ContainerPause(id) => observe::pause(engine, id).await,
        Route::ContainerUnpause(id) => observe::unpause(engine, id).await,
        Route::ContainerExport(id) => archive::export(engine, id).await,
        Route::ContainerChanges(id) => changes::changes(engine, id).await,
        Route::ContainerPathStat(id) => container_archive::stat(engine, id, req).await,
        Route::ContainerArchiveGet(id) => container_archive::get(engine, id, req).await,
        Route::ContainerArchivePut(id) => container_archive::put(engine, id, req).await,
        Route::ContainerRemove(id) => containers::remove(engine, id, req).await,
        Route::ContainerUpdate(id) => containers::update(engine, id, req).await,

        Route::ExecCreate(id) => exec::create(engine, id, req).await,
        Route::ExecStart(id) => exec::start(engine, id, req).await,
        Route::ExecResize(id) => exec::resize(engine, id, req).await,
        Route::ExecInspect(id) => exec::inspect(engine, id).await,

        Route::NetworkList => networks::list(engine, req).await,
        Route::NetworkCreate => networks::create(engine, req).await,
        Route::NetworkPrune => networks::prune(engine, req).await,
        Route::NetworkInspect(id) => networks::inspect(engine, id).await,
        Route::NetworkRemove(id) => networks::remove(engine, id).await,
        Route::NetworkConnect(id) => networks::connect(engine, id, req).await,
        Route::NetworkDisconnect(id) => networks::disconnect(engine, id, req).await,

        Route::Build => build::build(engine, req).await,
        Route::BuildPrune => build::prune(engine).await,
        Route::Commit => commit::commit(engine, req).await,
        Route::ImageCreate => images::create(engine, req).await,
        Route::ImageList => images::list(engine, req).await,
        Route::ImageSaveMany => archive::save_many(engine, req).await,
        Route::ImageLoad => archive::load(engine, req).await,
        Route::ImagePrune => image_admin::prune(engine, req).await,
        Route::ImagePush(name) => transfers::push_image(engine, &name, req).await,
        Route::ImageHistory(name) => image_admin::history(engine, &name).await,
        Route::ImageSave(name) => archive::save(engine, vec![name]).await,
        Route::ImageInspect(name) => {
            images::inspect(engine, &name, http::api_minor(req.uri().path())).await
        }
        Route::ImageTag(name) => images::tag(engine, &name, req).await,
        Route::ImageRemove(name) => images::remove(engine, &name, req).await,

        Route::VolumeCreate => volumes::create(engine, req).await,
        Route::VolumeList => volumes::list(engine, req).await,
        Route::VolumePrune => volumes::prune(engine, req).await,
        Route::VolumeInspect(name) => volumes::inspect(engine, name).await,
        Route::VolumeRemove(name) => volumes::remove(engine, name, req).await,
    }
}

/// Binds a TCP listener (the configuration checked that it is on loopback).
pub fn bind_tcp(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
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
            strip_version("/v1.12/info").unwrap_err().status(),
            hyper::StatusCode::BAD_REQUEST
        );
        // A path that merely starts with "v" is not a version.
        assert_eq!(strip_version("/volumes").unwrap(), "/volumes");
    }
}
