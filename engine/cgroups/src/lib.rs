//! cgroup v1 and v2 managers behind one trait, chosen at run time.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_cgroups::CgroupError> {
//! let hierarchy = berth_cgroups::detect()?;
//! let cgroup = berth_cgroups::manager(&hierarchy, "/berth/0123abcd")?;
//! cgroup.create()?;
//! cgroup.apply(&oci_spec::runtime::LinuxResources::default())?;
//! cgroup.add_task(1234)?;
//! # Ok(()) }
//! ```
//!
//! [`detect`] tells a pure v2 host (`/sys/fs/cgroup` is cgroup2) from a v1 one, reading the
//! v1 hierarchies from `/proc/self/mountinfo`. A "hybrid" host, with v1 controllers and an
//! empty cgroup2 tree at `/sys/fs/cgroup/unified`, is treated as v1.
//!
//! What each version does with [`oci_spec::runtime::LinuxResources`]:
//! - memory limit, memory+swap limit, reservation; CPU shares (v2: converted to a weight
//!   with [`shares_to_weight`]), quota and period, burst, idle; cpuset CPUs and memory
//!   nodes; the PIDs limit. v1 also takes swappiness, disabling the OOM killer and realtime
//!   CPU budgets; v2 also takes `unified` file values. The other version refuses these with
//!   [`CgroupError::Unsupported`].
//! - The swap limit is written only if the kernel accounts swap (`memory.memsw.*` on v1,
//!   `memory.swap.max` on v2); otherwise a warning is logged.
//! - Device rules: on v1 the cgroup first denies everything, then the rules are written in
//!   order to `devices.allow` / `devices.deny`. [`docker_default_device_rules`] is Docker's
//!   list. **On v2, device rules are not enforced yet**: that needs an eBPF program attached
//!   to the cgroup, which berth does not load. Rules other than "allow everything" log a
//!   warning once; the runtime creates only the allowed device nodes in the container's
//!   `/dev`, but a container with CAP_MKNOD could still create and open others.
//! - hugetlb, RDMA, net_cls/net_prio and block IO weights or throttles are not implemented:
//!   non-empty values are refused with [`CgroupError::Unsupported`].
//!
//! On v2, [`CgroupManager::create`] enables the cpuset, cpu, io, memory and pids controllers
//! in `cgroup.subtree_control` at each level above the container's cgroup. A controller the
//! host does not delegate (the hybrid host's unified tree has none) is only logged; a limit
//! that needs it then fails with [`CgroupError::ControllerUnavailable`].
//!
//! [`CgroupManager::stats`] reads and parses in separate steps (see [`stats`]), so that a
//! sampler can keep the files open and reuse the parsers: [`OpenStats`] is that source.

mod detect;
mod devices;
mod error;
mod fsio;
mod limits;
mod open_stats;
pub mod stats;
mod update;
mod v1;
mod v2;

use std::time::Duration;

use oci_spec::runtime::LinuxResources;

pub use detect::{detect, detect_at, Hierarchy, DEFAULT_ROOT};
pub use devices::docker_default_device_rules;
pub use error::{CgroupError, ErrorKind, ParseError, Result};
pub use limits::{blkio_weight_to_io_weight, shares_to_weight};
pub use open_stats::OpenStats;
pub use stats::CgroupStats;

/// How long freeze and thaw wait for the kernel to finish the transition.
const FREEZER_TIMEOUT: Duration = Duration::from_secs(10);

/// One cgroup, in whichever version the host runs. Nothing is cached: each call reads or
/// writes the cgroup files, so a manager made for an existing cgroup (after a daemon restart)
/// works as well as the one that created it.
pub trait CgroupManager: Send + Sync {
    /// Creates the cgroup and any missing parent (v1: in every hierarchy). Creating a cgroup
    /// that exists is not an error.
    fn create(&self) -> Result<()>;
    /// Writes the limits. Meant for a freshly created cgroup: [`update`](Self::update)
    /// changes those of a running one.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Changes the limits of a cgroup that may hold processes (`docker update`), in an order
    /// the kernel accepts from the current values; device rules are left alone. A memory
    /// limit below what the processes hold is [`CgroupError::MemoryInUse`].
    fn update(&self, resources: &LinuxResources) -> Result<()>;
    /// Moves a process (with all its threads) into the cgroup.
    fn add_task(&self, pid: i32) -> Result<()>;
    /// Opens `cgroup.procs` of the cgroup in every hierarchy (one on v2) for writing
    /// (close-on-exec). A process joins the cgroup by writing "0" (itself) to each, which
    /// lets a process that cannot be waited for by its parent (a vfork child) join on its
    /// own, and saves the opens when many processes join one cgroup.
    fn open_procs(&self) -> Result<Vec<std::os::fd::OwnedFd>>;
    /// The processes in the cgroup and in any cgroup below it.
    fn procs(&self) -> Result<Vec<i32>>;
    /// Freezes every process and returns once the kernel reports the cgroup frozen.
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn is_frozen(&self) -> Result<bool>;
    /// Whether the kernel's OOM killer has killed a process of this cgroup. Read it before
    /// [`remove`](Self::remove).
    fn oom_killed(&self) -> Result<bool>;
    fn stats(&self) -> Result<CgroupStats>;
    /// Removes the cgroup and any cgroup below it, in every hierarchy. A cgroup that is
    /// already gone is not an error; one that stays busy (live processes) is.
    fn remove(&self) -> Result<()>;
    /// The cgroup path this manager was made for, e.g. "/berth/<id>".
    fn path(&self) -> &str;
}

/// The manager for `cgroup_path` (absolute, relative to the hierarchy root, e.g.
/// "/berth/<id>"). Nothing is touched until a method is called.
pub fn manager(hierarchy: &Hierarchy, cgroup_path: &str) -> Result<Box<dyn CgroupManager>> {
    check_cgroup_path(cgroup_path)?;
    Ok(match hierarchy {
        Hierarchy::V1 { mounts } => Box::new(v1::V1Manager::new(mounts, cgroup_path)),
        Hierarchy::V2 { root } => Box::new(v2::V2Manager::new(root, cgroup_path)),
    })
}

fn check_cgroup_path(path: &str) -> Result<()> {
    let invalid = |reason| {
        Err(CgroupError::InvalidPath {
            path: path.to_string(),
            reason,
        })
    };
    let Some(relative) = path.strip_prefix('/') else {
        return invalid("it must start with /");
    };
    if relative.is_empty() {
        return invalid("it must name a cgroup below the root");
    }
    if path.contains('\0') {
        return invalid("it contains a NUL byte");
    }
    if relative
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return invalid("it must not contain empty, . or .. components");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths_must_stay_below_the_root() {
        let hierarchy = Hierarchy::V2 {
            root: DEFAULT_ROOT.into(),
        };
        for bad in [
            "",
            "/",
            "berth/x",
            "/berth/../etc",
            "/berth//x",
            "/berth/x/",
            "/./x",
            "/a\0b",
        ] {
            let err = manager(&hierarchy, bad).err().expect(bad);
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}: {err}");
        }
        let ok = manager(&hierarchy, "/berth/abc").unwrap();
        assert_eq!(ok.path(), "/berth/abc");
    }
}
