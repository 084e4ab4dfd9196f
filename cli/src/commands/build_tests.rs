//! `berth build` against a fake daemon: what it sends, and how it reads
//! the JSON stream back.

use super::*;
use crate::args::{Cli, Command};
use crate::fake_daemon::{FakeDaemon, Reply};
use clap::Parser;

fn build_args(args: &[&str]) -> BuildArgs {
    let mut argv = vec!["berth", "build"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv).unwrap().command {
        Some(Command::Build(args)) => args,
        other => panic!("not build: {other:?}"),
    }
}

fn routes(_method: &str, path: &str) -> Reply {
    if path.contains("t=fails") {
        return Reply::Json(
            200,
            concat!(
                r#"{"stream":"Step 1/1 : RUN false\n"}"#,
                "\r\n",
                r#"{"errorDetail":{"code":1,"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"The command '/bin/sh -c false' returned a non-zero code: 1"}"#,
                "\r\n"
            )
            .into(),
        );
    }
    if path.contains("t=unbuilt") {
        return Reply::Json(
            501,
            r#"{"message":"POST /build: not supported by berth yet"}"#.into(),
        );
    }
    Reply::Json(
        200,
        concat!(
            r#"{"stream":"Step 1/1 : FROM busybox\n"}"#,
            r#"{"stream":" ---\u003e 0123456789ab\n"}"#,
            r#"{"aux":{"ID":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}"#,
            r#"{"stream":"Successfully built 0123456789ab\n"}"#,
        )
        .into(),
    )
}

fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM busybox\n").unwrap();
    std::fs::write(dir.path().join(".dockerignore"), "secret.txt\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
    std::fs::write(dir.path().join("app"), "yes").unwrap();
    dir
}

#[tokio::test]
async fn build_sends_the_context_and_writes_the_iidfile() {
    let daemon = FakeDaemon::start(routes);
    let mut client = Client::new(daemon.host());
    let dir = context();
    let iid = dir.path().join("iid");
    std::fs::write(&iid, "stale").unwrap();
    let ctx = dir.path().to_str().unwrap().to_owned();
    let iid_arg = iid.to_str().unwrap().to_owned();
    build(
        &mut client,
        build_args(&[
            "-t",
            "web:1",
            "--iidfile",
            &iid_arg,
            "--progress",
            "plain",
            &ctx,
        ]),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&iid).unwrap(),
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    let requests = daemon.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        format!("{} {}", request.method, request.path),
        "POST /v1.49/build?t=web%3A1&dockerfile=Dockerfile&version=1"
    );
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("content-type").as_deref(), Some("application/x-tar"));
    assert!(header("x-registry-config").is_some());
    assert!(header(crate::image_build::SECRETS_HEADER).is_none());
    let mut archive = tar::Archive::new(&request.body[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [".dockerignore", "Dockerfile", "app"]);
}

#[tokio::test]
async fn a_failed_step_is_status_1_with_the_daemons_message_and_no_iidfile() {
    let daemon = FakeDaemon::start(routes);
    let mut client = Client::new(daemon.host());
    let dir = context();
    let iid = dir.path().join("iid");
    let ctx = dir.path().to_str().unwrap().to_owned();
    let iid_arg = iid.to_str().unwrap().to_owned();
    let err = build(
        &mut client,
        build_args(&[
            "-t",
            "fails",
            "--iidfile",
            &iid_arg,
            "--progress",
            "plain",
            &ctx,
        ]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        err.to_string(),
        "The command '/bin/sh -c false' returned a non-zero code: 1"
    );
    assert!(!iid.exists());
}

#[tokio::test]
async fn a_daemon_without_a_builder_is_reported() {
    let daemon = FakeDaemon::start(routes);
    let mut client = Client::new(daemon.host());
    let dir = context();
    let ctx = dir.path().to_str().unwrap().to_owned();
    let secret = dir.path().join("app");
    let spec = format!("id=app,src={}", secret.display());
    let err = build(
        &mut client,
        build_args(&["-q", "-t", "unbuilt", "--secret", &spec, &ctx]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        err.to_string(),
        "Error response from daemon: POST /build: not supported by berth yet"
    );
    let requests = daemon.requests.lock().unwrap().clone();
    assert!(requests[0].path.contains("q=1"));
    assert!(requests[0]
        .headers
        .iter()
        .any(|(k, _)| k == crate::image_build::SECRETS_HEADER));
}
