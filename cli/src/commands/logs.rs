//! `berth logs`: `GET /containers/{id}/logs`, demultiplexed to stdout and
//! stderr.

use http_body_util::BodyExt;
use hyper::Method;

use crate::args::LogsArgs;
use crate::client::query::{segment, Query};
use crate::client::{empty_body, stream_format, Client};
use crate::error::CliError;
use crate::stream::Output;
use crate::timestamps::flag_timestamp;

pub fn logs_path(
    args: &LogsArgs,
    now: chrono::DateTime<chrono::Local>,
) -> Result<String, CliError> {
    let since = flag_timestamp("since", args.since.as_deref(), now)?;
    let until = flag_timestamp("until", args.until.as_deref(), now)?;
    let query = Query::new()
        .param("stdout", "1")
        .param("stderr", "1")
        .param_opt("since", since)
        .param_opt("until", until)
        .flag("timestamps", args.timestamps)
        .flag("follow", args.follow)
        .flag("details", args.details)
        .param("tail", args.tail.clone());
    Ok(format!(
        "/containers/{}/logs{}",
        segment(&args.container),
        query.build()
    ))
}

pub async fn logs(client: &mut Client, args: LogsArgs) -> Result<(), CliError> {
    let path = logs_path(&args, chrono::Local::now())?;
    let response = client.stream(Method::GET, &path, empty_body()).await?;
    let raw = match stream_format(&response) {
        Some(raw) => raw,
        // The daemon did not name the format: a TTY container's log is raw.
        None => has_tty(client, &args.container).await?,
    };
    let mut output = Output::new(std::io::stdout(), std::io::stderr(), raw);
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Status {
            code: 1,
            message: format!("reading logs: {e}"),
        })?;
        if let Some(data) = frame.data_ref() {
            output.write(data)?;
        }
    }
    output.finish()?;
    Ok(())
}

async fn has_tty(client: &mut Client, container: &str) -> Result<bool, CliError> {
    let inspected: serde_json::Value = client
        .get(&format!("/containers/{}/json", segment(container)))
        .await?;
    Ok(inspected["Config"]["Tty"].as_bool().unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_daemon::{FakeDaemon, Reply};
    use chrono::TimeZone;

    fn routes(_: &str, path: &str) -> Reply {
        if path.starts_with("/v1.49/containers/web/logs?") {
            // Framed, but labelled as nothing in particular.
            Reply::Json(200, "\u{1}\0\0\0\0\0\0\u{3}hi\n".into())
        } else if path == "/v1.49/containers/web/json" {
            Reply::Json(200, r#"{"Id":"abc","Config":{"Tty":false}}"#.into())
        } else {
            Reply::Json(404, r#"{"message":"No such container: x"}"#.into())
        }
    }

    #[tokio::test]
    async fn an_unlabelled_stream_is_judged_by_the_containers_tty() {
        let daemon = FakeDaemon::start(routes);
        let mut client = Client::new(daemon.host());
        let args = LogsArgs {
            follow: true,
            since: None,
            until: None,
            tail: "all".into(),
            timestamps: false,
            details: false,
            container: "web".into(),
        };
        logs(&mut client, args).await.unwrap();
        assert_eq!(
            daemon.lines(),
            [
                "GET /v1.49/containers/web/logs?stdout=1&stderr=1&follow=1&tail=all",
                "GET /v1.49/containers/web/json",
            ]
        );
    }

    #[test]
    fn flags_become_query_parameters() {
        let now = chrono::Local
            .timestamp_opt(1_800_000_000, 0)
            .single()
            .unwrap();
        let args = LogsArgs {
            follow: false,
            since: Some("2024-01-01T00:00:00Z".into()),
            until: Some("10m".into()),
            tail: "5".into(),
            timestamps: true,
            details: false,
            container: "web".into(),
        };
        assert_eq!(
            logs_path(&args, now).unwrap(),
            "/containers/web/logs?stdout=1&stderr=1&since=1704067200.000000000&until=1799999400&timestamps=1&tail=5"
        );
        let args = LogsArgs {
            since: Some("whenever".into()),
            ..args
        };
        assert!(logs_path(&args, now).is_err());
    }
}
