//! The supervisor as the daemon holds it: one connection at a time, replaced by a new
//! supervisor's when the old one dies.
//!
//! # Why berthd is a child subreaper
//!
//! The supervisor parents every container, so its death used to leave them orphans of init:
//! nobody could learn their exit codes, and berthd kept showing them running. berthd now
//! marks itself a child subreaper (`PR_SET_CHILD_SUBREAPER`) before it starts the supervisor,
//! which makes the supervisor its child (the start command forks it off and exits, and the
//! orphan lands on the nearest subreaper) and makes every container the dead supervisor
//! parented berthd's child in turn. berthd holds each container's PID 1 by a pidfd
//! (`container::process`): it signals it without any PID-reuse risk, sees it exit, and reaps
//! it with `waitid(P_PIDFD)` for its real exit status. Its stdio was never the supervisor's
//! (the daemon holds its own ends), so an orphan stays fully managed (stop, kill, logs,
//! wait, stats, exit code, and `exec`, which the new supervisor runs through its PID 1).
//! A berthd that was itself restarted is not the old supervisor's parent: the orphans go to
//! init, the pidfd still tells when they end, and their exit code is Docker's unknown (255).
//!
//! berthd never waits for "any child" (std and tokio wait for their own children by PID),
//! so reparented processes and the daemon's own helper processes do not steal each other's
//! statuses.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use berth_runtime::{ProcessIo, StartFailure, Started};
use berth_supervisor::{
    ClientError, ContainerIo, ExecRequest, ExitEvent, KnownContainer, SpawnRequest,
    SupervisorClient,
};
use parking_lot::RwLock;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::container::actor::{Exited, SupervisorLost};
use crate::container::exec::ExecExited;
use crate::container::names::{All, Lookup, Names};
use crate::supervisor::{Answer, Supervisor};

/// How long a supervisor whose connection closed may take to exit before it is killed: it
/// serves nobody any more, and it holds the lock its successor needs.
const EXIT_GRACE: Duration = Duration::from_secs(1);
/// Pause between attempts to start a successor that failed to start.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum SupervisionError {
    #[error("making berthd a child subreaper: {0}")]
    Subreaper(#[source] std::io::Error),
    #[error("finding the berthd executable: {0}")]
    Executable(#[source] std::io::Error),
    #[error("starting the supervisor in {exec_root}: {source}")]
    Start {
        exec_root: PathBuf,
        source: ClientError,
    },
}

/// Makes berthd the reaper of the processes its descendants orphan: the supervisor, and the
/// containers of a supervisor that dies. Called once, before the supervisor starts.
pub fn become_subreaper() -> Result<(), SupervisionError> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|errno| SupervisionError::Subreaper(errno.into()))
}

/// The live supervisor. Cheap to clone; every clone sees the successor once one starts.
#[derive(Clone)]
pub struct LiveSupervisor {
    shared: Arc<Shared>,
}

struct Shared {
    exec_root: PathBuf,
    current: RwLock<SupervisorClient>,
}

impl LiveSupervisor {
    /// Connects to the supervisor of `exec_root`, or starts one. The exit events of this
    /// and of every later supervisor go to the handler [`LiveSupervisor::keep_alive`] runs.
    pub async fn start(
        exec_root: &Path,
    ) -> Result<(LiveSupervisor, UnboundedReceiver<ExitEvent>), SupervisionError> {
        let (client, exits) = connect(exec_root).await?;
        let supervisor = LiveSupervisor {
            shared: Arc::new(Shared {
                exec_root: exec_root.to_path_buf(),
                current: RwLock::new(client),
            }),
        };
        Ok((supervisor, exits))
    }

    fn client(&self) -> SupervisorClient {
        self.shared.current.read().clone()
    }

    /// Routes exit events to the containers' actors for as long as the daemon runs. When
    /// the connection is lost (the supervisor died), the dead supervisor is reaped, a new
    /// one is started at once, and every container is told which supervisor it lost.
    pub async fn keep_alive(self, mut exits: UnboundedReceiver<ExitEvent>, names: Addr<Names>) {
        loop {
            while let Some(event) = exits.recv().await {
                route(&self, &names, event).await;
            }
            let lost = self.pid();
            tracing::error!("the supervisor (pid {lost}) is gone: starting a new one");
            end_supervisor(lost).await;
            let (client, next) = loop {
                match connect(&self.shared.exec_root).await {
                    Ok(connected) => break connected,
                    Err(err) => {
                        tracing::error!("{err}; trying again");
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            };
            tracing::info!(
                "a new supervisor (pid {}) serves berthd",
                client.supervisor_pid()
            );
            *self.shared.current.write() = client;
            exits = next;
            if let Ok(containers) = names.send(All).await {
                for container in containers {
                    container.do_send(SupervisorLost { pid: lost });
                }
            }
        }
    }
}

/// Every request goes to the supervisor serving at the time it is made.
impl Supervisor for LiveSupervisor {
    fn spawn(
        &self,
        request: SpawnRequest,
        io: ContainerIo,
    ) -> Answer<Result<Started, StartFailure>> {
        Supervisor::spawn(&self.client(), request, io)
    }

    fn exec(&self, request: ExecRequest, io: ProcessIo) -> Answer<Result<Started, StartFailure>> {
        Supervisor::exec(&self.client(), request, io)
    }

    fn signal(&self, id: &str, signal: i32) -> Answer<bool> {
        Supervisor::signal(&self.client(), id, signal)
    }

    fn close_stdin(&self, id: &str) -> Answer<()> {
        Supervisor::close_stdin(&self.client(), id)
    }

    fn list(&self) -> Answer<Vec<KnownContainer>> {
        Supervisor::list(&self.client())
    }

    fn release(&self, id: &str) -> Answer<()> {
        Supervisor::release(&self.client(), id)
    }

    fn pid(&self) -> i32 {
        self.client().supervisor_pid()
    }
}

async fn connect(
    exec_root: &Path,
) -> Result<(SupervisorClient, UnboundedReceiver<ExitEvent>), SupervisionError> {
    let berthd = std::env::current_exe().map_err(SupervisionError::Executable)?;
    // The one installed next to berthd, so a berthd starts the supervisor built with it.
    let mut start = std::process::Command::new(berthd.with_file_name(berth_supervisor::EXECUTABLE));
    start.arg("--exec-root").arg(exec_root);
    SupervisorClient::connect_or_start(exec_root, start)
        .await
        .map_err(|source| SupervisionError::Start {
            exec_root: exec_root.to_path_buf(),
            source,
        })
}

/// An exit goes to its container's actor; one of a container nobody has any more is
/// released in the supervisor.
async fn route(supervisor: &LiveSupervisor, names: &Addr<Names>, event: ExitEvent) {
    match names.send(Lookup(event.id.clone())).await {
        Ok(Ok((_, addr))) => match event.exec {
            Some(exec_id) => addr.do_send(ExecExited {
                exec_id,
                pid: event.pid,
                exit: event.exit,
            }),
            None => addr.do_send(Exited {
                pid: event.pid,
                exit: event.exit,
            }),
        },
        // An exec's container is gone: there is nothing to release.
        _ if event.exec.is_some() => {}
        _ => {
            tracing::debug!("exit of unknown container {}", event.id);
            if let Err(err) = supervisor.release(&event.id).await {
                tracing::warn!("releasing {} in the supervisor: {err}", event.id);
            }
        }
    }
}

/// Makes sure the supervisor whose connection closed is gone, and reaps it when it is
/// berthd's child: killed if it has not exited within [`EXIT_GRACE`].
async fn end_supervisor(pid: i32) {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let pidfd = match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        // Gone already, and reaped by someone else.
        Err(_) => return,
    };
    let exited = crate::container::process::wait_readable(&pidfd, EXIT_GRACE).await;
    if !exited {
        tracing::warn!("the supervisor (pid {pid:?}) lost its connection but runs on: killing it");
        let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
        crate::container::process::wait_readable(&pidfd, EXIT_GRACE).await;
    }
    reap(&pidfd);
}

/// Reaps the process `pidfd` holds if it is berthd's child (not when berthd was restarted
/// after starting it: init reaps it then).
fn reap(pidfd: &OwnedFd) {
    let _ = rustix::process::waitid(
        rustix::process::WaitId::PidFd(pidfd.as_fd()),
        rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOHANG,
    );
}
