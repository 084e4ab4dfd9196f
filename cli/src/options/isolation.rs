//! `--pid`, `--ipc`, `--uts`, `--userns` and `--log-driver`/`--log-opt`, checked as the
//! docker client checks them before it asks the daemon (which has the last word).

use std::collections::HashMap;

use bollard_stubs::models::HostConfigLogConfig;

use super::OptionsError;
use crate::args::IsolationFlags;

/// `container:NAME` with a name, as the docker client's `validContainer`.
fn names_container(mode: &str) -> bool {
    mode.strip_prefix("container:")
        .is_some_and(|name| !name.is_empty())
}

/// Refuses the modes the docker client refuses. `--ipc` it leaves to the daemon.
pub fn check_modes(flags: &IsolationFlags) -> Result<(), OptionsError> {
    let mode = |m: &Option<String>| m.clone().unwrap_or_default();
    let pid = mode(&flags.pid);
    if !(pid.is_empty() || pid == "host" || names_container(&pid)) {
        return Err(OptionsError::Namespace("--pid: invalid PID mode".into()));
    }
    let uts = mode(&flags.uts);
    if !(uts.is_empty() || uts == "host") {
        return Err(OptionsError::Namespace("--uts: invalid UTS mode".into()));
    }
    let userns = mode(&flags.userns);
    if !(userns.is_empty() || userns == "host") {
        return Err(OptionsError::Namespace(
            "--userns: invalid USER mode".into(),
        ));
    }
    Ok(())
}

/// `HostConfig.LogConfig`, which docker always sends: the driver ("" for the daemon's
/// default) and the options, `KEY` alone meaning an empty value.
pub fn log_config(flags: &IsolationFlags) -> Result<HostConfigLogConfig, OptionsError> {
    let driver = flags.log_driver.clone().unwrap_or_default();
    if driver == "none" && !flags.log_opt.is_empty() {
        return Err(OptionsError::Logging(format!(
            "invalid logging opts for driver {driver}"
        )));
    }
    let options: HashMap<String, String> = flags
        .log_opt
        .iter()
        .map(|opt| {
            let (key, value) = opt.split_once('=').unwrap_or((opt.as_str(), ""));
            (key.to_owned(), value.to_owned())
        })
        .collect();
    Ok(HostConfigLogConfig {
        typ: Some(driver),
        config: Some(options),
    })
}

#[cfg(test)]
mod tests {
    use crate::options::testing::{body_of, parse_run};
    use crate::options::{create_body, Environment};

    #[test]
    fn namespace_log_and_runtime_flags_map_like_docker() {
        let body = body_of(&[
            "--pid",
            "container:db",
            "--ipc",
            "shareable",
            "--uts",
            "host",
            "--userns",
            "host",
            "--log-driver",
            "local",
            "--log-opt",
            "max-size=1m",
            "--log-opt",
            "compress",
            "--runtime",
            "runc",
            "--volumes-from",
            "data:ro",
            "--volumes-from",
            "more",
            "--volume-driver",
            "local",
            "--group-add",
            "1234",
            "--group-add",
            "audio",
            "busybox",
        ]);
        let hc = &body["HostConfig"];
        assert_eq!(hc["PidMode"], "container:db");
        assert_eq!(hc["IpcMode"], "shareable");
        assert_eq!(hc["UTSMode"], "host");
        assert_eq!(hc["UsernsMode"], "host");
        assert_eq!(
            hc["LogConfig"],
            serde_json::json!({"Type": "local", "Config": {"max-size": "1m", "compress": ""}})
        );
        assert_eq!(hc["Runtime"], "runc");
        assert_eq!(hc["VolumesFrom"], serde_json::json!(["data:ro", "more"]));
        assert_eq!(hc["VolumeDriver"], "local");
        assert_eq!(hc["GroupAdd"], serde_json::json!(["1234", "audio"]));
        // Left out: docker still sends an empty LogConfig, and no modes.
        let hc = &body_of(&["busybox"])["HostConfig"];
        assert_eq!(
            hc["LogConfig"],
            serde_json::json!({"Type": "", "Config": {}})
        );
        assert!(hc.get("PidMode").is_none() && hc.get("Runtime").is_none());
    }

    #[test]
    fn bad_modes_and_log_options_are_dockers_errors() {
        let lookup = |_: &str| None;
        let env = Environment {
            lookup_env: &lookup,
            current_dir: std::path::Path::new("/"),
            console_size: None,
        };
        let refuse = |args: &[&str]| {
            let (detach, opts) = parse_run(args);
            create_body(&opts, !detach, &env).unwrap_err().to_string()
        };
        assert_eq!(refuse(&["--pid", "foo", "i"]), "--pid: invalid PID mode");
        assert_eq!(
            refuse(&["--pid", "container:", "i"]),
            "--pid: invalid PID mode"
        );
        assert_eq!(
            refuse(&["--uts", "container:x", "i"]),
            "--uts: invalid UTS mode"
        );
        assert_eq!(
            refuse(&["--userns", "private", "i"]),
            "--userns: invalid USER mode"
        );
        assert_eq!(
            refuse(&["--log-driver", "none", "--log-opt", "a=b", "i"]),
            "invalid logging opts for driver none"
        );
    }
}
