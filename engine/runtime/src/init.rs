//! `--init`: PID 1 stays a minimal init that reaps every child, forwards signals to the
//! container's process, and exits with that process's status.
//!
//! The init is the runtime's own process, forked after the whole setup: it already runs as
//! the container's user, with its capabilities, no_new_privs and seccomp filter, so nothing
//! inside the container holds more privilege than the container's program. It needs no
//! binary in the image or bind-mounted from the host, and its pages are shared with the
//! supervisor it was copied from until written. It only waits for signals, forwards them and
//! reaps, all system calls the default profile allows.

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::os_error::OsError;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("init: blocking signals: {0}")]
    Signals(OsError),
    #[error("init: forking the container's process: {0}")]
    Fork(OsError),
}

/// Signals raised by faults in the init itself: left alone so a bug kills it loudly.
const SYNCHRONOUS: [Signal; 7] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGTRAP,
    Signal::SIGSYS,
    Signal::SIGABRT,
];

/// Forks the container's process. Returns in that process (with its signal mask cleared);
/// in the calling process, which becomes the init, it never returns.
///
/// The init closes every descriptor but 0-2, among them its copy of the start-report pipe,
/// so that the supervisor sees the pipe close once the container's process has exec'd.
pub fn fork_container_process() -> Result<(), InitError> {
    let mut forwarded = SigSet::all();
    for signal in SYNCHRONOUS {
        forwarded.remove(signal);
    }
    // Blocked before the fork, so that nothing arriving in between is lost: a blocked signal
    // stays pending even for a PID 1 that has no handler.
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None)
        .map_err(|e| InitError::Signals(e.into()))?;
    // SAFETY: the runtime runs single-threaded here; both sides only make system calls.
    match unsafe { fork() }.map_err(|e| InitError::Fork(e.into()))? {
        ForkResult::Child => {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
                .map_err(|e| InitError::Signals(e.into()))?;
            Ok(())
        }
        ForkResult::Parent { child } => {
            // Orphans re-parent to us even without a pid namespace of our own.
            // SAFETY: plain prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
            // Nothing the supervisor handed down stays open in the init, the report pipe
            // included.
            // SAFETY: closes descriptors only; none is used past this point.
            unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
            supervise(child, &forwarded)
        }
    }
}

fn supervise(child: Pid, forwarded: &SigSet) -> ! {
    let set: &libc::sigset_t = forwarded.as_ref();
    loop {
        // Raw numbers, so that real-time signals are forwarded too.
        // SAFETY: `set` is a valid signal set; no siginfo is asked for.
        let signal = unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) };
        if signal < 0 {
            continue;
        }
        if signal != libc::SIGCHLD {
            // The process may be gone already; the SIGCHLD will tell.
            // SAFETY: sends a signal, nothing else.
            unsafe { libc::kill(child.as_raw(), signal) };
            continue;
        }
        if let Some(status) = reap(child) {
            // SAFETY: exits without running destructors, as the init holds nothing to flush.
            unsafe { libc::_exit(status) };
        }
    }
}

/// Reaps every exited child; returns the container process's exit status once it is among
/// them (a signal death as 128 + the signal's number, as a shell reports it).
fn reap(child: Pid) -> Option<i32> {
    let mut status = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => status = Some(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => {
                status = Some(128 + signal as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return status,
            Ok(_) => {}
        }
    }
}
