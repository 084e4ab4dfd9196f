//! The `run`/`create` flags for healthchecks, resource limits, namespaces, logging and the
//! runtime, with docker's names, short forms and value syntax.

use clap::Args;

use crate::options::{parse_duration, parse_memory_swap, parse_ram};

/// `--health-*` and `--no-healthcheck`: a healthcheck replacing (or, for what is left out,
/// completing) the image's `HEALTHCHECK`.
#[derive(Args, Debug, Default, Clone)]
pub struct HealthFlags {
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub health_interval: Option<i64>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub health_start_period: Option<i64>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval", value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub health_start_interval: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub health_timeout: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
}

/// The cgroup limits beyond `-m`, `--cpus` and `--pids-limit`.
#[derive(Args, Debug, Default, Clone)]
pub struct ResourceFlags {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "US")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "US", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "SHARES")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "BYTES", value_parser = parse_ram)]
    pub memory_reservation: Option<i64>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "BYTES", value_parser = parse_memory_swap, allow_negative_numbers = true)]
    pub memory_swap: Option<i64>,
}

/// Namespaces shared with the host or another container, the runtime, the log driver,
/// and volumes taken from other containers.
#[derive(Args, Debug, Default, Clone)]
pub struct IsolationFlags {
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// IPC mode to use (private, shareable, host, container:NAME)
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,
    /// Logging driver for the container (json-file, local, none)
    #[arg(long = "log-driver", value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// Log driver options (max-size=…, max-file=…)
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// PID namespace to use (host, container:NAME)
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,
    /// Runtime to use for this container (runc and its aliases)
    #[arg(long, value_name = "RUNTIME")]
    pub runtime: Option<String>,
    /// User namespace to use (host)
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,
    /// UTS namespace to use (host)
    #[arg(long, value_name = "MODE")]
    pub uts: Option<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver", value_name = "DRIVER")]
    pub volume_driver: Option<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw])
    #[arg(long = "volumes-from", value_name = "CONTAINER")]
    pub volumes_from: Vec<String>,
}
