//! `--health-*` and `--no-healthcheck` → `Config.Healthcheck`, checked as docker checks them.

use bollard_stubs::models::HealthConfig;

use super::OptionsError;
use crate::args::HealthFlags;

/// The healthcheck the flags ask for: none when no flag was given (the image's stays),
/// `["NONE"]` for `--no-healthcheck`, and otherwise the given fields, the command as
/// `CMD-SHELL` (what is left out the daemon takes from the image's).
pub fn healthcheck(flags: &HealthFlags) -> Result<Option<HealthConfig>, OptionsError> {
    let durations = [
        ("--health-interval", flags.health_interval),
        ("--health-timeout", flags.health_timeout),
        ("--health-retries", flags.health_retries),
        ("--health-start-period", flags.health_start_period),
        ("--health-start-interval", flags.health_start_interval),
    ];
    // As docker: a zero is the same as leaving the flag out.
    let any = flags.health_cmd.as_deref().is_some_and(|c| !c.is_empty())
        || durations.iter().any(|(_, v)| v.is_some_and(|v| v != 0));
    if flags.no_healthcheck {
        if any {
            return Err(OptionsError::Health(
                "--no-healthcheck conflicts with --health-* options".into(),
            ));
        }
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }));
    }
    if !any {
        return Ok(None);
    }
    if let Some((flag, _)) = durations.iter().find(|(_, v)| v.is_some_and(|v| v < 0)) {
        return Err(OptionsError::Health(format!("{flag} cannot be negative")));
    }
    let set = |v: Option<i64>| v.filter(|v| *v != 0);
    Ok(Some(HealthConfig {
        test: flags
            .health_cmd
            .as_ref()
            .filter(|c| !c.is_empty())
            .map(|c| vec!["CMD-SHELL".into(), c.clone()]),
        interval: set(flags.health_interval),
        timeout: set(flags.health_timeout),
        retries: set(flags.health_retries),
        start_period: set(flags.health_start_period),
        start_interval: set(flags.health_start_interval),
    }))
}

#[cfg(test)]
mod tests {
    use crate::options::testing::{body_of, parse_run};
    use crate::options::{create_body, Environment};

    #[test]
    fn health_flags_map_like_docker() {
        let body = body_of(&[
            "--health-cmd",
            "nc -z 127.0.0.1 80",
            "--health-interval",
            "1.5s",
            "--health-timeout=300ms",
            "--health-retries",
            "3",
            "--health-start-period",
            "1m",
            "--health-start-interval",
            "0.3s",
            "busybox",
        ]);
        assert_eq!(
            body["Healthcheck"],
            serde_json::json!({
                "Test": ["CMD-SHELL", "nc -z 127.0.0.1 80"],
                "Interval": 1_500_000_000i64,
                "Timeout": 300_000_000,
                "Retries": 3,
                "StartPeriod": 60_000_000_000i64,
                "StartInterval": 300_000_000,
            })
        );
        // Only an interval: the daemon keeps the image's command.
        let body = body_of(&["--health-interval", "2s", "busybox"]);
        assert_eq!(
            body["Healthcheck"],
            serde_json::json!({"Interval": 2_000_000_000i64})
        );
        let body = body_of(&["--no-healthcheck", "busybox"]);
        assert_eq!(body["Healthcheck"], serde_json::json!({"Test": ["NONE"]}));
        // Zeros are as good as nothing, as in docker.
        let body = body_of(&["--health-interval", "0", "--health-retries", "0", "busybox"]);
        assert!(body.get("Healthcheck").is_none());
    }

    #[test]
    fn bad_health_flags_are_dockers_errors() {
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
        assert_eq!(
            refuse(&["--no-healthcheck", "--health-retries", "1", "i"]),
            "--no-healthcheck conflicts with --health-* options"
        );
        assert_eq!(
            refuse(&["--health-interval", "-1s", "i"]),
            "--health-interval cannot be negative"
        );
        assert_eq!(
            refuse(&["--health-retries=-2", "i"]),
            "--health-retries cannot be negative"
        );
        assert_eq!(
            refuse(&["--health-start-interval=-1ms", "i"]),
            "--health-start-interval cannot be negative"
        );
    }
}
