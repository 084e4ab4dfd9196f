//! `berth stats`: `GET /containers/{id}/stats`, with docker's columns and arithmetic.
//!
//! With `--no-stream` every container is asked once, all at the same time, and the table
//! is printed when every answer is in. Otherwise each container's stream is read and the
//! table redrawn every half second, as docker does; without container names the set
//! follows the daemon's events (a container that starts is added, one that dies removed).

use std::io::Write;
use std::pin::Pin;
use std::time::Duration;

use futures_util::stream::{self, SelectAll, Stream, StreamExt};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Method;
use serde_json::{json, Value};

use crate::args::StatsArgs;
use crate::client::query::{segment, Query};
use crate::client::{empty_body, Client};
use crate::error::{all_succeeded, CliError};
use crate::format::units::{binary_size, human_size_with_precision, short_id};
use crate::format::Template;

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

pub const HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("ID", "CONTAINER ID"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// How often the streaming table is redrawn.
const REDRAW: Duration = Duration::from_millis(500);

/// One container's line, computed as docker's client computes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// The name or ID the container was asked by.
    pub container: String,
    pub name: String,
    pub id: String,
    pub cpu_percent: f64,
    pub memory: f64,
    pub memory_limit: f64,
    pub memory_percent: f64,
    pub net_rx: f64,
    pub net_tx: f64,
    pub block_read: f64,
    pub block_write: f64,
    pub pids: u64,
    /// No valid sample: the columns show `--`.
    pub invalid: bool,
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or(0.0)
}

/// CPU % is the container's share of the host's CPU time between the two samples,
/// scaled to the number of CPUs.
fn cpu_percent(sample: &Value) -> f64 {
    let (current, previous) = (&sample["cpu_stats"], &sample["precpu_stats"]);
    let cpu_delta = number(&current["cpu_usage"]["total_usage"])
        - number(&previous["cpu_usage"]["total_usage"]);
    let system_delta = number(&current["system_cpu_usage"]) - number(&previous["system_cpu_usage"]);
    let mut cpus = number(&current["online_cpus"]);
    if cpus == 0.0 {
        cpus = current["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0, Vec::len) as f64;
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    }
}

/// Memory in use without the page cache that can be dropped (v1 `total_inactive_file`,
/// v2 `inactive_file`).
fn memory_without_cache(memory: &Value) -> f64 {
    let usage = memory["usage"].as_u64().unwrap_or(0);
    let stats = &memory["stats"];
    if let Some(inactive) = stats["total_inactive_file"].as_u64() {
        if inactive < usage {
            return (usage - inactive) as f64;
        }
    }
    let inactive = stats["inactive_file"].as_u64().unwrap_or(0);
    if inactive < usage {
        (usage - inactive) as f64
    } else {
        usage as f64
    }
}

pub fn entry(container: &str, sample: &Value) -> Entry {
    let memory = memory_without_cache(&sample["memory_stats"]);
    let limit = number(&sample["memory_stats"]["limit"]);
    let (mut block_read, mut block_write) = (0.0, 0.0);
    for io in sample["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match io["op"].as_str().and_then(|op| op.chars().next()) {
            Some('r' | 'R') => block_read += number(&io["value"]),
            Some('w' | 'W') => block_write += number(&io["value"]),
            _ => {}
        }
    }
    let (mut net_rx, mut net_tx) = (0.0, 0.0);
    for interface in sample["networks"].as_object().into_iter().flatten() {
        net_rx += number(&interface.1["rx_bytes"]);
        net_tx += number(&interface.1["tx_bytes"]);
    }
    Entry {
        container: container.to_owned(),
        name: sample["name"].as_str().unwrap_or("").to_owned(),
        id: sample["id"].as_str().unwrap_or("").to_owned(),
        cpu_percent: cpu_percent(sample),
        memory,
        memory_limit: limit,
        memory_percent: if limit != 0.0 {
            memory / limit * 100.0
        } else {
            0.0
        },
        net_rx,
        net_tx,
        block_read,
        block_write,
        pids: sample["pids_stats"]["current"].as_u64().unwrap_or(0),
        invalid: false,
    }
}

/// The fields docker's stats formatter offers to templates.
pub fn row(entry: &Entry, trunc: bool) -> Value {
    let percent = |value: f64| format!("{value:.2}%");
    let pair = |a: f64, b: f64| {
        format!(
            "{} / {}",
            human_size_with_precision(a, 3),
            human_size_with_precision(b, 3)
        )
    };
    let name = if entry.name.chars().count() > 1 {
        entry.name.chars().skip(1).collect()
    } else {
        "--".to_owned()
    };
    let id = if trunc {
        short_id(&entry.id).to_owned()
    } else {
        entry.id.clone()
    };
    if entry.invalid {
        return json!({
            "Container": entry.container, "Name": name, "ID": id, "CPUPerc": "--",
            "MemUsage": "-- / --", "MemPerc": "--", "NetIO": "--", "BlockIO": "--", "PIDs": "--",
        });
    }
    json!({
        "Container": entry.container,
        "Name": name,
        "ID": id,
        "CPUPerc": percent(entry.cpu_percent),
        "MemUsage": format!("{} / {}", binary_size(entry.memory), binary_size(entry.memory_limit)),
        "MemPerc": percent(entry.memory_percent),
        "NetIO": pair(entry.net_rx, entry.net_tx),
        "BlockIO": pair(entry.block_read, entry.block_write),
        "PIDs": entry.pids.to_string(),
    })
}

fn stats_path(container: &str, stream: bool) -> String {
    let query = Query::new().param("stream", if stream { "1" } else { "0" });
    format!("/containers/{}/stats{}", segment(container), query.build())
}

async fn sample_once(client: &Client, container: &str) -> Result<Entry, CliError> {
    let response = client
        .stream(Method::GET, &stats_path(container, false), empty_body())
        .await?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| read_error(container, e))?
        .to_bytes();
    let sample: Value = serde_json::from_slice(&body).map_err(|e| CliError::Status {
        code: 1,
        message: format!("decoding the stats of {container}: {e}"),
    })?;
    Ok(entry(container, &sample))
}

fn read_error(container: &str, e: hyper::Error) -> CliError {
    CliError::Status {
        code: 1,
        message: format!("reading the stats of {container}: {e}"),
    }
}

/// The running containers (all with `-a`), by short ID as docker names them.
async fn list(client: &mut Client, all: bool) -> Result<Vec<String>, CliError> {
    let path = format!("/containers/json{}", Query::new().flag("all", all).build());
    let containers: Vec<Value> = client.get(&path).await?;
    Ok(containers
        .iter()
        .filter_map(|c| c["Id"].as_str())
        .map(|id| short_id(id).to_owned())
        .collect())
}

fn render(template: &Template, entries: &[Entry], trunc: bool) -> Result<String, CliError> {
    let rows: Vec<Value> = entries.iter().map(|e| row(e, trunc)).collect();
    Ok(template.render_rows(&rows, HEADERS)?)
}

pub async fn stats(client: &mut Client, args: StatsArgs) -> Result<(), CliError> {
    let format = match args.format.as_deref() {
        None | Some("") | Some("table") => DEFAULT_FORMAT,
        Some(format) => format,
    };
    let template = Template::parse(format)?;
    let show_all = args.containers.is_empty();
    let containers = if show_all {
        list(client, args.all).await?
    } else {
        args.containers.clone()
    };
    if args.no_stream {
        return once(client, &template, &containers, show_all, !args.no_trunc).await;
    }
    follow(client, &template, containers, show_all, &args).await
}

async fn once(
    client: &Client,
    template: &Template,
    containers: &[String],
    show_all: bool,
    trunc: bool,
) -> Result<(), CliError> {
    let answers =
        futures_util::future::join_all(containers.iter().map(|c| sample_once(client, c))).await;
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (container, answer) in containers.iter().zip(answers) {
        match answer {
            Ok(entry) => entries.push(entry),
            // A container listed a moment ago may be gone; its line shows `--`.
            Err(_) if show_all => entries.push(Entry {
                container: container.clone(),
                invalid: true,
                ..Entry::default()
            }),
            Err(e) => errors.push(e.to_string()),
        }
    }
    all_succeeded(errors)?;
    std::io::stdout()
        .write_all(render(template, &entries, trunc)?.as_bytes())
        .map_err(|e| CliError::io("writing stats", e))
}

type Updates = Pin<Box<dyn Stream<Item = (String, Option<Value>)>>>;

/// A container's samples as they arrive; `None` once its stream broke or ended.
fn samples(container: String, body: Incoming) -> Updates {
    let state = (body, Vec::<u8>::new(), container, false);
    Box::pin(stream::unfold(
        state,
        |(mut body, mut pending, container, done)| async move {
            if done {
                return None;
            }
            loop {
                if let Some(newline) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=newline).collect();
                    let sample = serde_json::from_slice::<Value>(&line).ok();
                    let done = sample.is_none();
                    return Some((
                        (container.clone(), sample),
                        (body, pending, container, done),
                    ));
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            pending.extend_from_slice(data);
                        }
                    }
                    _ => {
                        return Some(((container.clone(), None), (body, pending, container, true)))
                    }
                }
            }
        },
    ))
}

async fn events(client: &Client) -> Result<Updates, CliError> {
    let filters = Query::new()
        .filters(&[("type".to_owned(), "container".to_owned())])
        .build();
    let response = client
        .stream(Method::GET, &format!("/events{filters}"), empty_body())
        .await?;
    Ok(samples(String::new(), response.into_body()))
}

async fn follow(
    client: &mut Client,
    template: &Template,
    containers: Vec<String>,
    show_all: bool,
    args: &StatsArgs,
) -> Result<(), CliError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut updates: SelectAll<Updates> = SelectAll::new();
    let mut errors = Vec::new();
    for container in containers {
        match client
            .stream(Method::GET, &stats_path(&container, true), empty_body())
            .await
        {
            Ok(response) => {
                updates.push(samples(container.clone(), response.into_body()));
                entries.push(Entry {
                    container,
                    ..Entry::default()
                });
            }
            // A listed container removed meanwhile is left out.
            Err(_) if show_all => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    all_succeeded(errors)?;
    let mut lifecycle = if show_all {
        Some(events(client).await?)
    } else {
        None
    };
    let mut redraw = tokio::time::interval(REDRAW);
    let mut out = std::io::stdout();
    loop {
        tokio::select! {
            Some((container, sample)) = updates.next(), if !updates.is_empty() => {
                if let Some(entry_slot) = entries.iter_mut().find(|e| e.container == container) {
                    match sample {
                        Some(sample) => *entry_slot = entry(&container, &sample),
                        None => entry_slot.invalid = true,
                    }
                }
            }
            Some((_, event)) = async { lifecycle.as_mut()?.next().await }, if lifecycle.is_some() => {
                let Some(event) = event else { continue };
                let id = short_id(event["id"].as_str().unwrap_or("")).to_owned();
                let action = event["Action"].as_str().unwrap_or("");
                let known = entries.iter().any(|e| e.container == id);
                if (action == "start" || (action == "create" && args.all)) && !known {
                    if let Ok(response) = client
                        .stream(Method::GET, &stats_path(&id, true), empty_body())
                        .await
                    {
                        updates.push(samples(id.clone(), response.into_body()));
                        entries.push(Entry { container: id, ..Entry::default() });
                    }
                } else if action == "die" && !args.all {
                    entries.retain(|e| e.container != id);
                }
            }
            _ = redraw.tick() => {
                let table = render(template, &entries, !args.no_trunc)?;
                write!(out, "\x1b[2J\x1b[H{table}")
                    .and_then(|_| out.flush())
                    .map_err(|e| CliError::io("writing stats", e))?;
                if entries.is_empty() && !show_all {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        json!({
            "name": "/web", "id": "0123456789abcdef0123",
            "cpu_stats": {"cpu_usage": {"total_usage": 400_000_000u64}, "system_cpu_usage": 10_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 200_000_000u64}, "system_cpu_usage": 8_000_000_000u64},
            "memory_stats": {"usage": 3_145_728u64, "limit": 1_073_741_824u64, "stats": {"total_inactive_file": 1_048_576u64}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 1_500_000},
                {"major": 8, "minor": 16, "op": "read", "value": 4096}]},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 700}, "eth1": {"rx_bytes": 500, "tx_bytes": 0}},
            "pids_stats": {"current": 3}
        })
    }

    #[test]
    fn docker_arithmetic_and_columns() {
        let e = entry("web", &sample());
        assert!((e.cpu_percent - 20.0).abs() < 1e-9, "{}", e.cpu_percent);
        assert_eq!(e.memory, 2_097_152.0);
        let r = row(&e, true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "20.00%");
        assert_eq!(r["MemUsage"], "2MiB / 1GiB");
        assert_eq!(r["MemPerc"], "0.20%");
        assert_eq!(r["NetIO"], "2kB / 700B");
        assert_eq!(r["BlockIO"], "8.19kB / 1.5MB");
        assert_eq!(r["PIDs"], "3");
    }

    #[test]
    fn a_container_without_samples_shows_dashes() {
        let e = Entry {
            container: "gone".into(),
            invalid: true,
            ..Entry::default()
        };
        let r = row(&e, true);
        assert_eq!(r["Name"], "--");
        assert_eq!(r["CPUPerc"], "--");
        assert_eq!(r["MemUsage"], "-- / --");
    }

    #[test]
    fn the_default_table_has_dockers_headers() {
        let template = Template::parse(DEFAULT_FORMAT).unwrap();
        let text = render(&template, &[entry("web", &sample())], true).unwrap();
        let header = text.lines().next().unwrap();
        assert_eq!(
            header,
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O      BLOCK I/O        PIDS"
        );
    }

    #[test]
    fn cpu_without_a_previous_sample_is_zero() {
        let mut s = sample();
        s["precpu_stats"] = json!({});
        s["cpu_stats"]["system_cpu_usage"] = json!(0);
        assert_eq!(cpu_percent(&s), 0.0);
    }
}
