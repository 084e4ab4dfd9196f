//! `run`/`create` flags → the create request body, mapped the way the docker
//! client maps them (`--rm` → HostConfig.AutoRemove, `-m` → Memory in bytes,
//! `--cpus` → NanoCpus, `-v` → Binds, `--mount` → Mounts, …).

use std::collections::HashMap;
use std::path::Path;

use bollard_stubs::models::{
    ContainerCreateBody, HostConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum,
    MountTmpfsOptions, MountTypeEnum, MountVolumeOptions, RestartPolicy, RestartPolicyNameEnum,
};

use crate::args::ContainerOptions;

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

    let entrypoint = opts.entrypoint.as_ref().map(|e| vec![e.clone()]);
    let command = opts.command();

    let host_config = HostConfig {
        binds: non_empty(binds),
        auto_remove: Some(opts.rm),
        privileged: Some(opts.privileged),
        readonly_rootfs: Some(opts.read_only),
        memory: opts.memory,
        nano_cpus: opts.cpus,
        pids_limit: opts.pids_limit,
        network_mode: Some(opts.network.clone()),
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

    let attach_stdin = attach && opts.interactive;
    Ok(ContainerCreateBody {
        hostname: opts.hostname.clone(),
        user: opts.user.clone(),
        attach_stdin: Some(attach_stdin),
        attach_stdout: Some(attach),
        attach_stderr: Some(attach),
        tty: Some(opts.tty),
        open_stdin: Some(opts.interactive),
        // A client attached to stdin closes it when it is done, as docker's does.
        stdin_once: Some(attach_stdin),
        env: non_empty(environment),
        cmd: (!command.is_empty()).then(|| command.to_vec()),
        image: Some(opts.image().to_owned()),
        volumes: non_empty(anonymous_volumes),
        working_dir: opts.workdir.clone(),
        entrypoint,
        labels: Some(labels),
        stop_signal: opts.stop_signal.clone(),
        stop_timeout: opts.stop_timeout,
        host_config: Some(host_config),
        ..Default::default()
    })
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// `KEY=VALUE` passes as is; a bare `KEY` takes its value from this
/// environment, or is passed bare (unset in the container) when absent.
pub fn validate_env(
    entry: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, OptionsError> {
    let (key, has_value) = match entry.split_once('=') {
        Some((k, _)) => (k, true),
        None => (entry, false),
    };
    if key.is_empty() {
        return Err(OptionsError::Env(entry.to_owned()));
    }
    if has_value {
        return Ok(entry.to_owned());
    }
    Ok(match lookup(key) {
        Some(value) => format!("{key}={value}"),
        None => entry.to_owned(),
    })
}

/// Reads a line-delimited KEY=VALUE file (blank lines and `#` comments are
/// skipped). For env files a bare KEY is looked up in this environment and
/// dropped when unset.
pub fn read_kv_file(
    path: &Path,
    flag: &'static str,
    lookup: Option<EnvLookup<'_>>,
) -> Result<Vec<String>, OptionsError> {
    let file_error = |reason: String| OptionsError::File {
        flag,
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| file_error("contains invalid utf8 bytes".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim_start(), Some(v)),
            None => (line, None),
        };
        if key.contains(char::is_whitespace) {
            return Err(file_error(format!(
                "line {}: variable '{key}' contains whitespaces",
                number + 1
            )));
        }
        match (value, lookup) {
            (Some(v), _) => lines.push(format!("{key}={v}")),
            (None, Some(lookup)) => {
                if let Some(v) = lookup(key) {
                    lines.push(format!("{key}={v}"));
                }
            }
            (None, None) => lines.push(key.to_owned()),
        }
    }
    Ok(lines)
}

#[derive(Debug, PartialEq, Eq)]
enum Volume {
    Bind(String),
    Anonymous(String),
}

const VOLUME_MODES: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "shared",
    "slave",
    "private",
    "rshared",
    "rslave",
    "rprivate",
    "nocopy",
    "consistent",
    "cached",
    "delegated",
];

/// `-v HOST:CONTAINER[:MODE]` is a bind (relative `./` hosts are made
/// absolute); `-v NAME:CONTAINER` a named volume; `-v CONTAINER` an anonymous
/// volume.
fn parse_volume(spec: &str, cwd: &Path) -> Result<Volume, OptionsError> {
    let error = |reason: &str| OptionsError::Volume {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let absolute = |p: &str| p.starts_with('/');
    match parts.as_slice() {
        [target] => {
            if !absolute(target) {
                return Err(error("the container path must be absolute"));
            }
            Ok(Volume::Anonymous((*target).to_owned()))
        }
        [source, target, rest @ ..] if rest.len() <= 1 => {
            if source.is_empty() {
                return Err(error("the host path is empty"));
            }
            if !absolute(target) {
                return Err(error("the container path must be absolute"));
            }
            if let Some(mode) = rest.first() {
                if let Some(bad) = mode.split(',').find(|m| !VOLUME_MODES.contains(m)) {
                    return Err(error(&format!("invalid mode: {bad}")));
                }
            }
            let source = if source.starts_with('.') {
                absolute_from(cwd, source)
            } else {
                (*source).to_owned()
            };
            let mut bind = format!("{source}:{target}");
            if let Some(mode) = rest.first() {
                bind.push(':');
                bind.push_str(mode);
            }
            Ok(Volume::Bind(bind))
        }
        _ => Err(error("too many colons")),
    }
}

/// `cwd` joined with the relative `path`, cleaned lexically (`.` dropped,
/// `..` climbing) as Go's `filepath.Abs` does.
fn absolute_from(cwd: &Path, path: &str) -> String {
    use std::path::Component;
    let mut parts: Vec<String> = Vec::new();
    for component in cwd.join(path).components() {
        match component {
            Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// Splits a `--mount` value the way a CSV record splits: commas separate
/// fields, double quotes protect commas inside a field.
fn csv_fields(spec: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    fields.push(current);
    fields
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn parse_mount(spec: &str) -> Result<Mount, OptionsError> {
    let error = |reason: String| OptionsError::Mount {
        spec: spec.to_owned(),
        reason,
    };
    if spec.is_empty() {
        return Err(error("value is empty".into()));
    }
    let mut mount = Mount::default();
    let mut typ = MountTypeEnum::VOLUME;
    let mut bind = MountBindOptions::default();
    let mut tmpfs = MountTmpfsOptions::default();
    let mut volume = MountVolumeOptions::default();
    let (mut uses_bind, mut uses_tmpfs, mut uses_volume) = (false, false, false);
    for field in csv_fields(spec) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), Some(v.trim().to_owned())),
            None => (field.trim().to_lowercase(), None),
        };
        let required = |value: Option<String>| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| error(format!("invalid field '{field}' must be a key=value pair")))
        };
        match key.as_str() {
            "type" => {
                typ = match required(value)?.as_str() {
                    "bind" => MountTypeEnum::BIND,
                    "tmpfs" => MountTypeEnum::TMPFS,
                    "volume" => MountTypeEnum::VOLUME,
                    other => {
                        return Err(error(format!(
                        "unsupported mount type '{other}' (berth supports bind, tmpfs and volume)"
                    )))
                    }
                }
            }
            "source" | "src" => mount.source = Some(required(value)?),
            "target" | "dst" | "destination" => mount.target = Some(required(value)?),
            "readonly" | "ro" => {
                let flag = match value {
                    None => true,
                    Some(v) => parse_bool(&v)
                        .ok_or_else(|| error(format!("invalid value for {key}: {v}")))?,
                };
                mount.read_only = Some(flag);
            }
            "consistency" => mount.consistency = Some(required(value)?),
            "bind-propagation" => {
                uses_bind = true;
                let v = required(value)?;
                bind.propagation = Some(match v.as_str() {
                    "private" => MountBindOptionsPropagationEnum::PRIVATE,
                    "rprivate" => MountBindOptionsPropagationEnum::RPRIVATE,
                    "shared" => MountBindOptionsPropagationEnum::SHARED,
                    "rshared" => MountBindOptionsPropagationEnum::RSHARED,
                    "slave" => MountBindOptionsPropagationEnum::SLAVE,
                    "rslave" => MountBindOptionsPropagationEnum::RSLAVE,
                    _ => return Err(error(format!("invalid value for {key}: {v}"))),
                });
            }
            "bind-create-src" => {
                uses_bind = true;
                bind.create_mountpoint = Some(match value {
                    None => true,
                    Some(v) => parse_bool(&v)
                        .ok_or_else(|| error(format!("invalid value for {key}: {v}")))?,
                });
            }
            "tmpfs-size" => {
                uses_tmpfs = true;
                let v = required(value)?;
                tmpfs.size_bytes = Some(
                    parse_ram(&v).map_err(|_| error(format!("invalid value for {key}: {v}")))?,
                );
            }
            "tmpfs-mode" => {
                uses_tmpfs = true;
                let v = required(value)?;
                tmpfs.mode = Some(
                    i64::from_str_radix(&v, 8)
                        .map_err(|_| error(format!("invalid value for {key}: {v}")))?,
                );
            }
            "volume-nocopy" => {
                uses_volume = true;
                volume.no_copy = Some(match value {
                    None => true,
                    Some(v) => parse_bool(&v)
                        .ok_or_else(|| error(format!("invalid value for {key}: {v}")))?,
                });
            }
            other
                if other.starts_with("bind-")
                    || other.starts_with("volume-")
                    || other.starts_with("image-")
                    || other.starts_with("tmpfs-") =>
            {
                return Err(error(format!(
                    "option '{other}' is not supported by berth yet"
                )))
            }
            other => return Err(error(format!("unknown option '{other}' in '{field}'"))),
        }
    }
    if mount.target.is_none() {
        return Err(error("target is required".into()));
    }
    let type_name = match typ {
        MountTypeEnum::BIND => "bind",
        MountTypeEnum::TMPFS => "tmpfs",
        _ => "volume",
    };
    let mixed = |prefix: &str| {
        error(format!(
            "cannot mix '{prefix}-*' options with mount type '{type_name}'"
        ))
    };
    if uses_bind && typ != MountTypeEnum::BIND {
        return Err(mixed("bind"));
    }
    if uses_tmpfs && typ != MountTypeEnum::TMPFS {
        return Err(mixed("tmpfs"));
    }
    if uses_volume && typ != MountTypeEnum::VOLUME {
        return Err(mixed("volume"));
    }
    if typ == MountTypeEnum::BIND && mount.source.is_none() {
        return Err(error("source is required for a bind mount".into()));
    }
    mount.bind_options = uses_bind.then_some(bind);
    mount.tmpfs_options = uses_tmpfs.then_some(tmpfs);
    mount.volume_options = uses_volume.then_some(volume);
    mount.typ = Some(typ);
    Ok(mount)
}

fn parse_restart(policy: &str) -> Result<RestartPolicy, OptionsError> {
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

type SecurityOpts = (Vec<String>, Option<Vec<String>>, Option<Vec<String>>);

/// Validates `--security-opt`; a seccomp profile given as a file is sent by
/// content, and `systempaths=unconfined` becomes empty masked and read-only
/// path lists instead of being sent.
fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts, OptionsError> {
    let mut kept = Vec::new();
    let mut unconfined_paths = false;
    for opt in opts {
        if opt == "systempaths=unconfined" {
            unconfined_paths = true;
            continue;
        }
        if opt == "no-new-privileges" {
            kept.push(opt.clone());
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .filter(|(_, v)| !v.is_empty())
            .ok_or_else(|| OptionsError::SecurityOpt(opt.clone()))?;
        if key == "seccomp" && value != "unconfined" && value != "builtin" {
            let profile = std::fs::read(value).map_err(|e| OptionsError::Seccomp {
                path: value.to_owned(),
                reason: e.to_string(),
            })?;
            let parsed: serde_json::Value =
                serde_json::from_slice(&profile).map_err(|e| OptionsError::Seccomp {
                    path: value.to_owned(),
                    reason: format!("not valid JSON: {e}"),
                })?;
            kept.push(format!("seccomp={parsed}"));
            continue;
        }
        kept.push(opt.clone());
    }
    let paths = unconfined_paths.then(Vec::new);
    Ok((kept, paths.clone(), paths))
}

/// `sys_admin` → `CAP_SYS_ADMIN`; `ALL` stays `ALL`.
fn normalize_capability(cap: &str) -> String {
    let upper = cap.to_uppercase();
    if upper == "ALL" || upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// Memory sizes in binary units: `512`, `64k`, `1.5g`, `100MiB`, `2 GB`.
pub fn parse_ram(value: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{value}'");
    let number_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(number_end);
    if number.is_empty() || !number.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(invalid());
    }
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let suffix = suffix.strip_prefix(' ').unwrap_or(suffix).to_lowercase();
    let mut rest = suffix.as_str();
    let multiplier: f64 = match rest.chars().next() {
        Some(unit @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            rest = &rest[1..];
            let power = "kmgtp".find(unit).expect("unit is one of kmgtp") as i32 + 1;
            1024f64.powi(power)
        }
        _ => 1.0,
    };
    let rest = rest.strip_prefix('i').unwrap_or(rest);
    let rest = rest.strip_prefix('b').unwrap_or(rest);
    if !rest.is_empty() {
        return Err(invalid());
    }
    Ok((number * multiplier) as i64)
}

/// `--cpus 1.5` → 1500000000 nano-CPUs, exactly (no float rounding).
pub fn parse_cpus(value: &str) -> Result<i64, String> {
    let invalid = || format!("failed to parse {value} as a rational number");
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if (whole.is_empty() && fraction.is_empty())
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return Err(invalid());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > 9 {
        return Err("value is too precise".to_owned());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction_nanos: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().map_err(|_| invalid())?
    };
    let nanos = whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(fraction_nanos))
        .ok_or_else(invalid)?;
    Ok(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn parse_run(args: &[&str]) -> (bool, ContainerOptions) {
        let mut argv = vec!["berth", "run"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Run(run)) => (run.detach, run.container),
            other => panic!("not a run: {other:?}"),
        }
    }

    fn body_of(args: &[&str]) -> serde_json::Value {
        let (detach, opts) = parse_run(args);
        let lookup = |k: &str| (k == "FROM_HOST").then(|| "host-value".to_owned());
        let env = Environment {
            lookup_env: &lookup,
            current_dir: Path::new("/work/dir"),
            console_size: Some((24, 80)),
        };
        serde_json::to_value(create_body(&opts, !detach, &env).unwrap()).unwrap()
    }

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

    #[test]
    fn relative_bind_sources_become_clean_absolute_paths() {
        assert_eq!(
            absolute_from(Path::new("/work/dir"), "./a/../b"),
            "/work/dir/b"
        );
        assert_eq!(absolute_from(Path::new("/work/dir"), "../x"), "/work/x");
        assert_eq!(absolute_from(Path::new("/"), "."), "/");
    }

    #[test]
    fn units() {
        assert_eq!(parse_ram("512"), Ok(512));
        assert_eq!(parse_ram("64k"), Ok(65536));
        assert_eq!(parse_ram("64KB"), Ok(65536));
        assert_eq!(parse_ram("100MiB"), Ok(100 * 1024 * 1024));
        assert_eq!(parse_ram("1.5g"), Ok(1610612736));
        assert_eq!(parse_ram("2 GB"), Ok(2 * 1024 * 1024 * 1024));
        assert!(parse_ram("").is_err());
        assert!(parse_ram("g").is_err());
        assert!(parse_ram("12x").is_err());
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.000000001"), Ok(1));
        assert_eq!(parse_cpus(".5"), Ok(500_000_000));
        assert_eq!(parse_cpus("2"), Ok(2_000_000_000));
        assert_eq!(
            parse_cpus("0.0000000001"),
            Err("value is too precise".into())
        );
        assert!(parse_cpus("abc").is_err());
        assert!(parse_cpus(".").is_err());
    }
}
