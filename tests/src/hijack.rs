//! A raw attach client: the upgrade request by hand and the hijacked stream as bytes, to check
//! what the daemon sends and to behave as badly as a real client may (closing mid-stream).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::command::COMMAND_TIMEOUT;

/// A hijacked connection after its `101 Switching Protocols`.
pub struct Hijacked {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// The answer's headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Hijacked {
    /// `POST path` with the upgrade headers; fails unless the answer is 101.
    pub fn post(socket: &Path, path: &str, body: Option<&str>) -> io::Result<Hijacked> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
        let mut writer = stream.try_clone()?;
        let body = body.unwrap_or("");
        write!(
            writer,
            "POST {path} HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status)?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_lowercase(), value.trim().to_owned()));
            }
        }
        if !status.starts_with("HTTP/1.1 101") {
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            return Err(io::Error::other(format!("{} {rest}", status.trim_end())));
        }
        Ok(Hijacked {
            reader,
            writer,
            headers,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.writer.write_all(data)
    }

    /// Half-closes: the daemon reads end-of-file, the output keeps coming.
    pub fn close_input(&self) -> io::Result<()> {
        self.writer.shutdown(Shutdown::Write)
    }

    /// Reads multiplexed frames until stdout holds `text`; returns (stdout, stderr) so far.
    pub fn read_until(&mut self, text: &str) -> io::Result<(String, String)> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while !String::from_utf8_lossy(&stdout).contains(text) {
            if !self.read_frame(&mut stdout, &mut stderr)? {
                return Err(io::Error::other(format!(
                    "the stream ended before {text:?}: {:?}",
                    String::from_utf8_lossy(&stdout)
                )));
            }
        }
        Ok(lossy(stdout, stderr))
    }

    /// Reads multiplexed frames until the daemon closes the stream.
    pub fn read_to_end(&mut self) -> io::Result<(String, String)> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while self.read_frame(&mut stdout, &mut stderr)? {}
        Ok(lossy(stdout, stderr))
    }

    /// Reads the raw stream (a TTY's) until it holds `text`; returns it so far.
    pub fn read_raw_until(&mut self, text: &str) -> io::Result<String> {
        let mut bytes = Vec::new();
        while !String::from_utf8_lossy(&bytes).contains(text) {
            let mut buf = [0u8; 4096];
            let n = self.reader.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::other(format!(
                    "the stream ended before {text:?}: {:?}",
                    String::from_utf8_lossy(&bytes)
                )));
            }
            bytes.extend_from_slice(&buf[..n]);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads the raw stream (a TTY's) until the daemon closes it.
    pub fn read_raw_to_end(&mut self) -> io::Result<String> {
        let mut bytes = Vec::new();
        self.reader.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// One frame; false at a clean end of stream.
    fn read_frame(&mut self, stdout: &mut Vec<u8>, stderr: &mut Vec<u8>) -> io::Result<bool> {
        let mut header = [0u8; 8];
        match self.reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut payload = vec![0u8; len];
        self.reader.read_exact(&mut payload)?;
        match header[0] {
            1 => stdout.extend_from_slice(&payload),
            2 => stderr.extend_from_slice(&payload),
            other => return Err(io::Error::other(format!("a frame of stream {other}"))),
        }
        Ok(true)
    }
}

fn lossy(stdout: Vec<u8>, stderr: Vec<u8>) -> (String, String) {
    (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}
