//! The supervisor's end of the daemon connection.
//!
//! Replies and events go through an outbox: a daemon that stops reading (stuck, or busy
//! starting a hundred containers) must never block the supervisor, which still has children
//! to reap and a socket to accept the next daemon on.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use crate::framing::{self, Incoming, Packet, Receiver};
use crate::protocol::{Request, SupervisorMessage};

pub(crate) struct Connection {
    socket: OwnedFd,
    receiver: Receiver,
    outbox: VecDeque<Packet>,
}

impl Connection {
    pub fn new(socket: OwnedFd) -> Self {
        Connection {
            socket,
            receiver: Receiver::new(),
            outbox: VecDeque::new(),
        }
    }

    pub fn socket(&self) -> &OwnedFd {
        &self.socket
    }

    /// Whether the supervisor must wait for the socket to become writable.
    pub fn has_backlog(&self) -> bool {
        !self.outbox.is_empty()
    }

    pub fn receive(&mut self) -> io::Result<Incoming<Request>> {
        self.receiver.receive(self.socket.as_fd())
    }

    /// Queues `message`; [`Connection::flush`] sends it.
    pub fn queue(&mut self, message: &SupervisorMessage, fds: Vec<OwnedFd>) {
        match framing::encode(message, fds) {
            Ok(packets) => self.outbox.extend(packets),
            // Only maps with non-string keys fail to serialize, and no message has one.
            Err(error) => tracing::error!("cannot encode {message:?}: {error}"),
        }
    }

    /// Sends what the socket takes now. An error means the connection is unusable.
    pub fn flush(&mut self) -> io::Result<()> {
        while let Some(packet) = self.outbox.front() {
            match framing::send_packet(self.socket.as_fd(), packet) {
                Ok(()) => drop(self.outbox.pop_front()),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}
