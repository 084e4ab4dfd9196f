//! HTTP/1.1 over the daemon's unix socket, speaking the Docker Engine API.
//!
//! Plain requests share one keep-alive connection; long-lived exchanges
//! (`wait`, streamed bodies, the hijacked attach stream) each get a connection
//! of their own so they never block the shared one.

pub mod host;
pub mod query;

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use host::Host;

/// Every path is sent with this prefix; berthd and dockerd both accept it.
pub const API_PREFIX: &str = "/v1.49";

const USER_AGENT_VALUE: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

pub type RequestBody = UnsyncBoxBody<Bytes, std::io::Error>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Cannot connect to the berth daemon at {host}. Is the berth daemon running?")]
    Unreachable {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "permission denied while trying to connect to the berth daemon socket at {host}: {source}"
    )]
    PermissionDenied {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    #[error("error talking to the berth daemon at {host}: {source}")]
    Protocol {
        host: String,
        #[source]
        source: hyper::Error,
    },
    #[error("the berth daemon sent an answer to {what} that berth cannot read: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the berth daemon did not switch protocols for {path} (answered HTTP {status})")]
    NoUpgrade { path: String, status: u16 },
}

impl ClientError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Daemon { status: 404, .. })
    }
}

pub struct Client {
    host: Host,
    shared: Option<SendRequest<RequestBody>>,
    debug: bool,
}

pub fn empty_body() -> RequestBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn bytes_body(data: impl Into<Bytes>) -> RequestBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

impl Client {
    pub fn new(host: Host) -> Client {
        Client {
            host,
            shared: None,
            debug: false,
        }
    }

    /// With `-D`, every request is traced on stderr.
    pub fn with_debug(mut self, debug: bool) -> Client {
        self.debug = debug;
        self
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Opens a fresh connection; upgrades are enabled so the same code path
    /// serves the hijacked attach stream.
    pub async fn connect(&self) -> Result<SendRequest<RequestBody>, ClientError> {
        let stream = tokio::net::UnixStream::connect(&self.host.socket)
            .await
            .map_err(|source| {
                let host = self.host.display.clone();
                if source.kind() == std::io::ErrorKind::PermissionDenied {
                    ClientError::PermissionDenied { host, source }
                } else {
                    ClientError::Unreachable { host, source }
                }
            })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| self.protocol(source))?;
        tokio::spawn(async move {
            // The connection's fate is reported through the request futures.
            let _ = connection.with_upgrades().await;
        });
        Ok(sender)
    }

    fn protocol(&self, source: hyper::Error) -> ClientError {
        ClientError::Protocol {
            host: self.host.display.clone(),
            source,
        }
    }

    fn build(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        json: bool,
    ) -> Request<RequestBody> {
        if self.debug {
            eprintln!("DEBU {method} {API_PREFIX}{path} ({})", self.host.display);
        }
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{API_PREFIX}{path}"))
            .header(HOST, "berth")
            .header(USER_AGENT, USER_AGENT_VALUE);
        if json {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        builder
            .body(body)
            .expect("request parts are built from valid static headers and an escaped path")
    }

    async fn send_shared(
        &mut self,
        request: Request<RequestBody>,
    ) -> Result<Response<Incoming>, ClientError> {
        let reusable = self.shared.as_mut().is_some_and(|s| !s.is_closed());
        if !reusable {
            self.shared = Some(self.connect().await?);
        }
        let sender = self
            .shared
            .as_mut()
            .expect("connection was just established");
        sender.ready().await.map_err(|e| self.protocol(e))?;
        let sender = self
            .shared
            .as_mut()
            .expect("connection was just established");
        let response = sender.send_request(request).await;
        response.map_err(|e| self.protocol(e))
    }

    /// Sends a request on the shared connection and reads the whole answer.
    /// Error statuses become [`ClientError::Daemon`].
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        let json = body.is_some();
        let body = body.map(bytes_body).unwrap_or_else(empty_body);
        let request = self.build(method, path, body, json);
        let response = self.send_shared(request).await?;
        let response = self.unless_failed(response).await?;
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.protocol(e))?
            .to_bytes();
        Ok(bytes)
    }

    pub async fn get<T: DeserializeOwned>(&mut self, path: &str) -> Result<T, ClientError> {
        let bytes = self.call(Method::GET, path, None).await?;
        decode(path, &bytes)
    }

    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let encoded = serde_json::to_vec(body).map_err(|source| ClientError::Decode {
            what: path.to_owned(),
            source,
        })?;
        let bytes = self.call(Method::POST, path, Some(encoded)).await?;
        decode(path, &bytes)
    }

    /// Sends a request on a dedicated connection and hands back the response
    /// with its body unread, for answers that arrive over time.
    pub async fn stream(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
    ) -> Result<Response<Incoming>, ClientError> {
        self.stream_with_headers(method, path, body, &[]).await
    }

    /// [`Client::stream`] with extra request headers (`X-Registry-Auth`, say).
    pub async fn stream_with_headers(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        headers: &[(&'static str, String)],
    ) -> Result<Response<Incoming>, ClientError> {
        let mut sender = self.connect().await?;
        let mut request = self.build(method, path, body, false);
        for (name, value) in headers {
            let value = hyper::header::HeaderValue::from_str(value)
                .expect("header values are base64 or plain tokens");
            request.headers_mut().insert(*name, value);
        }
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.protocol(e))?;
        self.unless_failed(response).await
    }

    /// `response`, or the daemon's error when its status is 4xx or 5xx, read from
    /// its body.
    async fn unless_failed(
        &self,
        response: Response<Incoming>,
    ) -> Result<Response<Incoming>, ClientError> {
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| self.protocol(e))?
                .to_bytes();
            return Err(daemon_error(status, &bytes));
        }
        Ok(response)
    }

    /// Performs the HTTP/1.1 upgrade the attach and exec start endpoints
    /// require (101 Switching Protocols) and returns the raw duplex stream.
    /// `json` is the request's body, if it has one.
    pub async fn upgrade(
        &self,
        path: &str,
        json: Option<Vec<u8>>,
    ) -> Result<Upgraded, ClientError> {
        let mut sender = self.connect().await?;
        let has_body = json.is_some();
        let body = json.map(bytes_body).unwrap_or_else(empty_body);
        let mut request = self.build(Method::POST, path, body, has_body);
        let headers = request.headers_mut();
        headers.insert(
            CONNECTION,
            hyper::header::HeaderValue::from_static("Upgrade"),
        );
        headers.insert(UPGRADE, hyper::header::HeaderValue::from_static("tcp"));
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.protocol(e))?;
        let status = response.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            self.unless_failed(response).await?;
            return Err(ClientError::NoUpgrade {
                path: path.to_owned(),
                status: status.as_u16(),
            });
        }
        let raw_stream = stream_format(&response);
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| self.protocol(e))?;
        Ok(Upgraded {
            io: TokioIo::new(upgraded),
            raw_stream,
        })
    }
}

/// The hijacked connection of an attach, and whether the daemon announced a
/// raw (TTY) stream rather than the 8-byte framed one (`None`: it did not say,
/// and the process's TTY decides).
pub struct Upgraded {
    pub io: TokioIo<hyper::upgrade::Upgraded>,
    pub raw_stream: Option<bool>,
}

/// Docker ≥ 1.42 names the stream format in Content-Type: `Some(true)` for
/// a raw (TTY) stream, `Some(false)` for the framed one, `None` when the
/// daemon does not say.
pub fn stream_format<B>(response: &Response<B>) -> Option<bool> {
    let content_type = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    if content_type.starts_with("application/vnd.docker.raw-stream") {
        Some(true)
    } else if content_type.starts_with("application/vnd.docker.multiplexed-stream") {
        Some(false)
    } else {
        None
    }
}

pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|source| ClientError::Decode {
        what: what.to_owned(),
        source,
    })
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    message: String,
}

fn daemon_error(status: StatusCode, body: &[u8]) -> ClientError {
    let message = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => parsed.message,
        Err(_) => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() {
                format!(
                    "request returned {} with an empty body",
                    status.canonical_reason().unwrap_or(status.as_str())
                )
            } else {
                text
            }
        }
    };
    ClientError::Daemon {
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_daemon::{FakeDaemon, Reply};

    fn routes(method: &str, path: &str) -> Reply {
        match (method, path) {
            ("GET", "/v1.49/version") => {
                Reply::Json(200, r#"{"Version":"9.9","ApiVersion":"1.49"}"#.into())
            }
            ("GET", "/v1.49/containers/nope/json") => {
                Reply::Json(404, r#"{"message":"No such container: nope"}"#.into())
            }
            _ => Reply::Json(500, r#"{"message":"unexpected"}"#.into()),
        }
    }

    #[tokio::test]
    async fn requests_use_the_api_prefix_and_keep_one_connection() {
        let daemon = FakeDaemon::start(routes);
        let mut client = Client::new(daemon.host());
        let version: bollard_stubs::models::SystemVersion = client.get("/version").await.unwrap();
        assert_eq!(version.version.as_deref(), Some("9.9"));
        let err = client
            .get::<serde_json::Value>("/containers/nope/json")
            .await
            .unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            "Error response from daemon: No such container: nope"
        );
        assert_eq!(
            daemon.lines(),
            ["GET /v1.49/version", "GET /v1.49/containers/nope/json"]
        );
    }

    #[tokio::test]
    async fn an_absent_daemon_reads_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::parse(&format!("unix://{}/none.sock", dir.path().display())).unwrap();
        let err = Client::new(host.clone())
            .get::<serde_json::Value>("/version")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Cannot connect to the berth daemon at {}. Is the berth daemon running?",
                host.display
            )
        );
    }

    #[test]
    fn daemon_errors_carry_the_message_field() {
        let err = daemon_error(
            StatusCode::NOT_FOUND,
            br#"{"message":"No such container: x"}"#,
        );
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            "Error response from daemon: No such container: x"
        );
        let plain = daemon_error(StatusCode::INTERNAL_SERVER_ERROR, b"boom\n");
        assert_eq!(plain.to_string(), "Error response from daemon: boom");
        let empty = daemon_error(StatusCode::CONFLICT, b"");
        assert_eq!(
            empty.to_string(),
            "Error response from daemon: request returned Conflict with an empty body"
        );
    }
}
