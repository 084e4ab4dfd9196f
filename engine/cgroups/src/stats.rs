//! Resource usage of a cgroup.
//!
//! Reading and parsing are kept apart so that a sampler serving many containers can keep the
//! files open and `pread` them: it implements [`StatsSource`] over its descriptors and calls
//! [`collect_v1`] / [`collect_v2`], which only parse. [`StatsFile::V1`] and [`StatsFile::V2`]
//! list the files to keep open. The `parse_*` functions are pure.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use crate::error::{CgroupError, ParseError, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// Each section is `None` when its controller is not available to the cgroup.
    pub cpu: Option<CpuStats>,
    pub memory: Option<MemoryStats>,
    pub pids: Option<PidsStats>,
    pub blkio: Option<BlkioStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuStats {
    pub usage_total_ns: u64,
    pub usage_user_ns: u64,
    pub usage_system_ns: u64,
    /// Per CPU usage; only cgroup v1's cpuacct provides it.
    pub per_cpu_ns: Option<Vec<u64>>,
    /// CFS bandwidth throttling, when the cpu controller is available.
    pub throttling: Option<CpuThrottling>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuThrottling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub usage: u64,
    /// Highest usage seen (v1 `max_usage_in_bytes`, v2 `memory.peak` on Linux 5.19+).
    pub max_usage: Option<u64>,
    /// `None` when unlimited.
    pub limit: Option<u64>,
    /// The page cache that can be dropped; `docker stats` subtracts it from `usage`
    /// (v1 `total_inactive_file`, v2 `inactive_file`).
    pub inactive_file: u64,
    /// `memory.stat` as the kernel wrote it (Docker's `memory_stats.stats`).
    pub stat: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PidsStats {
    pub current: u64,
    /// `None` when unlimited.
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioStats {
    pub devices: Vec<BlkioDevice>,
}

/// Bytes transferred to and from one block device, this cgroup and its descendants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkioDevice {
    pub major: u64,
    pub minor: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
}

/// Every file a stats sample reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsFile {
    /// v1 `cpuacct.usage`, total CPU time in ns.
    CpuacctUsage,
    /// v1 `cpuacct.usage_percpu`.
    CpuacctUsagePercpu,
    /// v1 `cpuacct.stat`, user and system time in clock ticks.
    CpuacctStat,
    /// `cpu.stat`: throttling on v1; usage and throttling on v2.
    CpuStat,
    /// v1 `memory.usage_in_bytes`, v2 `memory.current`.
    MemoryUsage,
    /// v1 `memory.max_usage_in_bytes`, v2 `memory.peak`.
    MemoryMaxUsage,
    /// v1 `memory.limit_in_bytes`, v2 `memory.max`.
    MemoryLimit,
    MemoryStat,
    PidsCurrent,
    PidsMax,
    /// v1 `blkio.throttle.io_service_bytes_recursive` (the CFQ file is gone from current
    /// kernels), v2 `io.stat`.
    IoBytes,
}

impl StatsFile {
    pub const V1: &'static [StatsFile] = &[
        StatsFile::CpuacctUsage,
        StatsFile::CpuacctUsagePercpu,
        StatsFile::CpuacctStat,
        StatsFile::CpuStat,
        StatsFile::MemoryUsage,
        StatsFile::MemoryMaxUsage,
        StatsFile::MemoryLimit,
        StatsFile::MemoryStat,
        StatsFile::PidsCurrent,
        StatsFile::PidsMax,
        StatsFile::IoBytes,
    ];

    pub const V2: &'static [StatsFile] = &[
        StatsFile::CpuStat,
        StatsFile::MemoryUsage,
        StatsFile::MemoryMaxUsage,
        StatsFile::MemoryLimit,
        StatsFile::MemoryStat,
        StatsFile::PidsCurrent,
        StatsFile::PidsMax,
        StatsFile::IoBytes,
    ];

    /// The v1 hierarchy (controller) and file name.
    pub fn v1_location(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            StatsFile::CpuacctUsage => ("cpuacct", "cpuacct.usage"),
            StatsFile::CpuacctUsagePercpu => ("cpuacct", "cpuacct.usage_percpu"),
            StatsFile::CpuacctStat => ("cpuacct", "cpuacct.stat"),
            StatsFile::CpuStat => ("cpu", "cpu.stat"),
            StatsFile::MemoryUsage => ("memory", "memory.usage_in_bytes"),
            StatsFile::MemoryMaxUsage => ("memory", "memory.max_usage_in_bytes"),
            StatsFile::MemoryLimit => ("memory", "memory.limit_in_bytes"),
            StatsFile::MemoryStat => ("memory", "memory.stat"),
            StatsFile::PidsCurrent => ("pids", "pids.current"),
            StatsFile::PidsMax => ("pids", "pids.max"),
            StatsFile::IoBytes => ("blkio", "blkio.throttle.io_service_bytes_recursive"),
        })
    }

    /// The v2 file name.
    pub fn v2_name(self) -> Option<&'static str> {
        Some(match self {
            StatsFile::CpuacctUsage | StatsFile::CpuacctUsagePercpu | StatsFile::CpuacctStat => {
                return None
            }
            StatsFile::CpuStat => "cpu.stat",
            StatsFile::MemoryUsage => "memory.current",
            StatsFile::MemoryMaxUsage => "memory.peak",
            StatsFile::MemoryLimit => "memory.max",
            StatsFile::MemoryStat => "memory.stat",
            StatsFile::PidsCurrent => "pids.current",
            StatsFile::PidsMax => "pids.max",
            StatsFile::IoBytes => "io.stat",
        })
    }
}

/// Gives the contents of a cgroup's stats files.
pub trait StatsSource {
    /// The contents of `file`, or `None` if the cgroup does not have it (its controller is
    /// not mounted or not enabled).
    fn read(&mut self, file: StatsFile) -> Result<Option<&str>>;
    /// Where `file` lives, for error messages.
    fn path(&self, file: StatsFile) -> PathBuf;
}

/// Assembles a v1 sample from `source`.
pub fn collect_v1(source: &mut dyn StatsSource) -> Result<CgroupStats> {
    let cpu = match parsed(source, StatsFile::CpuacctUsage, parse_u64)? {
        None => None,
        Some(usage_total_ns) => {
            let ticks = required(source, StatsFile::CpuacctStat, parse_flat_keyed)?;
            let tick = |key: &str| ticks.get(key).copied().unwrap_or(0) * NS_PER_USER_HZ_TICK;
            let throttling =
                parsed(source, StatsFile::CpuStat, parse_flat_keyed)?.map(|stat| CpuThrottling {
                    periods: field(&stat, "nr_periods"),
                    throttled_periods: field(&stat, "nr_throttled"),
                    throttled_ns: field(&stat, "throttled_time"),
                });
            Some(CpuStats {
                usage_total_ns,
                usage_user_ns: tick("user"),
                usage_system_ns: tick("system"),
                per_cpu_ns: parsed(source, StatsFile::CpuacctUsagePercpu, parse_per_cpu)?,
                throttling,
            })
        }
    };
    Ok(CgroupStats {
        cpu,
        memory: collect_memory(
            source,
            |text| parse_u64(text).map(v1_memory_limit),
            "total_inactive_file",
        )?,
        pids: collect_pids(source)?,
        blkio: parsed(source, StatsFile::IoBytes, parse_v1_io_service_bytes)?
            .map(|devices| BlkioStats { devices }),
    })
}

/// Assembles a v2 sample from `source`.
pub fn collect_v2(source: &mut dyn StatsSource) -> Result<CgroupStats> {
    let cpu = parsed(source, StatsFile::CpuStat, parse_flat_keyed)?.map(|stat| {
        let usec = |key: &str| field(&stat, key) * 1000;
        // The throttling fields appear only when the cpu controller is enabled.
        let throttling = stat.contains_key("nr_periods").then(|| CpuThrottling {
            periods: field(&stat, "nr_periods"),
            throttled_periods: field(&stat, "nr_throttled"),
            throttled_ns: usec("throttled_usec"),
        });
        CpuStats {
            usage_total_ns: usec("usage_usec"),
            usage_user_ns: usec("user_usec"),
            usage_system_ns: usec("system_usec"),
            per_cpu_ns: None,
            throttling,
        }
    });
    Ok(CgroupStats {
        cpu,
        memory: collect_memory(source, parse_limit, "inactive_file")?,
        pids: collect_pids(source)?,
        blkio: parsed(source, StatsFile::IoBytes, parse_v2_io_stat)?
            .map(|devices| BlkioStats { devices }),
    })
}

/// The memory sample, if the cgroup reports its usage. v1 and v2 differ in how the limit
/// file says "no limit" (`parse_limit`) and in the name of the inactive page cache count.
fn collect_memory(
    source: &mut dyn StatsSource,
    parse_limit: fn(&str) -> Result<Option<u64>, ParseError>,
    inactive_file_key: &str,
) -> Result<Option<MemoryStats>> {
    let Some(usage) = parsed(source, StatsFile::MemoryUsage, parse_u64)? else {
        return Ok(None);
    };
    let stat = required(source, StatsFile::MemoryStat, parse_flat_keyed)?;
    Ok(Some(MemoryStats {
        usage,
        max_usage: parsed(source, StatsFile::MemoryMaxUsage, parse_u64)?,
        limit: required(source, StatsFile::MemoryLimit, parse_limit)?,
        inactive_file: field(&stat, inactive_file_key),
        stat,
    }))
}

fn collect_pids(source: &mut dyn StatsSource) -> Result<Option<PidsStats>> {
    let Some(current) = parsed(source, StatsFile::PidsCurrent, parse_u64)? else {
        return Ok(None);
    };
    Ok(Some(PidsStats {
        current,
        limit: required(source, StatsFile::PidsMax, parse_limit)?,
    }))
}

/// `cpuacct.stat` counts in USER_HZ ticks, which Linux fixes at 100 per second for user space
/// on every architecture.
const NS_PER_USER_HZ_TICK: u64 = 1_000_000_000 / 100;

fn field(map: &BTreeMap<String, u64>, key: &str) -> u64 {
    map.get(key).copied().unwrap_or(0)
}

fn parsed<T>(
    source: &mut dyn StatsSource,
    file: StatsFile,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<Option<T>> {
    let result = match source.read(file)? {
        None => return Ok(None),
        Some(text) => parse(text),
    };
    result.map(Some).map_err(|source_err| CgroupError::Parse {
        path: source.path(file),
        source: source_err,
    })
}

fn required<T>(
    source: &mut dyn StatsSource,
    file: StatsFile,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T> {
    parsed(source, file, parse)?.ok_or_else(|| CgroupError::Io {
        op: "read",
        path: source.path(file),
        source: io::Error::from(io::ErrorKind::NotFound),
    })
}

/// A file holding one unsigned number.
pub fn parse_u64(text: &str) -> Result<u64, ParseError> {
    let text = text.trim();
    text.parse()
        .map_err(|_| ParseError::new(format!("expected a number, found {text:?}")))
}

/// A v2 limit file: a number, or "max" for none.
pub fn parse_limit(text: &str) -> Result<Option<u64>, ParseError> {
    match text.trim() {
        "max" => Ok(None),
        other => parse_u64(other).map(Some),
    }
}

/// The kernel shows an unlimited v1 memory limit as its largest page-aligned value, just under
/// `i64::MAX`; anything that close to it means no limit (allowing pages up to 1 MiB).
pub fn v1_memory_limit(bytes: u64) -> Option<u64> {
    const UNLIMITED_FROM: u64 = i64::MAX as u64 - (1 << 20);
    (bytes < UNLIMITED_FROM).then_some(bytes)
}

/// A "flat keyed" file (`key value` per line), such as `memory.stat` or `cpu.stat`.
pub fn parse_flat_keyed(text: &str) -> Result<BTreeMap<String, u64>, ParseError> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (key, value) = split_key_value(line)?;
            Ok((key.to_string(), value))
        })
        .collect()
}

/// One key of a flat keyed file, without building the whole map.
pub fn keyed_value(text: &str, key: &str) -> Result<Option<u64>, ParseError> {
    for line in text.lines() {
        if line.split_whitespace().next() == Some(key) {
            return split_key_value(line).map(|(_, value)| Some(value));
        }
    }
    Ok(None)
}

/// The `oom_kill` counter of v1 `memory.oom_control` or v2 `memory.events`.
pub fn parse_oom_kills(text: &str) -> Result<u64, ParseError> {
    keyed_value(text, "oom_kill")?
        .ok_or_else(|| ParseError::new("no oom_kill field (the kernel is older than 4.13)"))
}

fn split_key_value(line: &str) -> Result<(&str, u64), ParseError> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(key), Some(value), None) => Ok((key, parse_u64(value)?)),
        _ => Err(ParseError::new(format!(
            "expected \"key value\", found {line:?}"
        ))),
    }
}

/// `cpuacct.usage_percpu`: one number per CPU, separated by spaces.
pub fn parse_per_cpu(text: &str) -> Result<Vec<u64>, ParseError> {
    text.split_whitespace().map(parse_u64).collect()
}

/// v1 `blkio.*io_service_bytes*`: `MAJ:MIN Op bytes` lines, then `Total bytes`.
pub fn parse_v1_io_service_bytes(text: &str) -> Result<Vec<BlkioDevice>, ParseError> {
    let mut devices: Vec<BlkioDevice> = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            [] | ["Total", _] => continue,
            [device, op, value] => {
                let (major, minor) = parse_device(device)?;
                let value = parse_u64(value)?;
                let entry = device_entry(&mut devices, major, minor);
                match op {
                    "Read" => entry.read_bytes = value,
                    "Write" => entry.write_bytes = value,
                    _ => {} // Sync, Async, Discard and Total overlap Read and Write.
                }
            }
            _ => return Err(ParseError::new(format!("unexpected line {line:?}"))),
        }
    }
    Ok(devices)
}

/// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N …` per device.
pub fn parse_v2_io_stat(text: &str) -> Result<Vec<BlkioDevice>, ParseError> {
    let mut devices = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(device) = words.next() else { continue };
        let (major, minor) = parse_device(device)?;
        let mut entry = BlkioDevice {
            major,
            minor,
            ..BlkioDevice::default()
        };
        for pair in words {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| ParseError::new(format!("expected key=value, found {pair:?}")))?;
            match key {
                "rbytes" => entry.read_bytes = parse_u64(value)?,
                "wbytes" => entry.write_bytes = parse_u64(value)?,
                _ => {}
            }
        }
        devices.push(entry);
    }
    Ok(devices)
}

fn parse_device(text: &str) -> Result<(u64, u64), ParseError> {
    let (major, minor) = text
        .split_once(':')
        .ok_or_else(|| ParseError::new(format!("expected MAJOR:MINOR, found {text:?}")))?;
    Ok((parse_u64(major)?, parse_u64(minor)?))
}

fn device_entry(devices: &mut Vec<BlkioDevice>, major: u64, minor: u64) -> &mut BlkioDevice {
    let index = match devices
        .iter()
        .position(|d| d.major == major && d.minor == minor)
    {
        Some(index) => index,
        None => {
            devices.push(BlkioDevice {
                major,
                minor,
                ..BlkioDevice::default()
            });
            devices.len() - 1
        }
    };
    &mut devices[index]
}

/// `cgroup.procs`: one PID per line.
pub fn parse_procs(text: &str) -> Result<Vec<i32>, ParseError> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.trim()
                .parse()
                .map_err(|_| ParseError::new(format!("expected a PID, found {line:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A source over fixed texts, as a sampler's pread buffers would be.
    struct Texts(HashMap<StatsFile, &'static str>);

    impl StatsSource for Texts {
        fn read(&mut self, file: StatsFile) -> Result<Option<&str>> {
            Ok(self.0.get(&file).copied())
        }
        fn path(&self, file: StatsFile) -> PathBuf {
            PathBuf::from(format!("/fake/{file:?}"))
        }
    }

    // Contents as this kernel (6.18) writes them.
    const V1_MEMORY_STAT: &str = "cache 1052672\nrss 2240512\nrss_huge 0\nshmem 0\nmapped_file 0\n\
        inactive_anon 2240512\nactive_anon 0\ninactive_file 1052672\nactive_file 0\n\
        hierarchical_memory_limit 67108864\ntotal_cache 1052672\ntotal_rss 2240512\n\
        total_inactive_anon 2240512\ntotal_inactive_file 1052672\ntotal_active_file 0\n";

    fn v1_texts() -> Texts {
        Texts(HashMap::from([
            (StatsFile::CpuacctUsage, "123456789\n"),
            (StatsFile::CpuacctUsagePercpu, "100000000 23456789 \n"),
            (StatsFile::CpuacctStat, "user 7\nsystem 3\n"),
            (
                StatsFile::CpuStat,
                "nr_periods 10\nnr_throttled 4\nthrottled_time 5000\nnr_bursts 0\nburst_time 0\n",
            ),
            (StatsFile::MemoryUsage, "3293184\n"),
            (StatsFile::MemoryMaxUsage, "4194304\n"),
            (StatsFile::MemoryLimit, "67108864\n"),
            (StatsFile::MemoryStat, V1_MEMORY_STAT),
            (StatsFile::PidsCurrent, "3\n"),
            (StatsFile::PidsMax, "max\n"),
            (
                StatsFile::IoBytes,
                "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n8:0 Discard 0\n\
                 8:0 Total 12288\n253:1 Read 512\n253:1 Write 0\nTotal 12800\n",
            ),
        ]))
    }

    #[test]
    fn v1_sample_from_kernel_texts() {
        let stats = collect_v1(&mut v1_texts()).unwrap();
        let cpu = stats.cpu.unwrap();
        assert_eq!(cpu.usage_total_ns, 123_456_789);
        assert_eq!(cpu.usage_user_ns, 70_000_000);
        assert_eq!(cpu.usage_system_ns, 30_000_000);
        assert_eq!(cpu.per_cpu_ns, Some(vec![100_000_000, 23_456_789]));
        assert_eq!(
            cpu.throttling,
            Some(CpuThrottling {
                periods: 10,
                throttled_periods: 4,
                throttled_ns: 5000
            })
        );
        let memory = stats.memory.unwrap();
        assert_eq!(memory.usage, 3_293_184);
        assert_eq!(memory.max_usage, Some(4_194_304));
        assert_eq!(memory.limit, Some(64 << 20));
        assert_eq!(memory.inactive_file, 1_052_672);
        assert_eq!(memory.stat["hierarchical_memory_limit"], 64 << 20);
        assert_eq!(
            stats.pids,
            Some(PidsStats {
                current: 3,
                limit: None
            })
        );
        assert_eq!(
            stats.blkio.unwrap().devices,
            [
                BlkioDevice {
                    major: 8,
                    minor: 0,
                    read_bytes: 4096,
                    write_bytes: 8192
                },
                BlkioDevice {
                    major: 253,
                    minor: 1,
                    read_bytes: 512,
                    write_bytes: 0
                },
            ]
        );
    }

    #[test]
    fn v1_unlimited_memory_is_none() {
        let mut texts = v1_texts();
        texts
            .0
            .insert(StatsFile::MemoryLimit, "9223372036854771712\n");
        assert_eq!(collect_v1(&mut texts).unwrap().memory.unwrap().limit, None);
        assert_eq!(
            v1_memory_limit(9_223_372_036_854_710_272),
            None,
            "64 KiB pages"
        );
        assert_eq!(v1_memory_limit(1 << 40), Some(1 << 40));
    }

    #[test]
    fn missing_controllers_leave_their_section_empty() {
        let mut texts = Texts(HashMap::from([
            (StatsFile::PidsCurrent, "1\n"),
            (StatsFile::PidsMax, "20\n"),
        ]));
        let stats = collect_v1(&mut texts).unwrap();
        assert_eq!(
            stats.pids,
            Some(PidsStats {
                current: 1,
                limit: Some(20)
            })
        );
        assert_eq!((stats.cpu, stats.memory, stats.blkio), (None, None, None));
    }

    #[test]
    fn a_present_controller_with_a_missing_file_is_an_error_naming_it() {
        let mut texts = Texts(HashMap::from([(StatsFile::PidsCurrent, "1\n")]));
        let err = collect_v2(&mut texts).unwrap_err();
        assert!(
            matches!(&err, CgroupError::Io { path, .. } if path.ends_with("PidsMax")),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_a_parse_error_naming_the_file() {
        let mut texts = v1_texts();
        texts.0.insert(StatsFile::CpuacctUsage, "lots\n");
        let err = collect_v1(&mut texts).unwrap_err();
        assert!(
            matches!(&err, CgroupError::Parse { path, .. } if path.ends_with("CpuacctUsage")),
            "{err}"
        );
    }

    #[test]
    fn v2_sample_from_kernel_texts() {
        let mut texts = Texts(HashMap::from([
            (
                StatsFile::CpuStat,
                "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 8\nnr_throttled 2\nthrottled_usec 300\n",
            ),
            (StatsFile::MemoryUsage, "1048576\n"),
            (StatsFile::MemoryLimit, "max\n"),
            (StatsFile::MemoryStat, "anon 524288\nfile 524288\ninactive_file 262144\nactive_file 262144\n"),
            (StatsFile::PidsCurrent, "2\n"),
            (StatsFile::PidsMax, "100\n"),
            (StatsFile::IoBytes, "8:16 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n"),
        ]));
        let stats = collect_v2(&mut texts).unwrap();
        let cpu = stats.cpu.unwrap();
        assert_eq!(
            (cpu.usage_total_ns, cpu.usage_user_ns, cpu.usage_system_ns),
            (2_500_000, 2_000_000, 500_000)
        );
        assert_eq!(cpu.per_cpu_ns, None);
        assert_eq!(
            cpu.throttling,
            Some(CpuThrottling {
                periods: 8,
                throttled_periods: 2,
                throttled_ns: 300_000
            })
        );
        let memory = stats.memory.unwrap();
        assert_eq!(
            (memory.usage, memory.limit, memory.max_usage),
            (1 << 20, None, None)
        );
        assert_eq!(memory.inactive_file, 262_144);
        assert_eq!(
            stats.pids,
            Some(PidsStats {
                current: 2,
                limit: Some(100)
            })
        );
        assert_eq!(
            stats.blkio.unwrap().devices,
            [BlkioDevice {
                major: 8,
                minor: 16,
                read_bytes: 1024,
                write_bytes: 2048
            }]
        );
    }

    #[test]
    fn v2_cpu_stat_without_the_cpu_controller_has_no_throttling() {
        let mut texts = Texts(HashMap::from([(
            StatsFile::CpuStat,
            "usage_usec 10\nuser_usec 6\nsystem_usec 4\n",
        )]));
        let cpu = collect_v2(&mut texts).unwrap().cpu.unwrap();
        assert_eq!(cpu.usage_total_ns, 10_000);
        assert_eq!(cpu.throttling, None);
    }

    #[test]
    fn every_listed_file_has_a_name_for_its_version() {
        assert!(StatsFile::V1.iter().all(|f| f.v1_location().is_some()));
        assert!(StatsFile::V2.iter().all(|f| f.v2_name().is_some()));
        assert_eq!(StatsFile::CpuacctUsage.v2_name(), None);
    }

    #[test]
    fn small_parsers() {
        assert_eq!(parse_limit("max\n"), Ok(None));
        assert_eq!(parse_limit("42\n"), Ok(Some(42)));
        assert!(parse_u64("-1").is_err());
        assert_eq!(
            keyed_value("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
            Ok(Some(3))
        );
        assert_eq!(keyed_value("populated 1\nfrozen 0\n", "oom_kill"), Ok(None));
        assert!(keyed_value("oom_kill lots\n", "oom_kill").is_err());
        assert_eq!(
            parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            Ok(2)
        );
        assert!(parse_oom_kills("oom_kill_disable 0\nunder_oom 0\n").is_err());
        assert!(parse_flat_keyed("a 1 2\n").is_err());
        assert_eq!(parse_procs("12\n345\n"), Ok(vec![12, 345]));
        assert_eq!(parse_procs(""), Ok(vec![]));
        assert!(parse_procs("12\nx\n").is_err());
        assert!(parse_v1_io_service_bytes("8:0 Read\n").is_err());
        assert!(parse_v2_io_stat("8:0 rbytes\n").is_err());
        assert!(parse_v2_io_stat("8 rbytes=1\n").is_err());
    }
}
