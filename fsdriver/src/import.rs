//! One pass over a layer as it arrives (an upload, later a registry download): the raw
//! bytes are stored as the layer's blob while the decompressed stream is extracted.

use std::io::{self, Read};

use crate::compression::{self, Compression, CompressionError};
use crate::content::{BlobWriter, ContentError, ContentStore, Descriptor};
use crate::digest::Digest;
use crate::layer::{LayerError, LayerInfo, LayerStore};

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
}

impl ImportError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            ImportError::Content(e) => e.kind(),
            ImportError::Layer(e) => e.kind(),
            ImportError::Compression(e) => e.kind(),
            ImportError::Read(_) => crate::ErrorKind::InvalidArgument,
        }
    }
}

/// Stores the layer stream `reader` (gzip, zstd or plain tar) as a blob and as an extracted
/// layer. On any error nothing new is left in either store.
pub fn ingest_layer(
    content: &ContentStore,
    layers: &LayerStore,
    reader: impl Read,
) -> Result<IngestedLayer, ImportError> {
    let mut tee = Tee {
        source: reader,
        blob: content.writer()?,
        write_error: None,
    };
    let staged = compression::decompress(&mut tee)
        .map_err(ImportError::from)
        .and_then(|(compression, stream)| Ok((compression, layers.stage(stream)?)));
    // A failed blob write surfaces to the extractor as a read error; report the real cause.
    if let Some(e) = tee.write_error.take() {
        return Err(e.into());
    }
    let (compression, staged) = staged?;
    // The decompressor stops at the end of its stream; anything after it is still part of
    // the blob as it was sent.
    io::copy(&mut tee, &mut io::sink()).map_err(|e| match tee.write_error.take() {
        Some(write_error) => ImportError::Content(write_error),
        None => ImportError::Read(e),
    })?;
    let blob = tee.blob.commit(None)?;
    let layer = staged.commit()?;
    Ok(IngestedLayer {
        blob,
        diff_id: layer.diff_id.clone(),
        compression,
        media_type: compression.oci_layer_media_type(),
        layer,
    })
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
