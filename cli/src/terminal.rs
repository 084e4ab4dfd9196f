//! The user's terminal: raw mode while attached to a container's TTY, its size, and the
//! bytes typed into it.

use std::io::{IsTerminal, Read};
use std::os::fd::BorrowedFd;

use bytes::Bytes;
use tokio::sync::mpsc;

fn stdin_fd() -> BorrowedFd<'static> {
    // SAFETY: descriptor 0 stays open for the whole life of the process.
    unsafe { BorrowedFd::borrow_raw(0) }
}

fn stdout_fd() -> BorrowedFd<'static> {
    // SAFETY: descriptor 1 stays open for the whole life of the process.
    unsafe { BorrowedFd::borrow_raw(1) }
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// The terminal's (rows, columns), read from stdout as docker does; `None` when stdout is
/// no terminal.
pub fn size() -> Option<(u16, u16)> {
    let size = rustix::termios::tcgetwinsize(stdout_fd()).ok()?;
    (size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
}

/// Keystrokes go to the container as typed (no echo, no line editing, no signals from ^C)
/// while this lives; the terminal's previous mode comes back when it is dropped.
pub struct RawMode {
    saved: rustix::termios::Termios,
}

impl RawMode {
    /// `None` when stdin is no terminal.
    pub fn enable() -> std::io::Result<Option<RawMode>> {
        if !stdin_is_terminal() {
            return Ok(None);
        }
        let saved = rustix::termios::tcgetattr(stdin_fd())?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(stdin_fd(), rustix::termios::OptionalActions::Now, &raw)?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            stdin_fd(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

/// What is typed or piped into berth, chunk by chunk; the channel closes at end-of-file.
///
/// Read on a thread of its own rather than tokio's blocking pool: a read of a terminal
/// cannot be cancelled, and the runtime would wait for it at exit.
pub fn stdin_chunks() -> mpsc::Receiver<Bytes> {
    let (sender, chunks) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if sender
                        .blocking_send(Bytes::copy_from_slice(&buf[..n]))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    });
    chunks
}
