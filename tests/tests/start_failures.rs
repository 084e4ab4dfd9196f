//! A container that does not start never leaves a client waiting: an auto-remove container
//! whose start fails is removed (as dockerd does), so `docker run --rm` ends with the
//! daemon's message and code instead of waiting for a removal that never comes.

use berth_tests::Daemon;

#[test]
fn docker_run_rm_whose_start_is_refused_exits_125_and_leaves_nothing() {
    let d = Daemon::with_busybox();
    // berthd refuses named volumes at start (501): the create succeeded, the start fails.
    let run = d
        .docker(&["run", "--rm", "-v", "named:/data", "busybox", "true"])
        .code(125);
    assert!(
        run.stderr.contains("named volumes") && run.stderr.contains("not supported by berth yet"),
        "{run}"
    );
    assert_eq!(d.container_ids(), Vec::<String>::new());
}

#[test]
fn docker_run_rm_of_a_missing_command_exits_127_and_leaves_nothing() {
    let d = Daemon::with_busybox();
    let run = d
        .docker(&["run", "--rm", "busybox", "/no/such/program"])
        .code(127);
    assert!(run.stderr.contains("/no/such/program"), "{run}");
    assert_eq!(d.container_ids(), Vec::<String>::new());
}

#[test]
fn berth_run_rm_whose_start_is_refused_fails_and_leaves_nothing() {
    let d = Daemon::with_busybox();
    let run = d
        .berth(&["run", "--rm", "-v", "named:/data", "busybox", "true"])
        .code(125);
    assert!(run.stderr.contains("not supported by berth yet"), "{run}");
    assert_eq!(d.container_ids(), Vec::<String>::new());
}

#[test]
fn a_failed_start_without_rm_keeps_the_container_with_its_error() {
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
