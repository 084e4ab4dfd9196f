//! What can make a command fail, and the exit status each failure gets.

use crate::client::host::HostError;
use crate::client::ClientError;
use crate::format::TemplateError;
use crate::options::OptionsError;
use crate::stream::OutputError;

/// docker's exit status for a failure of the daemon or of the arguments.
pub const EXIT_DAEMON_OR_ARGS: i32 = 125;
pub const EXIT_CANNOT_INVOKE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;
/// `--format` that does not parse (docker uses 64, EX_USAGE).
pub const EXIT_BAD_TEMPLATE: i32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Something docker can do and berth cannot yet; always named.
    #[error("{0} is not supported by berth yet")]
    Unsupported(String),
    /// Bad command-line usage, already phrased for the user.
    #[error("{0}")]
    Usage(String),
    /// A failure whose text is final and whose status is decided.
    #[error("{message}")]
    Status { code: i32, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> CliError {
        CliError::Io {
            what: what.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Status { code, .. } => *code,
            CliError::Usage(_)
            | CliError::Unsupported(_)
            | CliError::Options(_)
            | CliError::Host(_) => EXIT_DAEMON_OR_ARGS,
            CliError::Template(TemplateError::Parse(_)) => EXIT_BAD_TEMPLATE,
            CliError::Client(_)
            | CliError::Template(_)
            | CliError::Output(_)
            | CliError::Io { .. } => 1,
        }
    }
}

/// The outcome of a command that went through several objects (`rm a b c`) and kept
/// going past failures: success when none failed, else every failure's message, one a
/// line, with status 1.
pub fn all_succeeded(failures: Vec<String>) -> Result<(), CliError> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Status {
            code: 1,
            message: failures.join("\n"),
        })
    }
}

/// Exit status for a container that could not be started, judged from the
/// daemon's error text as the docker client judges it: a missing executable
/// is 127, one that cannot be executed is 126, anything else 125.
pub fn start_failure_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        EXIT_NOT_FOUND
    } else if message.contains("permission denied") || message.contains("is a directory") {
        EXIT_CANNOT_INVOKE
    } else {
        EXIT_DAEMON_OR_ARGS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_map_to_docker_exit_codes() {
        let not_found = "failed to create task: exec: \"nope\": executable file not found in $PATH";
        assert_eq!(start_failure_code(not_found), 127);
        assert_eq!(
            start_failure_code("exec /bin/x: no such file or directory"),
            127
        );
        assert_eq!(
            start_failure_code("exec /etc/passwd: permission denied"),
            126
        );
        assert_eq!(start_failure_code("exec /tmp: is a directory"), 126);
        assert_eq!(start_failure_code("cgroup setup failed"), 125);
    }

    #[test]
    fn categories_have_docker_statuses() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), 125);
        assert_eq!(CliError::Unsupported("exec".into()).exit_code(), 125);
        assert_eq!(
            CliError::Template(TemplateError::Parse("x".into())).exit_code(),
            64
        );
        let daemon = ClientError::Daemon {
            status: 404,
            message: "No such container: x".into(),
        };
        assert_eq!(CliError::Client(daemon).exit_code(), 1);
        assert_eq!(
            CliError::Status {
                code: 137,
                message: String::new()
            }
            .exit_code(),
            137
        );
    }
}
