//! Why a container operation failed, in Docker's words.

use crate::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// The container is already in the asked state (started, stopped).
    #[error("the container is already in the asked state")]
    NotModified,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}: not supported by berth yet")]
    NotSupported(String),
    /// The runtime refused the container's configuration (`invalid`) or failed.
    #[error("failed to start container {id}: {message}")]
    StartFailed {
        id: String,
        message: String,
        invalid: bool,
    },
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Image(#[from] berth_images::Error),
    #[error(transparent)]
    Volume(#[from] berth_volumes::Error),
    #[error("container actor unavailable: {0}")]
    ActorGone(#[from] actix::MailboxError),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchContainer(_) | Error::NoSuchImage(_) | Error::NoSuchExec(_) => {
                ErrorKind::NotFound
            }
            Error::NotModified => ErrorKind::NotModified,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::NotSupported(_) => ErrorKind::NotImplemented,
            Error::StartFailed { invalid: true, .. } => ErrorKind::InvalidArgument,
            Error::StartFailed { invalid: false, .. } | Error::Internal(_) => ErrorKind::Internal,
            Error::Image(err) => err.kind().into(),
            Error::ActorGone(_) => ErrorKind::Unavailable,
            Error::Volume(err) => err.kind().into(),
        }
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict(message.into())
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument(message.into())
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    pub(crate) fn unsupported(what: &str) -> Self {
        Error::NotSupported(what.to_string())
    }
}
