//! `plain-supervisor --exec-root DIR`: the supervisor with a spawner that runs the spec's
//! process as a plain host process — no namespaces, no rootfs, no cgroup. For this crate's
//! tests, which need the supervisor as a real separate process.

use std::process::{Command, ExitCode};

use berth_runtime::{ContainerConfig, Spawned, StartFailure, StartFailureKind, Stdio};
use berth_supervisor::{run, Spawner, SupervisorOptions};

struct PlainSpawner;

impl Spawner for PlainSpawner {
    fn spawn(&mut self, config: &ContainerConfig, stdio: Stdio) -> Result<Spawned, StartFailure> {
        let process = config.spec.process().as_ref();
        let args = process.and_then(|process| process.args().as_ref());
        let Some((program, args)) = args.and_then(|args| args.split_first()) else {
            return Err(StartFailure {
                kind: StartFailureKind::Other,
                message: "the spec has no process arguments".into(),
            });
        };
        let mut command = Command::new(program);
        command.args(args).env_clear();
        for variable in process
            .and_then(|process| process.env().as_ref())
            .into_iter()
            .flatten()
        {
            if let Some((name, value)) = variable.split_once('=') {
                command.env(name, value);
            }
        }
        command
            .stdin(
                stdio
                    .stdin
                    .map_or_else(std::process::Stdio::null, Into::into),
            )
            .stdout(stdio.stdout)
            .stderr(stdio.stderr);
        match command.spawn() {
            // The supervisor reaps it; std's Child neither waits nor kills on drop.
            Ok(child) => Ok(Spawned {
                pid: child.id() as i32,
            }),
            Err(error) => Err(StartFailure {
                kind: match error.kind() {
                    std::io::ErrorKind::NotFound => StartFailureKind::NotFound,
                    std::io::ErrorKind::PermissionDenied => StartFailureKind::PermissionDenied,
                    _ => StartFailureKind::Other,
                },
                message: format!("exec: {program:?}: {error}"),
            }),
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let exec_root = match (args.next(), args.next(), args.next()) {
        (Some(flag), Some(dir), None) if flag == "--exec-root" => dir.into(),
        _ => {
            eprintln!("usage: plain-supervisor --exec-root DIR");
            return ExitCode::from(2);
        }
    };
    let options = match SupervisorOptions::from_env(exec_root) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("plain-supervisor: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(options, PlainSpawner) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("plain-supervisor: {error}");
            ExitCode::FAILURE
        }
    }
}
