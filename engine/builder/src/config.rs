//! A stage's state as its instructions change it, and the history text each one leaves.
//!
//! The texts are those of Docker's classic builder: a configuration-only step is recorded
//! as `<shell> #(nop)  <INSTRUCTION …>` (two spaces: Docker joins the shell, `#(nop) ` and
//! the comment with spaces), `COPY`, `ADD` and `WORKDIR` as `<shell> #(nop) <…>`, and a
//! RUN as its command, after `|N K=V…` when build arguments are in scope.

use oci_spec::image::Config;

use crate::args::{ArgScope, BuildArgs};
use crate::dockerfile::{CommandForm, Instruction};
use crate::subst::{self, SubstError, Vars};
use crate::ErrorKind;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("Dockerfile line {line}: {source}")]
    Subst {
        line: usize,
        #[source]
        source: SubstError,
    },
    #[error("Dockerfile line {line}: {message}")]
    Invalid { line: usize, message: String },
}

impl ConfigError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Everything a stage's next instruction sees.
#[derive(Debug, Clone, PartialEq)]
pub struct StageState {
    /// The image so far (`None`: `FROM scratch` and nothing built yet).
    pub image: Option<String>,
    pub config: Config,
    pub shell: Vec<String>,
    pub args: ArgScope,
    pub author: Option<String>,
    /// Whether a CMD was given in this stage (an ENTRYPOINT clears an inherited one).
    pub cmd_set: bool,
    /// Docker's `config.Healthcheck` (the base image's, or `HEALTHCHECK`'s).
    pub healthcheck: Option<serde_json::Value>,
    /// Docker's `config.OnBuild`: the triggers this stage's `ONBUILD`s add.
    pub on_build: Vec<String>,
}

impl StageState {
    pub fn new(image: Option<String>, config: Config) -> StageState {
        StageState {
            image,
            config,
            shell: DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
            args: ArgScope::default(),
            author: None,
            cmd_set: false,
            healthcheck: None,
            on_build: Vec::new(),
        }
    }

    /// The configuration's environment, then the declared arguments it does not override.
    pub fn vars(&self) -> StageVars<'_> {
        StageVars(self)
    }

    pub fn env_value(&self, name: &str) -> Option<String> {
        self.config.env().iter().flatten().find_map(|entry| {
            let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
            (key == name).then(|| value.to_string())
        })
    }

    /// The history text of a configuration-only step.
    pub fn nop(&self, comment: &str) -> String {
        format!("{} #(nop)  {comment}", self.shell.join(" "))
    }

    /// The history text of a COPY, ADD or WORKDIR.
    pub fn nop_file(&self, comment: &str) -> String {
        format!("{} #(nop) {comment}", self.shell.join(" "))
    }

    /// A command as the configuration records it: the JSON form as is, a shell line after
    /// the shell.
    pub fn command(&self, form: &CommandForm) -> Vec<String> {
        match form {
            CommandForm::Exec(argv) => argv.clone(),
            CommandForm::Shell(line) => {
                let mut argv = self.shell.clone();
                argv.push(line.clone());
                argv
            }
        }
    }
}

pub struct StageVars<'a>(&'a StageState);

impl Vars for StageVars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .env_value(name)
            .or_else(|| Vars::get(&self.0.args, name))
    }
}

/// Go's `%q` of a string list, as Docker writes commands in history: `["a" "b"]`.
pub fn go_quoted(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `%v` of a string list: `[a b]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

fn set_env(config: &mut Config, key: &str, value: &str) {
    let mut env = config.env().clone().unwrap_or_default();
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
    config.set_env(Some(env));
}

fn normalise_port(port: &str) -> Result<String, String> {
    let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(format!("invalid proto: {proto}"));
    }
    let valid = |n: &str| n.parse::<u16>().is_ok();
    let ok = match number.split_once('-') {
        Some((a, b)) => valid(a) && valid(b),
        None => valid(number),
    };
    if !ok {
        return Err(format!("invalid containerPort: {number}"));
    }
    Ok(format!("{number}/{proto}"))
}

/// The working directory `dir` names from `current`: relative paths are joined, `.` and `..`
/// resolved.
pub fn normalise_workdir(current: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{}/{dir}", if current.is_empty() { "/" } else { current })
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Applies a configuration-only instruction (or WORKDIR's configuration part) and returns
/// its history text; `None` for RUN, COPY and ADD, which the build runs itself.
pub fn apply(
    state: &mut StageState,
    instruction: &Instruction,
    line: usize,
    escape: char,
    build_args: &BuildArgs,
    global: &ArgScope,
) -> Result<Option<String>, ConfigError> {
    let subst_err = |source| ConfigError::Subst { line, source };
    let invalid = |message: String| ConfigError::Invalid { line, message };
    let word = |state: &StageState, w: &str| {
        subst::process_word(w, &state.vars(), escape).map_err(subst_err)
    };
    let comment = match instruction {
        Instruction::Run { .. } | Instruction::Copy(_) | Instruction::Add(_) => return Ok(None),
        Instruction::Env(pairs) => {
            // Every value sees the environment as it was before this instruction.
            let mut resolved = Vec::new();
            for (key, value) in pairs {
                resolved.push((word(state, key)?, word(state, value)?));
            }
            let mut comment = String::from("ENV");
            for (key, value) in &resolved {
                set_env(&mut state.config, key, value);
                comment.push_str(&format!(" {key}={value}"));
            }
            comment
        }
        Instruction::Label(pairs) => {
            let mut labels = state.config.labels().clone().unwrap_or_default();
            let mut comment = String::from("LABEL");
            for (key, value) in pairs {
                let (key, value) = (word(state, key)?, word(state, value)?);
                comment.push_str(&format!(" {key}={value}"));
                labels.insert(key, value);
            }
            state.config.set_labels(Some(labels));
            comment
        }
        Instruction::Arg(decls) => {
            let mut parts = Vec::new();
            for decl in decls {
                let vars = state.vars();
                let mut scope = state.args.clone();
                build_args
                    .declare(&mut scope, global, decl, &vars, escape)
                    .map_err(subst_err)?;
                state.args = scope;
                parts.push(match &decl.default {
                    Some(default) => format!("{}={default}", decl.name),
                    None => decl.name.clone(),
                });
            }
            format!("ARG {}", parts.join(" "))
        }
        Instruction::Expose(ports) => {
            let mut exposed = state.config.exposed_ports().clone().unwrap_or_default();
            let mut written = Vec::new();
            for port in ports {
                for port in subst::process_words(port, &state.vars(), escape).map_err(subst_err)? {
                    let normal = normalise_port(&port).map_err(invalid)?;
                    if !exposed.contains(&normal) {
                        exposed.push(normal);
                    }
                    written.push(port);
                }
            }
            state.config.set_exposed_ports(Some(exposed));
            format!("EXPOSE {}", written.join(" "))
        }
        Instruction::Volume(paths) => {
            let mut volumes = state.config.volumes().clone().unwrap_or_default();
            let mut added = Vec::new();
            for path in paths {
                let path = word(state, path)?;
                if path.trim().is_empty() {
                    return Err(invalid(
                        "VOLUME specified can not be an empty string".into(),
                    ));
                }
                if !volumes.contains(&path) {
                    volumes.push(path.clone());
                }
                added.push(path);
            }
            state.config.set_volumes(Some(volumes));
            format!("VOLUME {}", go_list(&added))
        }
        Instruction::User(user) => {
            let user = word(state, user)?;
            state.config.set_user(Some(user.clone()));
            format!("USER {user}")
        }
        Instruction::Workdir(dir) => {
            let dir = word(state, dir)?;
            let current = state.config.working_dir().clone().unwrap_or_default();
            let dir = normalise_workdir(&current, &dir);
            state.config.set_working_dir(Some(dir.clone()));
            return Ok(Some(state.nop_file(&format!("WORKDIR {dir}"))));
        }
        Instruction::Stopsignal(signal) => {
            let signal = word(state, signal)?;
            state.config.set_stop_signal(Some(signal.clone()));
            format!("STOPSIGNAL {signal}")
        }
        Instruction::Cmd(form) => {
            let cmd = state.command(form);
            state.config.set_cmd(Some(cmd.clone()));
            state.cmd_set = true;
            format!("CMD {}", go_quoted(&cmd))
        }
        Instruction::Entrypoint(form) => {
            let entrypoint = match form {
                CommandForm::Shell(line) if line.is_empty() => Vec::new(),
                form => state.command(form),
            };
            state
                .config
                .set_entrypoint((!entrypoint.is_empty()).then(|| entrypoint.clone()));
            // An inherited CMD would become the new entrypoint's arguments.
            if !state.cmd_set {
                state.config.set_cmd(None);
            }
            format!("ENTRYPOINT {}", go_quoted(&entrypoint))
        }
        Instruction::Shell(shell) => {
            if shell.is_empty() {
                return Err(invalid("SHELL requires at least one argument".into()));
            }
            state.shell = shell.clone();
            format!("SHELL {}", go_list(shell))
        }
        Instruction::Maintainer(name) => {
            state.author = Some(name.clone());
            format!("MAINTAINER {name}")
        }
        Instruction::Healthcheck(check) => {
            let (healthcheck, comment) = crate::healthcheck::parse(check).map_err(invalid)?;
            state.healthcheck = Some(healthcheck);
            comment
        }
        Instruction::Onbuild(trigger) => {
            crate::triggers::check(trigger).map_err(invalid)?;
            state.on_build.push(trigger.clone());
            format!("ONBUILD {trigger}")
        }
    };
    Ok(Some(state.nop(&comment)))
}

/// The history text of a RUN: its command, after the build arguments in scope that the
/// environment does not set (`|N K=V…`, sorted), as Docker's classic builder writes it.
pub fn run_created_by(state: &StageState, argv: &[String]) -> String {
    let args: Vec<String> = state
        .args
        .values()
        .into_iter()
        .filter(|(name, _)| state.env_value(name).is_none())
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let mut parts = Vec::new();
    if !args.is_empty() {
        parts.push(format!("|{}", args.len()));
        parts.extend(args);
    }
    parts.extend(argv.iter().cloned());
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Platform;
    use crate::dockerfile::{parse, Located};

    fn run(text: &str) -> (StageState, Vec<String>) {
        let dockerfile = parse(format!("FROM busybox\n{text}").as_bytes()).unwrap();
        let mut config = Config::default();
        config.set_env(Some(vec!["PATH=/bin".into()]));
        config.set_cmd(Some(vec!["sh".into()]));
        let mut state = StageState::new(Some("sha256:parent".into()), config);
        let args = BuildArgs {
            given: [("GIVEN".to_string(), "g".to_string())].into(),
            platform: Platform::host(),
        };
        let global = ArgScope::default();
        let mut history = Vec::new();
        for Located { line, value, .. } in &dockerfile.stages[0].instructions {
            if let Some(text) = apply(&mut state, value, *line, '\\', &args, &global).unwrap() {
                history.push(text);
            }
        }
        (state, history)
    }

    #[test]
    fn env_sees_the_environment_before_it() {
        let (state, history) = run("ENV A=1\nENV A=2 B=$A C=\"x y\"\nENV PATH=$PATH:/sbin\n");
        assert_eq!(
            state.config.env().clone().unwrap(),
            vec!["PATH=/bin:/sbin", "A=2", "B=1", "C=x y"]
        );
        assert_eq!(history[1], "/bin/sh -c #(nop)  ENV A=2 B=1 C=x y");
    }

    #[test]
    fn commands_and_their_history() {
        let (state, history) = run("CMD echo hi\nENTRYPOINT [\"/init\"]\n");
        assert_eq!(
            history[0],
            r#"/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo hi"]"#
        );
        assert_eq!(history[1], r#"/bin/sh -c #(nop)  ENTRYPOINT ["/init"]"#);
        // The CMD was set in this stage, so the ENTRYPOINT keeps it.
        assert_eq!(state.config.cmd().clone().unwrap().len(), 3);
        let (state, _) = run("ENTRYPOINT [\"/init\"]\n");
        assert_eq!(state.config.cmd(), &None, "the inherited CMD is dropped");
    }

    #[test]
    fn shell_changes_later_commands_and_history() {
        let (state, history) = run("SHELL [\"/bin/ash\", \"-ec\"]\nCMD run\nUSER nobody\n");
        // Docker records the SHELL step with the new shell already in place.
        assert_eq!(history[0], "/bin/ash -ec #(nop)  SHELL [/bin/ash -ec]");
        assert_eq!(history[2], "/bin/ash -ec #(nop)  USER nobody");
        assert_eq!(
            state.config.cmd().clone().unwrap(),
            vec!["/bin/ash", "-ec", "run"]
        );
    }

    #[test]
    fn labels_ports_volumes_workdir_signal() {
        let (state, history) = run(
            "ENV P=8080\nLABEL a=b \"c d\"=\"e f\"\nEXPOSE $P 53/udp\nVOLUME /data\nWORKDIR /app\n\
             WORKDIR sub/../src\nSTOPSIGNAL SIGINT\nMAINTAINER me\n",
        );
        assert_eq!(state.config.labels().clone().unwrap()["c d"], "e f");
        assert_eq!(
            state.config.exposed_ports().clone().unwrap(),
            vec!["8080/tcp", "53/udp"]
        );
        assert_eq!(history[2], "/bin/sh -c #(nop)  EXPOSE 8080 53/udp");
        assert_eq!(history[3], "/bin/sh -c #(nop)  VOLUME [/data]");
        assert_eq!(history[5], "/bin/sh -c #(nop) WORKDIR /app/src");
        assert_eq!(state.config.working_dir().as_deref(), Some("/app/src"));
        assert_eq!(state.config.stop_signal().as_deref(), Some("SIGINT"));
        assert_eq!(state.author.as_deref(), Some("me"));
    }

    #[test]
    fn args_enter_run_history_unless_the_environment_sets_them() {
        let (state, history) = run("ARG GIVEN\nARG D=d\nARG E=e\nENV E=env\n");
        assert_eq!(history[0], "/bin/sh -c #(nop)  ARG GIVEN");
        assert_eq!(
            run_created_by(&state, &["/bin/sh".into(), "-c".into(), "true".into()]),
            "|2 D=d GIVEN=g /bin/sh -c true"
        );
    }

    #[test]
    fn healthcheck_and_onbuild_enter_the_state_and_history() {
        let (state, history) =
            run("HEALTHCHECK --interval=5s CMD true\nONBUILD RUN echo $HOME\nONBUILD  COPY a /b\n");
        assert_eq!(
            state.healthcheck,
            Some(serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000i64}))
        );
        assert_eq!(
            history[0],
            r#"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" '\x00'}"#
        );
        // Triggers are kept as written, unsubstituted.
        assert_eq!(state.on_build, vec!["RUN echo $HOME", "COPY a /b"]);
        assert_eq!(history[1], "/bin/sh -c #(nop)  ONBUILD RUN echo $HOME");
    }

    #[test]
    fn invalid_instructions() {
        let dockerfile = parse(
            b"FROM a\nEXPOSE 99999\nONBUILD FROM b\nONBUILD maintainer me\n\
              HEALTHCHECK --retries=-2 CMD true\n",
        )
        .unwrap();
        let args = BuildArgs {
            given: Default::default(),
            platform: Platform::host(),
        };
        let messages: Vec<String> = dockerfile.stages[0]
            .instructions
            .iter()
            .map(|i| {
                let mut state = StageState::new(None, Config::default());
                let err = apply(
                    &mut state,
                    &i.value,
                    i.line,
                    '\\',
                    &args,
                    &ArgScope::default(),
                )
                .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidArgument);
                err.to_string()
            })
            .collect();
        assert!(
            messages[0].contains("invalid containerPort"),
            "{messages:?}"
        );
        assert_eq!(
            messages[1],
            "Dockerfile line 3: FROM isn't allowed as an ONBUILD trigger"
        );
        assert_eq!(
            messages[2],
            "Dockerfile line 4: MAINTAINER isn't allowed as an ONBUILD trigger"
        );
        assert_eq!(
            messages[3],
            "Dockerfile line 5: --retries cannot be negative (-2)"
        );
        // The parser refuses a chained trigger itself, with its line.
        let err = parse(b"FROM a\nONBUILD ONBUILD RUN x\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("ONBUILD ONBUILD is not allowed at line 2"),
            "{err}"
        );
    }
}
