//! A container's PID 1 held by a pidfd, so that berthd can signal it, see it end and learn
//! its exit status without its supervisor (see `crate::supervision` for why).
//!
//! A pidfd names one process for good: signalling it after the process is gone fails with
//! ESRCH instead of reaching whoever reuses the PID. The PID is opened while the supervisor
//! has not reaped the process (it said it runs), so it is still the container's.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use berth_supervisor::ExitRecord;
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("opening a pidfd for process {pid}: {source}")]
    Open { pid: i32, source: io::Error },
    #[error("signal {signal} is not one a process can be sent")]
    BadSignal { signal: i32 },
    #[error("sending signal {signal} to process {pid}: {source}")]
    Signal {
        pid: i32,
        signal: i32,
        source: io::Error,
    },
}

/// One process, held by its pidfd. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Process {
    pid: i32,
    fd: Arc<OwnedFd>,
}

impl Process {
    pub fn open(pid: i32) -> Result<Process, ProcessError> {
        let open_error = |source: io::Error| ProcessError::Open { pid, source };
        let raw = Pid::from_raw(pid)
            .ok_or_else(|| open_error(io::Error::from_raw_os_error(libc::ESRCH)))?;
        let fd = rustix::process::pidfd_open(raw, PidfdFlags::empty())
            .map_err(|errno| open_error(errno.into()))?;
        Ok(Process {
            pid,
            fd: Arc::new(fd),
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal`. `Ok(false)` if the process has already exited.
    pub fn signal(&self, signal: i32) -> Result<bool, ProcessError> {
        let sig = Signal::from_named_raw(signal).ok_or(ProcessError::BadSignal { signal })?;
        match rustix::process::pidfd_send_signal(self.fd.as_fd(), sig) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::SRCH) => Ok(false),
            Err(errno) => Err(ProcessError::Signal {
                pid: self.pid,
                signal,
                source: errno.into(),
            }),
        }
    }

    /// Completes once the process has exited (a zombie counts).
    pub async fn exited(&self) {
        let Ok(fd) = self.fd.try_clone() else {
            return;
        };
        // SAFETY: an OwnedFd always names the same open descriptor until the AsyncFd, which
        // owns it, drops it.
        match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
            Ok(fd) => drop(fd.readable().await),
            Err(err) => tracing::warn!("watching process {}: {err}", self.pid),
        }
    }

    /// How the process ended, if berthd is its parent (the supervisor that parented it died
    /// and it was reparented to berthd, see `crate::supervision`): it is reaped. `None` when
    /// berthd is not its parent. Only for a process that has [`exited`](Process::exited).
    pub fn reap(&self) -> Option<ExitRecord> {
        let now = chrono::Utc::now();
        let reaped = rustix::process::waitid(
            WaitId::PidFd(self.fd.as_fd()),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        );
        let status = reaped.ok()??;
        if let Some(code) = status.exit_status() {
            return Some(ExitRecord::exited(code, now));
        }
        status
            .terminating_signal()
            .map(|signal| ExitRecord::killed(signal, now))
    }
}

impl Process {
    /// Blocking: waits up to `limit` for the process to exit, then reaps it if it is
    /// berthd's child (a container of a dead supervisor, see `crate::supervision`).
    pub fn reap_blocking(&self, limit: Duration) {
        let mut poll = [rustix::event::PollFd::new(
            &*self.fd,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::event::Timespec::try_from(limit).ok();
        let _ = rustix::event::poll(&mut poll, timeout.as_ref());
        let _ = rustix::process::waitid(
            WaitId::PidFd(self.fd.as_fd()),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        );
    }
}

/// Whether the process of `pidfd` exits within `limit`.
pub async fn wait_readable(pidfd: &OwnedFd, limit: Duration) -> bool {
    let Ok(fd) = pidfd.try_clone() else {
        return false;
    };
    // SAFETY: as in `Process::exited`.
    let Ok(fd) = (unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }) else {
        return false;
    };
    tokio::time::timeout(limit, fd.readable()).await.is_ok()
}

/// When nothing knows how a container ended (its supervisor died while no berthd parented
/// it, or the host rebooted), Docker reports exit code 255.
pub fn unknown_exit() -> ExitRecord {
    ExitRecord {
        exit_code: 255,
        signal: None,
        finished_at: chrono::Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_child_is_signalled_watched_and_reaped_through_its_pidfd() {
        let child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let process = Process::open(child.id() as i32).unwrap();
        assert!(process.signal(libc::SIGTERM).unwrap());
        process.exited().await;
        let exit = process.reap().unwrap();
        assert_eq!(
            (exit.exit_code, exit.signal),
            (128 + libc::SIGTERM, Some(libc::SIGTERM))
        );
        // Reaped: a second signal finds nobody, and reaches no one else.
        assert!(!process.signal(libc::SIGKILL).unwrap());
        drop(child);
    }

    #[tokio::test]
    async fn a_process_berthd_cannot_reap_has_no_exit_to_take() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let process = Process::open(child.id() as i32).unwrap();
        process.exited().await;
        // Someone else (here: std) reaps it first, as a live supervisor would.
        child.wait().unwrap();
        assert_eq!(process.reap(), None);
    }
}
