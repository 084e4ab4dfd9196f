//! `-H tcp://127.0.0.1:PORT`: berthd serves the API on loopback TCP next to its unix socket
//! (several -H), and refuses a non-loopback address, having no TLS for the API.

use std::process::Command;

use berth_tests::{binary, Background, Daemon, DOCKER_CLI};

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn docker_over_tcp(d: &Daemon, port: u16, args: &[&str]) -> berth_tests::Output {
    let mut cmd = Command::new(DOCKER_CLI);
    cmd.args(args)
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
        .env("DOCKER_CONFIG", d.docker_config())
        .env("DOCKER_CLI_HINTS", "false")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .env_remove("DOCKER_TLS_VERIFY");
    berth_tests::run_command(cmd, None)
}

#[test]
fn the_docker_cli_works_over_loopback_tcp_next_to_the_unix_socket() {
    berth_tests::needs_root!();
    let port = free_port();
    let d = Daemon::start_with(&["-H".into(), format!("tcp://127.0.0.1:{port}")]);
    d.import_busybox();
    assert!(
        d.log_text().contains("without encryption"),
        "{}",
        d.log_text()
    );
    let version = docker_over_tcp(&d, port, &["version", "--format", "{{.Server.Os}}"]).ok();
    assert_eq!(version.out(), "linux");
    // A foreground run: attach (a hijacked TCP connection), start, wait.
    let run = docker_over_tcp(
        &d,
        port,
        &["run", "--rm", "busybox", "sh", "-c", "echo hi; exit 3"],
    )
    .code(3);
    assert_eq!(run.out(), "hi");
    // The unix socket serves the same daemon.
    docker_over_tcp(&d, port, &["create", "--name", "both", "busybox", "true"]).ok();
    assert_eq!(d.state("both"), "created");
}

#[test]
fn a_non_loopback_tcp_host_is_refused_before_anything_is_touched() {
    berth_tests::needs_root!();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(binary("berthd"));
    cmd.arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .args(["-H", "tcp://0.0.0.0:2375"]);
    let refused = Background::spawn(cmd, None)
        .try_finish()
        .unwrap_or_else(|hung| panic!("berthd did not exit:\n{hung}"))
        .fails();
    assert!(
        refused
            .stderr
            .contains("refusing to serve the API on tcp://0.0.0.0:2375 without TLS"),
        "{refused}"
    );
    assert!(!dir.path().join("data").exists());
    assert!(!dir.path().join("exec").exists());
}
