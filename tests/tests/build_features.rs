//! The builder's later features through the real docker CLI's classic path and `berth
//! build`: HEALTHCHECK and ONBUILD in the image config, build secrets, FROM --platform.

use std::path::Path;

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

fn image_config(daemon: &Daemon, image: &str) -> serde_json::Value {
    let inspect = daemon.docker(&["image", "inspect", image]).ok();
    let value: serde_json::Value = serde_json::from_str(inspect.out()).unwrap();
    value[0]["Config"].clone()
}

#[test]
fn healthcheck_and_onbuild_reach_the_config_and_triggers_run_in_a_later_build() {
    berth_tests::needs_root!();
    let mut daemon = Daemon::with_busybox();
    let base = "FROM busybox\n\
        HEALTHCHECK --interval=5s --retries=2 CMD test -e /ran\n\
        ONBUILD COPY trigger.txt /trigger.txt\n\
        ONBUILD RUN echo triggered > /ran\n";
    let dir = context(&[("Dockerfile", base)]);
    let out = docker_build(&daemon, dir.path(), &["-t", "onbase"]).ok();
    assert!(out.out().contains("Successfully tagged onbase"), "{out}");
    let config = image_config(&daemon, "onbase");
    let healthcheck = serde_json::json!({
        "Test": ["CMD-SHELL", "test -e /ran"],
        "Interval": 5_000_000_000i64,
        "Retries": 2,
    });
    assert_eq!(config["Healthcheck"], healthcheck, "{config}");
    assert_eq!(
        config["OnBuild"],
        serde_json::json!(["COPY trigger.txt /trigger.txt", "RUN echo triggered > /ran"]),
        "{config}"
    );
    let history = daemon
        .docker(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "onbase",
        ])
        .ok();
    assert!(
        history.out().contains(
            r#"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "test -e /ran"] "5s" "0s" "0s" "0s" '\x02'}"#
        ),
        "{history}"
    );
    // A container of the image gets its healthcheck.
    let created = daemon
        .docker(&["create", "--name", "hc", "onbase", "true"])
        .ok();
    let container = daemon.inspect("hc");
    assert_eq!(
        container["Config"]["Healthcheck"]["Test"], healthcheck["Test"],
        "{created}"
    );
    daemon.docker(&["rm", "hc"]).ok();

    // A build FROM it runs the triggers first, with its own context.
    let child = context(&[
        ("Dockerfile", "FROM onbase\nRUN cat /ran /trigger.txt\n"),
        ("trigger.txt", "from the child's context\n"),
    ]);
    let out = docker_build(&daemon, child.path(), &["-t", "onchild"]).ok();
    assert!(out.out().contains("# Executing 2 build triggers"), "{out}");
    assert!(out.out().contains("from the child's context"), "{out}");
    let config = image_config(&daemon, "onchild");
    assert_eq!(config["OnBuild"], serde_json::Value::Null, "{config}");
    assert_eq!(config["Healthcheck"], healthcheck, "inherited: {config}");

    // Rebuilt, the triggers are cache hits like any step.
    let again = docker_build(&daemon, child.path(), &["-t", "onchild"]).ok();
    assert!(!again.out().contains("Running in"), "{again}");

    // HEALTHCHECK NONE turns the inherited check off; the store reads it back after a
    // restart from the config blob.
    let none = context(&[("Dockerfile", "FROM onchild\nHEALTHCHECK NONE\n")]);
    docker_build(&daemon, none.path(), &["-t", "nocheck"]).ok();
    daemon.terminate();
    daemon.restart();
    let config = image_config(&daemon, "nocheck");
    assert_eq!(
        config["Healthcheck"],
        serde_json::json!({"Test": ["NONE"]}),
        "{config}"
    );
    assert_eq!(
        image_config(&daemon, "onbase")["OnBuild"][1],
        "RUN echo triggered > /ran"
    );
}

#[test]
fn bad_healthcheck_and_onbuild_are_dockers_errors() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    for (dockerfile, message) in [
        (
            "FROM busybox\nHEALTHCHECK --interval=1us CMD true\n",
            "Interval \"interval\" cannot be less than 1ms",
        ),
        (
            "FROM busybox\nONBUILD FROM busybox\n",
            "FROM isn't allowed as an ONBUILD trigger",
        ),
        (
            "FROM busybox\nONBUILD ONBUILD RUN true\n",
            "ONBUILD ONBUILD is not allowed",
        ),
    ] {
        let dir = context(&[("Dockerfile", dockerfile)]);
        docker_build(&daemon, dir.path(), &["-t", "bad"])
            .fails()
            .stderr_has(message);
    }
    let images = daemon.docker(&["images", "-q", "bad"]).ok();
    assert_eq!(images.out(), "", "nothing tagged");
}

/// Every regular file under `root` (gzip-compressed ones also decompressed) that holds
/// `needle`.
fn files_holding(root: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    use std::io::Read as _;
    let holds = |bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                stack.push(entry.path());
            }
            continue;
        }
        if !meta.is_file() {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let mut plain = Vec::new();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let _ = flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut plain);
        }
        if holds(&bytes) || holds(&plain) {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_secret_is_mounted_for_its_run_only_and_stored_nowhere() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    // Unique, so that no file holds it by chance.
    let secret = format!(
        "s3cret-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    );
    let outside = tempfile::tempdir().unwrap();
    let source = outside.path().join("token");
    std::fs::write(&source, &secret).unwrap();
    // The Dockerfile names the secret by its hash only: its text is in the history.
    let hash = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(secret.as_bytes()))
    };
    let dockerfile = format!(
        "FROM busybox\n\
         RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | grep -q '^{hash} ' \
             && test \"$(stat -c '%a %u' /run/secrets/tok)\" = '400 0' && echo used\n\
         RUN --mount=type=secret,id=tok,target=/etc/app/key,mode=0440,uid=65534 \
             test \"$(stat -c '%a %u' /etc/app/key)\" = '440 65534' && echo owned\n\
         RUN --mount=type=secret,id=optional test ! -e /run/secrets/optional && echo skipped\n"
    );
    let dir = context(&[("Dockerfile", &dockerfile)]);
    let src = format!("id=tok,src={}", source.display());
    let out = daemon
        .berth(&[
            "build",
            "--progress",
            "plain",
            "--secret",
            &src,
            "-t",
            "withsecret",
            dir.path().to_str().unwrap(),
        ])
        .ok();
    for word in ["used", "owned", "skipped"] {
        assert!(
            out.stdout.contains(word) || out.stderr.contains(word),
            "{out}"
        );
    }
    // Not in the image's files…
    let listing = daemon
        .docker(&[
            "run",
            "--rm",
            "withsecret",
            "sh",
            "-c",
            "ls -A /run/secrets /etc/app 2>&1; true",
        ])
        .ok();
    assert!(
        !listing.stdout.contains("tok") && !listing.stdout.contains("key"),
        "{listing}"
    );
    // …nor in any blob, layer, cache record or log of the daemon's.
    let holding = files_holding(daemon.dir(), secret.as_bytes());
    assert_eq!(holding, Vec::<std::path::PathBuf>::new());

    // A required secret that was not given fails the build, and nothing is tagged.
    let required = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=tok,required true\n",
    )]);
    daemon
        .berth(&["build", "-t", "nosecret", required.path().to_str().unwrap()])
        .fails()
        .stderr_has("secret tok: not found");
    let images = daemon.docker(&["images", "-q", "nosecret"]).ok();
    assert_eq!(images.out(), "");
}

#[test]
fn platforms_are_the_hosts_and_their_args_are_predefined() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let host = format!("linux/{arch}");
    let dockerfile = "FROM --platform=$BUILDPLATFORM busybox AS build\n\
        ARG TARGETARCH TARGETOS BUILDPLATFORM\n\
        RUN echo \"arch=$TARGETARCH os=$TARGETOS from=$BUILDPLATFORM proxy=$HTTP_PROXY\"\n\
        FROM --platform=$TARGETPLATFORM build\n\
        RUN true\n";
    let dir = context(&[("Dockerfile", dockerfile)]);
    let out = docker_build(
        &daemon,
        dir.path(),
        &[
            "--platform",
            &host,
            "--build-arg",
            "HTTP_PROXY=http://proxy.test:3128",
            "-t",
            "plat",
        ],
    )
    .ok();
    let expected = format!("arch={arch} os=linux from={host} proxy=http://proxy.test:3128");
    assert!(out.out().contains(&expected), "{out}");
    let history = daemon
        .docker(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "plat",
        ])
        .ok();
    // A proxy argument reaches RUN but stays out of the history, as in Docker.
    assert!(!history.out().contains("proxy.test"), "{history}");

    // Another platform, in the query or on FROM, is a clear error.
    docker_build(&daemon, dir.path(), &["--platform", "linux/s390x"])
        .fails()
        .stderr_has("building for platform linux/s390x");
    let other = context(&[("Dockerfile", "FROM --platform=linux/s390x busybox\n")]);
    docker_build(&daemon, other.path(), &[])
        .fails()
        .stderr_has("FROM --platform=linux/s390x: not supported by berth yet");
}

fn compressed_with(program: &str, bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = std::process::Command::new(program)
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test.sh installs it)"));
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "{program} -c");
    output.stdout
}

#[test]
fn contexts_compressed_with_gzip_bzip2_xz_or_zstd_build() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, content) in [
        ("Dockerfile", &b"FROM busybox\nCOPY hello.txt /\n"[..]),
        ("hello.txt", &b"compressed context\n"[..]),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, content).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    for program in ["gzip", "bzip2", "xz", "zstd"] {
        let body = compressed_with(program, &tar);
        let tag = format!("ctx-{program}");
        let response = daemon.api(
            "POST",
            &format!("/build?t={tag}"),
            Some(("application/x-tar", &body)),
        );
        let text = String::from_utf8_lossy(&response.body).to_string();
        assert_eq!(response.status, 200, "{program}: {text}");
        assert!(
            text.contains(&format!("Successfully tagged {tag}:latest")),
            "{program}: {text}"
        );
        let run = daemon
            .docker(&["run", "--rm", &tag, "cat", "/hello.txt"])
            .ok();
        assert_eq!(run.out(), "compressed context");
    }
    // A truncated xz stream is a clear error, and the daemon stays up.
    let xz = compressed_with("xz", &tar);
    let response = daemon.api(
        "POST",
        "/build?t=broken",
        Some(("application/x-tar", &xz[..xz.len() / 2])),
    );
    let text = String::from_utf8_lossy(&response.body).to_string();
    assert_eq!(response.status, 400, "{text}");
    assert!(text.contains("xz-compressed"), "{text}");
    assert!(daemon.ping());
}

#[test]
fn from_pulls_a_private_image_with_the_clients_registry_config() {
    berth_tests::needs_root!();
    use berth_tests::registry::{DockerRegistry, RegistryOptions};
    let registry = DockerRegistry::start_with(RegistryOptions {
        user: Some(("alice".into(), "s3cret".into())),
        tls: None,
    });
    let daemon = Daemon::with_busybox();
    let domain = registry.domain();
    let image = format!("{domain}/private/base:1");
    daemon.berth(&["tag", "busybox", &image]).ok();
    daemon
        .berth(&["login", "-u", "alice", "-p", "s3cret", &domain])
        .ok();
    daemon.berth(&["push", &image]).ok();
    daemon.berth(&["rmi", &image]).ok();
    let dir = context(&[(
        "Dockerfile",
        &format!("FROM {image}\nRUN echo pulled-and-ran\n"),
    )]);

    // The docker CLI sends its logins in X-Registry-Config; berthd pulls FROM with them.
    let out = docker_build(&daemon, dir.path(), &["-t", "fromprivate"]).ok();
    assert!(out.out().contains("pulled-and-ran"), "{out}");
    daemon.docker(&["rmi", "fromprivate", &image]).ok();

    // Without a login the pull is refused, clearly, and nothing is tagged.
    daemon.berth(&["logout", &domain]).ok();
    let out = docker_build(&daemon, dir.path(), &["-t", "fromprivate"]).fails();
    assert!(
        out.stderr.contains("unauthorized") || out.stderr.contains("authentication required"),
        "{out}"
    );
    let images = daemon.docker(&["images", "-q", "fromprivate"]).ok();
    assert_eq!(images.out(), "");
}
