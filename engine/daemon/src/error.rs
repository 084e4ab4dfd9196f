//! What kind of failure a domain error is. Each domain module has its own error enum with a
//! `kind()`; only the API layer (`api/error.rs`) turns a kind into an HTTP status.

/// The kinds of failure the daemon reports, after containerd's errdefs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object asked for does not exist.
    NotFound,
    /// The object's state forbids the request (running, being removed, name taken…).
    Conflict,
    /// The request itself is wrong.
    InvalidArgument,
    /// The object is already in the asked state (Docker answers this with no body).
    NotModified,
    /// Docker can do this and berth cannot yet.
    NotImplemented,
    /// Something the daemon depends on (a registry, an actor) could not be reached.
    Unavailable,
    /// The credentials were refused.
    Unauthorized,
    /// A registry refused access to what was asked.
    Forbidden,
    /// Anything else: a bug or a failure of the host.
    Internal,
}

/// The image store's kinds are a subset of the daemon's.
impl From<berth_images::ErrorKind> for ErrorKind {
    fn from(kind: berth_images::ErrorKind) -> Self {
        match kind {
            berth_images::ErrorKind::NotFound => ErrorKind::NotFound,
            berth_images::ErrorKind::Conflict => ErrorKind::Conflict,
            berth_images::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
            berth_images::ErrorKind::Internal => ErrorKind::Internal,
        }
    }
}

/// The volume store's kinds are a subset of the daemon's.
impl From<berth_volumes::ErrorKind> for ErrorKind {
    fn from(kind: berth_volumes::ErrorKind) -> Self {
        match kind {
            berth_volumes::ErrorKind::NotFound => ErrorKind::NotFound,
            berth_volumes::ErrorKind::Conflict => ErrorKind::Conflict,
            berth_volumes::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
            berth_volumes::ErrorKind::Internal => ErrorKind::Internal,
        }
    }
}
