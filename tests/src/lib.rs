//! Shared helpers for the integration tests.
//!
//! Every test starts its own [`Daemon`] (a berthd with its own data root, exec root and
//! socket in a temporary directory), so tests run in parallel and clean up after themselves.
//! Commands run through [`Daemon::berth`] and [`Daemon::docker`] with a time limit, so a hang
//! fails the test with the command's output instead of stalling the run.

pub mod cgroups;
mod command;
mod daemon;
mod docker_text;
pub mod fake_registry;
mod fixture;
mod hijack;
mod http;
pub mod netcheck;
pub mod registry;
mod tmux;
mod watched;

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

pub use command::{run_command, Background, Output, COMMAND_TIMEOUT};
pub use daemon::{Daemon, TestNetwork};
pub use docker_text::{assert_info_of_one_running_one_stopped, PS_HEADER_WORDS};
pub use fixture::{busybox_tar, repo_root};
pub use hijack::Hijacked;
pub use http::{request, HttpResponse};
pub use tmux::Tmux;
pub use watched::Watched;

/// Whether the tests run as root, as the ones that start containers need.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Returns from the calling test unless it runs as root, saying on stderr (past the test
/// harness's capture, so that `cargo test` shows it) that the test was skipped.
#[macro_export]
macro_rules! needs_root {
    () => {
        if !$crate::is_root() {
            $crate::report_skipped();
            return;
        }
    };
}

#[doc(hidden)]
pub fn report_skipped() {
    use std::io::Write as _;
    let name = thread::current().name().unwrap_or("a test").to_string();
    let _ = writeln!(
        std::io::stderr(),
        "skipped {name}: it starts real containers, which needs root"
    );
}

/// The real docker CLI (v28) that berthd must serve.
pub const DOCKER_CLI: &str = "/usr/local/bin/docker";

/// Where the berth and berthd binaries are: `$BERTH_BIN_DIR`, else the directory cargo built
/// them in, which is the profile directory holding this test binary (`<target>/debug`, with
/// `<target>` being `$CARGO_TARGET_DIR` or the workspace's `target`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("path of the test binary");
    // <target>/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .expect("the test binary lives in <target>/<profile>/deps")
}

/// Path of one of the workspace's binaries, with a clear message when it was not built.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} does not exist: build the binaries first (`cargo build --bins`), or point \
         BERTH_BIN_DIR at them",
        path.display()
    );
    path
}

/// How long [`eventually`] waits for a condition before failing the test.
pub const EVENTUALLY_LIMIT: Duration = Duration::from_secs(60);

/// Polls `condition` until it holds; fails the test, naming `what`, if it never does within
/// [`EVENTUALLY_LIMIT`]. The limit is a guard against hangs, not a performance assertion.
#[track_caller]
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + EVENTUALLY_LIMIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "gave up after {EVENTUALLY_LIMIT:?} waiting for: {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The value of a `Name:\tvalue` line of a /proc status file's text.
pub fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim())
    })
}

/// True when `s` is a full container or image ID: 64 lower-case hex digits.
pub fn is_full_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
