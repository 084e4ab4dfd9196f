//! What a stats sample needs from outside the cgroup: the host's CPU time and CPU count
//! (`/proc/stat`), its memory (`/proc/meminfo`), and a container's network counters
//! (`/proc/<pid>/net/dev`, which shows the network namespace of that process). The files
//! are kept open and read with `pread`; the parsers are pure.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HostStatsError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("parsing {}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
}

/// A file kept open and read whole from offset 0 each time.
pub struct KeptFile {
    path: PathBuf,
    file: File,
    buffer: Vec<u8>,
}

impl KeptFile {
    pub fn open(path: impl Into<PathBuf>) -> Result<KeptFile, HostStatsError> {
        let path = path.into();
        let file = File::open(&path).map_err(|source| HostStatsError::Io {
            op: "open",
            path: path.clone(),
            source,
        })?;
        Ok(KeptFile {
            path,
            file,
            buffer: Vec::with_capacity(4096),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn read(&mut self) -> Result<&str, HostStatsError> {
        self.buffer.clear();
        let mut chunk = [0u8; 8192];
        loop {
            match self.file.read_at(&mut chunk, self.buffer.len() as u64) {
                Ok(0) => break,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(HostStatsError::Io {
                        op: "read",
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
        std::str::from_utf8(&self.buffer).map_err(|_| HostStatsError::Parse {
            path: self.path.clone(),
            reason: "not UTF-8 text".to_string(),
        })
    }
}

/// The kernel's USER_HZ, the unit of /proc/stat, is 100 on every architecture Linux runs.
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

/// The host's CPU time in nanoseconds (the sum of the first seven fields of the `cpu` line,
/// as Docker computes `system_cpu_usage`) and the number of CPUs (`cpuN` lines).
pub fn parse_proc_stat(text: &str) -> Result<(u64, u32), String> {
    let mut total = None;
    let mut cpus = 0;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("cpu") => {
                let ticks: Result<Vec<u64>, _> = words.take(7).map(str::parse::<u64>).collect();
                let ticks = ticks.map_err(|_| format!("bad cpu line {line:?}"))?;
                if ticks.len() < 7 {
                    return Err(format!("short cpu line {line:?}"));
                }
                total = Some(ticks.iter().sum::<u64>() * NS_PER_TICK);
            }
            Some(word) if word.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    total
        .map(|total| (total, cpus))
        .ok_or_else(|| "no cpu line".to_string())
}

/// `MemTotal` of /proc/meminfo, in bytes.
pub fn parse_mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One interface's counters from /proc/net/dev.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// /proc/net/dev: two header lines, then `name: rx(8 fields) tx(8 fields)`. The loopback
/// interface is left out, as Docker reports only the container's network endpoints.
pub fn parse_net_dev(text: &str) -> Result<BTreeMap<String, InterfaceCounters>, String> {
    let mut interfaces = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let values: Result<Vec<u64>, _> = counters.split_whitespace().map(str::parse).collect();
        let values = values.map_err(|_| format!("bad counters for {name}: {line:?}"))?;
        if values.len() < 16 {
            return Err(format!("expected 16 counters for {name}: {line:?}"));
        }
        interfaces.insert(
            name.to_string(),
            InterfaceCounters {
                rx_bytes: values[0],
                rx_packets: values[1],
                rx_errors: values[2],
                rx_dropped: values[3],
                tx_bytes: values[8],
                tx_packets: values[9],
                tx_errors: values[10],
                tx_dropped: values[11],
            },
        );
    }
    Ok(interfaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_sums_the_first_seven_fields_and_counts_cpus() {
        let text = "cpu  10 1 5 100 2 0 1 7 0 0\ncpu0 5 0 2 50 1 0 0 0 0 0\ncpu1 5 1 3 50 1 0 1 0 0 0\nintr 1\n";
        assert_eq!(parse_proc_stat(text), Ok((119 * NS_PER_TICK, 2)));
        assert!(parse_proc_stat("intr 1\n").is_err());
        assert!(parse_proc_stat("cpu 1 2\n").is_err());
    }

    #[test]
    fn meminfo_total_is_in_bytes() {
        assert_eq!(
            parse_mem_total("MemTotal:       24684276 kB\nMemFree: 1 kB\n"),
            Some(24_684_276 * 1024)
        );
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn net_dev_skips_loopback_and_reads_rx_and_tx() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
             lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0\n  \
             eth0:    1000      10    1    2    0     0          0         0     2000      20    3    4    0     0       0          0\n";
        let parsed = parse_net_dev(text).unwrap();
        assert_eq!(parsed.len(), 1);
        let eth0 = parsed["eth0"];
        assert_eq!((eth0.rx_bytes, eth0.rx_packets), (1000, 10));
        assert_eq!((eth0.rx_errors, eth0.rx_dropped), (1, 2));
        assert_eq!((eth0.tx_bytes, eth0.tx_packets), (2000, 20));
        assert_eq!((eth0.tx_errors, eth0.tx_dropped), (3, 4));
        assert!(parse_net_dev("h\nh\n eth0: 1 2\n").is_err());
    }
}
