//! berth's own surface: finding the daemon, help for every command, man pages, usage errors,
//! version and info.

use std::process::Command;

use berth_tests::{assert_info_of_one_running_one_stopped, binary, run_command, Daemon};

/// Every command issue 2 asks for, as typed after `berth`.
const COMMANDS: &[&[&str]] = &[
    &["create"],
    &["start"],
    &["run"],
    &["ps"],
    &["stop"],
    &["kill"],
    &["rm"],
    &["wait"],
    &["restart"],
    &["rename"],
    &["inspect"],
    &["logs"],
    &["info"],
    &["version"],
    &["import"],
    &["images"],
    &["rmi"],
    &["tag"],
    &["image", "inspect"],
];

/// `berth ARGS...` with no daemon address in the environment.
fn bare_berth(args: &[&str]) -> Command {
    let mut cmd = Command::new(binary("berth"));
    cmd.args(args)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST");
    cmd
}

#[test]
fn help_lists_the_commands() {
    let out = run_command(bare_berth(&["help"]), None).ok();
    for command in COMMANDS {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{} ", command[0]))),
            "{} is not listed:\n{out}",
            command[0]
        );
    }
    let long = run_command(bare_berth(&["--help"]), None).ok();
    assert!(long.stdout.contains("run"), "{long}");
}

#[test]
fn every_command_has_help() {
    for command in COMMANDS {
        let mut args = command.to_vec();
        args.push("--help");
        let out = run_command(bare_berth(&args), None).ok();
        let usage = format!("berth {}", command.join(" "));
        assert!(
            out.stdout.contains("Usage") && out.stdout.contains(&usage),
            "no usage line for `{usage}`:\n{out}"
        );
    }
}

#[test]
fn run_help_names_every_flag() {
    let out = run_command(bare_berth(&["run", "--help"]), None).ok();
    for flag in [
        "--name",
        "-d",
        "--detach",
        "--rm",
        "-e",
        "--env",
        "--env-file",
        "-w",
        "--workdir",
        "-u",
        "--user",
        "-h",
        "--hostname",
        "--entrypoint",
        "-l",
        "--label",
        "-v",
        "--volume",
        "--mount",
        "--tmpfs",
        "--read-only",
        "-m",
        "--memory",
        "--cpus",
        "--pids-limit",
        "--network",
        "--cap-add",
        "--cap-drop",
        "--privileged",
        "--security-opt",
        "--restart",
        "--init",
    ] {
        let shown = out
            .stdout
            .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[')
            .any(|word| word == flag);
        assert!(shown, "{flag} missing from run --help:\n{out}");
    }
}

#[test]
fn man_pages_are_generated_and_render() {
    let dir = tempfile::tempdir().unwrap();
    let man1 = dir.path().join("man1");
    std::fs::create_dir(&man1).unwrap();
    run_command(bare_berth(&["__man", man1.to_str().unwrap()]), None).ok();
    for page in [
        "berth.1",
        "berth-run.1",
        "berth-ps.1",
        "berth-import.1",
        "berth-logs.1",
    ] {
        assert!(man1.join(page).is_file(), "{page} was not written");
    }
    let mut man = Command::new("man");
    man.args(["-M", dir.path().to_str().unwrap(), "berth-run"])
        .env("LC_ALL", "C")
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100");
    let page = run_command(man, None).ok();
    assert!(page.stdout.contains("pids-limit"), "{page}");
    assert!(page.stdout.to_lowercase().contains("berth-run"), "{page}");
}

#[test]
fn bad_flags_exit_125() {
    for args in [
        &["--no-such-global-flag", "ps"][..],
        &["ps", "--bogus"],
        &["run", "--bogus", "x"],
    ] {
        let out = run_command(bare_berth(args), None).code(125);
        assert!(
            out.stderr.contains("bogus") || out.stderr.contains("no-such-global-flag"),
            "{out}"
        );
    }
}

#[test]
fn the_daemon_is_found_by_flag_then_berth_host_then_docker_host() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let nowhere = "unix:///nonexistent/berth-tests.sock";

    let mut cmd = bare_berth(&["-H", &d.host(), "version"]);
    cmd.env("BERTH_HOST", nowhere).env("DOCKER_HOST", nowhere);
    run_command(cmd, None).ok();

    let mut cmd = bare_berth(&["--host", &d.host(), "version"]);
    cmd.env("BERTH_HOST", nowhere);
    run_command(cmd, None).ok();

    let mut cmd = bare_berth(&["version"]);
    cmd.env("BERTH_HOST", d.host()).env("DOCKER_HOST", nowhere);
    run_command(cmd, None).ok();

    let mut cmd = bare_berth(&["version"]);
    cmd.env("DOCKER_HOST", d.host());
    run_command(cmd, None).ok();

    // BERTH_HOST wins over DOCKER_HOST, so a wrong BERTH_HOST fails.
    let mut cmd = bare_berth(&["ps"]);
    cmd.env("BERTH_HOST", nowhere).env("DOCKER_HOST", d.host());
    run_command(cmd, None)
        .fails()
        .stderr_has("/nonexistent/berth-tests.sock");
}

#[test]
fn an_unreachable_daemon_is_a_clear_error() {
    berth_tests::needs_root!();
    let nowhere = "unix:///nonexistent/berth-tests.sock";
    let mut cmd = bare_berth(&["ps"]);
    cmd.env("BERTH_HOST", nowhere);
    run_command(cmd, None)
        .fails()
        .stderr_has("/nonexistent/berth-tests.sock");
    let mut cmd = bare_berth(&["run", "busybox", "true"]);
    cmd.env("BERTH_HOST", nowhere);
    run_command(cmd, None)
        .code(125)
        .stderr_has("/nonexistent/berth-tests.sock");
}

#[test]
fn version_shows_client_and_server() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let out = d.berth(&["version"]).ok();
    assert!(out.stdout.contains("Client"), "{out}");
    assert!(out.stdout.contains("Server"), "{out}");
    let api = d.api("GET", "/version", None).json();
    assert!(
        out.stdout.contains(api["ApiVersion"].as_str().unwrap()),
        "{out}"
    );
}

#[test]
fn info_shows_what_docker_shows() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "up", "busybox", "sleep", "1000"]);
    d.berth(&["run", "--name", "down", "busybox", "true"]).ok();
    let info = d.berth(&["info"]).ok();
    assert_info_of_one_running_one_stopped(&info, &d.data_root);
}
