//! `/containers/…`: each handler finds the container's actor and sends it a message.

use actix::Addr;
use bollard_stubs::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerUpdateBody, ContainerUpdateResponse,
    ContainerWaitResponse,
};
use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

use super::error::ApiError;
use super::http::{json, no_content, read_json, ApiResult, Body, Query};
use crate::container::actor::{
    ContainerActor, Kill, Remove, Renamed, Snapshot, Start, Stop, Update, Wait, WaitCondition,
};
use crate::container::create::validate_name;
use crate::container::names::{AllViews, Lookup, LookupView, RenameEntry};
use crate::container::record::{ContainerRecord, Status};
use crate::container::{creation, notify, resources, signal, view};
use crate::engine::Engine;
use crate::events::Publish;

pub(crate) async fn find(
    engine: &Engine,
    id: &str,
) -> Result<(String, Addr<ContainerActor>), ApiError> {
    Ok(engine.names().send(Lookup(id.to_string())).await??)
}

pub async fn create(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let body: ContainerCreateBody = read_json(req.into_body()).await?;
    let name = query.get("name").filter(|n| !n.is_empty());
    let created = creation::create(
        &engine.services,
        &engine.config.containers_dir(),
        body,
        name,
    )
    .await?;
    json(
        StatusCode::CREATED,
        &ContainerCreateResponse {
            id: created.id,
            warnings: created.warnings,
        },
    )
}

pub async fn inspect(engine: &Engine, id: &str) -> ApiResult {
    // Read from what the actor published: a start in progress must not hold inspect up.
    let view = engine.names().send(LookupView(id.to_string())).await??;
    json(StatusCode::OK, &view.get().inspect())
}

pub async fn start(engine: &Engine, id: &str) -> ApiResult {
    let (_, addr) = find(engine, id).await?;
    addr.send(Start).await??;
    no_content()
}

fn stop_message(query: &Query) -> Result<Stop, ApiError> {
    Ok(Stop {
        timeout: query.int("t")?,
        signal: query
            .get("signal")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
}

pub async fn stop(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let (_, addr) = find(engine, id).await?;
    let exited = addr.send(stop_message(&query)?).await??;
    let _ = exited.await;
    no_content()
}

pub async fn restart(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let (_, addr) = find(engine, id).await?;
    match addr.send(stop_message(&query)?).await? {
        Ok(exited) => {
            let _ = exited.await;
        }
        Err(crate::container::error::Error::NotModified) => {}
        Err(err) => return Err(err.into()),
    }
    addr.send(Start).await??;
    let record = addr.send(Snapshot).await?;
    engine
        .services
        .events
        .do_send(Publish(notify::event(&record, "restart")));
    no_content()
}

/// `POST /containers/{id}/update`: checked as Docker checks it before the container is
/// looked up, so a bad body is a 400 even for a container that does not exist.
pub async fn update(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let body: ContainerUpdateBody = read_json(req.into_body()).await?;
    let mut request = resources::requested(&body)?;
    let limits = resources::HostLimits::detect(engine.services.cgroups.as_ref());
    let warnings = resources::verify(&mut request, &limits, true)?;
    let (_, addr) = find(engine, id).await?;
    let warnings = addr.send(Update { request, warnings }).await??;
    json(
        StatusCode::OK,
        &ContainerUpdateResponse {
            warnings: Some(warnings),
        },
    )
}

pub async fn kill(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let signal = signal::parse(
        query
            .get("signal")
            .filter(|s| !s.is_empty())
            .unwrap_or("SIGKILL"),
    )?;
    let (_, addr) = find(engine, id).await?;
    addr.send(Kill { signal }).await??;
    no_content()
}

pub async fn wait(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let condition = match query.get("condition").unwrap_or("") {
        "" | "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid condition: \"{other}\""
            )))
        }
    };
    let (_, addr) = find(engine, id).await?;
    let exited = addr.send(Wait(condition)).await??;
    // Docker sends the headers at once and the body when the condition is met, so that a
    // client can start the container after the wait is registered.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    actix_rt::spawn(async move {
        let body = match exited.await {
            Ok(code) => ContainerWaitResponse {
                status_code: code,
                error: None,
            },
            Err(_) => ContainerWaitResponse {
                status_code: -1,
                error: Some(bollard_stubs::models::ContainerWaitExitError {
                    message: Some("container vanished while waiting".to_string()),
                }),
            },
        };
        let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
        bytes.push(b'\n');
        let _ = tx.send(Ok(Frame::data(Bytes::from(bytes)))).await;
    });
    let mut response = Response::new(channel_body(rx));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// A response body fed by a channel: it ends when the sender is dropped.
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>) -> Body {
    use http_body_util::{BodyExt, StreamBody};
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    StreamBody::new(stream).boxed_unsync()
}

pub async fn rename(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let new_name = validate_name(query.get("name").unwrap_or(""))?;
    let (full_id, addr) = find(engine, id).await?;
    engine
        .names()
        .send(RenameEntry {
            id: full_id,
            new_name: new_name.clone(),
        })
        .await??;
    addr.send(Renamed(new_name)).await?;
    no_content()
}

pub async fn remove(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    if query.flag("link") {
        return Err(ApiError::unsupported("links"));
    }
    let (_, addr) = find(engine, id).await?;
    let removed = addr
        .send(Remove {
            force: query.flag("force"),
            volumes: query.flag("v"),
        })
        .await??;
    removed
        .await
        .map_err(|_| ApiError::internal("container actor stopped during removal"))??;
    no_content()
}

pub async fn list(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let filters = query.filters()?;
    for key in filters.keys() {
        if !matches!(
            key,
            "name" | "status" | "label" | "id" | "health" | "volume"
        ) {
            return Err(ApiError::bad_request(format!("invalid filter '{key}'")));
        }
    }
    for status in filters.get("status") {
        if !matches!(
            status.as_str(),
            "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
        ) {
            return Err(ApiError::bad_request(format!(
                "invalid filter 'status={status}'"
            )));
        }
    }
    for health in filters.get("health") {
        if !matches!(
            health.as_str(),
            "starting" | "healthy" | "unhealthy" | "none"
        ) {
            return Err(ApiError::bad_request(format!(
                "Unrecognised filter value for health: {health}"
            )));
        }
    }
    let all = query.flag("all") || !filters.get("status").is_empty();
    let limit = query.int("limit")?.filter(|n| *n > 0);
    let mut records = snapshots(engine).await?;
    records.retain(|r| {
        all || limit.is_some() || r.state.status.is_live() || r.state.status == Status::Restarting
    });
    records.retain(|r| matches_filters(r, &filters));
    records.sort_by_key(|r| std::cmp::Reverse(r.created));
    if let Some(limit) = limit {
        records.truncate(limit as usize);
    }
    let now = chrono::Utc::now();
    let summaries: Vec<_> = records
        .iter()
        .map(|r| {
            let image = r
                .config
                .image
                .clone()
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| r.image_id.clone());
            view::summary(r, image, now)
        })
        .collect();
    json(StatusCode::OK, &summaries)
}

fn matches_filters(record: &ContainerRecord, filters: &super::http::Filters) -> bool {
    let names = filters.get("name");
    if !names.is_empty()
        && !names
            .iter()
            .any(|n| record.name.contains(n.trim_start_matches('/')))
    {
        return false;
    }
    let ids = filters.get("id");
    if !ids.is_empty() && !ids.iter().any(|i| record.id.starts_with(i.as_str())) {
        return false;
    }
    let statuses = filters.get("status");
    if !statuses.is_empty() && !statuses.iter().any(|s| s == record.state.status.as_str()) {
        return false;
    }
    // `volume=` names a volume, a bind's source or a mount's destination, as in Docker.
    let volumes = filters.get("volume");
    let mounts = |wanted: &String| {
        record.mount_points.iter().any(|p| {
            p.name == *wanted || p.destination == *wanted || p.source.as_os_str() == wanted.as_str()
        })
    };
    if !volumes.is_empty() && !volumes.iter().any(mounts) {
        return false;
    }
    let healths = filters.get("health");
    let health = record
        .state
        .health
        .as_ref()
        .map_or("none", |h| h.status.as_str());
    if !healths.is_empty() && !healths.iter().any(|h| h == health) {
        return false;
    }
    labels_match(record, filters)
}

/// Whether the container carries every `label` filter (`key` or `key=value`) and none of
/// the `label!` ones.
pub(super) fn labels_match(record: &ContainerRecord, filters: &super::http::Filters) -> bool {
    let labels = record.config.labels.clone().unwrap_or_default();
    let has = |wanted: &String| match wanted.split_once('=') {
        Some((key, value)) => labels.get(key).is_some_and(|v| v == value),
        None => labels.contains_key(wanted.as_str()),
    };
    filters.get("label").iter().all(has) && !filters.get("label!").iter().any(has)
}

/// Every container's record as its actor last published it, without waiting on any actor.
pub(super) async fn snapshots(engine: &Engine) -> Result<Vec<ContainerRecord>, ApiError> {
    let views = engine.names().send(AllViews).await?;
    Ok(views
        .iter()
        .map(|view| ContainerRecord::clone(&view.get().record))
        .collect())
}
