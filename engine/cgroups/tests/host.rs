//! The managers against this host's real cgroup filesystem (needs root). Each test makes its
//! own cgroup, "/berth-test-<pid>-<n>/ctr", and a guard removes it and kills its processes
//! however the test ends. The main scenario runs with whichever version the host has; a
//! hybrid host's empty unified tree is also driven through the v2 manager.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_cgroups::{detect, manager, CgroupError, CgroupManager, Hierarchy};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Owns a test cgroup tree and the processes put in it; dropping it cleans both up.
struct TestCgroup {
    hierarchy: Hierarchy,
    top: String,
    cgroup: Box<dyn CgroupManager>,
    children: Vec<Child>,
}

impl TestCgroup {
    fn new(hierarchy: Hierarchy) -> Self {
        let top = format!(
            "/berth-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let cgroup = manager(&hierarchy, &format!("{top}/ctr")).unwrap();
        TestCgroup {
            hierarchy,
            top,
            cgroup,
            children: Vec::new(),
        }
    }

    /// The directories of the whole test tree, one per hierarchy.
    fn top_dirs(&self) -> Vec<PathBuf> {
        let relative = self.top.trim_start_matches('/');
        match &self.hierarchy {
            Hierarchy::V1 { mounts } => mounts.values().map(|m| m.join(relative)).collect(),
            Hierarchy::V2 { root } => vec![root.join(relative)],
        }
    }

    /// A file of the container cgroup, in `controller`'s hierarchy on v1.
    fn file(&self, controller: &str, name: &str) -> PathBuf {
        let relative = format!("{}/ctr", self.top.trim_start_matches('/'));
        match &self.hierarchy {
            Hierarchy::V1 { mounts } => mounts[controller].join(relative).join(name),
            Hierarchy::V2 { root } => root.join(relative).join(name),
        }
    }

    fn read(&self, controller: &str, name: &str) -> String {
        let path = self.file(controller, name);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    }

    /// Starts `script` under sh, held at a `read` until [`Held::go`], and puts it in the
    /// cgroup, so that everything the script does is charged to the cgroup.
    fn start_held(&mut self, script: &str) -> Held {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("read go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        self.children.push(child);
        self.cgroup.add_task(pid).unwrap();
        Held { pid, stdin, stdout }
    }

    fn wait_last_child(&mut self) -> std::process::ExitStatus {
        self.children.last_mut().unwrap().wait().unwrap()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Frozen tasks cannot die, so thaw first; errors here are about a cgroup the test
        // already broke, and the test reports that itself.
        let _ = self.cgroup.thaw();
        let top = manager(&self.hierarchy, &self.top).unwrap();
        // Grandchildren the test left behind are in the cgroup too.
        for pid in top.procs().unwrap_or_default() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Err(e) = top.remove() {
            eprintln!("cleanup of {} failed: {e}", self.top);
        }
    }
}

struct Held {
    pid: i32,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Held {
    fn go(&mut self) {
        writeln!(self.stdin, "go").unwrap();
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }
}

fn resources(memory: i64, pids: i64) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(memory)
                .swap(memory)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(pids).build().unwrap())
        .devices(berth_cgroups::docker_default_device_rules())
        .build()
        .unwrap()
}

#[test]
fn limits_tasks_freezer_stats_and_removal_on_this_host() {
    if skipped_without_root() {
        return;
    }
    let hierarchy = detect().unwrap();
    let version = hierarchy.version();
    let mut test = TestCgroup::new(hierarchy);
    test.cgroup.create().unwrap();
    test.cgroup.apply(&resources(64 << 20, 16)).unwrap();

    if version == 1 {
        assert_eq!(test.read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(test.read("cpu", "cpu.shares"), "512");
        assert_eq!(test.read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(test.read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(test.read("cpuset", "cpuset.cpus"), "0");
        let devices = test.read("devices", "devices.list");
        assert!(devices.lines().any(|l| l == "c 1:3 rwm"), "{devices}");
        assert!(!devices.lines().any(|l| l == "a *:* rwm"), "{devices}");
    } else {
        assert_eq!(test.read("memory", "memory.max"), "67108864");
        assert_eq!(test.read("cpu", "cpu.max"), "50000 100000");
        assert_eq!(test.read("cpu", "cpu.weight"), "20");
        assert_eq!(test.read("cpuset", "cpuset.cpus"), "0");
    }
    assert_eq!(test.read("pids", "pids.max"), "16");

    // Write a file (page cache is charged to the cgroup and stays charged), then report.
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("charged");
    let mut held = test.start_held(&format!(
        "head -c 1048576 /dev/zero > {}; echo done; exec sleep 1000",
        file.display()
    ));
    assert!(test.cgroup.procs().unwrap().contains(&held.pid));
    let membership = std::fs::read_to_string(format!("/proc/{}/cgroup", held.pid)).unwrap();
    assert!(
        membership
            .lines()
            .any(|l| l.ends_with(&format!("{}/ctr", test.top))),
        "{membership}"
    );
    held.go();
    assert_eq!(held.read_line(), "done");

    let stats = test.cgroup.stats().unwrap();
    let cpu = stats.cpu.expect("cpu stats");
    assert!(cpu.usage_total_ns > 0, "{cpu:?}");
    let memory = stats.memory.expect("memory stats");
    assert!(memory.usage >= 1 << 20, "{memory:?}");
    assert_eq!(memory.limit, Some(64 << 20));
    let pids = stats.pids.expect("pids stats");
    assert_eq!((pids.current, pids.limit), (1, Some(16)));
    if version == 1 {
        assert!(cpu.per_cpu_ns.unwrap().iter().sum::<u64>() > 0);
    }
    assert!(!test.cgroup.oom_killed().unwrap());

    test.cgroup.freeze().unwrap();
    assert!(test.cgroup.is_frozen().unwrap());
    test.cgroup.thaw().unwrap();
    assert!(!test.cgroup.is_frozen().unwrap());

    // A cgroup with a live process cannot go; once it is dead, every hierarchy's copy goes.
    let busy = test.cgroup.remove().unwrap_err();
    assert!(
        matches!(busy, CgroupError::Io { op: "rmdir", .. }),
        "{busy}"
    );
    test.children.last_mut().unwrap().kill().unwrap();
    test.wait_last_child();
    test.cgroup.remove().unwrap();
    for top in test.top_dirs() {
        assert!(top.is_dir(), "{} went too", top.display());
        assert!(
            !top.join("ctr").exists(),
            "{} is left",
            top.join("ctr").display()
        );
    }
}

#[test]
fn memory_limit_ends_in_an_oom_kill_that_is_reported() {
    if skipped_without_root() {
        return;
    }
    let mut test = TestCgroup::new(detect().unwrap());
    test.cgroup.create().unwrap();
    test.cgroup.apply(&resources(16 << 20, 32)).unwrap();
    assert!(!test.cgroup.oom_killed().unwrap());

    // dd fills a 64 MiB buffer, four times the limit.
    let mut held = test.start_held("dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null");
    held.go();
    let status = test.wait_last_child();
    assert!(!status.success(), "dd survived a 16 MiB limit");
    assert!(test.cgroup.oom_killed().unwrap());
}

#[test]
fn pids_limit_stops_forks() {
    if skipped_without_root() {
        return;
    }
    let mut test = TestCgroup::new(detect().unwrap());
    test.cgroup.create().unwrap();
    test.cgroup.apply(&resources(64 << 20, 3)).unwrap();

    // sh and two background sleeps fill the limit, so the subshell cannot be forked. (The
    // sleeps must not hold stdout, or reading it to the end would wait for them.)
    let mut held = test.start_held(
        "sleep 1000 >/dev/null & sleep 1000 >/dev/null & echo started; (echo forked); echo after",
    );
    held.go();
    let mut output = String::new();
    std::io::Read::read_to_string(&mut held.stdout, &mut output).unwrap();
    test.wait_last_child();
    assert!(output.starts_with("started\n"), "{output:?}");
    assert!(!output.contains("forked"), "{output:?}");
    let pids = test.cgroup.stats().unwrap().pids.unwrap();
    assert_eq!(
        (pids.current, pids.limit),
        (2, Some(3)),
        "the two sleeps are left"
    );
}

/// A hybrid host also mounts an empty cgroup2 tree (at /sys/fs/cgroup/unified): the v2
/// manager runs on a real kernel there, with the core files only.
#[test]
fn v2_manager_on_the_hybrid_unified_tree() {
    if skipped_without_root() {
        return;
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let unified = mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let mount_point = before.split(' ').nth(4)?;
        (after.starts_with("cgroup2 ") && mount_point != "/sys/fs/cgroup")
            .then(|| PathBuf::from(mount_point))
    });
    let Some(root) = unified else {
        eprintln!("no separate cgroup2 mount on this host; the v2 scenario above covers it");
        return;
    };
    let mut test = TestCgroup::new(Hierarchy::V2 { root });
    test.cgroup.create().unwrap();

    let err = test.cgroup.apply(&resources(64 << 20, 16)).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::ControllerUnavailable {
                controller: "memory",
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        test.cgroup.oom_killed(),
        Err(CgroupError::ControllerUnavailable { .. })
    ));

    let mut held = test
        .start_held("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done; exec sleep 1000");
    assert_eq!(test.cgroup.procs().unwrap(), [held.pid]);
    held.go();
    assert_eq!(held.read_line(), "done");
    assert!(test.cgroup.stats().unwrap().cpu.unwrap().usage_total_ns > 0);

    test.cgroup.freeze().unwrap();
    assert!(test.cgroup.is_frozen().unwrap());
    test.cgroup.thaw().unwrap();
    assert!(!test.cgroup.is_frozen().unwrap());
}

/// Whether the calling test is skipped: it needs root (it sets owners, makes device nodes,
/// mounts or writes cgroups) and runs as a normal user. Says so on stderr, past the test
/// harness's capture, so that `cargo test` shows it.
fn skipped_without_root() -> bool {
    if rustix::process::geteuid().is_root() {
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

#[test]
fn update_changes_live_limits_and_refuses_memory_below_usage() {
    if skipped_without_root() {
        return;
    }
    let hierarchy = detect().unwrap();
    let version = hierarchy.version();
    let mut test = TestCgroup::new(hierarchy);
    test.cgroup.create().unwrap();
    test.cgroup.apply(&resources(64 << 20, 16)).unwrap();
    // 24 MiB in a tmpfs file the process keeps open: shmem, which only swap could free.
    let scratch = tempfile::tempdir().unwrap();
    let mount = scratch.path().join("shm");
    std::fs::create_dir(&mount).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&mount)
        .status()
        .unwrap();
    assert!(status.success());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let mut held = test.start_held(&format!(
        "head -c 25165824 /dev/zero > {}/fill; echo done; exec sleep 1000",
        mount.display()
    ));
    held.go();
    assert_eq!(held.read_line(), "done");

    // Growing memory and memory+swap past the old memory+swap limit needs memsw first on v1.
    test.cgroup.update(&resources(200 << 20, 32)).unwrap();
    let (limit_file, controller) = if version == 1 {
        ("memory.limit_in_bytes", "memory")
    } else {
        ("memory.max", "memory")
    };
    assert_eq!(
        test.read(controller, limit_file),
        (200u64 << 20).to_string()
    );
    assert_eq!(test.read("pids", "pids.max"), "32");

    let err = test.cgroup.update(&resources(8 << 20, 32)).unwrap_err();
    assert!(
        matches!(err, CgroupError::MemoryInUse { limit, usage, .. } if limit == 8 << 20 && usage >= 24 << 20),
        "{err}"
    );
    assert_eq!(
        test.read(controller, limit_file),
        (200u64 << 20).to_string()
    );
    test.children.last_mut().unwrap().kill().unwrap();
    test.wait_last_child();
    std::fs::remove_file(mount.join("fill")).unwrap();
    test.cgroup.remove().unwrap();
}
