//! The v2 manager against a fake cgroupfs: plain files in a temp dir. The tests play the
//! kernel's part where one is needed (creating a new cgroup's interface files, reporting a
//! finished freeze) and read back what the manager wrote.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use berth_cgroups::stats::{BlkioDevice, PidsStats};
use berth_cgroups::{manager, CgroupError, ErrorKind, Hierarchy};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

const ALL_CONTROLLERS: &str = "cpuset cpu io memory hugetlb pids rdma misc";

struct FakeTree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl FakeTree {
    /// A root cgroup offering `controllers`, with nothing enabled for its children yet.
    fn new(controllers: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write(&root, "cgroup.controllers", &format!("{controllers}\n"));
        write(&root, "cgroup.subtree_control", "");
        FakeTree { _dir: dir, root }
    }

    fn hierarchy(&self) -> Hierarchy {
        Hierarchy::V2 {
            root: self.root.clone(),
        }
    }

    fn path(&self, cgroup: &str) -> PathBuf {
        self.root.join(cgroup.trim_start_matches('/'))
    }

    /// What the kernel would do on mkdir: give the new cgroup its interface files, those of
    /// the controllers its parent enabled plus the core ones.
    fn populate(&self, cgroup: &str, controllers: &[&str]) {
        let dir = self.path(cgroup);
        fs::create_dir_all(&dir).unwrap();
        write(
            &dir,
            "cgroup.controllers",
            &format!("{}\n", controllers.join(" ")),
        );
        write(&dir, "cgroup.subtree_control", "");
        write(&dir, "cgroup.procs", "");
        write(&dir, "cgroup.freeze", "0\n");
        write(&dir, "cgroup.events", "populated 0\nfrozen 0\n");
        write(
            &dir,
            "cpu.stat",
            "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
        );
        for controller in controllers {
            let files: &[(&str, &str)] = match *controller {
                "memory" => &[
                    ("memory.max", "max\n"),
                    ("memory.swap.max", "max\n"),
                    ("memory.low", "0\n"),
                    ("memory.current", "0\n"),
                    ("memory.stat", "anon 0\nfile 0\ninactive_file 0\n"),
                    (
                        "memory.events",
                        "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
                    ),
                ],
                "cpu" => &[
                    ("cpu.weight", "100\n"),
                    ("cpu.max", "max 100000\n"),
                    ("cpu.max.burst", "0\n"),
                    ("cpu.idle", "0\n"),
                ],
                "pids" => &[("pids.max", "max\n"), ("pids.current", "0\n")],
                "cpuset" => &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")],
                "io" => &[("io.stat", "")],
                _ => &[],
            };
            for (name, content) in files {
                write(&dir, name, content);
            }
        }
    }

    /// What the kernel does to interface files on rmdir: they go with the directory. A plain
    /// directory cannot be removed while they are there, so take them away first.
    fn drop_interface_files(&self, cgroup: &str) {
        for entry in fs::read_dir(self.path(cgroup)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                fs::remove_file(entry.path()).unwrap();
            }
        }
    }
}

fn write(dir: &Path, name: &str, content: &str) {
    fs::write(dir.join(name), content).unwrap();
}

fn read(path: PathBuf) -> String {
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn limits() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .swap(96 << 20)
                .reservation(32 << 20)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(2048u64)
                .quota(50_000)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(64).build().unwrap())
        .devices(berth_cgroups::docker_default_device_rules())
        .build()
        .unwrap()
}

const WANTED: &[&str] = &["cpuset", "cpu", "io", "memory", "pids"];

/// A tree where /berth already exists (a previous container made it) and the leaf is fresh.
fn tree_with_parent() -> FakeTree {
    let tree = FakeTree::new(ALL_CONTROLLERS);
    tree.populate("/berth", WANTED);
    tree
}

#[test]
fn create_enables_controllers_at_every_level_and_makes_the_cgroup() {
    let tree = tree_with_parent();
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();

    assert!(tree.path("/berth/c1").is_dir());
    // Only the controllers berth uses, and only those the level has.
    assert_eq!(
        read(tree.root.join("cgroup.subtree_control")),
        "+cpuset +cpu +io +memory +pids"
    );
    assert_eq!(
        read(tree.path("/berth/cgroup.subtree_control")),
        "+cpuset +cpu +io +memory +pids"
    );
    // Creating it again is harmless.
    cgroup.create().unwrap();
}

#[test]
fn controllers_already_enabled_are_not_written_again() {
    let tree = tree_with_parent();
    write(&tree.root, "cgroup.subtree_control", "cpu memory pids\n");
    manager(&tree.hierarchy(), "/berth/c1")
        .unwrap()
        .create()
        .unwrap();
    assert_eq!(
        read(tree.root.join("cgroup.subtree_control")),
        "+cpuset +io"
    );
}

#[test]
fn apply_writes_every_limit_in_v2_form() {
    let tree = tree_with_parent();
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();
    tree.populate("/berth/c1", WANTED);

    cgroup.apply(&limits()).unwrap();

    let file = |name: &str| read(tree.path("/berth/c1").join(name));
    assert_eq!(file("memory.max"), "67108864");
    assert_eq!(file("memory.swap.max"), (32u64 << 20).to_string());
    assert_eq!(file("memory.low"), "33554432");
    assert_eq!(file("cpu.weight"), "79");
    assert_eq!(file("cpu.max"), "50000 100000");
    assert_eq!(file("cpuset.cpus"), "0");
    assert_eq!(file("cpuset.mems"), "0");
    assert_eq!(file("pids.max"), "64");
}

#[test]
fn a_host_without_delegated_controllers_creates_fine_but_refuses_limits_clearly() {
    // Like a hybrid host's unified tree: only hugetlb, which berth does not use.
    let tree = FakeTree::new("hugetlb");
    tree.populate("/berth", &[]);
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();
    tree.populate("/berth/c1", &[]);
    assert_eq!(read(tree.root.join("cgroup.subtree_control")), "");

    let err = cgroup.apply(&limits()).unwrap_err();
    match &err {
        CgroupError::ControllerUnavailable {
            controller, path, ..
        } => {
            assert_eq!(*controller, "memory");
            assert_eq!(path, &tree.path("/berth/c1"));
        }
        other => panic!("unexpected error: {other}"),
    }
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("memory limit"), "{err}");

    // Freezing and CPU accounting are core v2 files and still work there.
    let oom = cgroup.oom_killed().unwrap_err();
    assert!(
        matches!(
            oom,
            CgroupError::ControllerUnavailable {
                controller: "memory",
                ..
            }
        ),
        "{oom}"
    );
    let stats = cgroup.stats().unwrap();
    assert!(stats.cpu.is_some());
    assert_eq!((stats.memory, stats.pids, stats.blkio), (None, None, None));
}

#[test]
fn without_swap_accounting_the_swap_limit_is_skipped() {
    let tree = tree_with_parent();
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();
    tree.populate("/berth/c1", WANTED);
    fs::remove_file(tree.path("/berth/c1/memory.swap.max")).unwrap();

    cgroup.apply(&limits()).unwrap();
    assert_eq!(read(tree.path("/berth/c1/memory.max")), "67108864");
    assert!(!tree.path("/berth/c1/memory.swap.max").exists());
}

#[test]
fn add_task_and_procs_use_cgroup_procs_including_nested_cgroups() {
    let tree = tree_with_parent();
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();
    tree.populate("/berth/c1", WANTED);

    cgroup.add_task(4242).unwrap();
    assert_eq!(read(tree.path("/berth/c1/cgroup.procs")), "4242");

    tree.populate("/berth/c1/inner", &[]);
    write(&tree.path("/berth/c1/inner"), "cgroup.procs", "7\n8\n");
    let mut procs = cgroup.procs().unwrap();
    procs.sort();
    assert_eq!(procs, [7, 8, 4242]);
}

#[test]
fn freeze_waits_for_the_kernel_and_thaw_undoes_it() {
    let tree = tree_with_parent();
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();
    tree.populate("/berth/c1", WANTED);
    let dir = tree.path("/berth/c1");

    for (wanted, frozen) in [("1", true), ("0", false)] {
        let kernel = play_freezer(dir.clone(), wanted);
        if frozen {
            cgroup.freeze().unwrap();
        } else {
            cgroup.thaw().unwrap();
        }
        kernel.join().unwrap();
        assert_eq!(read(dir.join("cgroup.freeze")), wanted);
        assert_eq!(cgroup.is_frozen().unwrap(), frozen);
    }
}

/// Plays the kernel: once `cgroup.freeze` holds `wanted`, reports the new state in
/// `cgroup.events`, as the kernel does when the last task has stopped.
fn play_freezer(dir: PathBuf, wanted: &'static str) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        // Bounded, so a manager that never writes cannot leave this thread behind.
        for _ in 0..20_000 {
            if fs::read_to_string(dir.join("cgroup.freeze"))
                .unwrap()
                .trim()
                == wanted
            {
                let frozen = if wanted == "1" { 1 } else { 0 };
                write(
                    &dir,
                    "cgroup.events",
                    &format!("populated 1\nfrozen {frozen}\n"),
                );
                return;
            }
            thread::sleep(Duration::from_millis(1));
        }
        panic!("the manager never wrote {wanted} to cgroup.freeze");
    })
}

#[test]
fn oom_killed_reads_the_memory_events_counter() {
    let tree = tree_with_parent();
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();
    tree.populate("/berth/c1", WANTED);
    assert!(!cgroup.oom_killed().unwrap());

    write(
        &tree.path("/berth/c1"),
        "memory.events",
        "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
    );
    assert!(cgroup.oom_killed().unwrap());
}

#[test]
fn stats_parse_what_the_files_hold() {
    let tree = tree_with_parent();
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();
    tree.populate("/berth/c1", WANTED);
    let dir = tree.path("/berth/c1");
    write(
        &dir,
        "cpu.stat",
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 3\nnr_throttled 1\nthrottled_usec 20\n",
    );
    write(&dir, "memory.current", "2097152\n");
    write(&dir, "memory.max", "67108864\n");
    write(&dir, "memory.peak", "3145728\n");
    write(
        &dir,
        "memory.stat",
        "anon 1048576\nfile 1048576\ninactive_file 524288\n",
    );
    write(&dir, "pids.current", "4\n");
    write(&dir, "pids.max", "64\n");
    write(
        &dir,
        "io.stat",
        "259:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
    );

    let stats = cgroup.stats().unwrap();
    let cpu = stats.cpu.unwrap();
    assert_eq!(cpu.usage_total_ns, 1_500_000);
    assert_eq!(cpu.throttling.unwrap().throttled_ns, 20_000);
    let memory = stats.memory.unwrap();
    assert_eq!(memory.usage, 2 << 20);
    assert_eq!(memory.limit, Some(64 << 20));
    assert_eq!(memory.max_usage, Some(3 << 20));
    assert_eq!(memory.inactive_file, 512 << 10);
    assert_eq!(memory.stat["anon"], 1 << 20);
    assert_eq!(
        stats.pids,
        Some(PidsStats {
            current: 4,
            limit: Some(64)
        })
    );
    assert_eq!(
        stats.blkio.unwrap().devices,
        [BlkioDevice {
            major: 259,
            minor: 0,
            read_bytes: 4096,
            write_bytes: 8192
        }]
    );
}

#[test]
fn remove_takes_nested_cgroups_and_tolerates_a_missing_one() {
    let tree = tree_with_parent();
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();
    fs::create_dir(tree.path("/berth/c1/inner")).unwrap();

    cgroup.remove().unwrap();
    assert!(!tree.path("/berth/c1").exists());
    assert!(
        tree.path("/berth").is_dir(),
        "the parent stays for other containers"
    );
    cgroup.remove().unwrap();
}

#[test]
fn remove_leaves_a_cgroup_that_is_not_empty_and_says_where() {
    let tree = tree_with_parent();
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();
    tree.populate("/berth/c1", WANTED);

    // Plain files stand in for a cgroup the kernel will not let go.
    let err = cgroup.remove().unwrap_err();
    assert!(
        matches!(&err, CgroupError::Io { op: "rmdir", path, .. } if *path == tree.path("/berth/c1")),
        "{err}"
    );
    tree.drop_interface_files("/berth/c1");
    cgroup.remove().unwrap();
    assert!(!tree.path("/berth/c1").exists());
}

#[test]
fn update_writes_v2_files_and_refuses_memory_below_what_is_held() {
    let tree = tree_with_parent();
    let cgroup = manager(&tree.hierarchy(), "/berth/c1").unwrap();
    cgroup.create().unwrap();
    tree.populate("/berth/c1", WANTED);
    write(&tree.path("/berth/c1"), "io.weight", "default 100\n");
    cgroup.apply(&limits()).unwrap();
    let file = |name: &str| read(tree.path("/berth/c1").join(name));

    // What `docker update -m 128m --memory-swap 256m --cpus 0.5 --pids-limit 99
    // --blkio-weight 500` asks for.
    let update = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(128 << 20)
                .swap(256 << 20)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .quota(50_000)
                .period(100_000u64)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(99).build().unwrap())
        .block_io(
            oci_spec::runtime::LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
        .devices(berth_cgroups::docker_default_device_rules())
        .build()
        .unwrap();
    cgroup.update(&update).unwrap();
    assert_eq!(file("memory.max"), (128u64 << 20).to_string());
    assert_eq!(file("memory.swap.max"), (128u64 << 20).to_string());
    assert_eq!(file("cpu.max"), "50000 100000");
    assert_eq!(file("pids.max"), "99");
    assert_eq!(file("io.weight"), "default 4950");

    // 100 MiB held, nothing of it reclaimable: a 64 MiB limit is refused, nothing written.
    write(&tree.path("/berth/c1"), "memory.current", "104857600\n");
    write(
        &tree.path("/berth/c1"),
        "memory.stat",
        "anon 104857600\nfile 0\nshmem 0\n",
    );
    let shrink = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let err = cgroup.update(&shrink).unwrap_err();
    assert!(matches!(err, CgroupError::MemoryInUse { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::System);
    assert_eq!(file("memory.max"), (128u64 << 20).to_string());
}
