//! Text docker prints, which berth must print the same way; tests of berth's own CLI and of
//! the docker CLI against berthd check it alike.

use std::path::Path;

use crate::Output;

/// The words of the `ps` header line, split on white space.
pub const PS_HEADER_WORDS: [&str; 8] = [
    "CONTAINER",
    "ID",
    "IMAGE",
    "COMMAND",
    "CREATED",
    "STATUS",
    "PORTS",
    "NAMES",
];

/// Checks `info` of a daemon whose data root is `data_root`, holding the busybox image,
/// one running container and one stopped: the counts, this host's kernel and CPUs, and
/// docker's sections.
#[track_caller]
pub fn assert_info_of_one_running_one_stopped(info: &Output, data_root: &Path) {
    let lines: Vec<&str> = info.stdout.lines().map(str::trim).collect();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    for expected in [
        "Containers: 2",
        "Running: 1",
        "Paused: 0",
        "Stopped: 1",
        "Images: 1",
        "Cgroup Version: 1",
        &format!("Docker Root Dir: {}", data_root.display()),
        &format!("CPUs: {}", std::thread::available_parallelism().unwrap()),
        &format!("Kernel Version: {}", kernel.trim()),
    ] {
        assert!(lines.contains(&expected), "{expected:?} missing:\n{info}");
    }
    for label in [
        "Storage Driver:",
        "Cgroup Driver:",
        "Operating System:",
        "Total Memory:",
        "Security Options:",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(label)),
            "{label:?} missing:\n{info}"
        );
    }
    assert!(
        lines.contains(&"seccomp"),
        "seccomp among the security options:\n{info}"
    );
}
