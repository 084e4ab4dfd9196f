//! `berth ps` / `berth container ls`: `GET /containers/json`.

use std::io::Write;

use bollard_stubs::models::ContainerSummary;
use serde_json::{json, Value};

use super::port::display_ports;
use crate::args::PsArgs;
use crate::client::query::Query;
use crate::client::Client;
use crate::error::CliError;
use crate::format::units::{ago, ellipsis, go_quote, go_time_string, human_size, short_id};
use crate::format::Template;

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Names", "NAMES"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
    ("Platform", "PLATFORM"),
];

/// `-f key=value` pairs, refusing anything without `=` as docker does.
pub fn parse_filters(filters: &[String]) -> Result<Vec<(String, String)>, CliError> {
    filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.trim().to_lowercase(), v.to_owned()))
                .ok_or_else(|| {
                    CliError::Usage(format!("bad format of filter (expected name=value): {f}"))
                })
        })
        .collect()
}

pub fn list_path(args: &PsArgs, size: bool) -> Result<String, CliError> {
    let limit = if args.latest { 1 } else { args.last };
    let query = Query::new()
        .flag("all", args.all)
        .param_opt("limit", (limit > 0).then(|| limit.to_string()))
        .flag("size", size)
        .filters(&parse_filters(&args.filter)?);
    Ok(format!("/containers/json{}", query.build()))
}

pub async fn ps(client: &mut Client, args: PsArgs) -> Result<(), CliError> {
    let format = match (&args.format, args.quiet) {
        (_, true) => "{{.ID}}".to_owned(),
        (Some(f), false) if f != "table" => f.clone(),
        _ if args.size => format!("{DEFAULT_FORMAT}\t{{{{.Size}}}}"),
        _ => DEFAULT_FORMAT.to_owned(),
    };
    let template = Template::parse(&format)?;
    let size = args.size || format.contains(".Size");
    let containers: Vec<ContainerSummary> = client.get(&list_path(&args, size)?).await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = containers
        .iter()
        .map(|c| row(c, !args.no_trunc, now))
        .collect();
    let text = template.render_rows(&rows, HEADERS)?;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing the container list", e))
}

/// The fields docker's container formatter offers to templates.
pub fn row(c: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let id = c.id.clone().unwrap_or_default();
    let created = c.created.unwrap_or(0);
    let names: Vec<&str> = c
        .names
        .iter()
        .flatten()
        .map(|n| n.trim_start_matches('/'))
        .collect();
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .copied()
            .unwrap_or("")
            .to_owned()
    } else {
        names.join(",")
    };
    let command = c.command.clone().unwrap_or_default();
    let command = go_quote(&if trunc {
        ellipsis(&command, 20)
    } else {
        command
    });
    let mut labels: Vec<String> = c
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .flatten()
        .map(|m| {
            let name = m
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| m.source.clone())
                .unwrap_or_default();
            if trunc {
                ellipsis(&name, 15)
            } else {
                name
            }
        })
        .collect();
    let local_volumes = c
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.driver.as_deref() == Some("local"))
        .count();
    let mut networks: Vec<&String> = c
        .network_settings
        .iter()
        .flat_map(|s| s.networks.iter().flatten().map(|(name, _)| name))
        .collect();
    networks.sort();
    let size_rw = human_size(c.size_rw.unwrap_or(0) as f64);
    let size = match c.size_root_fs.unwrap_or(0) {
        0 => size_rw,
        root => format!("{size_rw} (virtual {})", human_size(root as f64)),
    };
    json!({
        "Command": command,
        "CreatedAt": go_time_string(created),
        "ID": if trunc { short_id(&id).to_owned() } else { id },
        "Image": display_image(c, trunc),
        "Labels": labels.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Mounts": mounts.join(","),
        "Names": names,
        "Networks": networks.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
        "Platform": null,
        "Ports": display_ports(c.ports.as_deref().unwrap_or_default()),
        "RunningFor": ago(created, now),
        "Size": size,
        "State": c.state.map(|s| s.to_string()).unwrap_or_default(),
        "Status": c.status.clone().unwrap_or_default(),
    })
}

/// An image given by ID shows as a short ID; a digest pin is dropped when
/// truncating, keeping any tag.
fn display_image(c: &ContainerSummary, trunc: bool) -> String {
    let image = c.image.clone().unwrap_or_default();
    if image.is_empty() {
        return "<no image>".to_owned();
    }
    if !trunc {
        return image;
    }
    let image_id = c.image_id.clone().unwrap_or_default();
    if short_id(&image_id) == short_id(&image) {
        return short_id(&image).to_owned();
    }
    let without_digest = image
        .split_once('@')
        .map_or(image.as_str(), |(name, _)| name);
    without_digest
        .strip_prefix("docker.io/library/")
        .or_else(|| without_digest.strip_prefix("docker.io/"))
        .unwrap_or(without_digest)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(now: i64) -> Vec<ContainerSummary> {
        serde_json::from_value(json!([
            {"Id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "Names": ["/web"],
             "Image": "busybox", "ImageID": "sha256:aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999",
             "Command": "sh -c 'sleep 1000; echo done'", "Created": now - 90, "Ports": [],
             "Labels": {"b": "2", "a": "1"}, "State": "running", "Status": "Up About a minute",
             "NetworkSettings": {"Networks": {"none": {}}},
             "Mounts": [{"Type": "bind", "Source": "/tmp", "Destination": "/mnt", "Mode": "ro", "RW": false, "Propagation": "rprivate"}],
             "SizeRw": 12345, "SizeRootFs": 4261376},
            {"Id": "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", "Names": ["/a-much-longer-name"],
             "Image": "sha256:aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999",
             "ImageID": "sha256:aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999",
             "Command": "echo hi", "Created": now - 7200,
             "Ports": [{"PrivatePort": 80, "Type": "tcp"}, {"IP": "0.0.0.0", "PrivatePort": 443, "PublicPort": 8443, "Type": "tcp"}],
             "Labels": {}, "State": "exited", "Status": "Exited (0) 2 hours ago", "Mounts": []}
        ]))
        .unwrap()
    }

    /// Expected text is what docker 28 printed for the same daemon answer.
    #[test]
    fn default_table_matches_docker() {
        let now = 1_800_000_000;
        let rows: Vec<Value> = sample(now).iter().map(|c| row(c, true, now)).collect();
        let text = Template::parse(DEFAULT_FORMAT)
            .unwrap()
            .render_rows(&rows, HEADERS)
            .unwrap();
        let expected = "\
CONTAINER ID   IMAGE          COMMAND                  CREATED              STATUS                   PORTS                           NAMES
0123456789ab   busybox        \"sh -c 'sleep 1000; …\"   About a minute ago   Up About a minute                                        web
fedcba987654   aaaabbbbcccc   \"echo hi\"                2 hours ago          Exited (0) 2 hours ago   80/tcp, 0.0.0.0:8443->443/tcp   a-much-longer-name
";
        assert_eq!(text, expected);
    }

    #[test]
    fn size_column_and_json_rows() {
        let now = 1_800_000_000;
        let containers = sample(now);
        let first = row(&containers[0], true, now);
        assert_eq!(first["Size"], "12.3kB (virtual 4.26MB)");
        assert_eq!(row(&containers[1], true, now)["Size"], "0B");
        assert_eq!(first["Labels"], "a=1,b=2");
        assert_eq!(first["Mounts"], "/tmp");
        assert_eq!(first["Networks"], "none");
        let full = row(&containers[1], false, now);
        assert_eq!(
            full["Image"],
            "sha256:aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999"
        );
        assert_eq!(full["Command"], "\"echo hi\"");
        let line = Template::parse("{{json .}}")
            .unwrap()
            .render(&first)
            .unwrap();
        assert!(
            line.starts_with(r#"{"Command":"\"sh -c 'sleep 1000; …\"","CreatedAt":""#),
            "{line}"
        );
    }

    #[test]
    fn list_query_maps_flags() {
        let args = PsArgs {
            all: true,
            last: -1,
            filter: vec!["name=foo".into(), "status=exited".into()],
            ..Default::default()
        };
        assert_eq!(
            list_path(&args, false).unwrap(),
            "/containers/json?all=1&filters=%7B%22name%22%3A%7B%22foo%22%3Atrue%7D%2C%22status%22%3A%7B%22exited%22%3Atrue%7D%7D"
        );
        let args = PsArgs {
            latest: true,
            last: -1,
            ..Default::default()
        };
        assert_eq!(
            list_path(&args, true).unwrap(),
            "/containers/json?limit=1&size=1"
        );
        let args = PsArgs {
            last: 3,
            ..Default::default()
        };
        assert_eq!(list_path(&args, false).unwrap(), "/containers/json?limit=3");
        let args = PsArgs {
            last: -1,
            filter: vec!["oops".into()],
            ..Default::default()
        };
        assert!(list_path(&args, false).is_err());
    }
}
