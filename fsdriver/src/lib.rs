//! The layer store: content-addressed blobs, layer extraction and overlay mounts.
//!
//! Layout under a store root (the image service uses `<data-root>/image`):
//! - `blobs/sha256/<hex>`: OCI blobs ([`content::ContentStore`]);
//! - `layers/<hex>/diff`: each layer extracted once, keyed by diff_id ([`layer::LayerStore`]);
//! - `files/<blake3 key>`: one link to each distinct file of the layers, through which
//!   identical files of different layers are stored once ([`dedup::DedupIndex`]).

pub mod atomic;
pub mod changes;
pub mod compression;
pub mod content;
pub mod dedup;
pub mod diff;
pub mod digest;
pub mod extract;
pub mod import;
pub mod layer;
pub mod overlay;

pub use digest::Digest;

/// How a failure should be reported (the API maps these to 404, 400 and 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    /// Bad input: a malformed digest, a bad or truncated tar, a tar bomb, a digest mismatch.
    InvalidArgument,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Digest(#[from] digest::DigestError),
    #[error(transparent)]
    Content(#[from] content::ContentError),
    #[error(transparent)]
    Compression(#[from] compression::CompressionError),
    #[error(transparent)]
    Extract(#[from] extract::ExtractError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    #[error(transparent)]
    Import(#[from] import::ImportError),
    #[error(transparent)]
    Overlay(#[from] overlay::OverlayError),
    #[error(transparent)]
    Diff(#[from] diff::DiffError),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Digest(_) => ErrorKind::InvalidArgument,
            Error::Content(e) => e.kind(),
            Error::Compression(e) => e.kind(),
            Error::Extract(e) => e.kind(),
            Error::Layer(e) => e.kind(),
            Error::Import(e) => e.kind(),
            Error::Overlay(e) => e.kind(),
            Error::Diff(e) => e.kind(),
        }
    }
}
