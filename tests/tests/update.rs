//! `docker update` through the docker CLI, the API and docker-py: the limits reach a running
//! container's cgroup files (read from the host), a stopped container gets them at its next
//! start, inspect and a daemon restart show them, and every refusal changes nothing.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use berth_tests::cgroups::{is_v1, Limits};
use berth_tests::{eventually, run_command, Daemon};

const MIB: i64 = 1 << 20;

#[test]
fn docker_update_reaches_running_and_stopped_containers_and_is_kept() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    d.docker(&[
        "run", "-d", "--name", "web", "-m", "64m", "busybox", "sleep", "1000",
    ])
    .ok();
    let id = d.inspect("web")["Id"].as_str().unwrap().to_string();
    assert_eq!(
        d.inspect("web")["HostConfig"]["MemorySwap"],
        128 * MIB,
        "Docker's default memory+swap is twice the memory"
    );

    let out = d
        .docker(&[
            "update",
            "--memory",
            "128m",
            "--memory-swap",
            "256m",
            "--memory-reservation",
            "32m",
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "--pids-limit",
            "42",
            "--cpuset-cpus",
            "0",
            "--restart",
            "on-failure:2",
            "web",
        ])
        .ok();
    assert_eq!(out.stdout, "web\n", "{out}");
    let limits = Limits {
        pid: d.container_pid("web"),
    };
    assert_eq!(limits.memory(), (128 * MIB).to_string());
    let swap = if is_v1() { 256 * MIB } else { 128 * MIB };
    assert_eq!(limits.swap(), swap.to_string());
    assert_eq!(limits.reservation(), (32 * MIB).to_string());
    assert_eq!(limits.cpu_max(), "50000 100000");
    assert_eq!(limits.shares(), if is_v1() { "512" } else { "20" });
    assert_eq!(limits.pids(), "42");
    assert_eq!(limits.cpuset(), "0");

    let check_record = |d: &Daemon, pids: i64| {
        let host = &d.inspect("web")["HostConfig"];
        assert_eq!(host["Memory"], 128 * MIB, "{host}");
        assert_eq!(host["MemorySwap"], 256 * MIB, "{host}");
        assert_eq!(host["MemoryReservation"], 32 * MIB, "{host}");
        assert_eq!(host["NanoCpus"], 500_000_000, "{host}");
        assert_eq!(host["CpuShares"], 512, "{host}");
        assert_eq!(host["PidsLimit"], pids, "{host}");
        assert_eq!(host["CpusetCpus"], "0", "{host}");
        assert_eq!(host["RestartPolicy"]["Name"], "on-failure", "{host}");
        assert_eq!(host["RestartPolicy"]["MaximumRetryCount"], 2, "{host}");
    };
    check_record(&d, 42);

    // A stopped container takes the update at its next start.
    d.docker(&["stop", "-t", "0", "web"]).ok();
    d.docker(&["update", "--pids-limit", "7", "web"]).ok();
    check_record(&d, 7);
    d.terminate();
    d.restart();
    let since = chrono::Utc::now().timestamp().to_string();
    check_record(&d, 7);
    d.docker(&["start", "web"]).ok();
    let limits = Limits {
        pid: d.container_pid("web"),
    };
    assert_eq!(limits.pids(), "7");
    assert_eq!(limits.memory(), (128 * MIB).to_string());
    assert_eq!(limits.cpu_max(), "50000 100000");

    // A block IO weight is set where the kernel has one, else dropped with Docker's warning.
    let weighted = d.docker(&["update", "--blkio-weight", "300", "web"]).ok();
    let blkio_weight = if is_v1() {
        PathBuf::from("/sys/fs/cgroup/blkio/blkio.weight").exists()
    } else {
        fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == "io")
    };
    if blkio_weight {
        assert_eq!(d.inspect("web")["HostConfig"]["BlkioWeight"], 300);
    } else {
        assert!(
            weighted
                .stdout
                .contains("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."),
            "{weighted}"
        );
        assert_eq!(d.inspect("web")["HostConfig"]["BlkioWeight"], 0);
    }

    // Lifting a limit.
    d.docker(&["update", "--cpu-quota", "20000", "web"])
        .code(1)
        .stderr_has(&format!("Cannot update container {id}: Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"));
    d.docker(&["update", "--pids-limit", "-1", "web"]).ok();
    assert_eq!(limits.pids(), "max");
    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    let events = d
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "event=update",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .ok();
    // Since the restart: the weight and the lifted PIDs limit; the refused quota made none.
    assert_eq!(events.stdout, "web\nweb\n", "{events}");
}

#[test]
fn refused_updates_change_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // 24 MiB of /dev/shm (tmpfs, charged to the container, freed only by swap).
    d.docker(&[
        "run",
        "-d",
        "--name",
        "hog",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=24 && touch /tmp/ready; exec sleep 1000",
    ])
    .ok();
    eventually("the hog to fill /dev/shm", || {
        d.docker(&["exec", "hog", "test", "-f", "/tmp/ready"]).code == 0
    });
    let id = d.inspect("hog")["Id"].as_str().unwrap().to_string();
    let before = d.inspect("hog")["HostConfig"].clone();
    let limits = Limits {
        pid: d.container_pid("hog"),
    };

    let below = d
        .docker(&["update", "-m", "10m", "--memory-swap", "20m", "hog"])
        .code(1);
    assert!(
        below.stderr.contains(&format!(
            "Cannot update container {id}: unable to set memory limit to 10485760 (current usage: "
        )),
        "{below}"
    );
    assert_eq!(limits.memory(), (64 * MIB).to_string());
    if is_v1() {
        assert_eq!(limits.swap(), (128 * MIB).to_string());
    }

    let refusals: [(&[&str], &str); 4] = [
        (
            &["-m", "64m", "--memory-swap", "32m"],
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            &["-m", "200m"],
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
        ),
        (&["-m", "1m"], "Minimum memory limit allowed is 6MB"),
        (
            &["--cpu-period", "10"],
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
    ];
    for (flags, message) in refusals {
        let mut args = vec!["update"];
        args.extend_from_slice(flags);
        args.push("hog");
        d.docker(&args).code(1).stderr_has(message);
    }
    d.docker(&["update", "-m", "100m", "--memory-swap", "200m", "nosuch"])
        .code(1)
        .stderr_has("No such container: nosuch");
    let missing = d.api(
        "POST",
        "/containers/nosuch/update",
        Some((
            "application/json",
            br#"{"Memory": 104857600, "MemorySwap": 209715200}"#,
        )),
    );
    assert_eq!(missing.status, 404, "{missing}");
    let bad = d.api(
        "POST",
        "/containers/hog/update",
        Some(("application/json", br#"{"Memory": 1024}"#)),
    );
    assert_eq!(bad.status, 400, "{bad}");
    d.docker(&["update", "hog"])
        .code(1)
        .stderr_has("you must provide one or more flags when using this command");

    assert_eq!(d.inspect("hog")["HostConfig"], before);
    assert_eq!(limits.memory(), (64 * MIB).to_string());

    // A container removed at exit keeps "no" as its restart policy.
    d.docker(&[
        "run", "-d", "--rm", "--name", "brief", "busybox", "sleep", "1000",
    ])
    .ok();
    let brief = d.inspect("brief")["Id"].as_str().unwrap().to_string();
    d.docker(&["update", "--restart", "always", "brief"])
        .code(1)
        .stderr_has(&format!("Cannot update container {brief}: Restart policy cannot be updated because AutoRemove is enabled for the container"));
    assert_eq!(
        d.inspect("brief")["HostConfig"]["RestartPolicy"]["Name"],
        "no"
    );
}

#[test]
fn berth_update_and_docker_py_update_set_the_memory_limit() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&[
        "run", "-d", "--name", "small", "-m", "64m", "busybox", "sleep", "1000",
    ])
    .ok();
    let out = d
        .berth(&[
            "update",
            "-m",
            "96m",
            "--restart",
            "unless-stopped",
            "small",
        ])
        .ok();
    assert_eq!(out.stdout, "small\n", "{out}");
    let limits = Limits {
        pid: d.container_pid("small"),
    };
    assert_eq!(limits.memory(), (96 * MIB).to_string());
    assert_eq!(
        d.inspect("small")["HostConfig"]["RestartPolicy"]["Name"],
        "unless-stopped"
    );
    d.berth(&["update", "small"])
        .code(1)
        .stderr_has("you must provide one or more flags when using this command");

    let script = r#"
import docker
client = docker.from_env()
c = client.containers.get("small")
result = c.update(mem_limit="100m", memswap_limit="300m", cpu_shares=700)
assert result == {"Warnings": []}, result
c.reload()
assert c.attrs["HostConfig"]["Memory"] == 100 << 20, c.attrs["HostConfig"]
assert c.attrs["HostConfig"]["MemorySwap"] == 300 << 20, c.attrs["HostConfig"]
try:
    c.update(mem_limit="1m")
except docker.errors.APIError as e:
    assert e.status_code == 400, e
    assert "Minimum memory limit allowed is 6MB" in str(e), e
else:
    raise AssertionError("a 1m limit was accepted")
print("ok")
"#;
    let mut python = Command::new("python3");
    python
        .args(["-c", script])
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH");
    let out = run_command(python, None);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "ok\n", "{out}");
    assert_eq!(limits.memory(), (100 * MIB).to_string());
    if is_v1() {
        assert_eq!(limits.shares(), "700");
    }
    if is_v1() {
        assert_eq!(limits.swap(), (300 * MIB).to_string());
    }
}
