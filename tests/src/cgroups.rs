//! A test daemon's own cgroup parent (`berthd --cgroup-parent`): every container cgroup it
//! makes is below it, so a test can list exactly what its daemon left in the cgroup tree
//! and in the processes of the host, with other tests' daemons running beside it.

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
