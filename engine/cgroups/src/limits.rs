//! Turns OCI `LinuxResources` into the list of cgroup files to write, for each version.
//! This is pure: the managers only carry the list out, so every conversion is unit-tested
//! here without a cgroup filesystem.

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

use crate::devices;
use crate::error::{CgroupError, Result};

/// One value for one cgroup interface file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    /// The controller that owns the file (on v1, the hierarchy it lives in).
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    /// What the user asked for, for error messages ("memory limit").
    pub resource: &'static str,
    /// Skip with a warning when the kernel does not provide the file (swap accounting off).
    pub only_if_present: bool,
}

impl Setting {
    fn new(
        controller: &'static str,
        file: &str,
        value: impl ToString,
        resource: &'static str,
    ) -> Self {
        Setting {
            controller,
            file: file.to_string(),
            value: value.to_string(),
            resource,
            only_if_present: false,
        }
    }

    fn only_if_present(mut self) -> Self {
        self.only_if_present = true;
        self
    }
}

/// cgroup v2's `cpu.weight` for a v1 `cpu.shares` value, mapping the v1 range [2, 262144]
/// linearly onto [1, 10000] (the conversion runc and the kernel documentation use).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

pub(crate) fn plan_v1(resources: &LinuxResources) -> Result<Vec<Setting>> {
    reject_unimplemented(resources)?;
    if resources.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(CgroupError::Unsupported {
            resource: "unified cgroup settings",
            reason: "they name cgroup v2 files and this host runs cgroup v1",
        });
    }
    let mut plan = Vec::new();
    if let Some(memory) = resources.memory() {
        plan_v1_memory(memory, &mut plan)?;
    }
    if let Some(cpu) = resources.cpu() {
        plan_v1_cpu(cpu, &mut plan)?;
        plan_cpuset(cpu, &mut plan);
    }
    if let Some(pids) = resources.pids() {
        plan.push(pids_setting(pids.limit()));
    }
    if let Some(weight) = block_io_weight(resources)? {
        plan.push(Setting::new(
            "blkio",
            "blkio.weight",
            weight,
            "block IO weight",
        ));
    }
    if let Some(rules) = resources.devices() {
        // Start from "nothing allowed" so the rules are the whole allowlist, as OCI means.
        plan.push(Setting::new("devices", "devices.deny", "a", "device rules"));
        for rule in rules {
            let (file, line) = devices::v1_rule_line(rule)?;
            plan.push(Setting::new("devices", file, line, "device rules"));
        }
    }
    Ok(plan)
}

/// The v2 plan. Device rules are not in it: v2 enforces them with eBPF (see the crate docs).
pub(crate) fn plan_v2(resources: &LinuxResources) -> Result<Vec<Setting>> {
    reject_unimplemented(resources)?;
    let mut plan = Vec::new();
    if let Some(memory) = resources.memory() {
        plan_v2_memory(memory, &mut plan)?;
    }
    if let Some(cpu) = resources.cpu() {
        plan_v2_cpu(cpu, &mut plan)?;
        plan_cpuset(cpu, &mut plan);
    }
    if let Some(pids) = resources.pids() {
        plan.push(pids_setting(pids.limit()));
    }
    if let Some(weight) = block_io_weight(resources)? {
        plan.push(Setting::new(
            "io",
            "io.weight",
            format!("default {}", blkio_weight_to_io_weight(weight)),
            "block IO weight",
        ));
    }
    if let Some(unified) = resources.unified() {
        // Applied last, so that an explicit file value wins over a converted one.
        let mut entries: Vec<(&String, &String)> = unified.iter().collect();
        entries.sort();
        for (file, value) in entries {
            plan.push(unified_setting(file, value)?);
        }
    }
    Ok(plan)
}

fn reject_unimplemented(resources: &LinuxResources) -> Result<()> {
    let not_yet = "berth does not implement it yet";
    if resources
        .hugepage_limits()
        .as_ref()
        .is_some_and(|l| !l.is_empty())
    {
        return Err(CgroupError::Unsupported {
            resource: "hugetlb limits",
            reason: not_yet,
        });
    }
    if resources.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(CgroupError::Unsupported {
            resource: "rdma limits",
            reason: not_yet,
        });
    }
    if let Some(network) = resources.network() {
        if network.class_id().is_some()
            || network.priorities().as_ref().is_some_and(|p| !p.is_empty())
        {
            return Err(CgroupError::Unsupported {
                resource: "network class and priority (net_cls, net_prio)",
                reason: not_yet,
            });
        }
    }
    if let Some(io) = resources.block_io() {
        let lists = [
            io.weight_device().as_ref().map(Vec::len),
            io.throttle_read_bps_device().as_ref().map(Vec::len),
            io.throttle_write_bps_device().as_ref().map(Vec::len),
            io.throttle_read_iops_device().as_ref().map(Vec::len),
            io.throttle_write_iops_device().as_ref().map(Vec::len),
        ];
        let any_list = lists.iter().any(|len| len.unwrap_or(0) > 0);
        if io.leaf_weight().is_some() || any_list {
            return Err(CgroupError::Unsupported {
                resource: "block IO leaf weights, per-device weights and throttles",
                reason: not_yet,
            });
        }
    }
    Ok(())
}

#[allow(deprecated)] // reads the deprecated kernel-memory fields only to refuse them
fn reject_unsupported_memory(memory: &LinuxMemory) -> Result<()> {
    if memory.kernel().is_some() || memory.kernel_tcp().is_some() {
        return Err(CgroupError::Unsupported {
            resource: "kernel memory limits",
            reason: "the kernel dropped them (Linux 5.4 deprecated them, cgroup v2 never had them)",
        });
    }
    if memory.use_hierarchy() == Some(false) {
        return Err(CgroupError::Unsupported {
            resource: "non-hierarchical memory accounting",
            reason: "current kernels always account memory hierarchically",
        });
    }
    if memory.check_before_update() == Some(true) {
        return Err(CgroupError::Unsupported {
            resource: "memory checkBeforeUpdate",
            reason: "berth does not implement it yet",
        });
    }
    Ok(())
}

/// A byte count from the spec: `None` when unset (Docker and runc treat 0 as unset too),
/// `Some(None)` for -1 (unlimited), `Some(Some(n))` for a limit.
fn bytes(value: Option<i64>, resource: &'static str) -> Result<Option<Option<u64>>> {
    match value {
        None | Some(0) => Ok(None),
        Some(-1) => Ok(Some(None)),
        Some(n) if n > 0 => Ok(Some(Some(n as u64))),
        Some(n) => Err(CgroupError::InvalidResource {
            resource,
            reason: format!("{n} is negative (use -1 for unlimited)"),
        }),
    }
}

fn plan_v1_memory(memory: &LinuxMemory, plan: &mut Vec<Setting>) -> Result<()> {
    reject_unsupported_memory(memory)?;
    let limit = bytes(memory.limit(), "memory limit")?;
    let swap = bytes(memory.swap(), "memory+swap limit")?;
    let v1_value = |v: Option<u64>| v.map_or("-1".to_string(), |n| n.to_string());
    if let Some(limit) = limit {
        plan.push(Setting::new(
            "memory",
            "memory.limit_in_bytes",
            v1_value(limit),
            "memory limit",
        ));
    }
    if let Some(swap) = swap {
        check_swap_covers_limit(limit.flatten(), swap)?;
        plan.push(
            Setting::new(
                "memory",
                "memory.memsw.limit_in_bytes",
                v1_value(swap),
                "memory+swap limit",
            )
            .only_if_present(),
        );
    }
    if let Some(reservation) = bytes(memory.reservation(), "memory reservation")? {
        plan.push(Setting::new(
            "memory",
            "memory.soft_limit_in_bytes",
            v1_value(reservation),
            "memory reservation",
        ));
    }
    if let Some(swappiness) = memory.swappiness() {
        if swappiness > 100 {
            return Err(CgroupError::InvalidResource {
                resource: "memory swappiness",
                reason: format!("{swappiness} is above 100"),
            });
        }
        plan.push(Setting::new(
            "memory",
            "memory.swappiness",
            swappiness,
            "memory swappiness",
        ));
    }
    if memory.disable_oom_killer() == Some(true) {
        plan.push(Setting::new(
            "memory",
            "memory.oom_control",
            1,
            "OOM killer disabling",
        ));
    }
    Ok(())
}

/// OCI's swap value is memory plus swap, so it cannot be below the memory limit, and a finite
/// one needs a finite memory limit.
fn check_swap_covers_limit(limit: Option<u64>, swap: Option<u64>) -> Result<()> {
    let Some(swap) = swap else { return Ok(()) };
    match limit {
        None => Err(CgroupError::InvalidResource {
            resource: "memory+swap limit",
            reason: "a memory+swap limit needs a memory limit".to_string(),
        }),
        Some(limit) if swap < limit => Err(CgroupError::InvalidResource {
            resource: "memory+swap limit",
            reason: format!("{swap} is below the memory limit {limit}"),
        }),
        Some(_) => Ok(()),
    }
}

fn plan_v2_memory(memory: &LinuxMemory, plan: &mut Vec<Setting>) -> Result<()> {
    reject_unsupported_memory(memory)?;
    let v2_value = |v: Option<u64>| v.map_or("max".to_string(), |n| n.to_string());
    let limit = bytes(memory.limit(), "memory limit")?;
    if let Some(limit) = limit {
        plan.push(Setting::new(
            "memory",
            "memory.max",
            v2_value(limit),
            "memory limit",
        ));
    }
    if let Some(swap) = bytes(memory.swap(), "memory+swap limit")? {
        check_swap_covers_limit(limit.flatten(), swap)?;
        // v2 limits swap alone, not memory plus swap.
        let swap_only = swap.map(|total| total - limit.flatten().unwrap_or(0));
        plan.push(
            Setting::new(
                "memory",
                "memory.swap.max",
                v2_value(swap_only),
                "memory+swap limit",
            )
            .only_if_present(),
        );
    }
    if let Some(reservation) = bytes(memory.reservation(), "memory reservation")? {
        plan.push(Setting::new(
            "memory",
            "memory.low",
            v2_value(reservation),
            "memory reservation",
        ));
    }
    if memory.swappiness().is_some() {
        return Err(CgroupError::Unsupported {
            resource: "memory swappiness",
            reason: "cgroup v2 has no per-cgroup swappiness",
        });
    }
    if memory.disable_oom_killer() == Some(true) {
        return Err(CgroupError::Unsupported {
            resource: "disabling the OOM killer",
            reason: "cgroup v2 cannot disable the OOM killer for a cgroup",
        });
    }
    Ok(())
}

fn cpu_quota(cpu: &LinuxCpu) -> Result<Option<Option<u64>>> {
    match cpu.quota() {
        None | Some(0) => Ok(None),
        Some(-1) => Ok(Some(None)),
        Some(q) if q > 0 => Ok(Some(Some(q as u64))),
        Some(q) => Err(CgroupError::InvalidResource {
            resource: "CPU quota",
            reason: format!("{q} is negative (use -1 for unlimited)"),
        }),
    }
}

fn plan_v1_cpu(cpu: &LinuxCpu, plan: &mut Vec<Setting>) -> Result<()> {
    if let Some(shares) = cpu.shares().filter(|&s| s != 0) {
        plan.push(Setting::new("cpu", "cpu.shares", shares, "CPU shares"));
    }
    // The period goes first: the kernel checks a new quota against the current period.
    if let Some(period) = cpu.period().filter(|&p| p != 0) {
        plan.push(Setting::new(
            "cpu",
            "cpu.cfs_period_us",
            period,
            "CPU period",
        ));
    }
    if let Some(quota) = cpu_quota(cpu)? {
        let value = quota.map_or("-1".to_string(), |q| q.to_string());
        plan.push(Setting::new("cpu", "cpu.cfs_quota_us", value, "CPU quota"));
    }
    if let Some(burst) = cpu.burst() {
        plan.push(Setting::new("cpu", "cpu.cfs_burst_us", burst, "CPU burst"));
    }
    if let Some(period) = cpu.realtime_period().filter(|&p| p != 0) {
        plan.push(Setting::new(
            "cpu",
            "cpu.rt_period_us",
            period,
            "realtime CPU period",
        ));
    }
    if let Some(runtime) = cpu.realtime_runtime().filter(|&r| r != 0) {
        plan.push(Setting::new(
            "cpu",
            "cpu.rt_runtime_us",
            runtime,
            "realtime CPU runtime",
        ));
    }
    if let Some(idle) = cpu.idle() {
        plan.push(Setting::new("cpu", "cpu.idle", idle, "CPU idle scheduling"));
    }
    Ok(())
}

/// The default CFS period, which `cpu.max` needs when only a quota is given.
const DEFAULT_CPU_PERIOD_US: u64 = 100_000;

fn plan_v2_cpu(cpu: &LinuxCpu, plan: &mut Vec<Setting>) -> Result<()> {
    if let Some(shares) = cpu.shares().filter(|&s| s != 0) {
        plan.push(Setting::new(
            "cpu",
            "cpu.weight",
            shares_to_weight(shares),
            "CPU shares",
        ));
    }
    let period = cpu.period().filter(|&p| p != 0);
    let quota = cpu_quota(cpu)?;
    if quota.is_some() || period.is_some() {
        let quota = quota.flatten().map_or("max".to_string(), |q| q.to_string());
        let period = period.unwrap_or(DEFAULT_CPU_PERIOD_US);
        plan.push(Setting::new(
            "cpu",
            "cpu.max",
            format!("{quota} {period}"),
            "CPU quota",
        ));
    }
    if let Some(burst) = cpu.burst() {
        plan.push(Setting::new("cpu", "cpu.max.burst", burst, "CPU burst"));
    }
    let realtime = [
        cpu.realtime_period().map(|p| p as i64),
        cpu.realtime_runtime(),
    ];
    if realtime.iter().any(|v| v.is_some_and(|v| v != 0)) {
        return Err(CgroupError::Unsupported {
            resource: "realtime CPU period and runtime",
            reason: "cgroup v2 has no realtime CPU budget",
        });
    }
    if let Some(idle) = cpu.idle() {
        plan.push(Setting::new("cpu", "cpu.idle", idle, "CPU idle scheduling"));
    }
    Ok(())
}

fn plan_cpuset(cpu: &LinuxCpu, plan: &mut Vec<Setting>) {
    if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
        plan.push(Setting::new("cpuset", "cpuset.cpus", cpus, "cpuset CPUs"));
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
        plan.push(Setting::new(
            "cpuset",
            "cpuset.mems",
            mems,
            "cpuset memory nodes",
        ));
    }
}

/// The block IO weight asked for: `None` when unset (0 is unset, as in Docker), an error
/// outside v1's range [10, 1000].
fn block_io_weight(resources: &LinuxResources) -> Result<Option<u16>> {
    let Some(weight) = resources
        .block_io()
        .as_ref()
        .and_then(|io| io.weight())
        .filter(|&w| w != 0)
    else {
        return Ok(None);
    };
    if !(10..=1000).contains(&weight) {
        return Err(CgroupError::InvalidResource {
            resource: "block IO weight",
            reason: format!("{weight} is outside the range 10 to 1000"),
        });
    }
    Ok(Some(weight))
}

/// cgroup v2's `io.weight` for a v1 `blkio.weight`, mapping [10, 1000] linearly onto
/// [1, 10000] (runc's conversion).
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let weight = u64::from(weight.clamp(10, 1000));
    1 + (weight - 10) * 9999 / 990
}

/// Docker sends 0 or -1 for "no limit"; both file versions spell that "max".
fn pids_setting(limit: i64) -> Setting {
    let value = if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    };
    Setting::new("pids", "pids.max", value, "PIDs limit")
}

fn unified_setting(file: &str, value: &str) -> Result<Setting> {
    let invalid = |reason: &str| CgroupError::InvalidResource {
        resource: "unified cgroup setting",
        reason: format!("{file:?}: {reason}"),
    };
    if file.contains('/') || file.contains('\0') {
        return Err(invalid("must be a file name, not a path"));
    }
    let Some((controller, _)) = file
        .split_once('.')
        .filter(|(c, rest)| !c.is_empty() && !rest.is_empty())
    else {
        return Err(invalid("must look like <controller>.<setting>"));
    };
    let controller = match controller {
        "cgroup" => "cgroup",
        "cpu" => "cpu",
        "cpuset" => "cpuset",
        "memory" => "memory",
        "io" => "io",
        "pids" => "pids",
        "hugetlb" => "hugetlb",
        "rdma" => "rdma",
        "misc" => "misc",
        _ => return Err(invalid("names no known cgroup v2 controller")),
    };
    Ok(Setting::new(
        controller,
        file,
        value,
        "unified cgroup setting",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxHugepageLimitBuilder, LinuxMemoryBuilder,
        LinuxPidsBuilder, LinuxResourcesBuilder,
    };
    use std::collections::HashMap;

    fn files(plan: &[Setting]) -> Vec<(&str, &str)> {
        plan.iter()
            .map(|s| (s.file.as_str(), s.value.as_str()))
            .collect()
    }

    fn docker_run_flags() -> LinuxResources {
        // What `docker run -m 64m --cpus 1.5 --pids-limit 50 --cpu-shares 512` asks for.
        LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .swap(128 << 20)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512u64)
                    .quota(150_000)
                    .period(100_000u64)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(50).build().unwrap())
            .build()
            .unwrap()
    }

    #[test]
    fn weight_conversion_matches_the_documented_formula() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1, "below the v1 range clamps");
        assert_eq!(
            shares_to_weight(1 << 30),
            10_000,
            "above the v1 range clamps"
        );
    }

    #[test]
    fn v1_plan_for_docker_run_flags() {
        let plan = plan_v1(&docker_run_flags()).unwrap();
        assert_eq!(
            files(&plan),
            [
                ("memory.limit_in_bytes", "67108864"),
                ("memory.memsw.limit_in_bytes", "134217728"),
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "150000"),
                ("pids.max", "50"),
            ]
        );
        assert!(
            plan[1].only_if_present,
            "memsw exists only with swap accounting"
        );
        assert_eq!(plan[1].controller, "memory");
        assert_eq!(plan[5].controller, "pids");
    }

    #[test]
    fn v2_plan_for_docker_run_flags() {
        let plan = plan_v2(&docker_run_flags()).unwrap();
        assert_eq!(
            files(&plan),
            [
                ("memory.max", "67108864"),
                ("memory.swap.max", "67108864"),
                ("cpu.weight", "20"),
                ("cpu.max", "150000 100000"),
                ("pids.max", "50"),
            ]
        );
    }

    #[test]
    fn unlimited_values_are_spelled_per_version() {
        let resources = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(-1)
                    .swap(-1)
                    .reservation(-1)
                    .build()
                    .unwrap(),
            )
            .cpu(LinuxCpuBuilder::default().quota(-1).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(0).build().unwrap())
            .build()
            .unwrap();
        assert_eq!(
            files(&plan_v1(&resources).unwrap()),
            [
                ("memory.limit_in_bytes", "-1"),
                ("memory.memsw.limit_in_bytes", "-1"),
                ("memory.soft_limit_in_bytes", "-1"),
                ("cpu.cfs_quota_us", "-1"),
                ("pids.max", "max"),
            ]
        );
        assert_eq!(
            files(&plan_v2(&resources).unwrap()),
            [
                ("memory.max", "max"),
                ("memory.swap.max", "max"),
                ("memory.low", "max"),
                ("cpu.max", "max 100000"),
                ("pids.max", "max"),
            ]
        );
    }

    #[test]
    fn zero_means_unset_and_writes_nothing() {
        let resources = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(0).build().unwrap())
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(0u64)
                    .quota(0)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert!(plan_v1(&resources).unwrap().is_empty());
        assert!(plan_v2(&resources).unwrap().is_empty());
    }

    #[test]
    fn cpuset_and_idle_go_to_the_same_files_on_both_versions() {
        let resources = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .cpus("0-1")
                    .mems("0")
                    .idle(1)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        for plan in [plan_v1(&resources).unwrap(), plan_v2(&resources).unwrap()] {
            assert_eq!(
                files(&plan),
                [
                    ("cpu.idle", "1"),
                    ("cpuset.cpus", "0-1"),
                    ("cpuset.mems", "0")
                ]
            );
        }
    }

    #[test]
    fn v1_device_rules_start_from_deny_all() {
        let resources = LinuxResourcesBuilder::default()
            .devices(crate::docker_default_device_rules())
            .build()
            .unwrap();
        let plan = plan_v1(&resources).unwrap();
        assert_eq!(
            files(&plan)[..3],
            [
                ("devices.deny", "a"),
                ("devices.deny", "a"),
                ("devices.allow", "c *:* m")
            ]
        );
        assert_eq!(
            plan.len(),
            2 + crate::docker_default_device_rules().len() - 1
        );
        assert!(
            plan_v2(&resources).unwrap().is_empty(),
            "v2 devices are not file writes"
        );
    }

    #[test]
    fn swap_below_the_limit_or_without_one_is_refused() {
        let below = LinuxMemoryBuilder::default()
            .limit(100)
            .swap(50)
            .build()
            .unwrap();
        let alone = LinuxMemoryBuilder::default().swap(50).build().unwrap();
        for memory in [below, alone] {
            let resources = LinuxResourcesBuilder::default()
                .memory(memory)
                .build()
                .unwrap();
            for result in [plan_v1(&resources), plan_v2(&resources)] {
                let err = result.unwrap_err();
                assert!(
                    matches!(
                        err,
                        CgroupError::InvalidResource {
                            resource: "memory+swap limit",
                            ..
                        }
                    ),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn negative_values_are_invalid() {
        let resources = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(-5).build().unwrap())
            .build()
            .unwrap();
        assert!(matches!(
            plan_v1(&resources),
            Err(CgroupError::InvalidResource { .. })
        ));
        let resources = LinuxResourcesBuilder::default()
            .cpu(LinuxCpuBuilder::default().quota(-2).build().unwrap())
            .build()
            .unwrap();
        assert!(matches!(
            plan_v2(&resources),
            Err(CgroupError::InvalidResource { .. })
        ));
    }

    #[test]
    fn unimplemented_resources_are_refused_when_not_empty() {
        let hugetlb = LinuxResourcesBuilder::default()
            .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(1 << 21)
                .build()
                .unwrap()])
            .build()
            .unwrap();
        let blkio = LinuxResourcesBuilder::default()
            .block_io(
                LinuxBlockIoBuilder::default()
                    .leaf_weight(500u16)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        for resources in [hugetlb, blkio] {
            assert!(matches!(
                plan_v1(&resources),
                Err(CgroupError::Unsupported { .. })
            ));
            assert!(matches!(
                plan_v2(&resources),
                Err(CgroupError::Unsupported { .. })
            ));
        }
        // Docker always sends a block IO section with empty lists; that must pass.
        let empty = LinuxResourcesBuilder::default()
            .block_io(
                LinuxBlockIoBuilder::default()
                    .weight_device(vec![])
                    .build()
                    .unwrap(),
            )
            .hugepage_limits(vec![])
            .build()
            .unwrap();
        assert!(plan_v1(&empty).unwrap().is_empty());
        assert!(plan_v2(&empty).unwrap().is_empty());
    }

    #[test]
    fn block_io_weight_goes_to_each_versions_file() {
        let weight = |w: u16| {
            LinuxResourcesBuilder::default()
                .block_io(LinuxBlockIoBuilder::default().weight(w).build().unwrap())
                .build()
                .unwrap()
        };
        assert_eq!(
            files(&plan_v1(&weight(300)).unwrap()),
            [("blkio.weight", "300")]
        );
        assert_eq!(plan_v1(&weight(300)).unwrap()[0].controller, "blkio");
        assert_eq!(
            files(&plan_v2(&weight(300)).unwrap()),
            [("io.weight", "default 2930")]
        );
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert!(plan_v1(&weight(0)).unwrap().is_empty(), "0 is unset");
        for bad in [5, 1001] {
            assert!(matches!(
                plan_v2(&weight(bad)),
                Err(CgroupError::InvalidResource { .. })
            ));
        }
    }

    #[test]
    fn version_specific_settings_are_refused_on_the_other_version() {
        let swappiness = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .swappiness(10u64)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert_eq!(
            files(&plan_v1(&swappiness).unwrap()),
            [("memory.swappiness", "10")]
        );
        assert!(matches!(
            plan_v2(&swappiness),
            Err(CgroupError::Unsupported { .. })
        ));

        let unified = LinuxResourcesBuilder::default()
            .unified(HashMap::from([(
                "memory.high".to_string(),
                "1000000".to_string(),
            )]))
            .build()
            .unwrap();
        assert!(matches!(
            plan_v1(&unified),
            Err(CgroupError::Unsupported { .. })
        ));
        let plan = plan_v2(&unified).unwrap();
        assert_eq!(files(&plan), [("memory.high", "1000000")]);
        assert_eq!(plan[0].controller, "memory");
    }

    #[test]
    fn unified_names_must_be_plain_controller_files() {
        for bad in ["../escape", "memory.max/x", "nodot", "bogus.max", ".max"] {
            let resources = LinuxResourcesBuilder::default()
                .unified(HashMap::from([(bad.to_string(), "1".to_string())]))
                .build()
                .unwrap();
            assert!(
                matches!(
                    plan_v2(&resources),
                    Err(CgroupError::InvalidResource { .. })
                ),
                "{bad}"
            );
        }
    }
}
