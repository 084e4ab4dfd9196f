//! The stats JSON as Docker's `StatsResponse` encodes it, field for field: Go writes
//! every struct (even empty), and skips only the fields tagged `omitempty` when zero.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Sample;

#[derive(Serialize, Default)]
pub struct StatsJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub read: String,
    pub preread: String,
    pub pids_stats: PidsJson,
    pub blkio_stats: BlkioJson,
    pub num_procs: u32,
    pub storage_stats: StorageJson,
    pub cpu_stats: CpuJson,
    pub precpu_stats: CpuJson,
    pub memory_stats: MemoryJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkJson>>,
}

#[derive(Serialize, Default)]
pub struct PidsJson {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Serialize, Default)]
pub struct BlkioJson {
    pub io_service_bytes_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_serviced_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_queue_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_service_time_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_wait_time_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_merged_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_time_recursive: Option<Vec<BlkioEntryJson>>,
    pub sectors_recursive: Option<Vec<BlkioEntryJson>>,
}

#[derive(Serialize)]
pub struct BlkioEntryJson {
    pub major: u64,
    pub minor: u64,
    pub op: &'static str,
    pub value: u64,
}

#[derive(Serialize, Default)]
pub struct StorageJson {}

#[derive(Serialize, Default)]
pub struct CpuJson {
    pub cpu_usage: CpuUsageJson,
    #[serde(skip_serializing_if = "is_zero")]
    pub system_cpu_usage: u64,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub online_cpus: u32,
    pub throttling_data: ThrottlingJson,
}

#[derive(Serialize, Default)]
pub struct CpuUsageJson {
    pub total_usage: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Serialize, Default)]
pub struct ThrottlingJson {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Serialize, Default)]
pub struct MemoryJson {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_usage: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Serialize, Default)]
pub struct NetworkJson {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn is_zero_u32(value: &u32) -> bool {
    *value == 0
}

/// Go's zero `time.Time`, which Docker sends for a sample that was not taken.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

fn cpu(sample: &Sample) -> CpuJson {
    let Some(usage) = &sample.cgroup.cpu else {
        return CpuJson {
            system_cpu_usage: sample.system_cpu_ns,
            online_cpus: sample.online_cpus,
            ..CpuJson::default()
        };
    };
    let throttling = usage.throttling.unwrap_or_default();
    CpuJson {
        cpu_usage: CpuUsageJson {
            total_usage: usage.usage_total_ns,
            percpu_usage: usage.per_cpu_ns.clone(),
            usage_in_kernelmode: usage.usage_system_ns,
            usage_in_usermode: usage.usage_user_ns,
        },
        system_cpu_usage: sample.system_cpu_ns,
        online_cpus: sample.online_cpus,
        throttling_data: ThrottlingJson {
            periods: throttling.periods,
            throttled_periods: throttling.throttled_periods,
            throttled_time: throttling.throttled_ns,
        },
    }
}

/// Stats of a container that is not running: only its name and ID, as Docker sends.
pub fn empty(name: &str, id: &str) -> StatsJson {
    StatsJson {
        name: name.to_string(),
        id: id.to_string(),
        read: time(None),
        preread: time(None),
        ..StatsJson::default()
    }
}

/// The JSON for `current`, with `previous` as its `precpu_stats` (absent: zeros, as on
/// Docker's first streamed frame and with `one-shot`). `machine_memory` caps the limit,
/// so that an unlimited container's MEM % is a share of the host.
pub fn render(
    name: &str,
    id: &str,
    current: &Sample,
    previous: Option<&Sample>,
    machine_memory: u64,
) -> StatsJson {
    let cgroup = &current.cgroup;
    let memory = cgroup.memory.as_ref().map(|m| {
        let limit = m.limit.unwrap_or(u64::MAX);
        MemoryJson {
            usage: m.usage,
            max_usage: m.max_usage.unwrap_or(0),
            stats: m.stat.clone(),
            limit: if machine_memory > 0 {
                limit.min(machine_memory)
            } else {
                limit
            },
        }
    });
    // v1 names the operations as the kernel's file does; v2's io.stat has no names and
    // Docker writes them in lower case.
    let (read_op, write_op) = if current.cgroup_version == 1 {
        ("Read", "Write")
    } else {
        ("read", "write")
    };
    let blkio = cgroup.blkio.as_ref().map(|b| {
        b.devices
            .iter()
            .flat_map(|d| {
                [
                    BlkioEntryJson {
                        major: d.major,
                        minor: d.minor,
                        op: read_op,
                        value: d.read_bytes,
                    },
                    BlkioEntryJson {
                        major: d.major,
                        minor: d.minor,
                        op: write_op,
                        value: d.write_bytes,
                    },
                ]
            })
            .collect::<Vec<_>>()
    });
    let networks = current.networks.as_ref().map(|interfaces| {
        interfaces
            .iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    NetworkJson {
                        rx_bytes: c.rx_bytes,
                        rx_packets: c.rx_packets,
                        rx_errors: c.rx_errors,
                        rx_dropped: c.rx_dropped,
                        tx_bytes: c.tx_bytes,
                        tx_packets: c.tx_packets,
                        tx_errors: c.tx_errors,
                        tx_dropped: c.tx_dropped,
                    },
                )
            })
            .collect()
    });
    StatsJson {
        name: name.to_string(),
        id: id.to_string(),
        read: time(Some(current.read)),
        preread: time(previous.map(|p| p.read)),
        pids_stats: cgroup
            .pids
            .map(|p| PidsJson {
                current: p.current,
                limit: p.limit.unwrap_or(0),
            })
            .unwrap_or_default(),
        blkio_stats: BlkioJson {
            io_service_bytes_recursive: blkio,
            ..BlkioJson::default()
        },
        num_procs: 0,
        storage_stats: StorageJson {},
        cpu_stats: cpu(current),
        precpu_stats: previous.map(cpu).unwrap_or_default(),
        memory_stats: memory.unwrap_or_default(),
        networks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_cgroups::stats::{BlkioDevice, BlkioStats, CgroupStats, CpuStats, MemoryStats};

    fn sample(total_ns: u64, system_ns: u64) -> Sample {
        Sample {
            read: DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
            cgroup_version: 1,
            cgroup: CgroupStats {
                cpu: Some(CpuStats {
                    usage_total_ns: total_ns,
                    per_cpu_ns: Some(vec![total_ns, 0]),
                    ..CpuStats::default()
                }),
                memory: Some(MemoryStats {
                    usage: 3 << 20,
                    limit: None,
                    inactive_file: 1 << 20,
                    stat: [("total_inactive_file".to_string(), 1 << 20)]
                        .into_iter()
                        .collect(),
                    ..MemoryStats::default()
                }),
                pids: Some(berth_cgroups::stats::PidsStats {
                    current: 2,
                    limit: None,
                }),
                blkio: Some(BlkioStats {
                    devices: vec![BlkioDevice {
                        major: 8,
                        minor: 0,
                        read_bytes: 10,
                        write_bytes: 20,
                    }],
                }),
            },
            system_cpu_ns: system_ns,
            online_cpus: 2,
            networks: None,
        }
    }

    #[test]
    fn a_sample_has_every_field_the_docker_cli_reads() {
        let previous = sample(1_000, 10_000);
        let current = sample(3_000, 20_000);
        let json = serde_json::to_value(render("/web", "abc", &current, Some(&previous), 8 << 30))
            .unwrap();
        assert_eq!(json["name"], "/web");
        assert_eq!(json["cpu_stats"]["cpu_usage"]["total_usage"], 3_000);
        assert_eq!(json["precpu_stats"]["cpu_usage"]["total_usage"], 1_000);
        assert_eq!(json["cpu_stats"]["system_cpu_usage"], 20_000);
        assert_eq!(json["precpu_stats"]["system_cpu_usage"], 10_000);
        assert_eq!(json["cpu_stats"]["online_cpus"], 2);
        assert_eq!(json["memory_stats"]["usage"], 3 << 20);
        assert_eq!(
            json["memory_stats"]["limit"],
            8u64 << 30,
            "capped at the host"
        );
        assert_eq!(
            json["memory_stats"]["stats"]["total_inactive_file"],
            1 << 20
        );
        assert_eq!(json["pids_stats"]["current"], 2);
        assert_eq!(
            json["blkio_stats"]["io_service_bytes_recursive"][0]["op"],
            "Read"
        );
        assert_eq!(
            json["blkio_stats"]["io_service_bytes_recursive"][1]["value"],
            20
        );
        assert!(json.get("networks").is_none());
        assert_eq!(json["read"], "2023-11-14T22:13:20.000000005Z");
    }

    #[test]
    fn stopped_containers_get_only_name_and_id() {
        let json = serde_json::to_value(empty("/web", "abc")).unwrap();
        assert_eq!(json["read"], ZERO_TIME);
        assert_eq!(json["cpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert!(json["blkio_stats"]["io_service_bytes_recursive"].is_null());
        assert!(json["memory_stats"].as_object().unwrap().is_empty());
    }
}
