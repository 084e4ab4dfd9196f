//! cgroups to sample, three ways:
//! - [`InMemoryV1`]: a [`StatsSource`] over fixed texts, so a pass measures the parsers alone;
//! - [`FakeV1Tree`]: N cgroups as plain files in a temporary directory, read through the real
//!   v1 manager (open, read, parse each file, as `CgroupManager::stats` does today);
//! - [`HostCgroups`]: N real cgroups on this host (root only), removed on drop.
//!
//! The file texts are those of a small idle container on a cgroup v1 host (kernel 6.x).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use berth_cgroups::stats::{StatsFile, StatsSource};
use berth_cgroups::{CgroupManager, Hierarchy};

/// The v1 hierarchies `CgroupManager::stats` reads from.
pub const V1_CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "pids", "blkio"];

pub const V1_MEMORY_STAT: &str = "cache 180224\nrss 135168\nrss_huge 0\nshmem 0\n\
mapped_file 0\ndirty 0\nwriteback 0\nworkingset_refault_anon 0\nworkingset_refault_file 0\n\
swap 0\nswapcached 0\npgpgin 165\npgpgout 88\npgfault 264\npgmajfault 0\ninactive_anon 135168\n\
active_anon 0\ninactive_file 180224\nactive_file 0\nunevictable 0\n\
hierarchical_memory_limit 9223372036854771712\nhierarchical_memsw_limit 9223372036854771712\n\
total_cache 180224\ntotal_rss 135168\ntotal_rss_huge 0\ntotal_shmem 0\ntotal_mapped_file 0\n\
total_dirty 0\ntotal_writeback 0\ntotal_workingset_refault_anon 0\n\
total_workingset_refault_file 0\ntotal_swap 0\ntotal_swapcached 0\ntotal_pgpgin 165\n\
total_pgpgout 88\ntotal_pgfault 264\ntotal_pgmajfault 0\ntotal_inactive_anon 135168\n\
total_active_anon 0\ntotal_inactive_file 180224\ntotal_active_file 0\ntotal_unevictable 0\n";

/// The text of each v1 stats file of one idle container.
pub fn v1_text(file: StatsFile) -> &'static str {
    match file {
        StatsFile::CpuacctUsage => "1893412\n",
        StatsFile::CpuacctUsagePercpu => "1204311 689101 \n",
        StatsFile::CpuacctStat => "user 0\nsystem 0\n",
        StatsFile::CpuStat => {
            "nr_periods 0\nnr_throttled 0\nthrottled_time 0\nnr_bursts 0\nburst_time 0\n"
        }
        StatsFile::MemoryUsage => "512000\n",
        StatsFile::MemoryMaxUsage => "1036288\n",
        StatsFile::MemoryLimit => "9223372036854771712\n",
        StatsFile::MemoryStat => V1_MEMORY_STAT,
        StatsFile::PidsCurrent => "1\n",
        StatsFile::PidsMax => "max\n",
        StatsFile::IoBytes => {
            "8:0 Read 4096\n8:0 Write 0\n8:0 Sync 4096\n8:0 Async 0\n\
8:0 Discard 0\n8:0 Total 4096\nTotal 4096\n"
        }
    }
}

/// Serves [`v1_text`] without touching a filesystem.
pub struct InMemoryV1;

impl StatsSource for InMemoryV1 {
    fn read(&mut self, file: StatsFile) -> berth_cgroups::Result<Option<&str>> {
        Ok(Some(v1_text(file)))
    }

    fn path(&self, file: StatsFile) -> PathBuf {
        PathBuf::from(format!("<in memory {file:?}>"))
    }
}

/// `count` container cgroups, `/berth/bench-<i>`, written as plain files in a v1 layout
/// (one directory per controller) under a temporary directory.
pub struct FakeV1Tree {
    dir: tempfile::TempDir,
    count: usize,
}

impl FakeV1Tree {
    pub fn new(count: usize) -> io::Result<FakeV1Tree> {
        let dir = tempfile::tempdir()?;
        let tree = FakeV1Tree { dir, count };
        for path in tree.cgroup_paths() {
            for file in StatsFile::V1 {
                let (controller, name) = file
                    .v1_location()
                    .expect("every v1 stats file has a v1 location");
                let cgroup_dir = tree
                    .dir
                    .path()
                    .join(controller)
                    .join(path.trim_start_matches('/'));
                fs::create_dir_all(&cgroup_dir)?;
                fs::write(cgroup_dir.join(name), v1_text(*file))?;
            }
        }
        Ok(tree)
    }

    pub fn hierarchy(&self) -> Hierarchy {
        Hierarchy::V1 {
            mounts: mounts_under(self.dir.path()),
        }
    }

    pub fn cgroup_paths(&self) -> Vec<String> {
        (0..self.count)
            .map(|i| format!("/berth/bench-{i}"))
            .collect()
    }
}

fn mounts_under(root: &Path) -> BTreeMap<String, PathBuf> {
    V1_CONTROLLERS
        .iter()
        .map(|c| (c.to_string(), root.join(c)))
        .collect()
}

/// `count` real, empty cgroups under `/berth-bench-<pid>/` in this host's hierarchy, made
/// with berth's own manager. Dropping it removes them.
pub struct HostCgroups {
    hierarchy: Hierarchy,
    top: String,
    managers: Vec<Box<dyn CgroupManager>>,
}

impl HostCgroups {
    pub fn new(count: usize) -> berth_cgroups::Result<HostCgroups> {
        let hierarchy = berth_cgroups::detect()?;
        let top = format!("/berth-bench-{}", std::process::id());
        let mut cgroups = HostCgroups {
            hierarchy,
            top,
            managers: Vec::with_capacity(count),
        };
        for i in 0..count {
            let manager =
                berth_cgroups::manager(&cgroups.hierarchy, &format!("{}/c{i}", cgroups.top))?;
            // Pushed before create so that a half-made set is still removed by Drop.
            cgroups.managers.push(manager);
            cgroups.managers[i].create()?;
        }
        Ok(cgroups)
    }

    pub fn managers(&self) -> &[Box<dyn CgroupManager>] {
        &self.managers
    }

    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }
}

impl Drop for HostCgroups {
    fn drop(&mut self) {
        for manager in &self.managers {
            if let Err(err) = manager.remove() {
                eprintln!("removing benchmark cgroup {}: {err}", manager.path());
            }
        }
        if let Ok(top) = berth_cgroups::manager(&self.hierarchy, &self.top) {
            if let Err(err) = top.remove() {
                eprintln!("removing benchmark cgroup {}: {err}", self.top);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_texts_parse_into_a_full_sample() {
        let stats = berth_cgroups::stats::collect_v1(&mut InMemoryV1).unwrap();
        let memory = stats.memory.unwrap();
        assert_eq!(memory.usage, 512000);
        assert_eq!(memory.limit, None, "the v1 'unlimited' value reads as none");
        assert_eq!(memory.inactive_file, 180224);
        assert_eq!(stats.cpu.unwrap().per_cpu_ns.unwrap().len(), 2);
        assert_eq!(stats.pids.unwrap().current, 1);
        assert_eq!(stats.blkio.unwrap().devices.len(), 1);
    }

    #[test]
    fn fake_tree_is_read_through_the_v1_manager() {
        let tree = FakeV1Tree::new(3).unwrap();
        let hierarchy = tree.hierarchy();
        let expected = berth_cgroups::stats::collect_v1(&mut InMemoryV1).unwrap();
        for path in tree.cgroup_paths() {
            let manager = berth_cgroups::manager(&hierarchy, &path).unwrap();
            assert_eq!(manager.stats().unwrap(), expected);
        }
    }

    #[test]
    fn host_cgroups_are_made_and_removed() {
        if !crate::is_root() {
            eprintln!("skipped: needs root to create cgroups");
            return;
        }
        let cgroups = HostCgroups::new(2).unwrap();
        for manager in cgroups.managers() {
            let stats = manager.stats().unwrap();
            assert_eq!(stats.pids.map(|p| p.current), Some(0));
        }
        let top = cgroups.top.clone();
        let dirs: Vec<PathBuf> = match cgroups.hierarchy() {
            Hierarchy::V1 { mounts } => mounts
                .values()
                .map(|m| m.join(top.trim_start_matches('/')))
                .collect(),
            Hierarchy::V2 { root } => vec![root.join(top.trim_start_matches('/'))],
        };
        assert!(dirs.iter().any(|d| d.is_dir()));
        drop(cgroups);
        for dir in dirs {
            assert!(!dir.exists(), "{} was left behind", dir.display());
        }
    }
}
