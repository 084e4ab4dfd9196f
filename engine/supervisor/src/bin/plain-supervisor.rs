//! `plain-supervisor --exec-root DIR`: the supervisor with a spawner that runs the spec's
//! process as a plain host process — no namespaces, no rootfs, no cgroup. For this crate's
//! tests, which need the supervisor as a real separate process. A terminal is a host pty; an
//! exec is one more plain process.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use berth_runtime::{
    ContainerConfig, ExecConfig, ProcessIo, Spawned, StartFailure, StartFailureKind, Started,
};
use berth_supervisor::{run, Entered, Spawner, SupervisorOptions};
use oci_spec::runtime::Process;

struct PlainSpawner;

fn other(message: String) -> StartFailure {
    StartFailure {
        kind: StartFailureKind::Other,
        message,
    }
}

/// A host pty: (master, slave).
fn host_terminal() -> Result<(OwnedFd, OwnedFd), StartFailure> {
    use rustix::pty::OpenptFlags;
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = rustix::pty::openpt(flags).map_err(|e| other(format!("openpt: {e}")))?;
    rustix::pty::unlockpt(&master).map_err(|e| other(format!("unlockpt: {e}")))?;
    let slave = rustix::pty::ioctl_tiocgptpeer(&master, flags)
        .map_err(|e| other(format!("TIOCGPTPEER: {e}")))?;
    Ok((master, slave))
}

fn start(process: Option<&Process>, io: ProcessIo) -> Result<Started, StartFailure> {
    let args = process.and_then(|process| process.args().as_ref());
    let Some((program, args)) = args.and_then(|args| args.split_first()) else {
        return Err(other("the spec has no process arguments".into()));
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
    let terminal = match io {
        ProcessIo::Pipes(stdio) => {
            command
                .stdin(
                    stdio
                        .stdin
                        .map_or_else(std::process::Stdio::null, Into::into),
                )
                .stdout(stdio.stdout)
                .stderr(stdio.stderr);
            None
        }
        ProcessIo::Terminal => {
            let (master, slave) = host_terminal()?;
            let copy = |fd: &OwnedFd| {
                fd.try_clone()
                    .map_err(|e| other(format!("duplicating the slave: {e}")))
            };
            command
                .stdin(copy(&slave)?)
                .stdout(copy(&slave)?)
                .stderr(slave);
            // SAFETY: only async-signal-safe system calls between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    rustix::process::setsid()?;
                    let stdin = std::os::fd::BorrowedFd::borrow_raw(0);
                    rustix::process::ioctl_tiocsctty(stdin)?;
                    Ok(())
                });
            }
            Some(master)
        }
    };
    match command.spawn() {
        // The supervisor reaps it; std's Child neither waits nor kills on drop.
        Ok(child) => Ok(Started {
            spawned: Spawned {
                pid: child.id() as i32,
            },
            terminal,
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

impl Spawner for PlainSpawner {
    fn spawn(&mut self, config: &ContainerConfig, io: ProcessIo) -> Result<Started, StartFailure> {
        start(config.spec.process().as_ref(), io)
    }

    fn exec(
        &mut self,
        _container: Entered<'_>,
        config: &ExecConfig,
        io: ProcessIo,
    ) -> Result<Started, StartFailure> {
        start(Some(&config.process), io)
    }

    // Keeps nothing per container.
    fn forget(&mut self, _id: &str) {}
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
