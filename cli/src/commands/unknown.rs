//! Commands docker has and berth does not have yet are refused by name with
//! status 125; anything else is an unknown command, as docker reports it.

use crate::error::CliError;

/// docker's top-level commands that berth does not provide yet.
const LATER_TOP_LEVEL: &[&str] = &[
    "buildx",
    "checkpoint",
    "compose",
    "config",
    "context",
    "manifest",
    "node",
    "plugin",
    "search",
    "secret",
    "service",
    "stack",
    "swarm",
    "trust",
];
const LATER_CONTAINER: &[&str] = &[];
const LATER_SYSTEM: &[&str] = &["dial-stdio"];

/// `group` is the management command (`container`, `image`, `system`) or
/// empty for a top-level command; `argv` starts with the unknown name.
pub fn refuse(group: &str, argv: &[String]) -> CliError {
    let name = argv.first().map(String::as_str).unwrap_or("");
    let later = match group {
        "" => LATER_TOP_LEVEL,
        "container" => LATER_CONTAINER,
        "system" => LATER_SYSTEM,
        _ => &[],
    };
    let full = if group.is_empty() {
        format!("berth {name}")
    } else {
        format!("berth {group} {name}")
    };
    if later.contains(&name) {
        CliError::Unsupported(format!("'{full}'"))
    } else {
        let help = if group.is_empty() {
            "berth --help".to_owned()
        } else {
            format!("berth {group} --help")
        };
        CliError::Status {
            code: 1,
            message: format!("berth: unknown command: {full}\n\nRun '{help}' for more information"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_commands_are_named_and_unknown_ones_are_unknown() {
        let swarm = refuse("", &["swarm".into(), "init".into()]);
        assert_eq!(swarm.exit_code(), 125);
        assert_eq!(
            swarm.to_string(),
            "'berth swarm' is not supported by berth yet"
        );
        let frob = refuse("", &["frob".into()]);
        assert_eq!(frob.exit_code(), 1);
        assert!(frob
            .to_string()
            .starts_with("berth: unknown command: berth frob"));
    }
}
