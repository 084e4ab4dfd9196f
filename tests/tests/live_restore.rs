//! Nothing is lost when berthd dies: after `kill -9` (or a clean stop) and a restart on the
//! same roots, every container is listed with its true state, running ones still run and are
//! adopted again, and one that exited meanwhile reports its real exit code.

use std::fs;
use std::path::Path;

use berth_tests::{eventually, Daemon};

/// True once `pid` has exited (gone, or a zombie not yet reaped by its parent).
fn has_exited(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may contain spaces.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

fn is_alive(pid: i32) -> bool {
    !has_exited(pid)
}

/// The parent of `pid` and the file name of the parent's executable.
fn parent_program(pid: i32) -> (i32, String) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid: i32 = status
        .lines()
        .find_map(|line| line.strip_prefix("PPid:"))
        .expect("a PPid line")
        .trim()
        .parse()
        .unwrap();
    let exe = fs::read_link(format!("/proc/{ppid}/exe")).unwrap();
    let name = exe.file_name().unwrap().to_string_lossy().into_owned();
    (ppid, name)
}

/// A container that prints "before", waits for `go` to appear in the bind-mounted `trigger`
/// directory, prints "after" and exits with 42.
fn start_waiter(d: &Daemon, name: &str, trigger: &Path) {
    let bind = format!("{}:/trigger", trigger.display());
    d.run_detached(&[
        "--name",
        name,
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo before; while [ ! -e /trigger/go ]; do sleep 0.05; done; echo after; exit 42",
    ]);
    d.wait_for_output(name, "before");
}

#[test]
fn kill_9_of_berthd_loses_nothing() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    let trigger = tempfile::tempdir().unwrap();
    d.run_detached(&["--name", "keeper", "busybox", "sleep", "1000"]);
    start_waiter(&d, "waiter", trigger.path());
    d.berth(&["run", "--name", "finished", "busybox", "sh", "-c", "exit 3"])
        .code(3);
    d.berth(&["create", "--name", "fresh", "busybox", "true"])
        .ok();
    let keeper_pid = d.container_pid("keeper");
    let waiter_pid = d.container_pid("waiter");
    let (supervisor_pid, supervisor) = parent_program(keeper_pid);
    assert_eq!(
        supervisor, "berth-supervisor",
        "the supervisor parents the containers"
    );
    let ids_before = {
        let mut ids = d.container_ids();
        ids.sort();
        ids
    };

    d.kill9();
    assert!(is_alive(keeper_pid), "keeper died with berthd");
    // The waiter exits while berthd is down.
    fs::write(trigger.path().join("go"), "").unwrap();
    eventually("the waiter to exit while berthd is down", || {
        has_exited(waiter_pid)
    });
    d.restart();

    let mut ids_after = d.container_ids();
    ids_after.sort();
    assert_eq!(ids_after, ids_before, "every container is still listed");
    let keeper = d.inspect("keeper");
    assert_eq!(keeper["State"]["Status"], "running", "{keeper}");
    assert_eq!(
        keeper["State"]["Pid"], keeper_pid,
        "the same process, adopted"
    );
    assert_eq!(
        parent_program(keeper_pid).0,
        supervisor_pid,
        "the supervisor outlived berthd"
    );
    let waiter = d.inspect("waiter");
    assert_eq!(waiter["State"]["Status"], "exited", "{waiter}");
    assert_eq!(
        waiter["State"]["ExitCode"], 42,
        "its real exit code: {waiter}"
    );
    assert_eq!(
        d.logs("waiter").0,
        "before\nafter\n",
        "output written while berthd was down"
    );
    assert_eq!(d.inspect("finished")["State"]["ExitCode"], 3);
    assert_eq!(d.state("fresh"), "created");

    // The adopted container is fully managed again.
    d.berth(&["kill", "keeper"]).ok();
    assert_eq!(d.berth(&["wait", "keeper"]).ok().out(), "137");
    assert!(has_exited(keeper_pid));
    d.berth(&["start", "fresh"]).ok();
    assert_eq!(d.berth(&["wait", "fresh"]).ok().out(), "0");
    d.berth(&["run", "--rm", "busybox", "echo", "still works"])
        .ok()
        .stdout_has("still works");
    // Names survive too.
    d.berth(&["create", "--name", "keeper", "busybox", "true"])
        .code(1)
        .stderr_has("Conflict");
}

#[test]
fn a_clean_stop_leaves_containers_running() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    d.run_detached(&["--name", "survivor", "busybox", "sleep", "1000"]);
    let pid = d.container_pid("survivor");
    let status = d.terminate();
    assert!(
        status.success(),
        "berthd exits cleanly on SIGTERM: {status}"
    );
    assert!(is_alive(pid), "survivor was stopped with berthd");
    d.restart();
    assert_eq!(d.state("survivor"), "running");
    assert_eq!(d.container_pid("survivor"), pid);
    d.berth(&["stop", "-t", "1", "survivor"]).ok();
    assert_eq!(d.inspect("survivor")["State"]["ExitCode"], 137);
}

#[test]
fn wait_and_logs_work_on_a_container_adopted_after_a_crash() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    let trigger = tempfile::tempdir().unwrap();
    start_waiter(&d, "later", trigger.path());
    d.kill9();
    d.restart();
    assert_eq!(d.state("later"), "running");
    let waiting = d.berth_background(&["wait", "later"]);
    fs::write(trigger.path().join("go"), "").unwrap();
    assert_eq!(waiting.finish().ok().out(), "42");
    assert_eq!(d.berth(&["logs", "later"]).ok().stdout, "before\nafter\n");
}

#[test]
fn restart_policies_apply_after_a_crash() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    let trigger = tempfile::tempdir().unwrap();
    let bind = format!("{}:/trigger", trigger.path().display());
    // Fails once the trigger exists; on-failure brings it back (and it fails again).
    d.run_detached(&[
        "--name",
        "phoenix",
        "--restart",
        "on-failure:1",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo up; while [ ! -e /trigger/go ]; do sleep 0.05; done; exit 1",
    ]);
    d.wait_for_output("phoenix", "up");
    d.kill9();
    fs::write(trigger.path().join("go"), "").unwrap();
    d.restart();
    eventually("phoenix to be restarted once and exit again", || {
        let c = d.inspect("phoenix");
        c["RestartCount"] == 1 && c["State"]["Status"] == "exited"
    });
    assert_eq!(d.logs("phoenix").0, "up\nup\n");
}

/// As Docker does, a daemon start removes the `--rm` containers that are not running (their
/// records are written without fsync, so a host crash may leave them half-written), and
/// keeps a running one, which is removed when it exits.
#[test]
fn a_restart_removes_stopped_rm_containers_and_keeps_running_ones() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    d.berth(&["create", "--rm", "--name", "made", "busybox", "true"])
        .ok();
    d.berth(&["create", "--name", "kept", "busybox", "true"])
        .ok();
    d.run_detached(&["--rm", "--name", "runs", "busybox", "sleep", "1000"]);
    let running_pid = d.container_pid("runs");
    d.kill9();
    d.restart();

    let names = |d: &Daemon| -> Vec<String> {
        d.berth(&["ps", "-a", "--format", "{{.Names}}"])
            .ok()
            .lines()
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    eventually("the created --rm container to be removed", || {
        !names(&d).contains(&"made".to_string())
    });
    let left = names(&d);
    assert!(left.contains(&"kept".to_string()), "{left:?}");
    assert!(left.contains(&"runs".to_string()), "{left:?}");
    assert_eq!(d.container_pid("runs"), running_pid);

    d.berth(&["kill", "runs"]).ok();
    eventually(
        "the running --rm container to be removed once it exits",
        || !names(&d).contains(&"runs".to_string()),
    );
}

/// A container's record is its lease on its image's layers: a restart after `kill -9`, whose
/// garbage collection runs before any container is back, keeps the layers of an image removed
/// meanwhile, and clears away what a create interrupted before writing its record left.
#[test]
fn a_restart_keeps_the_layers_of_a_removed_image_for_its_containers() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    d.berth(&[
        "create",
        "--name",
        "orphaned",
        "busybox",
        "echo",
        "still here",
    ])
    .ok();
    d.berth(&["rmi", "-f", "busybox"]).ok();
    let layers = d.dir().join("data/image/layers");
    let layer_count = || {
        fs::read_dir(&layers)
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count()
    };
    assert_eq!(layer_count(), 1, "the container's lease keeps the layer");
    let interrupted = d.dir().join(format!("data/containers/{}", "ab".repeat(32)));
    fs::create_dir_all(interrupted.join("rootfs/upper")).unwrap();

    d.kill9();
    d.restart();

    assert_eq!(layer_count(), 1, "the layer outlives the restart");
    assert!(!interrupted.exists(), "an interrupted create is cleared");
    let out = d.berth(&["start", "-a", "orphaned"]).ok();
    assert_eq!(out.stdout, "still here\n");
    d.berth(&["rm", "orphaned"]).ok();
    eventually("the layer nothing uses any more to be deleted", || {
        layer_count() == 0
    });
}

/// A start answers before its record is written: a daemon killed in between leaves a record
/// still saying "created". The supervisor knows better: the next daemon adopts the running
/// container, and takes the exit of one that ended meanwhile.
#[test]
fn a_start_whose_record_was_not_written_is_recovered_from_the_supervisor() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    let trigger = tempfile::tempdir().unwrap();
    start_waiter(&d, "exits", trigger.path());
    d.run_detached(&["--name", "runs", "busybox", "sleep", "1000"]);
    let exits_pid = d.container_pid("exits");
    let runs_pid = d.container_pid("runs");
    let ids = ["exits", "runs"].map(|name| d.inspect(name)["Id"].as_str().unwrap().to_owned());

    d.kill9();
    for id in &ids {
        let path = d.dir().join(format!("data/containers/{id}/config.json"));
        let mut record: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        record["state"]["status"] = "created".into();
        record["state"]["pid"] = 0.into();
        fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
    }
    fs::write(trigger.path().join("go"), b"").unwrap();
    eventually("the container to exit while no daemon runs", || {
        has_exited(exits_pid)
    });
    d.restart();

    d.wait_for_state("exits", "exited");
    assert_eq!(d.inspect("exits")["State"]["ExitCode"], 42);
    assert_eq!(d.logs("exits").0, "before\nafter\n");
    assert_eq!(d.state("runs"), "running");
    assert_eq!(d.container_pid("runs"), runs_pid);
    d.berth(&["rm", "-f", "runs"]).ok();
}
