//! Working inside containers: `run -it`, detach and `attach`, `exec` with and without a TTY,
//! piped stdin, several attached clients, resizes, through the real docker CLI (in tmux where
//! a terminal is needed), berth's own CLI, raw API connections and docker-py.

use std::time::Instant;

use berth_tests::{eventually, Daemon, Hijacked, Tmux, EVENTUALLY_LIMIT};

const API: &str = "/v1.49";

fn attach_path(container: &str, query: &str) -> String {
    format!("{API}/containers/{container}/attach?stream=1&stdout=1&stderr=1{query}")
}

/// Resizes the window and waits until `stty size` in it shows the new size. A resize lands
/// in its own time: tmux applies it to the pane's terminal later (and holds back a resize
/// that follows another closely), the client's SIGWINCH handler then asks the daemon, which
/// sets the container's terminal. A command typed meanwhile reaches the shell first and sees
/// the old size, as a user may; like the user, this asks again.
#[track_caller]
fn resize_and_see(terminal: &Tmux, columns: u16, rows: u16) {
    terminal.resize(columns, rows);
    let wanted = format!("{rows} {columns}");
    // A guard against a resize that never lands, not a performance assertion.
    let deadline = Instant::now() + EVENTUALLY_LIMIT;
    for attempt in 1.. {
        terminal.type_line(&format!("echo size-{attempt}: $(stty size)"));
        // The answer's line, not the typed line's echo (which shows `$(stty size)`).
        let answer = terminal.wait_for_line(&format!("size-{attempt}: "));
        if answer.trim_end().ends_with(&wanted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the terminal never showed {wanted}:\n{}",
            terminal.screen()
        );
    }
}

#[test]
fn docker_run_it_types_resizes_detaches_and_attaches_again() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let run = d.docker_command(&["run", "-it", "--name", "tty1", "busybox", "sh"]);
    let terminal = Tmux::start(&run, 100, 30);
    terminal.wait_for("/ #");
    terminal.type_line("echo hello-$((6*7)); tty");
    // `tty` answers last.
    let screen = terminal.wait_for("/dev/pts/0");
    assert!(screen.contains("hello-42"), "{screen}");
    // The size given at creation, then a resize followed through SIGWINCH.
    terminal.type_line("stty size");
    terminal.wait_for("30 100");
    resize_and_see(&terminal, 120, 40);

    terminal.keys(&["C-p", "C-q"]);
    terminal.wait_for("[exited 0]");
    assert_eq!(d.state("tty1"), "running", "detaching left it running");

    let attach = Tmux::start(&d.docker_command(&["attach", "tty1"]), 100, 30);
    attach.type_line("echo again-$((2+2))");
    attach.wait_for("again-4");
    attach.type_line("exit 3");
    attach.wait_for("[exited 3]");
    d.wait_for_state("tty1", "exited");
    assert_eq!(d.inspect("tty1")["State"]["ExitCode"], 3);
    // A TTY's output is logged too, as one stream, and following it ends with the container.
    let logs = d.docker(&["logs", "tty1"]).ok();
    assert!(
        logs.stdout.contains("hello-42") && logs.stdout.contains("again-4"),
        "{logs}"
    );
    assert_eq!(d.docker(&["logs", "-f", "tty1"]).ok().stdout, logs.stdout);
}

#[test]
fn docker_exec_it_gets_a_terminal_that_follows_the_window() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "host", "busybox", "sleep", "1000"]);
    let exec = d.docker_command(&["exec", "-it", "host", "sh"]);
    let terminal = Tmux::start(&exec, 90, 25);
    terminal.wait_for("/ #");
    terminal.type_line("echo in-$(hostname); tty; stty size");
    let screen = terminal.wait_for("25 90");
    assert!(
        screen.contains("/dev/pts/0")
            && screen.contains(&format!("in-{}", &id_of(&d, "host")[..12])),
        "{screen}"
    );
    resize_and_see(&terminal, 100, 35);
    terminal.type_line("exit 5");
    terminal.wait_for("[exited 5]");
    assert_eq!(d.state("host"), "running");
}

fn id_of(d: &Daemon, name: &str) -> String {
    d.inspect(name)["Id"].as_str().unwrap().to_owned()
}

#[test]
fn berth_run_it_detach_attach_and_exec_it() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let run = d.berth_command(&["run", "-it", "--name", "b1", "busybox", "sh"]);
    let terminal = Tmux::start(&run, 80, 24);
    terminal.wait_for("/ #");
    terminal.type_line("stty size; echo one-$((1+1))");
    let screen = terminal.wait_for("one-2");
    assert!(screen.contains("24 80"), "{screen}");
    terminal.keys(&["C-p", "C-q"]);
    terminal.wait_for("[exited 0]");
    assert_eq!(d.state("b1"), "running");

    // Other detach keys; detaching from `attach` is docker's "read escape sequence", status 1.
    let attach = d.berth_command(&["attach", "--detach-keys", "ctrl-x,x", "b1"]);
    let attached = Tmux::start(&attach, 80, 24);
    attached.type_line("echo two-$((1+1))");
    attached.wait_for("two-2");
    attached.keys(&["C-x", "x"]);
    let screen = attached.wait_for("[exited 1]");
    assert!(screen.contains("read escape sequence"), "{screen}");

    let exec = d.berth_command(&["exec", "-it", "-u", "nobody", "b1", "sh"]);
    let exec = Tmux::start(&exec, 70, 20);
    exec.wait_for("/ $");
    exec.type_line("id -u; stty size");
    exec.wait_for("20 70");
    resize_and_see(&exec, 75, 21);
    exec.type_line("exit 4");
    let screen = exec.wait_for("[exited 4]");
    assert!(screen.contains("65534"), "{screen}");
    assert_eq!(d.state("b1"), "running");
}

/// 2 MiB of numbered lines.
fn numbered_lines() -> Vec<u8> {
    let mut input = Vec::new();
    let mut n = 0u64;
    while input.len() < 2 << 20 {
        input.extend_from_slice(format!("line {n:08}\n").as_bytes());
        n += 1;
    }
    input
}

#[test]
fn piped_stdin_half_closes_and_nothing_is_lost() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let input = numbered_lines();
    for cli in ["docker", "berth"] {
        let command = |args: &[&str]| match cli {
            "docker" => d.docker_command(args),
            _ => d.berth_command(args),
        };
        // The container writes after it read end-of-file: that still reaches the client.
        let script = "wc -c; wc -l </dev/null; sleep 0.2; echo after-eof";
        let out = berth_tests::run_command(
            command(&["run", "--rm", "-i", "busybox", "sh", "-c", script]),
            Some(input.clone()),
        )
        .ok();
        assert_eq!(
            out.stdout,
            format!("{}\n0\nafter-eof\n", input.len()),
            "{cli}: {out}"
        );
        // Input and output at once, both large: every byte comes back.
        let out = berth_tests::run_command(
            command(&["run", "--rm", "-i", "busybox", "cat"]),
            Some(input.clone()),
        )
        .ok();
        assert!(
            out.stdout.as_bytes() == input.as_slice(),
            "{cli}: cat lost data"
        );
    }
    // `start -ai` feeds a created container.
    d.berth(&[
        "create",
        "-i",
        "--name",
        "reader",
        "busybox",
        "sh",
        "-c",
        "read l; echo got:$l; exit 6",
    ])
    .ok();
    let out = d
        .berth_stdin(&["start", "-ai", "reader"], b"line\n")
        .code(6);
    assert_eq!(out.stdout, "got:line\n");
    let out = berth_tests::run_command(
        d.docker_command(&["start", "-ai", "reader"]),
        Some(b"again\n".to_vec()),
    );
    assert_eq!((out.code, out.stdout.as_str()), (6, "got:again\n"), "{out}");
}

#[test]
fn docker_exec_without_a_tty() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let since = chrono::Utc::now().timestamp().to_string();
    d.run_detached(&[
        "--name",
        "ex",
        "-e",
        "FROM_CONTAINER=yes",
        "busybox",
        "sleep",
        "1000",
    ]);
    let out = d
        .docker(&[
            "exec",
            "-e",
            "A=1",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "ex",
            "sh",
            "-c",
            "echo $A $FROM_CONTAINER $(id -u) $(pwd); echo err >&2; exit 4",
        ])
        .code(4);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("1 yes 65534 /tmp\n", "err\n")
    );

    let out = d.docker(&["exec", "ex", "nosuch"]).code(127);
    assert!(out.stdout.contains("executable file not found"), "{out}");
    let out = d.docker(&["exec", "ex", "/etc"]).code(126);
    assert!(out.stdout.contains("permission denied"), "{out}");

    // The exec's namespaces, cgroup, capabilities and seccomp filter are the container's.
    let script = "for ns in mnt pid net uts ipc cgroup; do [ $(readlink /proc/self/ns/$ns) = $(readlink /proc/1/ns/$ns) ] || echo differs:$ns; done; \
                  [ \"$(cat /proc/self/cgroup)\" = \"$(cat /proc/1/cgroup)\" ] || echo differs:cgroup-path; \
                  grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status; grep -E '^(CapEff|CapBnd|Seccomp):' /proc/1/status";
    let out = d.docker(&["exec", "ex", "sh", "-c", script]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!(
        lines[..3],
        lines[3..],
        "the exec's privileges differ: {out}"
    );
    assert!(lines.contains(&"Seccomp:\t2"), "{out}");
    let privileged = d
        .docker(&[
            "exec",
            "--privileged",
            "ex",
            "sh",
            "-c",
            "grep -E '^(CapEff|Seccomp):' /proc/self/status",
        ])
        .ok();
    assert_ne!(
        privileged.stdout.lines().next(),
        lines.first().copied(),
        "--privileged gives more capabilities"
    );
    assert!(
        privileged.stdout.contains("Seccomp:\t2"),
        "the container's filter stays"
    );

    // Detached: runs on; its exit is inspectable through the API.
    d.docker(&["exec", "-d", "ex", "touch", "/tmp/made"]).ok();
    eventually("the detached exec to have run", || {
        d.docker(&["exec", "ex", "test", "-e", "/tmp/made"]).code == 0
    });
    let body = r#"{"Cmd":["sh","-c","exit 9"]}"#;
    let created = d.api(
        "POST",
        &format!("{API}/containers/ex/exec"),
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(created.status, 201, "{created}");
    let exec_id = created.json()["Id"].as_str().unwrap().to_owned();
    let inspect = || {
        d.api("GET", &format!("{API}/exec/{exec_id}/json"), None)
            .json()
    };
    let before = inspect();
    assert_eq!(
        (&before["Running"], &before["ExitCode"]),
        (&false.into(), &serde_json::Value::Null)
    );
    assert_eq!(before["ProcessConfig"]["entrypoint"], "sh");
    let started = d.api(
        "POST",
        &format!("{API}/exec/{exec_id}/start"),
        Some(("application/json", br#"{"Detach":true}"#)),
    );
    assert_eq!(started.status, 200, "{started}");
    eventually("the exec's exit code", || inspect()["ExitCode"] == 9);
    assert_eq!(inspect()["Running"], false);
    let again = d.api(
        "POST",
        &format!("{API}/exec/{exec_id}/start"),
        Some(("application/json", br#"{"Detach":true}"#)),
    );
    assert_eq!(again.status, 409, "{again}");
    assert!(again.error_message().contains("has already run"), "{again}");

    // Docker's exec events, with the exec's ID and exit code.
    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    let format = "{{.Action}} {{.Actor.Attributes.execID}} {{.Actor.Attributes.exitCode}}";
    let events = d
        .docker(&[
            "events", "--since", &since, "--until", &until, "--format", format,
        ])
        .ok();
    for wanted in [
        format!("exec_create: sh -c exit 9 {exec_id} "),
        format!("exec_start: sh -c exit 9 {exec_id} "),
        format!("exec_die {exec_id} 9"),
    ] {
        assert!(
            events.stdout.lines().any(|l| l.starts_with(&wanted)),
            "{wanted:?} in {events}"
        );
    }
}

#[test]
fn several_clients_attach_at_once_and_no_stdin_is_honoured() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let script = "while read l; do echo got:$l; [ $l = quit ] && exit 0; done";
    d.berth(&[
        "run", "-d", "-i", "--name", "multi", "busybox", "sh", "-c", script,
    ])
    .ok();
    let mut quiet = Hijacked::post(&d.socket, &attach_path("multi", ""), None).unwrap();
    assert_eq!(
        quiet.header("content-type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    // Without stdin=1 what the client sends goes nowhere, and its end-of-file ends nothing.
    quiet.send(b"ignored\n").unwrap();
    quiet.close_input().unwrap();
    let mut talker = Hijacked::post(&d.socket, &attach_path("multi", "&stdin=1"), None).unwrap();
    talker.send(b"one\n").unwrap();
    talker.read_until("got:one").unwrap();
    // Before API 1.42 the multiplexed stream was announced as raw.
    let mut old = Hijacked::post(
        &d.socket,
        "/v1.41/containers/multi/attach?stream=1&stdout=1",
        None,
    )
    .unwrap();
    assert_eq!(
        old.header("content-type"),
        Some("application/vnd.docker.raw-stream")
    );
    talker.send(b"quit\n").unwrap();
    assert_eq!(talker.read_to_end().unwrap().0, "got:quit\n");
    assert_eq!(quiet.read_to_end().unwrap().0, "got:one\ngot:quit\n");
    assert_eq!(old.read_to_end().unwrap().0, "got:quit\n");
    d.wait_for_state("multi", "exited");
    assert_eq!(d.logs("multi").0, "got:one\ngot:quit\n");
}

#[test]
fn bad_input_gets_clear_errors_and_harms_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d.docker(&["exec", "nosuch", "true"]).code(1);
    assert!(out.stderr.contains("No such container: nosuch"), "{out}");

    d.berth(&["run", "--name", "done", "busybox", "true"]).ok();
    let id = id_of(&d, "done");
    let out = d.docker(&["exec", "done", "true"]).code(1);
    assert!(
        out.stderr
            .contains(&format!("container {id} is not running")),
        "{out}"
    );
    for out in [d.docker(&["attach", "done"]), d.berth(&["attach", "done"])] {
        let out = out.code(1);
        assert!(
            out.stderr
                .contains("You cannot attach to a stopped container, start it first"),
            "{out}"
        );
    }
    let refused = d.api(
        "POST",
        &format!("{API}/containers/{id}/exec"),
        Some(("application/json", br#"{"Cmd":["true"]}"#)),
    );
    assert_eq!(refused.status, 409, "{refused}");
    let no_cmd = d.api(
        "POST",
        &format!("{API}/containers/{id}/exec"),
        Some(("application/json", b"{}")),
    );
    assert_eq!(
        (no_cmd.status, no_cmd.error_message()),
        (400, "No exec command specified".into())
    );
    let unknown = d.api(
        "POST",
        &format!("{API}/exec/nope/start"),
        Some(("application/json", b"{}")),
    );
    assert_eq!(
        (unknown.status, unknown.error_message()),
        (404, "No such exec instance: nope".into())
    );

    // A TTY sized 20x60, then nonsense sizes: refused, the size stays.
    d.docker(&["run", "-dit", "--name", "tty", "busybox", "sh"])
        .ok();
    let resize = |query: &str| {
        d.api(
            "POST",
            &format!("{API}/containers/tty/resize?{query}"),
            None,
        )
    };
    assert_eq!(resize("h=20&w=60").status, 200);
    let zero = resize("h=0&w=0");
    assert_eq!(zero.status, 400, "{zero}");
    assert!(zero.error_message().contains("0x0"), "{zero}");
    let bad = resize("h=abc&w=60");
    assert_eq!(
        (bad.status, bad.error_message()),
        (400, "invalid resize height \"abc\": invalid syntax".into())
    );
    let size = d
        .docker(&["exec", "tty", "sh", "-c", "stty size </dev/pts/0"])
        .ok();
    assert_eq!(size.stdout, "20 60\n");
    let stopped = d.api(
        "POST",
        &format!("{API}/containers/done/resize?h=10&w=10"),
        None,
    );
    assert_eq!(stopped.status, 409, "{stopped}");

    // Paused: Docker's errors, and all is well again once unpaused.
    d.run_detached(&["--name", "frozen", "busybox", "sleep", "1000"]);
    d.docker(&["pause", "frozen"]).ok();
    let out = d.docker(&["exec", "frozen", "true"]).code(1);
    assert!(
        out.stderr
            .contains("Container frozen is paused, unpause the container before exec"),
        "{out}"
    );
    let out = d.docker(&["attach", "frozen"]).code(1);
    assert!(
        out.stderr
            .contains("You cannot attach to a paused container, unpause it first"),
        "{out}"
    );
    let refused = d.api("POST", &attach_path("frozen", ""), None);
    assert_eq!(
        (refused.status, refused.error_message()),
        (
            409,
            "container frozen is paused, unpause the container before attach".into()
        )
    );
    d.docker(&["unpause", "frozen"]).ok();
    d.docker(&["exec", "frozen", "true"]).ok();

    let out = d.docker(&["kill", "--signal", "NOPE", "tty"]).code(1);
    assert!(out.stderr.contains("Invalid signal: NOPE"), "{out}");

    // Clients that go away in the middle of the output.
    let script = "i=0; while true; do i=$((i+1)); echo tick-$i; usleep 20000; done";
    d.run_detached(&["--name", "ticker", "busybox", "sh", "-c", script]);
    for _ in 0..3 {
        let mut client = Hijacked::post(&d.socket, &attach_path("ticker", ""), None).unwrap();
        client.read_until("tick-").unwrap();
        drop(client);
    }
    let mut tty_client = Hijacked::post(&d.socket, &attach_path("tty", "&stdin=1"), None).unwrap();
    tty_client.send(b"echo still-$((7*6))\n").unwrap();
    tty_client.read_raw_until("still-42").unwrap();
    drop(tty_client);

    assert!(d.ping());
    for name in ["ticker", "tty"] {
        assert_eq!(d.state(name), "running", "{name} survived its clients");
    }
    let mut last = Hijacked::post(&d.socket, &attach_path("ticker", ""), None).unwrap();
    last.read_until("tick-").unwrap();
}

#[test]
fn docker_py_exec_run_and_attach_socket() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let script = r#"
import docker, os
c = docker.DockerClient(base_url=os.environ["DOCKER_HOST"])
ct = c.containers.run("busybox", ["sh", "-c", "echo started; while read l; do echo got:$l; [ $l = quit ] && exit 0; done"],
                      detach=True, stdin_open=True, environment={"FROM_CONTAINER": "yes"})
r = ct.exec_run(["sh", "-c", "echo out $FROM_CONTAINER; echo err >&2; exit 3"])
# Two pipes: which line comes first is up to the scheduler, as with Docker.
assert r.exit_code == 3 and sorted(r.output.splitlines()) == [b"err", b"out yes"], r
r = ct.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
assert r.exit_code == 0 and r.output == (b"out\n", b"err\n"), r
r = ct.exec_run("nosuch")
assert r.exit_code == 127 and b"executable file not found" in r.output, r
r = ct.exec_run("tty", tty=True)
assert r.exit_code == 0 and r.output.startswith(b"/dev/pts/"), r
r = ct.exec_run(["id", "-u"], user="nobody", workdir="/tmp")
assert r.output == b"65534\n", r
sock = ct.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})._sock
sock.sendall(b"hello\n")
received = b""
while b"got:hello" not in received:
    chunk = sock.recv(4096)
    assert chunk, received
    received += chunk
sock.sendall(b"quit\n")
while True:
    chunk = sock.recv(4096)
    if not chunk:
        break
    received += chunk
assert b"got:quit" in received, received
assert ct.wait()["StatusCode"] == 0
assert ct.logs() == b"started\ngot:hello\ngot:quit\n", ct.logs()
ct.remove()
print("docker-py ok")
"#;
    let mut python = std::process::Command::new("python3");
    python.arg("-c").arg(script).env("DOCKER_HOST", d.host());
    let out = berth_tests::run_command(python, None);
    assert!(
        !out.stderr.contains("No module named 'docker'"),
        "docker-py is missing: scripts/test.sh installs it (pip install docker)"
    );
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "docker-py ok\n");
}

#[test]
fn terminals_and_open_stdin_survive_a_daemon_restart() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    d.docker(&["run", "-dit", "--name", "tty", "busybox", "sh"])
        .ok();
    let script = "while read l; do echo got:$l; done";
    d.docker(&[
        "run", "-di", "--name", "reader", "busybox", "sh", "-c", script,
    ])
    .ok();
    d.kill9();
    d.restart();
    assert_eq!(d.state("tty"), "running");
    assert_eq!(
        d.state("reader"),
        "running",
        "its stdin did not close with the daemon"
    );

    let mut tty = Hijacked::post(&d.socket, &attach_path("tty", "&stdin=1"), None).unwrap();
    assert_eq!(
        tty.header("content-type"),
        Some("application/vnd.docker.raw-stream")
    );
    tty.send(b"echo restored-$((5*5))\n").unwrap();
    tty.read_raw_until("restored-25").unwrap();

    let mut reader = Hijacked::post(&d.socket, &attach_path("reader", "&stdin=1"), None).unwrap();
    reader.send(b"after\n").unwrap();
    reader.read_until("got:after").unwrap();
    let resized = d.api(
        "POST",
        &format!("{API}/containers/tty/resize?h=12&w=34"),
        None,
    );
    assert_eq!(resized.status, 200, "{resized}");
    let size = d
        .docker(&["exec", "tty", "sh", "-c", "stty size </dev/pts/0"])
        .ok();
    assert_eq!(size.stdout, "12 34\n");
}
