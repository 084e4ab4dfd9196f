//! A canned Engine API on a unix socket in a temporary directory, for the
//! client's own tests: it records every request and answers from a route
//! function, including the hijacked attach stream and a wait that completes
//! only after the container was started.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

pub enum Reply {
    /// A status with a JSON body.
    Json(u16, String),
    /// A status with no body.
    Empty(u16),
    /// 101 Switching Protocols, then these bytes, then the stream closes.
    Upgrade(Vec<u8>),
    /// 200 with headers sent at once; the body follows once `/start` came.
    AfterStart(String),
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub struct FakeDaemon {
    _dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeDaemon {
    /// Listens in a fresh temporary directory; must run inside a tokio
    /// runtime, whose tasks serve the connections.
    pub fn start(route: fn(&str, &str) -> Reply) -> FakeDaemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        let socket = dir.path().join("berth.sock");
        let listener = UnixListener::bind(&socket).expect("bind the fake daemon's socket");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(Notify::new());
        let log = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, route, log.clone(), started.clone()));
            }
        });
        FakeDaemon {
            _dir: dir,
            socket,
            requests,
        }
    }

    pub fn host(&self) -> crate::client::Host {
        crate::client::Host::parse(&format!("unix://{}", self.socket.display())).unwrap()
    }

    /// `METHOD path` of each request, in arrival order.
    pub fn lines(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

async fn serve(
    mut stream: UnixStream,
    route: fn(&str, &str) -> Reply,
    log: Arc<Mutex<Vec<Recorded>>>,
    started: Arc<Notify>,
) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        let (method, path) = (request.method.clone(), request.path.clone());
        log.lock().unwrap().push(request);
        if path.ends_with("/start") {
            started.notify_one();
        }
        let reply = route(&method, &path);
        let written = match reply {
            Reply::Json(status, body) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                stream
                    .write_all(&[head.as_bytes(), body.as_bytes()].concat())
                    .await
            }
            Reply::Empty(status) => {
                stream
                    .write_all(
                        format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                    )
                    .await
            }
            Reply::Upgrade(bytes) => {
                let head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
                let _ = stream.write_all(&[head.as_bytes(), &bytes].concat()).await;
                return;
            }
            Reply::AfterStart(body) => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                started.notified().await;
                let chunk = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
                stream.write_all(chunk.as_bytes()).await
            }
        };
        if written.is_err() {
            return;
        }
    }
}

async fn read_request(stream: &mut UnixStream, buffer: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if !fill(stream, buffer).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    buffer.drain(..head_end + 4);
    let mut lines = head.lines();
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        while buffer.len() < length {
            if !fill(stream, buffer).await {
                return None;
            }
        }
        body = buffer.drain(..length).collect();
    } else if header("transfer-encoding").as_deref() == Some("chunked") {
        loop {
            let line_end = loop {
                if let Some(i) = buffer.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                if !fill(stream, buffer).await {
                    return None;
                }
            };
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&buffer[..line_end]).trim(), 16)
                    .ok()?;
            buffer.drain(..line_end + 2);
            while buffer.len() < size + 2 {
                if !fill(stream, buffer).await {
                    return None;
                }
            }
            body.extend(buffer.drain(..size));
            buffer.drain(..2);
            if size == 0 {
                break;
            }
        }
    }
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

async fn fill(stream: &mut UnixStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}
