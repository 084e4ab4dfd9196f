//! One berthd per exec root and per data root: a second one on a root in use refuses to
//! start, names the path and the PID holding it, and leaves the first daemon and its
//! containers alone.

use std::path::Path;
use std::process::Command;

use berth_tests::{binary, Background, Daemon, Output};

/// Runs a second berthd on the given roots; it must fail at once.
fn second_berthd(data_root: &Path, exec_root: &Path, socket: &Path) -> Output {
    let mut cmd = Command::new(binary("berthd"));
    cmd.arg("--data-root")
        .arg(data_root)
        .arg("--exec-root")
        .arg(exec_root)
        .arg("--host")
        .arg(format!("unix://{}", socket.display()));
    Background::spawn(cmd, None)
        .try_finish()
        .unwrap_or_else(|hung| panic!("the second berthd did not exit:\n{hung}"))
}

/// The first daemon still runs `name` (same PID, running) and starts new containers.
fn first_daemon_unharmed(d: &Daemon, name: &str, pid: i32) {
    assert_eq!(d.state(name), "running");
    assert_eq!(d.container_pid(name), pid);
    assert_eq!(
        d.run_rm(&["busybox", "echo", "still here"]).trim(),
        "still here"
    );
    assert!(
        !d.log_text().contains("no record in the data root"),
        "{}",
        d.log_text()
    );
}

#[test]
fn a_second_berthd_on_the_same_exec_root_refuses_to_start_and_touches_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "first", "busybox", "sleep", "600"]);
    let pid = d.container_pid("first");
    let other = tempfile::tempdir().unwrap();
    let socket = other.path().join("second.sock");

    let second = second_berthd(&other.path().join("data"), &d.exec_root, &socket).fails();

    let lock = d.exec_root.join("berthd.lock");
    let expected = format!(
        "another berthd (pid {}) is already running with exec root {}",
        d.pid(),
        d.exec_root.display()
    );
    assert!(second.stderr.contains(&expected), "{second}");
    assert!(
        second.stderr.contains(&lock.display().to_string()),
        "{second}"
    );
    // It stopped before touching its own data root or socket either.
    assert!(!other.path().join("data").exists(), "{second}");
    assert!(!socket.exists());
    first_daemon_unharmed(&d, "first", pid);
}

#[test]
fn a_second_berthd_on_the_same_data_root_refuses_to_start_and_touches_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["--name", "first", "busybox", "sleep", "600"]);
    let pid = d.container_pid("first");
    let other = tempfile::tempdir().unwrap();
    let exec_root = other.path().join("exec");
    let socket = other.path().join("second.sock");

    let second = second_berthd(&d.data_root, &exec_root, &socket).fails();

    let expected = format!(
        "another berthd (pid {}) is already running with data root {}",
        d.pid(),
        d.data_root.display()
    );
    assert!(second.stderr.contains(&expected), "{second}");
    // No supervisor was started for the refused daemon, no socket bound.
    assert!(!exec_root.join("supervisor.sock").exists(), "{second}");
    assert!(!socket.exists());
    first_daemon_unharmed(&d, "first", pid);
}
