//! One pass over a layer as it arrives (an upload, a registry download, a member of an image
//! archive): the raw bytes are stored as the layer's blob while the decompressed stream is
//! extracted.
//!
//! An uncompressed layer's blob is its tar, so its digest is its diff_id: those bytes are
//! hashed once, by the extractor, rather than again as the blob is written.

use std::io::{self, Read, Write};

use crate::compression::{self, Compression, CompressionError};
use crate::content::{BlobWriter, ContentError, ContentStore, Descriptor};
use crate::digest::Digest;
use crate::layer::{LayerError, LayerInfo, LayerStore, StagedLayer};

/// A layer stored both as a blob and as an extracted directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestedLayer {
    /// The blob as received (compressed or not).
    pub blob: Descriptor,
    pub diff_id: Digest,
    pub compression: Compression,
    /// The blob's OCI media type, from its compression.
    pub media_type: &'static str,
    pub layer: LayerInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Compression(#[from] CompressionError),
    #[error("invalid layer tar: {0}")]
    Read(#[source] io::Error),
    /// The function writing a layer tar ([`ingest_written`]) failed.
    #[error("writing the layer tar: {0}")]
    Write(#[source] io::Error),
}

impl ImportError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            ImportError::Content(e) => e.kind(),
            ImportError::Layer(e) => e.kind(),
            ImportError::Compression(e) => e.kind(),
            ImportError::Read(_) => crate::ErrorKind::InvalidArgument,
            ImportError::Write(_) => crate::ErrorKind::Internal,
        }
    }
}

/// A layer read to its end and extracted, with nothing stored yet: its blob and its
/// directory are temporary until [`ReceivedLayer::commit`], and dropping it removes both.
/// This lets a caller check the digests it was promised before anything becomes visible.
pub struct ReceivedLayer<'a> {
    blob: BlobWriter<'a>,
    blob_digest: Digest,
    compression: Compression,
    staged: StagedLayer<'a>,
}

impl ReceivedLayer<'_> {
    /// The blob as received.
    pub fn blob(&self) -> Descriptor {
        Descriptor {
            digest: self.blob_digest.clone(),
            size: self.blob.size(),
        }
    }

    pub fn diff_id(&self) -> &Digest {
        self.staged.diff_id()
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Stores the blob, then the layer (each kept as it is if already stored).
    pub fn commit(self) -> Result<IngestedLayer, ImportError> {
        let blob = self.blob.commit(Some(&self.blob_digest))?;
        let layer = self.staged.commit()?;
        Ok(IngestedLayer {
            blob,
            diff_id: layer.diff_id.clone(),
            compression: self.compression,
            media_type: self.compression.oci_layer_media_type(),
            layer,
        })
    }
}

/// Reads the layer stream `reader` (gzip, zstd or plain tar) to its end, writing it to a
/// temporary blob while extracting it to a temporary directory. On any error nothing is
/// left behind.
pub fn receive_layer<'a>(
    content: &'a ContentStore,
    layers: &'a LayerStore,
    reader: impl Read,
) -> Result<ReceivedLayer<'a>, ImportError> {
    let (compression, reader) = compression::sniff(reader)?;
    let blob = match compression {
        // The extractor hashes this very stream for the diff_id.
        Compression::None => content.unhashed_writer()?,
        Compression::Gzip | Compression::Zstd => content.writer()?,
    };
    let mut tee = Tee {
        source: reader,
        blob,
        write_error: None,
    };
    let staged = compression::decompress(&mut tee)
        .map_err(ImportError::from)
        .and_then(|(_, stream)| Ok(layers.stage(stream)?));
    // A failed blob write surfaces to the extractor as a read error; report the real cause.
    if let Some(e) = tee.write_error.take() {
        return Err(e.into());
    }
    let staged = staged?;
    // The decompressor stops at the end of its stream; anything after it is still part of
    // the blob as it was sent. (The extractor reads a plain tar to its end itself.)
    let trailing =
        io::copy(&mut tee, &mut io::sink()).map_err(|e| match tee.write_error.take() {
            Some(write_error) => ImportError::Content(write_error),
            None => ImportError::Read(e),
        })?;
    let blob_digest = match tee.blob.digest() {
        Some(digest) => digest,
        None if trailing == 0 => staged.diff_id().clone(),
        None => {
            return Err(ImportError::Read(io::Error::other(
                "the layer stream went on after the extractor had read it to its end",
            )))
        }
    };
    Ok(ReceivedLayer {
        blob: tee.blob,
        blob_digest,
        compression,
        staged,
    })
}

/// Stores the layer stream `reader` (gzip, zstd or plain tar) as a blob and as an extracted
/// layer. On any error nothing new is left in either store.
pub fn ingest_layer(
    content: &ContentStore,
    layers: &LayerStore,
    reader: impl Read,
) -> Result<IngestedLayer, ImportError> {
    receive_layer(content, layers, reader)?.commit()
}

/// What writes a layer tar for [`ingest_written`].
pub type LayerWriter<'a> = dyn FnMut(&mut dyn Write) -> io::Result<()> + Send + 'a;

/// Buffers the writer hands on to the reader at a time, and how many may wait.
const CHUNK: usize = 1 << 20;
const QUEUED: usize = 4;

/// Stores the plain layer tar that `write` writes, as [`ingest_layer`] stores a stream: the
/// tar is extracted (and written as the blob) while it is written, on a thread of its own,
/// with no file of its own in between. Nothing is stored unless `write` succeeds: a writer
/// that stops early would otherwise leave a truncated tar that reads as a complete one.
pub fn ingest_written(
    content: &ContentStore,
    layers: &LayerStore,
    write: &mut LayerWriter<'_>,
) -> Result<IngestedLayer, ImportError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUED);
    std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("layer-tar".into())
            .spawn_scoped(scope, move || {
                let mut out = ChunkWriter {
                    tx,
                    buf: Vec::with_capacity(CHUNK),
                };
                write(&mut out).and_then(|()| out.send())
            })
            .map_err(ImportError::Write)?;
        let received = receive_layer(
            content,
            layers,
            ChunkReader {
                rx,
                current: Vec::new(),
                at: 0,
            },
        );
        // The reader is gone by now, so a writer still writing fails rather than waits.
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the layer tar's writer panicked")));
        match (written, received) {
            (Ok(()), received) => received?.commit(),
            // The store stopped reading (a bad entry, a full disk): its error says why.
            (Err(e), Err(stored)) if e.kind() == io::ErrorKind::BrokenPipe => Err(stored),
            (Err(e), _) => Err(ImportError::Write(e)),
        }
    })
}

/// The writing end of [`ingest_written`]'s channel.
struct ChunkWriter {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.send(chunk).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the layer store stopped reading the tar",
            )
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading end: the chunks in order, then the end once the writer is gone.
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Copies everything read from `source` into the blob being written.
struct Tee<'a, R> {
    source: R,
    blob: BlobWriter<'a>,
    write_error: Option<ContentError>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read(buf)?;
        if let Err(e) = self.blob.write_chunk(&buf[..n]) {
            self.write_error = Some(e);
            return Err(io::Error::other("storing the layer blob failed"));
        }
        Ok(n)
    }
}
