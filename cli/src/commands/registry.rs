//! Registry commands: `pull`, `push`, `login`, `logout`.

use std::io::{BufRead, Write};

use base64::Engine as _;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::json;

use crate::client::query::{segment, Query};
use crate::client::{empty_body, Client};
use crate::credentials::Credentials;
use crate::docker_config::{auth_key, image_domain, DockerConfig, DOCKER_HUB_KEY};
use crate::error::CliError;
use crate::progress::{MessageSplitter, Outcome, Renderer};
use crate::registry_args::{LoginArgs, LogoutArgs, PullArgs, PushArgs};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn stdout_is_terminal() -> bool {
    rustix::termios::isatty(std::io::stdout())
}

/// The `X-Registry-Auth` header for the registry serving `image`: the stored login, or
/// an empty object for anonymous access.
fn registry_auth(image: &str) -> Result<String, CliError> {
    let key = auth_key(image_domain(image));
    let body = match credentials()?.get(&key)? {
        Some(login) => json!({
            "username": login.username,
            "password": login.password,
            "serveraddress": key,
        }),
        None => json!({}),
    };
    Ok(base64::engine::general_purpose::URL_SAFE.encode(body.to_string()))
}

/// The credentials the docker CLI would use (see [`crate::credentials`]).
pub(crate) fn credentials() -> Result<Credentials, CliError> {
    Ok(Credentials::new(DockerConfig::load(
        &DockerConfig::default_path(env)?,
    )?))
}

/// `busybox` → `docker.io/library/busybox`, as the docker CLI prints pulled names.
fn full_name(name: &str) -> String {
    let domain = image_domain(name);
    let rest = if domain == "docker.io" && !name.starts_with("docker.io/") {
        name
    } else {
        &name[domain.len() + 1..]
    };
    if domain == "docker.io" && !rest.contains('/') {
        format!("docker.io/library/{rest}")
    } else {
        format!("{domain}/{rest}")
    }
}

/// Splits `NAME[:TAG|@DIGEST]` into the name and the tag or digest.
fn split_reference(reference: &str) -> (&str, Option<&str>) {
    if let Some((name, digest)) = reference.split_once('@') {
        return (name, Some(digest));
    }
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => (&reference[..i], Some(&reference[i + 1..])),
        _ => (reference, None),
    }
}

/// Where progress goes: standard output, standard error (`run`'s implicit pull), or
/// nowhere (`--quiet`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Stdout,
    Stderr,
    Nowhere,
}

impl Target {
    /// `self`, or nowhere under `--quiet`.
    pub(crate) fn unless_quiet(self, quiet: bool) -> Target {
        if quiet {
            Target::Nowhere
        } else {
            self
        }
    }
}

/// Sends a pull or push (`POST path`) with the stored login for the registry serving
/// `name`, and shows the daemon's progress on `target`.
async fn send_with_login(
    client: &Client,
    path: &str,
    name: &str,
    target: Target,
) -> Result<(), CliError> {
    let auth = registry_auth(name)?;
    let response = client
        .stream_with_headers(
            Method::POST,
            path,
            empty_body(),
            &[("x-registry-auth", auth)],
        )
        .await?;
    render(response, target).await?;
    Ok(())
}

/// Streams a progress response to `target`.
pub(crate) async fn render(
    response: hyper::Response<hyper::body::Incoming>,
    target: Target,
) -> Result<Outcome, CliError> {
    let (out, terminal): (Box<dyn Write>, bool) = match target {
        Target::Stdout => (Box::new(std::io::stdout()), stdout_is_terminal()),
        Target::Stderr => (
            Box::new(std::io::stderr()),
            rustix::termios::isatty(std::io::stderr()),
        ),
        Target::Nowhere => (Box::new(std::io::sink()), false),
    };
    let mut renderer = Renderer::new(out, terminal);
    let mut splitter = MessageSplitter::default();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Status {
            code: 1,
            message: format!("reading the daemon's progress: {e}"),
        })?;
        if let Ok(data) = frame.into_data() {
            splitter.feed(&data, |message| renderer.message(message))?;
        }
    }
    Ok(renderer.finish())
}

pub async fn pull(client: &mut Client, args: PullArgs) -> Result<(), CliError> {
    let (name, tag) = split_reference(&args.image);
    if args.all_tags && tag.is_some() {
        return Err(CliError::Usage(
            "tag can't be used with --all-tags/-a".into(),
        ));
    }
    let tag = match tag {
        Some(tag) => Some(tag),
        None if args.all_tags => None,
        None => Some("latest"),
    };
    let query = Query::new()
        .param("fromImage", name)
        .param_opt("tag", tag.map(str::to_owned))
        .param_opt("platform", args.platform.clone());
    let path = format!("/images/create{}", query.build());
    if !args.quiet && !args.all_tags && tag == Some("latest") && !args.image.ends_with(":latest") {
        println!("Using default tag: latest");
    }
    send_with_login(client, &path, name, Target::Stdout.unless_quiet(args.quiet)).await?;
    let shown = match tag {
        Some(t) if t.starts_with("sha256:") => format!("{}@{t}", full_name(name)),
        Some(t) => format!("{}:{t}", full_name(name)),
        None => full_name(name),
    };
    println!("{shown}");
    Ok(())
}

/// The pull `run` and `create` make of a missing image (`--pull missing`) or before
/// creating (`--pull always`): progress on standard error, as docker does.
pub async fn pull_for_container(
    client: &mut Client,
    image: &str,
    quiet: bool,
) -> Result<(), CliError> {
    let (name, tag) = split_reference(image);
    let query = Query::new()
        .param("fromImage", name)
        .param("tag", tag.unwrap_or("latest"));
    let path = format!("/images/create{}", query.build());
    send_with_login(client, &path, name, Target::Stderr.unless_quiet(quiet)).await
}

pub async fn push(client: &mut Client, args: PushArgs) -> Result<(), CliError> {
    if args.platform.is_some() {
        return Err(CliError::Unsupported("'berth push --platform'".into()));
    }
    let (name, tag) = split_reference(&args.image);
    if tag.is_some_and(|t| t.starts_with("sha256:")) {
        return Err(CliError::Usage(format!(
            "invalid reference format: cannot push a digest reference ({})",
            args.image
        )));
    }
    if args.all_tags && tag.is_some() {
        return Err(CliError::Usage(
            "tag can't be used with --all-tags/-a".into(),
        ));
    }
    let tag = match tag {
        Some(tag) => Some(tag),
        None if args.all_tags => None,
        None => {
            if !args.quiet {
                println!("Using default tag: latest");
            }
            Some("latest")
        }
    };
    let query = Query::new().param_opt("tag", tag.map(str::to_owned));
    let path = format!("/images/{}/push{}", segment(name), query.build());
    send_with_login(client, &path, name, Target::Stdout.unless_quiet(args.quiet)).await?;
    if args.quiet {
        println!("{}", args.image);
    }
    Ok(())
}

/// Reads a line from standard input after printing `prompt`; with `hidden`, the
/// terminal does not echo it.
fn prompt(prompt: &str, hidden: bool) -> Result<String, CliError> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    let saved = if hidden {
        let saved =
            tcgetattr(&stdin).map_err(|e| CliError::io("reading terminal settings", e.into()))?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        tcsetattr(&stdin, OptionalActions::Now, &quiet)
            .map_err(|e| CliError::io("changing terminal settings", e.into()))?;
        Some(saved)
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
        eprintln!();
    }
    read.map_err(|e| CliError::io("reading standard input", e))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub async fn login(client: &mut Client, args: LoginArgs) -> Result<(), CliError> {
    if args.password.is_some() && args.password_stdin {
        return Err(CliError::Usage(
            "--password and --password-stdin are mutually exclusive".into(),
        ));
    }
    let server = args
        .server
        .clone()
        .map(|s| {
            auth_key(
                s.trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/'),
            )
        })
        .unwrap_or_else(|| DOCKER_HUB_KEY.to_owned());
    let interactive = rustix::termios::isatty(std::io::stdin());
    let nothing_given = args.username.is_none() && args.password.is_none() && !args.password_stdin;
    if nothing_given {
        if let Some(stored) = credentials()?.get(&server)? {
            eprintln!(
                "Authenticating with existing credentials... [Username: {}]",
                stored.username
            );
            let body = json!({
                "username": stored.username,
                "password": stored.password,
                "serveraddress": server,
            });
            match client
                .post_json::<_, serde_json::Value>("/auth", &body)
                .await
            {
                Ok(answer) => {
                    println!("{}", login_status(&answer));
                    return Ok(());
                }
                // Stored credentials the registry refuses: ask anew, as docker does.
                Err(e) if interactive => eprintln!("Login did not succeed, error: {e}"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    let mut username = args.username.clone().unwrap_or_default();
    let mut password = args.password.clone().unwrap_or_default();
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if args.password_stdin {
        if username.is_empty() {
            return Err(CliError::Usage(
                "Must provide --username with --password-stdin".into(),
            ));
        }
        let mut text = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut text)
            .map_err(|e| CliError::io("reading the password from standard input", e))?;
        password = text.trim_end_matches(['\r', '\n']).to_owned();
    }
    if username.is_empty() || password.is_empty() {
        if !interactive {
            return Err(CliError::Usage(
                "Error: Cannot perform an interactive login from a non TTY device".into(),
            ));
        }
        if username.is_empty() {
            username = prompt("Username: ", false)?;
        }
        if password.is_empty() {
            password = prompt("Password: ", true)?;
        }
    }
    if username.is_empty() || password.is_empty() {
        return Err(CliError::Usage(
            "Error: Username and password are required".into(),
        ));
    }
    let body = json!({ "username": username, "password": password, "serveraddress": server });
    let answer: serde_json::Value = client.post_json("/auth", &body).await?;
    let mut credentials = credentials()?;
    credentials.store(&server, &username, &password)?;
    if credentials.in_file(&server) {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.",
            credentials.config().path().display()
        );
    }
    println!("{}", login_status(&answer));
    Ok(())
}

/// What the daemon's `/auth` answer says, or docker's words when it says nothing.
fn login_status(answer: &serde_json::Value) -> &str {
    answer
        .get("Status")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("Login Succeeded")
}

pub async fn logout(_client: &mut Client, args: LogoutArgs) -> Result<(), CliError> {
    let server = args
        .server
        .map(|s| {
            auth_key(
                s.trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/'),
            )
        })
        .unwrap_or_else(|| DOCKER_HUB_KEY.to_owned());
    if !credentials()?.erase(&server)? {
        println!("Not logged in to {server}");
        return Ok(());
    }
    println!("Removing login credentials for {server}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shown_in_full_as_docker_does() {
        assert_eq!(full_name("busybox"), "docker.io/library/busybox");
        assert_eq!(full_name("user/app"), "docker.io/user/app");
        assert_eq!(
            full_name("docker.io/library/busybox"),
            "docker.io/library/busybox"
        );
        assert_eq!(full_name("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b");
        assert_eq!(
            split_reference("127.0.0.1:5000/a:v1"),
            ("127.0.0.1:5000/a", Some("v1"))
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/a"),
            ("127.0.0.1:5000/a", None)
        );
        assert_eq!(split_reference("a@sha256:00"), ("a", Some("sha256:00")));
    }
}
