//! `berth build` and `berth volume …` against berthd: the context the CLI
//! sends (with `.dockerignore` applied, a Dockerfile from outside the context
//! or from stdin), `--iidfile`, `-q`, a failing step, and the volume commands'
//! output and statuses.

use berth_tests::Daemon;

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

#[test]
fn build_sends_the_context_without_what_dockerignore_excludes() {
    let d = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY . /ctx\nRUN ls -a /ctx | sort | tr '\\n' ' '; echo\n",
        ),
        (
            ".dockerignore",
            "*.log\nsecrets\n!secrets/public.txt\nDockerfile\n",
        ),
        ("app.txt", "app"),
        ("debug.log", "log"),
        ("secrets/key", "key"),
        ("secrets/public.txt", "pub"),
    ]);
    // Outside the context, or the next build's context would differ.
    let out_dir = tempfile::tempdir().unwrap();
    let iid = out_dir.path().join("iid");
    let dir = ctx.path().to_str().unwrap();
    let out = d
        .berth(&[
            "build",
            "-t",
            "ctx:1",
            "--progress",
            "plain",
            "--iidfile",
            iid.to_str().unwrap(),
            dir,
        ])
        .ok();
    // The step's output, prefixed by its step as BuildKit's plain progress prints it.
    assert!(out.stdout.contains("#3 [3/3] RUN ls -a"), "{out}");
    let listed = out
        .stdout
        .lines()
        .find(|l| l.starts_with("#3 ") && l.contains("app.txt"))
        .unwrap_or_else(|| panic!("no listing in {out}"));
    assert!(listed.contains("secrets"), "{listed}");
    assert!(!listed.contains("debug.log"), "{listed}");
    assert!(out.stdout.contains("Successfully tagged ctx:1"), "{out}");
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
    let files = d
        .berth(&["run", "--rm", "ctx:1", "find", "/ctx/secrets", "-type", "f"])
        .ok();
    assert_eq!(files.stdout.trim(), "/ctx/secrets/public.txt");

    // -q prints only the ID; the same build is a cache hit with the same ID.
    let quiet = d.berth(&["build", "-q", dir]).ok();
    assert_eq!(quiet.stdout.trim(), id.trim());
}

#[test]
fn build_takes_a_dockerfile_from_outside_the_context_and_from_stdin() {
    let d = Daemon::with_busybox();
    let ctx = context(&[("data.txt", "hello")]);
    let elsewhere = context(&[(
        "Other.df",
        "FROM busybox\nCOPY data.txt /\nRUN cat /data.txt\n",
    )]);
    let dockerfile = elsewhere.path().join("Other.df");
    let out = d
        .berth(&[
            "build",
            "-t",
            "outside",
            "--progress",
            "plain",
            "-f",
            dockerfile.to_str().unwrap(),
            ctx.path().to_str().unwrap(),
        ])
        .ok();
    assert!(out.stdout.contains(" hello"), "{out}");
    // The Dockerfile travelled under a random name that COPY never sees.
    let listing = d.berth(&["run", "--rm", "outside", "ls", "-a", "/"]).ok();
    assert!(!listing.stdout.contains(".dockerfile."), "{listing}");

    let out = d.berth_stdin(
        &["build", "-t", "piped", "--progress", "plain", "-"],
        b"FROM busybox\nRUN echo from-stdin\n",
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("from-stdin"), "{out}");
}

#[test]
fn a_failing_step_fails_the_build_with_status_1_and_no_iidfile() {
    let d = Daemon::with_busybox();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN exit 3\n")]);
    let iid = ctx.path().join("iid");
    let out = d
        .berth(&[
            "build",
            "--progress",
            "plain",
            "--iidfile",
            iid.to_str().unwrap(),
            ctx.path().to_str().unwrap(),
        ])
        .fails();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("returned a non-zero code: 3"), "{out}");
    assert!(!iid.exists());
    let missing = d.berth(&["build", "/nonexistent/context"]).fails();
    assert_eq!(
        missing.stderr.trim(),
        "unable to prepare context: path \"/nonexistent/context\" not found"
    );
}

#[test]
fn volume_commands_read_as_dockers() {
    let d = Daemon::start();
    let out = d
        .berth(&["volume", "create", "--label", "tier=db", "data"])
        .ok();
    assert_eq!(out.stdout, "data\n");
    d.berth(&["volume", "create", "scratch"]).ok();
    let ls = d.berth(&["volume", "ls"]).ok();
    assert_eq!(
        ls.stdout,
        "DRIVER    VOLUME NAME\nlocal     data\nlocal     scratch\n"
    );
    let filtered = d.berth(&["volume", "ls", "-q", "-f", "label=tier=db"]).ok();
    assert_eq!(filtered.stdout, "data\n");
    let mountpoint = d
        .berth(&["volume", "inspect", "-f", "{{.Mountpoint}}", "data"])
        .ok();
    assert!(
        mountpoint.stdout.trim().ends_with("/data/_data"),
        "{mountpoint}"
    );
    // docker's own client reads the same volume the same way.
    let theirs = d.docker(&["volume", "inspect", "data"]).ok();
    let ours = d.berth(&["volume", "inspect", "data"]).ok();
    assert_eq!(ours.stdout, theirs.stdout);

    let rm = d.berth(&["volume", "rm", "scratch", "nope"]);
    assert_eq!(rm.code, 1, "{rm}");
    assert_eq!(rm.stdout, "scratch\n");
    assert!(
        rm.stderr.starts_with("Error response from daemon: "),
        "{rm}"
    );
    let pruned = d.berth(&["volume", "prune", "-a", "-f"]).ok();
    assert!(
        pruned.stdout.starts_with("Deleted Volumes:\ndata\n"),
        "{pruned}"
    );
    assert_eq!(d.berth(&["volume", "ls", "-q"]).ok().stdout, "");
}
