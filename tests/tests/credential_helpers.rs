//! Credential helpers (`credsStore`, `credHelpers` in the docker config): berth and the
//! docker CLI keep registry logins in the same helper, a fake one this test writes, against
//! Debian's docker-registry with basic auth on loopback.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use berth_tests::registry::{DockerRegistry, RegistryOptions};
use berth_tests::{run_command, Daemon, Output};

/// A credential helper that keeps each login in a file of its own directory and logs the
/// actions it was asked for, speaking the docker-credential-helpers protocol.
const HELPER: &str = r#"#!/bin/sh
store="$(dirname "$0")/store"
mkdir -p "$store"
echo "$1" >> "$store/calls"
case "$1" in
store)
    input=$(cat)
    server=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
    printf '%s' "$input" > "$store/$server" ;;
get)
    server=$(cat)
    if [ -f "$store/$server" ]; then
        cat "$store/$server"
    else
        echo "credentials not found in native keychain"
        exit 1
    fi ;;
erase)
    server=$(cat)
    rm -f "$store/$server" ;;
*)
    echo "unknown action $1"
    exit 1 ;;
esac
"#;

struct Setup {
    daemon: Daemon,
    _registry: DockerRegistry,
    domain: String,
    helper_dir: tempfile::TempDir,
}

impl Setup {
    fn start() -> Setup {
        let registry = DockerRegistry::start_with(RegistryOptions {
            user: Some(("alice".into(), "s3cret".into())),
            tls: None,
        });
        let daemon = Daemon::with_busybox();
        let domain = registry.domain();
        let helper_dir = tempfile::tempdir().unwrap();
        let helper = helper_dir.path().join("docker-credential-berthtest");
        std::fs::write(&helper, HELPER).unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Setup {
            daemon,
            _registry: registry,
            domain,
            helper_dir,
        }
    }

    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.helper_dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn write_config(&self, json: &serde_json::Value) {
        let dir = self.daemon.docker_config();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("config.json"), json.to_string()).unwrap();
    }

    fn config(&self) -> serde_json::Value {
        let bytes = std::fs::read(self.daemon.docker_config().join("config.json")).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// What the helper holds for the registry.
    fn stored(&self) -> Option<serde_json::Value> {
        let path = self.store_dir().join(&self.domain);
        let bytes = std::fs::read(path).ok()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }

    fn store_dir(&self) -> PathBuf {
        self.helper_dir.path().join("store")
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.store_dir().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[track_caller]
    fn berth(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = self.daemon.berth_command(args);
        cmd.env("PATH", self.path_env());
        run_command(cmd, stdin.map(<[u8]>::to_vec))
    }

    #[track_caller]
    fn docker(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd: Command = self.daemon.docker_command(args);
        cmd.env("PATH", self.path_env());
        run_command(cmd, stdin.map(<[u8]>::to_vec))
    }
}

/// `login` as alice, the password on standard input.
fn login_alice(domain: &str) -> [&str; 5] {
    ["login", "-u", "alice", "--password-stdin", domain]
}

fn alice() -> Option<(String, String)> {
    Some(("alice".into(), "s3cret".into()))
}

fn helper_login(setup: &Setup) -> Option<(String, String)> {
    let stored = setup.stored()?;
    Some((
        stored["Username"].as_str()?.to_owned(),
        stored["Secret"].as_str()?.to_owned(),
    ))
}

#[test]
fn logins_live_in_the_credential_helper_for_berth_and_docker() {
    berth_tests::needs_root!();
    let setup = Setup::start();
    let domain = setup.domain.clone();
    setup.write_config(&serde_json::json!({ "credsStore": "berthtest", "psFormat": "x" }));
    let image = format!("{domain}/private/busybox:1");
    setup.daemon.berth(&["tag", "busybox", &image]).ok();

    let login = setup
        .berth(&["login", "-u", "alice", "-p", "s3cret", &domain], None)
        .ok();
    assert!(login.stdout.contains("Login Succeeded"), "{login}");
    assert!(
        !login.stderr.contains("unencrypted"),
        "a helper keeps the password: {login}"
    );
    assert_eq!(helper_login(&setup), alice());
    let config = setup.config();
    assert_eq!(
        config["auths"][&domain],
        serde_json::json!({}),
        "no password in the file: {config}"
    );
    assert_eq!(config["psFormat"], "x");

    // Push and pull read the login from the helper, berth's and docker's alike.
    setup.berth(&["push", &image], None).ok();
    assert!(
        setup.calls().contains(&"get".to_owned()),
        "{:?}",
        setup.calls()
    );
    setup.daemon.berth(&["rmi", &image]).ok();
    setup.docker(&["pull", &image], None).ok();
    setup.daemon.berth(&["rmi", &image]).ok();

    let out = setup.berth(&["logout", &domain], None).ok();
    assert_eq!(
        out.out(),
        format!("Removing login credentials for {domain}")
    );
    assert_eq!(helper_login(&setup), None, "erased from the helper");
    assert!(setup.config()["auths"].get(&domain).is_none());
    assert!(setup.calls().contains(&"erase".to_owned()));
    let refused = setup.berth(&["pull", &image], None).fails();
    assert!(
        refused.stderr.contains("authentication required")
            || refused.stderr.contains("unauthorized"),
        "{refused}"
    );
    let out = setup.berth(&["logout", &domain], None).ok();
    assert_eq!(out.out(), format!("Not logged in to {domain}"));

    // A login the docker CLI stored in the helper serves berth.
    setup.docker(&login_alice(&domain), Some(b"s3cret\n")).ok();
    assert_eq!(helper_login(&setup), alice());
    setup.berth(&["pull", &image], None).ok();

    // `login` with nothing given tries the stored login first, as docker does; with none
    // stored and no terminal to ask on, it is docker's error.
    let again = setup.berth(&["login", &domain], None).ok();
    assert!(
        again
            .stderr
            .contains("Authenticating with existing credentials... [Username: alice]"),
        "{again}"
    );
    assert_eq!(again.out(), "Login Succeeded");
    setup.berth(&["logout", &domain], None).ok();
    let refused = setup.berth(&["login", &domain], None).fails();
    assert!(
        refused
            .stderr
            .contains("Cannot perform an interactive login from a non TTY device"),
        "{refused}"
    );
}

#[test]
fn a_registrys_own_helper_wins_and_a_missing_helper_is_a_clear_error() {
    berth_tests::needs_root!();
    let setup = Setup::start();
    let domain = setup.domain.clone();
    setup.write_config(&serde_json::json!({
        "credsStore": "berth-test-missing",
        "credHelpers": { &domain: "berthtest" },
    }));
    setup.berth(&login_alice(&domain), Some(b"s3cret\n")).ok();
    assert_eq!(helper_login(&setup), alice());

    // Any other registry goes to credsStore, which is not installed: a clear error, not
    // an anonymous pull.
    setup.write_config(&serde_json::json!({ "credsStore": "berth-test-missing" }));
    let failed = setup
        .berth(&["pull", &format!("{domain}/private/busybox:1")], None)
        .fails();
    assert!(
        failed
            .stderr
            .contains("docker-credential-berth-test-missing"),
        "{failed}"
    );
}
