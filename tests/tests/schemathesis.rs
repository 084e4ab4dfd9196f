//! schemathesis (`pip install schemathesis`, which scripts/test.sh installs) against berthd's
//! loopback TCP listener, driven by moby's own API definition
//! (`tests/fixtures/schemathesis/moby-swagger-v28.1.1.yaml`, see the NOTICE there): for every
//! endpoint berth implements it sends generated requests, valid and invalid, and fails on any
//! 5xx but a clear 501 "not supported by berth yet" (`hooks.py`). Afterwards berthd must still
//! answer, have logged no panic, and every container, image, volume and network that existed
//! before must exist unchanged.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use berth_tests::{run_command, Daemon};

/// Operations of the definition left out of the run, each with why.
const EXCLUDED: &[(&str, &str)] = &[
    // Not implemented by berth: the router answers 501 "not supported by berth yet".
    ("ContainerAttachWebsocket", "not implemented"),
    ("ImageSearch", "not implemented"),
    ("VolumeUpdate", "not implemented (cluster volumes)"),
    ("GetPluginPrivileges", "not implemented"),
    ("PluginList", "not implemented"),
    ("PluginPull", "not implemented"),
    ("PluginInspect", "not implemented"),
    ("PluginDelete", "not implemented"),
    ("PluginEnable", "not implemented"),
    ("PluginDisable", "not implemented"),
    ("PluginUpgrade", "not implemented"),
    ("PluginCreate", "not implemented"),
    ("PluginPush", "not implemented"),
    ("PluginSet", "not implemented"),
    ("NodeList", "not implemented (swarm)"),
    ("NodeInspect", "not implemented (swarm)"),
    ("NodeDelete", "not implemented (swarm)"),
    ("NodeUpdate", "not implemented (swarm)"),
    ("SwarmInspect", "not implemented (swarm)"),
    ("SwarmInit", "not implemented (swarm)"),
    ("SwarmJoin", "not implemented (swarm)"),
    ("SwarmLeave", "not implemented (swarm)"),
    ("SwarmUpdate", "not implemented (swarm)"),
    ("SwarmUnlockkey", "not implemented (swarm)"),
    ("SwarmUnlock", "not implemented (swarm)"),
    ("ServiceList", "not implemented (swarm)"),
    ("ServiceCreate", "not implemented (swarm)"),
    ("ServiceInspect", "not implemented (swarm)"),
    ("ServiceDelete", "not implemented (swarm)"),
    ("ServiceUpdate", "not implemented (swarm)"),
    ("ServiceLogs", "not implemented (swarm)"),
    ("TaskList", "not implemented (swarm)"),
    ("TaskInspect", "not implemented (swarm)"),
    ("TaskLogs", "not implemented (swarm)"),
    ("SecretList", "not implemented (swarm)"),
    ("SecretCreate", "not implemented (swarm)"),
    ("SecretInspect", "not implemented (swarm)"),
    ("SecretDelete", "not implemented (swarm)"),
    ("SecretUpdate", "not implemented (swarm)"),
    ("ConfigList", "not implemented (swarm)"),
    ("ConfigCreate", "not implemented (swarm)"),
    ("ConfigInspect", "not implemented (swarm)"),
    ("ConfigDelete", "not implemented (swarm)"),
    ("ConfigUpdate", "not implemented (swarm)"),
    ("DistributionInspect", "not implemented"),
    ("Session", "not implemented"),
    // Implemented, but a generated request would reach off the machine (tests talk only to
    // loopback): a pull or an import from a URL, a push, a login, a build's FROM or remote
    // context.
    ("ImageCreate", "pulls from a registry"),
    ("ImagePush", "pushes to a registry"),
    ("SystemAuth", "logs in to a registry"),
    ("ImageBuild", "pulls base images and remote contexts"),
    // Implemented, but a generated request would change the host beyond the daemon's roots:
    // a bridge, addresses and firewall rules for whatever subnet it names.
    ("NetworkCreate", "creates bridges and routes on the host"),
    // Implemented, but it streams until the client goes away, which schemathesis reports as
    // a timeout.
    ("SystemEvents", "streams until the client leaves"),
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/schemathesis")
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Everything stored, one line per object, in a form that does not move by itself (no
/// "Up 3 seconds").
fn state(d: &Daemon) -> BTreeSet<String> {
    let lists: [(&str, &[&str]); 4] = [
        (
            "container",
            &[
                "ps",
                "-a",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.Names}} {{.Image}} {{.State}} {{.Command}} {{.Mounts}}",
            ],
        ),
        (
            "image",
            &[
                "images",
                "-a",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.Repository}}:{{.Tag}} {{.Size}}",
            ],
        ),
        (
            "volume",
            &["volume", "ls", "--format", "{{.Name}} {{.Driver}}"],
        ),
        (
            "network",
            &[
                "network",
                "ls",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.Name}} {{.Driver}}",
            ],
        ),
    ];
    let mut all = BTreeSet::new();
    for (kind, args) in lists {
        let out = d.docker(args).ok();
        all.extend(out.lines().iter().map(|line| format!("{kind} {line}")));
    }
    all
}

/// What names the test's own objects, which the generated requests must leave alone
/// (`hooks.py`): container IDs and names, image IDs and references, volume names.
fn protected(d: &Daemon) -> Vec<String> {
    let mut all = Vec::new();
    for args in [
        &["ps", "-a", "-q", "--no-trunc"][..],
        &["ps", "-a", "--format", "{{.Names}}"],
        &["images", "-a", "-q", "--no-trunc"],
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        &["images", "--format", "{{.Repository}}"],
        &["volume", "ls", "-q"],
    ] {
        let out = d.docker(args).ok();
        for line in out.lines() {
            all.push(line.to_string());
            if let Some(hex) = line.strip_prefix("sha256:") {
                all.push(hex.to_string());
            }
        }
    }
    all
}

#[test]
fn schemathesis_finds_no_server_error_and_changes_nothing() {
    berth_tests::needs_root!();
    let port = free_port();
    let d = Daemon::start_with(&["-H".into(), format!("tcp://127.0.0.1:{port}")]);
    d.import_busybox();
    // Something of every kind to damage: a running container holding a volume, a tagged
    // image. (No stopped container or unused volume: the prune endpoints are in the run, and
    // removing those is what they are for.)
    d.docker(&["volume", "create", "fixture-vol"]).ok();
    d.run_detached(&[
        "--name",
        "fixture-running",
        "-v",
        "fixture-vol:/data",
        "busybox",
        "sleep",
        "600",
    ]);
    d.docker(&["tag", "busybox", "fixture/image:kept"]).ok();
    let before = state(&d);
    let protected = protected(&d);

    let mut cmd = Command::new("schemathesis");
    cmd.arg("run")
        .arg(fixtures().join("moby-swagger-v28.1.1.yaml"))
        .arg("--url")
        .arg(format!("http://127.0.0.1:{port}/v1.49"))
        .args(["--checks", "berth_server_error"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "15"])
        .args(["--seed", "1"])
        .args(["--request-timeout", "10"])
        .args(["--workers", "1"])
        .args(["--max-time", "120"])
        .args(["--suppress-health-check", "all"])
        .args(["--warnings", "off"])
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("BERTH_PROTECTED", protected.join(","))
        .env("PYTHONPATH", fixtures())
        .env("NO_COLOR", "1")
        .current_dir(d.dir());
    for (operation, _why) in EXCLUDED {
        cmd.args(["--exclude-operation-id", operation]);
    }
    let run = run_command(cmd, None);
    // The summary (operations, cases, statuses), shown with --nocapture.
    eprintln!("{}", run.stdout);

    assert!(d.ping(), "berthd stopped answering:\n{run}");
    let log = d.log_text();
    assert!(!log.contains("panicked"), "berthd panicked:\n{log}");
    assert_eq!(run.code, 0, "schemathesis found failures:\n{run}");
    // Whatever the run created (a volume with a valid name, say) may stay; what existed
    // must be there, unchanged.
    let after = state(&d);
    let lost: Vec<&String> = before.difference(&after).collect();
    assert!(
        lost.is_empty(),
        "changed or gone: {lost:#?}\nnow: {after:#?}"
    );
}
