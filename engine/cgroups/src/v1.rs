//! The cgroup v1 manager: one directory per hierarchy, at the same relative path in each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::error::{CgroupError, Result};
use crate::fsio;
use crate::limits;
use crate::stats::{self, CgroupStats};
use crate::update;
use crate::{CgroupManager, FREEZER_TIMEOUT};

/// Where `procs` reads the member list; any hierarchy would do, these always hold every task.
const PROCS_HIERARCHY_PREFERENCE: &[&str] = &["pids", "memory", "freezer", "cpu"];

pub(crate) struct V1Manager {
    cgroup_path: String,
    /// Hierarchy name → its mount point, as detected.
    mounts: BTreeMap<String, PathBuf>,
    /// Hierarchy name → this cgroup's directory in it.
    dirs: BTreeMap<String, PathBuf>,
}

impl V1Manager {
    /// `cgroup_path` has been validated: absolute, normalised, not the root.
    pub(crate) fn new(mounts: &BTreeMap<String, PathBuf>, cgroup_path: &str) -> Self {
        let relative = cgroup_path.trim_start_matches('/');
        V1Manager {
            cgroup_path: cgroup_path.to_string(),
            mounts: mounts.clone(),
            dirs: mounts
                .iter()
                .map(|(name, mount)| (name.clone(), mount.join(relative)))
                .collect(),
        }
    }

    /// Each hierarchy once, as (mount point, this cgroup's directory): co-mounted controllers
    /// such as "cpu,cpuacct" share a directory.
    fn hierarchies(&self) -> Vec<(&Path, &Path)> {
        let mut seen: Vec<(&Path, &Path)> = Vec::new();
        for (name, dir) in &self.dirs {
            if !seen.iter().any(|(_, d)| *d == dir.as_path()) {
                seen.push((self.mounts[name].as_path(), dir.as_path()));
            }
        }
        seen
    }

    fn dir_of(&self, controller: &'static str, resource: &'static str) -> Result<&Path> {
        self.dirs
            .get(controller)
            .map(PathBuf::as_path)
            .ok_or_else(|| CgroupError::ControllerUnavailable {
                resource,
                controller,
                path: PathBuf::from(&self.cgroup_path),
                reason: "that hierarchy is not mounted on this host",
            })
    }

    fn freezer_state(&self) -> Result<String> {
        let path = self.dir_of("freezer", "the freezer")?.join("freezer.state");
        Ok(fsio::read(&path)?.trim().to_string())
    }

    /// Writes `freezer.state` and waits for the kernel to finish the transition (FREEZING
    /// becomes FROZEN once every task has stopped). On timeout it puts the old state back.
    fn set_state(&self, wanted: &'static str, undo: &'static str, op: &'static str) -> Result<()> {
        let path = self.dir_of("freezer", "the freezer")?.join("freezer.state");
        fsio::write(&path, wanted)?;
        if fsio::wait_until(FREEZER_TIMEOUT, || Ok(self.freezer_state()? == wanted))? {
            return Ok(());
        }
        fsio::write(&path, undo)?;
        Err(CgroupError::FreezerTimeout {
            op,
            path: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            wanted,
        })
    }
}

/// A new cpuset cgroup starts with no CPUs and no memory nodes, and a task cannot join it
/// until both are set: inherit them from the parent.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        if fsio::read(&own)?.trim().is_empty() {
            let inherited = fsio::read(&parent.join(file))?;
            fsio::write(&own, inherited.trim())?;
        }
    }
    Ok(())
}

impl CgroupManager for V1Manager {
    fn create(&self) -> Result<()> {
        let cpuset_mount = self.mounts.get("cpuset");
        for (mount, dir) in self.hierarchies() {
            for level in fsio::chain_below(mount, dir) {
                fsio::mkdir(&level)?;
                if cpuset_mount.is_some_and(|m| m == mount) {
                    inherit_cpuset(&level)?;
                }
            }
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let plan = limits::plan_v1(resources)?;
        fsio::write_settings(
            &plan,
            |setting| {
                Ok(self
                    .dir_of(setting.controller, setting.resource)?
                    .to_path_buf())
            },
            "this kernel does not provide the file for it",
        )
    }

    fn update(&self, resources: &LinuxResources) -> Result<()> {
        let plan = update::plan_v1(resources, || {
            let path = self
                .dir_of("memory", "memory limit")?
                .join("memory.limit_in_bytes");
            let text = fsio::read(&path)?;
            text.trim()
                .parse()
                .map_err(|_| fsio::parse_error(&path, crate::ParseError::new("not a byte count")))
        })?;
        update::write_v1(&plan, |setting| {
            Ok(self
                .dir_of(setting.controller, setting.resource)?
                .to_path_buf())
        })
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for (_, dir) in self.hierarchies() {
            fsio::write(&dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    fn open_procs(&self) -> Result<Vec<std::os::fd::OwnedFd>> {
        self.hierarchies()
            .into_iter()
            .map(|(_, dir)| fsio::open_for_writing(&dir.join("cgroup.procs")))
            .collect()
    }

    fn procs(&self) -> Result<Vec<i32>> {
        let dir = PROCS_HIERARCHY_PREFERENCE
            .iter()
            .find_map(|name| self.dirs.get(*name))
            .or_else(|| self.dirs.values().next())
            .ok_or_else(|| {
                CgroupError::NoHierarchy("no cgroup v1 hierarchy is mounted".to_string())
            })?;
        fsio::procs_recursive(dir)
    }

    fn freeze(&self) -> Result<()> {
        self.set_state("FROZEN", "THAWED", "freeze")
    }

    fn thaw(&self) -> Result<()> {
        self.set_state("THAWED", "FROZEN", "thaw")
    }

    fn is_frozen(&self) -> Result<bool> {
        Ok(self.freezer_state()? == "FROZEN")
    }

    fn oom_killed(&self) -> Result<bool> {
        let path = self
            .dir_of("memory", "the OOM kill count")?
            .join("memory.oom_control");
        let text = fsio::read(&path)?;
        let kills = stats::parse_oom_kills(&text).map_err(|e| fsio::parse_error(&path, e))?;
        Ok(kills > 0)
    }

    fn stats(&self) -> Result<CgroupStats> {
        let mut source = fsio::FileStatsSource::new(|file: stats::StatsFile| {
            let (controller, name) = file.v1_location()?;
            self.dirs.get(controller).map(|dir| dir.join(name))
        });
        stats::collect_v1(&mut source)
    }

    fn remove(&self) -> Result<()> {
        // Try every hierarchy even if one fails, so one stuck directory leaves no others.
        let mut first_error = None;
        for (_, dir) in self.hierarchies() {
            if let Err(e) = fsio::remove_cgroup_tree(dir) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn path(&self) -> &str {
        &self.cgroup_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxPidsBuilder, LinuxResourcesBuilder};
    use std::fs;

    /// A fake v1 layout: cpu and cpuacct co-mounted, cpuset and memory on their own.
    fn fake_mounts(root: &Path) -> BTreeMap<String, PathBuf> {
        let mut mounts = BTreeMap::new();
        for (name, dir) in [
            ("cpu", "cpu,cpuacct"),
            ("cpuacct", "cpu,cpuacct"),
            ("cpuset", "cpuset"),
            ("memory", "memory"),
            ("freezer", "freezer"),
        ] {
            fs::create_dir_all(root.join(dir)).unwrap();
            mounts.insert(name.to_string(), root.join(dir));
        }
        mounts
    }

    #[test]
    fn create_makes_each_hierarchy_once_and_inherits_cpuset_values_at_every_level() {
        let root = tempfile::tempdir().unwrap();
        let mounts = fake_mounts(root.path());
        let cpuset = &mounts["cpuset"];
        fs::write(cpuset.join("cpuset.cpus"), "0-1\n").unwrap();
        fs::write(cpuset.join("cpuset.mems"), "0\n").unwrap();
        // The kernel gives new cpuset cgroups empty files; the fake levels exist already.
        for level in ["berth", "berth/c1"] {
            fs::create_dir_all(cpuset.join(level)).unwrap();
            fs::write(cpuset.join(level).join("cpuset.cpus"), "\n").unwrap();
            fs::write(cpuset.join(level).join("cpuset.mems"), "\n").unwrap();
        }

        let manager = V1Manager::new(&mounts, "/berth/c1");
        manager.create().unwrap();

        assert_eq!(
            manager.hierarchies().len(),
            4,
            "cpu and cpuacct share one directory"
        );
        for dir in ["cpu,cpuacct", "memory", "freezer"] {
            assert!(root.path().join(dir).join("berth/c1").is_dir(), "{dir}");
        }
        for level in ["berth", "berth/c1"] {
            let read = |file: &str| fs::read_to_string(cpuset.join(level).join(file)).unwrap();
            assert_eq!(read("cpuset.cpus"), "0-1", "{level}");
            assert_eq!(read("cpuset.mems"), "0", "{level}");
        }
    }

    #[test]
    fn a_limit_for_an_unmounted_hierarchy_is_refused_by_name() {
        let root = tempfile::tempdir().unwrap();
        let manager = V1Manager::new(&fake_mounts(root.path()), "/berth/c1");
        let resources = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
            .build()
            .unwrap();
        let err = manager.apply(&resources).unwrap_err();
        assert!(
            matches!(
                err,
                CgroupError::ControllerUnavailable {
                    controller: "pids",
                    ..
                }
            ),
            "{err}"
        );
    }
}
