//! The crate's one error type. Every failure that touched the filesystem names the file and
//! the operation, so a message read in a log is enough to find what went wrong.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CgroupError {
    /// A system call on a cgroup file or directory failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A cgroup file held something this crate cannot read.
    #[error("parsing {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },

    /// The cgroup path handed to [`crate::manager`] cannot be used.
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    /// A resource value that no cgroup version accepts (e.g. a negative memory limit).
    #[error("invalid {resource}: {reason}")]
    InvalidResource {
        resource: &'static str,
        reason: String,
    },

    /// A resource berth does not implement, or that this cgroup version has no file for.
    #[error("{resource} is not supported: {reason}")]
    Unsupported {
        resource: &'static str,
        reason: &'static str,
    },

    /// A limit was asked for, but its controller is not available to this cgroup.
    #[error(
        "cannot set {resource}: the {controller} controller is not available in {} ({reason})",
        path.display()
    )]
    ControllerUnavailable {
        resource: &'static str,
        controller: &'static str,
        path: PathBuf,
        reason: &'static str,
    },

    /// The freezer did not reach the wanted state in time; the cgroup was left as it was before.
    #[error("{op} {}: the cgroup did not reach the {wanted} state in time", path.display())]
    FreezerTimeout {
        op: &'static str,
        path: PathBuf,
        wanted: &'static str,
    },

    /// A memory limit below what the cgroup's processes hold (runc's words).
    #[error("unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})")]
    MemoryInUse { limit: u64, usage: u64, peak: u64 },

    /// No cgroup filesystem could be found on this host.
    #[error("no usable cgroup hierarchy: {0}")]
    NoHierarchy(String),
}

/// How the caller should treat an error (the API maps these onto HTTP statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request asked for something invalid: the caller's fault.
    InvalidInput,
    /// The request is valid but this host or this version of berth cannot honour it.
    Unsupported,
    /// The cgroup (or one of its files) does not exist, e.g. it was already removed.
    NotFound,
    /// Anything else the system refused.
    System,
}

impl CgroupError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CgroupError::InvalidPath { .. } | CgroupError::InvalidResource { .. } => {
                ErrorKind::InvalidInput
            }
            CgroupError::Unsupported { .. }
            | CgroupError::ControllerUnavailable { .. }
            | CgroupError::NoHierarchy(_) => ErrorKind::Unsupported,
            CgroupError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            CgroupError::Io { .. }
            | CgroupError::Parse { .. }
            | CgroupError::FreezerTimeout { .. }
            | CgroupError::MemoryInUse { .. } => ErrorKind::System,
        }
    }
}

/// What is wrong with the contents of a cgroup file. Parsers are pure and do not know which
/// file they read; the caller wraps this into [`CgroupError::Parse`] with the path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ParseError(message.into())
    }
}

pub type Result<T, E = CgroupError> = std::result::Result<T, E>;
