//! A scripted registry on a loopback port, for what a real registry never serves: blobs
//! with the wrong content, cut short, malformed manifests, connections that drop.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// How a path is answered.
#[derive(Clone)]
pub struct Route {
    pub content_type: String,
    pub body: Vec<u8>,
    /// Announce the body's full length but send only this many bytes of the first
    /// response, then close the connection (a dropped download).
    pub drop_first_after: Option<usize>,
    /// Serve only this many bytes, ever, while announcing the full length (a blob cut
    /// short at its source).
    pub truncate_at: Option<usize>,
}

impl Route {
    pub fn new(content_type: &str, body: Vec<u8>) -> Route {
        Route {
            content_type: content_type.into(),
            body,
            drop_first_after: None,
            truncate_at: None,
        }
    }
}

pub struct FakeRegistry {
    pub port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeRegistry {
    /// Serves `routes` (paths under `/v2/`), answering 404 elsewhere; ranged GETs are
    /// answered with 206.
    pub fn start(routes: HashMap<String, Route>) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(routes);
        let served: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let log = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (routes, served, log) = (routes.clone(), served.clone(), log.clone());
                thread::spawn(move || serve(stream, &routes, &served, &log));
            }
        });
        FakeRegistry { port, requests }
    }

    pub fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Request lines seen so far (`GET /v2/…`, with a ` range=…` suffix when ranged).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    routes: &HashMap<String, Route>,
    served: &Mutex<HashMap<String, usize>>,
    log: &Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("cloning a socket"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return; // not HTTP (a TLS hello)
    };
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = value
                    .trim()
                    .strip_prefix("bytes=")
                    .and_then(|v| v.trim_end_matches('-').parse::<usize>().ok());
            }
        }
    }
    let suffix = range.map(|r| format!(" range={r}")).unwrap_or_default();
    log.lock().unwrap().push(format!("{method} {path}{suffix}"));
    let mut out = stream;
    let write = |out: &mut TcpStream, status: &str, headers: &str, body: &[u8], send: usize| {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        );
        let _ = out.write_all(head.as_bytes());
        if method != "HEAD" {
            let _ = out.write_all(&body[..send.min(body.len())]);
        }
        let _ = out.flush();
        let _ = out.shutdown(std::net::Shutdown::Both);
    };
    if path == "/v2/" {
        return write(&mut out, "200 OK", "", b"{}", 2);
    }
    let Some(route) = routes.get(path) else {
        let body = br#"{"errors":[{"code":"NOT_FOUND","message":"not found"}]}"#;
        return write(&mut out, "404 Not Found", "", body, body.len());
    };
    let count = {
        let mut served = served.lock().unwrap();
        let n = served.entry(path.to_string()).or_default();
        *n += 1;
        *n
    };
    let available = route.truncate_at.unwrap_or(route.body.len());
    let content_type = format!("Content-Type: {}\r\n", route.content_type);
    match range {
        Some(start) => {
            if start >= available {
                return write(&mut out, "416 Range Not Satisfiable", "", b"", 0);
            }
            let headers = format!(
                "{content_type}Content-Range: bytes {start}-{}/{}\r\n",
                route.body.len() - 1,
                route.body.len()
            );
            let body = &route.body[start..];
            write(
                &mut out,
                "206 Partial Content",
                &headers,
                body,
                available - start,
            )
        }
        None => {
            let send = match route.drop_first_after {
                Some(n) if count == 1 => n,
                _ => available,
            };
            write(&mut out, "200 OK", &content_type, &route.body, send)
        }
    }
}
