//! Hijacked connections (`attach`, `exec start`): the 101 answer Docker's clients expect, and
//! the attach session served on the upgraded connection once hyper hands it over.

use std::future::Future;

use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::http::{empty, ApiResponse};
use crate::container::attach::{self, Framing, Session};

/// Whether the request's API version (from its `/v1.NN/` prefix; the newest without one)
/// is at least 1.42, from which the multiplexed stream has a content type of its own.
fn names_multiplexed_stream<B>(req: &Request<B>) -> bool {
    let Some(version) = req
        .uri()
        .path()
        .strip_prefix("/v")
        .and_then(|rest| rest.split('/').next())
    else {
        return true;
    };
    match version
        .split_once('.')
        .map(|(major, minor)| (major.parse::<u32>(), minor.parse::<u32>()))
    {
        Some((Ok(major), Ok(minor))) => (major, minor) >= (1, 42),
        _ => true,
    }
}

/// Answers 101 Switching Protocols and, once hyper has upgraded the connection, serves the
/// session `session` resolves to (with `framing`, which the answer names).
pub fn upgrade<B>(
    mut req: Request<B>,
    framing: Framing,
    session: impl Future<Output = Session> + 'static,
) -> ApiResponse {
    let content_type = match framing {
        Framing::Multiplexed if names_multiplexed_stream(&req) => {
            "application/vnd.docker.multiplexed-stream"
        }
        _ => "application/vnd.docker.raw-stream",
    };
    let upgrading = hyper::upgrade::on(&mut req);
    actix_rt::spawn(async move {
        match upgrading.await {
            Ok(upgraded) => attach::serve(TokioIo::new(upgraded), session.await).await,
            Err(err) => tracing::debug!("the client did not take the upgraded connection: {err}"),
        }
    });
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("tcp"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
