//! `--pid`, `--ipc`, `--uts` and `--userns` through the docker CLI: the host's namespaces,
//! another container's (its processes, its IPC objects and /dev/shm), and Docker's errors for
//! a donor that is missing, stopped or not shareable.

use std::fs;

use berth_tests::{eventually, Daemon};

fn namespace_of_this_process(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn host_namespaces_are_the_hosts() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // The host's PID 1, seen from inside.
    let init = fs::read_to_string("/proc/1/comm").unwrap();
    let seen = d
        .docker(&[
            "run",
            "--rm",
            "--pid",
            "host",
            "busybox",
            "cat",
            "/proc/1/comm",
        ])
        .ok();
    assert_eq!(seen.stdout, init, "{seen}");
    let links = d
        .docker(&[
            "run",
            "--rm",
            "--pid",
            "host",
            "--ipc",
            "host",
            "--uts",
            "host",
            "--userns",
            "host",
            "busybox",
            "sh",
            "-c",
            "for n in pid ipc uts; do readlink /proc/self/ns/$n; done; hostname",
        ])
        .ok();
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        links.stdout,
        format!(
            "{}\n{}\n{}\n{}",
            namespace_of_this_process("pid"),
            namespace_of_this_process("ipc"),
            namespace_of_this_process("uts"),
            host_name
        ),
        "{links}"
    );
    // Docker's defaults, and the modes as asked.
    d.docker(&["create", "--name", "plain", "busybox", "true"])
        .ok();
    let host = &d.inspect("plain")["HostConfig"];
    assert_eq!(host["IpcMode"], "private", "{host}");
    assert_eq!(host["PidMode"], "", "{host}");
    d.docker(&[
        "create",
        "--name",
        "hosty",
        "--pid",
        "host",
        "--uts",
        "host",
        "--ipc",
        "shareable",
        "busybox",
        "true",
    ])
    .ok();
    let host = &d.inspect("hosty")["HostConfig"];
    assert_eq!(
        (&host["PidMode"], &host["UTSMode"], &host["IpcMode"]),
        (
            &serde_json::json!("host"),
            &serde_json::json!("host"),
            &serde_json::json!("shareable")
        ),
        "{host}"
    );

    d.docker(&[
        "run", "--rm", "--uts", "host", "-h", "named", "busybox", "true",
    ])
    .code(125)
    .stderr_has("conflicting options: hostname and the UTS mode");
    // The docker CLI checks the mode itself; the daemon says it too.
    let bad = d.api(
        "POST",
        "/containers/create",
        Some((
            "application/json",
            br#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"PidMode": "sideways"}}"#,
        )),
    );
    assert_eq!(bad.status, 400, "{bad}");
    assert_eq!(bad.error_message(), "invalid PID mode: sideways");
}

#[test]
fn another_containers_pid_and_ipc_namespaces_are_joined() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo hello > /dev/shm/note; exec sleep 1000",
    ])
    .ok();
    eventually("the donor's note", || {
        d.docker(&["exec", "donor", "test", "-f", "/dev/shm/note"])
            .code
            == 0
    });

    // Its processes: PID 1 of the joiner's view is the donor's sleep.
    let seen = d
        .docker(&[
            "run",
            "--rm",
            "--pid",
            "container:donor",
            "busybox",
            "cat",
            "/proc/1/cmdline",
        ])
        .ok();
    assert_eq!(seen.stdout, "sleep\u{0}1000\u{0}", "{seen}");

    // Its IPC namespace and /dev/shm, both ways.
    let donor_ipc = d
        .docker(&["exec", "donor", "readlink", "/proc/self/ns/ipc"])
        .ok()
        .stdout;
    let joined = d
        .docker(&[
            "run",
            "--rm",
            "--ipc",
            "container:donor",
            "busybox",
            "sh",
            "-c",
            "readlink /proc/self/ns/ipc; cat /dev/shm/note; echo back > /dev/shm/reply",
        ])
        .ok();
    assert_eq!(joined.stdout, format!("{donor_ipc}hello\n"), "{joined}");
    let reply = d.docker(&["exec", "donor", "cat", "/dev/shm/reply"]).ok();
    assert_eq!(reply.stdout, "back\n", "{reply}");
    // The shared /dev/shm is the donor's, not the host's.
    assert!(!std::path::Path::new("/dev/shm/reply").exists());

    // Docker's errors, at start (docker run: 125).
    d.docker(&["run", "-d", "--name", "private", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["run", "--rm", "--ipc", "container:private", "busybox", "true"])
        .code(125)
        .stderr_has("failed to join IPC namespace: container private: non-shareable IPC (hint: use IpcMode:shareable for the donor container)");
    d.docker(&[
        "run",
        "--rm",
        "--pid",
        "container:nosuch",
        "busybox",
        "true",
    ])
    .code(125)
    .stderr_has("failed to join PID namespace: No such container: nosuch");
    d.docker(&["create", "--name", "stopped", "busybox", "true"])
        .ok();
    d.docker(&[
        "run",
        "--rm",
        "--pid",
        "container:stopped",
        "busybox",
        "true",
    ])
    .code(125)
    .stderr_has("failed to join PID namespace: container stopped is not running");
    // A refused start leaves the joiner startable once the donor runs.
    d.docker(&[
        "create",
        "--name",
        "later",
        "--pid",
        "container:stopped",
        "busybox",
        "true",
    ])
    .ok();
    d.docker(&["start", "later"]).code(1);
    assert_eq!(d.state("later"), "created");
}
