//! `berth build`'s client side: the context (`context`, `dockerignore`),
//! the request's query and secrets (here), and the progress display.

pub mod context;
pub mod display;
pub mod dockerignore;
pub mod upload;

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::build_args::BuildArgs;
use crate::client::query::Query;
use crate::error::CliError;

fn usage(message: impl Into<String>) -> CliError {
    CliError::Status {
        code: 1,
        message: message.into(),
    }
}

/// docker's `ConvertKVStringsToMapWithNil`: a bare `KEY` takes its value
/// from this environment, and is sent as null when unset there.
fn build_args_json(args: &[String], lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let map: BTreeMap<&str, Option<String>> = args
        .iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (a.as_str(), lookup(a)),
        })
        .collect();
    serde_json::to_string(&map).expect("string maps always serialize")
}

/// The query of `POST /build`, as docker 28's client builds it for the
/// legacy builder (`version=1`).
pub fn query(
    args: &BuildArgs,
    dockerfile: Option<&str>,
    remote: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut q = Query::new();
    for tag in &args.tag {
        q = q.param("t", tag.clone());
    }
    for host in &args.add_host {
        q = q.param("extrahosts", host.clone());
    }
    q = q
        .flag("q", args.quiet)
        .param_opt("remote", remote)
        .flag("nocache", args.no_cache);
    if !args.rm {
        q = q.param("rm", "0");
    }
    q = q.flag("forcerm", args.force_rm).flag("pull", args.pull);
    if args.network != "default" && !args.network.is_empty() {
        q = q.param("networkmode", args.network.clone());
    }
    q = q
        .param_opt(
            "memory",
            args.memory.filter(|m| *m != 0).map(|m| m.to_string()),
        )
        .param_opt(
            "shmsize",
            args.shm_size.filter(|m| *m != 0).map(|m| m.to_string()),
        )
        .param_opt("dockerfile", dockerfile.filter(|d| !d.is_empty()))
        .param_opt("target", args.target.clone().filter(|t| !t.is_empty()));
    if !args.build_arg.is_empty() {
        q = q.param("buildargs", build_args_json(&args.build_arg, lookup));
    }
    if !args.label.is_empty() {
        let labels: BTreeMap<&str, &str> = args
            .label
            .iter()
            .map(|l| l.split_once('=').unwrap_or((l.as_str(), "")))
            .collect();
        q = q.param(
            "labels",
            serde_json::to_string(&labels).expect("string maps always serialize"),
        );
    }
    if !args.cache_from.is_empty() {
        q = q.param(
            "cachefrom",
            serde_json::to_string(&args.cache_from).expect("string lists always serialize"),
        );
    }
    q = q
        .param_opt(
            "platform",
            args.platform
                .as_ref()
                .filter(|p| !p.is_empty())
                .map(|p| p.to_lowercase()),
        )
        .param("version", "1");
    format!("/build{}", q.build())
}

/// One `--secret` as BuildKit reads it: `id=ID[,src=PATH|,env=VAR][,type=file|env]`.
#[derive(Debug, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub content: Vec<u8>,
}

pub fn parse_secret(
    spec: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, CliError> {
    let (mut id, mut kind, mut source, mut env) = (None, None, None, None);
    for field in spec.split(',') {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| usage(format!("invalid field '{field}' must be a key=value pair")))?;
        match key.trim().to_lowercase().as_str() {
            "type" => kind = Some(value.to_owned()),
            "id" => id = Some(value.to_owned()),
            "source" | "src" => source = Some(value.to_owned()),
            "env" => env = Some(value.to_owned()),
            other => return Err(usage(format!("unexpected key '{other}' in '{field}'"))),
        }
    }
    let kind = kind.unwrap_or_else(|| if env.is_some() { "env" } else { "file" }.to_owned());
    let id = id
        .or_else(|| source.clone())
        .or_else(|| env.clone())
        .filter(|i| !i.is_empty())
        .ok_or_else(|| usage(format!("invalid secret {spec:?}: an id is required")))?;
    let content = match kind.as_str() {
        "file" => {
            let path = source.unwrap_or_else(|| id.clone());
            std::fs::read(&path)
                .map_err(|e| usage(format!("failed to read secret {id:?} from {path}: {e}")))?
        }
        "env" => {
            let name = env.or(source).unwrap_or_else(|| id.clone());
            lookup(&name)
                .ok_or_else(|| {
                    usage(format!(
                        "secret {id:?}: environment variable {name} is not set"
                    ))
                })?
                .into_bytes()
        }
        other => return Err(usage(format!("unsupported secret type {other:?}"))),
    };
    Ok(Secret { id, content })
}

/// The header berth's daemon reads the secrets from (base64 JSON of ID →
/// base64 content): secrets travel beside the context, never inside it.
pub const SECRETS_HEADER: &str = "x-berth-build-secrets";

/// The most the header may take: berthd reads a request's head into a buffer of about
/// 400 KiB, the other headers included.
pub const MAX_SECRETS_HEADER: usize = 384 * 1024;

pub fn secrets_header(secrets: &[Secret]) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let map: BTreeMap<&str, String> = secrets
        .iter()
        .map(|s| (s.id.as_str(), engine.encode(&s.content)))
        .collect();
    let json = serde_json::to_string(&map).expect("string maps always serialize");
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn build_args(args: &[&str]) -> BuildArgs {
        let mut argv = vec!["berth", "build"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Build(args)) => args,
            other => panic!("not build: {other:?}"),
        }
    }

    fn decoded(path: &str) -> Vec<(String, String)> {
        let query = path.split_once('?').map_or("", |(_, q)| q);
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn flags_become_dockers_query_parameters() {
        let lookup = |k: &str| (k == "FROM_ENV").then(|| "e".to_owned());
        let args = build_args(&[
            "-t",
            "a:1",
            "-t",
            "b",
            "--build-arg",
            "X=1",
            "--build-arg",
            "FROM_ENV",
            "--build-arg",
            "UNSET",
            "--target",
            "final",
            "--no-cache",
            "--pull",
            "--label",
            "k=v",
            "-q",
            "--rm=false",
            "--force-rm",
            "--network",
            "none",
            "--add-host",
            "h:1.2.3.4",
            "--cache-from",
            "x,y",
            "--platform",
            "Linux/AMD64",
            "-m",
            "1g",
            ".",
        ]);
        let params = decoded(&query(&args, Some("sub/Dockerfile"), None, &lookup));
        let get = |k: &str| -> Vec<String> {
            params
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .collect()
        };
        assert_eq!(get("t"), ["a:1", "b"]);
        assert_eq!(
            get("buildargs"),
            [r#"{"FROM_ENV":"e","UNSET":null,"X":"1"}"#]
        );
        assert_eq!(get("labels"), [r#"{"k":"v"}"#]);
        assert_eq!(get("target"), ["final"]);
        assert_eq!(get("dockerfile"), ["sub/Dockerfile"]);
        assert_eq!(get("cachefrom"), [r#"["x","y"]"#]);
        assert_eq!(get("platform"), ["linux/amd64"]);
        assert_eq!(get("networkmode"), ["none"]);
        assert_eq!(get("extrahosts"), ["h:1.2.3.4"]);
        assert_eq!(get("memory"), ["1073741824"]);
        for (flag, value) in [
            ("nocache", "1"),
            ("pull", "1"),
            ("q", "1"),
            ("rm", "0"),
            ("forcerm", "1"),
            ("version", "1"),
        ] {
            assert_eq!(get(flag), [value], "{flag}");
        }
        // Defaults send only what docker sends.
        let plain = query(&build_args(&["."]), None, Some("https://x/y.tar"), &lookup);
        assert_eq!(plain, "/build?remote=https%3A%2F%2Fx%2Fy.tar&version=1");
    }

    #[test]
    fn secrets_come_from_files_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret").unwrap();
        let lookup = |k: &str| (k == "TOKEN").then(|| "from-env".to_owned());
        let spec = format!("id=tok,src={}", file.display());
        assert_eq!(
            parse_secret(&spec, &lookup).unwrap(),
            Secret {
                id: "tok".into(),
                content: b"s3cret".to_vec()
            }
        );
        assert_eq!(
            parse_secret("id=t,env=TOKEN", &lookup).unwrap().content,
            b"from-env"
        );
        assert_eq!(
            parse_secret("id=TOKEN,type=env", &lookup).unwrap().content,
            b"from-env"
        );
        assert!(parse_secret("id=t,env=NOPE", &lookup).is_err());
        assert!(parse_secret("id=t,src=/nonexistent/x", &lookup).is_err());
        assert!(parse_secret("bogus", &lookup).is_err());
        let header = secrets_header(&[Secret {
            id: "a".into(),
            content: b"x".to_vec(),
        }]);
        let json = base64::engine::general_purpose::URL_SAFE
            .decode(header)
            .unwrap();
        assert_eq!(json, br#"{"a":"eA=="}"#);
    }
}
