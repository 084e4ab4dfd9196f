//! Watching containers through the real docker CLI (no TTY) and the API: `logs -f`, `top`,
//! `stats`, `pause`/`unpause` and `events`, and the bad input around them.

use std::fs;
use std::process::Command;

use berth_tests::{eventually, status_field, Daemon, Watched};

/// A container that prints `a b c`, waits for `/gate/go` to appear, then prints `d e` and
/// exits. The gate is a host directory, so the test decides when the rest comes.
struct Gated {
    gate: tempfile::TempDir,
}

impl Gated {
    fn run(d: &Daemon, name: &str) -> Gated {
        let gate = tempfile::tempdir().unwrap();
        let volume = format!("{}:/gate", gate.path().display());
        d.docker(&[
            "run",
            "-d",
            "--name",
            name,
            "-v",
            &volume,
            "busybox",
            "sh",
            "-c",
            "echo a; echo b; echo c; while [ ! -e /gate/go ]; do sleep 0.02; done; echo d; echo e",
        ])
        .ok();
        d.wait_for_output(name, "c\n");
        Gated { gate }
    }

    fn open(&self) {
        fs::write(self.gate.path().join("go"), "").unwrap();
    }
}

#[test]
fn logs_follow_with_tail_hands_over_from_the_file_to_live_output() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let gated = Gated::run(&d, "talker");
    let follow = Watched::spawn(d.docker_command(&["logs", "-f", "--tail", "2", "talker"]));
    follow.wait_for("b\nc\n");
    gated.open();
    // It ends by itself when the container exits.
    let out = follow.finish();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "b\nc\nd\ne\n", "{out}");
}

#[test]
fn logs_follow_with_since_shows_only_the_later_lines() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let gated = Gated::run(&d, "talker");
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let follow = Watched::spawn(d.docker_command(&["logs", "-f", "--since", &since, "talker"]));
    gated.open();
    let out = follow.finish();
    assert_eq!(out.stdout, "d\ne\n", "{out}");
}

#[test]
fn logs_follow_started_during_fast_output_neither_repeats_nor_loses_a_line() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "fast",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done; echo done >&2",
    ])
    .ok();
    // Started while the container is printing: part comes from the file, part live.
    let out = d.docker(&["logs", "-f", "fast"]).ok();
    let expected: String = (0..20000).map(|i| format!("line {i}\n")).collect();
    assert!(
        out.stdout == expected,
        "stdout differs: {} bytes",
        out.stdout.len()
    );
    assert_eq!(out.stderr, "done\n");
}

#[test]
fn logs_follow_of_a_stopped_container_ends_after_its_log() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&["run", "--name", "over", "busybox", "echo", "bye"])
        .ok();
    let out = d.docker(&["logs", "-f", "over"]).ok();
    assert_eq!(out.stdout, "bye\n");
}

/// Resident memory of berthd, and its peak, in KiB.
fn memory_kib(d: &Daemon) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let field = |name| {
        status_field(&status, name)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS"), field("VmHWM"))
}

#[test]
fn a_container_printing_100_mb_loses_no_line_and_the_daemon_stays_small() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let (_, peak_before) = memory_kib(&d);
    // 1,048,576 numbered lines of 100 bytes: 100 MiB, printed as fast as awk can.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "flood",
        "busybox",
        "awk",
        "BEGIN { for (i = 1; i <= 1048576; i++) printf \"%07d 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890\\n\", i }",
    ])
    .ok();
    // Followed while it prints: part of it comes from the file, the rest live.
    let follow = Watched::spawn(d.docker_command(&["logs", "-f", "flood"]));
    d.docker(&["wait", "flood"]).ok();
    let follow = follow.finish();
    assert_eq!(follow.code, 0, "{}", follow.stderr);
    let check = |text: &str, what: &str| {
        assert_eq!(text.len(), 1_048_576 * 100, "{what}: total size");
        for (i, line) in text.lines().enumerate() {
            let number: usize = line[..7].parse().unwrap_or(0);
            assert_eq!(number, i + 1, "{what}: line {i} is {line:?}");
        }
    };
    check(&follow.stdout, "logs -f");
    let read_back = d.docker(&["logs", "flood"]).ok();
    check(&read_back.stdout, "logs");
    let (_, peak_after) = memory_kib(&d);
    // Writing and serving 100 MiB must not hold it in memory.
    assert!(
        peak_after < peak_before + 64 * 1024,
        "berthd's peak memory grew from {peak_before} KiB to {peak_after} KiB"
    );
}

#[test]
fn docker_top_lists_the_containers_processes() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "busy", "busybox", "sh", "-c", "sleep 1000 & wait"]);
    // Until the forked child has exec'd, it is a second `sh`.
    eventually("sh and sleep in busy", || {
        d.api("GET", "/containers/busy/top", None).json()["Processes"]
            .as_array()
            .is_some_and(|p| {
                p.len() == 2
                    && p[1].as_array().and_then(|row| row.last()) == Some(&"sleep 1000".into())
            })
    });
    let pid = d.container_pid("busy").to_string();
    // The default listing is read from /proc; `-e -f` asks `ps` for the same columns.
    let stable_columns = |path: &str| -> Vec<Vec<serde_json::Value>> {
        let top = d.api("GET", path, None).json();
        let rows = top["Processes"].as_array().cloned().unwrap_or_default();
        rows.iter()
            .map(|row| [0, 1, 2, 5, 7].iter().map(|&i| row[i].clone()).collect())
            .collect()
    };
    assert_eq!(
        stable_columns("/containers/busy/top"),
        stable_columns("/containers/busy/top?ps_args=-e%20-f")
    );
    let out = d.docker(&["top", "busy"]).ok();
    let lines = out.lines();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[1].contains("sh -c sleep 1000 & wait"), "{out}");
    assert_eq!(lines[1].split_whitespace().nth(1), Some(pid.as_str()));
    assert!(lines[2].contains("sleep 1000"), "{out}");

    let out = d.docker(&["top", "busy", "-o", "pid,comm"]).ok();
    let rows: Vec<Vec<&str>> = out
        .lines()
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["PID", "COMMAND"]);
    assert_eq!(rows[1], [pid.as_str(), "sh"]);
    assert_eq!(rows[2][1], "sleep");

    let out = d.docker(&["top", "busy", "aux"]).ok();
    assert!(out.lines()[0].starts_with("USER"), "{out}");
    assert_eq!(out.lines().len(), 3, "{out}");

    d.docker(&["stop", "-t", "0", "busy"]).ok();
    d.docker(&["top", "busy"])
        .fails()
        .stderr_has("is not running");
}

/// The container's and the host's CPU time between `precpu_stats` and `cpu_stats`.
fn cpu_deltas(stats: &serde_json::Value) -> (u64, u64) {
    let delta = |path: &[&str]| {
        let read = |section: &str| {
            let value = path.iter().fold(&stats[section], |v, key| &v[key]);
            value.as_u64().unwrap_or(0)
        };
        let (before, now) = (read("precpu_stats"), read("cpu_stats"));
        assert!(before > 0 && now >= before, "{path:?}: {stats}");
        now - before
    };
    let system = delta(&["system_cpu_usage"]);
    assert!(system > 0, "no host CPU time between the samples: {stats}");
    (delta(&["cpu_usage", "total_usage"]), system)
}

#[test]
fn docker_stats_no_stream_and_every_field_the_cli_reads() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let id = d.run_detached(&[
        "--name",
        "spin",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    d.run_detached(&["--name", "idle", "busybox", "sleep", "1000"]);
    let out = d.docker(&["stats", "--no-stream"]).ok();
    let lines = out.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "CONTAINER",
            "ID",
            "NAME",
            "CPU",
            "%",
            "MEM",
            "USAGE",
            "/",
            "LIMIT",
            "MEM",
            "%",
            "NET",
            "I/O",
            "BLOCK",
            "I/O",
            "PIDS"
        ]
    );
    assert_eq!(lines.len(), 3, "{out}");
    let spin = lines
        .iter()
        .find(|l| l.contains(" spin "))
        .expect("a spin row");
    assert!(spin.starts_with(&id[..12]), "{out}");
    assert!(spin.contains(" / 64MiB "), "the memory limit: {out}");
    let cpu: f64 = spin
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(cpu > 0.0, "a spinning container uses CPU: {out}");

    let out = d
        .docker(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            "idle",
        ])
        .ok();
    assert_eq!(out.stdout, "idle 1\n");

    let stats = d
        .api("GET", "/containers/spin/stats?stream=false", None)
        .json();
    assert_eq!(stats["name"], "/spin");
    assert_eq!(stats["id"], id.as_str());
    for (section, field) in [
        ("cpu_stats", "system_cpu_usage"),
        ("precpu_stats", "system_cpu_usage"),
        ("cpu_stats", "online_cpus"),
        ("memory_stats", "usage"),
        ("memory_stats", "limit"),
        ("pids_stats", "current"),
    ] {
        assert!(
            stats[section][field].as_u64().unwrap_or(0) > 0,
            "{section}.{field}: {stats}"
        );
    }
    assert!(
        stats["cpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(stats["precpu_stats"]["cpu_usage"]["total_usage"].is_u64());
    assert_eq!(stats["memory_stats"]["limit"], 64 << 20);
    let memory = &stats["memory_stats"]["stats"];
    assert!(
        memory["total_inactive_file"].is_u64() || memory["inactive_file"].is_u64(),
        "{stats}"
    );
    assert!(
        stats["blkio_stats"]["io_service_bytes_recursive"].is_array(),
        "{stats}"
    );

    // Requests that come together, as `docker stats --no-stream` sends one per container,
    // trigger passes close together; the CPU % of each must still span real time, or a busy
    // host shows 0% for a spinning container.
    let usage_deltas: Vec<(u64, u64)> = std::thread::scope(|scope| {
        let requests: Vec<_> = ["spin", "idle", "spin", "idle", "spin"]
            .into_iter()
            .map(|name| {
                let d = &d;
                scope.spawn(move || {
                    d.api(
                        "GET",
                        &format!("/containers/{name}/stats?stream=false"),
                        None,
                    )
                    .json()
                })
            })
            .collect();
        requests
            .into_iter()
            .map(|request| cpu_deltas(&request.join().unwrap()))
            .collect()
    });
    for (i, (container, _)) in usage_deltas.iter().enumerate().step_by(2) {
        assert!(
            *container > 0,
            "spin request {i} used no CPU: {usage_deltas:?}"
        );
    }

    let one_shot = d
        .api(
            "GET",
            "/containers/spin/stats?stream=false&one-shot=true",
            None,
        )
        .json();
    assert_eq!(one_shot["preread"], "0001-01-01T00:00:00Z");
    assert!(
        one_shot["cpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap()
            > 0
    );

    d.docker(&["stop", "-t", "0", "idle"]).ok();
    let stopped = d
        .api("GET", "/containers/idle/stats?stream=false", None)
        .json();
    assert_eq!(stopped["name"], "/idle");
    assert_eq!(stopped["read"], "0001-01-01T00:00:00Z");
}

#[test]
fn stats_network_counters_come_from_the_containers_namespace() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "net", "busybox", "sleep", "1000"]);
    let stats = d
        .api("GET", "/containers/net/stats?stream=false", None)
        .json();
    assert!(stats.get("networks").is_none(), "only loopback: {stats}");
    // A veth pair inside the container's own network namespace: bringing it up makes the
    // kernel send IPv6 neighbour discovery from one end to the other.
    let pid = d.container_pid("net").to_string();
    for args in [
        vec!["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
        vec!["link", "set", "v0", "up"],
        vec!["link", "set", "v1", "up"],
    ] {
        let status = Command::new("nsenter")
            .args(["-t", &pid, "-n", "ip"])
            .args(&args)
            .status()
            .expect("nsenter and ip (iproute2) are installed");
        assert!(status.success(), "ip {args:?}");
    }
    eventually("traffic on v0", || {
        let stats = d
            .api("GET", "/containers/net/stats?stream=false", None)
            .json();
        stats["networks"]["v0"]["tx_bytes"].as_u64().unwrap_or(0) > 0
            && stats["networks"]["v1"]["rx_bytes"].as_u64().unwrap_or(0) > 0
    });
    let out = d
        .docker(&["stats", "--no-stream", "--format", "{{.NetIO}}", "net"])
        .ok();
    assert!(!out.stdout.starts_with("0B / 0B"), "{out}");
}

/// Whether the kernel has frozen the container's cgroup (v1 freezer or v2 cgroup.freeze).
fn frozen(id: &str) -> bool {
    if let Ok(state) =
        fs::read_to_string(format!("/sys/fs/cgroup/freezer/berth/{id}/freezer.state"))
    {
        return state.trim() == "FROZEN";
    }
    fs::read_to_string(format!("/sys/fs/cgroup/berth/{id}/cgroup.events"))
        .is_ok_and(|events| events.lines().any(|l| l == "frozen 1"))
}

#[test]
fn docker_pause_and_unpause_freeze_the_cgroup() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let id = d.run_detached(&["--name", "nap", "busybox", "sleep", "1000"]);
    d.docker(&["pause", "nap"]).ok().stdout_has("nap");
    assert!(frozen(&id));
    let inspect = d.inspect("nap");
    assert_eq!(inspect["State"]["Status"], "paused");
    assert_eq!(inspect["State"]["Paused"], true);
    assert_eq!(inspect["State"]["Running"], true);
    let ps = d.docker(&["ps", "--format", "{{.Status}}"]).ok();
    assert!(ps.stdout.trim_end().ends_with("(Paused)"), "{ps}");
    d.docker(&["ps", "--filter", "status=paused", "--format", "{{.Names}}"])
        .ok()
        .stdout_has("nap");
    d.docker(&["pause", "nap"])
        .fails()
        .stderr_has("is already paused");
    d.docker(&["start", "nap"])
        .fails()
        .stderr_has("cannot start a paused container, try unpause instead");

    d.docker(&["unpause", "nap"]).ok();
    assert!(!frozen(&id));
    assert_eq!(d.state("nap"), "running");
    d.docker(&["unpause", "nap"])
        .fails()
        .stderr_has("is not paused");
    d.docker(&["stop", "-t", "0", "nap"]).ok();
    d.docker(&["pause", "nap"])
        .fails()
        .stderr_has("is not running");
}

#[test]
fn stop_and_kill_of_a_paused_container_thaw_it_so_the_signal_lands() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&[
        "--name",
        "trapper",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    d.wait_for_output("trapper", "ready");
    d.docker(&["pause", "trapper"]).ok();
    // The TERM trap runs: the container was thawed for it, not killed at the timeout.
    d.docker(&["stop", "-t", "30", "trapper"]).ok();
    assert_eq!(d.inspect("trapper")["State"]["ExitCode"], 7);

    d.run_detached(&["--name", "victim", "busybox", "sleep", "1000"]);
    d.docker(&["pause", "victim"]).ok();
    d.docker(&["kill", "victim"]).ok();
    d.wait_for_state("victim", "exited");
    assert_eq!(d.inspect("victim")["State"]["ExitCode"], 137);

    d.run_detached(&["--name", "doomed", "busybox", "sleep", "1000"]);
    d.docker(&["pause", "doomed"]).ok();
    d.docker(&["rm", "-f", "doomed"]).ok();
    assert_eq!(d.api("GET", "/containers/doomed/json", None).status, 404);
}

fn actions(out: &str) -> Vec<String> {
    out.lines().map(str::to_owned).collect()
}

#[test]
fn docker_events_streams_the_lifecycle_live() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let events = Watched::spawn(d.docker_command(&[
        "events",
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]));
    // The subscription is live once an event shows up.
    eventually("docker events to subscribe", || {
        d.berth(&["create", "busybox", "true"]).ok();
        events.stdout().contains("create")
    });
    d.docker(&["run", "-d", "--name", "life", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["pause", "life"]).ok();
    d.docker(&["unpause", "life"]).ok();
    d.docker(&["rename", "life", "renamed"]).ok();
    d.docker(&["stop", "-t", "0", "renamed"]).ok();
    d.docker(&["rm", "renamed"]).ok();
    events.wait_for("destroy renamed");
    let out = events.stop();
    let mine: Vec<String> = actions(&out.stdout)
        .into_iter()
        .skip_while(|l| l != "create life")
        .collect();
    assert_eq!(
        mine,
        [
            "create life",
            "start life",
            "pause life",
            "unpause life",
            "rename renamed",
            "kill renamed",
            "die renamed",
            "stop renamed",
            "destroy renamed",
        ],
        "{out}"
    );
}

#[test]
fn docker_events_since_until_filters_and_json() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let since = chrono::Utc::now().timestamp().to_string();
    d.docker(&[
        "run",
        "--name",
        "quick",
        "-l",
        "team=blue",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ])
    .code(3);
    d.docker(&["run", "-d", "--name", "other", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["kill", "-s", "USR1", "other"]).ok();
    let until = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .timestamp()
        .to_string();

    let window = ["--since", since.as_str(), "--until", until.as_str()];
    let run = |extra: &[&str]| {
        let mut args = vec!["events"];
        args.extend_from_slice(&window);
        args.extend_from_slice(extra);
        d.docker(&args).ok()
    };
    let out = run(&["--filter", "container=quick", "--format", "{{.Action}}"]);
    // A foreground run may also attach; that event belongs to the attach work.
    let lifecycle: Vec<String> = actions(&out.stdout)
        .into_iter()
        .filter(|a| a != "attach")
        .collect();
    assert_eq!(lifecycle, ["create", "start", "die"], "{out}");
    let out = run(&[
        "--filter",
        "event=die",
        "--format",
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
    ]);
    assert_eq!(out.stdout, "quick 3\n", "{out}");
    let out = run(&[
        "--filter",
        "event=kill",
        "--format",
        "{{.Actor.Attributes.signal}}",
    ]);
    assert_eq!(out.stdout, "10\n", "{out}");
    let out = run(&[
        "--filter",
        "label=team=blue",
        "--filter",
        "event=start",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    assert_eq!(out.stdout, "quick\n", "{out}");
    let out = run(&["--filter", "event=start", "--format", "json"]);
    let first: serde_json::Value = serde_json::from_str(out.lines()[0]).unwrap();
    assert_eq!(first["Type"], "container");
    assert_eq!(first["Action"], "start");
    assert_eq!(first["status"], "start");
    assert_eq!(first["from"], "busybox");
    assert_eq!(first["scope"], "local");
    assert_eq!(first["Actor"]["Attributes"]["name"], "quick");
    assert!(first["timeNano"].as_i64().unwrap() / 1_000_000_000 == first["time"].as_i64().unwrap());
    // The default line: time, type, action, ID and sorted attributes.
    let out = run(&["--filter", "event=die"]);
    assert!(out.stdout.contains(" container die "), "{out}");
    assert!(out.stdout.contains("(execDuration="), "{out}");
}

#[test]
fn an_oom_kill_is_an_event() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let since = chrono::Utc::now().timestamp().to_string();
    d.docker(&[
        "run",
        "--name",
        "hog",
        "-m",
        "8m",
        "--memory-swap",
        "8m",
        "busybox",
        "sh",
        "-c",
        "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
    ])
    .code(137);
    assert_eq!(d.inspect("hog")["State"]["OOMKilled"], true);
    let until = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .timestamp()
        .to_string();
    let out = d
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=hog",
            "--format",
            "{{.Action}}",
        ])
        .ok();
    let actions = actions(&out.stdout);
    let oom = actions
        .iter()
        .position(|a| a == "oom")
        .expect("an oom event");
    let die = actions
        .iter()
        .position(|a| a == "die")
        .expect("a die event");
    assert!(oom < die, "{out}");
}

#[test]
fn bad_input_gets_clear_errors_and_harms_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "steady", "busybox", "sleep", "1000"]);
    d.docker(&["kill", "-s", "NOPE", "steady"])
        .fails()
        .stderr_has("Invalid signal: NOPE");
    let response = d.api("POST", "/containers/steady/kill?signal=99", None);
    assert_eq!(response.status, 400, "{response}");
    let response = d.api("GET", "/containers/steady/stats?stream=1&one-shot=1", None);
    assert_eq!(response.status, 400, "{response}");
    assert_eq!(
        response.error_message(),
        "cannot have stream=true and one-shot=true"
    );
    let response = d.api(
        "GET",
        "/containers/steady/top?ps_args=--no-such-option",
        None,
    );
    assert_eq!(response.status, 500, "{response}");
    assert!(response.error_message().starts_with("ps: "), "{response}");
    let response = d.api(
        "GET",
        "/containers/steady/top?ps_args=-o%20user%3DPID",
        None,
    );
    assert_eq!(response.status, 400, "{response}");
    let response = d.api(
        "GET",
        "/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
        None,
    );
    assert_eq!(response.status, 400, "{response}");
    assert_eq!(response.error_message(), "invalid filter 'colour'");
    let response = d.api("GET", "/events?since=20&until=10", None);
    assert_eq!(response.status, 400, "{response}");
    let response = d.api("GET", "/containers/steady/logs?stdout=1&tail=many", None);
    assert_eq!(response.status, 400, "{response}");
    for (method, path) in [
        ("POST", "/containers/ghost/pause"),
        ("POST", "/containers/ghost/unpause"),
        ("GET", "/containers/ghost/top"),
        ("GET", "/containers/ghost/stats?stream=false"),
        ("GET", "/containers/ghost/logs?stdout=1&follow=1"),
    ] {
        let response = d.api(method, path, None);
        assert_eq!(response.status, 404, "{method} {path}: {response}");
        assert_eq!(response.error_message(), "No such container: ghost");
    }
    d.docker(&["pause", "ghost"])
        .fails()
        .stderr_has("No such container: ghost");
    // The container and the daemon are unharmed.
    assert_eq!(d.state("steady"), "running");
    assert!(d.ping());
    d.docker(&["top", "steady"]).ok().stdout_has("sleep 1000");
}

#[test]
fn berth_top_stats_pause_and_events() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let since = chrono::Utc::now().timestamp().to_string();
    d.run_detached(&["--name", "web", "busybox", "sleep", "1000"]);
    let out = d.berth(&["top", "web"]).ok();
    assert!(out.lines()[0].starts_with("UID  "), "{out}");
    assert!(out.stdout.contains("sleep 1000"), "{out}");
    let out = d.berth(&["container", "top", "web", "-o", "pid,comm"]).ok();
    assert_eq!(
        out.lines()[0].split_whitespace().collect::<Vec<_>>(),
        ["PID", "COMMAND"]
    );

    let out = d.berth(&["stats", "--no-stream"]).ok();
    assert!(out.lines()[0].starts_with("CONTAINER ID   NAME"), "{out}");
    assert!(out.lines()[1].contains(" web "), "{out}");
    let out = d
        .berth(&[
            "stats",
            "--no-stream",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.PIDs}}",
            "web",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        format!("{} 1\n", d.inspect("web")["Id"].as_str().unwrap())
    );
    d.berth(&["stats", "--no-stream", "ghost"])
        .code(1)
        .stderr_has("No such container: ghost");

    d.berth(&["pause", "web"]).ok().stdout_has("web");
    assert_eq!(d.state("web"), "paused");
    d.berth(&["unpause", "web"]).ok();
    assert_eq!(d.state("web"), "running");

    let until = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .timestamp()
        .to_string();
    let out = d
        .berth(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=web",
            "--format",
            "{{.Action}}",
        ])
        .ok();
    assert_eq!(
        actions(&out.stdout),
        ["create", "start", "top", "top", "pause", "unpause"],
        "{out}"
    );
    let out = d
        .berth(&[
            "system",
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "event=pause",
        ])
        .ok();
    assert!(out.stdout.contains(" container pause "), "{out}");
    assert!(out.stdout.contains("(image=busybox, name=web)"), "{out}");

    // A streaming `stats` redraws until it is stopped.
    let stream = Watched::spawn(d.berth_command(&["stats", "web"]));
    stream.wait_for(" web ");
    let out = stream.stop();
    assert!(out.stdout.contains("\x1b[2J"), "{out}");
}
