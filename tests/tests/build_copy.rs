//! COPY from a streamed build context, whose layer berthd writes straight from the
//! context's spool (nothing extracted into the build's scratch): what lands in the image,
//! through the real docker CLI's classic path.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use berth_tests::{run_command, Daemon, Output};

fn docker_build(daemon: &Daemon, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = daemon.docker_command(&["build"]);
    cmd.args(args).arg(dir).env("DOCKER_BUILDKIT", "0");
    run_command(cmd, None)
}

const DOCKERFILE: &str = "FROM busybox\n\
    RUN mkdir -p /srv && chown 1000:1001 /srv && chmod 0710 /srv\n\
    COPY tree /srv/app\n\
    COPY --chown=1000:50 --chmod=600 tree/a tree/sub /opt/\n\
    COPY <<EOF /etc/motd\n\
    hello\n\
    EOF\n\
    CMD [\"sh\"]\n";

const STAT: &str = "stat -c '%n %a %u:%g %F' /srv /srv/app /srv/app/a /srv/app/sub \
    /srv/app/sub/b /srv/app/link /srv/app/out /opt /opt/a /opt/b /etc/motd; \
    readlink /srv/app/link; readlink /srv/app/out; cat /srv/app/link /etc/motd; stat -c %Y /srv/app/a";

#[test]
fn a_context_copy_keeps_modes_owners_links_and_times_refuses_escapes_and_hits_the_cache() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path();
    std::fs::create_dir_all(ctx.join("tree/sub")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(ctx.join("tree/a"), "a\n").unwrap();
    std::fs::write(ctx.join("tree/sub/b"), "b\n").unwrap();
    std::fs::set_permissions(ctx.join("tree/a"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(
        ctx.join("tree/sub/b"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567_890);
    std::fs::File::options()
        .write(true)
        .open(ctx.join("tree/a"))
        .unwrap()
        .set_modified(modified)
        .unwrap();
    std::os::unix::fs::symlink("a", ctx.join("tree/link")).unwrap();
    // A link leading out is copied as a link: nothing outside the context is read.
    std::os::unix::fs::symlink("../../../etc/shadow", ctx.join("tree/out")).unwrap();

    let out = docker_build(&daemon, ctx, &["-t", "copied"]).ok();
    assert!(out.out().contains("Successfully tagged copied"), "{out}");
    let log = daemon.log_text();
    assert!(
        log.contains("build step stored from a layer tar"),
        "the COPY steps were written from the spool: {log}"
    );
    assert!(
        !log.contains("build context extracted"),
        "nothing was extracted into the scratch: {log}"
    );

    let seen = daemon
        .docker(&["run", "--rm", "copied", "sh", "-c", STAT])
        .ok();
    let expected = "/srv 710 1000:1001 directory\n\
        /srv/app 755 0:0 directory\n\
        /srv/app/a 640 0:0 regular file\n\
        /srv/app/sub 755 0:0 directory\n\
        /srv/app/sub/b 755 0:0 regular file\n\
        /srv/app/link 777 0:0 symbolic link\n\
        /srv/app/out 777 0:0 symbolic link\n\
        /opt 755 1000:50 directory\n\
        /opt/a 600 1000:50 regular file\n\
        /opt/b 600 1000:50 regular file\n\
        /etc/motd 644 0:0 regular file\n\
        a\n\
        ../../../etc/shadow\n\
        a\n\
        hello\n\
        1234567890";
    assert_eq!(seen.out(), expected, "{seen}");

    let image = |name: &str| {
        daemon
            .docker(&["image", "inspect", "-f", "{{.Id}}", name])
            .ok()
            .out()
            .to_string()
    };
    let id = image("copied");
    let history = daemon
        .docker(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "copied",
        ])
        .ok();
    let lines = history.lines();
    assert!(
        lines[3].starts_with("/bin/sh -c #(nop) COPY dir:") && lines[3].ends_with(" in /srv/app "),
        "{history}"
    );
    assert!(
        lines[2].starts_with("/bin/sh -c #(nop) COPY multi:") && lines[2].ends_with(" in /opt/ "),
        "{history}"
    );

    // The same context again: every step a cache hit, the same image.
    let again = docker_build(&daemon, ctx, &["-t", "copied"]).ok();
    assert_eq!(
        again.out().matches(" ---> Using cache").count(),
        5,
        "{again}"
    );
    assert_eq!(image("copied"), id);

    // Links and `..` that lead out of the context are refused, and nothing is tagged.
    std::os::unix::fs::symlink("../../..", ctx.join("up")).unwrap();
    for (source, file) in [
        ("up/etc/passwd", "Dockerfile.link"),
        ("../x", "Dockerfile.dots"),
    ] {
        std::fs::write(ctx.join(file), format!("FROM busybox\nCOPY {source} /x\n")).unwrap();
        docker_build(
            &daemon,
            ctx,
            &["-f", &ctx.join(file).to_string_lossy(), "-t", "escaped"],
        )
        .fails()
        .stderr_has("forbidden path outside the build context");
    }
    let listed = daemon.docker(&["images", "-q", "escaped"]).ok();
    assert_eq!(listed.out(), "", "{listed}");
}
