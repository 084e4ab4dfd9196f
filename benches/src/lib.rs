//! Fixtures for berth's criterion benchmarks (benches/benches/*.rs): generated layers, image
//! stores, cgroup trees and container records. They live here, rather than in the bench
//! files, so that each is unit-tested: a benchmark over a broken fixture measures nothing.
//!
//! Sizes come from environment variables so that the same benches run quickly on a laptop
//! and at the full size on a bench machine (see [`env_usize`]).
//!
//! The end-to-end comparison with Docker and Podman is a separate harness,
//! `benches/e2e/run.sh`.

pub mod cgroup_fixture;
pub mod containers;
pub mod images;
pub mod layer;

/// Reads a positive integer setting from the environment, e.g. `BERTH_BENCH_LAYER_MB=400`.
/// Unset means `default`; anything else that is not a positive integer is a mistake worth
/// stopping for, since a silently ignored size would publish figures for the wrong size.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => default,
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("{name}={text:?}: expected a positive integer"),
        },
        Err(err) => panic!("{name}: {err}"),
    }
}

/// Whether this process runs with effective UID 0 (real cgroups need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|uids| uids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
/// Whether the calling test is skipped: it needs root (it sets owners, makes device nodes,
/// mounts or writes cgroups) and runs as a normal user. Says so on stderr, past the test
/// harness's capture, so that `cargo test` shows it.
pub(crate) fn skipped_without_root() -> bool {
    if is_root() {
        return false;
    }
    use std::io::Write as _;
    let thread = std::thread::current();
    let name = match thread.name() {
        Some("main") | None => std::env::args().next().unwrap_or_default(),
        Some(name) => name.to_string(),
    };
    let _ = writeln!(std::io::stderr(), "skipped {name}: it needs root");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_sizes_default_and_parse() {
        assert_eq!(env_usize("BERTH_BENCH_TEST_UNSET_VARIABLE", 7), 7);
        std::env::set_var("BERTH_BENCH_TEST_SET_VARIABLE", " 12 ");
        assert_eq!(env_usize("BERTH_BENCH_TEST_SET_VARIABLE", 7), 12);
    }

    #[test]
    #[should_panic(expected = "expected a positive integer")]
    fn env_size_zero_is_refused() {
        std::env::set_var("BERTH_BENCH_TEST_ZERO_VARIABLE", "0");
        env_usize("BERTH_BENCH_TEST_ZERO_VARIABLE", 7);
    }
}
