//! Changing the limits of a cgroup that has processes (`docker update`). The files are those
//! of a create ([`crate::limits`]); what differs is the order and the checks:
//!
//! - v1 demands `memory.memsw.limit_in_bytes ≥ memory.limit_in_bytes` after every write, so
//!   when the memory+swap limit grows past the current memory limit it is written first, and
//!   otherwise after (runc's order).
//! - A memory limit below what the processes hold cannot be honoured. v1 answers the write
//!   with EBUSY once reclaim fails; v2 accepts it and OOM-kills. Both are reported as
//!   [`CgroupError::MemoryInUse`] before anything is killed: on v2 the new limit is compared
//!   first with the memory reclaim cannot free (usage less unmapped page cache).
//! - Device rules are never rewritten: an update changes resource limits only.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::error::{CgroupError, Result};
use crate::fsio;
use crate::limits::{self, Setting};
use crate::stats;

const V1_MEMORY_LIMIT: &str = "memory.limit_in_bytes";
const V1_MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";

/// The v1 plan of an update, ordered for the cgroup's current memory limit
/// (`current_limit`, read from `memory.limit_in_bytes`).
pub(crate) fn plan_v1(
    resources: &LinuxResources,
    current_limit: impl FnOnce() -> Result<u64>,
) -> Result<Vec<Setting>> {
    let mut plan = limits::plan_v1(resources)?;
    plan.retain(|s| s.controller != "devices");
    let position = |plan: &[Setting], file: &str| plan.iter().position(|s| s.file == file);
    if let (Some(memory), Some(memsw)) = (
        position(&plan, V1_MEMORY_LIMIT),
        position(&plan, V1_MEMSW_LIMIT),
    ) {
        let swap_first = match plan[memsw].value.parse::<i64>() {
            Ok(-1) => true,
            Ok(swap) => current_limit()? < swap as u64,
            Err(_) => false,
        };
        if swap_first && memsw > memory {
            let setting = plan.remove(memsw);
            plan.insert(memory, setting);
        }
    }
    Ok(plan)
}

/// The v2 plan of an update: the create's, without device rules (eBPF on v2 anyway).
pub(crate) fn plan_v2(resources: &LinuxResources) -> Result<Vec<Setting>> {
    limits::plan_v2(resources)
}

/// Carries out a v1 update plan; a memory limit the kernel refuses as busy becomes
/// [`CgroupError::MemoryInUse`] with the usage it had.
pub(crate) fn write_v1(
    plan: &[Setting],
    dir_of: impl Fn(&Setting) -> Result<PathBuf>,
) -> Result<()> {
    for setting in plan {
        let dir = dir_of(setting)?;
        let single = std::slice::from_ref(setting);
        match fsio::write_settings(single, |_| Ok(dir.clone()), "that hierarchy is missing") {
            Err(CgroupError::Io { source, .. })
                if setting.file == V1_MEMORY_LIMIT
                    && source.raw_os_error() == Some(libc::EBUSY) =>
            {
                let read = |file: &str| -> Result<u64> {
                    let path = dir.join(file);
                    let text = fsio::read(&path)?;
                    text.trim().parse().map_err(|_| {
                        fsio::parse_error(&path, crate::ParseError::new("not a byte count"))
                    })
                };
                return Err(CgroupError::MemoryInUse {
                    limit: setting.value.parse().unwrap_or(0),
                    usage: read("memory.usage_in_bytes")?,
                    peak: read("memory.max_usage_in_bytes")?,
                });
            }
            other => other?,
        }
    }
    Ok(())
}

/// Refuses a v2 `memory.max` below what the cgroup's processes hold and reclaim cannot free.
pub(crate) fn check_v2_memory(plan: &[Setting], dir: &Path) -> Result<()> {
    let Some(limit) = plan
        .iter()
        .find(|s| s.file == "memory.max")
        .and_then(|s| s.value.parse::<u64>().ok())
    else {
        return Ok(());
    };
    let read_number = |file: &str| -> Result<Option<u64>> {
        let path = dir.join(file);
        let Some(text) = fsio::read_if_exists(&path)? else {
            return Ok(None);
        };
        text.trim()
            .parse()
            .map(Some)
            .map_err(|_| fsio::parse_error(&path, crate::ParseError::new("not a byte count")))
    };
    let Some(usage) = read_number("memory.current")? else {
        return Ok(());
    };
    let stat_path = dir.join("memory.stat");
    let stat = fsio::read_if_exists(&stat_path)?.unwrap_or_default();
    let stat_value = |key| {
        stats::keyed_value(&stat, key)
            .map(Option::unwrap_or_default)
            .map_err(|e| fsio::parse_error(&stat_path, e))
    };
    // `file` counts shmem (tmpfs, /dev/shm), which only swap could free.
    let reclaimable = stat_value("file")?.saturating_sub(stat_value("shmem")?);
    if limit < usage.saturating_sub(reclaimable) {
        return Err(CgroupError::MemoryInUse {
            limit,
            usage,
            peak: read_number("memory.peak")?.unwrap_or(usage),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
        LinuxResourcesBuilder,
    };
    use std::fs;

    fn memory(limit: i64, swap: i64) -> LinuxResources {
        LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(limit)
                    .swap(swap)
                    .build()
                    .unwrap(),
            )
            .devices(crate::docker_default_device_rules())
            .build()
            .unwrap()
    }

    fn files(plan: &[Setting]) -> Vec<&str> {
        plan.iter().map(|s| s.file.as_str()).collect()
    }

    #[test]
    fn v1_writes_memsw_first_when_it_grows_past_the_current_limit() {
        // 64m (memsw 128m) → 300m (memsw 500m): memory first would exceed the old memsw.
        let plan = plan_v1(&memory(300 << 20, 500 << 20), || Ok(64 << 20)).unwrap();
        assert_eq!(files(&plan), [V1_MEMSW_LIMIT, V1_MEMORY_LIMIT]);
        // Shrinking to 32m (memsw 48m) under a 64m limit: memory first.
        let plan = plan_v1(&memory(32 << 20, 48 << 20), || Ok(64 << 20)).unwrap();
        assert_eq!(files(&plan), [V1_MEMORY_LIMIT, V1_MEMSW_LIMIT]);
        // Unlimited swap always goes first.
        let plan = plan_v1(&memory(32 << 20, -1), || panic!("not needed")).unwrap();
        assert_eq!(files(&plan), [V1_MEMSW_LIMIT, V1_MEMORY_LIMIT]);
    }

    #[test]
    fn updates_never_rewrite_device_rules() {
        let plan = plan_v1(&memory(32 << 20, 64 << 20), || Ok(0)).unwrap();
        assert!(plan.iter().all(|s| s.controller == "memory"), "{plan:?}");
    }

    #[test]
    fn every_update_field_has_its_v1_and_v2_file() {
        let resources = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(100 << 20)
                    .swap(200 << 20)
                    .reservation(50 << 20)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512u64)
                    .period(50_000u64)
                    .quota(25_000)
                    .cpus("0")
                    .mems("0")
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(42).build().unwrap())
            .block_io(
                LinuxBlockIoBuilder::default()
                    .weight(300u16)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let v1 = plan_v1(&resources, || Ok(0)).unwrap();
        let pairs = |plan: &[Setting]| -> Vec<(String, String)> {
            plan.iter()
                .map(|s| (s.file.clone(), s.value.clone()))
                .collect()
        };
        let expect = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            pairs(&v1),
            expect(&[
                ("memory.memsw.limit_in_bytes", "209715200"),
                ("memory.limit_in_bytes", "104857600"),
                ("memory.soft_limit_in_bytes", "52428800"),
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "50000"),
                ("cpu.cfs_quota_us", "25000"),
                ("cpuset.cpus", "0"),
                ("cpuset.mems", "0"),
                ("pids.max", "42"),
                ("blkio.weight", "300"),
            ])
        );
        assert_eq!(
            pairs(&plan_v2(&resources).unwrap()),
            expect(&[
                ("memory.max", "104857600"),
                ("memory.swap.max", "104857600"),
                ("memory.low", "52428800"),
                ("cpu.weight", "20"),
                ("cpu.max", "25000 50000"),
                ("cpuset.cpus", "0"),
                ("cpuset.mems", "0"),
                ("pids.max", "42"),
                ("io.weight", "default 2930"),
            ])
        );
    }

    #[test]
    fn v1_write_errors_other_than_busy_name_the_file() {
        // Only the kernel answers EBUSY (the integration tests see that); any other failure,
        // here EISDIR, stays an I/O error naming the file.
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(V1_MEMORY_LIMIT)).unwrap();
        let plan = plan_v1(&memory(10 << 20, 20 << 20), || Ok(64 << 20)).unwrap();
        let err = write_v1(&plan, |_| Ok(dir.path().to_path_buf())).unwrap_err();
        assert!(
            matches!(&err, CgroupError::Io { path, .. } if path.ends_with(V1_MEMORY_LIMIT)),
            "{err}"
        );
    }

    #[test]
    fn v2_memory_below_unreclaimable_usage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("memory.current"), "41943040\n").unwrap();
        fs::write(dir.path().join("memory.peak"), "50000000\n").unwrap();
        // 40 MiB in use, of which 20 MiB page cache and 8 MiB of it shmem: 28 MiB must stay.
        fs::write(
            dir.path().join("memory.stat"),
            "anon 20971520\nfile 20971520\nshmem 8388608\n",
        )
        .unwrap();
        let plan = |limit: i64| plan_v2(&memory(limit, -1)).unwrap();
        let err = check_v2_memory(&plan(10 << 20), dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to set memory limit to 10485760 (current usage: 41943040, peak usage: 50000000)"
        );
        check_v2_memory(&plan(30 << 20), dir.path()).unwrap();
        check_v2_memory(&plan(-1), dir.path()).unwrap();
    }
}
