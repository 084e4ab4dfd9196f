//! `POST /commit`: a new image from a container's writable layer.

use std::collections::BTreeSet;

use bollard_stubs::models::ContainerConfig;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::containers::find;
use super::error::ApiError;
use super::http::{json, read_json, ApiResult, Query};
use crate::container::actor::{Pause, Snapshot, Unpause};
use crate::container::record::{ContainerDir, Status};
use crate::engine::Engine;

pub async fn commit(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let name = query
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("no container named to commit"))?
        .to_string();
    // The docker CLI sends `null` when no configuration is given.
    let requested: Option<ContainerConfig> = read_json(req.into_body()).await?;
    let (id, addr) = find(engine, &name).await?;
    let record = addr.send(Snapshot).await?;
    let parent = berth_images::Digest::parse(&record.image_id).map_err(|e| {
        ApiError::internal(format!("container {id} names a malformed image ID: {e}"))
    })?;

    let reference = match (
        query.get("repo").filter(|r| !r.is_empty()),
        query.get("tag").filter(|t| !t.is_empty()),
    ) {
        (Some(repo), Some(tag)) => Some(format!("{repo}:{tag}")),
        (Some(repo), None) => Some(repo.to_string()),
        (None, Some(_)) => return Err(ApiError::bad_request("a tag needs a repository")),
        (None, None) => None,
    };
    let container_config = match requested {
        Some(requested) => merge(requested, &record.config),
        None => record.config.clone(),
    };
    let options = berth_images::CommitOptions {
        reference,
        comment: query.get("comment").unwrap_or("").to_string(),
        author: query.get("author").unwrap_or("").to_string(),
        config: image_config(&container_config),
        changes: query.all("changes"),
        created_by: record.command().join(" "),
        // Their content lives in the container's directory, as in Docker.
        skip: crate::container::spec::engine_files(),
        healthcheck: container_config
            .healthcheck
            .as_ref()
            .and_then(|h| serde_json::to_value(h).ok()),
    };

    // Docker pauses by default so the layer is a consistent snapshot of the files.
    let pause = !matches!(query.get("pause"), Some("0" | "false" | "False"));
    let mut paused_here = false;
    if pause && record.state.status == Status::Running {
        match addr.send(Pause).await? {
            Ok(()) => paused_here = true,
            // Another commit paused it meanwhile: this one reads the paused container and
            // leaves the unpausing to that one, as Docker's does with a paused container.
            Err(_) if addr.send(Snapshot).await?.state.status == Status::Paused => {}
            Err(err) => return Err(err.into()),
        }
    }
    let images = engine.images.clone();
    let upper = ContainerDir::new(&engine.config.containers_dir(), &id).upper();
    let scratch = engine.config.images_dir().join("tmp");
    let committed =
        actix_rt::task::spawn_blocking(move || images.commit(&parent, &upper, &scratch, options))
            .await
            .map_err(|e| ApiError::internal(format!("committing container {id}: {e}")));
    if paused_here {
        addr.send(Unpause).await??;
    }
    let image = committed??;
    json(StatusCode::CREATED, &json!({ "Id": image.id.to_string() }))
}

/// The configuration given with the request, completed by the container's own as Docker
/// does: unset fields are taken from the container, environment variables and labels it
/// does not set are added, ports and volumes are the union of both.
fn merge(mut requested: ContainerConfig, container: &ContainerConfig) -> ContainerConfig {
    let is_empty = |v: &Option<Vec<String>>| v.as_ref().is_none_or(Vec::is_empty);
    if requested.user.as_deref().unwrap_or("").is_empty() {
        requested.user = container.user.clone();
    }
    if requested.working_dir.as_deref().unwrap_or("").is_empty() {
        requested.working_dir = container.working_dir.clone();
    }
    if requested.healthcheck.is_none() {
        requested.healthcheck = container.healthcheck.clone();
    }
    if requested.stop_signal.as_deref().unwrap_or("").is_empty() {
        requested.stop_signal = container.stop_signal.clone();
    }
    // A command given alone runs under the container's entrypoint; given with its own
    // entrypoint, neither is inherited.
    if is_empty(&requested.entrypoint) {
        if is_empty(&requested.cmd) {
            requested.cmd = container.cmd.clone();
        }
        requested.entrypoint = container.entrypoint.clone();
    }
    let mut env = requested.env.take().unwrap_or_default();
    let set: BTreeSet<String> = env.iter().map(|e| env_key(e).to_string()).collect();
    for entry in container.env.iter().flatten() {
        if !set.contains(env_key(entry)) {
            env.push(entry.clone());
        }
    }
    requested.env = (!env.is_empty()).then_some(env);
    let mut labels = requested.labels.take().unwrap_or_default();
    for (key, value) in container.labels.iter().flatten() {
        labels.entry(key.clone()).or_insert_with(|| value.clone());
    }
    requested.labels = (!labels.is_empty()).then_some(labels);
    requested.exposed_ports = union(&requested.exposed_ports, &container.exposed_ports);
    requested.volumes = union(&requested.volumes, &container.volumes);
    requested
}

fn union(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> Option<Vec<String>> {
    let all: BTreeSet<String> = a.iter().chain(b).flatten().cloned().collect();
    (!all.is_empty()).then(|| all.into_iter().collect())
}

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(key, _)| key)
}

/// The part of a container's configuration an image keeps.
fn image_config(config: &ContainerConfig) -> oci_spec::image::Config {
    let mut image = oci_spec::image::Config::default();
    image.set_user(config.user.clone().filter(|u| !u.is_empty()));
    image.set_exposed_ports(union(&config.exposed_ports, &None));
    image.set_env(config.env.clone());
    image.set_entrypoint(config.entrypoint.clone());
    image.set_cmd(config.cmd.clone());
    image.set_volumes(union(&config.volumes, &None));
    image.set_working_dir(config.working_dir.clone().filter(|w| !w.is_empty()));
    image.set_labels(config.labels.clone());
    image.set_stop_signal(config.stop_signal.clone().filter(|s| !s.is_empty()));
    image
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn strings(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_requested_config_is_completed_by_the_containers() {
        let container = ContainerConfig {
            env: strings(&["PATH=/bin", "A=1"]),
            cmd: strings(&["sh"]),
            entrypoint: strings(&["/init"]),
            user: Some("nobody".into()),
            labels: Some(HashMap::from([("x".to_string(), "1".to_string())])),
            ..Default::default()
        };
        let requested = ContainerConfig {
            env: strings(&["A=2"]),
            cmd: strings(&["echo", "hi"]),
            ..Default::default()
        };
        let merged = merge(requested, &container);
        assert_eq!(merged.env, strings(&["A=2", "PATH=/bin"]));
        assert_eq!(merged.cmd, strings(&["echo", "hi"]));
        assert_eq!(merged.entrypoint, strings(&["/init"]));
        assert_eq!(merged.user.as_deref(), Some("nobody"));
        assert_eq!(merged.labels.unwrap()["x"], "1");
    }

    #[test]
    fn an_entrypoint_given_with_the_request_drops_the_containers_command() {
        let container = ContainerConfig {
            cmd: strings(&["sh"]),
            entrypoint: strings(&["/init"]),
            ..Default::default()
        };
        let requested = ContainerConfig {
            entrypoint: strings(&["/other"]),
            ..Default::default()
        };
        let merged = merge(requested, &container);
        assert_eq!(merged.entrypoint, strings(&["/other"]));
        assert_eq!(merged.cmd, None);
    }
}
