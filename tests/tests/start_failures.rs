//! A container that does not start never leaves a client waiting: an auto-remove container
//! whose start fails is removed (as dockerd does), so `docker run --rm` ends with the
//! daemon's message and code instead of waiting for a removal that never comes.

use std::time::Duration;

use berth_tests::Daemon;

fn kill(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory effects.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill -{signal} {pid}"
    );
}

/// Waits until container `name` exists (a background `run` created it).
fn wait_created(d: &Daemon, name: &str) {
    berth_tests::eventually(&format!("{name} to be created"), || {
        d.api("GET", &format!("/containers/{name}/json"), None)
            .status
            == 200
    });
}

/// Stops berthd (SIGSTOP) until dropped: it accepts connections and answers none.
struct Frozen(i32);

impl Frozen {
    fn freeze(pid: i32) -> Frozen {
        kill(pid, libc::SIGSTOP);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        kill(self.0, libc::SIGCONT);
    }
}

/// A `-v` source berthd must create at start, where nothing can be created: the create
/// succeeds, the start is refused by berthd itself before any process exists.
const UNCREATABLE_BIND: &str = "/proc/no-such-dir/data:/data";

#[test]
fn docker_run_rm_whose_start_is_refused_exits_125_and_leaves_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let run = d
        .docker(&["run", "--rm", "-v", UNCREATABLE_BIND, "busybox", "true"])
        .code(125);
    assert!(
        run.stderr
            .contains("creating bind source directory /proc/no-such-dir/data"),
        "{run}"
    );
    assert_eq!(d.container_ids(), Vec::<String>::new());
}

#[test]
fn docker_run_rm_whose_runtime_start_fails_exits_125_and_leaves_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let run = d
        .docker(&["run", "--rm", "--user", "nosuchuser", "busybox", "true"])
        .code(125);
    assert!(
        run.stderr.contains("unable to find user nosuchuser"),
        "{run}"
    );
    assert_eq!(d.container_ids(), Vec::<String>::new());
}

#[test]
fn docker_run_rm_of_a_missing_command_exits_127_and_leaves_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let run = d
        .docker(&["run", "--rm", "busybox", "/no/such/program"])
        .code(127);
    assert!(run.stderr.contains("/no/such/program"), "{run}");
    assert_eq!(d.container_ids(), Vec::<String>::new());
}

#[test]
fn berth_run_rm_whose_start_is_refused_fails_and_leaves_nothing() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let run = d
        .berth(&["run", "--rm", "-v", UNCREATABLE_BIND, "busybox", "true"])
        .code(125);
    assert!(
        run.stderr.contains("creating bind source directory"),
        "{run}"
    );
    assert_eq!(d.container_ids(), Vec::<String>::new());
}

#[test]
fn a_failed_start_without_rm_keeps_the_container_with_its_error() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&["run", "--name", "kept", "busybox", "/no/such/program"])
        .code(127);
    let state = &d.inspect("kept")["State"];
    assert_eq!(state["Status"], "created", "{state}");
    assert_eq!(state["ExitCode"], 127, "{state}");
    assert!(
        state["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("/no/such/program"),
        "{state}"
    );
}

#[test]
fn a_second_interrupt_ends_a_run_whose_daemon_does_not_answer() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let run = d.berth_background(&["run", "--name", "held", "busybox", "sleep", "600"]);
    wait_created(&d, "held");
    d.wait_for_state("held", "running");
    let frozen = Frozen::freeze(d.pid() as i32);
    kill(run.pid(), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    kill(run.pid(), libc::SIGINT);
    let ended = run.try_finish();
    drop(frozen);
    let ended = ended.unwrap_or_else(|hung| panic!("berth run hung:\n{hung}"));
    assert_eq!(ended.code, 130, "{ended}");
    assert!(
        ended.stderr.contains("did not take the previous SIGINT"),
        "{ended}"
    );
    // The container is untouched: the signal never reached it.
    assert_eq!(d.state("held"), "running");
}

#[test]
fn an_interrupt_the_container_takes_is_forwarded_and_the_run_goes_on() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // A shell as PID 1 ignores SIGINT unless it traps it: this one traps it and exits 7.
    let run = d.berth_background(&[
        "run",
        "--name",
        "trapper",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' INT; echo ready; while true; do sleep 0.05; done",
    ]);
    wait_created(&d, "trapper");
    d.wait_for_output("trapper", "ready");
    kill(run.pid(), libc::SIGINT);
    let ended = run.finish();
    assert_eq!(ended.code, 7, "{ended}");
}

#[test]
fn a_second_sigterm_ends_a_run_whose_start_hangs_on_a_stopped_supervisor() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // With the supervisor stopped the start cannot finish, and the forwarded SIGTERM is not
    // taken by the container, which never started.
    let frozen = Frozen::freeze(d.supervisor_pid());
    let run = d.berth_background(&["run", "--name", "stuck", "busybox", "true"]);
    wait_created(&d, "stuck");
    // Inspect and the listing answer while the start waits on the supervisor.
    let listed = d.api("GET", "/containers/json?all=1", None).json();
    assert_eq!(listed[0]["Names"][0], "/stuck", "{listed}");
    assert_eq!(listed[0]["State"], "created", "{listed}");
    std::thread::sleep(Duration::from_millis(500));
    kill(run.pid(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    kill(run.pid(), libc::SIGTERM);
    let ended = run.try_finish();
    drop(frozen);
    let ended = ended.unwrap_or_else(|hung| panic!("berth run hung:\n{hung}"));
    assert_eq!(ended.code, 143, "{ended}");
    assert!(
        ended.stderr.contains("did not take the previous SIGTERM"),
        "{ended}"
    );
}
