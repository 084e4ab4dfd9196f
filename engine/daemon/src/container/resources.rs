//! A container's resource limits: Docker's checks of them (at create and at `update`), the
//! merge of an update into the record's `HostConfig` (Docker's rules, conflicts included),
//! and their OCI form, which the runtime applies at start and `update` to a running cgroup.

use std::sync::OnceLock;

use bollard_stubs::models::{ContainerUpdateBody, HostConfig, RestartPolicyNameEnum};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder,
};

use super::error::Error;

/// Docker's smallest memory limit and reservation, 6 MiB.
const MIN_MEMORY: i64 = 6 << 20;
/// The CFS period `--cpus` is expressed in (100 ms), as Docker uses.
const NANO_CPUS_PERIOD_US: u64 = 100_000;

/// What the host offers that Docker checks a request against.
#[derive(Debug, Clone)]
pub struct HostLimits {
    pub cpus: usize,
    pub blkio_weight: bool,
}

impl HostLimits {
    /// This host's, read once.
    pub fn detect(cgroups: Option<&berth_cgroups::Hierarchy>) -> HostLimits {
        static CPUS: OnceLock<usize> = OnceLock::new();
        HostLimits {
            cpus: *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            blkio_weight: cgroups.is_some_and(|h| h.supports_blkio_weight()),
        }
    }
}

/// Docker's checks of the resources a create or an update asks for (`update`: the swap
/// limit may come without a memory limit, which the container already has). What the host
/// cannot do is dropped with Docker's warning; what is wrong is Docker's error.
pub fn verify(
    host: &mut HostConfig,
    limits: &HostLimits,
    update: bool,
) -> Result<Vec<String>, Error> {
    let mut warnings = Vec::new();
    let memory = host.memory.unwrap_or(0);
    let swap = host.memory_swap.unwrap_or(0);
    if memory != 0 && memory < MIN_MEMORY {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if memory == 0 && swap > 0 && !update {
        return Err(Error::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    let reservation = host.memory_reservation.unwrap_or(0);
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err(Error::invalid("Minimum memory reservation allowed is 6MB"));
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(Error::invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    let nano = host.nano_cpus.unwrap_or(0);
    let period = host.cpu_period.unwrap_or(0);
    let quota = host.cpu_quota.unwrap_or(0);
    if nano > 0 && period > 0 {
        return Err(Error::invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && quota > 0 {
        return Err(Error::invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if nano != 0 && (nano < 0 || nano > limits.cpus as i64 * 1_000_000_000) {
        return Err(Error::invalid(format!(
            "range of CPUs is from 0.01 to {0}.00, as there are only {0} CPUs available",
            limits.cpus
        )));
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(Error::invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if quota > 0 && quota < 1000 {
        return Err(Error::invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    for (list, what) in [(&host.cpuset_cpus, "cpus"), (&host.cpuset_mems, "mems")] {
        let Some(list) = list.as_deref().filter(|l| !l.is_empty()) else {
            continue;
        };
        let highest = cpuset_highest(list)
            .ok_or_else(|| Error::invalid(format!("Invalid value {list} for cpuset {what}")))?;
        let available = if what == "cpus" { limits.cpus } else { 1 };
        if highest >= available {
            let label = if what == "cpus" {
                "CPUs"
            } else {
                "memory nodes"
            };
            return Err(Error::invalid(format!(
                "Requested {label} are not available - requested {list}, available: {}",
                if available == 1 {
                    "0".to_string()
                } else {
                    format!("0-{}", available - 1)
                }
            )));
        }
    }
    if host.blkio_weight.is_some_and(|w| w > 0) && !limits.blkio_weight {
        warnings.push(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. \
             Weight discarded."
                .to_string(),
        );
        host.blkio_weight = Some(0);
    }
    if host
        .blkio_weight
        .is_some_and(|w| w > 0 && !(10..=1000).contains(&w))
    {
        return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
    }
    Ok(warnings)
}

/// The highest CPU or node a cpuset list (`0-2,4`) names, `None` if it is not one.
fn cpuset_highest(list: &str) -> Option<usize> {
    let mut highest = 0;
    for part in list.split(',') {
        let (low, high) = match part.split_once('-') {
            Some((low, high)) => (low.parse::<usize>().ok()?, high.parse::<usize>().ok()?),
            None => {
                let one = part.parse::<usize>().ok()?;
                (one, one)
            }
        };
        if low > high {
            return None;
        }
        highest = highest.max(high);
    }
    Some(highest)
}

/// What Docker adjusts at create: a memory limit without a swap limit gets twice its size
/// as memory+swap.
pub fn adapt(host: &mut HostConfig) {
    let memory = host.memory.unwrap_or(0);
    if memory > 0 && host.memory_swap.unwrap_or(0) == 0 {
        host.memory_swap = Some(memory * 2);
    }
}

/// The update's resources as a `HostConfig`, for [`verify`]; what berth cannot change is
/// refused by name.
pub fn requested(update: &ContainerUpdateBody) -> Result<HostConfig, Error> {
    let listed = |list: Option<usize>| list.unwrap_or(0) > 0;
    let refused = [
        (
            listed(update.blkio_weight_device.as_ref().map(Vec::len))
                || listed(update.blkio_device_read_bps.as_ref().map(Vec::len))
                || listed(update.blkio_device_write_bps.as_ref().map(Vec::len))
                || listed(update.blkio_device_read_iops.as_ref().map(Vec::len))
                || listed(update.blkio_device_write_iops.as_ref().map(Vec::len)),
            "updating per-device block IO weights and throttles",
        ),
        (
            update.cpu_realtime_period.unwrap_or(0) != 0
                || update.cpu_realtime_runtime.unwrap_or(0) != 0,
            "updating realtime CPU budgets",
        ),
    ];
    if let Some((_, what)) = refused.iter().find(|(set, _)| *set) {
        return Err(Error::unsupported(what));
    }
    if let Some(policy) = &update.restart_policy {
        let retries = policy.maximum_retry_count.unwrap_or(0);
        if retries < 0 {
            return Err(Error::invalid(
                "invalid restart policy: maximum retry count cannot be negative",
            ));
        }
        if retries > 0 && policy.name != Some(RestartPolicyNameEnum::ON_FAILURE) {
            return Err(Error::invalid(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'",
            ));
        }
    }
    Ok(HostConfig {
        memory: update.memory,
        memory_swap: update.memory_swap,
        memory_reservation: update.memory_reservation,
        nano_cpus: update.nano_cpus,
        cpu_period: update.cpu_period,
        cpu_quota: update.cpu_quota,
        cpu_shares: update.cpu_shares,
        cpuset_cpus: update.cpuset_cpus.clone(),
        cpuset_mems: update.cpuset_mems.clone(),
        pids_limit: update.pids_limit,
        blkio_weight: update.blkio_weight,
        restart_policy: update.restart_policy.clone(),
        ..Default::default()
    })
}

fn conflict(id: &str, message: &str) -> Error {
    Error::conflict(format!("Cannot update container {id}: {message}"))
}

/// The record's `HostConfig` with a verified update applied, as Docker merges one: a field
/// left at zero keeps its value, and `--cpus` and a CFS period or quota exclude each other.
pub fn merge(current: &HostConfig, update: &HostConfig, id: &str) -> Result<HostConfig, Error> {
    let set = |v: Option<i64>| v.filter(|v| *v != 0);
    let had = |v: Option<i64>| v.unwrap_or(0) > 0;
    if had(update.nano_cpus) && had(current.cpu_period) {
        return Err(conflict(
            id,
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        ));
    }
    if had(update.nano_cpus) && had(current.cpu_quota) {
        return Err(conflict(
            id,
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        ));
    }
    if had(update.cpu_period) && had(current.nano_cpus) {
        return Err(conflict(
            id,
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        ));
    }
    if had(update.cpu_quota) && had(current.nano_cpus) {
        return Err(conflict(
            id,
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        ));
    }
    let mut merged = current.clone();
    if let Some(weight) = update.blkio_weight.filter(|w| *w != 0) {
        merged.blkio_weight = Some(weight);
    }
    for (field, value) in [
        (&mut merged.cpu_shares, update.cpu_shares),
        (&mut merged.nano_cpus, update.nano_cpus),
        (&mut merged.cpu_period, update.cpu_period),
        (&mut merged.cpu_quota, update.cpu_quota),
        (&mut merged.memory_reservation, update.memory_reservation),
    ] {
        if let Some(value) = set(value) {
            *field = Some(value);
        }
    }
    for (field, value) in [
        (&mut merged.cpuset_cpus, &update.cpuset_cpus),
        (&mut merged.cpuset_mems, &update.cpuset_mems),
    ] {
        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
            *field = Some(value.clone());
        }
    }
    if let Some(memory) = set(update.memory) {
        let current_swap = effective_swap(current);
        if memory > current_swap && set(update.memory_swap).is_none() {
            return Err(conflict(id, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"));
        }
        merged.memory = Some(memory);
        merged.memory_swap = Some(current_swap);
    }
    if let Some(swap) = set(update.memory_swap) {
        merged.memory_swap = Some(swap);
    }
    if update.pids_limit.is_some() {
        merged.pids_limit = update.pids_limit;
    }
    if let Some(policy) = update
        .restart_policy
        .as_ref()
        .filter(|p| !matches!(p.name, None | Some(RestartPolicyNameEnum::EMPTY)))
    {
        let none = matches!(policy.name, Some(RestartPolicyNameEnum::NO));
        if current.auto_remove == Some(true) && !none {
            return Err(conflict(
                id,
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            ));
        }
        let mut policy = policy.clone();
        policy.maximum_retry_count.get_or_insert(0);
        merged.restart_policy = Some(policy);
    }
    Ok(merged)
}

/// The memory+swap limit a record means: records made before [`adapt`] kept 0 with a
/// memory limit, which the runtime has always read as twice the limit.
fn effective_swap(host: &HostConfig) -> i64 {
    let memory = host.memory.unwrap_or(0);
    match host.memory_swap.unwrap_or(0) {
        0 if memory > 0 => memory * 2,
        swap => swap,
    }
}

fn invalid(err: impl std::fmt::Display) -> Error {
    Error::internal(format!("building the resource limits: {err}"))
}

/// The OCI resources of a container's `HostConfig`, without device rules (see
/// [`with_device_rules`]). A value at zero is left as the cgroup has it.
pub fn linux_resources(host: &HostConfig) -> Result<LinuxResources, Error> {
    let mut resources = LinuxResourcesBuilder::default();
    let memory = host.memory.unwrap_or(0);
    let reservation = host.memory_reservation.unwrap_or(0);
    if memory > 0 || reservation > 0 {
        let mut builder = LinuxMemoryBuilder::default();
        if memory > 0 {
            builder = builder.limit(memory).swap(effective_swap(host));
        }
        if reservation > 0 {
            builder = builder.reservation(reservation);
        }
        resources = resources.memory(builder.build().map_err(invalid)?);
    }
    let mut cpu = LinuxCpuBuilder::default();
    let mut cpu_set = false;
    if let Some(nano) = host.nano_cpus.filter(|n| *n > 0) {
        cpu = cpu
            .period(NANO_CPUS_PERIOD_US)
            .quota(nano * NANO_CPUS_PERIOD_US as i64 / 1_000_000_000);
        cpu_set = true;
    } else {
        if let Some(quota) = host.cpu_quota.filter(|q| *q != 0) {
            cpu = cpu.quota(quota);
            cpu_set = true;
        }
        if let Some(period) = host.cpu_period.filter(|p| *p > 0) {
            cpu = cpu.period(period as u64);
            cpu_set = true;
        }
    }
    if let Some(shares) = host.cpu_shares.filter(|s| *s > 0) {
        cpu = cpu.shares(shares as u64);
        cpu_set = true;
    }
    if let Some(cpus) = host.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
        cpu = cpu.cpus(cpus);
        cpu_set = true;
    }
    if let Some(mems) = host.cpuset_mems.as_deref().filter(|m| !m.is_empty()) {
        cpu = cpu.mems(mems);
        cpu_set = true;
    }
    if cpu_set {
        resources = resources.cpu(cpu.build().map_err(invalid)?);
    }
    // -1 is "unlimited", written so that an update can lift a limit; 0 (also unlimited to
    // Docker) is left as the cgroup has it, since some clients send it unasked.
    if let Some(limit) = host.pids_limit.filter(|l| *l != 0) {
        resources = resources.pids(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .map_err(invalid)?,
        );
    }
    if let Some(weight) = host.blkio_weight.filter(|w| *w > 0) {
        resources = resources.block_io(
            LinuxBlockIoBuilder::default()
                .weight(weight)
                .build()
                .map_err(invalid)?,
        );
    }
    resources.build().map_err(invalid)
}

/// [`linux_resources`] with Docker's default device rules, for a container's start.
pub fn with_device_rules(host: &HostConfig) -> Result<LinuxResources, Error> {
    let mut resources = linux_resources(host)?;
    resources.set_devices(Some(berth_cgroups::docker_default_device_rules()));
    Ok(resources)
}

#[cfg(test)]
#[path = "resources_tests.rs"]
mod tests;
