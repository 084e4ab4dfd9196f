//! `--group-add`: numbers the image's /etc/group lacks are kept as they are, names come from
//! the image's /etc/group (the busybox fixture has `audio` = 29, and `wheel` = 10 lists root),
//! and an unknown name is Docker's error. Execs get the groups too, as in Docker.

use berth_tests::Daemon;

#[test]
fn added_groups_reach_the_process_and_its_execs() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--group-add",
            "4242",
            "--group-add",
            "audio",
            "busybox",
            "id",
            "-G",
        ])
        .ok();
    // The primary group, then the others as the kernel keeps them (sorted): root's own
    // membership (wheel), audio and the number no group file names.
    assert_eq!(out.stdout, "0 10 29 4242\n", "{out}");
    let user = d
        .berth(&[
            "run",
            "--rm",
            "-u",
            "user",
            "--group-add",
            "777",
            "busybox",
            "id",
            "-G",
        ])
        .ok();
    assert_eq!(user.stdout, "1000 29 100 777\n", "{user}");

    d.docker(&[
        "run",
        "-d",
        "--name",
        "grouped",
        "--group-add",
        "4242",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(
        d.inspect("grouped")["HostConfig"]["GroupAdd"],
        serde_json::json!(["4242"])
    );
    let exec = d.docker(&["exec", "grouped", "id", "-G"]).ok();
    assert_eq!(exec.stdout, "0 10 4242\n", "{exec}");

    d.docker(&["run", "--rm", "--group-add", "nosuch", "busybox", "true"])
        .code(125)
        .stderr_has("Unable to find group nosuch: no matching entries in group file");
}
