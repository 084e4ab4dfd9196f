//! `POST /build` through the real docker CLI (its classic builder path, `DOCKER_BUILDKIT=0`)
//! and docker-py's `images.build`, on the locally imported busybox image.

use std::path::Path;
use std::process::Command;

use berth_tests::{run_command, Daemon, Output};

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

fn docker_build(daemon: &Daemon, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = daemon.docker_command(&["build"]);
    cmd.args(args).arg(dir).env("DOCKER_BUILDKIT", "0");
    run_command(cmd, None)
}

fn history(daemon: &Daemon, image: &str) -> Vec<String> {
    let out = daemon
        .docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", image])
        .ok();
    out.lines().iter().map(|l| l.to_string()).collect()
}

const SINGLE: &str = "FROM busybox\n\
    ENV GREETING=hello\n\
    WORKDIR /app\n\
    COPY greeting.txt ./\n\
    RUN echo \"$GREETING from run\" > /app/ran.txt && cat /app/greeting.txt\n\
    LABEL org.example.kind=test\n\
    EXPOSE 8080\n\
    USER nobody\n\
    CMD [\"cat\", \"/app/ran.txt\"]\n";

#[test]
fn docker_build_makes_an_image_with_dockers_history_and_config() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dir = context(&[
        ("Dockerfile", SINGLE),
        ("greeting.txt", "from the context\n"),
    ]);
    let out = docker_build(&daemon, dir.path(), &["-t", "built:1"]).ok();
    let text = out.out();
    assert!(text.contains("Step 1/9 : FROM busybox"), "{out}");
    assert!(text.contains(" ---> Running in "), "{out}");
    assert!(
        text.contains("from the context"),
        "RUN's output is streamed: {out}"
    );
    assert!(text.contains("Successfully built "), "{out}");
    assert!(text.contains("Successfully tagged built:1"), "{out}");

    let run = daemon.docker(&["run", "--rm", "built:1"]).ok();
    assert_eq!(run.out(), "hello from run", "{run}");
    let inspect = daemon.docker(&["image", "inspect", "built:1"]).ok();
    let config: serde_json::Value = serde_json::from_str(inspect.out()).unwrap();
    let config = &config[0]["Config"];
    assert_eq!(config["User"], "nobody", "{config}");
    assert_eq!(config["WorkingDir"], "/app", "{config}");
    assert_eq!(config["Labels"]["org.example.kind"], "test", "{config}");
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "{config}");
    assert!(
        config["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "GREETING=hello"),
        "{config}"
    );
    let history = history(&daemon, "built:1");
    assert_eq!(
        history[0],
        "/bin/sh -c #(nop)  CMD [\"cat\" \"/app/ran.txt\"]"
    );
    assert_eq!(history[1], "/bin/sh -c #(nop)  USER nobody");
    assert!(
        history[4].starts_with("/bin/sh -c echo \"$GREETING from run\""),
        "{history:?}"
    );
    assert!(
        history[5].starts_with("/bin/sh -c #(nop) COPY file:"),
        "{history:?}"
    );
    assert_eq!(history[6], "/bin/sh -c #(nop) WORKDIR /app");
    assert_eq!(history[7], "/bin/sh -c #(nop)  ENV GREETING=hello");
    // No step container is left behind.
    assert_eq!(daemon.container_ids(), Vec::<String>::new());
}

#[test]
fn a_rebuild_is_cached_even_after_a_restart_and_a_changed_file_redoes_from_its_copy() {
    berth_tests::needs_root!();
    let mut daemon = Daemon::with_busybox();
    let dockerfile =
        "FROM busybox\nRUN echo one > /one\nCOPY data.txt /data.txt\nRUN cat /data.txt\n";
    let dir = context(&[("Dockerfile", dockerfile), ("data.txt", "v1\n")]);
    let first = docker_build(&daemon, dir.path(), &["-t", "cached"]).ok();
    assert!(!first.out().contains("Using cache"), "{first}");
    let id = daemon
        .docker(&["image", "inspect", "-f", "{{.Id}}", "cached"])
        .ok();

    let again = docker_build(&daemon, dir.path(), &["-t", "cached"]).ok();
    assert_eq!(
        again.out().matches(" ---> Using cache").count(),
        3,
        "{again}"
    );
    assert!(!again.out().contains("Running in"), "{again}");

    daemon.terminate();
    daemon.restart();
    let restarted = docker_build(&daemon, dir.path(), &["-t", "cached"]).ok();
    assert_eq!(
        restarted.out().matches(" ---> Using cache").count(),
        3,
        "{restarted}"
    );
    let same = daemon
        .docker(&["image", "inspect", "-f", "{{.Id}}", "cached"])
        .ok();
    assert_eq!(same.out(), id.out());

    std::fs::write(dir.path().join("data.txt"), "v2\n").unwrap();
    let changed = docker_build(&daemon, dir.path(), &["-t", "cached"]).ok();
    assert_eq!(
        changed.out().matches(" ---> Using cache").count(),
        1,
        "{changed}"
    );
    assert!(changed.out().contains("v2"), "{changed}");

    let nocache = docker_build(&daemon, dir.path(), &["--no-cache", "-t", "cached"]).ok();
    assert!(!nocache.out().contains("Using cache"), "{nocache}");
}

#[test]
fn multi_stage_builds_copy_between_stages_and_honour_the_target() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dockerfile = "FROM busybox AS build\nRUN echo built > /artifact\n\
        FROM busybox AS unused\nRUN echo never-run-this-stage\n\
        FROM busybox AS final\nCOPY --from=build /artifact /artifact\nCMD [\"cat\", \"/artifact\"]\n";
    let dir = context(&[("Dockerfile", dockerfile)]);
    let out = docker_build(&daemon, dir.path(), &["-t", "multi"]).ok();
    assert!(!out.out().contains("never-run-this-stage"), "{out}");
    let run = daemon.docker(&["run", "--rm", "multi"]).ok();
    assert_eq!(run.out(), "built");

    let out = docker_build(&daemon, dir.path(), &["--target", "build", "-t", "first"]).ok();
    assert!(!out.out().contains("final"), "{out}");
    let run = daemon
        .docker(&["run", "--rm", "first", "cat", "/artifact"])
        .ok();
    assert_eq!(run.out(), "built");
}

#[test]
fn a_failing_run_and_a_syntax_error_are_dockers_errors() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dir = context(&[("Dockerfile", "FROM busybox\nRUN false\n")]);
    let out = docker_build(&daemon, dir.path(), &["-t", "broken"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains("The command '/bin/sh -c false' returned a non-zero code: 1"),
        "{out}"
    );
    let images = daemon.docker(&["images", "-q", "broken"]).ok();
    assert_eq!(images.out(), "", "nothing is tagged");
    assert_eq!(daemon.container_ids(), Vec::<String>::new());

    let dir = context(&[("Dockerfile", "FROM busybox\n\nRUNN echo\n")]);
    let out = docker_build(&daemon, dir.path(), &[]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("line 3"), "{out}");
    assert!(out.stderr.contains("unknown instruction"), "{out}");

    let dir = context(&[("Dockerfile", "FROM busybox\nCOPY ../outside /x\n")]);
    let out = docker_build(&daemon, dir.path(), &[]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("outside the build context"), "{out}");
}

#[test]
fn network_none_gives_run_only_loopback() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dockerfile = "FROM busybox\nRUN --network=none ls /sys/class/net > /interfaces\n";
    let dir = context(&[("Dockerfile", dockerfile)]);
    docker_build(&daemon, dir.path(), &["-t", "isolated"]).ok();
    let run = daemon
        .docker(&["run", "--rm", "isolated", "cat", "/interfaces"])
        .ok();
    assert_eq!(run.out(), "lo", "{run}");
}

#[test]
fn build_prune_forgets_the_cache() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dir = context(&[("Dockerfile", "FROM busybox\nRUN echo x > /x\n")]);
    docker_build(&daemon, dir.path(), &[]).ok();
    let pruned = daemon.api("POST", "/build/prune", None);
    assert_eq!(pruned.status, 200, "{pruned}");
    // One RUN: one cached step.
    let deleted = pruned.json()["CachesDeleted"].as_array().unwrap().len();
    assert_eq!(deleted, 1, "{pruned}");
    let again = docker_build(&daemon, dir.path(), &[]).ok();
    assert!(!again.out().contains("Using cache"), "{again}");
}

const PY_SCRIPT: &str = r#"
import docker, io, sys, tarfile
client = docker.from_env()
image, logs = client.images.build(path=sys.argv[1], tag="pybuilt:latest", buildargs={"WHO": "py"})
text = "".join(chunk.get("stream", "") for chunk in logs)
assert "Successfully built" in text, text
assert "pybuilt:latest" in image.tags, image.tags
container = client.containers.run("pybuilt", detach=True)
assert container.wait()["StatusCode"] == 0
out = container.logs()
container.remove()
assert out == b"hello py\n", out
try:
    client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 3\n"))
    raise SystemExit("a failing build did not raise")
except docker.errors.BuildError as e:
    assert "returned a non-zero code: 3" in str(e), str(e)
print("ok")
"#;

#[test]
fn docker_py_builds_a_multi_stage_dockerfile_with_build_args() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dir = context(&[(
        "Dockerfile",
        "FROM busybox AS greet\nARG WHO=nobody\nRUN echo \"hello $WHO\" > /greeting\n\
         FROM busybox\nCOPY --from=greet /greeting /greeting\nCMD [\"cat\", \"/greeting\"]\n",
    )]);
    let mut python = Command::new("python3");
    python
        .arg("-c")
        .arg(PY_SCRIPT)
        .arg(dir.path())
        .env("DOCKER_HOST", daemon.host())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH");
    let out = run_command(python, None);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "ok\n", "{out}");
}

#[test]
fn buildkit_mounts_and_heredocs_work_on_the_classic_api() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dockerfile = "FROM busybox\n\
        RUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /count\n\
        RUN --mount=type=bind,source=input.txt,target=/input.txt cp /input.txt /copied\n\
        RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && grep -q ' /scratch tmpfs' /proc/mounts\n\
        RUN <<EOF\n\
        echo from a heredoc > /heredoc\n\
        EOF\n\
        COPY <<EOF /etc/motd\n\
        built by berth\n\
        EOF\n\
        RUN <<EOF sh -c 'cat > /fed'\n\
        fed $HOME unexpanded\n\
        EOF\n\
        RUN cat <<EOF > /written\n\
        written by cat\n\
        EOF\n\
        COPY <<one <<two /docs/\n\
        1\n\
        one\n\
        2\n\
        two\n";
    let dir = context(&[("Dockerfile", dockerfile), ("input.txt", "bound\n")]);
    docker_build(&daemon, dir.path(), &["-t", "mounts"]).ok();
    let cat = |file: &str| {
        daemon
            .docker(&["run", "--rm", "mounts", "cat", file])
            .ok()
            .out()
            .to_string()
    };
    assert_eq!(cat("/count").trim(), "1");
    assert_eq!(cat("/copied"), "bound");
    assert_eq!(cat("/heredoc"), "from a heredoc");
    assert_eq!(cat("/etc/motd"), "built by berth");
    assert_eq!(cat("/fed"), "fed $HOME unexpanded");
    assert_eq!(cat("/written"), "written by cat");
    assert_eq!(cat("/docs/one"), "1");
    assert_eq!(cat("/docs/two"), "2");
    let ls = daemon
        .docker(&["run", "--rm", "mounts", "ls", "/scratch"])
        .ok();
    assert_eq!(ls.out(), "", "the tmpfs's files are not in the image: {ls}");

    // The cache mount keeps its files between builds, even uncached ones.
    docker_build(&daemon, dir.path(), &["--no-cache", "-t", "mounts"]).ok();
    assert_eq!(cat("/count").trim(), "2");

    let df = daemon
        .docker(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"])
        .ok();
    assert!(df.out().contains("Build Cache "), "{df}");
    assert!(!df.out().contains("Build Cache 0"), "{df}");
    daemon.docker(&["builder", "prune", "-f"]).ok();
    docker_build(&daemon, dir.path(), &["-t", "mounts"]).ok();
    assert_eq!(cat("/count").trim(), "1", "the cache mount was pruned");
}

#[test]
fn every_instruction_reaches_the_image_config() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dockerfile = "FROM busybox AS base\n\
        ARG VERSION=1.0\n\
        ENV APP_VERSION=${VERSION} APP_HOME=/srv\n\
        SHELL [\"/bin/sh\", \"-ec\"]\n\
        WORKDIR $APP_HOME\n\
        ADD archive.tar /srv/unpacked/\n\
        COPY --chown=65534:65534 --chmod=600 secret.txt ./\n\
        RUN test \"$(stat -c '%u %a' /srv/secret.txt)\" = '65534 600' && cat unpacked/inner.txt\n\
        VOLUME /data\n\
        STOPSIGNAL SIGINT\n\
        ENTRYPOINT [\"/bin/echo\"]\n\
        CMD [\"$APP_VERSION\"]\n";
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    tar.append_data(&mut header, "inner.txt", &b"inner\n"[..])
        .unwrap();
    let dir = context(&[("Dockerfile", dockerfile), ("secret.txt", "s3cret\n")]);
    std::fs::write(dir.path().join("archive.tar"), tar.into_inner().unwrap()).unwrap();
    let out = docker_build(
        &daemon,
        dir.path(),
        &[
            "--build-arg",
            "VERSION=2.5",
            "--label",
            "built.by=test",
            "-t",
            "every",
        ],
    )
    .ok();
    assert!(out.out().contains("inner"), "{out}");
    let inspect = daemon.docker(&["image", "inspect", "every"]).ok();
    let image: serde_json::Value = serde_json::from_str(inspect.out()).unwrap();
    let config = &image[0]["Config"];
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/bin/echo"]),
        "{config}"
    );
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["$APP_VERSION"]),
        "{config}"
    );
    assert_eq!(config["WorkingDir"], "/srv", "{config}");
    assert_eq!(config["StopSignal"], "SIGINT", "{config}");
    assert!(config["Volumes"].get("/data").is_some(), "{config}");
    assert_eq!(config["Labels"]["built.by"], "test", "{config}");
    let env = config["Env"].as_array().unwrap();
    assert!(env.iter().any(|e| e == "APP_VERSION=2.5"), "{config}");
    let run = daemon.docker(&["run", "--rm", "every", "hello"]).ok();
    assert_eq!(run.out(), "hello");
    let history = history(&daemon, "every");
    assert!(
        history
            .iter()
            .any(|h| h == "/bin/sh -ec #(nop)  STOPSIGNAL SIGINT"),
        "{history:?}"
    );
    assert!(
        history
            .iter()
            .any(|h| h.starts_with("|1 VERSION=2.5 /bin/sh -ec test")),
        "{history:?}"
    );
}

#[test]
fn dockerignore_is_applied_by_the_client() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dir = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY . /ctx/\nRUN ls /ctx > /listing\n",
        ),
        (".dockerignore", "ignored.txt\n"),
        ("kept.txt", "k"),
        ("ignored.txt", "i"),
    ]);
    docker_build(&daemon, dir.path(), &["-t", "ignoring"]).ok();
    let listing = daemon
        .docker(&["run", "--rm", "ignoring", "cat", "/listing"])
        .ok();
    assert!(listing.out().contains("kept.txt"), "{listing}");
    assert!(!listing.out().contains("ignored.txt"), "{listing}");
}

#[test]
fn intermediate_images_are_listed_with_all_only() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dir = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo a > /a\nENV X=1\nRUN echo b > /b\n",
    )]);
    docker_build(&daemon, dir.path(), &["-t", "layered"]).ok();
    let listed = daemon
        .docker(&["images", "--format", "{{.Repository}}"])
        .ok();
    assert_eq!(listed.lines().len(), 2, "busybox and layered: {listed}");
    let all = daemon
        .docker(&["images", "-a", "--format", "{{.Repository}}"])
        .ok();
    // The images of the first RUN and of the ENV; the last step's is `layered`.
    assert_eq!(all.lines().len(), 4, "with the two earlier steps: {all}");
}

#[test]
fn a_client_going_away_kills_the_running_step_and_tags_nothing() {
    berth_tests::needs_root!();
    use std::io::{Read, Write};
    let daemon = Daemon::with_busybox();
    let mut tar = tar::Builder::new(Vec::new());
    // The step line shows `st""arted`; only the output says "started".
    let dockerfile = b"FROM busybox\nRUN echo st\"\"arted && sleep 60\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "Dockerfile", &dockerfile[..])
        .unwrap();
    let body = tar.into_inner().unwrap();
    let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    write!(
        stream,
        "POST /v1.47/build?t=cancelled HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("started") {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the build ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(daemon.container_ids().len(), 1, "the step's container runs");
    drop(stream);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !daemon.container_ids().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the step's container is still there"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let images = daemon.docker(&["images", "-q", "cancelled"]).ok();
    assert_eq!(images.out(), "", "nothing is tagged");
}

#[test]
fn a_build_killed_with_the_daemon_leaves_nothing_half_made() {
    berth_tests::needs_root!();
    let mut daemon = Daemon::with_busybox();
    let dir = context(&[("Dockerfile", "FROM busybox\nRUN echo x > /x && sleep 60\n")]);
    let mut cmd = daemon.docker_command(&["build", "-t", "interrupted"]);
    cmd.arg(dir.path()).env("DOCKER_BUILDKIT", "0");
    let client = berth_tests::Background::spawn(cmd, None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while daemon.container_ids().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the RUN step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    daemon.kill9();
    drop(client);
    daemon.restart();
    let images = daemon.docker(&["images", "-q", "interrupted"]).ok();
    assert_eq!(images.out(), "", "nothing is tagged");
    // The next build completes, the interrupted step runs again.
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM busybox\nRUN echo x > /x\n",
    )
    .unwrap();
    let out = docker_build(&daemon, dir.path(), &["-t", "interrupted"]).ok();
    assert!(!out.out().contains("Using cache"), "{out}");
    let run = daemon
        .docker(&["run", "--rm", "interrupted", "cat", "/x"])
        .ok();
    assert_eq!(run.out(), "x");
}

#[test]
fn quiet_builds_print_the_id_and_iidfile_gets_it() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dir = context(&[("Dockerfile", "FROM busybox\nRUN echo noisy\n")]);
    let iidfile = dir.path().join("iid");
    let iid = iidfile.to_str().unwrap();
    let out = docker_build(
        &daemon,
        dir.path(),
        &["-q", "--iidfile", iid, "-t", "quiet"],
    )
    .ok();
    assert!(out.out().starts_with("sha256:"), "{out}");
    assert!(!out.out().contains("noisy"), "{out}");
    let id = daemon
        .docker(&["image", "inspect", "-f", "{{.Id}}", "quiet"])
        .ok();
    assert_eq!(out.out(), id.out());
    // With -q the CLI writes what the stream said, newline included, as with Docker.
    assert_eq!(std::fs::read_to_string(&iidfile).unwrap().trim(), id.out());
    let dir = context(&[("Dockerfile", "FROM busybox\nRUN echo loud\n")]);
    let iidfile = dir.path().join("iid");
    let iid = iidfile.to_str().unwrap();
    docker_build(&daemon, dir.path(), &["--iidfile", iid, "-t", "loud"]).ok();
    let id = daemon
        .docker(&["image", "inspect", "-f", "{{.Id}}", "loud"])
        .ok();
    assert_eq!(
        std::fs::read_to_string(&iidfile).unwrap(),
        id.out(),
        "from the aux ID"
    );
}

#[test]
fn a_run_after_volume_writes_into_a_volume_that_is_not_kept() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dockerfile = "FROM busybox\nVOLUME /data\nRUN echo x > /data/lost && echo y > /kept\n";
    let dir = context(&[("Dockerfile", dockerfile)]);
    docker_build(&daemon, dir.path(), &["-t", "withvolume"]).ok();
    let run = daemon
        .docker(&[
            "run",
            "--rm",
            "withvolume",
            "sh",
            "-c",
            "cat /kept; ls /data",
        ])
        .ok();
    assert_eq!(
        run.out(),
        "y",
        "as in Docker, the volume's files are not in the image: {run}"
    );
    let volumes = daemon.docker(&["volume", "ls", "-q"]).ok();
    assert_eq!(
        volumes.out(),
        "",
        "the step's anonymous volume went with its container"
    );
}

#[test]
fn an_image_from_scratch_with_a_file_copied_from_another_image() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dockerfile = "FROM scratch\nCOPY --from=busybox /bin/busybox /busybox\n\
        ENTRYPOINT [\"/busybox\"]\nCMD [\"echo\", \"from scratch\"]\n";
    let dir = context(&[("Dockerfile", dockerfile)]);
    docker_build(&daemon, dir.path(), &["-t", "tiny"]).ok();
    let run = daemon.docker(&["run", "--rm", "tiny"]).ok();
    assert_eq!(run.out(), "from scratch");
    let history = history(&daemon, "tiny");
    assert_eq!(history.len(), 3, "{history:?}");
}

/// Serves `body` at `/file.txt` on a loopback port, 404 elsewhere, until the test ends.
fn serve_once_per_request(body: &'static str) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let mut stream = stream;
            let response = if request_line.starts_with("GET /file.txt ") {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

#[test]
fn add_downloads_a_url_and_a_missing_one_is_a_clear_error() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let port = serve_once_per_request("fetched over http\n");
    let dockerfile = format!("FROM busybox\nADD http://127.0.0.1:{port}/file.txt /srv/\n");
    let dir = context(&[("Dockerfile", dockerfile.as_str())]);
    docker_build(&daemon, dir.path(), &["-t", "fetched"]).ok();
    let run = daemon
        .docker(&[
            "run",
            "--rm",
            "fetched",
            "sh",
            "-c",
            "cat /srv/file.txt; stat -c %a /srv/file.txt",
        ])
        .ok();
    assert_eq!(run.out(), "fetched over http\n600");

    let missing = format!("FROM busybox\nADD http://127.0.0.1:{port}/nothing /x\n");
    let dir = context(&[("Dockerfile", missing.as_str())]);
    let out = docker_build(&daemon, dir.path(), &[]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("404"), "{out}");
}
