//! `berth events`: `GET /events`, one JSON object per line, printed as docker does or
//! through `--format`.

use std::io::Write;

use chrono::{Local, TimeZone};
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Value};

use crate::args::EventsArgs;
use crate::client::query::Query;
use crate::client::{empty_body, Client};
use crate::commands::ps::parse_filters;
use crate::error::CliError;
use crate::format::Template;
use crate::timestamps::flag_timestamp;

pub fn events_path(
    args: &EventsArgs,
    now: chrono::DateTime<chrono::Local>,
) -> Result<String, CliError> {
    let since = flag_timestamp("since", args.since.as_deref(), now)?;
    let until = flag_timestamp("until", args.until.as_deref(), now)?;
    let query = Query::new()
        .param_opt("since", since)
        .param_opt("until", until)
        .filters(&parse_filters(&args.filter)?);
    Ok(format!("/events{}", query.build()))
}

/// Go's `2006-01-02T15:04:05.000000000Z07:00` in the local zone.
fn fixed_nano_time(nanos: i64) -> String {
    let t = Local.timestamp_nanos(nanos);
    let zone = t.format("%:z").to_string();
    let zone = if zone == "+00:00" {
        "Z".to_owned()
    } else {
        zone
    };
    format!("{}{zone}", t.format("%Y-%m-%dT%H:%M:%S%.9f"))
}

/// docker's default line: time, type, action, actor ID and sorted attributes.
pub fn pretty(event: &Value) -> String {
    let mut line = String::new();
    let nanos = event["timeNano"].as_i64().unwrap_or(0);
    let seconds = event["time"].as_i64().unwrap_or(0);
    if nanos != 0 {
        line.push_str(&fixed_nano_time(nanos));
        line.push(' ');
    } else if seconds != 0 {
        line.push_str(&fixed_nano_time(seconds.saturating_mul(1_000_000_000)));
        line.push(' ');
    }
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    line.push_str(&format!(
        "{} {} {}",
        text(&event["Type"]),
        text(&event["Action"]),
        text(&event["Actor"]["ID"])
    ));
    if let Some(attributes) = event["Actor"]["Attributes"].as_object() {
        if !attributes.is_empty() {
            let mut pairs: Vec<String> = attributes
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            pairs.sort();
            line.push_str(&format!(" ({})", pairs.join(", ")));
        }
    }
    line
}

/// The fields a `--format` template sees: Go's field names of an event message.
pub fn template_row(event: &Value) -> Value {
    json!({
        "Status": event["status"],
        "ID": event["id"],
        "From": event["from"],
        "Type": event["Type"],
        "Action": event["Action"],
        "Actor": {
            "ID": event["Actor"]["ID"],
            "Attributes": event["Actor"]["Attributes"],
        },
        "Scope": event["scope"],
        "Time": event["time"],
        "TimeNano": event["timeNano"],
    })
}

enum Printer {
    Pretty,
    /// `--format json`: the message as the daemon encoded it.
    Json,
    Template(Box<Template>),
}

impl Printer {
    fn line(&self, event: &Value) -> Result<String, CliError> {
        Ok(match self {
            Printer::Pretty => pretty(event),
            Printer::Json => event.to_string(),
            Printer::Template(template) => template.render(&template_row(event))?,
        })
    }
}

pub async fn events(client: &mut Client, args: EventsArgs) -> Result<(), CliError> {
    let printer = match args.format.as_deref() {
        None | Some("") => Printer::Pretty,
        Some("json") | Some("{{json .}}") => Printer::Json,
        Some(format) => Printer::Template(Box::new(Template::parse(format)?)),
    };
    let path = events_path(&args, chrono::Local::now())?;
    let response = client.stream(Method::GET, &path, empty_body()).await?;
    let mut body = response.into_body();
    let mut pending: Vec<u8> = Vec::new();
    let mut out = std::io::stdout();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Status {
            code: 1,
            message: format!("reading events: {e}"),
        })?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        pending.extend_from_slice(data);
        while let Some(newline) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=newline).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event: Value = serde_json::from_slice(&line).map_err(|e| CliError::Status {
                code: 1,
                message: format!("decoding an event from the daemon: {e}"),
            })?;
            let text = printer.line(&event)?;
            writeln!(out, "{text}")
                .and_then(|_| out.flush())
                .map_err(|e| CliError::io("writing events", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Value {
        json!({"status":"die","id":"abc","from":"busybox","Type":"container","Action":"die",
               "Actor":{"ID":"abc","Attributes":{"name":"web","exitCode":"0","image":"busybox"}},
               "scope":"local","time":1_700_000_000i64,"timeNano":1_700_000_000_000_000_123i64})
    }

    #[test]
    fn the_default_line_sorts_attributes() {
        let line = pretty(&event());
        assert!(
            line.ends_with(" container die abc (exitCode=0, image=busybox, name=web)"),
            "{line}"
        );
        assert!(line.contains(".000000123"), "{line}");
    }

    #[test]
    fn templates_see_gos_field_names() {
        let template = Template::parse("{{.Action}} {{.Actor.Attributes.name}} {{.From}}").unwrap();
        assert_eq!(
            template.render(&template_row(&event())).unwrap(),
            "die web busybox"
        );
    }

    #[test]
    fn flags_become_query_parameters() {
        let now = Local.timestamp_opt(1_800_000_000, 0).single().unwrap();
        let args = EventsArgs {
            filter: vec!["event=die".into()],
            since: Some("10m".into()),
            until: Some("1800000000".into()),
            format: None,
        };
        assert_eq!(
            events_path(&args, now).unwrap(),
            "/events?since=1799999400&until=1800000000&filters=%7B%22event%22%3A%7B%22die%22%3Atrue%7D%7D"
        );
        let bad = EventsArgs {
            filter: vec!["nonsense".into()],
            ..EventsArgs::default()
        };
        assert!(events_path(&bad, now).is_err());
    }
}
