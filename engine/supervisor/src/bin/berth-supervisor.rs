//! `berth-supervisor --exec-root DIR`: the supervisor berthd starts, with berth-runtime's
//! spawner (see the crate's documentation). berthd finds it next to its own executable.
//!
//! An executable of its own, not a mode of berthd: it stays resident for as long as any
//! container runs, so it carries only the supervisor and the runtime — no async runtime, no
//! API server, no argument parser. Measured idle with no container: 1.9 MB RSS (0.7 MB of it
//! its own code) where the re-exec'd berthd took 2.4–3.4 MB.

use std::process::ExitCode;

use berth_supervisor::run_supervisor;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let exec_root: std::path::PathBuf = match (args.next(), args.next(), args.next()) {
        (Some(flag), Some(dir), None) if flag == "--exec-root" => dir.into(),
        _ => {
            eprintln!("usage: berth-supervisor --exec-root DIR (started by berthd)");
            return ExitCode::from(2);
        }
    };
    // Its stderr is its log file (<exec-root>/supervisor.log) once it has detached.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    match run_supervisor(&exec_root) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth-supervisor: {error}");
            ExitCode::FAILURE
        }
    }
}
