//! `--change` instructions (`docker import --change`, later `docker commit --change`): a
//! subset of Dockerfile instructions applied to an image config.

use std::collections::HashMap;

use oci_spec::image::Config;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("{0} is not a valid change command")]
    UnknownInstruction(String),
    #[error("{0} is not supported in --change by berth yet")]
    Unsupported(String),
    #[error("{instruction} {reason}")]
    BadArguments {
        instruction: &'static str,
        reason: String,
    },
}

fn bad(instruction: &'static str, reason: impl Into<String>) -> ChangeError {
    ChangeError::BadArguments {
        instruction,
        reason: reason.into(),
    }
}

/// Applies `changes` in order to `config`.
pub fn apply_changes(config: &mut Config, changes: &[String]) -> Result<(), ChangeError> {
    // As in a Dockerfile, ENTRYPOINT resets CMD unless a CMD was given alongside it.
    let mut cmd_set = false;
    for change in changes {
        let change = change.trim();
        let (word, args) = change
            .split_once(char::is_whitespace)
            .map(|(w, a)| (w, a.trim()))
            .unwrap_or((change, ""));
        match word.to_ascii_uppercase().as_str() {
            "CMD" => {
                config.set_cmd(Some(command("CMD", args)?));
                cmd_set = true;
            }
            "ENTRYPOINT" => {
                config.set_entrypoint(Some(command("ENTRYPOINT", args)?));
                if !cmd_set {
                    config.set_cmd(None);
                }
            }
            "ENV" => {
                let mut env = config.env().clone().unwrap_or_default();
                for (key, value) in key_values("ENV", args)? {
                    let prefix = format!("{key}=");
                    let entry = format!("{key}={value}");
                    match env.iter_mut().find(|e| e.starts_with(&prefix)) {
                        Some(existing) => *existing = entry,
                        None => env.push(entry),
                    }
                }
                config.set_env(Some(env));
            }
            "LABEL" => {
                let mut labels: HashMap<String, String> =
                    config.labels().clone().unwrap_or_default();
                labels.extend(key_values("LABEL", args)?);
                config.set_labels(Some(labels));
            }
            "WORKDIR" => {
                if args.is_empty() {
                    return Err(bad("WORKDIR", "requires exactly one argument"));
                }
                let dir = if args.starts_with('/') {
                    args.to_string()
                } else {
                    let base = config.working_dir().clone().unwrap_or_else(|| "/".into());
                    format!("{}/{args}", base.trim_end_matches('/'))
                };
                config.set_working_dir(Some(dir));
            }
            "USER" => {
                if args.is_empty() || args.split_whitespace().count() != 1 {
                    return Err(bad("USER", "requires exactly one argument"));
                }
                config.set_user(Some(args.to_string()));
            }
            "EXPOSE" => {
                let words = words(args).map_err(|e| bad("EXPOSE", e))?;
                if words.is_empty() {
                    return Err(bad("EXPOSE", "requires at least one argument"));
                }
                let mut ports = config.exposed_ports().clone().unwrap_or_default();
                for word in words {
                    for port in expose(&word)? {
                        if !ports.contains(&port) {
                            ports.push(port);
                        }
                    }
                }
                config.set_exposed_ports(Some(ports));
            }
            "STOPSIGNAL" => {
                if args.is_empty() || args.split_whitespace().count() != 1 {
                    return Err(bad("STOPSIGNAL", "requires exactly one argument"));
                }
                if !is_signal(args) {
                    return Err(bad("STOPSIGNAL", format!("invalid signal: {args}")));
                }
                config.set_stop_signal(Some(args.to_string()));
            }
            "VOLUME" => {
                let paths = match json_array(args) {
                    Some(paths) => paths,
                    None => words(args).map_err(|e| bad("VOLUME", e))?,
                };
                if paths.is_empty() || paths.iter().any(|p| p.trim().is_empty()) {
                    return Err(bad("VOLUME", "specified can not be an empty string"));
                }
                let mut volumes = config.volumes().clone().unwrap_or_default();
                for path in paths {
                    if !volumes.contains(&path) {
                        volumes.push(path);
                    }
                }
                config.set_volumes(Some(volumes));
            }
            // Valid in Docker's --change, but the OCI config has no field for them.
            "HEALTHCHECK" | "ONBUILD" => {
                return Err(ChangeError::Unsupported(word.to_ascii_uppercase()))
            }
            _ => return Err(ChangeError::UnknownInstruction(word.to_ascii_lowercase())),
        }
    }
    Ok(())
}

/// CMD/ENTRYPOINT: the JSON (exec) form, or the shell form run by `/bin/sh -c`.
fn command(instruction: &'static str, args: &str) -> Result<Vec<String>, ChangeError> {
    if let Some(parsed) = json_array(args) {
        return Ok(parsed);
    }
    if args.is_empty() {
        return Err(bad(instruction, "requires at least one argument"));
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), args.to_string()])
}

/// The strings of the JSON (exec) form. As in Dockerfiles, anything that is not a JSON array
/// of strings is taken as the shell form instead.
fn json_array(args: &str) -> Option<Vec<String>> {
    if !args.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(args).ok()
}

/// `KEY=VALUE …` pairs with Dockerfile quoting, or the legacy `KEY VALUE` form.
fn key_values(instruction: &'static str, args: &str) -> Result<Vec<(String, String)>, ChangeError> {
    let words = words(args).map_err(|e| bad(instruction, e))?;
    let Some(first) = words.first() else {
        return Err(bad(instruction, "requires at least one argument"));
    };
    if !first.contains('=') {
        // Legacy form: the first word is the name, the rest of the line the value.
        let (key, value) = args
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad(instruction, format!("{first} must have two arguments")))?;
        let value = words_joined(value.trim()).map_err(|e| bad(instruction, e))?;
        return Ok(vec![(key.to_string(), value)]);
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(bad(instruction, "names can not be blank")),
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => Err(bad(
                instruction,
                format!("{word:?} is not of the form KEY=VALUE"),
            )),
        })
        .collect()
}

fn words_joined(text: &str) -> Result<String, String> {
    Ok(words(text)?.join(" "))
}

/// Splits on unquoted whitespace; quotes group and are removed, a backslash escapes the next
/// character (except inside single quotes).
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                current.push(chars.next().ok_or("ends with an unfinished escape")?);
            }
            '\'' | '"' => {
                in_word = true;
                let quote = c;
                loop {
                    match chars.next() {
                        None => return Err(format!("has an unmatched {quote} quote")),
                        Some(q) if q == quote => break,
                        Some('\\') if quote == '"' => {
                            current.push(chars.next().ok_or("ends with an unfinished escape")?)
                        }
                        Some(other) => current.push(other),
                    }
                }
            }
            other => {
                in_word = true;
                current.push(other);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// `80`, `80/udp`, `8000-8002/tcp` → `["80/tcp"]`, … (the keys of ExposedPorts).
fn expose(spec: &str) -> Result<Vec<String>, ChangeError> {
    let invalid = || bad("EXPOSE", format!("invalid port specification: {spec:?}"));
    let (range, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(invalid());
    }
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p != 0);
    let (start, end) = match range.split_once('-') {
        Some((a, b)) => (port(a).ok_or_else(invalid)?, port(b).ok_or_else(invalid)?),
        None => {
            let p = port(range).ok_or_else(invalid)?;
            (p, p)
        }
    };
    if start > end {
        return Err(invalid());
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1", "SEGV",
    "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
    "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR", "SYS", "RTMIN", "RTMAX",
];

/// A signal number (1–64) or a Linux signal name, with or without `SIG`, including
/// `RTMIN+n` and `RTMAX-n`.
fn is_signal(text: &str) -> bool {
    if let Ok(n) = text.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime_offset = |rest: &str, sign: char| {
        rest.strip_prefix(sign)
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=15).contains(&n))
    };
    SIGNALS.contains(&name)
        || name
            .strip_prefix("RTMIN")
            .is_some_and(|rest| realtime_offset(rest, '+'))
        || name
            .strip_prefix("RTMAX")
            .is_some_and(|rest| realtime_offset(rest, '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<Config, ChangeError> {
        let mut config = Config::default();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut config, &changes).map(|()| config)
    }

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn cmd_and_entrypoint_in_both_forms() {
        let c = apply(&[r#"CMD ["echo", "hi there"]"#]).unwrap();
        assert_eq!(c.cmd(), &strings(&["echo", "hi there"]));
        let c = apply(&["cmd echo $HOME"]).unwrap();
        assert_eq!(c.cmd(), &strings(&["/bin/sh", "-c", "echo $HOME"]));
        let c = apply(&["ENTRYPOINT [\"/init\"]", "CMD [\"serve\"]"]).unwrap();
        assert_eq!(
            (c.entrypoint(), c.cmd()),
            (&strings(&["/init"]), &strings(&["serve"]))
        );
        // ENTRYPOINT after CMD keeps it; CMD from an earlier image would be reset.
        let c = apply(&["CMD [\"serve\"]", "ENTRYPOINT /init"]).unwrap();
        assert_eq!(c.cmd(), &strings(&["serve"]));
        assert_eq!(c.entrypoint(), &strings(&["/bin/sh", "-c", "/init"]));
        // Not valid JSON: shell form, as Dockerfiles do.
        let c = apply(&["CMD [not json"]).unwrap();
        assert_eq!(c.cmd(), &strings(&["/bin/sh", "-c", "[not json"]));
        assert!(apply(&["CMD"]).is_err());
    }

    #[test]
    fn env_and_labels_with_quoting() {
        let c = apply(&[
            r#"ENV A=1 B="two words" C=a\ b"#,
            "ENV LEGACY value with spaces",
            "ENV A=replaced",
        ])
        .unwrap();
        assert_eq!(
            c.env(),
            &strings(&[
                "A=replaced",
                "B=two words",
                "C=a b",
                "LEGACY=value with spaces"
            ])
        );
        let c = apply(&[r#"LABEL maintainer="me <me@x>" version=1"#]).unwrap();
        let labels = c.labels().clone().unwrap();
        assert_eq!(labels["maintainer"], "me <me@x>");
        assert_eq!(labels["version"], "1");
        assert!(apply(&["ENV =x"])
            .unwrap_err()
            .to_string()
            .contains("names can not be blank"));
        assert!(apply(&["ENV A=\"open"])
            .unwrap_err()
            .to_string()
            .contains("unmatched"));
        assert!(apply(&["ENV ONLYNAME"]).is_err());
    }

    #[test]
    fn workdir_user_expose_stopsignal_volume() {
        let c = apply(&[
            "WORKDIR /app",
            "WORKDIR sub",
            "USER nobody:nogroup",
            "EXPOSE 80 53/udp 8000-8001",
            "STOPSIGNAL SIGQUIT",
            "VOLUME [\"/data\", \"/logs\"]",
            "VOLUME /cache",
        ])
        .unwrap();
        assert_eq!(c.working_dir().as_deref(), Some("/app/sub"));
        assert_eq!(c.user().as_deref(), Some("nobody:nogroup"));
        assert_eq!(
            c.exposed_ports(),
            &strings(&["80/tcp", "53/udp", "8000/tcp", "8001/tcp"])
        );
        assert_eq!(c.stop_signal().as_deref(), Some("SIGQUIT"));
        assert_eq!(c.volumes(), &strings(&["/data", "/logs", "/cache"]));
        for ok in ["9", "TERM", "sigkill", "SIGRTMIN+3", "RTMAX-1"] {
            assert!(apply(&[&format!("STOPSIGNAL {ok}")]).is_ok(), "{ok}");
        }
        for bad in ["0", "65", "SIGFOO", "RTMIN+16", "TERM KILL"] {
            assert!(apply(&[&format!("STOPSIGNAL {bad}")]).is_err(), "{bad}");
        }
        for bad in ["0", "70000", "80/icmp", "9-8", "x"] {
            assert!(apply(&[&format!("EXPOSE {bad}")]).is_err(), "{bad}");
        }
        assert!(apply(&["VOLUME [\"\"]"]).is_err());
        assert!(apply(&["USER a b"]).is_err());
    }

    #[test]
    fn other_instructions_are_refused_by_name() {
        assert_eq!(
            apply(&["RUN rm -rf /"]).unwrap_err().to_string(),
            "run is not a valid change command"
        );
        assert_eq!(
            apply(&["FROM scratch"]).unwrap_err().to_string(),
            "from is not a valid change command"
        );
        assert!(apply(&["HEALTHCHECK NONE"])
            .unwrap_err()
            .to_string()
            .contains("not supported"));
        assert!(apply(&[""]).is_err());
    }
}
