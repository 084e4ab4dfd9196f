//! Turning the started process into the supervisor: detached from the daemon, alone on its
//! exec root, listening, and with SIGCHLD routed to a signalfd.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::ForkResult;
use rustix::fs::Mode;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::SupervisorError;
use crate::paths;

/// Everything the event loop needs, acquired in [`prepare`].
pub(crate) struct Resources {
    /// Held for the supervisor's whole life: one supervisor per exec root.
    pub _lock: Flock<File>,
    pub listener: OwnedFd,
    pub socket_path: PathBuf,
    /// Reports SIGCHLD, which stays blocked for the supervisor's whole life.
    pub child_exits: SignalFd,
}

pub(crate) fn prepare(exec_root: &Path) -> Result<Resources, SupervisorError> {
    ensure_single_threaded()?;
    detach()?;
    fs::create_dir_all(exec_root).map_err(|source| SupervisorError::Io {
        operation: "creating the exec root",
        path: exec_root.to_owned(),
        source,
    })?;
    redirect_stdio(&paths::log(exec_root))?;
    keep_inherited_descriptors_from_containers()?;
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|source| SupervisorError::Process("becoming a child subreaper", source))?;

    let lock = lock(&paths::lock(exec_root))?;
    let socket_path = paths::socket(exec_root);
    let listener = listen(&socket_path)?;
    let child_exits = route_child_signals()?;
    Ok(Resources {
        _lock: lock,
        listener,
        socket_path,
        child_exits,
    })
}

/// `fork` below, and the runtime's later, are only sound with one thread.
fn ensure_single_threaded() -> Result<(), SupervisorError> {
    let tasks = Path::new("/proc/self/task");
    let threads = fs::read_dir(tasks)
        .map_err(|source| SupervisorError::Io {
            operation: "counting threads",
            path: tasks.to_owned(),
            source,
        })?
        .count();
    if threads != 1 {
        return Err(SupervisorError::NotSingleThreaded { threads });
    }
    Ok(())
}

/// Forks away from the starting process (which exits at once, so whoever started it reaps it
/// right away and nothing of the daemon's stays our parent) and leaves the daemon's session,
/// so that signals to the daemon's process group or terminal never reach the supervisor.
fn detach() -> Result<(), SupervisorError> {
    // SAFETY: the process is single-threaded (checked just before).
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Parent { .. }) => {
            // SAFETY: _exit runs no destructors or atexit handlers, which belong to the child now.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Child) => {}
        Err(source) => return Err(SupervisorError::Process("forking", source)),
    }
    nix::unistd::setsid().map_err(|source| SupervisorError::Process("setsid", source))?;
    // Not keeping the daemon's working directory busy (it may be a mount point to unmount).
    std::env::set_current_dir("/").map_err(|source| SupervisorError::Io {
        operation: "changing directory",
        path: "/".into(),
        source,
    })
}

/// stdin and stdout become /dev/null, stderr (where the supervisor's log lines go) a log file
/// in the exec root: the daemon's terminal or pipe may be gone long before the supervisor.
fn redirect_stdio(log: &Path) -> Result<(), SupervisorError> {
    let dev_null = Path::new("/dev/null");
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev_null)
        .map_err(|source| SupervisorError::Io {
            operation: "opening",
            path: dev_null.to_owned(),
            source,
        })?;
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)
        .map_err(|source| SupervisorError::Io {
            operation: "opening the log",
            path: log.to_owned(),
            source,
        })?;
    let redirected = nix::unistd::dup2_stdin(&null)
        .and_then(|()| nix::unistd::dup2_stdout(&null))
        .and_then(|()| nix::unistd::dup2_stderr(&log_file));
    redirected.map_err(|source| SupervisorError::Process("redirecting stdio", source))
}

/// Descriptors the daemon inherited without close-on-exec (from a shell, a test harness) came
/// along into the supervisor; whatever the spawner, they must not go on into containers.
fn keep_inherited_descriptors_from_containers() -> Result<(), SupervisorError> {
    let close_on_exec = libc::CLOSE_RANGE_CLOEXEC as libc::c_int;
    // SAFETY: only sets FD_CLOEXEC on descriptors 3 and up; nothing is closed.
    if unsafe { libc::close_range(3, libc::c_uint::MAX, close_on_exec) } != 0 {
        let errno = nix::errno::Errno::last();
        return Err(SupervisorError::Process(
            "marking inherited descriptors close-on-exec",
            errno,
        ));
    }
    Ok(())
}

fn lock(path: &Path) -> Result<Flock<File>, SupervisorError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|source| SupervisorError::Io {
            operation: "opening the lock",
            path: path.to_owned(),
            source,
        })?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            SupervisorError::Busy {
                lock: path.to_owned(),
            }
        } else {
            SupervisorError::Io {
                operation: "locking",
                path: path.to_owned(),
                source: errno.into(),
            }
        }
    })
}

/// Listens on `path` with mode 0600. Called with the lock held, so a socket already there is
/// a dead supervisor's and can go.
fn listen(path: &Path) -> Result<OwnedFd, SupervisorError> {
    let failed = |source: io::Error| SupervisorError::Io {
        operation: "listening on",
        path: path.to_owned(),
        source,
    };
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(failed(error)),
    }
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|errno| failed(errno.into()))?;
    let address = SocketAddrUnix::new(path).map_err(|errno| failed(errno.into()))?;
    // bind creates the socket file with the umask applied: narrow it for that one call, so the
    // socket is never reachable by anyone but root, not even for an instant.
    let previous = rustix::process::umask(Mode::from_bits_truncate(0o177));
    let bound = rustix::net::bind(&socket, &address);
    rustix::process::umask(previous);
    bound.map_err(|errno| failed(errno.into()))?;
    rustix::net::listen(&socket, 64).map_err(|errno| failed(errno.into()))?;
    Ok(socket)
}

fn route_child_signals() -> Result<SignalFd, SupervisorError> {
    let mut child_signal = SigSet::empty();
    child_signal.add(Signal::SIGCHLD);
    child_signal
        .thread_block()
        .map_err(|source| SupervisorError::Process("blocking SIGCHLD", source))?;
    let signal_fd = SignalFd::with_flags(
        &child_signal,
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(|source| SupervisorError::Process("creating the signalfd", source))?;
    Ok(signal_fd)
}
