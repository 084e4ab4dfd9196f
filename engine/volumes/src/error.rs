//! Why a volume operation failed, in Docker's words: Docker prefixes each message with the
//! operation and the volume's name (`create NAME: …`, `remove NAME: …`).

use std::path::PathBuf;

/// What kind of failure an [`Error`] is; the daemon's API layer turns it into a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("{op} {name}: {reason}")]
    InvalidName {
        op: &'static str,
        name: String,
        reason: String,
    },
    #[error(
        "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    )]
    UnknownDriver { name: String, driver: String },
    #[error("create {name}: {reason}")]
    InvalidOption { name: String, reason: String },
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    InUse { name: String, users: Vec<String> },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to mount local volume {name}: mount {device}:{path}, flags: {flags:#x}, data: {data}: {source}")]
    Mount {
        name: String,
        device: String,
        path: PathBuf,
        flags: libc::c_ulong,
        data: String,
        #[source]
        source: std::io::Error,
    },
    #[error("decoding volume metadata {path}: {source}")]
    Decode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            // Docker answers an unknown plugin with 404, as its plugin getter does.
            Error::NotFound(_) | Error::UnknownDriver { .. } => ErrorKind::NotFound,
            Error::InUse { .. } => ErrorKind::Conflict,
            Error::InvalidName { .. } | Error::InvalidOption { .. } => ErrorKind::InvalidArgument,
            Error::Io { .. } | Error::Mount { .. } | Error::Decode { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(
        what: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io { what, path, source }
    }
}
