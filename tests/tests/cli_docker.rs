//! The seed's commands through the real docker CLI (v28) with DOCKER_HOST pointing at berthd:
//! info, run, run -d --name, create + start, ps, ps -a, ps -l, stop, kill, logs, rm, inspect.

use berth_tests::{assert_info_of_one_running_one_stopped, is_full_id, Daemon, PS_HEADER_WORDS};

#[test]
fn docker_version_and_info() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let version = d.docker(&["version"]).ok();
    assert!(version.stdout.contains("Server:"), "{version}");
    let api = d.api("GET", "/version", None).json();
    let api_version = api["ApiVersion"].as_str().unwrap();
    assert!(version.stdout.contains(api_version), "{version}");

    d.run_detached(&["--name", "up", "busybox", "sleep", "1000"]);
    d.berth(&["create", "--name", "idle", "busybox", "true"])
        .ok();
    let info = d.docker(&["info"]).ok();
    assert_info_of_one_running_one_stopped(&info, &d.data_root);
}

#[test]
fn docker_run_foreground_and_exit_codes() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hello"]).ok();
    assert_eq!(out.stdout, "hello\n");
    assert!(d.container_ids().is_empty(), "--rm removed it");

    let out = d
        .docker(&[
            "run",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ])
        .code(3);
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");

    d.docker(&["run", "--rm", "busybox", "/no/such/binary"])
        .code(127);
    d.docker(&["run", "--rm", "busybox", "/etc/passwd"])
        .code(126);
}

#[test]
fn docker_run_detached_with_a_name_then_ps() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d
        .docker(&["run", "-d", "--name", "web", "busybox", "sleep", "1000"])
        .ok();
    let id = out.out().to_owned();
    assert!(is_full_id(&id), "{out}");
    assert_eq!(d.state("web"), "running");

    let ps = d.docker(&["ps"]).ok();
    let lines = ps.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        PS_HEADER_WORDS,
        "{ps}"
    );
    assert_eq!(lines.len(), 2, "{ps}");
    assert!(lines[1].starts_with(&id[..12]), "{ps}");
    assert!(lines[1].ends_with("web"), "{ps}");
    assert!(lines[1].contains("Up "), "{ps}");
}

#[test]
fn docker_ps_all_and_last() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&["run", "-d", "--name", "running", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["run", "--name", "done", "busybox", "true"]).ok();
    d.docker(&["create", "--name", "newest", "busybox", "true"])
        .ok();

    let names = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["ps"];
        full.extend_from_slice(args);
        full.extend(["--format", "{{.Names}}"]);
        d.docker(&full)
            .ok()
            .lines()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    assert_eq!(names(&[]), ["running"]);
    assert_eq!(names(&["-a"]), ["newest", "done", "running"]);
    assert_eq!(names(&["-l"]), ["newest"]);
    let all = d.docker(&["ps", "-a"]).ok();
    assert!(all.stdout.contains("Exited (0)"), "{all}");
    assert!(all.stdout.contains("Created"), "{all}");
}

#[test]
fn docker_create_then_start() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d
        .docker(&["create", "--name", "cc", "busybox", "echo", "hi"])
        .ok();
    assert!(is_full_id(out.out()), "{out}");
    assert_eq!(d.state("cc"), "created");
    assert_eq!(d.docker(&["start", "cc"]).ok().out(), "cc");
    assert_eq!(d.docker(&["wait", "cc"]).ok().out(), "0");
    assert_eq!(d.docker(&["logs", "cc"]).ok().stdout, "hi\n");
}

#[test]
fn docker_start_attach_runs_a_stopped_container_again_and_streams_it() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&["run", "--name", "again", "busybox", "echo", "hi"])
        .ok();
    // The CLI attaches to the stopped container first, then starts it.
    assert_eq!(d.docker(&["start", "-a", "again"]).ok().stdout, "hi\n");
    assert_eq!(d.logs("again").0, "hi\nhi\n");
}

#[test]
fn docker_stop_and_kill() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done",
    ])
    .ok();
    d.wait_for_output("polite", "ready");
    assert_eq!(d.docker(&["stop", "polite"]).ok().out(), "polite");
    assert_eq!(d.inspect("polite")["State"]["ExitCode"], 0);

    d.docker(&["run", "-d", "--name", "victim", "busybox", "sleep", "1000"])
        .ok();
    assert_eq!(d.docker(&["kill", "victim"]).ok().out(), "victim");
    assert_eq!(d.docker(&["wait", "victim"]).ok().out(), "137");
    let state = &d.inspect("victim")["State"];
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], 137);
}

#[test]
fn docker_logs() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two; echo three >&2",
    ])
    .ok();
    let logs = d.docker(&["logs", "talk"]).ok();
    assert_eq!(logs.stdout, "one\ntwo\n");
    assert_eq!(logs.stderr, "three\n");
    let stamped = d.docker(&["logs", "-t", "talk"]).ok();
    for line in stamped.lines() {
        let (stamp, _) = line.split_once(' ').unwrap();
        chrono::DateTime::parse_from_rfc3339(stamp).unwrap_or_else(|e| panic!("{stamp}: {e}"));
    }
}

#[test]
fn docker_rm() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&["run", "--name", "old", "busybox", "true"]).ok();
    assert_eq!(d.docker(&["rm", "old"]).ok().out(), "old");
    d.docker(&["run", "-d", "--name", "busy", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["rm", "busy"]).code(1);
    assert_eq!(d.docker(&["rm", "-f", "busy"]).ok().out(), "busy");
    assert!(d.container_ids().is_empty());
    d.docker(&["rm", "nosuch"])
        .code(1)
        .stderr_has("No such container: nosuch");
}

#[test]
fn docker_inspect() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&[
        "run", "-d", "--name", "web", "-l", "role=web", "busybox", "sleep", "1000",
    ])
    .ok();
    let out = d.docker(&["inspect", "web"]).ok();
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("inspect prints JSON ({e}):\n{out}"));
    let c = &json[0];
    assert_eq!(c["Name"], "/web");
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["Config"]["Labels"]["role"], "web");
    assert_eq!(c["Config"]["Cmd"], serde_json::json!(["sleep", "1000"]));
    assert_eq!(
        d.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Config.Image}}",
            "web"
        ])
        .ok()
        .out(),
        "running busybox"
    );
    // Without --type, docker inspect also finds images.
    let image = d
        .docker(&["inspect", "-f", "{{.RepoTags}}", "busybox"])
        .ok();
    assert_eq!(image.out(), "[busybox:latest]");
}

#[test]
fn docker_images_and_import() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let tar = berth_tests::busybox_tar().to_str().unwrap().to_owned();
    let out = d.docker(&["import", &tar, "imported:1"]).ok();
    assert!(out.out().starts_with("sha256:"), "{out}");
    let images = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert_eq!(images.lines(), ["imported:1"]);
    d.docker(&["run", "--rm", "imported:1", "true"]).ok();
}
