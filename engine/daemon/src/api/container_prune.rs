//! `POST /containers/prune`: remove every container that has no live process.

use chrono::{DateTime, Duration, Utc};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};

use super::containers::{find, labels_match, snapshots};
use super::error::ApiError;
use super::http::{json, ApiResult, Query};
use crate::container::actor::Remove;
use crate::container::record::{ContainerDir, Status};
use crate::engine::Engine;

pub async fn prune(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let filters = Query::parse(req.uri().query()).filters()?;
    for key in filters.keys() {
        if !matches!(key, "until" | "label" | "label!") {
            return Err(ApiError::bad_request(format!("invalid filter '{key}'")));
        }
    }
    let now = Utc::now();
    let until = match filters.get("until") {
        [] => None,
        [one] => Some(parse_until(one, now)?),
        _ => {
            return Err(ApiError::bad_request(
                "more than one until filter specified",
            ))
        }
    };
    let containers_dir = engine.config.containers_dir();
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for record in snapshots(engine).await? {
        let prunable = matches!(
            record.state.status,
            Status::Created | Status::Exited | Status::Dead
        );
        if !prunable
            || until.is_some_and(|until| record.created >= until)
            || !labels_match(&record, &filters)
        {
            continue;
        }
        let upper = ContainerDir::new(&containers_dir, &record.id).upper();
        // Walking the writable layer is file-system work: off the actor thread.
        let size = actix_rt::task::spawn_blocking(move || super::image_admin::du(&upper))
            .await
            .unwrap_or(0);
        // A container started or removed since the snapshot is skipped, not an error.
        let Ok((_, addr)) = find(engine, &record.id).await else {
            continue;
        };
        let removed = match addr
            .send(Remove {
                force: false,
                volumes: false,
            })
            .await
        {
            Ok(Ok(removed)) => removed,
            Ok(Err(e)) => {
                tracing::debug!("container prune: {} not removed: {e}", record.id);
                continue;
            }
            Err(_) => continue,
        };
        match removed.await {
            Ok(Ok(())) => {
                reclaimed += size;
                deleted.push(Value::String(record.id));
            }
            Ok(Err(e)) => tracing::warn!("container prune: removing {}: {e}", record.id),
            Err(_) => tracing::warn!("container prune: {} stopped during removal", record.id),
        }
    }
    json(
        StatusCode::OK,
        &json!({
            "ContainersDeleted": if deleted.is_empty() { Value::Null } else { Value::Array(deleted) },
            "SpaceReclaimed": reclaimed,
        }),
    )
}

/// The `until` filter: a timestamp (RFC 3339, or seconds since the epoch) or a duration
/// before now in Go's notation (`24h`, `1h30m`, `90s`), as the docker CLI passes it on.
fn parse_until(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    if let Some(ago) = go_duration(value) {
        return Ok(now - ago);
    }
    crate::container::logs::parse_time(Some(value))?
        .ok_or_else(|| ApiError::bad_request(format!("invalid timestamp: {value:?}")))
}

/// A duration such as `1h30m` or `1.5s`; None unless the whole text is one.
fn go_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, f64); 7] = [
        ("ns", 1e-9),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    let mut rest = text;
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let (unit, scale) = UNITS
            .iter()
            .filter(|(unit, _)| rest.starts_with(unit))
            .max_by_key(|(unit, _)| unit.len())?;
        seconds += number * scale;
        rest = &rest[unit.len()..];
    }
    if text.is_empty() {
        return None;
    }
    Duration::try_milliseconds((seconds * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_as_go_writes_them() {
        assert_eq!(go_duration("24h"), Duration::try_hours(24));
        assert_eq!(go_duration("1h30m"), Duration::try_minutes(90));
        assert_eq!(go_duration("1.5s"), Duration::try_milliseconds(1500));
        assert_eq!(go_duration("250ms"), Duration::try_milliseconds(250));
        for bad in ["", "10", "h", "10x", "1h-3m", "1e3s"] {
            assert_eq!(go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn until_takes_durations_and_timestamps() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(
            parse_until("10m", now).unwrap(),
            DateTime::from_timestamp(1_799_999_400, 0).unwrap()
        );
        assert_eq!(
            parse_until("1700000000", now).unwrap(),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap()
        );
        assert_eq!(
            parse_until("2023-11-14T22:13:20Z", now).unwrap(),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap()
        );
        assert!(parse_until("yesterday", now).is_err());
    }
}
