//! berthd: the berth daemon. It starts the supervisor, `berth-supervisor`, from its own
//! directory (see berth-supervisor).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use berth_engine::config::{
    DaemonConfig, DistributionConfig, NetworkOptions, DEFAULT_BRIDGE, DEFAULT_CGROUP_PARENT,
    DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT, DEFAULT_FIREWALL_TABLE,
};

#[derive(Parser, Debug)]
#[command(name = "berthd", version, about = "The berth container engine daemon")]
struct Args {
    /// Root directory of persistent berth state
    #[arg(long, default_value = DEFAULT_DATA_ROOT)]
    data_root: PathBuf,
    /// Root directory for execution state (sockets)
    #[arg(long, default_value = DEFAULT_EXEC_ROOT)]
    exec_root: PathBuf,
    /// Daemon socket(s) to listen on: unix://PATH, tcp://127.0.0.1:PORT (repeatable; default
    /// unix:///run/berth/berth.sock)
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    host: Vec<String>,
    /// Set the logging level ("debug", "info", "warn", "error")
    #[arg(short = 'l', long, default_value = "info")]
    log_level: String,
    /// Enable insecure registry communication (host[:port] or CIDR; repeatable)
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    insecure_registry: Vec<String>,
    /// Directory of per-registry TLS trust (HOST[:PORT]/ca.crt, client.cert, client.key)
    #[arg(long, value_name = "DIR", default_value = berth_distribution::hosts::DEFAULT_CERTS_DIR)]
    registry_certs_dir: PathBuf,
    /// Set the max concurrent downloads
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_downloads: u16,
    /// Set the max concurrent uploads
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_uploads: u16,
    /// Serve a Distribution API v2 registry from the image store on this TCP address
    #[arg(long, value_name = "ADDR")]
    registry_addr: Option<std::net::SocketAddr>,
    /// htpasswd file (bcrypt) whose users may use the served registry
    #[arg(long, value_name = "FILE", requires = "registry_addr")]
    registry_htpasswd: Option<PathBuf>,
    /// TLS certificate (PEM) of the served registry
    #[arg(long, value_name = "FILE", requires_all = ["registry_addr", "registry_tls_key"])]
    registry_tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of the served registry
    #[arg(long, value_name = "FILE", requires = "registry_tls_cert")]
    registry_tls_key: Option<PathBuf>,
    /// Attach containers to a network bridge ("none" for no default network)
    #[arg(short = 'b', long, value_name = "NAME", default_value = DEFAULT_BRIDGE, value_parser = parse_bridge)]
    bridge: String,
    /// Specify the default bridge's IP address and subnet (CIDR)
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    bip: Option<String>,
    /// Enable IPv6 networking on the default bridge
    #[arg(long)]
    ipv6: bool,
    /// IPv6 subnet for the default bridge (without it, a /64 of the engine's ULA prefix)
    #[arg(long = "fixed-cidr-v6", value_name = "CIDR", value_parser = parse_cidr6)]
    fixed_cidr_v6: Option<String>,
    /// The nftables table (family inet) that holds berth's firewall rules
    #[arg(long, value_name = "NAME", default_value = DEFAULT_FIREWALL_TABLE, value_parser = parse_table)]
    firewall_table: String,
    /// DNS server to use in containers (repeatable)
    #[arg(long = "dns", value_name = "IP")]
    dns: Vec<std::net::IpAddr>,
    /// DNS search domains to use in containers (repeatable)
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    dns_search: Vec<String>,
    /// DNS options to use in containers (repeatable)
    #[arg(long = "dns-opt", value_name = "OPTION")]
    dns_opt: Vec<String>,
    /// The cgroup containers' cgroups are made in (a path from the root of each hierarchy)
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CGROUP_PARENT, value_parser = parse_cgroup_parent)]
    cgroup_parent: String,
    /// Test knob, not dockerd's: how many endpoints a network's bridge takes before the
    /// next ones are routed (default and maximum 1023, a Linux bridge's limit). Tests and
    /// benches lower it to reach the routed path without a thousand containers.
    #[arg(long, value_name = "N", hide = true, value_parser = clap::value_parser!(u16).range(0..=1023))]
    bridge_port_limit: Option<u16>,
}

/// A cgroup path below the root: `name` or `/a/b`, no empty, `.` or `..` component.
fn parse_cgroup_parent(path: &str) -> Result<String, String> {
    let relative = path.trim_start_matches('/').trim_end_matches('/');
    let valid = !relative.is_empty()
        && !path.contains('\0')
        && relative
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if valid {
        Ok(format!("/{relative}"))
    } else {
        Err(format!(
            "invalid cgroup parent {path:?}: it must name a cgroup below the root, with no empty, . or .. component"
        ))
    }
}

/// A Linux interface name: at most 15 bytes (IFNAMSIZ less the NUL), no '/', no space.
fn parse_bridge(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.contains(['/', ' ', ':']);
    if valid {
        Ok(name.to_string())
    } else {
        Err(format!("invalid bridge name {name:?}: an interface name has 1 to 15 characters, none of them '/', ':' or a space"))
    }
}

/// An IPv4 address with a prefix length, as dockerd's `--bip` takes it.
fn parse_cidr(cidr: &str) -> Result<String, String> {
    let valid = cidr.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
    });
    if valid {
        Ok(cidr.to_string())
    } else {
        Err(format!("invalid CIDR address: {cidr}"))
    }
}

/// An IPv6 subnet, as dockerd's `--fixed-cidr-v6` takes it.
fn parse_cidr6(cidr: &str) -> Result<String, String> {
    match cidr.parse::<ipnet::IpNet>() {
        Ok(ipnet::IpNet::V6(_)) => Ok(cidr.to_string()),
        _ => Err(format!("invalid CIDR address: {cidr}")),
    }
}

/// An nft table name berth accepts: a letter, then letters, digits, '_' and '-', at most
/// 64 bytes.
fn parse_table(name: &str) -> Result<String, String> {
    let mut chars = name.chars();
    let valid = name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(name.to_string())
    } else {
        Err(format!("invalid nftables table name {name:?}"))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Spans are only made at debug level (a start's phases): each prints its busy and
        // idle time when it closes.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .init();
    if args.bridge == "none" && args.bip.is_some() {
        // dockerd's words for the same refusal.
        eprintln!("berthd: You specified -b & --bip, mutually exclusive options");
        return ExitCode::FAILURE;
    }
    if args.fixed_cidr_v6.is_some() && !args.ipv6 {
        // dockerd only reads --fixed-cidr-v6 for a default bridge with IPv6.
        tracing::warn!("--fixed-cidr-v6 is ignored without --ipv6");
    }
    let mut config = match DaemonConfig::new(args.data_root, args.exec_root, &args.host) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("berthd: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    config.distribution = DistributionConfig {
        insecure_registries: args.insecure_registry,
        certs_dir: args.registry_certs_dir,
        max_concurrent_downloads: args.max_concurrent_downloads.into(),
        max_concurrent_uploads: args.max_concurrent_uploads.into(),
        registry_addr: args.registry_addr,
        registry_htpasswd: args.registry_htpasswd,
        registry_tls: args.registry_tls_cert.zip(args.registry_tls_key),
    };
    config.network = NetworkOptions {
        bridge: (args.bridge != "none").then_some(args.bridge),
        bip: args.bip,
        ipv6: args.ipv6,
        fixed_cidr_v6: args.fixed_cidr_v6,
        firewall_table: args.firewall_table,
        dns: args.dns.iter().map(ToString::to_string).collect(),
        dns_search: args.dns_search,
        dns_options: args.dns_opt,
        bridge_port_limit: args.bridge_port_limit.map(usize::from),
    };
    config.cgroup_parent = args.cgroup_parent;
    match berth_engine::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("berthd: {err:#}");
            ExitCode::FAILURE
        }
    }
}
