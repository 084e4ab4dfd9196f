//! Container lifecycle: `run`, `create`, `start`, `stop`, `kill`, `rm`,
//! `wait`, `restart`, `rename`.

use std::io::Write;

use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse, ContainerWaitResponse};
use http_body_util::BodyExt;
use hyper::Method;

use super::attach::{
    attach_path, check_tty, follow_window_size, parse_detach_keys, read_wait_status, status,
    stream, terminal, Ended, Resizable, SessionOptions, Terminal,
};
use crate::args::{
    ContainerOptions, CreateArgs, KillArgs, RenameArgs, RmArgs, RunArgs, StartArgs, StopArgs,
    WaitArgs,
};
use crate::client::query::{segment, Query};
use crate::client::{empty_body, Client};
use crate::error::{all_succeeded, start_failure_code, CliError, EXIT_DAEMON_OR_ARGS};
use crate::options::{attached_streams, create_body, Environment, Streams};
use berth_stdio::DetachKeys;

/// docker's shape for a failed `run`/`create`: prefixed, with a pointer to
/// the command's help.
fn run_failure(command: &str, code: i32, message: impl std::fmt::Display) -> CliError {
    CliError::Status {
        code,
        message: format!("berth: {message}\n\nRun 'berth {command} --help' for more information"),
    }
}

fn build_body(
    opts: &ContainerOptions,
    attach: bool,
    command: &str,
) -> Result<ContainerCreateBody, CliError> {
    // Content trust off is docker's default and berth's only way; asking for it is refused.
    if opts.disable_content_trust == Some(false) {
        let refused = CliError::Unsupported("content trust (--disable-content-trust=false)".into());
        return Err(run_failure(command, EXIT_DAEMON_OR_ARGS, refused));
    }
    let lookup = |key: &str| std::env::var(key).ok();
    let cwd =
        std::env::current_dir().map_err(|e| CliError::io("reading the current directory", e))?;
    let env = Environment {
        lookup_env: &lookup,
        current_dir: &cwd,
        console_size: crate::terminal::size(),
    };
    create_body(opts, attach, &env).map_err(|e| run_failure(command, EXIT_DAEMON_OR_ARGS, e))
}

/// `NAME` → `NAME:latest` unless a tag or digest is given, with docker.io's
/// default prefixes dropped, for the "Unable to find image" line.
fn familiar_with_tag(image: &str) -> String {
    let short = image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("docker.io/"))
        .unwrap_or(image);
    let last_segment = short.rsplit('/').next().unwrap_or(short);
    if short.contains('@') || last_segment.contains(':') {
        short.to_owned()
    } else {
        format!("{short}:latest")
    }
}

async fn create_container(
    client: &mut Client,
    opts: &ContainerOptions,
    body: &ContainerCreateBody,
) -> Result<String, CliError> {
    let path = format!(
        "/containers/create{}",
        Query::new().param_opt("name", opts.name.clone()).build()
    );
    let cidfile = super::cidfile::CidFile::create(opts.cidfile.as_deref())?;
    if opts.pull == "always" {
        crate::commands::registry::pull_for_container(client, opts.image(), opts.quiet).await?;
    }
    let created = match client
        .post_json::<_, ContainerCreateResponse>(&path, body)
        .await
    {
        Ok(created) => created,
        Err(e) if e.is_not_found() && opts.pull == "missing" => {
            if !opts.quiet {
                eprintln!(
                    "Unable to find image '{}' locally",
                    familiar_with_tag(opts.image())
                );
            }
            crate::commands::registry::pull_for_container(client, opts.image(), opts.quiet).await?;
            client
                .post_json::<_, ContainerCreateResponse>(&path, body)
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    for warning in &created.warnings {
        eprintln!("WARNING: {warning}");
    }
    if let Some(cidfile) = cidfile {
        cidfile.write(&created.id)?;
    }
    Ok(created.id)
}

pub async fn create(client: &mut Client, args: CreateArgs) -> Result<(), CliError> {
    let opts = &args.container;
    let body = build_body(opts, true, "create")?;
    let id = create_container(client, opts, &body).await?;
    println!("{id}");
    Ok(())
}

pub async fn run(client: &mut Client, args: RunArgs) -> Result<(), CliError> {
    let opts = &args.container;
    let detach_keys = parse_detach_keys(args.detach_keys.as_deref())?;
    if args.detach && !opts.attach.is_empty() {
        return Err(CliError::Status {
            code: 1,
            message: "conflicting options: cannot specify both --attach and --detach".into(),
        });
    }
    if !args.detach {
        check_tty(opts.interactive, opts.tty)?;
    }
    let body = build_body(opts, !args.detach, "run")?;
    let id = create_container(client, opts, &body)
        .await
        .map_err(|e| run_failure("run", EXIT_DAEMON_OR_ARGS, e))?;

    if args.detach {
        start_container(client, &id).await.map_err(start_failure)?;
        println!("{id}");
        return Ok(());
    }
    let condition = if opts.rm { "removed" } else { "next-exit" };
    let signals = args
        .sig_proxy
        .then(|| forward_signals(Client::new(client.host().clone()), id.clone()));
    let foreground = Foreground {
        streams: attached_streams(opts, true),
        tty: opts.tty,
        detach_keys,
        detach_keys_text: args.detach_keys.clone(),
    };
    let result =
        attach_start_wait(client, &id, condition, Caller::Run, foreground, terminal()).await;
    if let Some(task) = signals {
        task.abort();
    }
    result
}

fn start_failure(e: crate::client::ClientError) -> CliError {
    let message = e.to_string();
    run_failure("run", start_failure_code(&message), message)
}

async fn start_container(client: &mut Client, id: &str) -> Result<(), crate::client::ClientError> {
    client
        .call(
            Method::POST,
            &format!("/containers/{}/start", segment(id)),
            None,
        )
        .await
        .map(drop)
}

/// Who runs the foreground flow decides how its failures read: `run` fails
/// in docker's `docker: …` shape with exit codes 125/126/127, `start -a`
/// with the daemon's plain error and status 1.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    Run,
    StartAttach,
}

impl Caller {
    fn failure(self, e: crate::client::ClientError, starting: bool) -> CliError {
        match self {
            Caller::Run if starting => start_failure(e),
            Caller::Run => run_failure("run", EXIT_DAEMON_OR_ARGS, e),
            Caller::StartAttach => CliError::Client(e),
        }
    }
}

/// What a foreground session attaches.
struct Foreground {
    streams: Streams,
    tty: bool,
    detach_keys: DetachKeys,
    /// As given, for the daemon, which watches for them too.
    detach_keys_text: Option<String>,
}

/// The foreground flow docker uses: attach before start so no output is
/// lost, register the wait before start so the exit cannot be missed, then
/// start, stream until the output ends, and exit with the container's code.
/// A user who detaches leaves the container running and berth with status 0.
async fn attach_start_wait(
    client: &mut Client,
    id: &str,
    condition: &str,
    caller: Caller,
    foreground: Foreground,
    terminal: Terminal,
) -> Result<(), CliError> {
    let path = attach_path(
        id,
        foreground.streams,
        foreground.detach_keys_text.as_deref(),
    );
    let attached = client
        .upgrade(&path, None)
        .await
        .map_err(|e| caller.failure(e, false))?;
    let options = SessionOptions {
        tty: foreground.tty,
        input: foreground.streams.stdin.then(crate::terminal::stdin_chunks),
        detach_keys: foreground.detach_keys,
    };
    let session = tokio::spawn(stream(attached, options, terminal));

    // The daemon answers the wait's headers once the waiter is registered;
    // only then is it safe to start.
    let wait_path = format!("/containers/{}/wait?condition={condition}", segment(id));
    let waiting = client
        .stream(Method::POST, &wait_path, empty_body())
        .await
        .map_err(|e| caller.failure(e, false))?;

    if let Err(e) = start_container(client, id).await {
        session.abort();
        // Dropping the session gives the terminal its mode back before the error shows.
        let _ = session.await;
        if condition == "removed" {
            // With --rm the daemon removes the container; let that finish.
            let _ = waiting.into_body().collect().await;
        }
        return Err(caller.failure(e, true));
    }
    let window = foreground
        .tty
        .then(|| {
            follow_window_size(
                Client::new(client.host().clone()),
                Resizable::Container(id.to_owned()),
            )
        })
        .flatten();
    let ended = session.await;
    if let Some(window) = window {
        window.abort();
    }
    match ended {
        Ok(Ok(Ended::Detached)) => return Ok(()),
        Ok(Ok(Ended::Output)) => {}
        Ok(Err(e)) => eprintln!("berth: {e}"),
        Err(e) => eprintln!("berth: the output stream failed: {e}"),
    }
    status(read_wait_status(waiting).await)
}

/// Relays the signals a user sends to `berth run` (Ctrl-C, kill) to the
/// container, as docker's --sig-proxy does.
///
/// A run must never be left hanging on a container that did not start or a daemon that
/// does not answer: a SIGINT or SIGTERM that arrives while the previous one was not taken
/// by the container (its forward failed or is still unanswered) ends berth with 128 + the
/// signal, and the third one ends it whatever happened, as the docker CLI does.
pub fn forward_signals(client: Client, id: String) -> tokio::task::JoinHandle<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
        for (kind, name) in kinds {
            let Ok(mut stream) = signal(kind) else {
                continue;
            };
            let sender = sender.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    if sender.send(name).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let host = client.host().clone();
        let (mut endings, unconfirmed) = (0, Arc::new(AtomicBool::new(false)));
        while let Some(name) = received.recv().await {
            let number = match name {
                "SIGINT" => Some(libc::SIGINT),
                "SIGTERM" => Some(libc::SIGTERM),
                _ => None,
            };
            if let Some(number) = number {
                endings += 1;
                if endings >= 3 {
                    eprintln!("\ngot 3 SIGTERM/SIGINTs, forcefully exiting");
                    std::process::exit(1);
                }
                if unconfirmed.swap(true, Ordering::SeqCst) {
                    eprintln!("berth: the container did not take the previous {name}: exiting");
                    std::process::exit(128 + number);
                }
            }
            // Each forward on its own connection: one the daemon leaves unanswered does
            // not hold back the next signal.
            let mut client = Client::new(host.clone());
            let id = id.clone();
            let unconfirmed = unconfirmed.clone();
            tokio::spawn(async move {
                let path = format!("/containers/{}/kill?signal={name}", segment(&id));
                match client.call(Method::POST, &path, None).await {
                    Ok(_) if number.is_some() => unconfirmed.store(false, Ordering::SeqCst),
                    Ok(_) => {}
                    Err(e) => eprintln!("berth: forwarding {name} to the container failed: {e}"),
                }
            });
        }
    })
}

pub async fn start(client: &mut Client, args: StartArgs) -> Result<(), CliError> {
    let detach_keys = parse_detach_keys(args.detach_keys.as_deref())?;
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            return Err(CliError::Usage(
                "you cannot start and attach multiple containers at once".into(),
            ));
        }
        let inspected: bollard_stubs::models::ContainerInspectResponse = client
            .get(&format!(
                "/containers/{}/json",
                segment(&args.containers[0])
            ))
            .await?;
        let config = inspected.config.unwrap_or_default();
        let id = inspected.id.unwrap_or_else(|| args.containers[0].clone());
        let tty = config.tty == Some(true);
        let auto_remove = inspected
            .host_config
            .and_then(|h| h.auto_remove)
            .unwrap_or(false);
        let condition = if auto_remove { "removed" } else { "next-exit" };
        // Without a TTY, ^C and friends are signals for the container.
        let signals =
            (!tty).then(|| forward_signals(Client::new(client.host().clone()), id.clone()));
        let foreground = Foreground {
            streams: Streams {
                stdin: args.interactive && config.open_stdin == Some(true),
                stdout: true,
                stderr: true,
            },
            tty,
            detach_keys,
            detach_keys_text: args.detach_keys.clone(),
        };
        let result = attach_start_wait(
            client,
            &id,
            condition,
            Caller::StartAttach,
            foreground,
            terminal(),
        )
        .await;
        if let Some(task) = signals {
            task.abort();
        }
        return result;
    }
    let mut failed = Vec::new();
    let mut errors = Vec::new();
    for container in &args.containers {
        match start_container(client, container).await {
            Ok(()) => println!("{container}"),
            Err(e) => {
                errors.push(e.to_string());
                failed.push(container.clone());
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    errors.push(format!(
        "Error: failed to start containers: {}",
        failed.join(", ")
    ));
    Err(CliError::Status {
        code: 1,
        message: errors.join("\n"),
    })
}

/// Runs one request per container, printing each name that succeeded and
/// reporting all failures at the end, as docker does. `rm -f` passes
/// `forgive_missing`: a container that is already gone is not an error.
pub(crate) async fn for_each_container(
    client: &mut Client,
    containers: &[String],
    method: Method,
    forgive_missing: bool,
    path_of: impl Fn(&str) -> String,
) -> Result<(), CliError> {
    let mut errors = Vec::new();
    let mut out = std::io::stdout();
    for container in containers {
        match client.call(method.clone(), &path_of(container), None).await {
            Ok(_) => writeln!(out, "{container}").map_err(|e| CliError::io("writing output", e))?,
            Err(e) if forgive_missing && e.is_not_found() => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    all_succeeded(errors)
}

pub fn stop_path(container: &str, signal: Option<&str>, time: Option<i64>, action: &str) -> String {
    let query = Query::new()
        .param_opt("signal", signal)
        .param_opt("t", time.map(|t| t.to_string()));
    format!(
        "/containers/{}/{action}{}",
        segment(container),
        query.build()
    )
}

pub async fn stop(client: &mut Client, args: StopArgs) -> Result<(), CliError> {
    let (signal, time) = (args.signal.as_deref(), args.time);
    for_each_container(client, &args.containers, Method::POST, false, |c| {
        stop_path(c, signal, time, "stop")
    })
    .await
}

pub async fn restart(client: &mut Client, args: StopArgs) -> Result<(), CliError> {
    let (signal, time) = (args.signal.as_deref(), args.time);
    for_each_container(client, &args.containers, Method::POST, false, |c| {
        stop_path(c, signal, time, "restart")
    })
    .await
}

pub async fn kill(client: &mut Client, args: KillArgs) -> Result<(), CliError> {
    let signal = args.signal.as_deref();
    for_each_container(client, &args.containers, Method::POST, false, |c| {
        format!(
            "/containers/{}/kill{}",
            segment(c),
            Query::new().param_opt("signal", signal).build()
        )
    })
    .await
}

pub async fn rm(client: &mut Client, args: RmArgs) -> Result<(), CliError> {
    let query = Query::new()
        .flag("force", args.force)
        .flag("v", args.volumes)
        .build();
    for_each_container(client, &args.containers, Method::DELETE, args.force, |c| {
        format!("/containers/{}{query}", segment(c.trim_matches('/')))
    })
    .await
}

pub async fn wait(client: &mut Client, args: WaitArgs) -> Result<(), CliError> {
    let mut errors = Vec::new();
    for container in &args.containers {
        let path = format!("/containers/{}/wait", segment(container));
        match client.stream(Method::POST, &path, empty_body()).await {
            Ok(response) => {
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| CliError::Status {
                        code: 1,
                        message: format!("waiting for {container}: {e}"),
                    })?
                    .to_bytes();
                let answer: ContainerWaitResponse = crate::client::decode(&path, &bytes)?;
                match answer
                    .error
                    .and_then(|e| e.message)
                    .filter(|m| !m.is_empty())
                {
                    Some(message) => errors.push(message),
                    None => println!("{}", answer.status_code),
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    all_succeeded(errors)
}

pub async fn rename(client: &mut Client, args: RenameArgs) -> Result<(), CliError> {
    if args.new_name.trim().is_empty() {
        return Err(CliError::Usage(
            "Error: neither old nor new names may be empty".into(),
        ));
    }
    let path = format!(
        "/containers/{}/rename{}",
        segment(&args.container),
        Query::new().param("name", args.new_name.clone()).build()
    );
    client.call(Method::POST, &path, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_daemon::{FakeDaemon, Reply};
    use berth_stdio::{encode_frame, StreamKind};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// A session that sends nothing, as `run` without -i.
    fn output_only() -> Foreground {
        Foreground {
            streams: Streams {
                stdin: false,
                stdout: true,
                stderr: true,
            },
            tty: false,
            detach_keys: DetachKeys::default(),
            detach_keys_text: None,
        }
    }

    fn foreground_routes(method: &str, path: &str) -> Reply {
        match (method, path) {
            ("POST", p) if p.contains("/attach?") => Reply::Upgrade(
                [
                    encode_frame(StreamKind::Stdout, b"hello\n"),
                    encode_frame(StreamKind::Stderr, b"oops\n"),
                ]
                .concat(),
            ),
            ("POST", p) if p.contains("/wait?condition=") => {
                Reply::AfterStart(r#"{"StatusCode":3}"#.into())
            }
            ("POST", p) if p.ends_with("/start") => Reply::Empty(204),
            _ => Reply::Json(404, r#"{"message":"unexpected"}"#.into()),
        }
    }

    #[tokio::test]
    async fn foreground_run_attaches_and_waits_before_starting_and_exits_with_the_code() {
        let daemon = FakeDaemon::start(foreground_routes);
        let mut client = Client::new(daemon.host());
        let (out, err) = (Shared::default(), Shared::default());
        let terminal: Terminal = (Box::new(out.clone()), Box::new(err.clone()));
        let result = attach_start_wait(
            &mut client,
            "c1",
            "next-exit",
            Caller::Run,
            output_only(),
            terminal,
        )
        .await;
        assert!(
            matches!(result, Err(CliError::Status { code: 3, ref message }) if message.is_empty()),
            "{result:?}"
        );
        assert_eq!(out.text(), "hello\n");
        assert_eq!(err.text(), "oops\n");
        assert_eq!(
            daemon.lines(),
            [
                "POST /v1.49/containers/c1/attach?stream=1&stdout=1&stderr=1",
                "POST /v1.49/containers/c1/wait?condition=next-exit",
                "POST /v1.49/containers/c1/start",
            ]
        );
        let attach = daemon.requests.lock().unwrap()[0].clone();
        let header = |name: &str| {
            attach
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("connection").as_deref(), Some("Upgrade"));
        assert_eq!(header("upgrade").as_deref(), Some("tcp"));
    }

    fn missing_executable_routes(method: &str, path: &str) -> Reply {
        match (method, path) {
            ("POST", p) if p.contains("/attach?") => Reply::Upgrade(Vec::new()),
            ("POST", p) if p.contains("/wait?") => Reply::AfterStart(r#"{"StatusCode":0}"#.into()),
            ("POST", p) if p.ends_with("/start") => Reply::Json(
                400,
                r#"{"message":"exec: \"nope\": executable file not found in $PATH"}"#.into(),
            ),
            _ => Reply::Json(404, r#"{"message":"unexpected"}"#.into()),
        }
    }

    #[tokio::test]
    async fn a_start_failure_maps_to_docker_exit_codes() {
        let daemon = FakeDaemon::start(missing_executable_routes);
        let mut client = Client::new(daemon.host());
        let terminal: Terminal = (Box::new(Shared::default()), Box::new(Shared::default()));
        let err = attach_start_wait(
            &mut client,
            "c1",
            "next-exit",
            Caller::Run,
            output_only(),
            terminal,
        )
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 127);
        assert_eq!(
            err.to_string(),
            "berth: Error response from daemon: exec: \"nope\": executable file not found in $PATH\n\nRun 'berth run --help' for more information"
        );
        let terminal: Terminal = (Box::new(Shared::default()), Box::new(Shared::default()));
        let err = attach_start_wait(
            &mut client,
            "c1",
            "next-exit",
            Caller::StartAttach,
            output_only(),
            terminal,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.exit_code(),
            1,
            "start -a reports the daemon's error plainly"
        );
    }

    fn no_image_routes(_: &str, path: &str) -> Reply {
        if path.starts_with("/v1.49/containers/create") {
            Reply::Json(404, r#"{"message":"No such image: busybox:latest"}"#.into())
        } else if path.starts_with("/v1.49/images/create") {
            Reply::Json(
                404,
                r#"{"message":"manifest for busybox:latest not found: manifest unknown"}"#.into(),
            )
        } else {
            Reply::Json(500, r#"{"message":"unexpected"}"#.into())
        }
    }

    #[tokio::test]
    async fn run_with_a_missing_image_pulls_it_and_fails_with_125_and_the_daemon_message() {
        let daemon = FakeDaemon::start(no_image_routes);
        let mut client = Client::new(daemon.host());
        let args = match <crate::args::Cli as clap::Parser>::try_parse_from([
            "berth", "run", "--name", "web", "-m", "64m", "busybox", "true",
        ])
        .unwrap()
        .command
        {
            Some(crate::args::Command::Run(run)) => run,
            _ => unreachable!(),
        };
        let err = run(&mut client, args).await.unwrap_err();
        assert_eq!(err.exit_code(), 125);
        assert!(err.to_string().starts_with(
            "berth: Error response from daemon: manifest for busybox:latest not found"
        ));
        let requests = daemon.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].path, "/v1.49/containers/create?name=web");
        assert_eq!(
            requests[1].path,
            "/v1.49/images/create?fromImage=busybox&tag=latest"
        );
        let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(body["Image"], "busybox");
        assert_eq!(body["Cmd"], serde_json::json!(["true"]));
        assert_eq!(body["HostConfig"]["Memory"], 64 * 1024 * 1024);
    }

    #[test]
    fn image_names_for_the_missing_image_message() {
        assert_eq!(familiar_with_tag("busybox"), "busybox:latest");
        assert_eq!(
            familiar_with_tag("docker.io/library/busybox"),
            "busybox:latest"
        );
        assert_eq!(familiar_with_tag("busybox:1.36"), "busybox:1.36");
        assert_eq!(
            familiar_with_tag("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(familiar_with_tag("x@sha256:abcd"), "x@sha256:abcd");
    }

    #[test]
    fn stop_kill_and_restart_queries() {
        assert_eq!(stop_path("web", None, None, "stop"), "/containers/web/stop");
        assert_eq!(
            stop_path("web", Some("SIGINT"), Some(3), "stop"),
            "/containers/web/stop?signal=SIGINT&t=3"
        );
        assert_eq!(
            stop_path("web", None, Some(0), "restart"),
            "/containers/web/restart?t=0"
        );
    }
}
