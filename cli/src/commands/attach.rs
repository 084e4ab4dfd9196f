//! `attach`, and the hijacked session `run`, `start -a` and `exec` share: the container's
//! output to the terminal, the terminal's input to the container (raw, with the detach keys
//! watched, when the container has a TTY), and the TTY's size kept in step with the window.

use std::io::Write;

use berth_stdio::DetachKeys;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::args::AttachArgs;
use crate::client::query::{segment, Query};
use crate::client::{empty_body, Client, Upgraded};
use crate::error::CliError;
use crate::options::Streams;
use crate::stream::Output;
use crate::terminal::{self, RawMode};

/// Where a container's stdout and stderr go: the terminal's, or buffers in tests.
pub type Terminal = (Box<dyn Write + Send>, Box<dyn Write + Send>);

pub fn terminal() -> Terminal {
    (Box::new(std::io::stdout()), Box::new(std::io::stderr()))
}

/// How a session behaves.
pub struct SessionOptions {
    /// The process has a TTY: output is raw, input goes raw and is watched for detach keys.
    pub tty: bool,
    /// Input to send; `None` sends none (the daemon then sees end-of-file at once).
    pub input: Option<mpsc::Receiver<Bytes>>,
    pub detach_keys: DetachKeys,
}

/// Why a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The output ended: the process exited (or the daemon closed the session).
    Output,
    /// The user typed the detach keys; the process runs on.
    Detached,
}

/// docker's message when the user detaches from `attach` or `exec`.
pub const DETACHED: &str = "read escape sequence";

/// `--detach-keys` as docker checks it before anything is sent.
pub fn parse_detach_keys(keys: Option<&str>) -> Result<DetachKeys, CliError> {
    let keys = keys.unwrap_or("");
    DetachKeys::parse(keys)
        .map_err(|why| CliError::Usage(format!("invalid detach keys ({keys}): {why}")))
}

/// docker refuses a TTY session fed from something that is not a terminal.
pub fn check_tty(attach_stdin: bool, tty: bool) -> Result<(), CliError> {
    if tty && attach_stdin && !terminal::stdin_is_terminal() {
        return Err(CliError::Status {
            code: 1,
            message: "the input device is not a TTY".into(),
        });
    }
    Ok(())
}

/// Streams the session until its output ends or the user detaches. With a TTY and input
/// from a terminal, the terminal is raw for exactly that long.
pub async fn stream(
    attached: Upgraded,
    options: SessionOptions,
    terminal: Terminal,
) -> Result<Ended, CliError> {
    let Upgraded { io, raw_stream } = attached;
    let _raw = match (&options.input, options.tty) {
        (Some(_), true) => {
            RawMode::enable().map_err(|e| CliError::io("setting the terminal to raw mode", e))?
        }
        _ => None,
    };
    let (mut reader, mut writer) = tokio::io::split(io);
    let raw = raw_stream.unwrap_or(options.tty);
    let output = async move {
        let (stdout, stderr) = terminal;
        let mut output = Output::new(stdout, stderr, raw);
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .map_err(|e| CliError::io("reading the attach stream", e))?;
            if n == 0 {
                break;
            }
            output.write(&buf[..n])?;
        }
        output.finish()?;
        Ok::<_, CliError>(())
    };
    let mut scanner = options.tty.then(|| options.detach_keys.scanner());
    let input = async move {
        if let Some(mut chunks) = options.input {
            while let Some(chunk) = chunks.recv().await {
                let (data, detached) = match &mut scanner {
                    Some(scanner) => {
                        let scanned = scanner.feed(&chunk);
                        (Bytes::from(scanned.forward), scanned.detached)
                    }
                    None => (chunk, false),
                };
                if writer.write_all(&data).await.is_err() {
                    break;
                }
                if detached {
                    return Ended::Detached;
                }
            }
        }
        // End-of-file for the container's stdin; its output keeps coming.
        let _ = writer.shutdown().await;
        Ended::Output
    };
    tokio::pin!(output, input);
    let mut input_done = false;
    loop {
        tokio::select! {
            result = &mut output => return result.map(|()| Ended::Output),
            ended = &mut input, if !input_done => {
                if ended == Ended::Detached {
                    return Ok(Ended::Detached);
                }
                input_done = true;
            }
        }
    }
}

/// What a resize applies to.
#[derive(Clone)]
pub enum Resizable {
    Container(String),
    Exec(String),
}

impl Resizable {
    fn path(&self, rows: u16, columns: u16) -> String {
        let (kind, id) = match self {
            Resizable::Container(id) => ("containers", id),
            Resizable::Exec(id) => ("exec", id),
        };
        format!(
            "/{kind}/{}/resize{}",
            segment(id),
            Query::new()
                .param("h", rows.to_string())
                .param("w", columns.to_string())
                .build()
        )
    }
}

/// Sets the TTY's size to the window's now and whenever the window changes (SIGWINCH), as
/// long as the returned task runs. Only for a terminal on stdout.
pub fn follow_window_size(client: Client, target: Resizable) -> Option<JoinHandle<()>> {
    if !terminal::stdout_is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut client = client;
        // Listening before the first resize, so that a change in between is not lost.
        let changes = signal(SignalKind::window_change());
        // The daemon may not have the process's terminal yet; docker retries too.
        for retry in 1..=10u64 {
            if resize(&mut client, &target).await {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10 * retry)).await;
        }
        let Ok(mut changes) = changes else {
            return;
        };
        while changes.recv().await.is_some() {
            resize(&mut client, &target).await;
        }
    }))
}

/// Sets the TTY's size to the window's; false if the daemon refused.
async fn resize(client: &mut Client, target: &Resizable) -> bool {
    let Some((rows, columns)) = terminal::size() else {
        return true;
    };
    client
        .call(Method::POST, &target.path(rows, columns), None)
        .await
        .is_ok()
}

/// Reads `{"StatusCode": N, "Error": …}`; a wait that fails is reported and counts as 125,
/// as docker counts it.
pub async fn read_wait_status(response: hyper::Response<hyper::body::Incoming>) -> i32 {
    let bytes = match response.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            eprintln!("Error waiting for container: {e}");
            return crate::error::EXIT_DAEMON_OR_ARGS;
        }
    };
    match serde_json::from_slice::<bollard_stubs::models::ContainerWaitResponse>(&bytes) {
        Ok(bollard_stubs::models::ContainerWaitResponse {
            error: Some(err), ..
        }) if err.message.as_deref().is_some_and(|m| !m.is_empty()) => {
            eprintln!(
                "Error waiting for container: {}",
                err.message.unwrap_or_default()
            );
            crate::error::EXIT_DAEMON_OR_ARGS
        }
        Ok(answer) => answer.status_code as i32,
        Err(e) => {
            eprintln!("Error waiting for container: unreadable answer: {e}");
            crate::error::EXIT_DAEMON_OR_ARGS
        }
    }
}

/// The exit status a finished session leaves: 0, or the container's code.
pub fn status(code: i32) -> Result<(), CliError> {
    match code {
        0 => Ok(()),
        code => Err(CliError::Status {
            code,
            message: String::new(),
        }),
    }
}

/// The attach path for a session with these streams.
pub fn attach_path(id: &str, streams: Streams, detach_keys: Option<&str>) -> String {
    format!(
        "/containers/{}/attach{}",
        segment(id),
        Query::new()
            .param("stream", "1")
            .flag("stdin", streams.stdin)
            .flag("stdout", streams.stdout)
            .flag("stderr", streams.stderr)
            .param_opt("detachKeys", detach_keys.filter(|k| !k.is_empty()))
            .build()
    )
}

/// `berth attach CONTAINER`.
pub async fn attach(client: &mut Client, args: AttachArgs) -> Result<(), CliError> {
    let detach_keys = parse_detach_keys(args.detach_keys.as_deref())?;
    // Registered first, so that an exit during the attach is not missed.
    let wait_path = format!("/containers/{}/wait", segment(&args.container));
    let waiting = client
        .stream(Method::POST, &wait_path, empty_body())
        .await?;
    let inspected: bollard_stubs::models::ContainerInspectResponse = client
        .get(&format!("/containers/{}/json", segment(&args.container)))
        .await?;
    let state = inspected.state.clone().unwrap_or_default();
    if state.paused == Some(true) {
        return Err(CliError::Status {
            code: 1,
            message: "You cannot attach to a paused container, unpause it first".into(),
        });
    }
    if state.running != Some(true) {
        return Err(CliError::Status {
            code: 1,
            message: "You cannot attach to a stopped container, start it first".into(),
        });
    }
    let config = inspected.config.unwrap_or_default();
    let id = inspected.id.unwrap_or_else(|| args.container.clone());
    let tty = config.tty == Some(true);
    let stdin = !args.no_stdin && config.open_stdin == Some(true);
    check_tty(stdin, tty)?;

    let attached = client
        .upgrade(
            &attach_path(
                &id,
                Streams {
                    stdin,
                    stdout: true,
                    stderr: true,
                },
                args.detach_keys.as_deref(),
            ),
            None,
        )
        .await?;
    let signals = (args.sig_proxy && !tty)
        .then(|| super::container::forward_signals(Client::new(client.host().clone()), id.clone()));
    let window = tty
        .then(|| follow_window_size(Client::new(client.host().clone()), Resizable::Container(id)))
        .flatten();
    let options = SessionOptions {
        tty,
        input: stdin.then(terminal::stdin_chunks),
        detach_keys,
    };
    let ended = stream(attached, options, terminal()).await;
    for task in signals.into_iter().chain(window) {
        task.abort();
    }
    match ended? {
        Ended::Detached => Err(CliError::Status {
            code: 1,
            message: DETACHED.into(),
        }),
        Ended::Output => status(read_wait_status(waiting).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Streams = Streams {
        stdin: true,
        stdout: true,
        stderr: true,
    };

    #[test]
    fn paths_name_the_streams_and_keys() {
        assert_eq!(
            attach_path("c1", ALL, Some("ctrl-a,x")),
            "/containers/c1/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-a%2Cx"
        );
        assert_eq!(
            attach_path(
                "c1",
                Streams {
                    stdin: false,
                    ..ALL
                },
                Some("")
            ),
            "/containers/c1/attach?stream=1&stdout=1&stderr=1"
        );
        assert_eq!(
            Resizable::Exec("e1".into()).path(24, 80),
            "/exec/e1/resize?h=24&w=80"
        );
    }

    #[test]
    fn bad_detach_keys_are_refused_before_anything_is_sent() {
        let err = parse_detach_keys(Some("ctrl-1")).unwrap_err();
        assert_eq!(err.exit_code(), 125);
        assert_eq!(
            err.to_string(),
            "invalid detach keys (ctrl-1): Unknown character: 'ctrl-1'"
        );
    }
}
