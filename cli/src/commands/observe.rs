//! `berth top`, `berth pause` and `berth unpause`.

use std::io::Write;

use hyper::Method;

use crate::args::{ContainersArgs, TopArgs};
use crate::client::query::{segment, Query};
use crate::client::Client;
use crate::commands::container::for_each_container;
use crate::error::CliError;
use crate::format::tabwriter::TabWriter;

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TopResponse {
    #[serde(default)]
    titles: Vec<String>,
    #[serde(default)]
    processes: Vec<Vec<String>>,
}

pub fn top_path(args: &TopArgs) -> String {
    let query = Query::new().param_opt(
        "ps_args",
        (!args.ps_args.is_empty()).then(|| args.ps_args.join(" ")),
    );
    format!(
        "/containers/{}/top{}",
        segment(&args.container),
        query.build()
    )
}

/// docker's table for `top`: columns at least 20 wide, three spaces apart.
fn top_table(top: &TopResponse) -> String {
    let mut text = top.titles.join("\t");
    text.push('\n');
    for process in &top.processes {
        text.push_str(&process.join("\t"));
        text.push('\n');
    }
    TabWriter {
        min_width: 20,
        padding: 3,
    }
    .format(&text)
}

pub async fn top(client: &mut Client, args: TopArgs) -> Result<(), CliError> {
    let top: TopResponse = client.get(&top_path(&args)).await?;
    std::io::stdout()
        .write_all(top_table(&top).as_bytes())
        .map_err(|e| CliError::io("writing the process list", e))
}

pub async fn pause(client: &mut Client, args: ContainersArgs) -> Result<(), CliError> {
    for_each_container(client, &args.containers, Method::POST, false, |c| {
        format!("/containers/{}/pause", segment(c))
    })
    .await
}

pub async fn unpause(client: &mut Client, args: ContainersArgs) -> Result<(), CliError> {
    for_each_container(client, &args.containers, Method::POST, false, |c| {
        format!("/containers/{}/unpause", segment(c))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_options_travel_as_one_parameter() {
        let args = TopArgs {
            container: "web".into(),
            ps_args: vec!["-o".into(), "pid,comm".into()],
        };
        assert_eq!(top_path(&args), "/containers/web/top?ps_args=-o+pid%2Ccomm");
        let plain = TopArgs {
            container: "web".into(),
            ps_args: vec![],
        };
        assert_eq!(top_path(&plain), "/containers/web/top");
    }

    #[test]
    fn the_table_is_dockers() {
        let top = TopResponse {
            titles: vec!["PID".into(), "COMMAND".into()],
            processes: vec![vec!["4242".into(), "sleep 1000".into()]],
        };
        assert_eq!(
            top_table(&top),
            "PID                 COMMAND\n4242                sleep 1000\n"
        );
    }
}
