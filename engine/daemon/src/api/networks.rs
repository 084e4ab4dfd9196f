//! `/networks/…`: the data plane's networks in Docker's shapes, and connect/disconnect
//! sent to the container's own actor.

use std::collections::BTreeMap;

use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse,
};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::containers::{find, snapshots};
use super::error::ApiError;
use super::http::{json, no_content, read_json, ApiResult, Filters, Query};
use crate::container::actor::{ConnectNetwork, DisconnectNetwork};
use crate::engine::Engine;
use crate::events::{Event, ObjectType, Publish};
use crate::network::{view, NetworkError};

/// Runs a data-plane call off the async threads (netlink and nft work).
async fn blocking<T: Send + 'static>(
    engine: &Engine,
    call: impl FnOnce(&berth_network::Networks) -> berth_network::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let net = engine.services.network.clone();
    actix_rt::task::spawn_blocking(move || call(&net.plane))
        .await
        .map_err(|err| ApiError::internal(format!("network operation: {err}")))?
        .map_err(|err| ApiError::from(NetworkError::from(err)))
}

fn event(engine: &Engine, action: &str, network: &berth_network::Network, container: Option<&str>) {
    let mut event = Event::new(ObjectType::Network, action, &network.id)
        .with("name", network.name.clone())
        .with("type", network.driver.as_str());
    if let Some(id) = container {
        event = event.with("container", id);
    }
    engine.services.events.do_send(Publish(event));
}

pub async fn create(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let body: NetworkCreateRequest = read_json(req.into_body()).await?;
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("network name must not be empty"));
    }
    if body.config_only == Some(true) || body.config_from.is_some() {
        return Err(ApiError::unsupported("config-only networks"));
    }
    if body.ingress == Some(true) {
        return Err(ApiError::unsupported("ingress networks"));
    }
    let ipam = body.ipam.clone().unwrap_or_default();
    let request = berth_network::CreateNetwork {
        name: body.name.clone(),
        driver: body.driver.clone(),
        internal: body.internal == Some(true),
        attachable: body.attachable == Some(true),
        enable_ipv6: body.enable_ipv6 == Some(true),
        labels: sorted(body.labels),
        options: sorted(body.options),
        ipam_driver: ipam.driver.clone(),
        ipam_options: sorted(ipam.options.clone()),
        ipam: ipam
            .config
            .iter()
            .flatten()
            .map(|c| berth_network::IpamRequest {
                subnet: c.subnet.clone().filter(|s| !s.is_empty()),
                ip_range: c.ip_range.clone().filter(|s| !s.is_empty()),
                gateway: c.gateway.clone().filter(|s| !s.is_empty()),
                aux_addresses: sorted(c.auxiliary_addresses.clone()),
            })
            .collect(),
    };
    let network = blocking(engine, move |plane| plane.create(request)).await?;
    event(engine, "create", &network, None);
    json(
        StatusCode::CREATED,
        &NetworkCreateResponse {
            id: network.id,
            warning: String::new(),
        },
    )
}

fn sorted(map: Option<std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    map.unwrap_or_default().into_iter().collect()
}

/// Docker's `GET /networks` filters.
fn matches(network: &berth_network::Network, filters: &Filters, in_use: bool) -> bool {
    let any = |key: &str, test: &dyn Fn(&str) -> bool| {
        let values = filters.get(key);
        values.is_empty() || values.iter().any(|v| test(v))
    };
    let labels = &network.labels;
    any("name", &|v| network.name.contains(v))
        && any("id", &|v| network.id.starts_with(v))
        && any("driver", &|v| network.driver.as_str() == v)
        && any("scope", &|v| v == "local")
        && any("type", &|v| match v {
            "builtin" => network.predefined,
            "custom" => !network.predefined,
            _ => false,
        })
        && any("dangling", &|v| match v {
            "true" | "1" => !in_use && !network.predefined,
            _ => in_use || network.predefined,
        })
        && filters
            .get("label")
            .iter()
            .all(|wanted| match wanted.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                None => labels.contains_key(wanted.as_str()),
            })
}

fn check_filter_keys(filters: &Filters, accepted: &[&str]) -> Result<(), ApiError> {
    for key in filters.keys() {
        if !accepted.contains(&key) {
            return Err(ApiError::bad_request(format!("invalid filter '{key}'")));
        }
    }
    for value in filters.get("type") {
        if value != "custom" && value != "builtin" {
            return Err(ApiError::bad_request(format!(
                "invalid filter: 'type'='{value}'"
            )));
        }
    }
    Ok(())
}

/// The IDs of the networks some container is configured on (running or not).
async fn networks_in_use(engine: &Engine) -> Result<Vec<String>, ApiError> {
    Ok(snapshots(engine)
        .await?
        .iter()
        .flat_map(|r| {
            r.network
                .networks
                .iter()
                .filter_map(|(_, s)| s.network_id.clone())
                .collect::<Vec<_>>()
        })
        .collect())
}

pub async fn list(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let filters = query.filters()?;
    check_filter_keys(
        &filters,
        &["name", "id", "driver", "label", "scope", "type", "dangling"],
    )?;
    let in_use = if filters.get("dangling").is_empty() {
        Vec::new()
    } else {
        networks_in_use(engine).await?
    };
    let mut networks = engine.services.network.plane.list();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    let shown: Vec<_> = networks
        .iter()
        .filter(|n| matches(n, &filters, in_use.contains(&n.id)))
        .map(|n| view::network(n, None))
        .collect();
    json(StatusCode::OK, &shown)
}

fn get(engine: &Engine, id: &str) -> Result<berth_network::Network, ApiError> {
    engine
        .services
        .network
        .plane
        .get(id)
        .map_err(|err| ApiError::from(NetworkError::from(err)))
}

pub async fn inspect(engine: &Engine, id: &str) -> ApiResult {
    let network = get(engine, id)?;
    let mut attached = Vec::new();
    for record in snapshots(engine).await? {
        if !record.state.status.is_live() {
            continue;
        }
        let endpoint = record
            .network
            .networks
            .iter()
            .find(|(_, s)| s.network_id.as_deref() == Some(network.id.as_str()))
            .map(|(_, s)| s.clone());
        if let Some(settings) =
            endpoint.filter(|s| s.endpoint_id.as_deref().is_some_and(|e| !e.is_empty()))
        {
            attached.push(view::Attached {
                container_id: record.id.clone(),
                name: record.name.clone(),
                settings,
            });
        }
    }
    json(StatusCode::OK, &view::network(&network, Some(attached)))
}

pub async fn remove(engine: &Engine, id: &str) -> ApiResult {
    let network = get(engine, id)?;
    let target = network.id.clone();
    blocking(engine, move |plane| plane.remove(&target)).await?;
    event(engine, "destroy", &network, None);
    no_content()
}

pub async fn prune(engine: &Engine, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let filters = query.filters()?;
    check_filter_keys(&filters, &["until", "label", "label!"])?;
    let until = match filters.get("until").first() {
        Some(text) => Some(super::container_prune::parse_until(
            text,
            chrono::Utc::now(),
        )?),
        None => None,
    };
    let in_use = networks_in_use(engine).await?;
    let mut deleted = Vec::new();
    for network in engine.services.network.plane.list() {
        let labels = &network.labels;
        let label_ok = |key: &str| -> Vec<bool> {
            filters
                .get(key)
                .iter()
                .map(|wanted| match wanted.split_once('=') {
                    Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                    None => labels.contains_key(wanted.as_str()),
                })
                .collect()
        };
        let created = chrono::DateTime::<chrono::Utc>::from(network.created);
        if network.predefined
            || in_use.contains(&network.id)
            || !label_ok("label").iter().all(|b| *b)
            || label_ok("label!").iter().any(|b| *b)
            || until.is_some_and(|t| created >= t)
        {
            continue;
        }
        let id = network.id.clone();
        match blocking(engine, move |plane| plane.remove(&id)).await {
            Ok(()) => {
                event(engine, "destroy", &network, None);
                deleted.push(network.name.clone());
            }
            // In use by a container started meanwhile: not dangling after all.
            Err(err) if err.status() == StatusCode::FORBIDDEN => {}
            Err(err) => return Err(err),
        }
    }
    json(
        StatusCode::OK,
        &NetworkPruneResponse {
            networks_deleted: Some(deleted),
        },
    )
}

pub async fn connect(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let body: NetworkConnectRequest = read_json(req.into_body()).await?;
    let network = get(engine, id)?;
    let container = body.container.unwrap_or_default();
    let (container_id, addr) = find(engine, &container).await?;
    addr.send(ConnectNetwork {
        network: network.clone(),
        settings: body.endpoint_config.unwrap_or_default(),
    })
    .await??;
    event(engine, "connect", &network, Some(&container_id));
    json(StatusCode::OK, &serde_json::Value::Null)
}

pub async fn disconnect(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let body: NetworkDisconnectRequest = read_json(req.into_body()).await?;
    let network = get(engine, id)?;
    let container = body.container.unwrap_or_default();
    let (container_id, addr) = find(engine, &container).await?;
    addr.send(DisconnectNetwork {
        network: network.clone(),
    })
    .await??;
    event(engine, "disconnect", &network, Some(&container_id));
    json(StatusCode::OK, &serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(name: &str, predefined: bool) -> berth_network::Network {
        berth_network::Network {
            id: format!("{:0>64}", name.len()),
            name: name.into(),
            driver: berth_network::Driver::Bridge,
            created: std::time::SystemTime::UNIX_EPOCH,
            internal: false,
            attachable: false,
            enable_ipv6: false,
            predefined,
            bridge: Some("br0".into()),
            ipam: Vec::new(),
            ipam6: None,
            ipam_options: Default::default(),
            labels: [("tier".to_string(), "front".to_string())]
                .into_iter()
                .collect(),
            options: Default::default(),
        }
    }

    #[test]
    fn list_filters_follow_docker() {
        let custom = network("front", false);
        let builtin = network("bridge", true);
        let f = |raw: &str| Filters::parse(raw).unwrap();
        assert!(matches(&custom, &f(r#"{"type":["custom"]}"#), false));
        assert!(!matches(&builtin, &f(r#"{"type":["custom"]}"#), false));
        assert!(matches(&custom, &f(r#"{"label":["tier=front"]}"#), false));
        assert!(!matches(&custom, &f(r#"{"label":["tier=back"]}"#), false));
        assert!(matches(&custom, &f(r#"{"dangling":["true"]}"#), false));
        assert!(!matches(&custom, &f(r#"{"dangling":["true"]}"#), true));
        assert!(matches(&custom, &f(r#"{"name":["ron"]}"#), false));
        assert!(check_filter_keys(&f(r#"{"bogus":["x"]}"#), &["name"]).is_err());
    }
}
