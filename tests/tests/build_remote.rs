//! `remote=` contexts of `POST /build` (a tar or a Dockerfile over HTTP, a git repository
//! through the host's `git`, over git's "dumb" HTTP and over `git daemon`), served from
//! loopback by the test itself, and `docker commit` of a built image's container keeping
//! its HEALTHCHECK.
//!
//! `berth build URL` and docker-py send the URL as `remote=`, so berthd fetches it. The
//! docker CLI's classic path fetches or clones a URL itself and sends the result as the
//! body (moby's `GetContextFromURL`/`GetContextFromGitURL`): its runs here check that
//! such contexts build against berthd and that its own download error ends it non-zero.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use berth_tests::{run_command, Daemon};

/// Serves the files under `root` over HTTP on a loopback port until the test ends (the
/// query string is ignored, so git's "dumb" protocol works from a bare repository).
fn serve_dir(root: PathBuf) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = request_line.split(' ').nth(1).unwrap_or("/");
                let path = path
                    .split('?')
                    .next()
                    .unwrap_or("/")
                    .trim_start_matches('/');
                let mut stream = stream;
                let file = (!path.contains("..")).then(|| root.join(path));
                let response = match file.and_then(|f| std::fs::read(f).ok()) {
                    Some(body) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: \
                             application/octet-stream\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend(body);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = stream.write_all(&response);
            });
        }
    });
    port
}

/// `docker build ARGS...` on the classic builder path.
fn docker_build(daemon: &Daemon, args: &[&str]) -> berth_tests::Output {
    let mut cmd = daemon.docker_command(&["build"]);
    cmd.args(args).env("DOCKER_BUILDKIT", "0");
    run_command(cmd, None)
}

fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, name, content.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid");
    run_command(cmd, None).ok();
}

/// A `git daemon` serving the repositories under its base path on a loopback port; killed
/// when dropped.
struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    fn serve(base: &Path) -> GitDaemon {
        // A free port: bound, then released for git to take.
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        // git-daemon itself, not `git daemon`: the `git` wrapper would stay the child and
        // killing it would leave the daemon running.
        let exec_path = run_command(
            {
                let mut cmd = Command::new("git");
                cmd.arg("--exec-path");
                cmd
            },
            None,
        )
        .ok();
        let child = Command::new(Path::new(exec_path.out()).join("git-daemon"))
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting git daemon");
        berth_tests::eventually("git daemon listens", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        GitDaemon { child, port }
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_remote_tar_or_dockerfile_over_http_is_the_context_and_an_unreachable_one_a_400() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let served = tempfile::tempdir().unwrap();
    let tar = tar_of(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n",
        ),
        ("hello.txt", "hello from a remote tar\n"),
    ]);
    std::fs::write(served.path().join("ctx.tar"), &tar).unwrap();
    std::fs::write(
        served.path().join("Dockerfile.txt"),
        "FROM busybox\nCMD [\"echo\", \"from a remote Dockerfile\"]\n",
    )
    .unwrap();
    let port = serve_dir(served.path().to_path_buf());

    let url = format!("http://127.0.0.1:{port}/ctx.tar");
    daemon.berth(&["build", "-t", "remote-tar", &url]).ok();
    let run = daemon.berth(&["run", "--rm", "remote-tar"]).ok();
    assert_eq!(run.out(), "hello from a remote tar");

    let url = format!("http://127.0.0.1:{port}/Dockerfile.txt");
    daemon.berth(&["build", "-t", "remote-file", &url]).ok();
    let run = daemon.berth(&["run", "--rm", "remote-file"]).ok();
    assert_eq!(run.out(), "from a remote Dockerfile");

    // The docker CLI downloads the URL itself and sends it as the body.
    for (name, file, expected) in [
        ("docker-tar", "ctx.tar", "hello from a remote tar"),
        ("docker-file", "Dockerfile.txt", "from a remote Dockerfile"),
    ] {
        let url = format!("http://127.0.0.1:{port}/{file}");
        docker_build(&daemon, &["-t", name, &url]).ok();
        let run = daemon.docker(&["run", "--rm", name]).ok();
        assert_eq!(run.out(), expected);
    }

    // docker-py sends a URL path as remote= too.
    let script = "import docker, sys\n\
        image, _ = docker.from_env().images.build(path=sys.argv[1], tag='remote-py')\n\
        print('remote-py:latest' in image.tags)\n";
    let mut python = Command::new("python3");
    python
        .arg("-c")
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}/ctx.tar"))
        .env("DOCKER_HOST", daemon.host());
    let out = run_command(python, None);
    assert_eq!(out.code, 0, "{out}");
    // The same image as docker-tar's (every step a cache hit), tagged as well.
    assert_eq!(out.stdout, "True\n", "{out}");

    // A closed port, a missing file and a scheme berth cannot fetch: clear errors, nothing
    // built or tagged.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let images_before = daemon.berth(&["images", "-aq"]).ok().stdout;
    for (url, expected) in [
        (
            format!("http://127.0.0.1:{closed_port}/ctx.tar"),
            "error downloading remote context".to_string(),
        ),
        (
            format!("http://127.0.0.1:{port}/missing.tar"),
            "404".to_string(),
        ),
        (
            "ftp://127.0.0.1/x.tar".to_string(),
            "could not be recognized as URL".to_string(),
        ),
    ] {
        let status = berth_tests::request(
            &daemon.socket,
            "POST",
            &format!("/build?remote={}", urlencode(&url)),
            None,
        )
        .unwrap();
        assert_eq!(status.status, 400, "{url}: {status:?}");
        assert!(
            status.error_message().contains(&expected),
            "{url}: {status:?}"
        );
    }
    let out = daemon.berth(&["build", &format!("http://127.0.0.1:{closed_port}/x.tar")]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("error downloading remote context"),
        "{out}"
    );
    let url = format!("http://127.0.0.1:{closed_port}/x.tar");
    let out = docker_build(&daemon, &[&url]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "unable to prepare context: unable to download remote context {url}"
        )),
        "{out}"
    );
    assert_eq!(daemon.berth(&["images", "-aq"]).ok().stdout, images_before);
    assert!(daemon.ping(), "berthd went away");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_git_remote_is_cloned_at_its_ref_and_subdirectory() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("src");
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::write(
        repo.join("app/Dockerfile"),
        "FROM busybox\nCOPY note.txt /\nCMD [\"cat\", \"/note.txt\"]\n",
    )
    .unwrap();
    std::fs::write(repo.join("app/note.txt"), "from git\n").unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "one"]);
    git(&repo, &["branch", "v1"]);
    std::fs::write(repo.join("app/note.txt"), "from git, later\n").unwrap();
    git(&repo, &["commit", "--quiet", "-am", "two"]);
    let served = work.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    git(
        work.path(),
        &["clone", "--quiet", "--bare", "src", "served/repo.git"],
    );
    git(&served.join("repo.git"), &["update-server-info"]);
    let port = serve_dir(served);

    let url = format!("http://127.0.0.1:{port}/repo.git#:app");
    daemon.berth(&["build", "-t", "from-git", &url]).ok();
    let run = daemon.berth(&["run", "--rm", "from-git"]).ok();
    assert_eq!(run.out(), "from git, later");
    let url = format!("http://127.0.0.1:{port}/repo.git#v1:app");
    daemon.berth(&["build", "-t", "from-git:v1", &url]).ok();
    let run = daemon.berth(&["run", "--rm", "from-git:v1"]).ok();
    assert_eq!(run.out(), "from git");

    // git's own protocol, from `git daemon`: a shallow fetch, through berth and through
    // the docker CLI (which clones it itself).
    let git_daemon = GitDaemon::serve(&work.path().join("served"));
    let url = format!("git://127.0.0.1:{}/repo.git#v1:app", git_daemon.port);
    daemon.berth(&["build", "-t", "from-git-daemon", &url]).ok();
    let run = daemon.berth(&["run", "--rm", "from-git-daemon"]).ok();
    assert_eq!(run.out(), "from git");
    // The CLI fetches `master` when the URL names no ref; this repository has `main`.
    let url = format!("git://127.0.0.1:{}/repo.git#main:app", git_daemon.port);
    docker_build(&daemon, &["-t", "from-git-docker", &url]).ok();
    let run = daemon.docker(&["run", "--rm", "from-git-docker"]).ok();
    assert_eq!(run.out(), "from git, later");
    // Through the API itself, as docker-py sends it.
    let response = daemon.api(
        "POST",
        &format!(
            "/build?t=from-git-api&remote={}",
            urlencode(&format!(
                "git://127.0.0.1:{}/repo.git#v1:app",
                git_daemon.port
            ))
        ),
        None,
    );
    assert_eq!(response.status, 200, "{response}");
    assert!(
        response
            .text()
            .contains("Successfully tagged from-git-api:latest"),
        "{response}"
    );
    let git_port = git_daemon.port;
    drop(git_daemon);

    let images_before = daemon.berth(&["images", "-aq"]).ok().stdout;
    for (url, expected) in [
        (
            format!("http://127.0.0.1:{port}/repo.git#nope:app"),
            "git clone",
        ),
        (
            format!("http://127.0.0.1:{port}/repo.git#:missing"),
            "is not a directory",
        ),
        (
            format!("http://127.0.0.1:{port}/repo.git#:../.."),
            "is not a directory",
        ),
    ] {
        let out = daemon.berth(&["build", &url]);
        assert_eq!(out.code, 1, "{url}: {out}");
        assert!(out.stderr.contains(expected), "{url}: {out}");
    }
    // A repository nobody serves any more (git daemon is gone): a 400 naming the clone,
    // nothing stored.
    let url = format!("git://127.0.0.1:{}/repo.git", git_port);
    let response = daemon.api("POST", &format!("/build?remote={}", urlencode(&url)), None);
    assert_eq!(response.status, 400, "{response}");
    assert!(
        response.error_message().contains("unable to 'git clone'"),
        "{response}"
    );
    assert_eq!(daemon.berth(&["images", "-aq"]).ok().stdout, images_before);
}

#[test]
fn a_commit_of_a_built_images_container_keeps_its_healthcheck() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=5s --timeout=2s CMD true\nCMD [\"sleep\", \"60\"]\n",
    )
    .unwrap();
    daemon
        .berth(&["build", "-t", "checked", dir.path().to_str().unwrap()])
        .ok();
    daemon.docker(&["create", "--name", "c1", "checked"]).ok();
    daemon.docker(&["commit", "c1", "committed"]).ok();
    let inspect = daemon
        .docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Healthcheck}}",
            "committed",
        ])
        .ok();
    let healthcheck: serde_json::Value = serde_json::from_str(inspect.out()).unwrap();
    assert_eq!(
        healthcheck["Test"],
        serde_json::json!(["CMD-SHELL", "true"]),
        "{inspect}"
    );
    assert_eq!(healthcheck["Interval"], 5_000_000_000u64, "{inspect}");
    // A container of the committed image checks its health as the first did.
    daemon
        .docker(&["run", "-d", "--name", "c2", "committed"])
        .ok();
    berth_tests::eventually("c2 is healthy", || {
        daemon
            .docker(&["inspect", "--format", "{{.State.Health.Status}}", "c2"])
            .out()
            == "healthy"
    });
    daemon.docker(&["rm", "-f", "c1", "c2"]).ok();
}
