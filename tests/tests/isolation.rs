//! Isolation, seen from inside the container with busybox applets and from the host: the
//! namespaces, the root filesystem, /proc, /sys and /dev, capabilities, seccomp and cgroups.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;

use berth_tests::{eventually, status_field, Daemon};

#[track_caller]
#[test]
fn default_capabilities_are_dockers() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let status = d.run_rm(&["busybox", "cat", "/proc/self/status"]);
    assert_eq!(
        status_field(&status, "CapEff"),
        Some("00000000a80425fb"),
        "{status}"
    );
    assert_eq!(
        status_field(&status, "CapPrm"),
        Some("00000000a80425fb"),
        "{status}"
    );
    assert_eq!(
        status_field(&status, "CapBnd"),
        Some("00000000a80425fb"),
        "{status}"
    );
    assert_eq!(
        status_field(&status, "CapInh"),
        Some("0000000000000000"),
        "{status}"
    );
    assert_eq!(
        status_field(&status, "CapAmb"),
        Some("0000000000000000"),
        "{status}"
    );
}

#[test]
fn a_non_root_user_has_no_effective_capabilities() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let status = d.run_rm(&["-u", "1000", "busybox", "cat", "/proc/self/status"]);
    assert_eq!(
        status_field(&status, "CapEff"),
        Some("0000000000000000"),
        "{status}"
    );
}

#[test]
fn seccomp_filter_is_on() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let status = d.run_rm(&["busybox", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&status, "Seccomp"), Some("2"), "{status}");
    // A child inherits the filter.
    let status = d.run_rm(&["busybox", "sh", "-c", "cat /proc/self/status"]);
    assert_eq!(status_field(&status, "Seccomp"), Some("2"), "{status}");
}

#[test]
fn hostname_defaults_to_the_short_id() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let id = d
        .berth(&[
            "create",
            "--name",
            "hn",
            "busybox",
            "sh",
            "-c",
            "hostname; cat /etc/hostname",
        ])
        .ok()
        .out()
        .to_owned();
    d.berth(&["start", "hn"]).ok();
    assert_eq!(d.berth(&["wait", "hn"]).ok().out(), "0");
    let short = &id[..12];
    assert_eq!(d.logs("hn").0, format!("{short}\n{short}\n"));
    assert_eq!(d.inspect("hn")["Config"]["Hostname"], short);
}

#[test]
fn etc_hosts_and_resolv_conf_are_written() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // The image has neither file: cat fails, and so does the run, unless they were written.
    let out = d.run_rm(&[
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts && echo --- && cat /etc/resolv.conf",
    ]);
    let (hosts, _resolv) = out.split_once("---\n").unwrap();
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with("127.0.0.1") && l.contains("localhost")),
        "{hosts}"
    );
}

#[test]
fn the_command_is_pid_1_and_sees_only_its_own_processes() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    assert_eq!(d.run_rm(&["busybox", "sh", "-c", "echo $$"]), "1\n");
    let ps = d.run_rm(&["busybox", "ps", "-o", "pid,comm"]);
    let pids: Vec<&str> = ps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(pids, ["1"], "only ps itself, as PID 1:\n{ps}");
}

#[test]
fn every_namespace_is_new() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let kinds = ["mnt", "pid", "uts", "ipc", "net", "cgroup"];
    let script: String = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}; "))
        .collect();
    let out = d.run_rm(&["busybox", "sh", "-c", &script]);
    let inside: Vec<&str> = out.lines().collect();
    assert_eq!(inside.len(), kinds.len(), "{out}");
    for (kind, link) in kinds.iter().zip(inside) {
        let host = fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        assert!(link.starts_with(&format!("{kind}:[")), "{out}");
        assert_ne!(
            link,
            host.to_str().unwrap(),
            "the {kind} namespace is the host's"
        );
    }
}

#[test]
fn cgroup_namespace_puts_the_container_at_its_root() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let cgroup = d.run_rm(&["busybox", "cat", "/proc/self/cgroup"]);
    for line in cgroup.lines() {
        assert!(line.ends_with(":/"), "{line:?} in:\n{cgroup}");
    }
}

#[test]
fn the_root_is_the_image_after_pivot_root() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let root = d.run_rm(&["busybox", "ls", "/"]);
    let entries: BTreeSet<&str> = root.lines().collect();
    for expected in ["bin", "dev", "etc", "home", "proc", "root", "sys", "tmp"] {
        assert!(entries.contains(expected), "{expected} missing:\n{root}");
    }
    // Nothing of the host: this directory exists only outside.
    assert!(
        !entries.contains("work") && !entries.contains("usr"),
        "{root}"
    );
    let mounts = d.run_rm(&["busybox", "cat", "/proc/self/mounts"]);
    let root_mount = mounts.lines().find(|l| l.split(' ').nth(1) == Some("/"));
    assert!(
        root_mount.is_some_and(|l| l.split(' ').nth(2) == Some("overlay")),
        "the root is an overlay:\n{mounts}"
    );
}

#[test]
fn writes_go_to_the_container_layer_only() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_rm(&["busybox", "sh", "-c", "echo changed > /etc/passwd"]);
    // A new container from the same image sees the image's file.
    let passwd = d.run_rm(&["busybox", "cat", "/etc/passwd"]);
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
}

#[test]
fn proc_masked_and_read_only_paths() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // Docker's masked files; only those this kernel has can be checked.
    let masked_files: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|path| fs::metadata(path).is_ok())
    .collect();
    assert!(!masked_files.is_empty(), "this host has /proc/keys");
    for path in masked_files {
        // The redirection fails, and so does the run, if the file cannot be opened.
        let size = d.run_rm(&["busybox", "sh", "-c", &format!("wc -c < {path}")]);
        assert_eq!(size.trim(), "0", "{path} is masked");
    }
    // Docker's masked directories; only those with something in them on this host prove
    // anything.
    let masked_dirs: Vec<&str> = [
        "/proc/acpi",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .into_iter()
    .filter(|dir| fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()))
    .collect();
    assert!(!masked_dirs.is_empty(), "this host has /sys/firmware");
    for dir in masked_dirs {
        let listing = d.run_rm(&["busybox", "ls", "-A", dir]);
        assert_eq!(listing, "", "{dir} is masked");
    }
    // Root in the container cannot write through a read-only /proc path.
    d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo x > /proc/sys/kernel/hostname",
    ])
    .fails()
    .stderr_has("Read-only file system");
    let mounts = d.run_rm(&["busybox", "cat", "/proc/self/mounts"]);
    // Docker's read-only paths that this kernel has (it may lack /proc/sysrq-trigger).
    let read_only = [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .into_iter()
    .filter(|path| fs::metadata(path).is_ok());
    for path in read_only {
        let line = mounts.lines().find(|l| l.split(' ').nth(1) == Some(path));
        assert!(
            line.is_some_and(|l| l
                .split(' ')
                .nth(3)
                .is_some_and(|o| o.split(',').any(|o| o == "ro"))),
            "{path} is mounted read-only:\n{mounts}"
        );
    }
}

#[test]
fn sys_is_read_only() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&["run", "--rm", "busybox", "mkdir", "/sys/kernel/berth-test"])
        .fails()
        .stderr_has("Read-only file system");
    let mounts = d.run_rm(&["busybox", "cat", "/proc/self/mounts"]);
    let sys = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/sys"))
        .unwrap_or_default();
    assert!(sys.starts_with("sysfs /sys sysfs ro"), "{mounts}");
}

#[test]
fn dev_is_a_tmpfs_with_the_standard_devices() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let listing = d.run_rm(&["busybox", "ls", "-A", "/dev"]);
    let entries: BTreeSet<&str> = listing.lines().collect();
    for expected in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "mqueue",
    ] {
        assert!(
            entries.contains(expected),
            "/dev/{expected} missing:\n{listing}"
        );
    }
    // Device numbers (major,minor in hex), not copies.
    let numbers = d.run_rm(&[
        "busybox",
        "stat",
        "-c",
        "%n %F %t,%T",
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
    ]);
    assert_eq!(
        numbers,
        "/dev/null character special file 1,3\n\
         /dev/zero character special file 1,5\n\
         /dev/full character special file 1,7\n\
         /dev/random character special file 1,8\n\
         /dev/urandom character special file 1,9\n\
         /dev/tty character special file 5,0\n"
    );
    d.berth(&["run", "--rm", "busybox", "sh", "-c", "echo x > /dev/full"])
        .fails()
        .stderr_has("No space left on device");
    assert_eq!(
        d.run_rm(&["busybox", "sh", "-c", "head -c 4 /dev/zero | wc -c"])
            .trim(),
        "4"
    );

    let mounts = d.run_rm(&["busybox", "cat", "/proc/self/mounts"]);
    let fs_of = |point: &str| {
        mounts
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(point))
            .and_then(|l| l.split(' ').nth(2))
            .map(str::to_owned)
    };
    assert_eq!(fs_of("/dev").as_deref(), Some("tmpfs"), "{mounts}");
    assert_eq!(fs_of("/dev/pts").as_deref(), Some("devpts"), "{mounts}");
    assert_eq!(fs_of("/dev/shm").as_deref(), Some("tmpfs"), "{mounts}");
    assert_eq!(fs_of("/dev/mqueue").as_deref(), Some("mqueue"), "{mounts}");
    // A new devpts instance is a superblock of its own, not the host's /dev/pts bound in.
    let host_pts = fs::metadata("/dev/pts").unwrap().dev();
    let pts = d.run_rm(&["busybox", "stat", "-c", "%d", "/dev/pts"]);
    assert_ne!(pts.trim(), host_pts.to_string(), "/dev/pts is the host's");
    d.run_rm(&[
        "busybox",
        "sh",
        "-c",
        "echo x > /dev/shm/f && cat /dev/shm/f",
    ]);
}

#[test]
fn only_loopback_in_the_default_network() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let links = d.run_rm(&["busybox", "ip", "-o", "link"]);
    let names: Vec<&str> = links
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(str::trim))
        .collect();
    assert_eq!(names, ["lo"], "{links}");
    let addrs = d.run_rm(&["busybox", "ip", "-o", "addr"]);
    assert!(addrs.contains("127.0.0.1"), "{addrs}");
    // Loopback works.
    d.run_rm(&["busybox", "ping", "-c", "1", "-W", "5", "127.0.0.1"]);
}

/// The host path of a container's cgroup for a v1 controller, from /proc/PID/cgroup.
fn cgroup_dir(pid: i32, controller: &str) -> std::path::PathBuf {
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = cgroups
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == controller))
        })
        .unwrap_or_else(|| panic!("no {controller} cgroup in:\n{cgroups}"));
    let (_, path) = line.split_once(&format!("{controller}:")).unwrap();
    std::path::Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
}

#[test]
fn limits_are_written_to_the_cgroup() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.run_detached(&[
        "--name",
        "limited",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "32",
        "busybox",
        "sleep",
        "1000",
    ]);
    let pid = d.container_pid("limited");
    let read = |controller: &str, file: &str| {
        let path = cgroup_dir(pid, controller).join(file);
        fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_owned()
    };
    assert_eq!(
        read("memory", "memory.limit_in_bytes"),
        (64 * 1024 * 1024).to_string()
    );
    assert_eq!(read("pids", "pids.max"), "32");
    let quota: i64 = read("cpu", "cpu.cfs_quota_us").parse().unwrap();
    let period: i64 = read("cpu", "cpu.cfs_period_us").parse().unwrap();
    assert_eq!(quota * 2, period, "--cpus 0.5 is half of each period");

    // The container's cgroups go away with it.
    let memory_dir = cgroup_dir(pid, "memory");
    d.berth(&["rm", "-f", "limited"]).ok();
    assert!(
        !memory_dir.exists(),
        "{} is left behind",
        memory_dir.display()
    );
}

#[test]
fn memory_limit_kills_with_137_and_reports_oom() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // dd allocates a 256 MiB buffer and fills it from /dev/zero: far over the 32 MiB limit.
    d.berth(&[
        "run",
        "--name",
        "hog",
        "-m",
        "32m",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=256M",
        "count=1",
    ])
    .code(137);
    let state = &d.inspect("hog")["State"];
    assert_eq!(state["OOMKilled"], true, "{state}");
    assert_eq!(state["ExitCode"], 137, "{state}");

    // Within the limit, the same command succeeds and is not reported as OOM-killed.
    d.berth(&[
        "run",
        "--name",
        "fits",
        "-m",
        "64m",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=1M",
        "count=1",
    ])
    .ok();
    assert_eq!(d.inspect("fits")["State"]["OOMKilled"], false);
}

#[test]
fn pids_limit_contains_a_fork_bomb() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // The bomb runs in a child shell; PID 1 then becomes sleep by exec, which needs no fork, so
    // the container outlives the bomb's failed forks.
    d.run_detached(&[
        "--name",
        "bomb",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        "sh -c 'bomb() { bomb | bomb & }; bomb'; exec sleep 1000",
    ]);
    let pids = cgroup_dir(d.container_pid("bomb"), "pids");
    let read = |file: &str| fs::read_to_string(pids.join(file)).unwrap_or_default();
    assert_eq!(read("pids.max").trim(), "20");
    // pids.events counts the forks the limit refused.
    eventually("the fork bomb to hit the limit", || {
        read("pids.events")
            .trim()
            .strip_prefix("max ")
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|refused| refused > 0)
    });
    let tasks = read("tasks").lines().count();
    assert!(tasks <= 20, "{tasks} tasks under --pids-limit 20");

    // The daemon still answers, and removes the container with every process of the bomb.
    assert!(d.ping());
    assert_eq!(d.state("bomb"), "running");
    d.berth(&["rm", "-f", "bomb"]).ok();
    assert!(d.container_ids().is_empty());
    assert!(!pids.exists(), "{} is left behind", pids.display());
}
