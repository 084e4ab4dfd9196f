//! Command-line mistakes reported in docker's shape: the problem, the
//! command's usage line, a pointer to its help, and status 125.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory;

use crate::args::Cli;
use crate::error::EXIT_DAEMON_OR_ARGS;

/// docker flags of `run`/`create` that berth does not provide yet, by long
/// and short name, so that using one is reported as such rather than as a
/// typo.
const LATER_RUN_FLAGS: &[(&str, Option<&str>)] = &[
    ("annotation", None),
    ("blkio-weight-device", None),
    ("cgroup-parent", None),
    ("cgroupns", None),
    ("cpu-count", None),
    ("cpu-percent", None),
    ("cpu-rt-period", None),
    ("cpu-rt-runtime", None),
    ("device", None),
    ("device-cgroup-rule", None),
    ("device-read-bps", None),
    ("device-read-iops", None),
    ("device-write-bps", None),
    ("device-write-iops", None),
    ("gpus", None),
    ("isolation", None),
    ("kernel-memory", None),
    ("memory-swappiness", None),
    ("oom-kill-disable", None),
    ("platform", None),
    ("shm-size", None),
    ("storage-opt", None),
    ("sysctl", None),
    ("ulimit", None),
    ("use-api-socket", None),
];

/// docker flags of `update` that berth does not provide yet: the daemon cannot change
/// real-time CPU budgets.
const LATER_UPDATE_FLAGS: &[(&str, Option<&str>)] =
    &[("cpu-rt-period", None), ("cpu-rt-runtime", None)];

/// Global flags that take a value, to find the command word in argv.
const GLOBAL_VALUE_FLAGS: &[&str] = &[
    "-H",
    "--host",
    "-l",
    "--log-level",
    "-c",
    "--context",
    "--config",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];

/// The command words of argv (`["container", "ls"]`), skipping global flags.
pub fn command_path(argv: &[String]) -> Vec<String> {
    let mut words = Vec::new();
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        if GLOBAL_VALUE_FLAGS.contains(&arg.as_str()) {
            args.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        words.push(arg.clone());
        if matches!(
            arg.as_str(),
            "container" | "image" | "system" | "network" | "volume" | "builder"
        ) {
            if let Some(next) = args.next().filter(|n| !n.starts_with('-')) {
                words.push(next.clone());
            }
        }
        break;
    }
    words
}

fn usage_line(path: &[String]) -> String {
    let mut command = Cli::command();
    command.build();
    let mut current = &command;
    for word in path {
        match current.find_subcommand(word) {
            Some(sub) => current = sub,
            None => break,
        }
    }
    current
        .get_overridden_usage()
        .map(|u| u.to_string())
        .unwrap_or_else(|| "berth [OPTIONS] COMMAND".to_owned())
}

fn later_flag(path: &[String], flag: &str) -> Option<String> {
    let later = match path.last().map(String::as_str) {
        Some("run" | "create") => LATER_RUN_FLAGS,
        Some("update") => LATER_UPDATE_FLAGS,
        _ => return None,
    };
    let name = flag.split('=').next().unwrap_or(flag);
    later.iter().find_map(|(long, short)| {
        let matches = name.strip_prefix("--") == Some(long)
            || (short.is_some() && name.strip_prefix('-') == *short);
        matches.then(|| match short {
            Some(s) => format!("-{s}, --{long}"),
            None => format!("--{long}"),
        })
    })
}

/// The text of a parse failure, without clap's decorations.
fn problem(e: &clap::Error, path: &[String]) -> String {
    let invalid_arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    if e.kind() == ErrorKind::UnknownArgument {
        if let Some(arg) = &invalid_arg {
            if let Some(flag) = later_flag(path, arg) {
                return format!("the docker flag {flag} is not supported by berth yet");
            }
            if arg.starts_with('-') {
                return format!("unknown flag: {arg}");
            }
        }
    }
    if e.kind() == ErrorKind::MissingRequiredArgument {
        let missing: Vec<String> = match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::Strings(names)) => names
                .iter()
                .map(|n| {
                    n.trim_start_matches('<')
                        .split('>')
                        .next()
                        .unwrap_or(n)
                        .to_owned()
                })
                .collect(),
            _ => Vec::new(),
        };
        return format!(
            "'berth {}' requires arguments that were not given: {}",
            path.join(" "),
            missing.join(", ")
        );
    }
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// Prints help/version requests as is (status 0) and usage errors in
/// docker's shape (status 125).
pub fn report_parse_error(e: &clap::Error, argv: &[String]) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            0
        }
        _ => {
            let path = command_path(argv);
            let command = if path.is_empty() {
                String::new()
            } else {
                format!(" {}", path.join(" "))
            };
            eprintln!(
                "berth: {}\n\nUsage:  {}\n\nRun 'berth{command} --help' for more information",
                problem(e, &path),
                usage_line(&path)
            );
            EXIT_DAEMON_OR_ARGS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn argv(args: &[&str]) -> Vec<String> {
        std::iter::once("berth")
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect()
    }

    fn problem_of(args: &[&str]) -> String {
        let argv = argv(args);
        let e = Cli::try_parse_from(&argv).unwrap_err();
        problem(&e, &command_path(&argv))
    }

    #[test]
    fn command_words_skip_global_flags() {
        assert_eq!(
            command_path(&argv(&["-H", "unix:///x", "-D", "run", "busybox"])),
            ["run"]
        );
        assert_eq!(
            command_path(&argv(&["container", "ls", "-a"])),
            ["container", "ls"]
        );
        assert_eq!(
            command_path(&argv(&["--log-level", "debug", "image", "-q"])),
            ["image"]
        );
    }

    #[test]
    fn unknown_and_later_flags_are_named() {
        assert_eq!(
            problem_of(&["run", "--frobnicate", "busybox"]),
            "unknown flag: --frobnicate"
        );
        assert_eq!(
            problem_of(&["run", "--ulimit", "nofile=1", "busybox"]),
            "the docker flag --ulimit is not supported by berth yet"
        );
        assert_eq!(
            problem_of(&["create", "--shm-size=1g", "busybox"]),
            "the docker flag --shm-size is not supported by berth yet"
        );
        assert_eq!(
            problem_of(&["update", "--cpu-rt-runtime", "1", "c"]),
            "the docker flag --cpu-rt-runtime is not supported by berth yet"
        );
        assert_eq!(
            problem_of(&["run", "--sysctl", "a=1", "busybox"]),
            "the docker flag --sysctl is not supported by berth yet"
        );
        assert_eq!(
            problem_of(&["ps", "--frobnicate"]),
            "unknown flag: --frobnicate"
        );
        assert!(problem_of(&["ps", "-n", "abc"]).contains("abc"));
        assert_eq!(
            problem_of(&["rm"]),
            "'berth rm' requires arguments that were not given: CONTAINER"
        );
        assert_eq!(
            problem_of(&["rename", "a"]),
            "'berth rename' requires arguments that were not given: NEW_NAME"
        );
    }

    #[test]
    fn usage_lines_come_from_the_command() {
        assert_eq!(
            usage_line(&["run".to_owned()]),
            "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"
        );
        assert_eq!(
            usage_line(&["container".to_owned(), "ls".to_owned()]),
            "berth container ls [OPTIONS]"
        );
    }
}
