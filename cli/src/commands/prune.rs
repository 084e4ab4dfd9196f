//! `container prune`, `image prune` and `system prune`: each asks first unless forced,
//! then prints what the daemon removed, as docker does.

use std::io::{BufRead, Write};

use hyper::Method;
use serde_json::Value;

use super::image_admin::{docker_size, write_out};
use super::ps::parse_filters;
use crate::client::query::Query;
use crate::client::Client;
use crate::error::CliError;
use crate::registry_args::{ContainerPruneArgs, ImagePruneArgs, SystemPruneArgs};

pub async fn containers(client: &mut Client, args: ContainerPruneArgs) -> Result<(), CliError> {
    let filters = parse_filters(&args.filter)?;
    if !args.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    let (mut text, reclaimed) = prune_containers(client, &filters).await?;
    text.push_str(&total(reclaimed));
    write_out(&text)
}

pub async fn images(client: &mut Client, args: ImagePruneArgs) -> Result<(), CliError> {
    if !args.filter.is_empty() {
        return Err(CliError::Unsupported("'berth image prune --filter'".into()));
    }
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.force && !confirm(warning)? {
        return Ok(());
    }
    let (mut text, reclaimed) = prune_images(client, args.all).await?;
    text.push_str(&total(reclaimed));
    write_out(&text)
}

/// berth has no networks, volumes or build cache of its own yet, so a system prune is a
/// container prune followed by an image prune.
pub async fn system(client: &mut Client, args: SystemPruneArgs) -> Result<(), CliError> {
    if args.volumes {
        return Err(CliError::Unsupported(
            "'berth system prune --volumes'".into(),
        ));
    }
    if !args.filter.is_empty() {
        return Err(CliError::Unsupported(
            "'berth system prune --filter'".into(),
        ));
    }
    let images = if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    let warning = format!("WARNING! This will remove:\n  - all stopped containers\n  - {images}\n");
    if !args.force && !confirm(&warning)? {
        return Ok(());
    }
    let (mut text, containers_reclaimed) = prune_containers(client, &[]).await?;
    let (images_text, images_reclaimed) = prune_images(client, args.all).await?;
    text.push_str(&images_text);
    text.push_str(&total(containers_reclaimed + images_reclaimed));
    write_out(&text)
}

/// What `POST /containers/prune` removed, as docker lists it, and the bytes it freed.
async fn prune_containers(
    client: &mut Client,
    filters: &[(String, String)],
) -> Result<(String, u64), CliError> {
    let path = format!("/containers/prune{}", Query::new().filters(filters).build());
    let report = post(client, &path).await?;
    let mut text = String::new();
    if let Some(deleted) = report["ContainersDeleted"]
        .as_array()
        .filter(|d| !d.is_empty())
    {
        text.push_str("Deleted Containers:\n");
        for id in deleted.iter().filter_map(Value::as_str) {
            text.push_str(id);
            text.push('\n');
        }
        text.push('\n');
    }
    Ok((text, report["SpaceReclaimed"].as_u64().unwrap_or(0)))
}

/// What `POST /images/prune` removed, as docker lists it, and the bytes it freed.
async fn prune_images(client: &mut Client, all: bool) -> Result<(String, u64), CliError> {
    let dangling = if all { "false" } else { "true" };
    let filters = [("dangling".to_owned(), dangling.to_owned())];
    let path = format!("/images/prune{}", Query::new().filters(&filters).build());
    let report = post(client, &path).await?;
    let mut text = String::new();
    if let Some(deleted) = report["ImagesDeleted"].as_array().filter(|d| !d.is_empty()) {
        text.push_str("Deleted Images:\n");
        for item in deleted {
            if let Some(tag) = item["Untagged"].as_str() {
                text.push_str(&format!("untagged: {tag}\n"));
            }
            if let Some(id) = item["Deleted"].as_str() {
                text.push_str(&format!("deleted: {id}\n"));
            }
        }
        text.push('\n');
    }
    Ok((text, report["SpaceReclaimed"].as_u64().unwrap_or(0)))
}

async fn post(client: &mut Client, path: &str) -> Result<Value, CliError> {
    let body = client.call(Method::POST, path, None).await?;
    Ok(crate::client::decode(path, &body)?)
}

fn total(reclaimed: u64) -> String {
    format!("Total reclaimed space: {}\n", docker_size(reclaimed as f64))
}

/// Asks on the terminal; anything but y/Y declines.
pub fn confirm(warning: &str) -> Result<bool, CliError> {
    ask(&format!("{warning}\nAre you sure you want to continue?"))
}

/// Prints `question [y/N] ` and reads the answer.
pub fn ask(question: &str) -> Result<bool, CliError> {
    print!("{question} [y/N] ");
    std::io::stdout()
        .flush()
        .map_err(|e| CliError::io("writing output", e))?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::io("reading the answer", e))?;
    Ok(matches!(answer.trim(), "y" | "Y"))
}
