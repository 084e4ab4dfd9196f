//! berth's image builder: a Dockerfile parsed into stages, planned against a `--target`,
//! executed step by step through an [`executor::Executor`] (the daemon's containers and image
//! store, or a fake in tests), with a step cache keyed by content.

pub mod args;
pub mod build;
pub mod cache;
pub mod config;
pub mod context;
pub mod copy;
mod copy_layer;
pub mod dockerfile;
pub mod executor;
pub mod healthcheck;
mod heredoc;
pub mod mounts;
pub mod plan;
mod steps;
pub mod subst;
pub mod triggers;

/// What kind of failure an error is, for the daemon's API layer to pick a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    NotImplemented,
    Unavailable,
    Internal,
}

#[cfg(test)]
/// Whether the calling test is skipped: it sets owners, which needs root, and runs as a
/// normal user. Says so on stderr, past the test harness's capture.
pub(crate) fn skipped_without_root() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|uids| uids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false);
    if root {
        return false;
    }
    use std::io::Write as _;
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "skipped {name}: it needs root");
    true
}
