//! `berth build` / `berth image build`: the context tar to `POST /build`,
//! and the JSON stream back, as docker 28's client does with the legacy
//! builder (`--iidfile` from the `aux` ID, `errorDetail` → status 1).

use std::io::{Read, Write};
use std::path::Path;

use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;

use super::image_admin::docker_size;
use super::prune::ask;
use super::ps::parse_filters;
use super::registry::credentials;
use crate::build_args::{BuildArgs, BuilderPruneArgs};
use crate::client::query::Query;
use crate::client::{bytes_body, empty_body, Client};
use crate::error::CliError;
use crate::image_build::context::{self, Source};
use crate::image_build::display::Display;
use crate::image_build::upload::Upload;
use crate::image_build::{parse_secret, query, secrets_header, MAX_SECRETS_HEADER, SECRETS_HEADER};
use crate::progress::{fail_if_error, MessageSplitter};

fn failure(message: impl Into<String>) -> CliError {
    CliError::Status {
        code: 1,
        message: message.into(),
    }
}

fn read_stdin() -> Result<Vec<u8>, CliError> {
    let mut data = Vec::new();
    std::io::stdin()
        .read_to_end(&mut data)
        .map_err(|e| CliError::io("reading standard input", e))?;
    Ok(data)
}

/// What the request carries as the context.
enum Context {
    /// Built in memory: from stdin, or with a Dockerfile added from elsewhere.
    Bytes(Vec<u8>),
    /// A directory tarred while it is uploaded: (root, Dockerfile in it).
    Walk(std::path::PathBuf, String),
    /// A URL the daemon fetches.
    Remote,
}

/// The context (see [`Context`]) and the Dockerfile's name in it.
fn prepare(args: &BuildArgs) -> Result<(Context, Option<String>), CliError> {
    let dockerfile_from_stdin = args.file.as_deref() == Some("-");
    match context::detect(&args.context) {
        Source::Stdin => {
            if dockerfile_from_stdin {
                return Err(failure(
                    "invalid argument: can't use stdin for both build context and dockerfile",
                ));
            }
            let data = read_stdin()?;
            if context::is_archive(&data) {
                return Ok((Context::Bytes(data), args.file.clone()));
            }
            if args.file.is_some() {
                return Err(failure(
                    "unable to prepare context from STDIN: ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles",
                ));
            }
            Ok((
                Context::Bytes(context::dockerfile_context(&data)?),
                Some("Dockerfile".to_owned()),
            ))
        }
        Source::Remote(_) => Ok((Context::Remote, args.file.clone())),
        Source::Local(dir) => {
            let cwd = std::env::current_dir()
                .map_err(|e| CliError::io("reading the current directory", e))?;
            let given = args.file.as_deref().filter(|f| *f != "-");
            let (root, relative) = if dockerfile_from_stdin {
                (context::context_dir(&dir, &cwd)?, String::new())
            } else {
                context::local_dir(&dir, given, &cwd)?
            };
            let outside = relative.starts_with("../");
            if dockerfile_from_stdin || outside {
                let mut tar = Vec::new();
                context::write_tar(&root, &relative, &mut tar)?;
                let dockerfile = if dockerfile_from_stdin {
                    read_stdin()?
                } else {
                    let path = given.map(Path::new).unwrap_or(Path::new("Dockerfile"));
                    std::fs::read(path)
                        .map_err(|e| failure(format!("unable to open Dockerfile: {e}")))?
                };
                let (tar, name) = context::add_dockerfile(&tar, &dockerfile)?;
                return Ok((Context::Bytes(tar), Some(name)));
            }
            Ok((Context::Walk(root, relative.clone()), Some(relative)))
        }
    }
}

/// `X-Registry-Config`: every login the docker config knows, for the
/// images FROM names.
fn registry_config() -> Result<String, CliError> {
    let credentials = credentials()?;
    let mut auths = serde_json::Map::new();
    let config = credentials.config().root();
    let mut servers: Vec<String> = Vec::new();
    for section in ["auths", "credHelpers"] {
        if let Some(map) = config.get(section).and_then(Value::as_object) {
            servers.extend(map.keys().cloned());
        }
    }
    servers.sort();
    servers.dedup();
    for server in servers {
        if let Some(login) = credentials.get(&server)? {
            auths.insert(
                server.clone(),
                serde_json::json!({
                    "username": login.username,
                    "password": login.password,
                    "serveraddress": server,
                }),
            );
        }
    }
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::URL_SAFE.encode(Value::Object(auths).to_string()))
}

pub async fn build(client: &mut Client, args: BuildArgs) -> Result<(), CliError> {
    let lookup = |k: &str| std::env::var(k).ok();
    let secrets = args
        .secret
        .iter()
        .map(|s| parse_secret(s, &lookup))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(iidfile) = &args.iidfile {
        // A failed build must not leave an old ID behind.
        match std::fs::remove_file(iidfile) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CliError::io(
                    format!("Removing image ID file {}", iidfile.display()),
                    e,
                ))
            }
        }
    }
    let (tar, dockerfile) = prepare(&args)?;
    let remote = match context::detect(&args.context) {
        Source::Remote(url) => Some(url),
        _ => None,
    };
    let path = query(&args, dockerfile.as_deref(), remote.as_deref(), &lookup);
    let mut headers = vec![
        ("x-registry-config", registry_config()?),
        ("content-type", "application/x-tar".to_owned()),
    ];
    if !secrets.is_empty() {
        let header = secrets_header(&secrets);
        if header.len() > MAX_SECRETS_HEADER {
            return Err(CliError::Status {
                code: 1,
                message: format!(
                    "the build's secrets take {} bytes once encoded; berth carries them in a \
                     request header, which holds at most {MAX_SECRETS_HEADER} (about 200 KiB of \
                     secrets)",
                    header.len()
                ),
            });
        }
        headers.push((SECRETS_HEADER, header));
    }
    let (body, upload) = match tar {
        Context::Bytes(data) => (bytes_body(data), None),
        Context::Remote => (empty_body(), None),
        Context::Walk(root, dockerfile) => {
            let (upload, body) = Upload::start(root, dockerfile)?;
            (body, Some(upload))
        }
    };
    let sent = client
        .stream_with_headers(Method::POST, &path, body, &headers)
        .await;
    if let Some(upload) = upload {
        // Once the daemon answers it has read the whole body (or stopped
        // reading): the walk has ended either way.
        upload.finish()?;
    }
    let response = sent?;

    let tty = match args.progress.as_str() {
        "tty" => true,
        "plain" => false,
        _ => crate::terminal::stdout_is_terminal(),
    };
    // With -q everything waits in a buffer: the ID on success, all of it on failure.
    let mut quiet_buffer = Vec::new();
    let mut display = Display::new(std::io::stdout(), tty);
    let mut image_id = None;
    let mut splitter = MessageSplitter::default();
    let mut body = response.into_body();
    let outcome: Result<(), CliError> = async {
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| failure(format!("error reading the build output: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            splitter.feed(&data, |message| {
                fail_if_error(message)?;
                if let Some(id) = message.pointer("/aux/ID").and_then(Value::as_str) {
                    image_id = Some(id.to_owned());
                }
                if let Some(text) = message.get("stream").and_then(Value::as_str) {
                    if args.quiet {
                        quiet_buffer.extend_from_slice(text.as_bytes());
                    } else {
                        display
                            .text(text)
                            .map_err(|e| CliError::io("writing the build output", e))?;
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        if args.quiet {
            let _ = std::io::stderr().write_all(&quiet_buffer);
        } else {
            let _ = display.failed();
        }
        return Err(e);
    }
    if args.quiet {
        std::io::stdout()
            .write_all(&quiet_buffer)
            .map_err(|e| CliError::io("writing the image ID", e))?;
    } else {
        display
            .finish()
            .map_err(|e| CliError::io("writing the build output", e))?;
    }
    if let Some(iidfile) = &args.iidfile {
        let id = image_id.ok_or_else(|| {
            failure(format!(
                "Server did not provide an image ID. Cannot write {}",
                iidfile.display()
            ))
        })?;
        std::fs::write(iidfile, id)
            .map_err(|e| CliError::io(format!("writing {}", iidfile.display()), e))?;
    }
    Ok(())
}

/// `berth builder prune`: `POST /build/prune`, with docker's prompt and report.
pub async fn prune(client: &mut Client, args: BuilderPruneArgs) -> Result<(), CliError> {
    let filters = parse_filters(&args.filter)?;
    let warning = if args.all {
        "WARNING! This will remove all build cache. Are you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
    };
    if !args.force && !ask(warning)? {
        return Ok(());
    }
    let keep = args.keep_storage.filter(|k| *k != 0).map(|k| k.to_string());
    let mut query = Query::new()
        .flag("all", args.all)
        .param_opt("keep-storage", keep);
    // docker sends the parameter even when it is empty.
    query = if filters.is_empty() {
        query.param("filters", "")
    } else {
        query.filters(&filters)
    };
    let path = format!("/build/prune{}", query.build());
    let body = client.call(Method::POST, &path, None).await?;
    let report: Value = crate::client::decode(&path, &body)?;
    let deleted: Vec<&str> = report["CachesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut text = String::new();
    if !deleted.is_empty() {
        text.push_str(&format!(
            "Deleted build cache objects:\n{}\n\n",
            deleted.join("\n")
        ));
    }
    let reclaimed = report["SpaceReclaimed"].as_u64().unwrap_or(0);
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        docker_size(reclaimed as f64)
    ));
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing output", e))
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
