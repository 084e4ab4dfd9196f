//! The `berth run`/`create` flags that only the docker CLI could send before: healthchecks,
//! resource limits, shared namespaces, log drivers, the runtime and `--volumes-from`, each
//! through `berth` and checked in `ps`, `inspect`, the cgroup files and the container itself.

use std::fs;

use berth_tests::cgroups::{is_v1, Limits};
use berth_tests::{eventually, Daemon};

const MIB: i64 = 1 << 20;

#[test]
fn health_flags_make_a_container_healthy_in_ps_and_no_healthcheck_has_none() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "--health-cmd",
        "test -e /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "2s",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ready; sleep 1000",
    ])
    .ok();
    let config = d.inspect("web")["Config"]["Healthcheck"].clone();
    assert_eq!(
        config,
        serde_json::json!({
            "Test": ["CMD-SHELL", "test -e /tmp/ready"],
            "Interval": 200_000_000,
            "Timeout": 2_000_000_000i64,
            "Retries": 2,
        }),
    );
    eventually("web to be healthy in berth ps", || {
        let ps = d.berth(&["ps", "--format", "{{.Names}} {{.Status}}"]).ok();
        ps.out().starts_with("web Up") && ps.out().ends_with("(healthy)")
    });
    let healthy = d.berth(&["ps", "-q", "--filter", "health=healthy"]).ok();
    assert_eq!(healthy.lines().len(), 1, "{healthy}");

    // The probe's wording: a failing command turns the container unhealthy.
    d.berth(&[
        "run",
        "-d",
        "--name",
        "sick",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "100ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    eventually("sick to be unhealthy", || {
        d.inspect("sick")["State"]["Health"]["Status"] == "unhealthy"
    });

    d.berth(&[
        "run",
        "-d",
        "--name",
        "plain",
        "--no-healthcheck",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let plain = d.inspect("plain");
    assert_eq!(
        plain["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
    assert!(plain["State"].get("Health").is_none(), "{plain}");

    // Refused before anything is made, in docker's words.
    let before = d.container_ids();
    d.berth(&[
        "run",
        "--no-healthcheck",
        "--health-cmd",
        "true",
        "busybox",
        "true",
    ])
    .code(125)
    .stderr_has("--no-healthcheck conflicts with --health-* options");
    d.berth(&["create", "--health-interval", "5", "busybox", "true"])
        .code(125)
        .stderr_has("time: missing unit in duration \"5\"");
    assert_eq!(d.container_ids(), before);
    d.berth(&["rm", "-f", "web", "sick", "plain"]).ok();
}

#[test]
fn volumes_from_shares_another_containers_volumes_read_only_when_asked() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "run",
        "-d",
        "--name",
        "data",
        "-v",
        "/shared",
        "busybox",
        "sh",
        "-c",
        "echo kept > /shared/file; sleep 1000",
    ])
    .ok();
    eventually("data to write its file", || {
        d.berth(&["exec", "data", "cat", "/shared/file"])
            .stdout
            .contains("kept")
    });
    let read = d.run_rm(&["--volumes-from", "data", "busybox", "cat", "/shared/file"]);
    assert_eq!(read, "kept\n");
    d.run_rm(&[
        "--volumes-from",
        "data",
        "busybox",
        "sh",
        "-c",
        "echo more > /shared/other",
    ]);
    assert_eq!(
        d.berth(&["exec", "data", "cat", "/shared/other"])
            .ok()
            .stdout,
        "more\n"
    );
    let ro = d
        .berth(&[
            "run",
            "--rm",
            "--volumes-from",
            "data:ro",
            "busybox",
            "touch",
            "/shared/nope",
        ])
        .fails();
    assert!(ro.stderr.contains("Read-only file system"), "{ro}");

    d.berth(&[
        "create",
        "--name",
        "reader",
        "--volumes-from",
        "data:ro",
        "busybox",
        "true",
    ])
    .ok();
    let reader = d.inspect("reader");
    assert_eq!(
        reader["HostConfig"]["VolumesFrom"],
        serde_json::json!(["data:ro"])
    );
    let mounts = reader["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 1, "{reader}");
    assert_eq!(mounts[0]["Destination"], "/shared");
    assert_eq!(mounts[0]["RW"], false);
    assert_eq!(mounts[0]["Name"], d.inspect("data")["Mounts"][0]["Name"]);

    // Not pulled for: the 404 is the container's, not the image's.
    d.berth(&[
        "create",
        "--pull",
        "never",
        "--volumes-from",
        "nosuch",
        "busybox",
        "true",
    ])
    .fails()
    .stderr_has("nosuch");
    d.berth(&["rm", "-f", "-v", "reader", "data"]).ok();
}

#[test]
fn resource_flags_reach_the_cgroup_and_inspect() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "run",
        "-d",
        "--name",
        "limited",
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "--memory-reservation",
        "32m",
        "-c",
        "512",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let host = d.inspect("limited")["HostConfig"].clone();
    assert_eq!(host["Memory"], 64 * MIB);
    assert_eq!(host["MemorySwap"], 128 * MIB);
    assert_eq!(host["MemoryReservation"], 32 * MIB);
    assert_eq!(host["CpuShares"], 512);
    assert_eq!(host["CpuPeriod"], 100_000);
    assert_eq!(host["CpuQuota"], 50_000);
    assert_eq!(host["CpusetCpus"], "0");
    assert_eq!(host["CpusetMems"], "0");

    let limits = Limits {
        pid: d.container_pid("limited"),
    };
    assert_eq!(limits.memory(), (64 * MIB).to_string());
    // v1 holds memory+swap, v2 the swap alone.
    let swap = if is_v1() { 128 * MIB } else { 64 * MIB };
    assert_eq!(limits.swap(), swap.to_string());
    assert_eq!(limits.reservation(), (32 * MIB).to_string());
    assert_eq!(limits.cpu_max(), "50000 100000");
    assert_eq!(limits.shares(), if is_v1() { "512" } else { "20" });
    assert_eq!(limits.cpuset(), "0");

    // Unlimited swap, and Docker's refusals from the daemon.
    d.berth(&[
        "create",
        "--name",
        "unlimited",
        "-m",
        "64m",
        "--memory-swap",
        "-1",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(d.inspect("unlimited")["HostConfig"]["MemorySwap"], -1);
    let before = d.container_ids();
    d.berth(&[
        "create",
        "-m",
        "64m",
        "--memory-swap",
        "32m",
        "busybox",
        "true",
    ])
    .code(1)
    .stderr_has("Minimum memoryswap limit should be larger than memory limit");
    d.berth(&["create", "--memory-reservation", "1m", "busybox", "true"])
        .code(1)
        .stderr_has("Minimum memory reservation allowed is 6MB");
    assert_eq!(d.container_ids(), before);
    // A weight the host's cgroups cannot hold is dropped with Docker's warning.
    let weighted = d
        .berth(&[
            "create",
            "--name",
            "weighted",
            "--blkio-weight",
            "300",
            "busybox",
            "true",
        ])
        .ok();
    let dropped = weighted
        .stderr
        .contains("Your kernel does not support Block I/O weight");
    assert_eq!(
        d.inspect("weighted")["HostConfig"]["BlkioWeight"],
        if dropped { 0 } else { 300 },
        "{weighted}"
    );
    d.berth(&["rm", "-f", "limited", "unlimited", "weighted"])
        .ok();
}

#[test]
fn namespace_log_and_runtime_flags_through_berth() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // --pid host: the container sees the host's PID 1.
    let host_init = fs::read_to_string("/proc/1/comm").unwrap();
    assert_eq!(
        d.run_rm(&["--pid", "host", "busybox", "cat", "/proc/1/comm"]),
        host_init
    );
    // --uts host: the host's name.
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        d.run_rm(&["--uts", "host", "busybox", "hostname"]),
        host_name
    );
    // --pid/--ipc container:NAME: one PID namespace, one IPC namespace.
    d.berth(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let donor_pid = d.container_pid("donor");
    let ns = |pid: i32, kind: &str| fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    d.berth(&[
        "run",
        "-d",
        "--name",
        "joiner",
        "--pid",
        "container:donor",
        "--ipc",
        "container:donor",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let joiner_pid = d.container_pid("joiner");
    assert_eq!(ns(joiner_pid, "pid"), ns(donor_pid, "pid"));
    assert_eq!(ns(joiner_pid, "ipc"), ns(donor_pid, "ipc"));
    assert_ne!(ns(joiner_pid, "uts"), ns(donor_pid, "uts"));
    let joiner = d.inspect("joiner")["HostConfig"].clone();
    assert_eq!(joiner["PidMode"], "container:donor");
    assert_eq!(joiner["IpcMode"], "container:donor");
    // --group-add through berth: the numbers reach the process.
    assert_eq!(
        d.run_rm(&["--group-add", "4242", "busybox", "id", "-G"]),
        "0 10 4242\n"
    );

    // --log-driver none: nothing to read, in Docker's words; local with its options.
    d.berth(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "unseen",
    ])
    .ok();
    d.berth(&["logs", "quiet"])
        .fails()
        .stderr_has("configured logging driver does not support reading");
    d.berth(&[
        "run",
        "--name",
        "kept",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=1m",
        "--log-opt",
        "max-file=2",
        "busybox",
        "echo",
        "seen",
    ])
    .ok();
    assert_eq!(d.berth(&["logs", "kept"]).ok().stdout, "seen\n");
    assert_eq!(
        d.inspect("kept")["HostConfig"]["LogConfig"],
        serde_json::json!({"Type": "local", "Config": {"max-size": "1m", "max-file": "2"}})
    );
    // --runtime: runc's names are berth's runtime, others Docker's 400. (`create` exits 1
    // on the daemon's refusals, as docker's does; its own checks are 125.)
    d.berth(&[
        "create",
        "--name",
        "rt",
        "--runtime",
        "runc",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(d.inspect("rt")["HostConfig"]["Runtime"], "runc");

    let before = d.container_ids();
    d.berth(&["create", "--runtime", "kata", "busybox", "true"])
        .code(1)
        .stderr_has("unknown or invalid runtime name: kata");
    d.berth(&["create", "--log-driver", "nosuch", "busybox", "true"])
        .code(1)
        .stderr_has("no log driver named 'nosuch' is registered");
    d.berth(&["create", "--pid", "sideways", "busybox", "true"])
        .code(125)
        .stderr_has("--pid: invalid PID mode");
    d.berth(&["create", "--userns", "remap", "busybox", "true"])
        .code(125)
        .stderr_has("--userns: invalid USER mode");
    assert_eq!(d.container_ids(), before);
    d.berth(&["rm", "-f", "joiner", "donor", "quiet", "kept", "rt"])
        .ok();
}

#[test]
fn cidfile_holds_the_new_containers_id_and_is_not_reused() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cid");
    let path_text = path.to_str().unwrap();
    let id = d.run_detached(&[
        "--cidfile",
        path_text,
        "--name",
        "cid",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(fs::read_to_string(&path).unwrap(), id);
    assert_eq!(d.inspect("cid")["HostConfig"]["ContainerIDFile"], path_text);
    let before = d.container_ids();
    d.berth(&["run", "-d", "--cidfile", path_text, "busybox", "true"])
        .code(125)
        .stderr_has("container ID file found");
    assert_eq!(d.container_ids(), before);
    assert_eq!(fs::read_to_string(&path).unwrap(), id, "left as it was");
    // A create the daemon refuses leaves no file.
    let other = dir.path().join("refused");
    d.berth(&[
        "create",
        "--cidfile",
        other.to_str().unwrap(),
        "--runtime",
        "kata",
        "busybox",
        "true",
    ])
    .code(1);
    assert!(!other.exists());
    d.berth(&["rm", "-f", "cid"]).ok();
}

#[test]
fn attach_picks_the_streams_a_foreground_run_shows() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let script = "echo to-out; echo to-err >&2";
    let out = d
        .berth(&["run", "--rm", "-a", "stdout", "busybox", "sh", "-c", script])
        .ok();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("to-out\n", ""));
    let err = d
        .berth(&["run", "--rm", "-a", "STDERR", "busybox", "sh", "-c", script])
        .ok();
    assert_eq!((err.stdout.as_str(), err.stderr.as_str()), ("", "to-err\n"));
    // Nothing attached is left out of the container's log.
    d.berth(&[
        "run", "--name", "logged", "-a", "stdout", "busybox", "sh", "-c", script,
    ])
    .ok();
    let (stdout, stderr) = d.logs("logged");
    assert_eq!((stdout.as_str(), stderr.as_str()), ("to-out\n", "to-err\n"));
    // With -i, stdin is attached too and closed when the input ends.
    let fed = d.berth_stdin(
        &["run", "--rm", "-i", "-a", "stdout", "busybox", "cat"],
        b"fed\n",
    );
    assert_eq!(fed.ok().stdout, "fed\n");
    d.berth(&["rm", "-f", "logged"]).ok();
}

#[test]
fn oom_score_adj_reaches_the_process_and_ignored_fields_are_refused() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // Raised: lowering it takes CAP_SYS_RESOURCE, which a test host may not give root.
    assert_eq!(
        d.run_rm(&[
            "--oom-score-adj",
            "300",
            "busybox",
            "cat",
            "/proc/self/oom_score_adj"
        ]),
        "300\n"
    );
    d.berth(&[
        "create",
        "--name",
        "scored",
        "--oom-score-adj",
        "500",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(d.inspect("scored")["HostConfig"]["OomScoreAdj"], 500);
    // Execs get the container's, as runc gives them in Docker.
    d.run_detached(&[
        "--name",
        "scored-running",
        "--oom-score-adj",
        "400",
        "busybox",
        "sleep",
        "1000",
    ]);
    let exec = d
        .berth(&["exec", "scored-running", "cat", "/proc/self/oom_score_adj"])
        .ok();
    assert_eq!(exec.stdout, "400\n", "{exec}");
    let before = d.container_ids();
    d.berth(&["create", "--oom-score-adj", "1001", "busybox", "true"])
        .code(1)
        .stderr_has("Invalid value 1001, range for oom score adj is [-1000, 1000]");
    // What the docker CLI can ask for and berth has nothing behind: refused, not dropped.
    for (flags, what) in [
        (&["--shm-size", "128m"][..], "--shm-size"),
        (&["--sysctl", "net.ipv4.ip_forward=1"], "--sysctl"),
        (&["--memory-swappiness", "10"], "--memory-swappiness"),
        (&["--oom-kill-disable"], "--oom-kill-disable"),
        (&["--cgroupns", "host"], "--cgroupns host"),
        (&["--cpu-rt-runtime", "100"], "--cpu-rt-runtime"),
    ] {
        let mut argv = vec!["create"];
        argv.extend_from_slice(flags);
        argv.extend_from_slice(&["busybox", "true"]);
        d.docker(&argv)
            .fails()
            .stderr_has(what)
            .stderr_has("not supported by berth yet");
        // And berth says the same before asking.
        let mut argv = vec!["create"];
        argv.extend_from_slice(flags);
        argv.extend_from_slice(&["busybox", "true"]);
        d.berth(&argv)
            .code(125)
            .stderr_has("not supported by berth yet");
    }
    assert_eq!(d.container_ids(), before);
    d.berth(&["rm", "-f", "scored", "scored-running"]).ok();
}
