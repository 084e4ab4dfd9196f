//! The container lifecycle through `berth`: create, start, run, ps, stop, kill, rm, wait,
//! restart, rename, inspect and logs, with Docker's output and exit codes.

use berth_tests::{eventually, is_full_id, Daemon, PS_HEADER_WORDS};

/// A container that prints "ready" once its TERM trap is set, then idles; SIGTERM ends it with
/// code 7. Waiting for "ready" avoids racing a signal against the trap being installed.
const TRAP_TERM: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 7' TERM; echo ready; while true; do sleep 0.1; done",
];

fn with_args<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(tail).copied().collect()
}

#[test]
fn run_prints_the_output_and_exits_zero() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d.berth(&["run", "busybox", "echo", "hello"]).ok();
    assert_eq!(out.stdout, "hello\n");
}

#[test]
fn run_exits_with_the_container_exit_code() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&["run", "busybox", "sh", "-c", "exit 3"]).code(3);
    d.berth(&["run", "busybox", "false"]).code(1);
}

#[test]
fn run_keeps_stdout_and_stderr_apart() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d
        .berth(&["run", "busybox", "sh", "-c", "echo to-out; echo to-err >&2"])
        .ok();
    assert_eq!(out.stdout, "to-out\n");
    assert_eq!(out.stderr, "to-err\n");
}

#[test]
fn run_rm_removes_the_container_after_it_exits() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "run", "--rm", "--name", "gone", "busybox", "sh", "-c", "exit 4",
    ])
    .code(4);
    let response = d.api("GET", "/containers/gone/json", None);
    assert_eq!(response.status, 404, "{response}");
    assert!(d.container_ids().is_empty());
}

#[test]
fn run_detached_prints_the_id_and_the_container_keeps_running() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let id = d.run_detached(&["--name", "web", "busybox", "sleep", "1000"]);
    let inspect = d.inspect("web");
    assert_eq!(inspect["Id"], id.as_str());
    assert_eq!(inspect["Name"], "/web");
    assert_eq!(inspect["State"]["Status"], "running");
    assert_eq!(inspect["State"]["Running"], true);
}

#[test]
fn create_then_start() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d
        .berth(&["create", "--name", "later", "busybox", "echo", "started"])
        .ok();
    let id = out.out();
    assert!(is_full_id(id), "create prints the full ID:\n{out}");
    assert_eq!(d.state("later"), "created");
    assert!(!d.berth(&["ps", "-q"]).ok().stdout.contains(&id[..12]));

    let started = d.berth(&["start", "later"]).ok();
    assert_eq!(started.out(), "later");
    assert_eq!(d.berth(&["wait", "later"]).ok().out(), "0");
    assert_eq!(d.state("later"), "exited");
    assert_eq!(d.logs("later").0, "started\n");
}

#[test]
fn ps_shows_docker_columns_and_only_running_containers() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let up = d.run_detached(&["--name", "up", "busybox", "sleep", "1000"]);
    d.berth(&["create", "--name", "idle", "busybox", "true"])
        .ok();

    let out = d.berth(&["ps"]).ok();
    let lines = out.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        PS_HEADER_WORDS,
        "{out}"
    );
    assert_eq!(
        lines.len(),
        2,
        "only the running container is listed:\n{out}"
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], &up[..12], "{out}");
    assert_eq!(row[1], "busybox", "{out}");
    assert_eq!(row.last(), Some(&"up"), "{out}");
    assert!(lines[1].contains("\"sleep 1000\""), "{out}");
    assert!(lines[1].contains("Up "), "{out}");

    let all = d.berth(&["ps", "-a"]).ok();
    assert_eq!(all.lines().len(), 3, "{all}");
    assert!(all.stdout.contains("Created"), "{all}");
}

#[test]
fn ps_quiet_all_last_and_count() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let first = d.run_detached(&["--name", "first", "busybox", "sleep", "1000"]);
    let second = d
        .berth(&["create", "--name", "second", "busybox", "true"])
        .ok();
    let second = second.out().to_owned();
    let third = d
        .berth(&["create", "--name", "third", "busybox", "true"])
        .ok();
    let third = third.out().to_owned();

    assert_eq!(d.berth(&["ps", "-q"]).ok().lines(), [&first[..12]]);
    // Newest first, as Docker lists them.
    assert_eq!(
        d.berth(&["ps", "-aq"]).ok().lines(),
        [&third[..12], &second[..12], &first[..12]]
    );
    assert_eq!(
        d.berth(&["ps", "-a", "-q", "--no-trunc"]).ok().lines(),
        [third.as_str(), second.as_str(), first.as_str()]
    );
    // -l and -n include containers in every state.
    assert_eq!(d.berth(&["ps", "-l", "-q"]).ok().lines(), [&third[..12]]);
    assert_eq!(
        d.berth(&["ps", "-n", "2", "-q"]).ok().lines(),
        [&third[..12], &second[..12]]
    );
}

#[test]
fn ps_no_trunc_shows_full_ids_and_commands() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let long_arg = "a-rather-long-argument-that-docker-would-truncate-in-the-table";
    // sh names its script after the argument that follows it ($0), so it can be anything.
    let id = d.run_detached(&["busybox", "sh", "-c", "sleep 1000", long_arg]);
    let short = d.berth(&["ps"]).ok();
    assert!(!short.stdout.contains(&id), "{short}");
    assert!(!short.stdout.contains(long_arg), "{short}");
    let full = d.berth(&["ps", "--no-trunc"]).ok();
    assert!(full.stdout.contains(&id), "{full}");
    assert!(full.stdout.contains(long_arg), "{full}");
}

#[test]
fn ps_filters() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let front = d.run_detached(&[
        "--name",
        "front",
        "-l",
        "tier=front",
        "busybox",
        "sleep",
        "1000",
    ]);
    let back = d
        .berth(&[
            "create",
            "--name",
            "back",
            "-l",
            "tier=back",
            "busybox",
            "true",
        ])
        .ok()
        .out()
        .to_owned();
    d.berth(&["run", "--name", "failed", "busybox", "sh", "-c", "exit 2"])
        .code(2);
    let failed = d.inspect("failed")["Id"].as_str().unwrap().to_owned();

    let names = |filter: &str| -> Vec<String> {
        let out = d
            .berth(&["ps", "-a", "-f", filter, "--format", "{{.Names}}"])
            .ok();
        let mut names: Vec<String> = out.lines().iter().map(|s| s.to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(names("name=front"), ["front"]);
    assert_eq!(names("status=exited"), ["failed"]);
    assert_eq!(names("status=created"), ["back"]);
    assert_eq!(names("status=running"), ["front"]);
    assert_eq!(names("label=tier=front"), ["front"]);
    assert_eq!(names("label=tier"), ["back", "front"]);
    assert_eq!(names(&format!("id={}", &back[..10])), ["back"]);
    assert_eq!(names(&format!("id={failed}")), ["failed"]);
    assert_eq!(names(&format!("id={front}")), ["front"]);
}

#[test]
fn ps_format_templates() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let id = d.run_detached(&["--name", "fmt", "-l", "k=v", "busybox", "sleep", "1000"]);
    d.berth(&["run", "--name", "exited3", "busybox", "sh", "-c", "exit 3"])
        .code(3);

    let out = d
        .berth(&["ps", "--format", "{{.ID}} {{.Names}} {{.Image}}"])
        .ok();
    assert_eq!(out.lines(), [format!("{} fmt busybox", &id[..12])]);

    let status = d
        .berth(&["ps", "-a", "-f", "name=exited3", "--format", "{{.Status}}"])
        .ok();
    assert!(status.out().starts_with("Exited (3)"), "{status}");
    let status = d.berth(&["ps", "--format", "{{.Status}}"]).ok();
    assert!(status.out().starts_with("Up"), "{status}");

    let json = d.berth(&["ps", "--format", "{{json .}}"]).ok();
    let row: serde_json::Value = serde_json::from_str(json.out())
        .unwrap_or_else(|e| panic!("{{{{json .}}}} is not JSON ({e}):\n{json}"));
    assert_eq!(row["ID"], &id[..12]);
    assert_eq!(row["Names"], "fmt");
    assert_eq!(row["Image"], "busybox");
    assert_eq!(row["Labels"], "k=v");
    assert_eq!(row["State"], "running");

    let table = d
        .berth(&["ps", "--format", "table {{.Names}}\t{{.Image}}"])
        .ok();
    let lines = table.lines();
    assert_eq!(lines.len(), 2, "{table}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAMES", "IMAGE"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["fmt", "busybox"]
    );
}

#[test]
fn stop_sends_sigterm_first() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&with_args(&["--name", "polite", "busybox"], TRAP_TERM));
    d.wait_for_output("polite", "ready");
    assert_eq!(d.berth(&["stop", "polite"]).ok().out(), "polite");
    let state = &d.inspect("polite")["State"];
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], 7, "the TERM trap ran: {state}");
}

#[test]
fn stop_kills_after_the_grace_period() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // sleep as PID 1 has no handler for SIGTERM, so the kernel ignores it.
    d.run_detached(&["--name", "stubborn", "busybox", "sleep", "1000"]);
    d.berth(&["stop", "-t", "1", "stubborn"]).ok();
    let state = &d.inspect("stubborn")["State"];
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], 137, "{state}");
}

#[test]
fn stop_sends_the_images_stop_signal() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let tar = berth_tests::busybox_tar().to_str().unwrap().to_owned();
    d.berth(&[
        "import",
        "--change",
        "STOPSIGNAL SIGUSR1",
        &tar,
        "usr1-stops",
    ])
    .ok();
    let image = d.api("GET", "/images/usr1-stops/json", None).json();
    assert_eq!(image["Config"]["StopSignal"], "SIGUSR1", "{image}");
    d.run_detached(&[
        "--name",
        "by-usr1",
        "usr1-stops",
        "sh",
        "-c",
        "trap 'exit 10' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    d.wait_for_output("by-usr1", "ready");
    // sh as PID 1 ignores SIGTERM, and SIGKILL would give 137: 10 means SIGUSR1 was sent.
    d.berth(&["stop", "-t", "30", "by-usr1"]).ok();
    assert_eq!(d.inspect("by-usr1")["State"]["ExitCode"], 10);
}

#[test]
fn kill_sends_sigkill_by_default_and_the_named_signal_with_s() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "victim", "busybox", "sleep", "1000"]);
    assert_eq!(d.berth(&["kill", "victim"]).ok().out(), "victim");
    assert_eq!(d.berth(&["wait", "victim"]).ok().out(), "137");

    let usr1 = [
        "sh",
        "-c",
        "trap 'exit 10' USR1; echo ready; while true; do sleep 0.1; done",
    ];
    d.run_detached(&with_args(&["--name", "u1", "busybox"], &usr1));
    d.wait_for_output("u1", "ready");
    d.berth(&["kill", "-s", "USR1", "u1"]).ok();
    assert_eq!(d.berth(&["wait", "u1"]).ok().out(), "10");

    let usr2 = [
        "sh",
        "-c",
        "trap 'exit 12' USR2; echo ready; while true; do sleep 0.1; done",
    ];
    d.run_detached(&with_args(&["--name", "u2", "busybox"], &usr2));
    d.wait_for_output("u2", "ready");
    d.berth(&["kill", "--signal", "SIGUSR2", "u2"]).ok();
    assert_eq!(d.berth(&["wait", "u2"]).ok().out(), "12");
}

#[test]
fn rm_refuses_a_running_container_unless_forced() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "busy", "busybox", "sleep", "1000"]);
    d.berth(&["rm", "busy"]).code(1);
    assert_eq!(d.state("busy"), "running");
    assert_eq!(d.berth(&["rm", "-f", "busy"]).ok().out(), "busy");
    assert_eq!(d.api("GET", "/containers/busy/json", None).status, 404);

    d.berth(&["create", "--name", "stopped", "busybox", "true"])
        .ok();
    assert_eq!(d.berth(&["rm", "stopped"]).ok().out(), "stopped");
    assert!(d.container_ids().is_empty());

    d.berth(&["rm", "nosuch"])
        .code(1)
        .stderr_has("No such container: nosuch");
}

#[test]
fn a_removed_name_can_be_used_again() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&["run", "--name", "again", "busybox", "true"]).ok();
    d.berth(&["rm", "again"]).ok();
    d.berth(&["run", "--name", "again", "busybox", "echo", "second"])
        .ok()
        .stdout_has("second");
}

#[test]
fn wait_prints_the_exit_code() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "five", "busybox", "sh", "-c", "sleep 0.2; exit 5"]);
    assert_eq!(d.berth(&["wait", "five"]).ok().out(), "5");
    // Waiting for a container that has already exited returns at once with its code.
    assert_eq!(d.berth(&["wait", "five"]).ok().out(), "5");
}

#[test]
fn restart_runs_the_command_again() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&with_args(&["--name", "again", "busybox"], TRAP_TERM));
    d.wait_for_output("again", "ready");
    let first_pid = d.container_pid("again");
    assert_eq!(d.berth(&["restart", "again"]).ok().out(), "again");
    eventually("the restarted container to print ready again", || {
        d.logs("again").0.matches("ready").count() == 2
    });
    assert_eq!(d.state("again"), "running");
    assert_ne!(d.container_pid("again"), first_pid);

    // A stopped container is started by restart.
    d.berth(&["stop", "again"]).ok();
    d.berth(&["restart", "-t", "1", "again"]).ok();
    assert_eq!(d.state("again"), "running");
}

#[test]
fn rename_changes_the_name() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let id = d
        .berth(&["create", "--name", "old", "busybox", "true"])
        .ok();
    d.berth(&["rename", "old", "new"]).ok();
    let inspect = d.inspect("new");
    assert_eq!(inspect["Name"], "/new");
    assert_eq!(inspect["Id"], id.out());
    assert_eq!(d.api("GET", "/containers/old/json", None).status, 404);

    d.berth(&["create", "--name", "taken", "busybox", "true"])
        .ok();
    d.berth(&["rename", "new", "taken"]).fails();
    assert_eq!(d.inspect("new")["Id"], id.out());
}

#[test]
fn inspect_prints_docker_json_and_go_templates() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "run",
        "--name",
        "insp",
        "-e",
        "FOO=bar",
        "-l",
        "team=core",
        "busybox",
        "sh",
        "-c",
        "exit 4",
    ])
    .code(4);
    let out = d.berth(&["inspect", "insp"]).ok();
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("inspect prints JSON ({e}):\n{out}"));
    let list = json.as_array().expect("inspect prints an array");
    assert_eq!(list.len(), 1);
    let c = &list[0];
    assert!(is_full_id(c["Id"].as_str().unwrap_or_default()), "{c}");
    assert_eq!(c["Name"], "/insp");
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["ExitCode"], 4);
    assert_eq!(c["Config"]["Image"], "busybox");
    assert_eq!(
        c["Config"]["Cmd"],
        serde_json::json!(["sh", "-c", "exit 4"])
    );
    assert_eq!(c["Config"]["Labels"]["team"], "core");
    assert!(
        c["Config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "FOO=bar"),
        "{c}"
    );
    assert!(
        c["Image"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sha256:"),
        "{c}"
    );
    assert!(c["HostConfig"].is_object(), "{c}");
    assert!(c["Created"].as_str().is_some(), "{c}");

    let code = d
        .berth(&["inspect", "-f", "{{.State.ExitCode}}", "insp"])
        .ok();
    assert_eq!(code.out(), "4");
    let name = d.berth(&["inspect", "--format", "{{.Name}}", "insp"]).ok();
    assert_eq!(name.out(), "/insp");
    let config = d.berth(&["inspect", "-f", "{{json .Config}}", "insp"]).ok();
    let config: serde_json::Value = serde_json::from_str(config.out())
        .unwrap_or_else(|e| panic!("{{{{json .Config}}}} is JSON ({e}):\n{config}"));
    assert_eq!(config["Labels"]["team"], "core");

    d.berth(&["create", "--name", "other", "busybox", "true"])
        .ok();
    let two = d.berth(&["inspect", "insp", "other"]).ok();
    let two: serde_json::Value = serde_json::from_str(&two.stdout).unwrap();
    assert_eq!(two.as_array().map(Vec::len), Some(2));

    d.berth(&["inspect", "nosuch"]).code(1).stderr_has("nosuch");
}

#[test]
fn logs_separates_streams_and_tails() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "run",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2",
    ])
    .ok();
    let all = d.berth(&["logs", "talk"]).ok();
    assert_eq!(all.stdout, "line1\nline2\nline3\nline4\nline5\n");
    assert_eq!(all.stderr, "oops\n");

    d.berth(&[
        "run",
        "--name",
        "count",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo $i; done",
    ])
    .ok();
    assert_eq!(
        d.berth(&["logs", "--tail", "2", "count"]).ok().stdout,
        "4\n5\n"
    );
    assert_eq!(d.berth(&["logs", "--tail", "0", "count"]).ok().stdout, "");
    assert_eq!(
        d.berth(&["logs", "--tail", "all", "count"]).ok().stdout,
        "1\n2\n3\n4\n5\n"
    );
}

fn parse_timestamped(line: &str) -> (chrono::DateTime<chrono::FixedOffset>, &str) {
    let (stamp, text) = line
        .split_once(' ')
        .unwrap_or_else(|| panic!("no timestamp on {line:?}"));
    let stamp = chrono::DateTime::parse_from_rfc3339(stamp)
        .unwrap_or_else(|e| panic!("{stamp:?} is not RFC 3339 ({e})"));
    (stamp, text)
}

#[test]
fn logs_timestamps_since_and_until() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "run",
        "--name",
        "slow",
        "busybox",
        "sh",
        "-c",
        "echo early; sleep 1.5; echo late",
    ])
    .ok();
    let stamped = d.berth(&["logs", "-t", "slow"]).ok();
    let lines = stamped.lines();
    assert_eq!(lines.len(), 2, "{stamped}");
    let (early, early_text) = parse_timestamped(lines[0]);
    let (late, late_text) = parse_timestamped(lines[1]);
    assert_eq!((early_text, late_text), ("early", "late"));
    assert!(early < late, "{stamped}");

    let middle = early + (late - early) / 2;
    // Docker takes RFC 3339 and Unix seconds with a fraction; one of each.
    let middle_rfc3339 = middle.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let middle_unix = format!(
        "{}.{:09}",
        middle.timestamp(),
        middle.timestamp_subsec_nanos()
    );
    assert_eq!(
        d.berth(&["logs", "--since", &middle_rfc3339, "slow"])
            .ok()
            .stdout,
        "late\n"
    );
    assert_eq!(
        d.berth(&["logs", "--until", &middle_unix, "slow"])
            .ok()
            .stdout,
        "early\n"
    );
    assert_eq!(
        d.berth(&["logs", "--since", "1h", "slow"]).ok().stdout,
        "early\nlate\n"
    );
}

#[test]
fn exit_code_127_when_the_command_is_not_found() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d.berth(&["run", "busybox", "/no/such/binary"]).code(127);
    assert!(!out.stderr.is_empty(), "{out}");
    d.berth(&["run", "busybox", "nosuchcommand"]).code(127);
}

#[test]
fn exit_code_126_when_the_command_cannot_be_invoked() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d.berth(&["run", "busybox", "/etc/passwd"]).code(126);
    assert!(!out.stderr.is_empty(), "{out}");
}

#[test]
fn run_rm_removes_a_container_that_failed_to_start() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&["run", "--rm", "busybox", "/no/such/binary"])
        .code(127);
    d.berth(&["run", "--rm", "busybox", "/etc/passwd"])
        .code(126);
    assert!(
        d.container_ids().is_empty(),
        "--rm removes it even when the start failed"
    );
}

#[test]
fn exit_code_137_when_a_foreground_container_is_killed() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let foreground = d.berth_background(&["run", "--name", "fg", "busybox", "sleep", "1000"]);
    eventually("fg to run", || {
        d.api("GET", "/containers/fg/json", None).status == 200 && d.state("fg") == "running"
    });
    d.berth(&["kill", "fg"]).ok();
    foreground.finish().code(137);
}

/// A removed container's directory leaves the containers directory before `rm` answers; its
/// files are deleted in the background from `containers/.trash`, which ends up empty.
#[test]
fn rm_moves_the_directory_out_at_once_and_the_trash_empties() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let id = d.run_detached(&["busybox", "sh", "-c", "echo hi > /written; sleep 1000"]);
    let dir = d.data_root.join("containers").join(&id);
    assert!(dir.is_dir(), "{}", dir.display());
    d.berth(&["rm", "-f", &id]).ok();
    assert!(!dir.exists(), "{} is still there after rm", dir.display());
    let trash = d.data_root.join("containers/.trash");
    eventually("the trash to be emptied", || {
        std::fs::read_dir(&trash).is_ok_and(|mut entries| entries.next().is_none())
    });
}

#[test]
fn inspect_lists_the_running_execs_in_exec_ids() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "host", "busybox", "sleep", "60"]);
    assert!(d.inspect("host")["ExecIDs"].is_null());
    d.berth(&["exec", "host", "true"]).ok();
    eventually("the finished exec to leave ExecIDs", || {
        d.inspect("host")["ExecIDs"].is_null()
    });
    let exec = d.berth_background(&["exec", "host", "sleep", "30"]);
    eventually("the exec to be listed", || {
        d.inspect("host")["ExecIDs"]
            .as_array()
            .is_some_and(|ids| ids.len() == 1)
    });
    d.berth(&["rm", "-f", "host"]).ok();
    drop(exec);
}
