//! `berth volume create|ls|rm|prune` (inspect goes through `inspect.rs`):
//! the Engine API's `/volumes` endpoints, with docker 28's bodies, output and
//! exit statuses.

use std::io::Write;

use hyper::Method;
use serde_json::{json, Value};

use super::image_admin::docker_size;
use super::network::{key_values, natural_cmp};
use super::prune::confirm;
use super::ps::parse_filters;
use crate::client::query::{segment, Query};
use crate::client::Client;
use crate::error::CliError;
use crate::format::Template;
use crate::volume_args::{VolumeCreateArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs};

const DEFAULT_FORMAT: &str = "table {{.Driver}}\t{{.Name}}";
const RAW_FORMAT: &str = "name: {{.Name}}\\ndriver: {{.Driver}}\\n";

const HEADERS: &[(&str, &str)] = &[
    ("ID", "ID"),
    ("Name", "VOLUME NAME"),
    ("Group", "GROUP"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Availability", "AVAILABILITY"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("Status", "STATUS"),
];

fn failure(message: impl Into<String>) -> CliError {
    CliError::Status {
        code: 1,
        message: message.into(),
    }
}

pub fn create_request(args: &VolumeCreateArgs) -> Result<Value, CliError> {
    let name = match (&args.volume, &args.name) {
        (Some(_), Some(_)) => {
            return Err(failure(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            ))
        }
        (Some(name), None) | (None, Some(name)) => name.clone(),
        (None, None) => String::new(),
    };
    Ok(json!({
        "Name": name,
        "Driver": args.driver,
        "DriverOpts": key_values(&args.opt),
        "Labels": key_values(&args.label),
    }))
}

pub async fn create(client: &mut Client, args: VolumeCreateArgs) -> Result<(), CliError> {
    let request = create_request(&args)?;
    let volume: Value = client.post_json("/volumes/create", &request).await?;
    println!("{}", volume["Name"].as_str().unwrap_or(""));
    Ok(())
}

fn list_format(args: &VolumeLsArgs) -> &str {
    match args.format.as_deref() {
        None | Some("table") if args.quiet => "{{.Name}}",
        None | Some("table") => DEFAULT_FORMAT,
        Some("raw") if args.quiet => "name: {{.Name}}",
        Some("raw") => RAW_FORMAT,
        Some(other) => other,
    }
}

/// The fields docker's volume formatter offers to templates.
pub fn row(volume: &Value) -> Value {
    let text = |key: &str| volume[key].as_str().unwrap_or("").to_owned();
    let mut labels: Vec<String> = volume["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    labels.sort();
    let usage = volume.get("UsageData").filter(|u| u.is_object());
    let cluster = volume.get("ClusterVolume").filter(|c| c.is_object());
    let na = || "N/A".to_owned();
    json!({
        "Availability": cluster.map_or_else(na, |c| c["Spec"]["Availability"].as_str().unwrap_or("").to_owned()),
        "Driver": text("Driver"),
        "Group": cluster.map_or_else(na, |c| c["Spec"]["Group"].as_str().unwrap_or("").to_owned()),
        "Labels": labels.join(","),
        "Links": usage.map_or_else(na, |u| u["RefCount"].as_i64().unwrap_or(0).to_string()),
        "Mountpoint": text("Mountpoint"),
        "Name": text("Name"),
        "Scope": text("Scope"),
        "Size": usage.map_or_else(na, |u| docker_size(u["Size"].as_i64().unwrap_or(0) as f64)),
        "Status": cluster.map_or_else(na, |_| "created".to_owned()),
    })
}

pub async fn ls(client: &mut Client, args: VolumeLsArgs) -> Result<(), CliError> {
    let template = Template::parse(list_format(&args))?;
    let path = format!(
        "/volumes{}",
        Query::new().filters(&parse_filters(&args.filter)?).build()
    );
    let listed: Value = client.get(&path).await?;
    let mut volumes: Vec<&Value> = listed["Volumes"].as_array().into_iter().flatten().collect();
    volumes.sort_by(|a, b| {
        natural_cmp(
            a["Name"].as_str().unwrap_or(""),
            b["Name"].as_str().unwrap_or(""),
        )
    });
    let rows: Vec<Value> = volumes.into_iter().map(row).collect();
    let text = template.render_rows(&rows, HEADERS)?;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing the volume list", e))
}

/// Each volume in turn; the failures are reported together at the end.
pub async fn rm(client: &mut Client, args: VolumeRmArgs) -> Result<(), CliError> {
    let mut errors = Vec::new();
    for name in &args.names {
        let path = format!(
            "/volumes/{}{}",
            segment(name),
            Query::new().flag("force", args.force).build()
        );
        match client.call(Method::DELETE, &path, None).await {
            Ok(_) => println!("{name}"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    crate::error::all_succeeded(errors)
}

pub async fn prune(client: &mut Client, args: VolumePruneArgs) -> Result<(), CliError> {
    let mut filters = parse_filters(&args.filter)?;
    let warning = if args.all {
        if filters.iter().any(|(k, _)| k == "all") {
            return Err(CliError::Usage(
                "conflicting options: cannot specify both --all and --filter all=1".to_owned(),
            ));
        }
        filters.push(("all".to_owned(), "true".to_owned()));
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !args.force && !confirm(warning)? {
        return Ok(());
    }
    let path = format!("/volumes/prune{}", Query::new().filters(&filters).build());
    let body = client.call(Method::POST, &path, None).await?;
    let report: Value = crate::client::decode(&path, &body)?;
    let deleted: Vec<&str> = report["VolumesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut text = String::new();
    let mut reclaimed = 0;
    if !deleted.is_empty() {
        text.push_str(&format!("Deleted Volumes:\n{}\n\n", deleted.join("\n")));
        reclaimed = report["SpaceReclaimed"].as_u64().unwrap_or(0);
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        docker_size(reclaimed as f64)
    ));
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing output", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_rows_and_formats_match_docker() {
        let volumes: Vec<Value> = serde_json::from_value(json!([
            {"Name": "data", "Driver": "local", "Mountpoint": "/var/lib/berth/volumes/data/_data",
             "Scope": "local", "Labels": {"b": "2", "a": "1"}, "Options": null},
            {"Name": "cache", "Driver": "local", "Mountpoint": "/m", "Scope": "local",
             "UsageData": {"Size": 1234567, "RefCount": 2}},
        ]))
        .unwrap();
        let rows: Vec<Value> = volumes.iter().map(row).collect();
        let table = Template::parse(DEFAULT_FORMAT)
            .unwrap()
            .render_rows(&rows, HEADERS)
            .unwrap();
        assert_eq!(
            table,
            "DRIVER    VOLUME NAME\nlocal     data\nlocal     cache\n"
        );
        let json = Template::parse("{{json .}}")
            .unwrap()
            .render(&rows[0])
            .unwrap();
        assert_eq!(
            json,
            r#"{"Availability":"N/A","Driver":"local","Group":"N/A","Labels":"a=1,b=2","Links":"N/A","Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Scope":"local","Size":"N/A","Status":"N/A"}"#
        );
        assert_eq!(rows[1]["Size"], "1.235MB");
        assert_eq!(rows[1]["Links"], "2");
    }

    #[test]
    fn create_takes_the_name_once() {
        let args = VolumeCreateArgs {
            driver: "local".into(),
            volume: Some("v".into()),
            label: vec!["k=v".into()],
            opt: vec!["type=tmpfs".into()],
            ..Default::default()
        };
        assert_eq!(
            create_request(&args).unwrap(),
            json!({"Name": "v", "Driver": "local", "DriverOpts": {"type": "tmpfs"}, "Labels": {"k": "v"}})
        );
        let both = VolumeCreateArgs {
            name: Some("w".into()),
            ..args
        };
        assert!(create_request(&both)
            .unwrap_err()
            .to_string()
            .starts_with("conflicting options"));
    }
}
