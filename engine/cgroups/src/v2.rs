//! The cgroup v2 manager: one directory in the unified tree.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use crate::devices;
use crate::error::{CgroupError, Result};
use crate::fsio;
use crate::limits;
use crate::stats::{self, CgroupStats};
use crate::update;
use crate::{CgroupManager, FREEZER_TIMEOUT};

/// The controllers berth's limits and stats use, enabled for each level down to the
/// container's cgroup.
const WANTED_CONTROLLERS: &[&str] = &["cpuset", "cpu", "io", "memory", "pids"];

/// Device rules on v2 are not enforced yet; say so once per daemon, not once per container.
static DEVICE_RULES_WARNED: AtomicBool = AtomicBool::new(false);

pub(crate) struct V2Manager {
    root: PathBuf,
    cgroup_path: String,
    dir: PathBuf,
    freezer_timeout: Duration,
}

impl V2Manager {
    /// `cgroup_path` has been validated: absolute, normalised, not the root.
    pub(crate) fn new(root: &Path, cgroup_path: &str) -> Self {
        V2Manager {
            root: root.to_path_buf(),
            cgroup_path: cgroup_path.to_string(),
            dir: root.join(cgroup_path.trim_start_matches('/')),
            freezer_timeout: FREEZER_TIMEOUT,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn frozen_state(&self) -> Result<bool> {
        let path = self.file("cgroup.events");
        let text = fsio::read(&path)?;
        let frozen =
            stats::keyed_value(&text, "frozen").map_err(|e| fsio::parse_error(&path, e))?;
        Ok(frozen == Some(1))
    }

    /// Writes `cgroup.freeze` and waits for `cgroup.events` to agree. On timeout it puts the
    /// old value back, so a half-frozen cgroup is never left behind.
    fn set_frozen(&self, frozen: bool, op: &'static str) -> Result<()> {
        let freeze_file = self.file("cgroup.freeze");
        fsio::write(&freeze_file, if frozen { "1" } else { "0" })?;
        if fsio::wait_until(self.freezer_timeout, || Ok(self.frozen_state()? == frozen))? {
            return Ok(());
        }
        fsio::write(&freeze_file, if frozen { "0" } else { "1" })?;
        Err(CgroupError::FreezerTimeout {
            op,
            path: self.dir.clone(),
            wanted: if frozen { "frozen" } else { "thawed" },
        })
    }
}

/// Lets `dir`'s children use every wanted controller that `dir` itself has.
///
/// A controller that cannot be enabled (a host that gives berth none, as a hybrid host's
/// unified tree does; or a level that holds processes) is only logged here: the limit that
/// needs it then fails with [`CgroupError::ControllerUnavailable`].
fn enable_controllers_below(dir: &Path) -> Result<()> {
    let available = fsio::read(&dir.join("cgroup.controllers"))?;
    let subtree_control = dir.join("cgroup.subtree_control");
    let enabled = fsio::read(&subtree_control)?;
    let missing: Vec<&str> = WANTED_CONTROLLERS
        .iter()
        .copied()
        .filter(|c| available.split_whitespace().any(|a| a == *c))
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    if fsio::write_raw(&subtree_control, &all.join(" ")).is_ok() {
        return Ok(());
    }
    // One refused controller fails the whole write; enable the others one by one.
    for controller in missing {
        if let Err(e) = fsio::write_raw(&subtree_control, &format!("+{controller}")) {
            tracing::warn!(
                path = %subtree_control.display(),
                controller,
                error = %e,
                "cannot enable cgroup controller; limits that need it will fail"
            );
        }
    }
    Ok(())
}

impl CgroupManager for V2Manager {
    fn create(&self) -> Result<()> {
        let mut parent = self.root.clone();
        for level in fsio::chain_below(&self.root, &self.dir) {
            enable_controllers_below(&parent)?;
            fsio::mkdir(&level)?;
            parent = level;
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let plan = limits::plan_v2(resources)?;
        if let Some(rules) = resources.devices() {
            if !devices::allows_everything(rules)
                && !DEVICE_RULES_WARNED.swap(true, Ordering::Relaxed)
            {
                tracing::warn!(
                    "device rules are not enforced on cgroup v2 yet (that needs an eBPF program); \
                     containers can reach only the device nodes created in their /dev"
                );
            }
        }
        fsio::write_settings(
            &plan,
            |_| Ok(self.dir.clone()),
            "its files are missing here: the parent's cgroup.subtree_control does not enable it",
        )
    }

    fn update(&self, resources: &LinuxResources) -> Result<()> {
        let plan = update::plan_v2(resources)?;
        update::check_v2_memory(&plan, &self.dir)?;
        fsio::write_settings(
            &plan,
            |_| Ok(self.dir.clone()),
            "its files are missing here: the parent's cgroup.subtree_control does not enable it",
        )
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        fsio::write(&self.file("cgroup.procs"), &pid.to_string())
    }

    fn open_procs(&self) -> Result<Vec<std::os::fd::OwnedFd>> {
        Ok(vec![fsio::open_for_writing(&self.file("cgroup.procs"))?])
    }

    fn procs(&self) -> Result<Vec<i32>> {
        fsio::procs_recursive(&self.dir)
    }

    fn freeze(&self) -> Result<()> {
        self.set_frozen(true, "freeze")
    }

    fn thaw(&self) -> Result<()> {
        self.set_frozen(false, "thaw")
    }

    fn is_frozen(&self) -> Result<bool> {
        self.frozen_state()
    }

    fn oom_killed(&self) -> Result<bool> {
        let path = self.file("memory.events");
        let Some(text) = fsio::read_if_exists(&path)? else {
            return Err(CgroupError::ControllerUnavailable {
                resource: "the OOM kill count",
                controller: "memory",
                path: self.dir.clone(),
                reason: "memory.events is missing: the parent's cgroup.subtree_control does not enable it",
            });
        };
        let kills = stats::parse_oom_kills(&text).map_err(|e| fsio::parse_error(&path, e))?;
        Ok(kills > 0)
    }

    fn stats(&self) -> Result<CgroupStats> {
        let mut source = fsio::FileStatsSource::new(|file: stats::StatsFile| {
            file.v2_name().map(|name| self.file(name))
        });
        stats::collect_v2(&mut source)
    }

    fn remove(&self) -> Result<()> {
        fsio::remove_cgroup_tree(&self.dir)
    }

    fn path(&self) -> &str {
        &self.cgroup_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_freeze_that_never_completes_times_out_and_is_undone() {
        let root = tempfile::tempdir().unwrap();
        let mut manager = V2Manager::new(root.path(), "/stuck");
        manager.freezer_timeout = Duration::from_millis(20);
        fs::create_dir(&manager.dir).unwrap();
        fs::write(manager.file("cgroup.freeze"), "0").unwrap();
        fs::write(manager.file("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();

        let err = manager.freeze().unwrap_err();
        assert!(
            matches!(&err, CgroupError::FreezerTimeout { op: "freeze", wanted: "frozen", path } if *path == manager.dir),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(manager.file("cgroup.freeze")).unwrap(),
            "0"
        );
    }
}
