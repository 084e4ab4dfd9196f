//! `/volumes`: create, list, inspect, remove and prune, in Docker's JSON.

use std::collections::BTreeMap;

use berth_volumes::{CreateRequest, Volume};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::http::{api_minor, json, no_content, read_json, ApiResult, Query};
use crate::container::volumes::publish;
use crate::engine::Engine;
use crate::filters::Filters;

/// `VolumeCreateOptions`, as clients send it (any field may be missing or null).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    name: Option<String>,
    driver: Option<String>,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    cluster_volume_spec: Option<Value>,
}

/// A volume in Docker's shape; `usage` adds `UsageData` (`system df -v`).
pub fn volume_json(volume: &Volume, usage: Option<u64>) -> Value {
    let mut value = json!({
        "CreatedAt": volume.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "Driver": volume.driver,
        "Labels": volume.labels,
        "Mountpoint": volume.mountpoint.display().to_string(),
        "Name": volume.name,
        "Options": volume.options,
        "Scope": "local",
    });
    if let Some(size) = usage {
        value["UsageData"] = json!({"Size": size, "RefCount": volume.users.len()});
    }
    value
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, berth_volumes::Error> + Send + 'static,
) -> Result<T, ApiError> {
    actix_rt::task::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::internal(format!("volume store: {err}")))?
        .map_err(ApiError::from)
}

pub async fn create(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let body: CreateBody = read_json(req.into_body()).await?;
    if body
        .cluster_volume_spec
        .as_ref()
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApiError::unsupported("cluster volumes"));
    }
    let store = engine.services.volumes.clone();
    let new = body
        .name
        .as_deref()
        .is_none_or(|n| n.is_empty() || store.get(n).is_err());
    let volume = blocking(move || {
        store.create(CreateRequest {
            name: body.name,
            driver: body.driver,
            labels: body.labels.unwrap_or_default(),
            options: body.driver_opts.unwrap_or_default(),
        })
    })
    .await?;
    if new {
        publish(&engine.services.events, "create", &volume.name);
    }
    json(StatusCode::CREATED, &volume_json(&volume, None))
}

pub async fn inspect(engine: &Engine, name: &str) -> ApiResult {
    let volume = engine.services.volumes.get(name)?;
    json(StatusCode::OK, &volume_json(&volume, None))
}

pub async fn remove(engine: &Engine, name: &str, req: Request<Incoming>) -> ApiResult {
    let force = Query::parse(req.uri().query()).flag("force");
    let store = engine.services.volumes.clone();
    let existed = store.get(name).is_ok();
    let removed = name.to_string();
    blocking(move || store.remove(&removed, force)).await?;
    if existed {
        publish(&engine.services.events, "destroy", name);
    }
    no_content()
}

/// Whether `value` is one of Docker's spellings of a boolean filter value.
fn boolean(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "invalid filter '{key}={value}'"
        ))),
    }
}

fn check_keys(filters: &Filters, allowed: &[&str]) -> Result<(), ApiError> {
    match filters.keys().find(|k| !allowed.contains(k)) {
        Some(key) => Err(ApiError::bad_request(format!("invalid filter '{key}'"))),
        None => Ok(()),
    }
}

/// The `label` (`key` or `key=value`, all must match) and `label!` (none may) filters.
fn labels_match(volume: &Volume, filters: &Filters) -> bool {
    let has = |wanted: &String| match wanted.split_once('=') {
        Some((key, value)) => volume.labels.get(key).is_some_and(|v| v == value),
        None => volume.labels.contains_key(wanted.as_str()),
    };
    filters.get("label").iter().all(has) && !filters.get("label!").iter().any(has)
}

pub async fn list(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let filters = Query::parse(req.uri().query()).filters()?;
    check_keys(&filters, &["dangling", "label", "label!", "name", "driver"])?;
    let dangling = match filters.get("dangling") {
        [] => None,
        values => {
            let wanted: Vec<bool> = values
                .iter()
                .map(|v| boolean("dangling", v))
                .collect::<Result<_, _>>()?;
            Some(wanted)
        }
    };
    let volumes: Vec<Value> = engine
        .services
        .volumes
        .list()
        .iter()
        .filter(|v| {
            dangling
                .as_ref()
                .is_none_or(|wanted| wanted.contains(&v.users.is_empty()))
                && labels_match(v, &filters)
                && filters
                    .get("name")
                    .iter()
                    .all(|n| v.name.contains(n.as_str()))
                && (filters.get("driver").is_empty() || filters.get("driver").contains(&v.driver))
        })
        .map(|v| volume_json(v, None))
        .collect();
    json(StatusCode::OK, &json!({"Volumes": volumes, "Warnings": []}))
}

pub async fn prune(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let minor = api_minor(req.uri().path());
    let filters = Query::parse(req.uri().query()).filters()?;
    check_keys(&filters, &["label", "label!", "all"])?;
    // Since API 1.42 only anonymous volumes are pruned unless `all` is set.
    let all = match filters.get("all") {
        [] => minor < 42,
        [value] => boolean("all", value)?,
        _ => return Err(ApiError::bad_request("invalid filter 'all'")),
    };
    let store = engine.services.volumes.clone();
    let (removed, reclaimed) =
        blocking(move || store.prune(|v| (all || v.is_anonymous()) && labels_match(v, &filters)))
            .await?;
    for name in &removed {
        publish(&engine.services.events, "destroy", name);
    }
    json(
        StatusCode::OK,
        &json!({
            "VolumesDeleted": if removed.is_empty() { Value::Null } else { json!(removed) },
            "SpaceReclaimed": reclaimed,
        }),
    )
}

/// The `Volumes` of `system df`: each with its size and how many containers use it.
pub async fn usage(engine: &Engine) -> Result<Vec<Value>, ApiError> {
    let store = engine.services.volumes.clone();
    blocking(move || {
        Ok(store
            .list()
            .iter()
            .map(|v| volume_json(v, Some(berth_volumes::dir_size(&v.mountpoint))))
            .collect())
    })
    .await
}
