//! Image archives over the Engine API: `GET /images/get` (save), `POST /images/load`,
//! `GET /containers/{id}/export`.

use std::io::{self, Write};

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::http::{ApiResult, Query};
use super::images::body_reader;
use crate::engine::Engine;

/// Bytes handed to the response at a time.
const CHUNK: usize = 256 * 1024;

/// A blocking writer feeding a response body; it fails once the client is gone.
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Frame<Bytes>, io::Error>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<Result<Frame<Bytes>, io::Error>>) -> ChannelWriter {
        ChannelWriter {
            tx,
            buffer: Vec::with_capacity(CHUNK),
        }
    }

    /// Ends the body with an error, so the client sees a failed transfer rather than a
    /// short archive it might take for complete.
    pub fn fail(self, error: impl std::fmt::Display) {
        let _ = self
            .tx
            .blocking_send(Err(io::Error::other(error.to_string())));
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.tx
            .blocking_send(Ok(Frame::data(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A response whose body is written by `produce` on a blocking thread.
pub fn blocking_body_response(
    content_type: &'static str,
    produce: impl FnOnce(&mut ChannelWriter) -> Result<(), String> + Send + 'static,
) -> ApiResult {
    let (tx, rx) = mpsc::channel(8);
    actix_rt::task::spawn_blocking(move || {
        let mut writer = ChannelWriter::new(tx);
        let result = produce(&mut writer).and_then(|()| writer.flush().map_err(|e| e.to_string()));
        if let Err(e) = result {
            tracing::warn!("streaming a {content_type} response failed: {e}");
            writer.fail(e);
        }
    });
    let mut response = Response::new(super::containers::channel_body(rx));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// `GET /images/get?names=…` and `GET /images/{name}/get`.
pub async fn save(engine: &Engine, names: Vec<String>) -> ApiResult {
    if names.is_empty() {
        return Err(ApiError::bad_request("no images named"));
    }
    for name in &names {
        engine.images.resolve(name)?;
    }
    let images = engine.images.clone();
    blocking_body_response("application/x-tar", move |out| {
        images.save(&names, out).map_err(|e| e.to_string())
    })
}

pub async fn save_many(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    save(engine, query.all("names")).await
}

/// `POST /images/load`: answers with JSON lines naming what was loaded.
pub async fn load(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    // `quiet` only hides progress, which a load here does not send.
    let reader = body_reader(req.into_body());
    let images = engine.images.clone();
    let scratch = engine.config.images_dir().join("tmp");
    let loaded = actix_rt::task::spawn_blocking(move || images.load(reader, &scratch))
        .await
        .map_err(|e| ApiError::internal(format!("loading images: {e}")))??;
    let mut body = Vec::new();
    for image in loaded {
        let lines: Vec<String> = if image.references.is_empty() {
            vec![format!("Loaded image ID: {}\n", image.image.id)]
        } else {
            image
                .references
                .iter()
                .map(|r| format!("Loaded image: {r}\n"))
                .collect()
        };
        for line in lines {
            let message = serde_json::json!({ "stream": line });
            body.extend_from_slice(message.to_string().as_bytes());
            body.push(b'\n');
        }
    }
    let mut response = Response::new(super::http::full(body));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// `GET /containers/{id}/export`: the container's file system as a tar, read through a
/// read-only overlay of its writable layer over its image layers.
pub async fn export(engine: &Engine, id: &str) -> ApiResult {
    use crate::container::actor::Snapshot;
    use crate::container::names::Lookup;
    use crate::container::record::ContainerDir;
    let (id, addr) = engine.names().send(Lookup(id.to_string())).await??;
    let record = addr.send(Snapshot).await?;
    let upper = ContainerDir::new(&engine.config.containers_dir(), &id).upper();
    let mut lower = vec![upper];
    lower.extend(record.layers.iter().cloned());
    let scratch = engine.config.data_root.join("tmp");
    blocking_body_response("application/x-tar", move |out| {
        export_layers(&lower, &scratch, out).map_err(|e| format!("exporting container {id}: {e}"))
    })
}

fn export_layers(
    lower: &[std::path::PathBuf],
    scratch: &std::path::Path,
    out: &mut ChannelWriter,
) -> io::Result<()> {
    std::fs::create_dir_all(scratch)?;
    let target = tempfile::Builder::new()
        .prefix("export-")
        .tempdir_in(scratch)?;
    let lowerdir: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    let options = std::ffi::CString::new(format!("lowerdir={}", lowerdir.join(":")))
        .map_err(|_| io::Error::other("a layer path holds a NUL byte"))?;
    rustix::mount::mount(
        "overlay",
        target.path(),
        "overlay",
        rustix::mount::MountFlags::RDONLY,
        Some(options.as_c_str()),
    )
    .map_err(|e| io::Error::other(format!("mounting the container's file system: {e}")))?;
    let written = (|| {
        let mut archive = tar::Builder::new(&mut *out);
        archive.follow_symlinks(false);
        archive.append_dir_all(".", target.path())?;
        archive.into_inner()?.flush()
    })();
    let unmounted = rustix::mount::unmount(target.path(), rustix::mount::UnmountFlags::DETACH)
        .map_err(|e| io::Error::other(format!("unmounting {}: {e}", target.path().display())));
    written.and(unmounted)
}
