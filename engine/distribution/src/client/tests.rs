//! The client against a scripted registry on a loopback socket.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::*;
use crate::hosts::{Registries, RegistryConfig};

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send only this many body bytes, then close the connection.
    cut_after: Option<usize>,
}

impl Reply {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            cut_after: None,
        }
    }

    fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A one-thread HTTP/1.1 server; each connection serves one request.
struct Server {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let server_log = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let handler = handler.clone();
                let log = server_log.clone();
                std::thread::spawn(move || serve(stream, &*handler, &log));
            }
        });
        Server { port, log }
    }

    fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return; // a TLS hello, say
    };
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let request = Request {
        method: method.to_string(),
        path: path.to_string(),
        headers,
    };
    log.lock()
        .unwrap()
        .push(format!("{} {}", request.method, request.path));
    let reply = handler(&request);
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    if request.method != "HEAD" {
        let n = reply.cut_after.unwrap_or(reply.body.len());
        let _ = out.write_all(&reply.body[..n]);
    }
    let _ = out.flush();
    let _ = out.shutdown(std::net::Shutdown::Both);
}

fn registries() -> Registries {
    Registries::new(RegistryConfig::new(&[], std::path::Path::new("/nonexistent")).unwrap())
}

fn credentials() -> Credentials {
    Credentials {
        username: "alice".into(),
        password: "secret".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn bearer_tokens_are_fetched_with_basic_credentials_for_the_scopes() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#.to_vec();
    let digest = Digest::of_bytes(&manifest);
    let realm = Arc::new(Mutex::new(String::new()));
    let server_realm = realm.clone();
    let server = Server::start(move |r| {
        let authorized = r.headers.get("authorization").map(String::as_str) == Some("Bearer T0K");
        match r.path.as_str() {
            p if p.starts_with("/token?") => {
                // alice:secret
                if r.headers.get("authorization").map(String::as_str)
                    == Some("Basic YWxpY2U6c2VjcmV0")
                {
                    Reply::new(200, r#"{"token":"T0K"}"#)
                } else {
                    Reply::new(401, "")
                }
            }
            _ if !authorized => Reply::new(
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
            .header(
                "WWW-Authenticate",
                &format!(
                    r#"Bearer realm="{}",service="test",scope="repository:team/app:pull""#,
                    server_realm.lock().unwrap()
                ),
            ),
            "/v2/" => Reply::new(200, "{}"),
            "/v2/team/app/manifests/v1" => Reply::new(200, manifest.clone())
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
            _ => Reply::new(404, ""),
        }
    });
    *realm.lock().unwrap() = format!("http://{}/token", server.domain());
    let repo = registries()
        .repository(
            &server.domain(),
            "team/app",
            Some(credentials()),
            &["pull"],
            &[],
        )
        .await
        .unwrap();
    let fetched = repo.get_manifest("v1").await.unwrap();
    assert_eq!(fetched.digest, digest);
    assert_eq!(fetched.media_type, OCI_MANIFEST);
    let token_requests: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.contains("/token?"))
        .collect();
    assert_eq!(
        token_requests,
        ["GET /token?service=test&scope=repository%3Ateam%2Fapp%3Apull&account=alice"]
    );

    // Wrong credentials are refused with Docker's wording.
    let wrong = Credentials {
        password: "nope".into(),
        ..credentials()
    };
    let err = registries()
        .repository(
            &server.domain(),
            "team/app",
            Some(wrong.clone()),
            &["pull"],
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Unauthorized);
    assert!(
        err.to_string().contains("incorrect username or password"),
        "{err}"
    );
    assert!(registries()
        .login(&server.domain(), credentials())
        .await
        .is_ok());
    assert!(registries().login(&server.domain(), wrong).await.is_err());
}

#[tokio::test]
async fn basic_auth_registries_get_credentials_on_every_request() {
    let server = Server::start(|r| {
        if r.headers.get("authorization").map(String::as_str) != Some("Basic YWxpY2U6c2VjcmV0") {
            return Reply::new(401, "").header("WWW-Authenticate", r#"Basic realm="Registry""#);
        }
        match r.path.as_str() {
            "/v2/" => Reply::new(200, "{}"),
            "/v2/app/tags/list" => Reply::new(200, r#"{"name":"app","tags":["a"]}"#)
                .header("Link", "</v2/app/tags/list?n=1&last=a>; rel=\"next\""),
            "/v2/app/tags/list?n=1&last=a" => Reply::new(200, r#"{"name":"app","tags":["b"]}"#),
            _ => Reply::new(404, ""),
        }
    });
    let repo = registries()
        .repository(&server.domain(), "app", Some(credentials()), &["pull"], &[])
        .await
        .unwrap();
    assert_eq!(repo.tags().await.unwrap(), ["a", "b"]);
    let err = registries()
        .repository(&server.domain(), "app", None, &["pull"], &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("authentication required"), "{err}");
}

fn blob() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// Serves `blob` for /v2/r/blobs/…: the first request is cut after 100 000 bytes; ranged
/// requests are answered with 206, unless `ranges` is false.
fn blob_server(ranges: bool, available: usize) -> Server {
    let data = blob();
    let first = Arc::new(Mutex::new(true));
    Server::start(move |r| {
        if r.path == "/v2/" {
            return Reply::new(200, "{}");
        }
        let range = r
            .headers
            .get("range")
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.trim_end_matches('-').parse::<usize>().ok());
        let served = &data[..available];
        match range {
            Some(start) if ranges => {
                if start >= served.len() {
                    return Reply::new(416, "");
                }
                Reply::new(206, served[start..].to_vec()).header(
                    "Content-Range",
                    &format!("bytes {start}-{}/{}", data.len() - 1, data.len()),
                )
            }
            _ => {
                let mut reply = Reply::new(200, data.clone());
                let mut first = first.lock().unwrap();
                if *first || available < data.len() {
                    reply.cut_after = Some(if *first { 100_000 } else { available });
                    *first = false;
                }
                reply
            }
        }
    })
}

async fn download(server: &Server) -> (Result<(), Error>, Vec<u8>) {
    let repo = registries()
        .repository(&server.domain(), "r", None, &["pull"], &[])
        .await
        .unwrap();
    let data = blob();
    let digest = Digest::of_bytes(&data);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1024);
    let collector = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(chunk) = rx.recv().await {
            all.extend_from_slice(&chunk);
        }
        all
    });
    let result = repo
        .download_blob(&digest, data.len() as u64, &tx, &|_| {})
        .await;
    drop(tx);
    (result, collector.await.unwrap())
}

#[tokio::test]
async fn a_dropped_download_resumes_with_range() {
    let server = blob_server(true, blob().len());
    let (result, received) = download(&server).await;
    result.unwrap();
    assert!(
        received == blob(),
        "the resumed stream is the blob, byte for byte"
    );
    let requests = server.requests();
    assert_eq!(
        requests.iter().filter(|r| r.contains("/blobs/")).count(),
        2,
        "{requests:?}"
    );
}

#[tokio::test]
async fn a_registry_ignoring_range_has_the_known_bytes_skipped() {
    let server = blob_server(false, blob().len());
    let (result, received) = download(&server).await;
    result.unwrap();
    assert!(received == blob());
}

#[tokio::test]
async fn a_truncated_blob_is_an_error() {
    let server = blob_server(true, 150_000);
    let (result, _) = download(&server).await;
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .contains("is truncated: received 150000 of 300000"),
        "{err}"
    );
}

#[tokio::test]
async fn manifests_are_checked_against_their_digest() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#.to_vec();
    let wrong = format!("sha256:{}", "a".repeat(64));
    let announced = wrong.clone();
    let served = manifest.clone();
    let server = Server::start(move |r| match r.path.as_str() {
        "/v2/" => Reply::new(200, "{}"),
        "/v2/r/manifests/tag" => {
            Reply::new(200, served.clone()).header("Docker-Content-Digest", &announced)
        }
        _ => Reply::new(
            404,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        ),
    });
    let repo = registries()
        .repository(&server.domain(), "r", None, &["pull"], &[])
        .await
        .unwrap();
    let err = repo.get_manifest("tag").await.unwrap_err();
    assert!(
        err.to_string().contains("manifest verification failed"),
        "{err}"
    );
    let err = repo.get_manifest(&wrong).await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::NotFound);
    assert!(
        err.to_string()
            .contains("manifest unknown: manifest unknown"),
        "{err}"
    );
}

#[test]
fn link_and_range_headers() {
    assert_eq!(
        next_link(r#"</v2/x/tags/list?last=b&n=2>; rel="next""#).as_deref(),
        Some("/v2/x/tags/list?last=b&n=2")
    );
    assert_eq!(next_link(r#"</a>; rel="prev""#), None);
    assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
    assert_eq!(content_range_start("items 1-2"), None);
}
