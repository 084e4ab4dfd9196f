//! Messages that look at a running container without changing it: its processes for
//! `top`, and its log with the progress of the output pump for `logs -f`.

use std::path::PathBuf;

use actix::prelude::*;
use tokio::sync::watch;

use super::ContainerActor;
use crate::container::error::Error;
use crate::container::output::LogProgress;
use crate::container::record::Status;

/// The PIDs (host view) of every process in the container's cgroup.
#[derive(Message)]
#[rtype(result = "Result<Vec<i32>, Error>")]
pub struct TopProcesses;

impl Handler<TopProcesses> for ContainerActor {
    type Result = Result<Vec<i32>, Error>;

    fn handle(&mut self, _: TopProcesses, _: &mut Context<Self>) -> Self::Result {
        let id = &self.record.id;
        match self.record.state.status {
            Status::Running | Status::Paused => {}
            Status::Restarting => {
                return Err(Error::conflict(format!(
                    "Container {id} is restarting, wait until the container is running"
                )))
            }
            _ => return Err(self.not_running()),
        }
        let cgroup = self.cgroup().ok_or_else(|| {
            Error::unsupported("listing a container's processes without a cgroup hierarchy")
        })?;
        let pids = cgroup
            .procs()
            .map_err(|err| Error::internal(format!("listing the processes of {id}: {err}")))?;
        self.emit("top", &[]);
        Ok(pids)
    }
}

/// Where to read the log, whether the container has a TTY, and, while its output is being
/// pumped, the pump's progress to follow.
pub struct LogFollowing {
    /// `None` when the log driver keeps nothing to read (`none`).
    pub path: Option<PathBuf>,
    pub tty: bool,
    pub progress: Option<watch::Receiver<LogProgress>>,
}

#[derive(Message)]
#[rtype(result = "LogFollowing")]
pub struct LogFollow;

impl Handler<LogFollow> for ContainerActor {
    type Result = MessageResult<LogFollow>;

    fn handle(&mut self, _: LogFollow, _: &mut Context<Self>) -> Self::Result {
        // Docker follows only a running container's log; any other is read to its end.
        let progress = self
            .record
            .state
            .status
            .is_live()
            .then(|| self.log_progress.clone())
            .flatten();
        MessageResult(LogFollowing {
            path: self.log_path(),
            tty: self.record.config.tty == Some(true),
            progress,
        })
    }
}
