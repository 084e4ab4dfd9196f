//! `commit`, `history` and `system df`.

use std::io::Write;

use serde_json::{json, Value};

use crate::client::query::{segment, Query};
use crate::client::Client;
use crate::error::CliError;
use crate::format::units::{ago, ellipsis, human_size, human_size_with_precision, short_id};
use crate::format::Template;
use crate::registry_args::{CommitArgs, DfArgs, HistoryArgs};

const HISTORY_FORMAT: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

pub(crate) fn write_out(text: &str) -> Result<(), CliError> {
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing output", e))
}

/// `commit CONTAINER [REPO[:TAG]]`: prints the new image's ID, as docker does.
pub async fn commit(client: &mut Client, args: CommitArgs) -> Result<(), CliError> {
    let mut query = Query::new().param("container", args.container.clone());
    if let Some(reference) = &args.reference {
        let (repo, tag) = super::images::split_target(reference)?;
        query = query.param("repo", repo).param("tag", tag);
    }
    query = query
        .param_opt("comment", args.message.clone())
        .param_opt("author", args.author.clone())
        .param("pause", if args.pause { "1" } else { "0" });
    for change in &args.change {
        query = query.param("changes", change.clone());
    }
    let created: Value = client
        .post_json(&format!("/commit{}", query.build()), &Value::Null)
        .await?;
    let id = created["Id"].as_str().ok_or_else(|| CliError::Status {
        code: 1,
        message: format!("the daemon's answer to commit has no image ID: {created}"),
    })?;
    write_out(&format!("{id}\n"))
}

pub async fn history(client: &mut Client, args: HistoryArgs) -> Result<(), CliError> {
    let path = format!("/images/{}/history", segment(&args.image));
    let entries: Vec<Value> = client.get(&path).await?;
    let now = chrono::Utc::now().timestamp();
    let format = match (&args.format, args.quiet) {
        (_, true) => "{{.ID}}",
        (Some(f), false) if f != "table" => f.as_str(),
        _ => HISTORY_FORMAT,
    };
    let rows: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let id = entry["Id"].as_str().unwrap_or("<missing>");
            let id = if args.no_trunc || id == "<missing>" {
                id.to_owned()
            } else {
                short_id(id).to_owned()
            };
            let created = entry["Created"].as_i64().unwrap_or(0);
            let created_by = entry["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
            let created_by = if args.no_trunc {
                created_by
            } else {
                ellipsis(&created_by, 45)
            };
            let size = entry["Size"].as_i64().unwrap_or(0);
            json!({
                "ID": id,
                "CreatedSince": if args.human { ago(created, now) } else { created.to_string() },
                "CreatedAt": crate::format::units::go_time_string(created),
                "CreatedBy": created_by,
                "Size": if args.human { human_size(size as f64) } else { size.to_string() },
                "Comment": entry["Comment"].as_str().unwrap_or(""),
            })
        })
        .collect();
    write_out(&Template::parse(format)?.render_rows(&rows, HISTORY_HEADERS)?)
}

/// Sizes as `image prune` and `system df` print them: four significant digits (docker's
/// `units.HumanSize`), where `images` and `history` print three.
pub(crate) fn docker_size(bytes: f64) -> String {
    human_size_with_precision(bytes, 4)
}

const DF_FORMAT: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const DF_HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

fn reclaimable(bytes: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", docker_size(bytes as f64), bytes * 100 / total)
    } else {
        docker_size(bytes as f64)
    }
}

pub async fn df(client: &mut Client, args: DfArgs) -> Result<(), CliError> {
    if args.verbose {
        return Err(CliError::Unsupported("'berth system df --verbose'".into()));
    }
    let usage: Value = client.get("/system/df").await?;
    let images = usage["Images"].as_array().cloned().unwrap_or_default();
    let containers = usage["Containers"].as_array().cloned().unwrap_or_default();
    let layers_size = usage["LayersSize"].as_i64().unwrap_or(0);
    let active_images = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .count();
    let used_bytes: i64 = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .map(|i| i["Size"].as_i64().unwrap_or(0) - i["SharedSize"].as_i64().unwrap_or(0).max(0))
        .sum();
    let running = containers
        .iter()
        .filter(|c| c["State"].as_str() == Some("running"))
        .count();
    let containers_size: i64 = containers
        .iter()
        .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    let stopped_size: i64 = containers
        .iter()
        .filter(|c| c["State"].as_str() != Some("running"))
        .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": active_images.to_string(),
               "Size": docker_size(layers_size as f64),
               "Reclaimable": reclaimable((layers_size - used_bytes).max(0), layers_size)}),
        json!({"Type": "Containers", "TotalCount": containers.len().to_string(), "Active": running.to_string(),
               "Size": docker_size(containers_size as f64),
               "Reclaimable": reclaimable(stopped_size, containers_size)}),
        json!({"Type": "Local Volumes", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
    ];
    let format = match &args.format {
        Some(f) if f != "table" => f.as_str(),
        _ => DF_FORMAT,
    };
    write_out(&Template::parse(format)?.render_rows(&rows, DF_HEADERS)?)
}
