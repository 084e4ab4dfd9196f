//! The berth binary end to end, where no daemon is needed: usage errors,
//! refused commands and flags, an absent daemon, help and man pages.

use std::process::{Command, Output};

fn berth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .output()
        .expect("run berth")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A socket path inside a fresh directory, where nothing listens.
fn absent_daemon() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("unix://{}/berth.sock", dir.path().display());
    (dir, host)
}

#[test]
fn bare_berth_and_help_list_the_commands() {
    for args in [&[][..], &["help"][..], &["--help"][..]] {
        let out = berth(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = stdout(&out);
        for command in [
            "run", "ps", "logs", "inspect", "import", "images", "rmi", "tag", "info", "version",
            "attach", "exec",
        ] {
            assert!(
                text.contains(&format!("  {command} ")),
                "{command} missing from {text}"
            );
        }
        assert!(
            !text.contains("  swarm "),
            "commands of later issues stay out of the help"
        );
    }
}

#[test]
fn every_command_has_help() {
    for command in [
        "run", "create", "start", "stop", "kill", "rm", "wait", "restart", "rename", "inspect",
        "logs", "ps", "info", "version", "import", "images", "rmi", "tag", "attach", "exec",
    ] {
        let out = berth(&[command, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{command}");
        assert!(
            stdout(&out).contains(&format!("berth {command}")),
            "{command}"
        );
    }
}

#[test]
fn bad_flags_are_usage_errors_with_status_125() {
    let out = berth(&["run", "--frobnicate", "busybox"]);
    assert_eq!(out.status.code(), Some(125));
    let text = stderr(&out);
    assert!(
        text.starts_with("berth: unknown flag: --frobnicate\n"),
        "{text}"
    );
    assert!(
        text.contains("Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"),
        "{text}"
    );
    assert!(
        text.contains("Run 'berth run --help' for more information"),
        "{text}"
    );

    let out = berth(&["run", "--ulimit", "nofile=1", "busybox"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("--ulimit is not supported by berth yet"));

    // A bad -p is refused before the daemon is asked, in docker's words.
    let (_dir, host) = absent_daemon();
    let out = berth(&["-H", &host, "run", "-p", "80:80/xyz", "busybox"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        "berth: invalid proto: xyz\n\nRun 'berth run --help' for more information\n"
    );

    // Content trust: off is docker's default and accepted; on is refused by name.
    let out = berth(&[
        "-H",
        &host,
        "run",
        "--disable-content-trust=false",
        "busybox",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).starts_with(
            "berth: content trust (--disable-content-trust=false) is not supported by berth yet\n"
        ),
        "{}",
        stderr(&out)
    );
    let out = berth(&["-H", &host, "run", "--disable-content-trust", "busybox"]);
    assert!(
        !stderr(&out).contains("content trust"),
        "accepted, then the absent daemon is the problem: {}",
        stderr(&out)
    );

    let out = berth(&["run", "-m", "lots", "busybox"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("invalid size: 'lots'"));
}

#[test]
fn later_commands_and_global_flags_are_refused_by_name() {
    let out = berth(&["swarm", "init"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        "berth: 'berth swarm' is not supported by berth yet\n"
    );

    let out = berth(&["--context", "remote", "ps"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("--context is not supported by berth yet"));

    let out = berth(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("berth: unknown command: berth frobnicate"));
}

#[test]
fn an_absent_daemon_is_reported_like_docker_reports_it() {
    let (_dir, host) = absent_daemon();
    let out = berth(&["-H", &host, "ps"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("Cannot connect to the berth daemon at {host}. Is the berth daemon running?\n")
    );
    let out = berth(&["-H", &host, "run", "busybox"]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "run fails with 125 when the daemon does"
    );
    assert!(stderr(&out).starts_with("berth: Cannot connect to the berth daemon"));

    // BERTH_HOST wins over DOCKER_HOST.
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("ps")
        .env("BERTH_HOST", &host)
        .env("DOCKER_HOST", "unix:///elsewhere.sock")
        .output()
        .unwrap();
    assert!(stderr(&out).contains(&host));

    let out = berth(&["-H", "tcp://127.0.0.1:2375", "ps"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("unix socket"));
}

#[test]
fn version_flag_and_man_pages() {
    let out = berth(&["-v"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("berth version "));

    let dir = tempfile::tempdir().unwrap();
    let out = berth(&["__man", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for page in [
        "berth.1",
        "berth-run.1",
        "berth-ps.1",
        "berth-image-inspect.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
    // The run/create flags that came later are in the pages and the help alike.
    let run_page = std::fs::read_to_string(dir.path().join("berth-run.1")).unwrap();
    let help = stdout(&berth(&["run", "--help"]));
    for flag in [
        "health-cmd",
        "no-healthcheck",
        "volumes-from",
        "memory-swap",
        "cpu-shares",
        "log-opt",
        "cidfile",
        "attach",
    ] {
        assert!(
            run_page.contains(&flag.replace('-', "\\-")),
            "{flag} in berth-run.1"
        );
        assert!(help.contains(&format!("--{flag}")), "{flag} in run --help");
    }
}

#[test]
fn network_and_port_commands_have_help_man_pages_and_usage_errors() {
    let out = berth(&["network", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    for sub in [
        "create",
        "ls",
        "inspect",
        "rm",
        "prune",
        "connect",
        "disconnect",
    ] {
        assert!(stdout(&out).contains(&format!("  {sub} ")), "{sub}");
    }
    let out = berth(&["port", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("berth port CONTAINER [PRIVATE_PORT[/PROTO]]"));

    let out = berth(&["network", "connect", "onlyone"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out)
            .contains("'berth network connect' requires arguments that were not given: CONTAINER"),
        "{}",
        stderr(&out)
    );
    let out = berth(&["network", "frob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("berth: unknown command: berth network frob"));

    let (_dir, host) = absent_daemon();
    let out = berth(&["-H", &host, "network", "ls"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("Cannot connect to the berth daemon"));

    let dir = tempfile::tempdir().unwrap();
    let out = berth(&["__man", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for page in [
        "berth-network.1",
        "berth-network-create.1",
        "berth-network-connect.1",
        "berth-port.1",
        "berth-container-port.1",
        "berth-volume-create.1",
        "berth-volume-prune.1",
        "berth-build.1",
        "berth-image-build.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
    let create = std::fs::read_to_string(dir.path().join("berth-network-create.1")).unwrap();
    assert!(create.contains("\\-\\-subnet"), "{create}");
    let run = std::fs::read_to_string(dir.path().join("berth-run.1")).unwrap();
    assert!(run.contains("\\-\\-publish"));
}
