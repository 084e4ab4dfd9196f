//! `container prune` and `system prune`, through berth and the docker CLI.

use berth_tests::Daemon;

fn names(daemon: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = daemon
        .api("GET", "/containers/json?all=true", None)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["Names"][0]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn container_prune_removes_stopped_containers_only() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    daemon
        .berth(&["run", "-d", "--name", "running", "busybox", "sleep", "1000"])
        .ok();
    daemon
        .berth(&["create", "--name", "created", "busybox", "true"])
        .ok();
    daemon
        .berth(&[
            "run",
            "--name",
            "exited",
            "busybox",
            "sh",
            "-c",
            "head -c 300000 /dev/zero >/big",
        ])
        .ok();
    daemon
        .berth(&[
            "run", "--name", "labelled", "--label", "keep=yes", "busybox", "true",
        ])
        .ok();

    // Filters: a label to keep out, and an `until` in the past matches nothing.
    let none = daemon
        .docker(&["container", "prune", "-f", "--filter", "until=1h"])
        .ok();
    assert_eq!(none.stdout, "Total reclaimed space: 0B\n", "{none}");
    let pruned = daemon
        .berth(&["container", "prune", "-f", "--filter", "label!=keep=yes"])
        .ok();
    assert!(
        pruned.stdout.starts_with("Deleted Containers:\n"),
        "{pruned}"
    );
    assert_eq!(
        pruned.stdout.lines().filter(|l| l.len() == 64).count(),
        2,
        "{pruned}"
    );
    // The exited container's 300 kB file is what it freed.
    assert!(
        pruned.stdout.ends_with("Total reclaimed space: 300kB\n"),
        "{pruned}"
    );
    assert_eq!(names(&daemon), ["labelled", "running"]);

    // The docker CLI's prune, without filters; the running container stays.
    let pruned = daemon.docker(&["container", "prune", "-f"]).ok();
    assert!(pruned.stdout.contains("Deleted Containers:"), "{pruned}");
    assert_eq!(names(&daemon), ["running"]);

    // Bad filters are the daemon's 400, and nothing goes.
    let bad = daemon.berth(&["container", "prune", "-f", "--filter", "until=yesterday"]);
    assert_ne!(bad.code, 0, "{bad}");
    assert!(bad.stderr.contains("invalid timestamp"), "{bad}");
    let bad = daemon.docker(&["container", "prune", "-f", "--filter", "name=x"]);
    assert!(bad.stderr.contains("invalid filter 'name'"), "{bad}");
    assert_eq!(names(&daemon), ["running"]);

    daemon.berth(&["rm", "-f", "running"]).ok();
}

#[test]
fn system_prune_removes_stopped_containers_then_unused_images() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    daemon.berth(&["tag", "busybox", "other"]).ok();
    daemon
        .berth(&["run", "--name", "done", "busybox", "true"])
        .ok();
    let refused = daemon.berth(&["system", "prune", "-f", "--volumes"]);
    assert_eq!(refused.code, 125, "{refused}");
    assert!(
        refused.stderr.contains("not supported by berth yet"),
        "{refused}"
    );

    // Without -a only dangling images go: busybox is tagged, so it stays.
    let pruned = daemon.berth(&["system", "prune", "-f"]).ok();
    assert!(
        pruned.stdout.starts_with("Deleted Containers:\n"),
        "{pruned}"
    );
    assert!(!pruned.stdout.contains("Deleted Images:"), "{pruned}");
    assert!(names(&daemon).is_empty());
    assert_eq!(daemon.images().as_array().unwrap().len(), 1);

    // With -a every image without a container goes, and a question declined keeps them.
    let declined = daemon.berth_stdin(&["system", "prune", "-a"], b"n\n").ok();
    assert!(
        declined
            .stdout
            .contains("Are you sure you want to continue? [y/N]"),
        "{declined}"
    );
    assert_eq!(daemon.images().as_array().unwrap().len(), 1);
    let pruned = daemon.berth(&["system", "prune", "-af"]).ok();
    assert!(
        pruned.stdout.contains("untagged: busybox:latest"),
        "{pruned}"
    );
    assert!(pruned.stdout.contains("untagged: other:latest"), "{pruned}");
    assert!(pruned.stdout.contains("deleted: sha256:"), "{pruned}");
    assert_eq!(daemon.images().as_array().unwrap().len(), 0);
}
