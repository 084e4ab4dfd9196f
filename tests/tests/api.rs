//! berthd itself and the Docker Engine API on its socket: /_ping, /version, version
//! prefixes, /info, the socket's mode, one daemon per data root, and graceful signals.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use berth_tests::{binary, run_command, Daemon};

/// "1.48" -> (1, 48).
fn parse_version(version: &str) -> (u32, u32) {
    let (major, minor) = version
        .split_once('.')
        .unwrap_or_else(|| panic!("{version:?} is not MAJOR.MINOR"));
    (major.parse().unwrap(), minor.parse().unwrap())
}

#[test]
fn ping_with_head_and_get() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let get = d.api("GET", "/_ping", None);
    assert_eq!(get.status, 200, "{get}");
    assert_eq!(get.body, b"OK");
    let version = get
        .header("Api-Version")
        .unwrap_or_else(|| panic!("no Api-Version: {get}"));
    assert!(parse_version(version) >= (1, 48), "{get}");

    let head = d.api("HEAD", "/_ping", None);
    assert_eq!(head.status, 200, "{head}");
    assert_eq!(head.header("Api-Version"), Some(version), "{head}");
    for prefixed in ["/v1.24/_ping", "/v1.49/_ping"] {
        assert_eq!(d.api("GET", prefixed, None).status, 200, "{prefixed}");
    }
}

#[test]
fn version_advertises_api_1_48_or_newer_and_min_1_24() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let response = d.api("GET", "/version", None);
    assert_eq!(response.status, 200, "{response}");
    let version = response.json();
    let api = version["ApiVersion"].as_str().unwrap_or_default();
    assert!(parse_version(api) >= (1, 48), "{version}");
    assert_eq!(version["MinAPIVersion"], "1.24", "{version}");
    assert_eq!(version["Os"], "linux");
    assert_eq!(version["Arch"], "amd64");
    assert!(
        !version["Version"].as_str().unwrap_or_default().is_empty(),
        "{version}"
    );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(version["KernelVersion"], kernel.trim());
}

#[test]
fn paths_work_unprefixed_and_with_every_supported_version_prefix() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let max = d.api("GET", "/version", None).json()["ApiVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, max_minor) = parse_version(&max);
    let mut prefixes = vec![String::new()];
    prefixes.extend((24..=max_minor).map(|minor| format!("/v1.{minor}")));
    for prefix in &prefixes {
        for path in [
            "/version",
            "/info",
            "/containers/json?all=1",
            "/images/json",
            "/images/busybox/json",
        ] {
            let response = d.api("GET", &format!("{prefix}{path}"), None);
            assert_eq!(response.status, 200, "GET {prefix}{path}: {response}");
            response.json();
        }
    }
}

#[test]
fn versions_outside_the_supported_range_are_refused() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    for path in ["/v1.12/version", "/v1.99/version"] {
        let response = d.api("GET", path, None);
        assert_eq!(response.status, 400, "{path}: {response}");
        assert!(response.error_message().contains("version"), "{response}");
    }
}

#[test]
fn an_unknown_route_is_a_404_with_a_json_message() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let response = d.api("GET", "/no/such/route", None);
    assert_eq!(response.status, 404, "{response}");
    assert_eq!(response.error_message(), "page not found");
}

#[test]
fn info_reports_the_machine_and_the_store() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&["busybox", "sleep", "1000"]);
    d.berth(&["create", "busybox", "true"]).ok();
    let info = d.api("GET", "/info", None).json();
    assert_eq!(info["Containers"], 2, "{info}");
    assert_eq!(info["ContainersRunning"], 1, "{info}");
    assert_eq!(info["ContainersPaused"], 0, "{info}");
    assert_eq!(info["ContainersStopped"], 1, "{info}");
    assert_eq!(info["Images"], 1, "{info}");
    assert_eq!(
        info["DockerRootDir"],
        d.data_root.to_str().unwrap(),
        "{info}"
    );
    assert_eq!(info["CgroupVersion"], "1", "{info}");
    assert_eq!(info["CgroupDriver"], "cgroupfs", "{info}");
    assert!(
        info["Driver"]
            .as_str()
            .is_some_and(|s| s.starts_with("overlay")),
        "{info}"
    );
    assert_eq!(info["OSType"], "linux", "{info}");
    assert_eq!(info["Architecture"], "x86_64", "{info}");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(info["KernelVersion"], kernel.trim(), "{info}");
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(info["NCPU"], cpus, "{info}");
    assert!(info["MemTotal"].as_i64().unwrap_or_default() > 0, "{info}");
    assert!(
        !info["OperatingSystem"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{info}"
    );
    let security = info["SecurityOptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        security
            .iter()
            .any(|o| o.as_str().is_some_and(|o| o.starts_with("name=seccomp"))),
        "{info}"
    );
}

#[test]
fn the_socket_is_mode_0660() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660, "mode {:o}", mode & 0o777);
}

#[test]
fn a_second_daemon_on_the_same_data_root_refuses_to_start() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let other = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(binary("berthd"));
    cmd.arg("--data-root")
        .arg(&d.data_root)
        .arg("--exec-root")
        .arg(other.path().join("exec"))
        .arg("-H")
        .arg(format!(
            "unix://{}",
            other.path().join("second.sock").display()
        ));
    let out = run_command(cmd, None).fails();
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains(d.data_root.to_str().unwrap()),
        "the message names the data root:\n{out}"
    );
    assert!(d.ping(), "the first daemon still answers");
}

#[test]
fn sigterm_and_sigint_stop_the_daemon_cleanly() {
    berth_tests::needs_root!();
    let mut d = Daemon::start();
    let status = d.terminate_with(libc::SIGTERM);
    assert!(status.success(), "SIGTERM: {status}");
    assert!(!d.ping());
    d.restart();
    let status = d.terminate_with(libc::SIGINT);
    assert!(status.success(), "SIGINT: {status}");
    assert!(!d.ping());
}

#[test]
fn berthd_help_names_its_flags() {
    let out = run_command(
        {
            let mut cmd = Command::new(binary("berthd"));
            cmd.arg("--help");
            cmd
        },
        None,
    )
    .ok();
    for flag in ["--data-root", "--host", "-H", "--exec-root", "--log-level"] {
        assert!(out.stdout.contains(flag), "{flag} missing:\n{out}");
    }
}
