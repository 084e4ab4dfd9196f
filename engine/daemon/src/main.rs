//! berthd: the berth daemon. It starts the supervisor, `berth-supervisor`, from its own
//! directory (see berth-supervisor).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use berth_engine::config::{
    DaemonConfig, DistributionConfig, DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT,
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
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
    match berth_engine::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("berthd: {err:#}");
            ExitCode::FAILURE
        }
    }
}
