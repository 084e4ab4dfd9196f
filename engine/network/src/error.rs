//! The crate's one error type. Each variant says what failed and on which object; `kind()` is
//! what the daemon's API layer turns into an HTTP status.

use std::path::PathBuf;

/// How a failure is reported. The daemon maps NotFound→404, Conflict→409,
/// InvalidArgument→400, Forbidden→403, NotImplemented→501, Unavailable→503, Internal→500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    Forbidden,
    NotImplemented,
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Docker's text, e.g. `network foo not found`.
    #[error("{0}")]
    NotFound(String),
    /// e.g. `network with name foo already exists`, `Address already in use`.
    #[error("{0}")]
    Conflict(String),
    /// e.g. `invalid subnet 10.0.0.0/33`, `no configured subnet or ip-range contain the IP address …`.
    #[error("{0}")]
    InvalidArgument(String),
    /// Docker answers 403 for these: `Pool overlaps with other one on this address space`,
    /// `error while removing network: network foo has active endpoints`, pre-defined networks.
    #[error("{0}")]
    Forbidden(String),
    /// A feature berth does not have yet; the text ends with "not supported by berth yet".
    #[error("{0}: not supported by berth yet")]
    NotImplemented(String),
    /// A resource ran out: no free address, no free pool, a full bridge.
    #[error("{0}")]
    Unavailable(String),
    /// A file of the state directory could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A netlink request failed; `what` names the link, address or route it touched.
    #[error("netlink: {what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// `nft` failed or could not be run.
    #[error("nftables (table {table}): {message}")]
    Firewall { table: String, message: String },
    /// Something that should not happen (a corrupt record, a broken invariant).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::NotImplemented(_) => ErrorKind::NotImplemented,
            Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::Io { .. }
            | Error::Netlink { .. }
            | Error::Firewall { .. }
            | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn netlink(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Netlink {
            what: what.into(),
            source,
        }
    }
}

/// Wraps an I/O error with what was being done and to which path.
pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
