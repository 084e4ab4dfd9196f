//! berth's registry client: the Distribution API v2 (the OCI distribution spec) as Docker
//! speaks it.
//!
//! - [`hosts`]: where a registry is reached (Docker Hub's endpoint, HTTPS or plain HTTP for
//!   insecure registries) and with which TLS trust (system roots plus
//!   `/etc/docker/certs.d/HOST/`);
//! - [`auth`]: credentials as Docker passes them (`X-Registry-Auth`), and the
//!   `WWW-Authenticate` challenge flow (basic, bearer tokens);
//! - [`client`]: one repository of one registry: manifests, blobs with resumed downloads,
//!   uploads and cross-repository mounts, tags;
//! - [`platform`]: choosing an image from an index or manifest list.

pub mod auth;
pub mod client;
pub mod hosts;
pub mod platform;

pub use auth::Credentials;
pub use client::{FetchedManifest, MountOutcome, Repository};
pub use hosts::{Registries, RegistryConfig};
pub use platform::Platform;

/// How a failure is reported (the API maps these to HTTP statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Unauthorized,
    InvalidArgument,
    /// The registry could not be reached, or answered in a way berth cannot use.
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid registry configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {}", error_chain(source))]
    Http {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{0}")]
    Registry(String),
    #[error(transparent)]
    Parse(#[from] berth_images::parse::ParseError),
}

/// An error with its causes, `a: b: c` (reqwest keeps the interesting part, a refused
/// certificate say, in the sources).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::Config(_) | Error::Invalid(_) | Error::Parse(_) => ErrorKind::InvalidArgument,
            Error::Http { .. } | Error::Registry(_) => ErrorKind::Unavailable,
        }
    }

    pub(crate) fn http(what: impl Into<String>, source: reqwest::Error) -> Error {
        Error::Http {
            what: what.into(),
            source,
        }
    }
}
