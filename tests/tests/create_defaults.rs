//! What Docker fills into `inspect` when a client leaves it out (issue 10 §3), `--runtime`
//! aliases and unknown runtimes and log drivers refused at create with Docker's errors.

use berth_tests::Daemon;
use serde_json::json;

#[test]
fn a_bare_create_body_is_inspected_with_dockers_defaults() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let body = br#"{"Image": "busybox", "Cmd": ["true"]}"#;
    let response = d.api(
        "POST",
        "/containers/create?name=bare",
        Some(("application/json", body)),
    );
    assert_eq!(response.status, 201, "{response}");
    let c = d.inspect("bare");
    let host = &c["HostConfig"];
    assert_eq!(
        host["LogConfig"],
        json!({"Type": "json-file", "Config": {}}),
        "{host}"
    );
    assert_eq!(
        host["RestartPolicy"],
        json!({"Name": "no", "MaximumRetryCount": 0})
    );
    assert_eq!(host["Runtime"], "runc");
    assert_eq!(host["IpcMode"], "private");
    assert_eq!(host["CgroupnsMode"], "private");
    assert_eq!(host["ShmSize"], 67108864);
    assert_eq!(host["ConsoleSize"], json!([0, 0]));
    assert_eq!(host["AutoRemove"], false);
    assert_eq!(host["Privileged"], false);
    assert_eq!(host["ReadonlyRootfs"], false);
    assert_eq!(host["PortBindings"], json!({}));
    assert_eq!(host["Memory"], 0);
    assert_eq!(host["NanoCpus"], 0);
    assert_eq!(host["OomScoreAdj"], 0);
    assert_eq!(host["VolumeDriver"], "");
    assert_eq!(host["Dns"], json!([]));
    assert!(
        host["MaskedPaths"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == "/proc/kcore")),
        "{host}"
    );
    assert!(
        host["ReadonlyPaths"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{host}"
    );
    let config = &c["Config"];
    assert_eq!(config["Domainname"], "");
    assert_eq!(config["User"], "");
    assert_eq!(config["AttachStdin"], false);
    assert_eq!(config["AttachStdout"], false);
    assert_eq!(config["Tty"], false);
    assert_eq!(config["OpenStdin"], false);
    assert_eq!(config["WorkingDir"], "");
    // The docker CLI reads them through its templates.
    let out = d
        .docker(&["inspect", "-f", "{{.HostConfig.LogConfig.Type}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Runtime}}", "bare"])
        .ok();
    assert_eq!(out.out(), "json-file no runc");
}

#[test]
fn runc_compatible_runtimes_run_and_others_are_refused() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    for runtime in ["runc", "io.containerd.runc.v2"] {
        let out = d
            .docker(&[
                "run",
                "--rm",
                "--runtime",
                runtime,
                "busybox",
                "echo",
                runtime,
            ])
            .ok();
        assert_eq!(out.out(), runtime);
    }
    d.docker(&["run", "--rm", "--runtime", "kata", "busybox", "true"])
        .code(125)
        .stderr_has("unknown or invalid runtime name: kata");
    let body = br#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Runtime": "kata"}}"#;
    let response = d.api(
        "POST",
        "/containers/create",
        Some(("application/json", body)),
    );
    assert_eq!(response.status, 400, "{response}");
    assert!(d.container_ids().is_empty());
}

#[test]
fn an_unknown_log_driver_is_dockers_400_at_create() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&["run", "--rm", "--log-driver", "nope", "busybox", "true"])
        .code(125)
        .stderr_has("logger: no log driver named 'nope' is registered");
    let body =
        br#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"LogConfig": {"Type": "nope"}}}"#;
    let response = d.api(
        "POST",
        "/containers/create",
        Some(("application/json", body)),
    );
    assert_eq!(response.status, 400, "{response}");
    // Docker's drivers that berth lacks say so.
    let body = br#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"LogConfig": {"Type": "syslog"}}}"#;
    let response = d.api(
        "POST",
        "/containers/create",
        Some(("application/json", body)),
    );
    assert_eq!(response.status, 501, "{response}");
    assert!(
        response.text().contains("not supported by berth yet"),
        "{response}"
    );
    assert!(d.container_ids().is_empty());
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--log-driver",
            "json-file",
            "busybox",
            "echo",
            "logged",
        ])
        .ok();
    assert_eq!(out.out(), "logged");
}

#[test]
fn the_none_log_driver_keeps_nothing_and_logs_says_so() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // Attached clients still get the output; nothing is kept.
    let out = d
        .docker(&[
            "run",
            "--name",
            "quiet",
            "--log-driver",
            "none",
            "busybox",
            "echo",
            "unlogged",
        ])
        .ok();
    assert_eq!(out.out(), "unlogged");
    assert_eq!(
        d.inspect("quiet")["HostConfig"]["LogConfig"]["Type"],
        "none"
    );
    let log_path = d.data_root.join("containers");
    let leftover = walk_for(&log_path, "-json.log");
    assert!(leftover.is_empty(), "{leftover:?}");
    d.docker(&["logs", "quiet"])
        .code(1)
        .stderr_has("configured logging driver does not support reading");
    let response = d.api("GET", "/containers/quiet/logs?stdout=1", None);
    assert_eq!(response.status, 501, "{response}");
    // What berth lacks is refused, not ignored; what Docker does not know is its error.
    d.docker(&["run", "--rm", "--log-opt", "tag=x", "busybox", "true"])
        .code(125)
        .stderr_has("not supported by berth yet");
    d.docker(&["run", "--rm", "--log-opt", "frob=1", "busybox", "true"])
        .code(125)
        .stderr_has("unknown log opt 'frob' for json-file log driver");
    d.docker(&[
        "run",
        "--rm",
        "--log-opt",
        "max-size=1m",
        "--log-opt",
        "max-file=0",
        "busybox",
        "true",
    ])
    .code(125)
    .stderr_has("max-file cannot be less than 1");
}

/// Files under `dir` whose names end with `suffix`.
fn walk_for(dir: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk_for(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    found
}
