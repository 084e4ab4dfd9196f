//! `POST /build` (Docker's classic builder API: what the docker CLI uses without buildx,
//! docker-py and compose) and `POST /build/prune`.
//!
//! The context tar is indexed as it arrives, on the blocking thread the build then runs on
//! (see `crate::build::context`), or fetched first for a `remote=` URL; the build's
//! messages are streamed as Docker's JSON lines. A failure before the first message is answered with an HTTP status (a Dockerfile
//! syntax error, a missing Dockerfile), a later one as an error line in the stream.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use berth_builder::args::{BuildArgs, Platform};
use berth_builder::build::{BuildError, Builder, Options};
use berth_builder::cache::Cache;
use berth_builder::executor::{Network, Progress};
use berth_builder::ErrorKind;
use berth_distribution::Credentials;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::error::ApiError;
use super::http::{json, ApiResult, Body, Query};
use crate::build::context::{self, BodyReader, Chunk, Places, Source};
use crate::build::remote::{self, Patience, Remote, RemoteError};
use crate::build::DaemonExecutor;
use crate::engine::Engine;

/// What the query asks, checked before anything is read or stored.
struct BuildRequest {
    dockerfile: String,
    options: Options,
    quiet: bool,
    network_mode: Option<String>,
    credentials: HashMap<String, Credentials>,
    /// `remote=`: the context is fetched or cloned instead of read from the body.
    remote: Option<Remote>,
}

fn json_param<T: serde::de::DeserializeOwned + Default>(
    query: &Query,
    key: &str,
) -> Result<T, ApiError> {
    match query.get(key) {
        None | Some("") | Some("null") => Ok(T::default()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}"))),
    }
}

/// Parameters berth does not apply yet: refused when set to anything but their default.
const UNSUPPORTED: &[&str] = &[
    "memory",
    "memswap",
    "cpushares",
    "cpusetcpus",
    "cpusetmems",
    "cpuperiod",
    "cpuquota",
    "shmsize",
    "cgroupparent",
    "squash",
    "isolation",
    "outputs",
];

fn is_default(value: &str) -> bool {
    matches!(
        value,
        "" | "0" | "-1" | "null" | "[]" | "{}" | "false" | "default"
    )
}

impl BuildRequest {
    fn parse(query: &Query, headers: &HeaderMap) -> Result<BuildRequest, ApiError> {
        let remote = query
            .get("remote")
            .filter(|r| !r.is_empty())
            .map(Remote::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if query.get("version") == Some("2") {
            return Err(ApiError::unsupported("BuildKit sessions (version=2)"));
        }
        for key in UNSUPPORTED {
            if let Some(value) = query.get(key).filter(|v| !is_default(v)) {
                return Err(ApiError::unsupported(&format!(
                    "build option {key}={value}"
                )));
            }
        }
        let extra_hosts: Vec<String> = json_param(query, "extrahosts")
            .or_else(|_| Ok::<_, ApiError>(query.all("extrahosts")))?;
        if extra_hosts.iter().any(|h| !h.is_empty()) {
            return Err(ApiError::unsupported("build option extrahosts"));
        }
        let ulimits: Vec<Value> = json_param(query, "ulimits")?;
        if !ulimits.is_empty() {
            return Err(ApiError::unsupported("build option ulimits"));
        }
        let host = Platform::host();
        if let Some(platform) = query.get("platform").filter(|p| !p.is_empty()) {
            if platform != host.to_spec() && platform != host.os {
                return Err(ApiError::unsupported(&format!(
                    "building for platform {platform} (berth builds for {})",
                    host.to_spec()
                )));
            }
        }
        let mut tags = Vec::new();
        for tag in query.all("t") {
            let reference = berth_images::reference::Reference::parse_normalized(&tag)
                .map_err(|e| ApiError::bad_request(format!("invalid tag {tag:?}: {e}")))?;
            if reference.digest().is_some() {
                return Err(ApiError::bad_request(format!(
                    "invalid tag {tag:?}: a build can be tagged, not given a digest"
                )));
            }
            tags.push(tag);
        }
        let given: BTreeMap<String, Option<String>> = json_param(query, "buildargs")?;
        let network = match query.get("networkmode").unwrap_or("") {
            "none" => Network::None,
            "host" => Network::Host,
            _ => Network::Default,
        };
        let network_mode = query
            .get("networkmode")
            .filter(|m| !m.is_empty() && *m != "default")
            .map(str::to_string);
        Ok(BuildRequest {
            dockerfile: query
                .get("dockerfile")
                .filter(|d| !d.is_empty())
                .unwrap_or("Dockerfile")
                .to_string(),
            options: Options {
                dockerfile: Vec::new(),
                target: query.get("target").map(str::to_string),
                build_args: BuildArgs {
                    // A null value means "from the client's environment", which the
                    // client resolves; one it could not is left unset.
                    given: given
                        .into_iter()
                        .filter_map(|(k, v)| v.map(|v| (k, v)))
                        .collect(),
                    platform: host,
                },
                labels: json_param(query, "labels")?,
                tags,
                no_cache: query.flag("nocache"),
                pull: query.flag("pull"),
                cache_from: json_param(query, "cachefrom")?,
                network,
                secrets: secrets(headers)?,
            },
            quiet: query.flag("q"),
            network_mode,
            credentials: registry_config(headers)?,
            remote,
        })
    }
}

/// berth's own header of build secrets (the classic API has no field for them): base64
/// (URL-safe) JSON of secret ID to base64 content, as `berth build --secret` sends it. A
/// header keeps them out of the context tar, which is spooled to disk, and out of every
/// file on disk: a RUN gets them from a tmpfs (see `build::run::secrets_prefix`). Its size is bounded by the daemon's
/// request head limit (about 400 KiB, so some 200 KiB of secrets once encoded twice), which
/// `berth build` checks before sending.
fn secrets(headers: &HeaderMap) -> Result<berth_builder::mounts::Secrets, ApiError> {
    use base64::Engine as _;
    use berth_builder::mounts::{SecretValue, Secrets};
    let Some(value) = headers.get("x-berth-build-secrets") else {
        return Ok(Secrets::default());
    };
    let invalid =
        |why: &str| ApiError::bad_request(format!("invalid X-Berth-Build-Secrets header: {why}"));
    let text = value.to_str().map_err(|_| invalid("not ASCII"))?.trim();
    if text.is_empty() {
        return Ok(Secrets::default());
    }
    let json = base64::engine::general_purpose::URL_SAFE
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
        .map_err(|_| invalid("not base64"))?;
    let encoded: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| invalid("not a JSON object of strings"))?;
    let mut secrets = BTreeMap::new();
    for (id, content) in encoded {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(content.as_bytes())
            .map_err(|_| invalid(&format!("secret {id:?} is not base64")))?;
        secrets.insert(id, SecretValue(bytes));
    }
    Ok(Secrets(secrets))
}

/// `X-Registry-Config`: base64 JSON of credentials by registry, for the pulls of `FROM`.
fn registry_config(headers: &HeaderMap) -> Result<HashMap<String, Credentials>, ApiError> {
    use base64::Engine as _;
    let Some(value) = headers.get("x-registry-config") else {
        return Ok(HashMap::new());
    };
    let text = value.to_str().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(HashMap::new());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| ApiError::bad_request("invalid X-Registry-Config header"))?;
    let by_server: HashMap<String, Credentials> = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Config header: {e}")))?;
    Ok(by_server
        .into_iter()
        .map(|(server, credentials)| {
            let host = server
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let host = match host.as_str() {
                "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
                _ => host,
            };
            (host, credentials)
        })
        .collect())
}

/// The builder's kinds are a subset of the daemon's.
fn kind_of(kind: ErrorKind) -> crate::error::ErrorKind {
    use crate::error::ErrorKind as Daemon;
    match kind {
        ErrorKind::NotFound => Daemon::NotFound,
        ErrorKind::InvalidArgument => Daemon::InvalidArgument,
        ErrorKind::NotImplemented => Daemon::NotImplemented,
        ErrorKind::Unavailable => Daemon::Unavailable,
        ErrorKind::Internal => Daemon::Internal,
    }
}

fn build_error(err: &BuildError) -> ApiError {
    ApiError::new(kind_of(err.kind()), err.to_string())
}

/// The build's messages, one JSON object a line, to the response body.
struct Stream {
    tx: mpsc::UnboundedSender<Bytes>,
    quiet: bool,
    sent: std::sync::atomic::AtomicBool,
}

impl Stream {
    fn send(&self, message: &Value) {
        self.sent.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut line = serde_json::to_vec(message).unwrap_or_default();
        line.push(b'\n');
        let _ = self.tx.send(Bytes::from(line));
    }
    fn sent_any(&self) -> bool {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Progress for Stream {
    fn stream(&self, text: &str) {
        if !self.quiet {
            self.send(&json!({ "stream": text }));
        }
    }
    fn built(&self, image: &str) {
        self.send(&json!({ "aux": { "ID": image } }));
        if self.quiet {
            self.send(&json!({ "stream": format!("{image}\n") }));
        }
    }
    fn cancelled(&self) -> bool {
        self.tx.is_closed()
    }
}

fn builder_root(engine: &Engine) -> PathBuf {
    engine.config.data_root.join("builder")
}

/// A new directory for one build, under `builder/tmp`, which is emptied once per daemon
/// run first: a build a crash cut short left its directory there.
fn build_dir(engine: &Engine) -> Result<PathBuf, ApiError> {
    static CLEANED: OnceLock<()> = OnceLock::new();
    let tmp = builder_root(engine).join("tmp");
    CLEANED.get_or_init(|| {
        let _ = std::fs::remove_dir_all(&tmp);
        crate::build::run::remove_stale_secrets(engine);
    });
    std::fs::create_dir_all(&tmp)
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", tmp.display())))?;
    let dir = tmp.join(crate::ids::new_container_id());
    std::fs::create_dir(&dir)
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}

/// Sends the body's frames to the build's context reader; once that stops reading (it
/// failed), the rest is read and dropped, so that the client sees the error rather than a
/// broken pipe.
async fn pump(mut body: Incoming, tx: mpsc::Sender<Chunk>) {
    let mut reading = true;
    while let Some(frame) = body.frame().await {
        let chunk = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => Ok(data),
                Err(_) => continue,
            },
            Err(e) => Err(e.to_string()),
        };
        let failed = chunk.is_err();
        if reading && tx.send(chunk).await.is_err() {
            reading = false;
        }
        if failed {
            return;
        }
    }
}

/// The context a `remote=` names, fetched or cloned into the build's directory.
async fn remote_source(remote: Remote, dir: &Path) -> Result<Source, ApiError> {
    let failed = |e: RemoteError| ApiError::new(e.kind(), e.to_string());
    match remote {
        Remote::Http(url) => {
            let file = dir.join("remote");
            remote::fetch(&url, &file, Patience::default())
                .await
                .map_err(failed)?;
            Ok(Source::Fetched(file))
        }
        Remote::Git {
            url,
            reference,
            subdir,
        } => {
            let dest = dir.join("git");
            let root = actix_rt::task::spawn_blocking(move || {
                remote::clone(
                    &url,
                    reference.as_deref(),
                    subdir.as_deref(),
                    &dest,
                    Patience::default(),
                )
            })
            .await
            .map_err(|e| ApiError::internal(format!("cloning the build context: {e}")))?
            .map_err(failed)?;
            Ok(Source::Cloned(root))
        }
    }
}

pub async fn build(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let request = match BuildRequest::parse(&query, req.headers()) {
        Ok(request) => request,
        Err(e) => {
            super::http::discard_body(req.into_body()).await;
            return Err(e);
        }
    };
    let dir = build_dir(engine)?;
    let incoming = req.into_body();
    let mut pumped = None;
    let source = match request.remote.clone() {
        None => {
            // The context is indexed as it arrives, on the build's thread.
            let (chunks, rx) = mpsc::channel(16);
            pumped = Some(actix_rt::spawn(pump(incoming, chunks)));
            Source::Body(BodyReader::new(rx))
        }
        Some(remote) => {
            super::http::discard_body(incoming).await;
            match remote_source(remote, &dir).await {
                Ok(source) => source,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
            }
        }
    };

    let (tx, mut rx) = mpsc::unbounded_channel();
    let (early_tx, early_rx) = oneshot::channel::<ApiError>();
    let engine = engine.clone();
    let arbiter = actix_rt::Arbiter::current();
    actix_rt::task::spawn_blocking(move || {
        let stream = Stream {
            tx,
            quiet: request.quiet,
            sent: Default::default(),
        };
        let started = std::time::Instant::now();
        let result = run_build(&engine, arbiter, request, source, &dir, &stream);
        if let Err(err) = result {
            tracing::info!("build failed: {err}");
            if stream.sent_any() {
                let message = err.to_string();
                stream.send(&json!({ "errorDetail": { "message": message }, "error": message }));
            } else {
                let _ = early_tx.send(build_error(&err));
            }
        }
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "build done");
        // The response ends here; the scratch directory (the spooled context at least) is
        // removed after, so the client does not wait for it. Each build has a directory of
        // its own, and one left by a crash is removed at the next start (`build_dir`).
        drop(stream);
        let _ = std::fs::remove_dir_all(&dir);
    });
    let first = tokio::select! {
        biased;
        early = early_rx => match early {
            Ok(e) => {
                // Answered once the client has sent all it had.
                if let Some(pumped) = pumped {
                    let _ = pumped.await;
                }
                return Err(e);
            }
            Err(_) => rx.recv().await,
        },
        first = rx.recv() => first,
    };
    let mut response = Response::new(body(first, rx));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

fn run_build(
    engine: &Engine,
    arbiter: actix_rt::ArbiterHandle,
    request: BuildRequest,
    source: Source,
    dir: &Path,
    stream: &Stream,
) -> Result<(), BuildError> {
    let context_err = |source| BuildError::Context {
        what: "preparing the build context",
        source,
    };
    let scratch = dir.join("scratch");
    let places = Places::in_dir(dir);
    for d in [&scratch, &places.root] {
        std::fs::create_dir_all(d).map_err(|source| BuildError::Scratch {
            path: d.clone(),
            source,
        })?;
    }
    let started = std::time::Instant::now();
    let context = context::open(source, &places, &request.dockerfile).map_err(context_err)?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "build context read and indexed"
    );
    let mut options = request.options;
    options.dockerfile = context
        .dockerfile(&request.dockerfile)
        .map_err(context_err)?;
    let cache = Cache::open(&builder_root(engine).join("cache"))?;
    let executor = DaemonExecutor {
        engine: engine.clone(),
        arbiter,
        scratch: scratch.clone(),
        network_mode: request.network_mode,
        credentials: request.credentials,
    };
    let builder = Builder {
        executor: &executor,
        cache: &cache,
        context: &context,
        scratch: &scratch,
    };
    builder.build(&options, stream).map(|_| ())
}

fn body(first: Option<Bytes>, rx: mpsc::UnboundedReceiver<Bytes>) -> Body {
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

/// Each built image's parent (the image of the step before), as the build cache records it.
pub fn image_parents(engine: &Engine) -> HashMap<String, String> {
    Cache::at(&builder_root(engine).join("cache")).parents()
}

/// The untagged images of `images` that another of them was built on: a build's steps.
pub fn intermediates(
    parents: &HashMap<String, String>,
    images: &[berth_images::ImageRecord],
) -> std::collections::HashSet<String> {
    let with_children: std::collections::HashSet<&String> = images
        .iter()
        .filter_map(|image| parents.get(&image.id.to_string()))
        .collect();
    images
        .iter()
        .filter(|image| image.repo_tags.is_empty())
        .map(|image| image.id.to_string())
        .filter(|id| with_children.contains(id))
        .collect()
}

/// The build cache as `system df` lists it: each cached step (its image is counted with the
/// images) and each `RUN --mount=type=cache` directory with what it holds.
pub fn cache_usage(engine: &Engine) -> Vec<Value> {
    let root = builder_root(engine);
    let parents = image_parents(engine);
    let mut entries = Vec::new();
    for (image, parent) in &parents {
        entries.push(json!({
            "ID": image.trim_start_matches("sha256:").get(..12).unwrap_or(image),
            "Parents": [parent],
            "Type": "regular",
            "Description": "a build step's image",
            "InUse": false,
            "Shared": false,
            "Size": 0,
            "UsageCount": 1,
        }));
    }
    let mounts = root.join("cache-mounts");
    for dir in std::fs::read_dir(&mounts).into_iter().flatten().flatten() {
        let name = dir.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        entries.push(json!({
            "ID": name.get(..12).unwrap_or(&name),
            "Parents": [],
            "Type": "exec.cachemount",
            "Description": "a RUN --mount=type=cache directory",
            "InUse": false,
            "Shared": true,
            "Size": super::image_admin::du(&dir.path()),
            "UsageCount": 1,
        }));
    }
    entries
}

/// `POST /build/prune`: forgets every cached step (their images stay until pruned) and
/// removes the cache mounts.
pub async fn prune(engine: &Engine) -> ApiResult {
    let root = builder_root(engine);
    let pruned = actix_rt::task::spawn_blocking(move || {
        let (mut deleted, mut bytes) = Cache::open(&root.join("cache"))?.prune()?;
        let mounts = root.join("cache-mounts");
        for dir in std::fs::read_dir(&mounts).into_iter().flatten().flatten() {
            let name = dir.file_name().to_string_lossy().to_string();
            let size = super::image_admin::du(&dir.path());
            // Renamed away first, so a later build never sees a half-removed directory.
            let doomed = mounts.join(format!(".pruned-{}", crate::ids::new_container_id()));
            if std::fs::rename(dir.path(), &doomed).is_ok() {
                let _ = std::fs::remove_dir_all(&doomed);
                deleted.push(name);
                bytes += size;
            }
        }
        Ok::<_, berth_builder::cache::CacheError>((deleted, bytes))
    })
    .await
    .map_err(|e| ApiError::internal(format!("pruning the build cache: {e}")))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    json(
        StatusCode::OK,
        &json!({ "CachesDeleted": pruned.0, "SpaceReclaimed": pruned.1 }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<BuildRequest, ApiError> {
        BuildRequest::parse(&Query::parse(Some(query)), &HeaderMap::new())
    }

    #[test]
    fn the_docker_clis_query_parses() {
        let request = parse(
            "buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3Anull%7D&cachefrom=%5B%5D&cgroupparent=\
             &cpuperiod=0&cpuquota=0&cpusetcpus=&cpusetmems=&cpushares=0&dockerfile=Dockerfile\
             &labels=%7B%7D&memory=0&memswap=0&networkmode=default&rm=1&shmsize=0&t=app%3A1\
             &target=&ulimits=null&version=1",
        )
        .unwrap();
        assert_eq!(request.options.tags, vec!["app:1"]);
        assert_eq!(request.options.build_args.given.len(), 1);
        assert_eq!(request.options.network, Network::Default);
        assert!(request.network_mode.is_none());
        assert_eq!(request.dockerfile, "Dockerfile");
    }

    #[test]
    fn secrets_come_from_their_header() {
        use base64::Engine as _;
        let json = r#"{"token":"aHVudGVyMg=="}"#;
        let mut headers = HeaderMap::new();
        let header = base64::engine::general_purpose::URL_SAFE.encode(json);
        headers.insert("x-berth-build-secrets", header.parse().unwrap());
        let request = BuildRequest::parse(&Query::parse(Some("t=a")), &headers).unwrap();
        assert_eq!(request.options.secrets.0["token"].0, b"hunter2");
        headers.insert("x-berth-build-secrets", "%%%".parse().unwrap());
        let err = BuildRequest::parse(&Query::parse(None), &headers)
            .err()
            .unwrap();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn what_berth_cannot_do_is_refused_clearly() {
        let status = |q: &str| parse(q).err().map(|e| e.status());
        assert_eq!(status("memory=1000000"), Some(StatusCode::NOT_IMPLEMENTED));
        assert_eq!(status("version=2"), Some(StatusCode::NOT_IMPLEMENTED));
        assert_eq!(
            status("remote=ftp://example.invalid/x.tar"),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(status("remote=https://example.invalid/x.git"), None);
        assert_eq!(status("t=Bad%20Tag"), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            status("platform=linux/s390x"),
            Some(StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(status("buildargs=%7Bnot"), Some(StatusCode::BAD_REQUEST));
        assert_eq!(status("networkmode=none"), None);
    }
}
