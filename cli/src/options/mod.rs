//! `run`/`create` flags → the create request body, mapped the way the docker
//! client maps them (`--rm` → HostConfig.AutoRemove, `-m` → Memory in bytes,
//! `--cpus` → NanoCpus, `-v` → Binds, `--mount` → Mounts, …).

use std::collections::HashMap;
use std::path::Path;

use bollard_stubs::models::{
    ContainerCreateBody, HostConfig, NetworkingConfig, RestartPolicy, RestartPolicyNameEnum,
};

use crate::args::ContainerOptions;

mod env;
mod health;
mod isolation;
mod mounts;
mod network;
mod ports;
mod security;
mod units;

pub use env::{read_kv_file, validate_env};
use mounts::{parse_mount, parse_volume, Volume};
use security::{normalize_capability, parse_security_opts};
pub use units::{parse_cpus, parse_duration, parse_memory_swap, parse_ram};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionsError {
    #[error("invalid environment variable: {0}")]
    Env(String),
    #[error("{flag}: {path}: {reason}")]
    File {
        flag: &'static str,
        path: String,
        reason: String,
    },
    #[error("invalid volume specification: '{spec}': {reason}")]
    Volume { spec: String, reason: String },
    #[error("invalid argument \"{spec}\" for \"--mount\" flag: {reason}")]
    Mount { spec: String, reason: String },
    #[error("invalid restart policy '{policy}': {reason}")]
    Restart { policy: String, reason: String },
    #[error("invalid --security-opt: {0:?}")]
    SecurityOpt(String),
    #[error("opening seccomp profile ({path}) failed: {reason}")]
    Seccomp { path: String, reason: String },
    #[error("conflicting options: cannot specify both --restart and --rm")]
    RestartWithAutoRemove,
    /// A `-p`/`--expose` value, in go-connections' words.
    #[error("{0}")]
    Port(String),
    /// A networking flag, in docker's words.
    #[error("{0}")]
    Network(String),
    /// A `--health-*` flag, in docker's words.
    #[error("{0}")]
    Health(String),
    /// `--pid`, `--uts` or `--userns`, in docker's words.
    #[error("{0}")]
    Namespace(String),
    /// `--log-driver`/`--log-opt`, in docker's words.
    #[error("{0}")]
    Logging(String),
}

/// Reads a variable of the caller's environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Everything the mapping needs from the outside world, so it stays testable.
pub struct Environment<'a> {
    pub lookup_env: EnvLookup<'a>,
    pub current_dir: &'a Path,
    /// The terminal's (rows, columns), given to a TTY from its start.
    pub console_size: Option<(u16, u16)>,
}

/// Builds the body of `POST /containers/create`. `attach` is false for a
/// detached run, which then asks for no streams (as docker does).
pub fn create_body(
    opts: &ContainerOptions,
    attach: bool,
    env: &Environment<'_>,
) -> Result<ContainerCreateBody, OptionsError> {
    let mut environment = Vec::new();
    for file in &opts.env_file {
        environment.extend(read_kv_file(file, "--env-file", Some(env.lookup_env))?);
    }
    for entry in &opts.env {
        environment.push(validate_env(entry, env.lookup_env)?);
    }

    let mut labels = HashMap::new();
    let mut label_lines = Vec::new();
    for file in &opts.label_file {
        label_lines.extend(read_kv_file(file, "--label-file", None)?);
    }
    label_lines.extend(opts.label.iter().cloned());
    for line in label_lines {
        let (k, v) = line.split_once('=').unwrap_or((line.as_str(), ""));
        labels.insert(k.to_owned(), v.to_owned());
    }

    let mut binds = Vec::new();
    let mut anonymous_volumes = Vec::new();
    for spec in &opts.volume {
        match parse_volume(spec, env.current_dir)? {
            Volume::Bind(bind) => binds.push(bind),
            Volume::Anonymous(target) => anonymous_volumes.push(target),
        }
    }
    let mounts = opts
        .mount
        .iter()
        .map(|spec| parse_mount(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let tmpfs: HashMap<String, String> = opts
        .tmpfs
        .iter()
        .map(|t| {
            let (path, options) = t.split_once(':').unwrap_or((t.as_str(), ""));
            (path.to_owned(), options.to_owned())
        })
        .collect();

    let restart_policy = parse_restart(&opts.restart)?;
    if opts.rm && restart_policy.name != Some(RestartPolicyNameEnum::NO) {
        return Err(OptionsError::RestartWithAutoRemove);
    }
    let (security_opt, masked_paths, readonly_paths) = parse_security_opts(&opts.security_opt)?;

    let healthcheck = health::healthcheck(&opts.health)?;
    isolation::check_modes(&opts.isolation)?;
    let log_config = isolation::log_config(&opts.isolation)?;
    let resources = &opts.resources;
    let isolation_flags = &opts.isolation;

    let ports = ports::parse_ports(&opts.net.publish, &opts.net.expose)?;
    let networking = network::networking(&opts.net)?;

    let entrypoint = opts.entrypoint.as_ref().map(|e| vec![e.clone()]);
    let command = opts.command();

    let host_config = HostConfig {
        binds: non_empty(binds),
        auto_remove: Some(opts.rm),
        container_id_file: opts
            .cidfile
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        privileged: Some(opts.privileged),
        readonly_rootfs: Some(opts.read_only),
        memory: opts.memory,
        nano_cpus: opts.cpus,
        pids_limit: opts.pids_limit,
        oom_score_adj: opts.oom_score_adj,
        memory_swap: resources.memory_swap,
        memory_reservation: resources.memory_reservation,
        cpu_shares: resources.cpu_shares,
        cpu_period: resources.cpu_period,
        cpu_quota: resources.cpu_quota,
        cpuset_cpus: resources.cpuset_cpus.clone(),
        cpuset_mems: resources.cpuset_mems.clone(),
        blkio_weight: resources.blkio_weight,
        pid_mode: isolation_flags.pid.clone(),
        ipc_mode: isolation_flags.ipc.clone(),
        uts_mode: isolation_flags.uts.clone(),
        userns_mode: isolation_flags.userns.clone(),
        runtime: isolation_flags.runtime.clone(),
        log_config: Some(log_config),
        volumes_from: non_empty(isolation_flags.volumes_from.clone()),
        volume_driver: isolation_flags.volume_driver.clone(),
        network_mode: Some(networking.network_mode),
        port_bindings: Some(ports.port_bindings()),
        publish_all_ports: Some(opts.net.publish_all),
        links: non_empty(networking.links),
        // docker always sends the DNS lists, empty when not given.
        dns: Some(networking.dns),
        dns_search: Some(networking.dns_search),
        dns_options: Some(opts.net.dns_option.clone()),
        extra_hosts: non_empty(networking.extra_hosts),
        group_add: non_empty(isolation_flags.group_add.clone()),
        cap_add: non_empty(
            opts.cap_add
                .iter()
                .map(|c| normalize_capability(c))
                .collect(),
        ),
        cap_drop: non_empty(
            opts.cap_drop
                .iter()
                .map(|c| normalize_capability(c))
                .collect(),
        ),
        security_opt: non_empty(security_opt),
        masked_paths,
        readonly_paths,
        restart_policy: Some(restart_policy),
        init: opts.init,
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        mounts: non_empty(mounts),
        console_size: env
            .console_size
            .filter(|_| opts.tty)
            .map(|(rows, columns)| vec![usize::from(rows), usize::from(columns)]),
        ..Default::default()
    };

    let streams = attached_streams(opts, attach);
    Ok(ContainerCreateBody {
        hostname: opts.hostname.clone(),
        domainname: opts.net.domainname.clone(),
        exposed_ports: ports.exposed_ports(),
        // The MAC travels in the endpoint: docker 28 leaves the deprecated
        // Config.MacAddress empty on API 1.44 and later.
        user: opts.user.clone(),
        attach_stdin: Some(streams.stdin),
        attach_stdout: Some(streams.stdout),
        attach_stderr: Some(streams.stderr),
        tty: Some(opts.tty),
        open_stdin: Some(opts.interactive),
        // A client attached to stdin closes it when it is done, as docker's does.
        stdin_once: Some(opts.interactive && streams.stdin),
        env: non_empty(environment),
        cmd: (!command.is_empty()).then(|| command.to_vec()),
        image: Some(opts.image().to_owned()),
        volumes: non_empty(anonymous_volumes),
        working_dir: opts.workdir.clone(),
        entrypoint,
        labels: Some(labels),
        stop_signal: opts.stop_signal.clone(),
        stop_timeout: opts.stop_timeout,
        healthcheck,
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(networking.endpoints),
        }),
        ..Default::default()
    })
}

/// The streams a client attaches to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// Which streams `run`/`create` attach, as docker decides it: those `-a` names, else
/// stdout and stderr; stdin too with `-i`. A detached run attaches none.
pub fn attached_streams(opts: &ContainerOptions, attach: bool) -> Streams {
    let named = |s: &str| opts.attach.iter().any(|a| a == s);
    let none_named = opts.attach.is_empty();
    Streams {
        stdin: attach && (opts.interactive || named("stdin")),
        stdout: attach && (none_named || named("stdout")),
        stderr: attach && (none_named || named("stderr")),
    }
}

/// `-a STREAM`: stdin, stdout or stderr in any case, kept in lower case.
pub fn parse_stream(value: &str) -> Result<String, String> {
    let lower = value.to_lowercase();
    match lower.as_str() {
        "stdin" | "stdout" | "stderr" => Ok(lower),
        _ => Err("valid streams are STDIN, STDOUT and STDERR".to_owned()),
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

pub(crate) fn parse_restart(policy: &str) -> Result<RestartPolicy, OptionsError> {
    let error = |reason: &str| OptionsError::Restart {
        policy: policy.to_owned(),
        reason: reason.to_owned(),
    };
    let (name, count) = match policy.split_once(':') {
        Some((name, count)) => (name, Some(count)),
        None => (policy, None),
    };
    let name = match name {
        "" | "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => {
            return Err(error(
                "use no, always, unless-stopped or on-failure[:max-retries]",
            ))
        }
    };
    let maximum_retry_count = match count {
        None => 0,
        Some(_) if name != RestartPolicyNameEnum::ON_FAILURE => {
            return Err(error(
                "maximum retry count can only be used with 'on-failure'",
            ))
        }
        Some(count) => count
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| error("maximum retry count must be a non-negative integer"))?,
    };
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count: Some(maximum_retry_count),
    })
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    pub fn parse_run(args: &[&str]) -> (bool, ContainerOptions) {
        let mut argv = vec!["berth", "run"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Run(run)) => (run.detach, run.container),
            other => panic!("not a run: {other:?}"),
        }
    }

    pub fn body_of(args: &[&str]) -> serde_json::Value {
        let (detach, opts) = parse_run(args);
        let lookup = |k: &str| (k == "FROM_HOST").then(|| "host-value".to_owned());
        let env = Environment {
            lookup_env: &lookup,
            current_dir: Path::new("/work/dir"),
            console_size: Some((24, 80)),
        };
        serde_json::to_value(create_body(&opts, !detach, &env).unwrap()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{body_of, parse_run};
    use super::*;
    use crate::args::Cli;
    use clap::Parser;

    #[test]
    fn flags_map_to_config_and_host_config_like_docker() {
        let body = body_of(&[
            "--name",
            "web",
            "--rm",
            "-e",
            "A=1",
            "-e",
            "FROM_HOST",
            "-e",
            "UNSET",
            "-w",
            "/w",
            "-u",
            "1:2",
            "-h",
            "hn",
            "--entrypoint",
            "/bin/sh",
            "-l",
            "k=v",
            "-l",
            "bare",
            "-v",
            "/tmp:/mnt:ro",
            "-v",
            "./rel:/rel",
            "-v",
            "/anon",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777",
            "--mount",
            "type=bind,src=/src,target=/dst,readonly,bind-propagation=rslave",
            "--tmpfs",
            "/run:size=1m",
            "--read-only",
            "-m",
            "1g",
            "--cpus",
            "1.5",
            "--pids-limit",
            "10",
            "--network",
            "none",
            "--cap-add",
            "sys_admin",
            "--cap-drop",
            "NET_RAW",
            "--security-opt",
            "no-new-privileges",
            "--init",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "5",
            "busybox",
            "echo",
            "-n",
            "hi",
        ]);
        let hc = &body["HostConfig"];
        assert_eq!(body["Image"], "busybox");
        assert_eq!(body["Cmd"], serde_json::json!(["echo", "-n", "hi"]));
        assert_eq!(
            body["Env"],
            serde_json::json!(["A=1", "FROM_HOST=host-value", "UNSET"])
        );
        assert_eq!(body["WorkingDir"], "/w");
        assert_eq!(body["User"], "1:2");
        assert_eq!(body["Hostname"], "hn");
        assert_eq!(body["Entrypoint"], serde_json::json!(["/bin/sh"]));
        assert_eq!(body["Labels"], serde_json::json!({"k": "v", "bare": ""}));
        assert_eq!(body["Volumes"], serde_json::json!({"/anon": {}}));
        assert_eq!(body["StopSignal"], "SIGINT");
        assert_eq!(body["StopTimeout"], 5);
        assert_eq!(body["AttachStdout"], true);
        assert_eq!(hc["AutoRemove"], true);
        assert_eq!(hc["Init"], true);
        assert_eq!(
            hc["Binds"],
            serde_json::json!(["/tmp:/mnt:ro", "/work/dir/rel:/rel"])
        );
        assert_eq!(hc["Tmpfs"], serde_json::json!({"/run": "size=1m"}));
        assert_eq!(hc["ReadonlyRootfs"], true);
        assert_eq!(hc["Memory"], 1073741824i64);
        assert_eq!(hc["NanoCpus"], 1500000000i64);
        assert_eq!(hc["PidsLimit"], 10);
        assert_eq!(hc["NetworkMode"], "none");
        assert_eq!(hc["CapAdd"], serde_json::json!(["CAP_SYS_ADMIN"]));
        assert_eq!(hc["CapDrop"], serde_json::json!(["CAP_NET_RAW"]));
        assert_eq!(hc["SecurityOpt"], serde_json::json!(["no-new-privileges"]));
        assert_eq!(
            hc["RestartPolicy"],
            serde_json::json!({"Name": "no", "MaximumRetryCount": 0})
        );
        assert_eq!(
            hc["Mounts"],
            serde_json::json!([
                {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1023}},
                {"Type": "bind", "Source": "/src", "Target": "/dst", "ReadOnly": true,
                 "BindOptions": {"Propagation": "rslave"}}
            ])
        );
    }

    #[test]
    fn resource_flags_map_like_docker() {
        let body = body_of(&[
            "-m",
            "1g",
            "--memory-swap",
            "2g",
            "--memory-reservation",
            "512m",
            "-c",
            "512",
            "--cpuset-cpus",
            "0-1",
            "--cpuset-mems",
            "0",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "-1",
            "--blkio-weight",
            "300",
            "--oom-score-adj",
            "-500",
            "busybox",
        ]);
        let hc = &body["HostConfig"];
        assert_eq!(hc["OomScoreAdj"], -500);
        assert_eq!(hc["MemorySwap"], 2147483648i64);
        assert_eq!(hc["MemoryReservation"], 536870912i64);
        assert_eq!(hc["CpuShares"], 512);
        assert_eq!(hc["CpusetCpus"], "0-1");
        assert_eq!(hc["CpusetMems"], "0");
        assert_eq!(hc["CpuPeriod"], 100000);
        assert_eq!(hc["CpuQuota"], -1);
        assert_eq!(hc["BlkioWeight"], 300);
        assert_eq!(
            body_of(&["--memory-swap", "-1", "i"])["HostConfig"]["MemorySwap"],
            -1
        );
        for bad in [
            &["run", "--blkio-weight", "5000000", "i"][..],
            &["run", "-c", "x", "i"],
            &["run", "--memory-swap", "x", "i"],
        ] {
            let mut argv = vec!["berth"];
            argv.extend_from_slice(bad);
            assert!(Cli::try_parse_from(&argv).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn interactive_and_tty_flags_map_like_docker() {
        let body = body_of(&["-it", "busybox", "sh"]);
        assert_eq!(
            (
                &body["AttachStdin"],
                &body["OpenStdin"],
                &body["StdinOnce"],
                &body["Tty"]
            ),
            (&true.into(), &true.into(), &true.into(), &true.into())
        );
        assert_eq!(
            body["HostConfig"]["ConsoleSize"],
            serde_json::json!([24, 80])
        );
        // -a names the streams; -i adds stdin.
        let streams = |args: &[&str]| {
            let body = body_of(args);
            [
                "AttachStdin",
                "AttachStdout",
                "AttachStderr",
                "OpenStdin",
                "StdinOnce",
            ]
            .map(|k| body[k].as_bool().unwrap())
        };
        assert_eq!(
            streams(&["-a", "stdout", "busybox"]),
            [false, true, false, false, false]
        );
        assert_eq!(
            streams(&["-a", "STDERR", "-i", "busybox"]),
            [true, false, true, true, true]
        );
        assert_eq!(
            streams(&["-a", "stdin", "busybox"]),
            [true, false, false, false, false]
        );
        let mut argv = vec!["berth", "run", "-a", "foo", "busybox"];
        assert!(Cli::try_parse_from(&argv).is_err());
        argv[3] = "Stdout";
        assert!(Cli::try_parse_from(&argv).is_ok());
        // Detached, stdin stays open for a later attach but nobody closes it.
        let body = body_of(&["-d", "-i", "busybox", "cat"]);
        assert_eq!(
            (&body["AttachStdin"], &body["OpenStdin"], &body["StdinOnce"]),
            (&false.into(), &true.into(), &false.into())
        );
        assert!(
            body["HostConfig"].get("ConsoleSize").is_none(),
            "no size without -t"
        );
    }

    #[test]
    fn defaults_and_detach() {
        let body = body_of(&["-d", "busybox"]);
        let hc = &body["HostConfig"];
        assert_eq!(body["AttachStdout"], false);
        assert_eq!(body["AttachStderr"], false);
        assert!(body.get("Cmd").is_none());
        assert!(hc.get("Init").is_none(), "--init is only sent when given");
        assert_eq!(hc["NetworkMode"], "default");
        assert_eq!(hc["AutoRemove"], false);
        assert!(body.get("StopTimeout").is_none());
        let body = body_of(&[
            "--entrypoint",
            "",
            "--init=false",
            "--restart",
            "on-failure:3",
            "img",
        ]);
        assert_eq!(body["Entrypoint"], serde_json::json!([""]));
        assert_eq!(body["HostConfig"]["Init"], false);
        assert_eq!(
            body["HostConfig"]["RestartPolicy"],
            serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
    }

    #[test]
    fn flags_after_the_image_belong_to_the_command() {
        let (_, opts) = parse_run(&["-e", "A=1", "busybox", "ls", "-la", "--rm"]);
        assert_eq!(opts.image(), "busybox");
        assert_eq!(opts.command(), ["ls", "-la", "--rm"]);
        assert!(!opts.rm);
    }

    #[test]
    fn bad_values_are_refused() {
        let lookup = |_: &str| None;
        let env = Environment {
            lookup_env: &lookup,
            current_dir: Path::new("/"),
            console_size: None,
        };
        let refuse = |args: &[&str]| {
            let (detach, opts) = parse_run(args);
            create_body(&opts, !detach, &env).unwrap_err()
        };
        assert_eq!(
            refuse(&["--rm", "--restart", "always", "i"]),
            OptionsError::RestartWithAutoRemove
        );
        assert!(matches!(
            refuse(&["--restart", "always:3", "i"]),
            OptionsError::Restart { .. }
        ));
        assert!(matches!(
            refuse(&["--restart", "sometimes", "i"]),
            OptionsError::Restart { .. }
        ));
        assert!(matches!(
            refuse(&["-v", "/a:rel", "i"]),
            OptionsError::Volume { .. }
        ));
        assert!(matches!(
            refuse(&["-v", "/a:/b:bogus", "i"]),
            OptionsError::Volume { .. }
        ));
        assert!(matches!(
            refuse(&["--mount", "type=bind,src=/a", "i"]),
            OptionsError::Mount { .. }
        ));
        assert!(matches!(
            refuse(&["--mount", "type=bind,dst=/a,tmpfs-size=1m,src=/b", "i"]),
            OptionsError::Mount { .. }
        ));
        assert!(matches!(
            refuse(&["--mount", "type=bind,dst=/a,frob=1", "i"]),
            OptionsError::Mount { .. }
        ));
        assert!(matches!(
            refuse(&["--security-opt", "seccomp", "i"]),
            OptionsError::SecurityOpt(_)
        ));
        assert!(matches!(refuse(&["-e", "=x", "i"]), OptionsError::Env(_)));
        assert!(matches!(
            refuse(&["--env-file", "/nonexistent/env", "i"]),
            OptionsError::File { .. }
        ));
        let mut argv = vec!["berth", "run", "-m", "lots", "i"];
        assert!(Cli::try_parse_from(&argv).is_err());
        argv[3] = "1.5q";
        assert!(Cli::try_parse_from(&argv).is_err());
    }

    #[test]
    fn env_and_label_files() {
        let dir = tempfile::tempdir().unwrap();
        let env_path = dir.path().join("env");
        std::fs::write(
            &env_path,
            "# comment\n\nA=1\n  B=two words\nFROM_HOST\nMISSING\n",
        )
        .unwrap();
        let labels_path = dir.path().join("labels");
        std::fs::write(&labels_path, "x=1\ny\n").unwrap();
        let body = body_of(&[
            "--env-file",
            env_path.to_str().unwrap(),
            "-e",
            "C=3",
            "--label-file",
            labels_path.to_str().unwrap(),
            "i",
        ]);
        assert_eq!(
            body["Env"],
            serde_json::json!(["A=1", "B=two words", "FROM_HOST=host-value", "C=3"])
        );
        assert_eq!(body["Labels"], serde_json::json!({"x": "1", "y": ""}));
        std::fs::write(&env_path, "BAD KEY=1\n").unwrap();
        let (_, opts) = parse_run(&["--env-file", env_path.to_str().unwrap(), "i"]);
        let lookup = |_: &str| None;
        let env = Environment {
            lookup_env: &lookup,
            current_dir: Path::new("/"),
            console_size: None,
        };
        assert!(matches!(
            create_body(&opts, true, &env),
            Err(OptionsError::File { .. })
        ));
    }
}
