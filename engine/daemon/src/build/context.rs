//! The build context as it reaches berthd: the request's body streamed, as it arrives,
//! through its decompressor into berth-builder's index (nothing is extracted before a step
//! needs the files), or what a `remote=` URL names: a tar or a Dockerfile fetched over
//! HTTP, or a git repository cloned with the host's `git`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_builder::context::{Context, ContextError};
use bytes::Bytes;
use fsdriver::compression::{Compression, CompressionError};

/// A chunk of the request's body, or why reading it failed.
pub type Chunk = Result<Bytes, String>;

/// The request's body as a blocking reader: the API task sends its frames here.
pub struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<Chunk>,
    current: Bytes,
}

impl BodyReader {
    pub fn new(rx: tokio::sync::mpsc::Receiver<Chunk>) -> BodyReader {
        BodyReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => {
                    return Err(std::io::Error::other(format!(
                        "reading the build context: {e}"
                    )))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Where one build's context lives: its files (once extracted) and the spooled tar.
pub struct Places {
    pub root: PathBuf,
    pub spool: PathBuf,
}

impl Places {
    pub fn in_dir(dir: &Path) -> Places {
        Places {
            root: dir.join("context"),
            spool: dir.join("context.tar"),
        }
    }
}

/// Indexes the (plain, gzip, zstd, xz or bzip2) tar `reader`, read to its end. xz and
/// bzip2 go through the host's `xz -dc` and `bzip2 -dc`, as dockerd runs `xz`; without the
/// program, the compression is refused.
pub fn index(mut reader: impl Read + Send, places: &Places) -> Result<Context, ContextError> {
    let mut head = Vec::with_capacity(8);
    (&mut reader)
        .take(6)
        .read_to_end(&mut head)
        .map_err(|e| ContextError::Archive(e.to_string()))?;
    let whole = std::io::Cursor::new(head.clone()).chain(reader);
    match Compression::detect(&head) {
        Err(CompressionError::Unsupported(name)) => through_program(name, whole, places),
        _ => {
            let (_, tar) = fsdriver::compression::decompress(whole)
                .map_err(|e| ContextError::Archive(e.to_string()))?;
            Context::stream(tar, &places.root, &places.spool)
        }
    }
}

fn through_program(
    name: &'static str,
    mut compressed: impl Read + Send,
    places: &Places,
) -> Result<Context, ContextError> {
    let mut child = match Command::new(name)
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The body is still read, so that the client sees this error.
            let _ = std::io::copy(&mut compressed, &mut std::io::sink());
            return Err(ContextError::Compression(name));
        }
        Err(source) => {
            return Err(ContextError::Io {
                op: "starting the decompressor",
                path: PathBuf::from(name),
                source,
            })
        }
    };
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(ContextError::Archive(format!("{name} -dc has no pipes")));
    };
    let indexed = std::thread::scope(|scope| {
        // The decompressor's input is fed on a thread of its own while its output is
        // read here; a decompressor that stops early (bad input) ends both.
        let feeder = scope.spawn(move || {
            let _ = std::io::copy(&mut compressed, &mut stdin);
        });
        let indexed = Context::stream(
            std::io::BufReader::with_capacity(1 << 20, stdout),
            &places.root,
            &places.spool,
        );
        let _ = feeder.join();
        indexed
    });
    let output = child
        .wait_with_output()
        .map_err(|source| ContextError::Io {
            op: "waiting for the decompressor",
            path: PathBuf::from(name),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ContextError::Archive(format!(
            "{name}-compressed: {}",
            stderr.trim()
        )));
    }
    indexed
}

/// Where a build's context comes from.
pub enum Source {
    /// The request's body.
    Body(BodyReader),
    /// A `remote=` URL's content, downloaded to this file: a tar, or else a Dockerfile.
    Fetched(PathBuf),
    /// A `remote=` repository, cloned: the context directory.
    Cloned(PathBuf),
}

/// The build's context from `source`. A fetched file that is no archive is the
/// Dockerfile, named `dockerfile` in a context of its own, as dockerd takes it.
pub fn open(source: Source, places: &Places, dockerfile: &str) -> Result<Context, ContextError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ContextError::Io { op, path, source }
    };
    match source {
        Source::Body(reader) => index(reader, places),
        Source::Cloned(root) => Ok(Context::at(&root)),
        Source::Fetched(file) => {
            let mut head = Vec::with_capacity(512);
            std::fs::File::open(&file)
                .map_err(io("opening", &file))?
                .take(512)
                .read_to_end(&mut head)
                .map_err(io("reading", &file))?;
            let tar = head.len() >= 262 && &head[257..262] == b"ustar";
            let compressed = !matches!(Compression::detect(&head), Ok(Compression::None));
            let reader = std::fs::File::open(&file).map_err(io("opening", &file))?;
            if tar || compressed {
                return index(std::io::BufReader::new(reader), places);
            }
            let content = std::fs::read(&file).map_err(io("reading", &file))?;
            let mut tar = tar::Builder::new(Vec::new());
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            tar.append_data(&mut header, dockerfile, &content[..])
                .and_then(|_| tar.into_inner())
                .map_err(io("packing the Dockerfile of", &file))
                .and_then(|bytes| index(&bytes[..], places))
        }
    }
}
