//! Healthchecks (issue 10 §2) through the real docker CLI: `--health-*` flags, `State.Health`,
//! `health_status` events, `ps` and its `health` filter, a hanging check ended by its
//! timeout, and health that survives a daemon restart.

use std::time::{Duration, Instant};

use berth_tests::Daemon;
use serde_json::Value;

fn health(d: &Daemon, name: &str) -> Value {
    d.inspect(name)["State"]["Health"].clone()
}

/// Waits (up to 30 s) until the container's health status is `status`.
#[track_caller]
fn wait_for_health(d: &Daemon, name: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = health(d, name);
        if health["Status"] == status {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became {status}: {health}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_failing_check_turns_unhealthy_then_healthy_in_inspect_ps_and_events() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let since = d.docker(&["version", "-f", "{{.Server.Os}}"]).ok();
    assert_eq!(since.out(), "linux");
    let start = chrono::Utc::now().timestamp().to_string();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--health-cmd",
        "cat /tmp/ok",
        "--health-interval",
        "100ms",
        "--health-retries",
        "2",
        "--health-start-period",
        "3s",
        "--health-start-interval",
        "100ms",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let config = &d.inspect("web")["Config"]["Healthcheck"];
    assert_eq!(
        config["Test"],
        serde_json::json!(["CMD-SHELL", "cat /tmp/ok"])
    );
    assert_eq!(config["Interval"], 100_000_000);
    // Failures within the start period do not count: it stays "starting".
    let starting = health(&d, "web");
    assert_eq!(starting["Status"], "starting", "{starting}");
    assert_eq!(starting["FailingStreak"], 0, "{starting}");
    let ps = d.docker(&["ps", "--format", "{{.Status}}"]).ok();
    assert!(ps.out().ends_with("(health: starting)"), "{ps}");

    let unhealthy = wait_for_health(&d, "web", "unhealthy");
    assert!(
        unhealthy["FailingStreak"].as_i64().unwrap() >= 2,
        "{unhealthy}"
    );
    let last = unhealthy["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 1, "{last}");
    assert!(
        last["Output"]
            .as_str()
            .unwrap()
            .contains("can't open '/tmp/ok'"),
        "{last}"
    );
    let ps = d
        .docker(&[
            "ps",
            "--filter",
            "health=unhealthy",
            "--format",
            "{{.Names}} {{.Status}}",
        ])
        .ok();
    assert!(
        ps.out().starts_with("web Up") && ps.out().ends_with("(unhealthy)"),
        "{ps}"
    );

    d.docker(&["exec", "web", "sh", "-c", "echo fine > /tmp/ok"])
        .ok();
    let healthy = wait_for_health(&d, "web", "healthy");
    assert_eq!(healthy["FailingStreak"], 0);
    let log = healthy["Log"].as_array().unwrap();
    assert!(log.len() <= 5, "{healthy}");
    assert_eq!(log.last().unwrap()["Output"], "fine\n");
    assert_eq!(log.last().unwrap()["ExitCode"], 0);
    let ps = d.docker(&["ps", "--format", "{{.Status}}"]).ok();
    assert!(ps.out().ends_with("(healthy)"), "{ps}");
    assert_eq!(
        d.docker(&["ps", "-q", "--filter", "health=healthy"])
            .ok()
            .stdout
            .lines()
            .count(),
        1
    );
    assert_eq!(
        d.docker(&["ps", "-q", "--filter", "health=none"])
            .ok()
            .stdout,
        ""
    );
    d.docker(&["ps", "--filter", "health=bogus"])
        .fails()
        .stderr_has("Unrecognised filter value for health: bogus");

    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    let events = d
        .docker(&[
            "events",
            "--since",
            &start,
            "--until",
            &until,
            "--filter",
            "container=web",
            "--format",
            "{{.Action}}",
        ])
        .ok();
    let statuses: Vec<&str> = events
        .stdout
        .lines()
        .filter(|a| a.starts_with("health_status"))
        .collect();
    assert_eq!(
        statuses,
        ["health_status: unhealthy", "health_status: healthy"],
        "{events}"
    );
    d.docker(&["rm", "-f", "web"]).ok();
}

#[test]
fn a_hanging_check_is_ended_by_its_timeout() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "hang",
        "--health-cmd",
        "sleep 100",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "100ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let health = wait_for_health(&d, "hang", "unhealthy");
    let last = health["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], -1, "{last}");
    assert_eq!(last["Output"], "Health check exceeded timeout (300ms)");
    // The hanging checks were killed, not left to pile up.
    std::thread::sleep(Duration::from_millis(500));
    let top = d.docker(&["top", "hang"]).ok();
    assert!(
        top.stdout.matches("sleep 100\n").count() <= 1,
        "checks pile up:\n{top}"
    );
    d.docker(&["rm", "-f", "hang"]).ok();
}

#[test]
fn no_healthcheck_and_bad_durations() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "plain",
        "--no-healthcheck",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert!(health(&d, "plain").is_null());
    assert_eq!(
        d.docker(&["ps", "-q", "--filter", "health=none"])
            .ok()
            .stdout
            .lines()
            .count(),
        1
    );
    let body = r#"{"Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Test": ["CMD", "true"], "Interval": 10}}"#;
    let response = d.api(
        "POST",
        "/containers/create",
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(response.status, 400, "{response}");
    assert!(
        response
            .text()
            .contains("Interval in Healthcheck cannot be less than 1ms"),
        "{response}"
    );
    let body = r#"{"Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Test": ["CMD", "true"], "Retries": -1}}"#;
    let response = d.api(
        "POST",
        "/containers/create",
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(response.status, 400, "{response}");
    assert_eq!(d.container_ids().len(), 1);
    d.docker(&["rm", "-f", "plain"]).ok();
}

#[test]
fn health_survives_a_daemon_restart_and_checks_go_on() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "--health-cmd",
        "true",
        "--health-interval",
        "100ms",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let before = wait_for_health(&d, "db", "healthy");
    d.kill9();
    d.restart();
    let after = health(&d, "db");
    assert_eq!(after["Status"], "healthy", "{after}");
    let last_end = |h: &Value| h["Log"].as_array().unwrap().last().unwrap()["End"].clone();
    let first = last_end(&after);
    assert!(first.as_str() >= last_end(&before).as_str());
    let deadline = Instant::now() + Duration::from_secs(30);
    while last_end(&health(&d, "db")) == first {
        assert!(Instant::now() < deadline, "no check after the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A paused container's refused checks say nothing of its health.
    d.docker(&["pause", "db"]).ok();
    std::thread::sleep(Duration::from_millis(500));
    let paused = health(&d, "db");
    assert_eq!(paused["Status"], "healthy", "{paused}");
    assert_eq!(paused["FailingStreak"], 0, "{paused}");
    d.docker(&["unpause", "db"]).ok();
    // A stopped container's health is unhealthy, as Docker leaves it.
    d.docker(&["stop", "-t", "0", "db"]).ok();
    assert_eq!(health(&d, "db")["Status"], "unhealthy");
    d.docker(&["start", "db"]).ok();
    assert_eq!(health(&d, "db")["Status"], "starting");
    wait_for_health(&d, "db", "healthy");
    d.docker(&["rm", "-f", "db"]).ok();
}

/// The container's record as berthd last wrote it to its data root.
fn record_on_disk(d: &Daemon, name: &str) -> Value {
    let id = d.inspect(name)["Id"].as_str().unwrap().to_string();
    let path = d.data_root.join("containers").join(id).join("config.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn a_repeated_verdict_is_not_written_per_check_but_a_moving_streak_is() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    for (name, cmd) in [("ok", "true"), ("failing", "false")] {
        d.docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--health-cmd",
            cmd,
            "--health-interval",
            "100ms",
            "--health-retries",
            "1000",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok();
    }
    wait_for_health(&d, "ok", "healthy");
    // The move to healthy was written; the results that repeat it are not, every one.
    let deadline = Instant::now() + Duration::from_secs(30);
    while record_on_disk(&d, "ok")["state"]["health"]["status"] != "healthy" {
        assert!(Instant::now() < deadline, "healthy never written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let written = record_on_disk(&d, "ok");
    let logged = |h: &Value| h["Log"].as_array().unwrap().last().unwrap()["End"].clone();
    let shown = logged(&health(&d, "ok"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_ne!(logged(&health(&d, "ok")), shown, "no check ran");
    assert_eq!(
        record_on_disk(&d, "ok"),
        written,
        "a repeated verdict was written"
    );
    // A failing streak that counts towards the retries is written as it grows.
    let streak_on_disk =
        |d: &Daemon| record_on_disk(d, "failing")["state"]["health"]["failing_streak"].as_u64();
    while streak_on_disk(&d).unwrap_or(0) < 3 {
        assert!(
            Instant::now() < deadline,
            "the failing streak was not written"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // What was written is what a daemon killed meanwhile finds.
    let streak = streak_on_disk(&d).unwrap();
    d.kill9();
    d.restart();
    let ok = health(&d, "ok");
    assert_eq!(ok["Status"], "healthy", "{ok}");
    assert!(!ok["Log"].as_array().unwrap().is_empty(), "{ok}");
    let failing = health(&d, "failing");
    assert_eq!(failing["Status"], "starting", "{failing}");
    assert!(
        failing["FailingStreak"].as_u64().unwrap() >= streak,
        "{failing}"
    );
    d.docker(&["rm", "-f", "ok", "failing"]).ok();
}

/// A `docker save` archive (the manifest.json form) of the busybox rootfs as one layer, with
/// `config` as the image config's `config`.
fn archive_with_config(config: Value) -> Vec<u8> {
    use sha2::Digest;
    let layer = std::fs::read(berth_tests::busybox_tar()).unwrap();
    let diff_id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&layer)));
    let image_config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let config_bytes = serde_json::to_vec(&image_config).unwrap();
    let config_name = format!("{}.json", hex::encode(sha2::Sha256::digest(&config_bytes)));
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": config_name, "RepoTags": ["checked:latest"], "Layers": ["layer.tar"]}
    ]))
    .unwrap();
    let mut archive = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        ("layer.tar", layer.as_slice()),
        (config_name.as_str(), config_bytes.as_slice()),
        ("manifest.json", manifest.as_slice()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive.append_data(&mut header, name, bytes).unwrap();
    }
    archive.into_inner().unwrap()
}

#[test]
fn the_images_healthcheck_runs_unless_the_run_overrides_it() {
    let d = Daemon::start();
    let archive = archive_with_config(serde_json::json!({
        "Cmd": ["sleep", "1000"],
        "Healthcheck": {"Test": ["CMD-SHELL", "echo from-image"], "Interval": 100_000_000, "Retries": 2},
    }));
    let path = d.dir().join("checked.tar");
    std::fs::write(&path, archive).unwrap();
    d.docker(&["load", "-i", path.to_str().unwrap()]).ok();
    // A restarted daemon reads the healthcheck again from the stored config.
    let mut d = d;
    d.terminate();
    d.restart();
    d.docker(&["run", "-d", "--name", "img", "checked"]).ok();
    let healthy = wait_for_health(&d, "img", "healthy");
    assert_eq!(healthy["Log"][0]["Output"], "from-image\n", "{healthy}");
    let config = &d.inspect("img")["Config"]["Healthcheck"];
    assert_eq!(config["Retries"], 2, "{config}");
    // The run's flags replace what they set and keep the rest of the image's.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "flags",
        "--health-cmd",
        "echo from-flags",
        "checked",
    ])
    .ok();
    let config = &d.inspect("flags")["Config"]["Healthcheck"];
    assert_eq!(
        config["Test"],
        serde_json::json!(["CMD-SHELL", "echo from-flags"])
    );
    assert_eq!(config["Interval"], 100_000_000, "{config}");
    let healthy = wait_for_health(&d, "flags", "healthy");
    assert_eq!(healthy["Log"][0]["Output"], "from-flags\n");
    d.docker(&["run", "-d", "--name", "none", "--no-healthcheck", "checked"])
        .ok();
    assert!(health(&d, "none").is_null());
    d.docker(&["rm", "-f", "img", "flags", "none"]).ok();
}

const DOCKER_PY: &str = r#"
import time, docker
client = docker.from_env()
c = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="pyhealth",
                          healthcheck={"test": ["CMD", "true"], "interval": 100000000, "retries": 1})
deadline = time.time() + 30
while True:
    c.reload()
    health = c.attrs["State"]["Health"]
    if health["Status"] == "healthy":
        break
    assert time.time() < deadline, health
    time.sleep(0.05)
assert health["FailingStreak"] == 0 and health["Log"][-1]["ExitCode"] == 0, health
assert c.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "true"], c.attrs["Config"]
assert [x.name for x in client.containers.list(filters={"health": "healthy"})] == ["pyhealth"]
c.remove(force=True)
print("ok")
"#;

#[test]
fn docker_py_sees_health() {
    let d = Daemon::with_busybox();
    let mut python = std::process::Command::new("python3");
    python
        .args(["-c", DOCKER_PY])
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH");
    let out = berth_tests::run_command(python, None);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "ok\n", "{out}");
}

#[test]
fn a_plain_stop_writes_the_results_kept_in_memory() {
    berth_tests::needs_root!();
    let mut d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "ok",
        "--health-cmd",
        "true",
        "--health-interval",
        "100ms",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    wait_for_health(&d, "ok", "healthy");
    let deadline = Instant::now() + Duration::from_secs(30);
    while record_on_disk(&d, "ok")["state"]["health"]["status"] != "healthy" {
        assert!(Instant::now() < deadline, "healthy never written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let time = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    // Read by path: the daemon is stopped for the last reading.
    let id = d.inspect("ok")["Id"].as_str().unwrap().to_string();
    let path = d.data_root.join("containers").join(id).join("config.json");
    let last_on_disk = || {
        let record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        time(
            &record["state"]["health"]["log"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()["end"],
        )
    };
    std::thread::sleep(Duration::from_millis(1000));
    let shown = health(&d, "ok");
    let shown = time(&shown["Log"].as_array().unwrap().last().unwrap()["End"]);
    // Results that only add to the log wait in memory (up to 30 s)...
    assert!(last_on_disk() < shown, "the log was written per check");
    // ...and a plain stop writes them.
    assert!(d.terminate().success());
    assert!(
        last_on_disk() >= shown,
        "the stop lost the log kept in memory"
    );
    d.restart();
}
