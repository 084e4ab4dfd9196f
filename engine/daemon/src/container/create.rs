//! Turning a Docker create request into a container's configuration: the image's defaults
//! merged in, and everything berth cannot honour yet refused with a clear error.

use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, HostConfig};
use oci_spec::image::ImageConfiguration;

use super::error::Error;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's rule for container names.
pub fn validate_name(name: &str) -> Result<String, Error> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && bare.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(Error::invalid(format!(
            "Invalid container name ({bare}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(bare.to_string())
}

/// Merges the image's configuration under the request's, as dockerd does.
pub fn merge_config(
    body: &ContainerCreateBody,
    image: &ImageConfiguration,
    id: &str,
) -> Result<ContainerConfig, Error> {
    let image_config = image.config().clone().unwrap_or_default();

    let entrypoint_reset = matches!(&body.entrypoint, Some(e) if e.len() == 1 && e[0].is_empty());
    // `[""]` (`--entrypoint ""`) resets the image's entrypoint rather than naming one.
    let requested_entrypoint = body
        .entrypoint
        .clone()
        .filter(|e| !e.is_empty() && !entrypoint_reset);
    let requested_cmd = body.cmd.clone().filter(|c| !c.is_empty());

    let (entrypoint, cmd) = match (requested_entrypoint, requested_cmd) {
        (Some(entrypoint), cmd) => (Some(entrypoint), cmd),
        (None, cmd) if entrypoint_reset => (None, cmd),
        (None, Some(cmd)) => (image_config.entrypoint().clone(), Some(cmd)),
        (None, None) => (
            image_config.entrypoint().clone(),
            image_config.cmd().clone(),
        ),
    };
    if let Some(healthcheck) = &body.healthcheck {
        crate::health::validate(healthcheck).map_err(|err| Error::invalid(err.to_string()))?;
    }
    if entrypoint.as_ref().is_none_or(Vec::is_empty) && cmd.as_ref().is_none_or(Vec::is_empty) {
        return Err(Error::invalid("No command specified"));
    }

    let mut env: Vec<String> = image_config.env().clone().unwrap_or_default();
    for var in body.env.clone().unwrap_or_default() {
        let key = var.split('=').next().unwrap_or_default().to_string();
        env.retain(|existing| existing.split('=').next() != Some(key.as_str()));
        env.push(var);
    }
    if !env.iter().any(|v| v.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }

    let working_dir = body
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| image_config.working_dir().clone())
        .filter(|w| !w.is_empty());
    if let Some(dir) = &working_dir {
        if !dir.starts_with('/') {
            return Err(Error::invalid(format!(
                "the working directory '{dir}' is invalid, it needs to be an absolute path"
            )));
        }
    }

    let mut labels = image_config.labels().clone().unwrap_or_default();
    labels.extend(body.labels.clone().unwrap_or_default());

    let hostname = body
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| id[..12].to_string());

    Ok(ContainerConfig {
        hostname: Some(hostname),
        domainname: Some(body.domainname.clone().unwrap_or_default()),
        user: body
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| image_config.user().clone())
            .or(Some(String::new())),
        attach_stdin: Some(body.attach_stdin.unwrap_or(false)),
        attach_stdout: Some(body.attach_stdout.unwrap_or(false)),
        attach_stderr: Some(body.attach_stderr.unwrap_or(false)),
        tty: Some(body.tty.unwrap_or(false)),
        open_stdin: Some(body.open_stdin.unwrap_or(false)),
        stdin_once: Some(body.stdin_once.unwrap_or(false)),
        env: Some(env),
        cmd,
        image: body.image.clone(),
        working_dir: Some(working_dir.unwrap_or_default()),
        entrypoint,
        labels: Some(labels.into_iter().collect()),
        stop_signal: body
            .stop_signal
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| image_config.stop_signal().clone()),
        stop_timeout: body.stop_timeout,
        exposed_ports: exposed_ports(body, &image_config),
        volumes: volumes(body, &image_config),
        healthcheck: body.healthcheck.clone(),
        ..Default::default()
    })
}

/// The image's exposed ports and the request's, as Docker merges them.
fn exposed_ports(
    body: &ContainerCreateBody,
    image: &oci_spec::image::Config,
) -> Option<Vec<String>> {
    let mut ports: Vec<String> = image.exposed_ports().clone().unwrap_or_default();
    for port in body.exposed_ports.iter().flatten() {
        if !ports.contains(port) {
            ports.push(port.clone());
        }
    }
    (!ports.is_empty() || body.exposed_ports.is_some()).then_some(ports)
}

/// `Config.Volumes`: the image's `VOLUME`s and the request's, each once, as dockerd merges them.
fn volumes(body: &ContainerCreateBody, image: &oci_spec::image::Config) -> Option<Vec<String>> {
    let mut all: Vec<String> = image.volumes().clone().unwrap_or_default();
    for path in body.volumes.iter().flatten() {
        if !all.contains(path) {
            all.push(path.clone());
        }
    }
    (!all.is_empty()).then_some(all)
}

/// Refuses what berth cannot do yet, so that nothing a user asked for is silently dropped.
pub fn check_supported(host: &HostConfig) -> Result<(), Error> {
    let unsupported_if = |set: bool, what: &str| {
        if set {
            Err(Error::unsupported(what))
        } else {
            Ok(())
        }
    };
    unsupported_if(
        host.devices.as_ref().is_some_and(|d| !d.is_empty()),
        "--device",
    )?;
    unsupported_if(
        host.userns_mode
            .as_ref()
            .is_some_and(|m| !m.is_empty() && m != "host"),
        "--userns",
    )?;
    unsupported_if(
        host.ulimits.as_ref().is_some_and(|u| !u.is_empty()),
        "--ulimit",
    )?;
    refuse_ignored(host)?;
    super::defaults::check(host)?;
    if let Some(policy) = host.restart_policy.as_ref().and_then(|p| p.name.as_ref()) {
        use bollard_stubs::models::RestartPolicyNameEnum as P;
        if !matches!(
            policy,
            P::EMPTY | P::NO | P::ALWAYS | P::UNLESS_STOPPED | P::ON_FAILURE
        ) {
            return Err(Error::invalid("invalid restart policy"));
        }
        if host.auto_remove == Some(true) && !matches!(policy, P::EMPTY | P::NO) {
            return Err(Error::invalid(
                "can't create 'AutoRemove' container with restart policy",
            ));
        }
    }
    for opt in host.security_opt.iter().flatten() {
        let known = matches!(
            opt.as_str(),
            "no-new-privileges"
                | "no-new-privileges=true"
                | "no-new-privileges:true"
                | "no-new-privileges=false"
                | "no-new-privileges:false"
                | "seccomp=unconfined"
                | "seccomp:unconfined"
        );
        if !known {
            return Err(Error::unsupported(&format!("the security option {opt:?}")));
        }
    }
    Ok(())
}

/// The fields of `HostConfig` the docker client sends for flags berth has nothing behind
/// yet: set to anything but their defaults, they are refused rather than dropped.
fn refuse_ignored(host: &HostConfig) -> Result<(), Error> {
    use bollard_stubs::models::{HostConfigCgroupnsModeEnum as Cgroupns, HostConfigIsolationEnum};
    if let Some(score) = host.oom_score_adj.filter(|s| !(-1000..=1000).contains(s)) {
        return Err(Error::invalid(format!(
            "Invalid value {score}, range for oom score adj is [-1000, 1000]"
        )));
    }
    if !matches!(
        host.isolation,
        None | Some(HostConfigIsolationEnum::EMPTY | HostConfigIsolationEnum::DEFAULT)
    ) {
        return Err(Error::invalid(
            "invalid isolation: linux only supports 'default'",
        ));
    }
    let listed = |n: Option<usize>| n.is_some_and(|n| n > 0);
    let refused = [
        (
            host.shm_size
                .is_some_and(|s| s > 0 && s != super::defaults::SHM_SIZE),
            "--shm-size (berth's /dev/shm is always 64MB)",
        ),
        (listed(host.sysctls.as_ref().map(|m| m.len())), "--sysctl"),
        (host.oom_kill_disable == Some(true), "--oom-kill-disable"),
        (
            host.memory_swappiness.is_some_and(|s| s != -1),
            "--memory-swappiness",
        ),
        (
            host.cgroupns_mode == Some(Cgroupns::HOST),
            "--cgroupns host",
        ),
        (
            host.cgroup_parent.as_deref().is_some_and(|p| !p.is_empty()),
            "a cgroup parent per container (--cgroup-parent)",
        ),
        (
            listed(host.device_requests.as_ref().map(Vec::len)),
            "device requests (--gpus)",
        ),
        (
            listed(host.device_cgroup_rules.as_ref().map(Vec::len)),
            "--device-cgroup-rule",
        ),
        (
            listed(host.storage_opt.as_ref().map(|m| m.len())),
            "--storage-opt",
        ),
        (
            listed(host.annotations.as_ref().map(|m| m.len())),
            "--annotation",
        ),
        (
            listed(host.blkio_weight_device.as_ref().map(Vec::len)),
            "--blkio-weight-device",
        ),
        (
            listed(host.blkio_device_read_bps.as_ref().map(Vec::len))
                || listed(host.blkio_device_write_bps.as_ref().map(Vec::len))
                || listed(host.blkio_device_read_iops.as_ref().map(Vec::len))
                || listed(host.blkio_device_write_iops.as_ref().map(Vec::len)),
            "device I/O limits (--device-read-bps and the like)",
        ),
        (
            host.cpu_realtime_period.is_some_and(|p| p != 0)
                || host.cpu_realtime_runtime.is_some_and(|r| r != 0),
            "real-time CPU budgets (--cpu-rt-period, --cpu-rt-runtime)",
        ),
    ];
    match refused.iter().find(|(set, _)| *set) {
        Some((_, what)) => Err(Error::unsupported(what)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder};

    fn image(entrypoint: Option<Vec<&str>>, cmd: Option<Vec<&str>>) -> ImageConfiguration {
        let mut config = ConfigBuilder::default()
            .env(vec!["PATH=/bin".to_string(), "A=image".to_string()])
            .build()
            .unwrap();
        config.set_entrypoint(entrypoint.map(|e| e.into_iter().map(String::from).collect()));
        config.set_cmd(cmd.map(|e| e.into_iter().map(String::from).collect()));
        ImageConfigurationBuilder::default()
            .config(config)
            .build()
            .unwrap()
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn fields_berth_would_ignore_are_refused_and_defaults_pass() {
        let refused = |host: HostConfig| check_supported(&host).unwrap_err().to_string();
        // What the docker CLI sends for a plain `docker run` passes.
        let plain = HostConfig {
            shm_size: Some(0),
            memory_swappiness: Some(-1),
            oom_kill_disable: Some(false),
            oom_score_adj: Some(0),
            cgroup_parent: Some(String::new()),
            sysctls: Some(Default::default()),
            blkio_weight_device: Some(Vec::new()),
            ..Default::default()
        };
        check_supported(&plain).unwrap();
        check_supported(&HostConfig {
            shm_size: Some(64 << 20),
            oom_score_adj: Some(-500),
            ..Default::default()
        })
        .unwrap();
        assert!(refused(HostConfig {
            shm_size: Some(128 << 20),
            ..Default::default()
        })
        .contains("--shm-size"));
        assert!(refused(HostConfig {
            sysctls: Some([("net.ipv4.ip_forward".into(), "1".into())].into()),
            ..Default::default()
        })
        .starts_with("--sysctl: not supported by berth yet"));
        assert!(refused(HostConfig {
            memory_swappiness: Some(10),
            ..Default::default()
        })
        .contains("--memory-swappiness"));
        assert!(refused(HostConfig {
            cgroupns_mode: Some(bollard_stubs::models::HostConfigCgroupnsModeEnum::HOST),
            ..Default::default()
        })
        .contains("--cgroupns host"));
        assert_eq!(
            refused(HostConfig {
                oom_score_adj: Some(1001),
                ..Default::default()
            }),
            "Invalid value 1001, range for oom score adj is [-1000, 1000]"
        );
    }

    #[test]
    fn names_follow_docker_rules() {
        assert_eq!(validate_name("/web-1").unwrap(), "web-1");
        assert!(validate_name("a").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a b").is_err());
    }

    #[test]
    fn request_cmd_keeps_image_entrypoint() {
        let body = ContainerCreateBody {
            cmd: Some(vec!["echo".into(), "hi".into()]),
            env: Some(vec!["A=request".into()]),
            ..Default::default()
        };
        let merged =
            merge_config(&body, &image(Some(vec!["/init"]), Some(vec!["sh"])), ID).unwrap();
        assert_eq!(merged.entrypoint, Some(vec!["/init".to_string()]));
        assert_eq!(merged.cmd, Some(vec!["echo".to_string(), "hi".to_string()]));
        assert_eq!(
            merged.env,
            Some(vec!["PATH=/bin".to_string(), "A=request".to_string()])
        );
        assert_eq!(merged.hostname.as_deref(), Some("0123456789ab"));
    }

    #[test]
    fn request_entrypoint_drops_image_cmd() {
        let body = ContainerCreateBody {
            entrypoint: Some(vec!["ls".into()]),
            ..Default::default()
        };
        let merged = merge_config(&body, &image(None, Some(vec!["sh"])), ID).unwrap();
        assert_eq!(merged.entrypoint, Some(vec!["ls".to_string()]));
        assert_eq!(merged.cmd, None);
    }

    #[test]
    fn no_command_anywhere_is_refused() {
        let err =
            merge_config(&ContainerCreateBody::default(), &image(None, None), ID).unwrap_err();
        assert_eq!(err.to_string(), "No command specified");
    }

    #[test]
    fn relative_workdir_is_refused() {
        let body = ContainerCreateBody {
            cmd: Some(vec!["true".into()]),
            working_dir: Some("tmp".into()),
            ..Default::default()
        };
        assert!(merge_config(&body, &image(None, None), ID).is_err());
    }
}
