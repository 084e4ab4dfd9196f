//! What runs in the cgroup of a container that no supervisor manages: after a berthd
//! restart, processes a dead supervisor parented (reparented to init, their stdio gone with
//! the daemon that held it); after a start whose answer was lost with the supervisor, the
//! container it had forked (reparented to berthd, see `crate::supervision`); after a
//! removal, anything else. Nobody can manage them, so they are killed and the cgroup
//! removed: nothing runs unseen on the host, and no cgroup is left behind, busy or empty.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use berth_cgroups::CgroupManager;

use super::process::Process;

/// How long the killed processes may take to leave the cgroup.
const EMPTY_LIMIT: Duration = Duration::from_secs(10);
/// How long a killed process that has left its cgroup may take to become a zombie.
const REAP_LIMIT: Duration = Duration::from_secs(1);

/// Kills every process in `cgroup` and removes it once empty; returns how many processes
/// were killed. Blocking: it waits for the kernel.
pub fn kill_unmanaged(cgroup: &dyn CgroupManager) -> usize {
    let procs = |cgroup: &dyn CgroupManager| cgroup.procs().unwrap_or_default();
    let found = procs(cgroup);
    if !found.is_empty() {
        tracing::warn!(
            "cgroup {} holds {} process(es) no supervisor manages: killing them",
            cgroup.path(),
            found.len()
        );
        // A frozen process would not die until thawed (cgroup v1).
        if cgroup.is_frozen().unwrap_or(false) {
            if let Err(err) = cgroup.thaw() {
                tracing::warn!("thawing {}: {err}", cgroup.path());
            }
        }
        let deadline = Instant::now() + EMPTY_LIMIT;
        // The killed processes that are berthd's children are reaped once they have left:
        // no zombie is left to berthd.
        let mut killed: HashMap<i32, Process> = HashMap::new();
        loop {
            let left = procs(cgroup);
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                tracing::error!(
                    "cgroup {} still holds {left:?} after SIGKILL",
                    cgroup.path()
                );
                break;
            }
            for pid in left {
                // By pidfd: a PID that was reused meanwhile is not ours to kill, and the
                // open fails or names a process outside the cgroup only if it already left.
                if let Ok(process) = Process::open(pid) {
                    if let Err(err) = process.signal(libc::SIGKILL) {
                        tracing::warn!("{err}");
                    }
                    killed.entry(pid).or_insert(process);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for process in killed.values() {
            process.reap_blocking(REAP_LIMIT);
        }
    }
    if let Err(err) = cgroup.remove() {
        tracing::warn!("removing cgroup {}: {err}", cgroup.path());
    }
    found.len()
}
