//! `commit`: a container's changes become a layer on its image, through berth and the docker
//! CLI.

use std::io::Read;

use berth_tests::Daemon;

/// Adds, changes and deletes files, deletes a file of the image, and replaces a directory
/// of the image (an opaque directory for overlayfs).
const CHANGES: &str = "echo added > /added.txt; echo changed > /etc/group; rm /etc/passwd; \
                       rm -rf /usr; mkdir -p /usr/only; echo x > /usr/only/file";

/// The names and entry types of a layer tar, sorted.
fn layer_entries(daemon: &Daemon, diff_id: &str) -> Vec<String> {
    let hex = diff_id.strip_prefix("sha256:").unwrap();
    // The commit layer is stored uncompressed, so its blob is named by its diff_id.
    let blob = daemon.data_root.join("image/blobs/sha256").join(hex);
    let mut bytes = Vec::new();
    std::fs::File::open(&blob)
        .unwrap_or_else(|e| panic!("{}: {e}", blob.display()))
        .read_to_end(&mut bytes)
        .unwrap();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            format!(
                "{} {:?}",
                e.path().unwrap().display(),
                e.header().entry_type()
            )
        })
        .collect();
    names.sort();
    names
}

#[test]
fn berth_commit_stores_added_changed_and_deleted_files_as_a_layer() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    // The image has /usr with content, so replacing it is visible.
    daemon
        .berth(&[
            "run", "--name", "base", "busybox", "mkdir", "-p", "/usr/old",
        ])
        .ok();
    let base = daemon.berth(&["commit", "base", "withusr"]).ok();
    assert!(base.out().starts_with("sha256:"), "{base}");

    daemon
        .berth(&["run", "--name", "changer", "withusr", "sh", "-c", CHANGES])
        .ok();
    // `diff` lists the same changes, as docker prints them; the engine's /etc files are not
    // the container's changes, so a container that wrote nothing has none.
    let expected = [
        "A /added.txt",
        "C /etc",
        "C /etc/group",
        "D /etc/passwd",
        "C /usr",
        "A /usr/only",
        "A /usr/only/file",
    ];
    assert_eq!(daemon.berth(&["diff", "changer"]).ok().lines(), expected);
    assert_eq!(
        daemon
            .docker(&["container", "diff", "changer"])
            .ok()
            .lines(),
        expected
    );
    daemon
        .berth(&["create", "--name", "fresh", "busybox", "true"])
        .ok();
    daemon.berth(&["start", "-a", "fresh"]).ok();
    assert_eq!(daemon.docker(&["diff", "fresh"]).ok().stdout, "");
    let missing = daemon.berth(&["diff", "nosuch"]);
    assert!(
        missing.stderr.contains("No such container: nosuch"),
        "{missing}"
    );
    let committed = daemon
        .berth(&[
            "commit",
            "-m",
            "the changes",
            "-a",
            "Someone <someone@example.com>",
            "-c",
            r#"CMD ["echo","x"]"#,
            "--change",
            "ENV COMMITTED=yes",
            "changer",
            "changed:v1",
        ])
        .ok();
    let id = committed.out().to_owned();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "commit prints the image ID: {committed}"
    );

    let check = daemon
        .berth(&[
            "run",
            "--rm",
            "changed:v1",
            "sh",
            "-c",
            "cat /added.txt /etc/group; test -e /etc/passwd && echo passwd-still-there; \
             ls /usr; echo $COMMITTED",
        ])
        .ok();
    assert_eq!(
        check.lines(),
        ["added", "changed", "only", "yes"],
        "{check}"
    );
    // The CMD given with --change is the image's command.
    assert_eq!(daemon.berth(&["run", "--rm", "changed:v1"]).ok().out(), "x");

    // One more layer than its parent, in Docker's whiteout form.
    let inspect: serde_json::Value =
        serde_json::from_str(daemon.berth(&["image", "inspect", "changed:v1"]).ok().out()).unwrap();
    let layers = inspect[0]["RootFS"]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{inspect}");
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert_eq!(inspect[0]["Author"], "Someone <someone@example.com>");
    let entries = layer_entries(&daemon, layers[2].as_str().unwrap());
    for expected in [
        "added.txt Regular",
        "etc/.wh.passwd Regular",
        "etc/group Regular",
        "usr/.wh..wh..opq Regular",
        "usr/only/file Regular",
    ] {
        assert!(
            entries.iter().any(|e| e == expected),
            "{expected} in {entries:?}"
        );
    }
    assert!(
        !entries.iter().any(|e| e.contains("old")),
        "the replaced directory's content is not in the layer: {entries:?}"
    );
    for engine_file in ["etc/hosts ", "etc/hostname ", "etc/resolv.conf "] {
        assert!(
            !entries.iter().any(|e| e.starts_with(engine_file)),
            "the engine's mount points are not in the layer: {entries:?}"
        );
    }

    let history = daemon.berth(&["history", "changed:v1"]).ok();
    let lines = history.lines();
    assert!(lines[1].starts_with(&id[7..19]), "{history}");
    assert!(lines[1].contains("the changes"), "{history}");
    assert_eq!(lines.len(), 4, "{history}");
}

#[test]
fn docker_commit_pauses_a_running_container_and_its_image_runs() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    daemon.run_detached(&[
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo hi > /hello; rm /etc/passwd; echo ready; sleep 300",
    ]);
    daemon.wait_for_output("live", "ready");
    let committed = daemon
        .docker(&[
            "commit",
            "--change",
            "ENV FROM_DOCKER=1",
            "-c",
            r#"CMD ["echo","x"]"#,
            "-m",
            "via docker",
            "live",
            "fromdocker",
        ])
        .ok();
    assert!(committed.out().starts_with("sha256:"), "{committed}");
    assert_eq!(daemon.state("live"), "running", "unpaused after the commit");
    // Every event so far: `--until` a second ahead ends the stream.
    let actions = |daemon: &Daemon| {
        let until = chrono::Utc::now().timestamp() + 1;
        daemon
            .docker(&[
                "events",
                "--since",
                "0",
                "--until",
                &until.to_string(),
                "--filter",
                "container=live",
                "--format",
                "{{.Action}}",
            ])
            .ok()
            .lines()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(actions(&daemon), ["create", "start", "pause", "unpause"]);

    let run = daemon
        .docker(&[
            "run",
            "--rm",
            "fromdocker",
            "sh",
            "-c",
            "cat /hello; test -e /etc/passwd || echo no-passwd; echo $FROM_DOCKER",
        ])
        .ok();
    assert_eq!(run.lines(), ["hi", "no-passwd", "1"], "{run}");
    assert_eq!(
        daemon.docker(&["run", "--rm", "fromdocker"]).ok().out(),
        "x"
    );
    let history = daemon.docker(&["history", "fromdocker"]).ok();
    assert!(history.lines()[1].contains("via docker"), "{history}");

    // Without pausing, no pause events.
    daemon.docker(&["commit", "--pause=false", "live"]).ok();
    assert_eq!(actions(&daemon), ["create", "start", "pause", "unpause"]);
    daemon.berth(&["rm", "-f", "live"]).ok();
}

#[test]
fn committing_a_missing_container_is_dockers_404_and_bad_changes_are_refused() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    daemon
        .berth(&["create", "--name", "there", "busybox", "true"])
        .ok();
    let images_before = daemon.images();
    daemon
        .docker(&["commit", "nosuch", "x:1"])
        .code(1)
        .stderr_has("Error response from daemon: No such container: nosuch");
    daemon
        .berth(&["commit", "nosuch"])
        .code(1)
        .stderr_has("Error response from daemon: No such container: nosuch");
    let response = daemon.api("POST", "/commit?container=nosuch", None);
    assert_eq!(response.status, 404, "{response}");

    // A change commit cannot apply is refused before anything is stored.
    let refused = daemon
        .berth(&["commit", "-c", "RUN echo no", "there", "x:1"])
        .code(1);
    assert!(
        refused.stderr.contains("run is not a valid change command"),
        "{refused}"
    );
    assert_eq!(daemon.images(), images_before);
}
