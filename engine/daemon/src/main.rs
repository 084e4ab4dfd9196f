//! berthd: the berth daemon.
//!
//! `berthd supervise` is the hidden mode that runs the single supervisor process (see
//! berth-supervisor). It is dispatched before anything else starts, because the supervisor
//! must stay single-threaded: it forks containers.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use berth_engine::config::{DaemonConfig, DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT, DEFAULT_HOST};

#[derive(Parser, Debug)]
#[command(name = "berthd", version, about = "The berth container engine daemon")]
struct Args {
    /// Root directory of persistent berth state
    #[arg(long, default_value = DEFAULT_DATA_ROOT)]
    data_root: PathBuf,
    /// Root directory for execution state (sockets)
    #[arg(long, default_value = DEFAULT_EXEC_ROOT)]
    exec_root: PathBuf,
    /// Daemon socket to listen on (unix://PATH)
    #[arg(short = 'H', long = "host", default_value = DEFAULT_HOST)]
    host: String,
    /// Set the logging level ("debug", "info", "warn", "error")
    #[arg(short = 'l', long, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Run the supervisor that parents every container (started by berthd itself)
    #[command(hide = true)]
    Supervise {
        #[arg(long)]
        exec_root: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Mode::Supervise { exec_root }) = args.mode {
        // The supervisor's stderr is its log file (<exec-root>/supervisor.log).
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .init();
        return match berth_supervisor::run_supervisor(&exec_root) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("berthd supervise: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = match DaemonConfig::new(args.data_root, args.exec_root, &args.host) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("berthd: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    match berth_engine::daemon::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("berthd: {err:#}");
            ExitCode::FAILURE
        }
    }
}
