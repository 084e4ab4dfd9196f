//! `berth exec`: a command inside a running container, attached like `run` (its exit code is
//! the command's) or in the background with -d.

use hyper::Method;
use serde::Deserialize;

use super::attach::{
    check_tty, follow_window_size, parse_detach_keys, stream, terminal, Ended, Resizable,
    SessionOptions, DETACHED,
};
use crate::args::ExecArgs;
use crate::client::query::segment;
use crate::client::Client;
use crate::error::CliError;
use crate::options::{read_kv_file, validate_env};
use crate::terminal;

#[derive(Deserialize)]
struct Created {
    #[serde(rename = "Id")]
    id: String,
}

#[derive(Deserialize)]
struct Inspected {
    #[serde(rename = "ExitCode")]
    exit_code: Option<i32>,
}

/// The body of `POST /containers/{id}/exec`, as docker's client builds it.
fn create_body(
    args: &ExecArgs,
    lookup: &dyn Fn(&str) -> Option<String>,
    console_size: Option<(u16, u16)>,
) -> Result<serde_json::Value, CliError> {
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(read_kv_file(file, "--env-file", Some(lookup))?);
    }
    for entry in &args.env {
        env.push(validate_env(entry, lookup)?);
    }
    let attached = !args.detach;
    let mut body = serde_json::json!({
        "User": args.user.clone().unwrap_or_default(),
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": attached && args.interactive,
        "AttachStdout": attached,
        "AttachStderr": attached,
        "DetachKeys": args.detach_keys.clone().unwrap_or_default(),
        "Env": env,
        "WorkingDir": args.workdir.clone().unwrap_or_default(),
        "Cmd": &args.container_and_command[1..],
    });
    if let Some((rows, columns)) = console_size.filter(|_| args.tty) {
        body["ConsoleSize"] = serde_json::json!([rows, columns]);
    }
    Ok(body)
}

pub async fn exec(client: &mut Client, args: ExecArgs) -> Result<(), CliError> {
    let detach_keys = parse_detach_keys(args.detach_keys.as_deref())?;
    let container = &args.container_and_command[0];
    // As docker does: a missing container is reported before anything else.
    client
        .get::<serde_json::Value>(&format!("/containers/{}/json", segment(container)))
        .await?;
    let attach_stdin = !args.detach && args.interactive;
    if !args.detach {
        check_tty(attach_stdin, args.tty)?;
    }
    let lookup = |key: &str| std::env::var(key).ok();
    let console_size = terminal::size();
    let body = create_body(&args, &lookup, console_size)?;
    let encoded = serde_json::to_vec(&body).expect("a JSON value always encodes");
    let created: Created = crate::client::decode(
        "exec create",
        &client
            .call(
                Method::POST,
                &format!("/containers/{}/exec", segment(container)),
                Some(encoded),
            )
            .await?,
    )?;
    let start_path = format!("/exec/{}/start", segment(&created.id));
    let mut start = serde_json::json!({ "Detach": args.detach, "Tty": args.tty });
    if let Some((rows, columns)) = console_size.filter(|_| args.tty) {
        start["ConsoleSize"] = serde_json::json!([rows, columns]);
    }
    let start = serde_json::to_vec(&start).expect("a JSON value always encodes");
    if args.detach {
        client.call(Method::POST, &start_path, Some(start)).await?;
        return Ok(());
    }

    let attached = client.upgrade(&start_path, Some(start)).await?;
    let window = args
        .tty
        .then(|| {
            follow_window_size(
                Client::new(client.host().clone()),
                Resizable::Exec(created.id.clone()),
            )
        })
        .flatten();
    let options = SessionOptions {
        tty: args.tty,
        input: attach_stdin.then(terminal::stdin_chunks),
        detach_keys,
    };
    let ended = stream(attached, options, terminal()).await;
    if let Some(window) = window {
        window.abort();
    }
    if ended? == Ended::Detached {
        return Err(CliError::Status {
            code: 1,
            message: DETACHED.into(),
        });
    }
    let inspected: Inspected = client
        .get(&format!("/exec/{}/json", segment(&created.id)))
        .await?;
    match inspected.exit_code.unwrap_or(0) {
        0 => Ok(()),
        code => Err(CliError::Status {
            code,
            message: String::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use crate::fake_daemon::{FakeDaemon, Reply};
    use berth_stdio::{encode_frame, StreamKind};
    use clap::Parser;

    fn parse(args: &[&str]) -> ExecArgs {
        let mut argv = vec!["berth", "exec"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Exec(exec)) => exec,
            other => panic!("not an exec: {other:?}"),
        }
    }

    #[test]
    fn flags_map_to_the_create_body_and_the_command_keeps_its_own_flags() {
        let args = parse(&[
            "-it",
            "-e",
            "A=1",
            "-e",
            "FROM_HOST",
            "-u",
            "app",
            "-w",
            "/tmp",
            "--privileged",
            "web",
            "ls",
            "-l",
            "/",
        ]);
        let lookup = |k: &str| (k == "FROM_HOST").then(|| "v".to_owned());
        let body = create_body(&args, &lookup, Some((30, 100))).unwrap();
        assert_eq!(body["Cmd"], serde_json::json!(["ls", "-l", "/"]));
        assert_eq!(body["Env"], serde_json::json!(["A=1", "FROM_HOST=v"]));
        assert_eq!(body["User"], "app");
        assert_eq!(body["WorkingDir"], "/tmp");
        assert_eq!(body["Privileged"], true);
        assert_eq!(
            (&body["AttachStdin"], &body["Tty"]),
            (&true.into(), &true.into())
        );
        assert_eq!(body["ConsoleSize"], serde_json::json!([30, 100]));

        let detached = parse(&["-d", "-i", "web", "sleep", "5"]);
        let body = create_body(&detached, &lookup, Some((30, 100))).unwrap();
        assert_eq!(
            (
                &body["AttachStdin"],
                &body["AttachStdout"],
                &body["AttachStderr"]
            ),
            (&false.into(), &false.into(), &false.into())
        );
        assert!(body.get("ConsoleSize").is_none());
    }

    fn routes(method: &str, path: &str) -> Reply {
        match (method, path) {
            ("GET", "/v1.49/containers/web/json") => Reply::Json(200, r#"{"Id":"c1"}"#.into()),
            ("POST", "/v1.49/containers/web/exec") => Reply::Json(201, r#"{"Id":"e1"}"#.into()),
            ("POST", "/v1.49/exec/e1/start") => {
                Reply::Upgrade(encode_frame(StreamKind::Stdout, b"inside\n"))
            }
            ("GET", "/v1.49/exec/e1/json") => {
                Reply::Json(200, r#"{"ExitCode":127,"Running":false}"#.into())
            }
            _ => Reply::Json(404, r#"{"message":"unexpected"}"#.into()),
        }
    }

    #[tokio::test]
    async fn an_attached_exec_streams_then_exits_with_the_commands_code() {
        let daemon = FakeDaemon::start(routes);
        let mut client = Client::new(daemon.host());
        let err = exec(&mut client, parse(&["web", "nosuch"]))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 127);
        assert_eq!(
            daemon.lines(),
            [
                "GET /v1.49/containers/web/json",
                "POST /v1.49/containers/web/exec",
                "POST /v1.49/exec/e1/start",
                "GET /v1.49/exec/e1/json",
            ]
        );
        let start = daemon.requests.lock().unwrap()[2].clone();
        let body: serde_json::Value = serde_json::from_slice(&start.body).unwrap();
        assert_eq!(body, serde_json::json!({"Detach": false, "Tty": false}));
    }
}
