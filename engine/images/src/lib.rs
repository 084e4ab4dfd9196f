//! The image service: references, tags, import and image metadata, over fsdriver's content
//! and layer stores.

pub mod archive;
mod blob_lease;
mod build_step;
pub mod changes;
mod commit;
mod ingest;
mod layer_lease;
pub mod parse;
mod pin;
pub mod reference;
mod store;
mod tags;

use std::path::{Path, PathBuf};

pub use build_step::{BuildStep, StepLayer};
pub use commit::CommitOptions;
pub use fsdriver::Digest;
pub use layer_lease::LayerLeases;
pub use pin::Pinned;
pub use store::{Collected, ImageRecord, ImageStore, ImageUser, ImportOptions, RemoveAction};

/// How a failure is reported (the API maps these to 404, 409, 400 and 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    #[error(transparent)]
    Change(#[from] changes::ChangeError),
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Store(#[from] fsdriver::Error),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Reference(_) | Error::Change(_) | Error::InvalidArgument(_) => {
                ErrorKind::InvalidArgument
            }
            Error::Store(e) => match e.kind() {
                fsdriver::ErrorKind::NotFound => ErrorKind::NotFound,
                fsdriver::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
                fsdriver::ErrorKind::Internal => ErrorKind::Internal,
            },
            Error::Io { .. } | Error::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// Wraps an I/O error with what was being done and to which path.
pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}
