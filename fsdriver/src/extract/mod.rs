//! Layer extraction: applies an uncompressed tar stream to a directory.
//!
//! Two extractors share one reading of the archive ([`archive`]) and one set of confined
//! file-system operations ([`tree`]):
//! - [`extract`], the reference: one entry at a time, with plain syscalls. It is the
//!   behaviour any faster extractor must match, and what tests and benchmarks compare with.
//! - [`uring::extract`]: the same entries, with regular files and symlinks created and
//!   written through io_uring in batched submissions while the stream is being decompressed.
//!
//! [`Extractor::detect`] picks io_uring when the kernel offers what it needs.
//!
//! Confinement is enforced by the kernel rather than by string checks: every parent directory
//! is resolved from the layer root with `openat2(RESOLVE_IN_ROOT)`, and each entry is then
//! created relative to that directory descriptor with `O_NOFOLLOW`-style calls. A tar can
//! therefore name `../../etc/passwd`, or plant a symlink to `/` and write through it, and
//! still only ever touch files inside the layer (as Docker does, such paths are confined, not
//! refused).
//!
//! Whiteouts are converted to overlayfs' own form so that a layer directory can be used as a
//! lower layer as it is: `.wh.NAME` becomes a 0:0 character device `NAME`, and `.wh..wh..opq`
//! sets `trusted.overlay.opaque=y` on its directory.

mod archive;
mod tree;
pub mod uring;

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// Bounds that turn a tar bomb into a clean error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// The most entries a layer may have.
    pub max_entries: u64,
    /// The most bytes of uncompressed tar stream read, and of file content written (a sparse
    /// entry can expand far beyond its size in the stream).
    pub max_bytes: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            max_entries: 1 << 20,
            max_bytes: 32 << 30,
        }
    }
}

/// What an extraction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// sha256 of the whole uncompressed tar stream (the OCI diff_id).
    pub diff_id: Digest,
    /// Bytes of regular file content written.
    pub size: u64,
    pub entries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("invalid layer tar: {0}")]
    Archive(#[source] io::Error),
    #[error("layer has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("layer is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("invalid layer tar: entry {path:?}: {reason}")]
    BadEntry { path: String, reason: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ExtractError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            ExtractError::Io { .. } => crate::ErrorKind::Internal,
            _ => crate::ErrorKind::InvalidArgument,
        }
    }
}

/// Extracts the uncompressed tar `reader` into the existing directory `dest`, reading the
/// stream to its end so the returned diff_id covers all of it. This is the reference
/// extractor: one entry at a time, with plain syscalls.
pub fn extract(
    reader: impl Read,
    dest: &Path,
    limits: &ExtractLimits,
) -> Result<Extracted, ExtractError> {
    let tree = tree::Tree::open(dest)?;
    let mut dir_times = Vec::new();
    let summary = archive::read_archive(reader, limits, |planned, content| {
        dir_times.extend(tree.apply(planned, content)?);
        Ok(())
    })?;
    tree.apply_dir_times(&dir_times)?;
    Ok(Extracted {
        diff_id: summary.diff_id,
        size: summary.size,
        entries: summary.entries,
    })
}

/// Which extractor to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extractor {
    /// [`extract`]: plain syscalls, one entry at a time.
    Reference,
    /// [`uring::extract`]: batched io_uring submissions, pipelined with decompression.
    Uring,
}

impl Extractor {
    /// io_uring if this kernel (and any seccomp filter around us) offers everything the
    /// io_uring extractor needs, otherwise the reference. Probed once per process.
    pub fn detect() -> Extractor {
        match uring::available() {
            Ok(()) => Extractor::Uring,
            Err(e) => {
                tracing::debug!(
                    "io_uring is unavailable ({e}); extracting layers with plain syscalls"
                );
                Extractor::Reference
            }
        }
    }

    /// Extracts with this extractor; see [`extract`].
    pub fn extract(
        self,
        reader: impl Read,
        dest: &Path,
        limits: &ExtractLimits,
    ) -> Result<Extracted, ExtractError> {
        match self {
            Extractor::Reference => extract(reader, dest, limits),
            Extractor::Uring => uring::extract(reader, dest, limits),
        }
    }
}
