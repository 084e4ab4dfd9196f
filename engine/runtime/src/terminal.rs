//! A process's pseudo-terminal, made inside its container.
//!
//! The master is opened from the container's own devpts instance (`/dev/pts/ptmx`, after the
//! container's mounts are in place), so that the slave shows as `/dev/pts/N` inside the
//! container and is counted against its devpts, never the host's. The slave is reached with
//! TIOCGPTPEER rather than by path, so nothing in the container can swap it. The new process
//! makes the slave its controlling terminal and its 0, 1 and 2, and sends the master to its
//! parent over a socketpair before it execs.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use rustix::pty::OpenptFlags;

use crate::os_error::OsError;

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("opening /dev/pts/ptmx (a terminal needs the container's devpts on /dev/pts): {0}")]
    OpenMaster(OsError),
    #[error("{what} on the new terminal: {source}")]
    Setup { what: &'static str, source: OsError },
    #[error("sending the terminal to the supervisor: {0}")]
    Send(OsError),
    #[error("receiving the terminal of the new process: {0}")]
    Receive(OsError),
    #[error("the new process exec'd without sending its terminal")]
    Missing,
}

fn setup(what: &'static str) -> impl FnOnce(rustix::io::Errno) -> TerminalError {
    move |errno| TerminalError::Setup {
        what,
        source: errno.into(),
    }
}

/// In the new process, inside its container: creates the terminal, makes it the controlling
/// terminal and stdio of this process, and sends the master over `socket`. `size` is (rows,
/// columns).
pub fn take_new(size: Option<(u16, u16)>, socket: OwnedFd) -> Result<(), TerminalError> {
    let master = rustix::fs::open(
        "/dev/pts/ptmx",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| TerminalError::OpenMaster(e.into()))?;
    rustix::pty::unlockpt(&master).map_err(setup("unlockpt"))?;
    let slave = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .map_err(setup("opening the slave (TIOCGPTPEER)"))?;
    if let Some((rows, columns)) = size {
        set_size(master.as_fd(), rows, columns).map_err(setup("setting the size"))?;
    }
    rustix::process::setsid().map_err(setup("setsid"))?;
    rustix::process::ioctl_tiocsctty(&slave).map_err(setup("TIOCSCTTY"))?;
    for target in 0..=2 {
        // SAFETY: dup2 onto a standard descriptor, which this process owns.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(TerminalError::Setup {
                what: "installing the slave as stdio",
                source: std::io::Error::last_os_error().into(),
            });
        }
    }
    drop(slave);
    send(socket.as_fd(), master.as_fd())
}

/// Sets the window size of the terminal `master` (or slave) belongs to.
pub fn set_size(fd: BorrowedFd<'_>, rows: u16, columns: u16) -> rustix::io::Result<()> {
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(fd, size)
}

fn send(socket: BorrowedFd<'_>, master: BorrowedFd<'_>) -> Result<(), TerminalError> {
    let fds = [master];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(b"t")],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .map_err(|e| TerminalError::Send(e.into()))?;
    Ok(())
}

/// In the parent, once the new process has exec'd: the master it sent.
pub fn receive(socket: BorrowedFd<'_>) -> Result<OwnedFd, TerminalError> {
    let mut byte = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
    )
    .map_err(|e| match e {
        rustix::io::Errno::AGAIN => TerminalError::Missing,
        other => TerminalError::Receive(other.into()),
    })?;
    control
        .drain()
        .find_map(|message| match message {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        })
        .ok_or(TerminalError::Missing)
}
