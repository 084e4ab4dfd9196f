//! Entering a container this supervisor does not parent: one whose supervisor died, whose
//! PID 1 berthd still holds (see berthd's `supervision`). Its namespaces are opened through
//! `/proc/<pid>`, which names the container only while that process lives: so the process
//! is held by a pidfd before, and checked to still be alive and in the container's cgroup
//! after, and an exec that may have entered someone else's namespaces is killed.

use std::os::fd::OwnedFd;

use berth_runtime::ContainerConfig;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags};

use crate::protocol::Refusal;

pub(super) struct Orphan {
    id: String,
    pid: i32,
    pidfd: OwnedFd,
    /// The container's cgroup path, as `/proc/<pid>/cgroup` shows it.
    cgroup: String,
}

impl Orphan {
    /// Holds PID 1 `pid` of container `container`, checked to be the container's.
    pub(super) fn hold(pid: i32, container: &ContainerConfig) -> Result<Orphan, Refusal> {
        let not_running = || Refusal::NotRunning {
            id: container.id.clone(),
        };
        let raw = Pid::from_raw(pid).ok_or_else(not_running)?;
        let pidfd =
            rustix::process::pidfd_open(raw, PidfdFlags::empty()).map_err(|_| not_running())?;
        let orphan = Orphan {
            id: container.id.clone(),
            pid,
            pidfd,
            cgroup: berth_runtime::cgroup_path(container),
        };
        orphan.still_the_container()?;
        Ok(orphan)
    }

    /// The held process has not exited and is in the container's cgroup.
    pub(super) fn still_the_container(&self) -> Result<(), Refusal> {
        let mut poll = [PollFd::new(&self.pidfd, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let exited = rustix::event::poll(&mut poll, Some(&now)).map_or(true, |ready| ready > 0);
        let path = format!("/proc/{}/cgroup", self.pid);
        let in_cgroup = std::fs::read_to_string(&path).is_ok_and(|text| {
            text.lines()
                .any(|line| line.rsplit(':').next() == Some(self.cgroup.as_str()))
        });
        if exited || !in_cgroup {
            return Err(Refusal::NotRunning {
                id: self.id.clone(),
            });
        }
        Ok(())
    }
}
