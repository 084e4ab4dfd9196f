//! What Docker fills into a container's `HostConfig` when the client leaves it out, so that
//! `inspect` shows every field clients read without asking (docker-py's `containers.run()`
//! reads `HostConfig.LogConfig.Type`), and the checks of the fields with a fixed set of
//! values: the runtime and the log driver.

use bollard_stubs::models::{
    HostConfig, HostConfigCgroupnsModeEnum, HostConfigLogConfig, RestartPolicy,
    RestartPolicyNameEnum,
};

use super::error::Error;

/// The runtime berth runs containers with, under the name Docker gives its default.
pub const DEFAULT_RUNTIME: &str = "runc";
/// Names clients use for a runc-compatible runtime; berth's own runtime answers to each.
const RUNC_ALIASES: [&str; 4] = [DEFAULT_RUNTIME, "io.containerd.runc.v2", "berth", "crun"];

/// Docker's log drivers. Those berth lacks are refused as not supported yet; any other
/// name is Docker's 400.
const DOCKER_LOG_DRIVERS: [&str; 12] = [
    "json-file",
    "local",
    "none",
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "etwlogs",
    "gcplogs",
    "logentries",
];
const DEFAULT_LOG_DRIVER: &str = "json-file";
/// The log drivers berth has: json-file, local (json-file's format, rotated by default),
/// and none (nothing kept, nothing to read).
const READABLE_OR_NONE: [&str; 3] = [DEFAULT_LOG_DRIVER, "local", "none"];

/// The container's log driver (json-file when the record names none).
pub fn log_driver(host: &HostConfig) -> &str {
    host.log_config
        .as_ref()
        .and_then(|l| l.typ.as_deref())
        .filter(|t| !t.is_empty())
        .unwrap_or(DEFAULT_LOG_DRIVER)
}
/// 64 MiB, the size berth's /dev/shm has (Docker's default).
pub(super) const SHM_SIZE: i64 = 64 << 20;

/// Refuses a runtime that is not runc-compatible and a log driver Docker does not know.
pub fn check(host: &HostConfig) -> Result<(), Error> {
    if let Some(runtime) = host.runtime.as_deref().filter(|r| !r.is_empty()) {
        if !RUNC_ALIASES.contains(&runtime) {
            return Err(Error::invalid(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
    }
    if let Some(driver) = host
        .log_config
        .as_ref()
        .and_then(|l| l.typ.as_deref())
        .filter(|t| !t.is_empty())
    {
        if !DOCKER_LOG_DRIVERS.contains(&driver) {
            return Err(Error::invalid(format!(
                "logger: no log driver named '{driver}' is registered"
            )));
        }
        if !READABLE_OR_NONE.contains(&driver) {
            return Err(Error::unsupported(&format!("the {driver} log driver")));
        }
    }
    let driver = log_driver(host);
    let options = host.log_config.as_ref().and_then(|l| l.config.as_ref());
    let mut keys: Vec<&str> = options
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    // In name order, so that the same request always gets the same answer.
    keys.sort_unstable();
    for key in keys {
        match (driver, key) {
            (DEFAULT_LOG_DRIVER | "local", "max-size" | "max-file" | "compress") => {}
            (DEFAULT_LOG_DRIVER, "labels" | "labels-regex" | "env" | "env-regex" | "tag") => {
                return Err(Error::unsupported(&format!(
                    "the json-file log option {key}"
                )))
            }
            ("local", _) => {
                return Err(Error::invalid(format!(
                    "unknown log opt '{key}' for log driver local"
                )))
            }
            _ => {
                return Err(Error::invalid(format!(
                    "unknown log opt '{key}' for {driver} log driver"
                )))
            }
        }
    }
    // Docker finds bad values only when the container starts; berth at create.
    super::log_files::rotation(host)?;
    Ok(())
}

/// Fills what the client left out with Docker's defaults.
pub fn fill(host: &mut HostConfig) {
    let log = host.log_config.get_or_insert_with(Default::default);
    if log.typ.as_deref().is_none_or(str::is_empty) {
        *log = HostConfigLogConfig {
            typ: Some(DEFAULT_LOG_DRIVER.to_string()),
            config: log.config.take(),
        };
    }
    log.config.get_or_insert_with(Default::default);
    let restart = host
        .restart_policy
        .get_or_insert_with(RestartPolicy::default);
    if matches!(restart.name, None | Some(RestartPolicyNameEnum::EMPTY)) {
        restart.name = Some(RestartPolicyNameEnum::NO);
    }
    restart.maximum_retry_count.get_or_insert(0);
    if host.runtime.as_deref().is_none_or(str::is_empty) {
        host.runtime = Some(DEFAULT_RUNTIME.to_string());
    }
    if host.ipc_mode.as_deref().is_none_or(str::is_empty) {
        host.ipc_mode = Some("private".to_string());
    }
    // berth gives every container its own cgroup namespace.
    host.cgroupns_mode
        .get_or_insert(HostConfigCgroupnsModeEnum::PRIVATE);
    if host.shm_size.is_none_or(|s| s <= 0) {
        host.shm_size = Some(SHM_SIZE);
    }
    if host.privileged != Some(true) {
        host.masked_paths
            .get_or_insert_with(berth_runtime::defaults::masked_paths);
        host.readonly_paths
            .get_or_insert_with(berth_runtime::defaults::readonly_paths);
    }
    host.console_size.get_or_insert_with(|| vec![0, 0]);
    host.port_bindings.get_or_insert_with(Default::default);
    for flag in [
        &mut host.auto_remove,
        &mut host.privileged,
        &mut host.publish_all_ports,
        &mut host.readonly_rootfs,
    ] {
        flag.get_or_insert(false);
    }
    for text in [
        &mut host.container_id_file,
        &mut host.volume_driver,
        &mut host.cgroup,
        &mut host.pid_mode,
        &mut host.uts_mode,
        &mut host.userns_mode,
        &mut host.cgroup_parent,
        &mut host.cpuset_cpus,
        &mut host.cpuset_mems,
    ] {
        text.get_or_insert_with(String::new);
    }
    for number in [
        &mut host.cpu_shares,
        &mut host.memory,
        &mut host.nano_cpus,
        &mut host.cpu_period,
        &mut host.cpu_quota,
        &mut host.cpu_realtime_period,
        &mut host.cpu_realtime_runtime,
        &mut host.memory_reservation,
        &mut host.memory_swap,
        &mut host.cpu_count,
        &mut host.cpu_percent,
        &mut host.io_maximum_iops,
        &mut host.io_maximum_bandwidth,
    ] {
        number.get_or_insert(0);
    }
    host.oom_score_adj.get_or_insert(0);
    host.blkio_weight.get_or_insert(0);
    for list in [&mut host.dns, &mut host.dns_options, &mut host.dns_search] {
        list.get_or_insert_with(Vec::new);
    }
    host.blkio_weight_device.get_or_insert_with(Vec::new);
    host.blkio_device_read_bps.get_or_insert_with(Vec::new);
    host.blkio_device_write_bps.get_or_insert_with(Vec::new);
    host.blkio_device_read_iops.get_or_insert_with(Vec::new);
    host.blkio_device_write_iops.get_or_insert_with(Vec::new);
    host.devices.get_or_insert_with(Vec::new);
    host.ulimits.get_or_insert_with(Vec::new);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn an_empty_host_config_gets_dockers_defaults() {
        let mut host = HostConfig::default();
        fill(&mut host);
        let value = serde_json::to_value(&host).unwrap();
        assert_eq!(
            value["LogConfig"],
            serde_json::json!({"Type": "json-file", "Config": {}})
        );
        assert_eq!(
            value["RestartPolicy"],
            serde_json::json!({"Name": "no", "MaximumRetryCount": 0})
        );
        assert_eq!(value["Runtime"], "runc");
        assert_eq!(value["IpcMode"], "private");
        assert_eq!(value["CgroupnsMode"], "private");
        assert_eq!(value["ShmSize"], 67108864);
        assert_eq!(value["ConsoleSize"], serde_json::json!([0, 0]));
        assert_eq!(value["AutoRemove"], false);
        assert_eq!(value["Memory"], 0);
        assert_eq!(value["Dns"], serde_json::json!([]));
        assert!(value["MaskedPaths"]
            .as_array()
            .is_some_and(|p| !p.is_empty()));
    }

    #[test]
    fn what_the_client_set_is_kept() {
        let mut host = HostConfig {
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some([("max-size".to_string(), "1m".to_string())].into()),
            }),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None,
            }),
            runtime: Some("io.containerd.runc.v2".into()),
            ..Default::default()
        };
        fill(&mut host);
        assert_eq!(host.log_config.unwrap().config.unwrap()["max-size"], "1m");
        assert_eq!(
            host.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::ALWAYS)
        );
        assert_eq!(host.runtime.as_deref(), Some("io.containerd.runc.v2"));
    }

    #[test]
    fn runtimes_and_log_drivers_are_checked() {
        let with = |runtime: &str, driver: &str| HostConfig {
            runtime: Some(runtime.into()),
            log_config: Some(HostConfigLogConfig {
                typ: Some(driver.into()),
                config: None,
            }),
            ..Default::default()
        };
        assert!(check(&with("runc", "json-file")).is_ok());
        assert!(check(&with("io.containerd.runc.v2", "")).is_ok());
        let err = check(&with("kata", "json-file")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(err.to_string(), "unknown or invalid runtime name: kata");
        let err = check(&with("runc", "nope")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(
            err.to_string(),
            "logger: no log driver named 'nope' is registered"
        );
        assert_eq!(
            check(&with("runc", "syslog")).unwrap_err().kind(),
            ErrorKind::NotImplemented
        );
        assert!(check(&with("runc", "none")).is_ok());
        let mut rotated = with("runc", "json-file");
        if let Some(log) = rotated.log_config.as_mut() {
            log.config = Some([("max-size".to_string(), "1m".to_string())].into());
        }
        assert!(check(&rotated).is_ok());
        if let Some(log) = rotated.log_config.as_mut() {
            log.config = Some(
                [("max-size", "1m"), ("tag", "x")]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
            );
        }
        assert_eq!(
            check(&rotated).unwrap_err().kind(),
            ErrorKind::NotImplemented
        );
        if let Some(log) = rotated.log_config.as_mut() {
            log.config = Some([("frob".to_string(), "1".to_string())].into());
        }
        assert_eq!(
            check(&rotated).unwrap_err().to_string(),
            "unknown log opt 'frob' for json-file log driver"
        );
    }
}
