//! A long-running command whose output is read while it runs (`logs -f`, `events`,
//! streaming `stats`): its stdout goes to a file that the test polls.

use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::command::Output;

pub struct Watched {
    command: String,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Watched {
    /// Starts `cmd` with its stdout and stderr going to files of a fresh temporary directory.
    pub fn spawn(mut cmd: Command) -> Watched {
        let dir = tempfile::Builder::new()
            .prefix("berth-watched-")
            .tempdir()
            .expect("temporary directory for a watched command");
        let stdout = dir.path().join("stdout");
        let stderr = dir.path().join("stderr");
        let command = format!("{cmd:?}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
        Watched {
            command,
            child: Some(child),
            stdout,
            stderr,
            _dir: dir,
        }
    }

    /// What it has printed so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.stdout).unwrap_or_default()).into_owned()
    }

    /// Waits (see [`crate::eventually`]) until its stdout contains `text`.
    #[track_caller]
    pub fn wait_for(&self, text: &str) {
        crate::eventually(&format!("{} to print {text:?}", self.command), || {
            self.stdout().contains(text)
        });
    }

    /// Whether it has exited on its own.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(Some(_))))
    }

    /// Waits until it exits on its own, then returns what it printed.
    #[track_caller]
    pub fn finish(mut self) -> Output {
        let command = self.command.clone();
        crate::eventually(&format!("{command} to exit"), || self.exited());
        self.output()
    }

    /// Ends it with SIGTERM and returns what it printed.
    pub fn stop(mut self) -> Output {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) has no memory effects; the child is not reaped yet.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        }
        self.output()
    }

    fn output(&mut self) -> Output {
        let status = self.child.take().map(|mut c| c.wait());
        let code = match status {
            Some(Ok(status)) => {
                use std::os::unix::process::ExitStatusExt;
                status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
            }
            _ => -1,
        };
        Output {
            command: self.command.clone(),
            code,
            stdout: self.stdout(),
            stderr: String::from_utf8_lossy(&fs::read(&self.stderr).unwrap_or_default())
                .into_owned(),
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
