//! `cp` between containers and the local file system, through berth and the docker CLI:
//! running and stopped containers, docker's rules for where things land, ownership, tar
//! streams, and paths that try to lead out of the container.

use std::fs;

use berth_tests::Daemon;

#[test]
fn files_and_directories_come_out_of_running_and_stopped_containers() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let local = tempfile::tempdir().unwrap();
    let at = |p: &str| local.path().join(p).display().to_string();
    let bind = tempfile::tempdir().unwrap();
    fs::write(bind.path().join("bound"), b"from the bind mount").unwrap();
    let volume = format!("{}:/data", bind.path().display());
    d.run_detached(&[
        "--name",
        "live",
        "-v",
        &volume,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /srv/conf/sub && echo one > /srv/conf/a && echo two > /srv/conf/sub/b && \
         ln -s a /srv/conf/link && exec sleep 1000",
    ]);
    berth_tests::eventually("the container's files", || {
        d.berth(&["exec", "live", "test", "-L", "/srv/conf/link"])
            .code
            == 0
    });

    for (tool, run) in [("berth", 0), ("docker", 1)] {
        let cp = |args: &[&str]| {
            let mut all = vec!["cp"];
            all.extend_from_slice(args);
            if run == 0 {
                d.berth(&all)
            } else {
                d.docker(&all)
            }
        };
        // A file onto a missing path; a directory onto a missing path becomes it.
        cp(&["live:/srv/conf/a", &at(&format!("{tool}-a"))]).ok();
        assert_eq!(
            fs::read_to_string(at(&format!("{tool}-a"))).unwrap(),
            "one\n"
        );
        let tree = at(&format!("{tool}-tree"));
        cp(&["live:/srv/conf", &tree]).ok();
        assert_eq!(
            fs::read_to_string(format!("{tree}/sub/b")).unwrap(),
            "two\n"
        );
        assert_eq!(
            fs::read_link(format!("{tree}/link")).unwrap().to_str(),
            Some("a")
        );
        // Into an existing directory it keeps its name; `/.` gives only the contents.
        cp(&["live:/srv/conf", &tree]).ok();
        assert!(fs::metadata(format!("{tree}/conf/sub/b")).is_ok(), "{tool}");
        let flat = at(&format!("{tool}-flat"));
        fs::create_dir(&flat).unwrap();
        cp(&["live:/srv/conf/.", &flat]).ok();
        assert_eq!(fs::read_to_string(format!("{flat}/a")).unwrap(), "one\n");
        // What the container sees of its mounts, and a link followed with -L.
        cp(&["live:/data/bound", &at(&format!("{tool}-bound"))]).ok();
        assert_eq!(
            fs::read_to_string(at(&format!("{tool}-bound"))).unwrap(),
            "from the bind mount"
        );
        cp(&[
            "-L",
            "live:/srv/conf/link",
            &at(&format!("{tool}-followed")),
        ])
        .ok();
        assert_eq!(
            fs::read_to_string(at(&format!("{tool}-followed"))).unwrap(),
            "one\n"
        );
        // Errors: a missing path, a directory onto a file.
        let missing = cp(&["live:/nosuch", &at("x")]);
        assert_eq!(missing.code, 1, "{missing}");
        assert!(
            missing
                .stderr
                .contains("Could not find the file /nosuch in container live"),
            "{missing}"
        );
        let onto_file = cp(&["live:/srv/conf", &at(&format!("{tool}-a"))]);
        assert_eq!(onto_file.code, 1, "{onto_file}");
    }

    // A tar on stdout, from a container that has stopped.
    d.berth(&["stop", "-t", "0", "live"]).ok();
    let tar = d.berth(&["cp", "live:/srv/conf/a", "-"]).ok();
    let mut archive = tar::Archive::new(tar.stdout.as_bytes());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["a"]);
    d.berth(&["cp", "live:/srv/conf/sub/b", &at("after-stop")])
        .ok();
    assert_eq!(fs::read_to_string(at("after-stop")).unwrap(), "two\n");
    d.berth(&["rm", "live"]).ok();
}

#[test]
fn files_go_into_running_and_stopped_containers_owned_by_root_unless_archived() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("note.txt");
    fs::write(&file, b"note\n").unwrap();
    std::os::unix::fs::chown(&file, Some(1234), Some(1234)).unwrap();
    let file = file.display().to_string();
    let dir = local.path().join("bundle");
    fs::create_dir_all(dir.join("inner")).unwrap();
    fs::write(dir.join("inner/x"), b"x").unwrap();
    let dir = dir.display().to_string();

    d.run_detached(&["--name", "target", "busybox", "sleep", "1000"]);
    d.berth(&["cp", &file, "target:/tmp/"]).ok();
    d.docker(&["cp", &file, "target:/tmp/renamed"]).ok();
    d.berth(&["cp", "-a", &file, "target:/tmp/kept"]).ok();
    // busybox has no /opt: the directory becomes it.
    d.docker(&["cp", &dir, "target:/opt"]).ok();
    d.berth(&["cp", &format!("{dir}/."), "target:/srv"]).ok();
    let listing = d
        .berth(&[
            "exec",
            "target",
            "sh",
            "-c",
            "cat /tmp/note.txt /tmp/renamed; stat -c '%u %n' /tmp/note.txt /tmp/kept; \
             cat /opt/inner/x /srv/inner/x",
        ])
        .ok();
    assert_eq!(
        listing.lines(),
        ["note", "note", "0 /tmp/note.txt", "1234 /tmp/kept", "xx"],
        "{listing}"
    );
    // A tar from stdin goes into a directory; a missing directory is an error.
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_path_with_name(&file, "streamed").unwrap();
    let tar = tar.into_inner().unwrap();
    d.berth_stdin(&["cp", "-", "target:/root"], &tar).ok();
    d.berth(&["exec", "target", "cat", "/root/streamed"])
        .ok()
        .stdout_has("note");
    let no_dir = d.berth(&["cp", &file, "target:/nodir/"]);
    assert_eq!(no_dir.code, 1, "{no_dir}");
    let no_container = d.docker(&["cp", &file, "ghost:/tmp"]);
    assert!(
        no_container.stderr.contains("No such container: ghost"),
        "{no_container}"
    );

    // Into a container that was created and never started: its first run sees the file.
    d.berth(&["create", "--name", "fresh", "busybox", "cat", "/etc/added"])
        .ok();
    d.docker(&["cp", &file, "fresh:/etc/added"]).ok();
    // And out of it, before its first start (HEAD and GET on its unmounted rootfs).
    let out = d.docker(&["cp", "fresh:/etc/added", "-"]).ok();
    assert!(
        out.stdout.contains("added") && out.stdout.contains("note\n"),
        "{out}"
    );
    assert_eq!(d.berth(&["start", "-a", "fresh"]).ok().stdout, "note\n");
    d.berth(&["rm", "-f", "target", "fresh"]).ok();
}

#[test]
fn container_paths_never_lead_to_the_host() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("planted");
    fs::write(&file, b"planted").unwrap();
    let file = file.display().to_string();
    let marker = format!("berth-cp-escape-{}", std::process::id());
    d.run_detached(&[
        "--name",
        "tricky",
        "busybox",
        "sh",
        "-c",
        "ln -s / /tmp/root && ln -s /etc /tmp/etc && ln -s ../../../../.. /tmp/up && \
         exec sleep 1000",
    ]);
    berth_tests::eventually("the links", || {
        d.berth(&["exec", "tricky", "test", "-L", "/tmp/up"]).code == 0
    });
    // Writes through links land in the container's root, not the host's.
    d.berth(&["cp", &file, &format!("tricky:/tmp/root/{marker}")])
        .ok();
    d.docker(&["cp", &file, &format!("tricky:/tmp/up/tmp/{marker}")])
        .ok();
    assert!(!std::path::Path::new(&format!("/{marker}")).exists());
    assert!(!std::path::Path::new(&format!("/tmp/{marker}")).exists());
    d.berth(&[
        "exec",
        "tricky",
        "cat",
        &format!("/{marker}"),
        &format!("/tmp/{marker}"),
    ])
    .ok()
    .stdout_has("plantedplanted");
    // Reads through links see the container's /etc: busybox has no shadow file, the host
    // does.
    assert!(fs::metadata("/etc/shadow").is_ok());
    let read = d.berth(&[
        "cp",
        "tricky:/tmp/etc/shadow",
        &local.path().join("s").display().to_string(),
    ]);
    assert_eq!(read.code, 1, "{read}");
    let read = d.docker(&["cp", "tricky:/tmp/up/etc/shadow", "-"]);
    assert_eq!(read.code, 1, "{read}");

    // The same for a stopped container, whose overlay is mounted for the copy only.
    d.berth(&["stop", "-t", "0", "tricky"]).ok();
    d.berth(&["cp", &file, &format!("tricky:/tmp/root/stopped-{marker}")])
        .ok();
    assert!(!std::path::Path::new(&format!("/stopped-{marker}")).exists());
    let read = d.berth(&["cp", "tricky:/tmp/up/etc/shadow", "-"]);
    assert_eq!(read.code, 1, "{read}");
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(d.data_root.to_str().unwrap()),
        "a copy left a mount on the host: {mounts}"
    );
    d.berth(&["rm", "tricky"]).ok();
}
