//! Small helpers shared by the handlers: bodies, queries and JSON answers.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;
pub use crate::filters::Filters;

/// Every response body: full, empty or streamed from a task. Not `Send`: the daemon runs
/// on one thread, so bodies can borrow `!Send` streams.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;
pub type ApiResponse = Response<Body>;
pub type ApiResult = Result<ApiResponse, ApiError>;

/// JSON request bodies are small; anything larger than this is refused.
const MAX_JSON_BODY: usize = 4 << 20;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new()
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> ApiResult {
    let bytes = serde_json::to_vec(value)
        .map_err(|err| ApiError::internal(format!("encoding response: {err}")))?;
    let mut response = Response::new(full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

pub fn no_content() -> ApiResult {
    status_only(StatusCode::NO_CONTENT)
}

pub fn status_only(status: StatusCode) -> ApiResult {
    let mut response = Response::new(empty());
    *response.status_mut() = status;
    Ok(response)
}

impl ApiError {
    pub fn into_response(self) -> ApiResponse {
        let status = self.status();
        if status == StatusCode::NOT_MODIFIED {
            let mut response = Response::new(empty());
            *response.status_mut() = status;
            return response;
        }
        let body = serde_json::json!({ "message": self.message });
        let mut response = Response::new(full(body.to_string()));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

/// Reads a JSON body. An empty body decodes as `T::default()` like Docker does for
/// optional bodies; malformed JSON is a 400 with the decoder's explanation.
pub async fn read_json<T: DeserializeOwned + Default>(body: Incoming) -> Result<T, ApiError> {
    let bytes = Limited::new(body, MAX_JSON_BODY)
        .collect()
        .await
        .map_err(|err| ApiError::bad_request(format!("reading request body: {err}")))?
        .to_bytes();
    decode_json(&bytes)
}

/// Decodes an untrusted JSON body (the fuzz target `api_bodies` drives this).
pub fn decode_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))
}

/// The API version a request's path names (`/v1.41/…`), the newest when it names none.
pub fn api_minor(path: &str) -> u32 {
    path.strip_prefix("/v1.")
        .and_then(|rest| rest.split('/').next())
        .and_then(|minor| minor.parse().ok())
        .unwrap_or(u32::MAX)
}

/// The query string, decoded. For a repeated key `get` gives the first value, as Go's
/// `Form.Get` does; `all` gives every one (e.g. import's `changes`).
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|raw| {
                url::form_urlencoded::parse(raw.as_bytes())
                    .into_owned()
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        Query(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Docker's boolean form values: "1", "true", "True" are true; absent, "", "0",
    /// "false" are false.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some(v) if !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value for {key}: {v:?} is not an integer"))
            }),
        }
    }

    /// The `filters` parameter: `{"name": {"x": true}}` or the older `{"name": ["x"]}`.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        Filters::parse(self.get("filters").unwrap_or(""))
            .map_err(|err| ApiError::bad_request(err.to_string()))
    }
}

/// How much of a refused upload is read anyway. A client that is still sending when the
/// answer comes (the docker CLI streams the tar) would otherwise see a broken pipe instead
/// of the daemon's error.
pub const DISCARD_LIMIT: u64 = 16 << 20;

pub async fn discard_body(mut body: Incoming) {
    let mut read = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        read += frame.data_ref().map_or(0, |d| d.len() as u64);
        if read > DISCARD_LIMIT {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_version_comes_from_the_path() {
        assert_eq!(api_minor("/v1.41/volumes/prune"), 41);
        assert_eq!(api_minor("/volumes/prune"), u32::MAX);
    }

    #[test]
    fn flags_follow_docker_form_values() {
        let q = Query::parse(Some("a=1&b=true&c=0&d=false&e="));
        assert!(q.flag("a") && q.flag("b"));
        assert!(!q.flag("c") && !q.flag("d") && !q.flag("e") && !q.flag("missing"));
    }
}
