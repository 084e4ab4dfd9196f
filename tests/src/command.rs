//! Running a command with captured output and a time limit.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long one command may run before it is killed and the test fails. A guard against
/// hangs only: CI runs the suite on two busy cores with debug builds, where moving 100 MB
/// of logs has taken close to a minute.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// What a finished command left behind.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// The exit code, or 128 + the signal number if a signal ended it (as a shell reports it).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The standard output without surrounding whitespace.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }

    /// The standard output's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Fails the test unless the command exited with 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }

    /// Fails the test unless the command exited with `code`.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "expected exit code {code}:\n{self}");
        self
    }

    /// Fails the test unless the command failed (any code but 0).
    #[track_caller]
    pub fn fails(self) -> Self {
        assert_ne!(self.code, 0, "expected a failure:\n{self}");
        self
    }

    /// Fails the test unless standard error contains `text`.
    #[track_caller]
    pub fn stderr_has(self, text: &str) -> Self {
        assert!(
            self.stderr.contains(text),
            "expected {text:?} on stderr:\n{self}"
        );
        self
    }

    /// Fails the test unless standard output contains `text`.
    #[track_caller]
    pub fn stdout_has(self, text: &str) -> Self {
        assert!(
            self.stdout.contains(text),
            "expected {text:?} on stdout:\n{self}"
        );
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "exit code {}", self.code)?;
        writeln!(f, "--- stdout\n{}", self.stdout)?;
        write!(f, "--- stderr\n{}", self.stderr)
    }
}

/// A command running in the background; it is killed if dropped before [`Background::finish`].
pub struct Background {
    command: String,
    pid: libc::pid_t,
    exited: Option<mpsc::Receiver<std::io::Result<ExitStatus>>>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Background {
    /// Starts `cmd` with its output captured, feeding it `stdin` (or /dev/null).
    pub fn spawn(mut cmd: Command, stdin: Option<Vec<u8>>) -> Background {
        let command = describe(&cmd);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child: Child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A command that exits without reading its input is not an error here.
            thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let stdout = child.stdout.take().map(read_all);
        let stderr = child.stderr.take().map(read_all);
        let pid = child.id() as libc::pid_t;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        Background {
            command,
            pid,
            exited: Some(rx),
            stdout,
            stderr,
        }
    }

    /// The command's process ID, to signal it.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Waits for the command to exit, at most [`COMMAND_TIMEOUT`]; past that, kills it and fails
    /// the test with what it printed.
    #[track_caller]
    pub fn finish(self) -> Output {
        match self.try_finish() {
            Ok(output) => output,
            Err(output) => panic!("killed after {COMMAND_TIMEOUT:?}:\n{output}"),
        }
    }

    /// Waits for the command to exit, at most [`COMMAND_TIMEOUT`]; past that, kills it and
    /// returns what it printed as the error.
    pub fn try_finish(mut self) -> Result<Output, Output> {
        let exited = self.exited.take().expect("finish is called once");
        let (status, timed_out) = match exited.recv_timeout(COMMAND_TIMEOUT) {
            Ok(status) => (status, false),
            Err(_) => {
                // SAFETY: kill(2) has no memory effects; the child is not reaped yet.
                unsafe { libc::kill(self.pid, libc::SIGKILL) };
                (exited.recv().expect("the waiting thread reports"), true)
            }
        };
        let code = match status {
            Ok(status) => status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            Err(_) => -1,
        };
        let output = Output {
            command: self.command.clone(),
            code,
            stdout: join_text(self.stdout.take()),
            stderr: join_text(self.stderr.take()),
        };
        if timed_out {
            Err(output)
        } else {
            Ok(output)
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(exited) = self.exited.take() {
            // SAFETY: as in finish; the waiting thread reaps it.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = exited.recv();
        }
    }
}

/// Runs `cmd` to completion with a time limit (see [`Background::finish`]).
#[track_caller]
pub fn run_command(cmd: Command, stdin: Option<Vec<u8>>) -> Output {
    Background::spawn(cmd, stdin).finish()
}

fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn join_text(reader: Option<JoinHandle<Vec<u8>>>) -> String {
    let bytes = reader
        .map(|r| r.join().unwrap_or_default())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn describe(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(char::is_whitespace) {
            format!("'{a}'")
        } else {
            a.into_owned()
        }
    }));
    words.join(" ")
}
