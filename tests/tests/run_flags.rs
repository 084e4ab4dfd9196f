//! The options of `run` and `create`, each checked from inside the container and in
//! `inspect`.

use std::collections::BTreeSet;
use std::fs;

use berth_tests::{eventually, status_field, Daemon};

/// `berth run --rm ARGS...`, which must succeed; returns its stdout.
#[track_caller]
fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_owned).collect()
}

#[test]
fn env_from_flags_the_cli_environment_and_a_file() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env.list");
    fs::write(
        &env_file,
        "# a comment\nFROM_FILE=3\n\nALSO_FILE=four words\n",
    )
    .unwrap();

    let mut cmd = d.berth_command(&[
        "run",
        "--rm",
        "-e",
        "SHORT=1",
        "--env",
        "LONG=2",
        "-e",
        "PASSED",
        "--env-file",
        env_file.to_str().unwrap(),
        "busybox",
        "env",
    ]);
    cmd.env("PASSED", "from-the-cli");
    let out = berth_tests::run_command(cmd, None).ok();
    let env = lines(&out.stdout);
    for expected in [
        "SHORT=1",
        "LONG=2",
        "PASSED=from-the-cli",
        "FROM_FILE=3",
        "ALSO_FILE=four words",
        "HOME=/root",
    ] {
        assert!(env.contains(expected), "{expected} missing:\n{out}");
    }
    assert!(env.iter().any(|l| l.starts_with("PATH=")), "{out}");
}

#[test]
fn workdir_is_used_and_created() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    assert_eq!(d.run_rm(&["-w", "/tmp", "busybox", "pwd"]), "/tmp\n");
    assert_eq!(
        d.run_rm(&["--workdir", "/not/there/yet", "busybox", "pwd"]),
        "/not/there/yet\n"
    );
}

#[test]
fn user_by_uid_uid_gid_and_name_with_supplementary_groups() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    assert_eq!(d.run_rm(&["busybox", "id", "-u"]), "0\n");
    // A uid from the image's /etc/passwd takes that entry's primary group.
    assert_eq!(
        d.run_rm(&["-u", "1000", "busybox", "sh", "-c", "id -u; id -g"]),
        "1000\n1000\n"
    );
    assert_eq!(
        d.run_rm(&["-u", "1000:29", "busybox", "sh", "-c", "id -u; id -g"]),
        "1000\n29\n"
    );
    assert_eq!(
        d.run_rm(&["-u", "4242", "busybox", "sh", "-c", "id -u; id -g"]),
        "4242\n0\n"
    );
    let groups = d.run_rm(&[
        "--user",
        "user",
        "busybox",
        "sh",
        "-c",
        "id -u; id -g; id -G",
    ]);
    let mut lines = groups.lines();
    assert_eq!(lines.next(), Some("1000"));
    assert_eq!(lines.next(), Some("1000"));
    let supplementary: BTreeSet<&str> = lines.next().unwrap_or_default().split(' ').collect();
    assert_eq!(
        supplementary,
        BTreeSet::from(["1000", "29", "100"]),
        "{groups}"
    );

    d.berth(&["run", "-u", "nosuchuser", "busybox", "true"])
        .code(125)
        .stderr_has("nosuchuser");
    d.berth(&["run", "--rm", "-u", "nosuchuser", "busybox", "true"])
        .code(125);
    assert_eq!(d.container_ids().len(), 1, "--rm removed the second one");
}

#[test]
fn hostname_flag_sets_the_hostname_and_etc_hostname() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    assert_eq!(
        d.run_rm(&[
            "-h",
            "myhost",
            "busybox",
            "sh",
            "-c",
            "hostname; cat /etc/hostname"
        ]),
        "myhost\nmyhost\n"
    );
    assert_eq!(
        d.run_rm(&["--hostname", "other", "busybox", "hostname"]),
        "other\n"
    );
}

#[test]
fn entrypoint_replaces_the_command_prefix() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "create",
        "--name",
        "ep",
        "--entrypoint",
        "echo",
        "busybox",
        "hi",
        "there",
    ])
    .ok();
    let config = &d.inspect("ep")["Config"];
    assert_eq!(config["Entrypoint"], serde_json::json!(["echo"]));
    assert_eq!(config["Cmd"], serde_json::json!(["hi", "there"]));
    d.berth(&["start", "ep"]).ok();
    assert_eq!(d.berth(&["wait", "ep"]).ok().out(), "0");
    assert_eq!(d.logs("ep").0, "hi there\n");
}

#[test]
fn labels_are_stored() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "create", "--name", "lab", "-l", "a=1", "--label", "b=two", "-l", "flag", "busybox", "true",
    ])
    .ok();
    let labels = &d.inspect("lab")["Config"]["Labels"];
    assert_eq!(labels["a"], "1");
    assert_eq!(labels["b"], "two");
    assert_eq!(labels["flag"], "");
}

#[test]
fn volume_binds_a_host_directory_read_write_and_read_only() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("from-host"), "hello from the host\n").unwrap();
    let bind = format!("{}:/data", host.path().display());
    let out = d.run_rm(&[
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "cat /data/from-host; echo written > /data/from-ctr",
    ]);
    assert_eq!(out, "hello from the host\n");
    assert_eq!(
        fs::read_to_string(host.path().join("from-ctr")).unwrap(),
        "written\n"
    );

    let read_only = format!("{}:/data:ro", host.path().display());
    let out = d
        .berth(&[
            "run",
            "--rm",
            "--volume",
            &read_only,
            "busybox",
            "sh",
            "-c",
            "cat /data/from-host; touch /data/nope",
        ])
        .fails();
    assert_eq!(out.stdout, "hello from the host\n");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    assert!(!host.path().join("nope").exists());
}

#[test]
fn mount_bind_and_tmpfs() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("f"), "content\n").unwrap();
    let bind = format!("type=bind,source={},target=/m", host.path().display());
    assert_eq!(
        d.run_rm(&["--mount", &bind, "busybox", "cat", "/m/f"]),
        "content\n"
    );
    d.run_rm(&["--mount", &bind, "busybox", "touch", "/m/rw"]);
    assert!(host.path().join("rw").exists());

    let bind_ro = format!("{bind},readonly");
    d.berth(&[
        "run", "--rm", "--mount", &bind_ro, "busybox", "touch", "/m/ro",
    ])
    .fails()
    .stderr_has("Read-only file system");
    assert!(!host.path().join("ro").exists());

    let mounts = d.run_rm(&[
        "--mount",
        "type=tmpfs,target=/scratch",
        "busybox",
        "sh",
        "-c",
        "touch /scratch/x && cat /proc/mounts",
    ]);
    assert!(
        mounts
            .lines()
            .any(|l| l.starts_with("tmpfs /scratch tmpfs ")),
        "{mounts}"
    );
}

#[test]
fn tmpfs_flag_mounts_a_tmpfs() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let mounts = d.run_rm(&[
        "--tmpfs",
        "/cache",
        "busybox",
        "sh",
        "-c",
        "touch /cache/x && cat /proc/mounts",
    ]);
    assert!(
        mounts.lines().any(|l| l.starts_with("tmpfs /cache tmpfs ")),
        "{mounts}"
    );
}

#[test]
fn read_only_makes_the_root_filesystem_read_only() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&["run", "--rm", "--read-only", "busybox", "touch", "/file"])
        .fails()
        .stderr_has("Read-only file system");
    // Mounts of the container's own stay writable.
    d.run_rm(&[
        "--read-only",
        "--tmpfs",
        "/tmp",
        "busybox",
        "touch",
        "/tmp/file",
    ]);
    d.run_rm(&["busybox", "touch", "/file"]);
}

#[test]
fn resource_flags_are_recorded() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "create",
        "--name",
        "res",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "32",
        "busybox",
        "true",
    ])
    .ok();
    let host_config = &d.inspect("res")["HostConfig"];
    assert_eq!(host_config["Memory"], 64 * 1024 * 1024);
    assert_eq!(host_config["NanoCpus"], 500_000_000);
    assert_eq!(host_config["PidsLimit"], 32);

    d.berth(&[
        "create", "--name", "res2", "--memory", "1g", "busybox", "true",
    ])
    .ok();
    assert_eq!(
        d.inspect("res2")["HostConfig"]["Memory"],
        1024 * 1024 * 1024
    );
}

fn interfaces(proc_net_dev: &str) -> BTreeSet<String> {
    proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_owned()))
        .collect()
}

#[test]
fn network_default_and_none_have_only_loopback_up() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    for network in [None, Some("none")] {
        let mut args = vec![];
        if let Some(mode) = network {
            args.extend(["--network", mode]);
        }
        args.extend([
            "busybox",
            "sh",
            "-c",
            "cat /proc/net/dev; echo ---; ip -o link",
        ]);
        let out = d.run_rm(&args);
        let (dev, links) = out.split_once("---\n").unwrap();
        assert_eq!(
            interfaces(dev),
            BTreeSet::from(["lo".to_owned()]),
            "{network:?}: {out}"
        );
        let lo = links
            .lines()
            .find(|l| l.contains(" lo:"))
            .unwrap_or_default();
        assert!(lo.contains("UP"), "{network:?}: lo is up: {out}");
    }
}

#[test]
fn network_host_shares_the_host_interfaces() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let host = interfaces(&fs::read_to_string("/proc/net/dev").unwrap());
    let inside = interfaces(&d.run_rm(&["--network", "host", "busybox", "cat", "/proc/net/dev"]));
    assert_eq!(inside, host);
    d.berth(&[
        "create",
        "--name",
        "hostnet",
        "--network",
        "host",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(d.inspect("hostnet")["HostConfig"]["NetworkMode"], "host");
}

fn cap_eff(d: &Daemon, flags: &[&str]) -> String {
    let mut args = flags.to_vec();
    args.extend(["busybox", "cat", "/proc/self/status"]);
    let status = d.run_rm(&args);
    status_field(&status, "CapEff")
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn cap_add_and_cap_drop() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    assert_eq!(cap_eff(&d, &["--cap-add", "NET_ADMIN"]), "00000000a80435fb");
    assert_eq!(
        cap_eff(&d, &["--cap-add", "CAP_NET_ADMIN"]),
        "00000000a80435fb"
    );
    assert_eq!(cap_eff(&d, &["--cap-drop", "CHOWN"]), "00000000a80425fa");
    assert_eq!(cap_eff(&d, &["--cap-drop", "ALL"]), "0000000000000000");
    assert_eq!(
        cap_eff(&d, &["--cap-drop", "ALL", "--cap-add", "KILL"]),
        "0000000000000020"
    );

    // The capabilities take effect, not just show.
    d.run_rm(&[
        "--cap-add",
        "NET_ADMIN",
        "busybox",
        "ip",
        "link",
        "set",
        "lo",
        "mtu",
        "1400",
    ]);
    d.berth(&[
        "run", "--rm", "busybox", "ip", "link", "set", "lo", "mtu", "1400",
    ])
    .fails();
    d.run_rm(&["busybox", "chown", "1000", "/tmp"]);
    d.berth(&[
        "run",
        "--rm",
        "--cap-drop",
        "CHOWN",
        "busybox",
        "chown",
        "1000",
        "/tmp",
    ])
    .fails()
    .stderr_has("Operation not permitted");
}

#[test]
fn privileged_gets_every_capability_and_no_seccomp() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let own = fs::read_to_string("/proc/self/status").unwrap();
    // A container cannot hold more than the daemon's bounding set, which is the test's.
    let bounding = status_field(&own, "CapBnd").unwrap().to_owned();
    let status = d.run_rm(&["--privileged", "busybox", "cat", "/proc/self/status"]);
    assert_eq!(
        status_field(&status, "CapEff"),
        Some(bounding.as_str()),
        "{status}"
    );
    assert_eq!(status_field(&status, "Seccomp"), Some("0"), "{status}");
}

#[test]
fn security_opt_no_new_privileges_and_seccomp_unconfined() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let default = d.run_rm(&["busybox", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&default, "NoNewPrivs"), Some("0"), "{default}");
    assert_eq!(status_field(&default, "Seccomp"), Some("2"), "{default}");

    let nnp = d.run_rm(&[
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(status_field(&nnp, "NoNewPrivs"), Some("1"), "{nnp}");

    let unconfined = d.run_rm(&[
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(
        status_field(&unconfined, "Seccomp"),
        Some("0"),
        "{unconfined}"
    );
}

fn restart_count(d: &Daemon, name: &str) -> i64 {
    d.inspect(name)["RestartCount"].as_i64().unwrap_or(-1)
}

#[test]
fn restart_on_failure_with_a_maximum() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&[
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    eventually("flaky to be restarted twice and then give up", || {
        restart_count(&d, "flaky") == 2 && d.state("flaky") == "exited"
    });
    let policy = &d.inspect("flaky")["HostConfig"]["RestartPolicy"];
    assert_eq!(policy["Name"], "on-failure");
    assert_eq!(policy["MaximumRetryCount"], 2);
    assert_eq!(d.inspect("flaky")["State"]["ExitCode"], 1);
    assert_eq!(d.logs("flaky").0, "run\nrun\nrun\n");
}

#[test]
fn restart_always_and_unless_stopped_restart_after_a_clean_exit() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    for policy in ["always", "unless-stopped"] {
        let name = format!("again-{policy}");
        d.run_detached(&["--name", &name, "--restart", policy, "busybox", "true"]);
        eventually(&format!("{name} to be restarted"), || {
            restart_count(&d, &name) >= 1
        });
        assert_eq!(
            d.inspect(&name)["HostConfig"]["RestartPolicy"]["Name"],
            policy
        );
        // A container stopped by hand stays stopped.
        d.berth(&["stop", &name]).ok();
        assert_eq!(d.state(&name), "exited");
    }
}

#[test]
fn restart_no_is_the_default() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&["run", "--name", "once", "busybox", "sh", "-c", "exit 1"])
        .code(1);
    d.berth(&[
        "run",
        "--name",
        "once-no",
        "--restart",
        "no",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ])
    .code(1);
    for name in ["once", "once-no"] {
        let c = d.inspect(name);
        assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "no", "{c}");
        assert_eq!(c["RestartCount"], 0, "{c}");
    }
}

#[test]
fn init_runs_a_small_init_as_pid_1() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    assert_eq!(d.run_rm(&["busybox", "sh", "-c", "echo $$"]), "1\n");
    let pid = d.run_rm(&["--init", "busybox", "sh", "-c", "echo $$"]);
    assert_ne!(pid, "1\n", "with --init, the command is not PID 1");

    // The init forwards SIGTERM to sleep, which dies of it: 128 + 15. Without an init, sleep
    // as PID 1 would ignore SIGTERM and only the SIGKILL after the grace period would end it.
    d.run_detached(&["--name", "with-init", "--init", "busybox", "sleep", "1000"]);
    d.berth(&["stop", "-t", "20", "with-init"]).ok();
    assert_eq!(d.inspect("with-init")["State"]["ExitCode"], 143);
}
