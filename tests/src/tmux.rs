//! A terminal for tests: a tmux server of the test's own (its own socket in its own temporary
//! directory, so tests run side by side and one never touches another's), driven with
//! send-keys and read with capture-pane.

use std::process::Command;

use std::time::{Duration, Instant};

use crate::command::run_command;
use crate::EVENTUALLY_LIMIT;

/// A tmux server with one window running one command. The server is killed, and its socket
/// removed, when this is dropped.
pub struct Tmux {
    /// Holds the server's socket.
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Runs `command` (its environment, program and arguments; a tmux server keeps the
    /// environment of whoever started it) in a `columns`x`rows` window. When the command ends,
    /// the window shows `[exited N]` with its status and stays open.
    #[track_caller]
    pub fn start(command: &Command, columns: u16, rows: u16) -> Tmux {
        let mut words: Vec<String> = vec!["env".into()];
        for (name, value) in command.get_envs() {
            let name = name.to_string_lossy();
            match value {
                Some(value) => words.push(quote(&format!("{name}={}", value.to_string_lossy()))),
                None => words
                    .splice(1..1, ["-u".to_owned(), quote(&name)])
                    .for_each(drop),
            }
        }
        words.push(quote(&command.get_program().to_string_lossy()));
        words.extend(command.get_args().map(|a| quote(&a.to_string_lossy())));
        Tmux::start_line(&words.join(" "), columns, rows)
    }

    #[track_caller]
    fn start_line(command: &str, columns: u16, rows: u16) -> Tmux {
        let tmux = Tmux {
            dir: tempfile::Builder::new()
                .prefix("berth-tmux-")
                .tempdir()
                .expect("a directory for the tmux socket"),
        };
        // `cat` keeps the pane (and its last screen) once the command is done.
        let script = format!("{command}; echo \"[exited $?]\"; exec cat");
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &columns.to_string(),
            "-y",
            &rows.to_string(),
            "sh",
            "-c",
            &script,
        ]);
        tmux
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(self.dir.path().join("socket")).args(args);
        cmd
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> String {
        run_command(self.command(args), None).ok().stdout
    }

    /// Types `text` as it is, then Enter.
    #[track_caller]
    pub fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", "main", "-l", text]);
        self.keys(&["Enter"]);
    }

    /// Presses keys by tmux's names (`C-p`, `Enter`, …).
    #[track_caller]
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// What the window shows now.
    #[track_caller]
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "main"])
    }

    /// Waits until the window shows `text`; returns the screen. Fails the test, showing the
    /// screen, if it never does within [`EVENTUALLY_LIMIT`] (a guard against hangs).
    #[track_caller]
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + EVENTUALLY_LIMIT;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "gave up after {EVENTUALLY_LIMIT:?} waiting for the terminal to show {text:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until a line of the window starts with `prefix`; returns the last such line.
    /// Fails the test as [`Tmux::wait_for`] does.
    #[track_caller]
    pub fn wait_for_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + EVENTUALLY_LIMIT;
        loop {
            let screen = self.screen();
            if let Some(line) = screen.lines().rev().find(|l| l.starts_with(prefix)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "gave up after {EVENTUALLY_LIMIT:?} waiting for a line starting {prefix:?}; the terminal shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Gives the window a new size, as a user resizing their terminal does.
    #[track_caller]
    pub fn resize(&self, columns: u16, rows: u16) {
        self.run(&[
            "resize-window",
            "-t",
            "main",
            "-x",
            &columns.to_string(),
            "-y",
            &rows.to_string(),
        ]);
    }
}

/// `word` as one shell word.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]).output();
    }
}
