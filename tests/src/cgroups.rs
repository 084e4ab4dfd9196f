//! A test daemon's own cgroup parent (`berthd --cgroup-parent`): every container cgroup it
//! makes is below it, so a test can list exactly what its daemon left in the cgroup tree
//! and in the processes of the host, with other tests' daemons running beside it. And a
//! container's limits as its cgroup files hold them, on either cgroup version.

use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// A cgroup parent no other test daemon uses: `/berth-t<pid>n<n>`.
pub fn unique_parent() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("/berth-t{}n{n}", std::process::id())
}

/// The directories of `parent` in every hierarchy (v2: one; v1: one per mounted
/// hierarchy) that exist.
pub fn parent_dirs(parent: &str) -> Vec<PathBuf> {
    let relative = parent.trim_start_matches('/');
    let root = Path::new(ROOT);
    let mut dirs = vec![root.join(relative)];
    if let Ok(hierarchies) = fs::read_dir(root) {
        dirs.extend(hierarchies.flatten().map(|h| h.path().join(relative)));
    }
    dirs.sort();
    dirs.dedup();
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

/// Every cgroup below `parent` in every hierarchy, deepest first.
pub fn cgroups_under(parent: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), found);
                found.push(entry.path());
            }
        }
    }
    let mut found = Vec::new();
    for dir in parent_dirs(parent) {
        walk(&dir, &mut found);
    }
    found
}

/// The processes of the host in a cgroup below `parent` (in any hierarchy), with their
/// command lines.
pub fn processes_under(parent: &str) -> Vec<(i32, String)> {
    let marker = format!(":{}/", parent.trim_end_matches('/'));
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cgroups) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            continue;
        };
        if cgroups.lines().any(|line| line.contains(&marker)) {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, cmdline.trim().to_owned()));
        }
    }
    found
}

/// Kills what runs below `parent` and removes it with every cgroup below it; what could
/// not be removed, as problems.
pub fn remove_parent(parent: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (pid, _) in processes_under(parent) {
        // SAFETY: kill(2) has no memory effects.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut dirs = cgroups_under(parent);
    dirs.extend(parent_dirs(parent));
    for dir in dirs {
        let mut attempts = 0;
        loop {
            match fs::remove_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if attempts < 50 => {
                    let _ = e;
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => {
                    problems.push(format!("rmdir {}: {e}", dir.display()));
                    break;
                }
            }
        }
    }
    problems
}

/// The host path of one of a container's cgroup files: on v1 in `controller`'s hierarchy
/// (`v1` file name), on v2 in the unified tree (`v2` file name).
pub fn cgroup_file(pid: i32, controller: &str, v1: &str, v2: &str) -> PathBuf {
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next(), fields.next(), fields.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        let path = path.trim_start_matches('/');
        if controllers.is_empty() && line.starts_with("0::") && !is_v1() {
            return PathBuf::from("/sys/fs/cgroup").join(path).join(v2);
        }
        if controllers.split(',').any(|c| c == controller) {
            return PathBuf::from("/sys/fs/cgroup")
                .join(controller)
                .join(path)
                .join(v1);
        }
    }
    panic!("no {controller} cgroup in:\n{cgroups}");
}

/// Whether the host mounts cgroup v1 hierarchies.
pub fn is_v1() -> bool {
    PathBuf::from("/sys/fs/cgroup/memory").is_dir()
}

fn read(path: PathBuf) -> String {
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// What a container's limits read as in its cgroup files, read from the host.
pub struct Limits {
    /// The container's PID 1 on the host.
    pub pid: i32,
}

impl Limits {
    pub fn memory(&self) -> String {
        read(cgroup_file(
            self.pid,
            "memory",
            "memory.limit_in_bytes",
            "memory.max",
        ))
    }

    /// v1: memory+swap; v2: swap alone (Docker's convention, memory+swap less memory).
    pub fn swap(&self) -> String {
        read(cgroup_file(
            self.pid,
            "memory",
            "memory.memsw.limit_in_bytes",
            "memory.swap.max",
        ))
    }

    pub fn reservation(&self) -> String {
        read(cgroup_file(
            self.pid,
            "memory",
            "memory.soft_limit_in_bytes",
            "memory.low",
        ))
    }

    /// (quota, period) as `cpu.max` or the two CFS files hold them.
    pub fn cpu_max(&self) -> String {
        if is_v1() {
            let quota = read(cgroup_file(self.pid, "cpu", "cpu.cfs_quota_us", ""));
            let period = read(cgroup_file(self.pid, "cpu", "cpu.cfs_period_us", ""));
            format!("{quota} {period}")
        } else {
            read(cgroup_file(self.pid, "cpu", "", "cpu.max"))
        }
    }

    pub fn shares(&self) -> String {
        read(cgroup_file(self.pid, "cpu", "cpu.shares", "cpu.weight"))
    }

    pub fn pids(&self) -> String {
        read(cgroup_file(self.pid, "pids", "pids.max", "pids.max"))
    }

    pub fn cpuset(&self) -> String {
        read(cgroup_file(
            self.pid,
            "cpuset",
            "cpuset.cpus",
            "cpuset.cpus",
        ))
    }
}
