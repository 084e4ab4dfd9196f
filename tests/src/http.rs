//! A bare HTTP/1.1 client over a unix socket, for checking the API byte by byte (status
//! codes, headers, error bodies) without any client library smoothing things over.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::command::COMMAND_TIMEOUT;

/// One response, read until the server closed the connection.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names as sent; compare them case-insensitively (see [`HttpResponse::header`]).
    pub headers: Vec<(String, String)>,
    /// The body, with chunked transfer encoding already undone.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; fails the test if it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self}"))
    }

    /// The `message` of a Docker error body (`{"message": "..."}`); fails the test if absent.
    #[track_caller]
    pub fn error_message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"message\" in the error body: {self}"))
            .to_owned()
    }
}

impl std::fmt::Display for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {:?} {}", self.status, self.headers, self.text())
    }
}

/// Sends one request on a new connection to the unix socket `socket` and reads the whole
/// response. `body` is `(content type, bytes)`.
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> io::Result<HttpResponse> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    stream.set_write_timeout(Some(COMMAND_TIMEOUT))?;

    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some((content_type, bytes)) = body {
        head += &format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            bytes.len()
        );
    }
    head += "\r\n";
    stream.write_all(head.as_bytes())?;
    if let Some((_, bytes)) = body {
        stream.write_all(bytes)?;
    }

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], head_only: bool) -> io::Result<HttpResponse> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("response without an end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("malformed status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only {
        return Ok(response);
    }
    let rest = &raw[end + 4..];
    response.body = match response.header("Transfer-Encoding") {
        Some(te) if te.eq_ignore_ascii_case("chunked") => {
            dechunk(rest).ok_or_else(|| bad("bad chunked body"))?
        }
        _ => rest.to_vec(),
    };
    Ok(response)
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
