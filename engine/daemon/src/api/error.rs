//! Errors as the Docker Engine API reports them: a status and `{"message": …}`.
//!
//! The domain modules report failures as their own error enums, each with a
//! [`ErrorKind`]; this module alone decides which HTTP status each kind is answered with.

use hyper::StatusCode;

pub use crate::error::ErrorKind;

/// An error the API answers with: a kind (hence a status) and Docker's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The one table from kinds to statuses.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        // Docker answers an unreachable registry with 500, not 503.
        ErrorKind::Unavailable => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.kind)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Docker answers 304 with no body when a container is already in the asked state.
    pub fn not_modified() -> Self {
        Self::new(ErrorKind::NotModified, "")
    }

    /// Something Docker can do that berth cannot yet. The wording keeps "not supported",
    /// which the docker CLI recognises (e.g. `docker inspect` then tries the next kind).
    pub fn unsupported(what: &str) -> Self {
        Self::new(
            ErrorKind::NotImplemented,
            format!("{what}: not supported by berth yet"),
        )
    }
}

impl From<berth_images::Error> for ApiError {
    fn from(err: berth_images::Error) -> Self {
        ApiError::new(err.kind().into(), err.to_string())
    }
}

impl From<crate::container::error::Error> for ApiError {
    fn from(err: crate::container::error::Error) -> Self {
        match err.kind() {
            // A 304 has no body.
            ErrorKind::NotModified => ApiError::not_modified(),
            kind => ApiError::new(kind, err.to_string()),
        }
    }
}

impl From<berth_volumes::Error> for ApiError {
    fn from(err: berth_volumes::Error) -> Self {
        ApiError::new(err.kind().into(), err.to_string())
    }
}

impl From<crate::transfers::TransferError> for ApiError {
    fn from(err: crate::transfers::TransferError) -> Self {
        ApiError::new(err.kind(), err.to_string())
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(err: actix::MailboxError) -> Self {
        ApiError::new(
            ErrorKind::Unavailable,
            format!("container actor unavailable: {err}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(kind: ErrorKind) -> u16 {
        status_of(kind).as_u16()
    }

    #[test]
    fn not_found_is_404() {
        assert_eq!(status(ErrorKind::NotFound), 404);
    }

    #[test]
    fn conflict_is_409() {
        assert_eq!(status(ErrorKind::Conflict), 409);
    }

    #[test]
    fn invalid_argument_is_400() {
        assert_eq!(status(ErrorKind::InvalidArgument), 400);
    }

    #[test]
    fn not_modified_is_304() {
        assert_eq!(status(ErrorKind::NotModified), 304);
    }

    #[test]
    fn not_implemented_is_501() {
        assert_eq!(status(ErrorKind::NotImplemented), 501);
    }

    #[test]
    fn unavailable_is_500_as_docker_answers() {
        assert_eq!(status(ErrorKind::Unavailable), 500);
    }

    #[test]
    fn unauthorized_is_401() {
        assert_eq!(status(ErrorKind::Unauthorized), 401);
    }

    #[test]
    fn forbidden_is_403() {
        assert_eq!(status(ErrorKind::Forbidden), 403);
    }

    #[test]
    fn internal_is_500() {
        assert_eq!(status(ErrorKind::Internal), 500);
    }

    #[test]
    fn container_errors_keep_dockers_texts() {
        use crate::container::error::Error;
        let err = ApiError::from(Error::NoSuchContainer("web".into()));
        assert_eq!(
            (err.status().as_u16(), err.message.as_str()),
            (404, "No such container: web")
        );
        let err = ApiError::from(Error::NotModified);
        assert_eq!((err.status().as_u16(), err.message.as_str()), (304, ""));
        let err = ApiError::from(Error::unsupported("volumes"));
        assert_eq!(
            (err.status().as_u16(), err.message.as_str()),
            (501, "volumes: not supported by berth yet")
        );
        let err = ApiError::from(Error::StartFailed {
            id: "abc".into(),
            message: "exec: \"nope\": executable file not found".into(),
            invalid: true,
        });
        assert_eq!(err.status().as_u16(), 400);
        assert!(err
            .message
            .starts_with("failed to start container abc: exec:"));
    }
}
