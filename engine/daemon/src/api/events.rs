//! `GET /events`: past events from `since`, then live ones until `until` or until the
//! client goes away, one JSON object per line.

use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};

use super::containers::channel_body;
use super::error::ApiError;
use super::http::{ApiResult, Query};
use crate::container::logs::parse_time;
use crate::engine::Engine;
use crate::events::{Event, EventFilter, Subscribe};

fn nanos(value: Option<&str>) -> Result<Option<i64>, ApiError> {
    Ok(parse_time(value)?.and_then(|t| t.timestamp_nanos_opt()))
}

fn encode(event: &Event) -> Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

pub async fn events(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let since = nanos(query.get("since"))?;
    let until = nanos(query.get("until"))?;
    if let (Some(since), Some(until)) = (since, until) {
        if until < since {
            return Err(ApiError::bad_request(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                query.get("since").unwrap_or_default(),
                query.get("until").unwrap_or_default()
            )));
        }
    }
    let filter = EventFilter::parse(&query.filters()?)
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
    let subscription = engine
        .services
        .events
        .send(Subscribe {
            filter,
            since,
            until,
        })
        .await
        .map_err(|err| ApiError::internal(format!("events bus unavailable: {err}")))?;

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
    actix_rt::spawn(async move {
        for event in &subscription.past {
            if tx.send(Ok(Frame::data(encode(event)))).await.is_err() {
                return;
            }
        }
        let Some(mut live) = subscription.live else {
            return;
        };
        let deadline = until.map(|until| {
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
            let wait = Duration::from_nanos(until.saturating_sub(now).max(0) as u64);
            tokio::time::Instant::now() + wait
        });
        loop {
            let next = match deadline {
                Some(deadline) => tokio::select! {
                    event = live.recv() => event,
                    _ = tokio::time::sleep_until(deadline) => None,
                    _ = tx.closed() => None,
                },
                None => tokio::select! {
                    event = live.recv() => event,
                    _ = tx.closed() => None,
                },
            };
            let Some(event) = next else { return };
            if tx.send(Ok(Frame::data(encode(&event)))).await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(channel_body(rx));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
