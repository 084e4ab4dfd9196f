//! Messages over a SOCK_SEQPACKET socket, with descriptors.
//!
//! A packet is one flag byte followed by a piece of a JSON document. SEQPACKET keeps packet
//! boundaries, so no length prefix is needed; a document larger than [`MAX_PACKET`] (a spec
//! with a large environment) or with more descriptors than [`MAX_FDS_PER_PACKET`] (a `List`
//! over many containers) is cut into several packets, all but the last flagged `MORE`.
//! Both sides send the packets of one message back to back, so messages never interleave.
//!
//! Everything here is non-blocking: a full socket buffer is `WouldBlock` for the caller's
//! event loop (poll in the supervisor, tokio in the daemon) to wait on.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest packet either side sends; small enough for the default socket buffers.
pub(crate) const MAX_PACKET: usize = 64 * 1024;
/// Far below the kernel's SCM_MAX_FD (253).
pub(crate) const MAX_FDS_PER_PACKET: usize = 128;
/// A peer announcing more than this is broken, not busy.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

const LAST: u8 = 0;
const MORE: u8 = 1;

/// One packet ready to send: flag byte, payload, and the descriptors it carries (owned, so they
/// stay open however long the packet waits for the socket to drain).
#[derive(Debug)]
pub(crate) struct Packet {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
}

/// Serializes `message` into the packets that carry it with `fds`.
pub(crate) fn encode<T: Serialize>(
    message: &T,
    fds: Vec<OwnedFd>,
) -> Result<Vec<Packet>, serde_json::Error> {
    let mut bytes = vec![LAST];
    serde_json::to_writer(&mut bytes, message)?;
    if bytes.len() <= MAX_PACKET && fds.len() <= MAX_FDS_PER_PACKET {
        return Ok(vec![Packet { bytes, fds }]);
    }
    Ok(split(&bytes[1..], fds))
}

fn split(payload: &[u8], fds: Vec<OwnedFd>) -> Vec<Packet> {
    let chunk = MAX_PACKET - 1;
    let count = payload
        .len()
        .div_ceil(chunk)
        .max(fds.len().div_ceil(MAX_FDS_PER_PACKET))
        .max(1);
    let mut fds = fds.into_iter();
    let mut chunks = payload.chunks(chunk);
    (0..count)
        .map(|index| {
            let piece = chunks.next().unwrap_or_default();
            let mut bytes = Vec::with_capacity(piece.len() + 1);
            bytes.push(if index + 1 == count { LAST } else { MORE });
            bytes.extend_from_slice(piece);
            Packet {
                bytes,
                fds: fds.by_ref().take(MAX_FDS_PER_PACKET).collect(),
            }
        })
        .collect()
}

/// Sends one packet without blocking; the descriptors are closed once sent (by dropping the
/// packet), because the receiver got its own copies.
pub(crate) fn send_packet(socket: BorrowedFd<'_>, packet: &Packet) -> io::Result<()> {
    let fds: Vec<BorrowedFd<'_>> = packet.fds.iter().map(AsFd::as_fd).collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_PACKET))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    let sent = rustix::net::sendmsg(
        socket,
        &[IoSlice::new(&packet.bytes)],
        &mut control,
        SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
    )?;
    if sent != packet.bytes.len() {
        // SEQPACKET sends are all or nothing; anything else means the socket is not one.
        return Err(io::Error::other(format!(
            "short send on the supervisor socket: {sent} of {} bytes",
            packet.bytes.len()
        )));
    }
    Ok(())
}

/// What one successful receive produced.
#[derive(Debug)]
pub(crate) enum Incoming<T> {
    /// A whole message, with its descriptors in the order they were sent.
    Message { message: T, fds: Vec<OwnedFd> },
    /// A packet of a message still incomplete.
    Partial,
    /// The peer closed the connection.
    Closed,
}

/// Receives packets from one connection and puts messages back together.
pub(crate) struct Receiver {
    buffer: Box<[u8]>,
    partial_json: Vec<u8>,
    partial_fds: Vec<OwnedFd>,
}

impl Receiver {
    pub fn new() -> Self {
        Receiver {
            buffer: vec![0; MAX_PACKET].into_boxed_slice(),
            partial_json: Vec::new(),
            partial_fds: Vec::new(),
        }
    }

    /// Receives one packet without blocking. Descriptors arrive close-on-exec, so that no
    /// container ever inherits another's pipes. Malformed framing or JSON is `InvalidData`.
    pub fn receive<T: DeserializeOwned>(
        &mut self,
        socket: BorrowedFd<'_>,
    ) -> io::Result<Incoming<T>> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_PACKET))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = rustix::net::recvmsg(
            socket,
            &mut [IoSliceMut::new(&mut self.buffer)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
        )?;
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received_fds) = message {
                fds.extend(received_fds);
            }
        }
        if received
            .flags
            .intersects(ReturnFlags::TRUNC | ReturnFlags::CTRUNC)
        {
            return Err(invalid_data(
                "a packet larger than the protocol allows".into(),
            ));
        }
        if received.bytes == 0 {
            return Ok(Incoming::Closed);
        }
        let (flag, piece) = (self.buffer[0], &self.buffer[1..received.bytes]);
        if flag != LAST && flag != MORE {
            return Err(invalid_data(format!(
                "a packet with the unknown flag {flag}"
            )));
        }
        if flag == LAST && self.partial_json.is_empty() && self.partial_fds.is_empty() {
            return parse(piece, fds);
        }
        if self.partial_json.len() + piece.len() > MAX_MESSAGE {
            return Err(invalid_data(
                "a message larger than the protocol allows".into(),
            ));
        }
        self.partial_json.extend_from_slice(piece);
        self.partial_fds.append(&mut fds);
        if flag == MORE {
            return Ok(Incoming::Partial);
        }
        let json = std::mem::take(&mut self.partial_json);
        parse(&json, std::mem::take(&mut self.partial_fds))
    }
}

fn parse<T: DeserializeOwned>(json: &[u8], fds: Vec<OwnedFd>) -> io::Result<Incoming<T>> {
    serde_json::from_slice(json)
        .map(|message| Incoming::Message { message, fds })
        .map_err(|error| invalid_data(format!("a malformed message: {error}")))
}

fn invalid_data(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("supervisor protocol: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    use std::io::{Read, Write};

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    fn receive_message(receiver: &mut Receiver, socket: &OwnedFd) -> (String, Vec<OwnedFd>) {
        loop {
            match receiver.receive(socket.as_fd()).unwrap() {
                Incoming::Message { message, fds } => return (message, fds),
                Incoming::Partial => continue,
                Incoming::Closed => panic!("closed"),
            }
        }
    }

    #[test]
    fn a_small_message_is_one_packet() {
        let (a, b) = pair();
        let packets = encode(&"hello", Vec::new()).unwrap();
        assert_eq!(packets.len(), 1);
        send_packet(a.as_fd(), &packets[0]).unwrap();
        let (message, fds) = receive_message(&mut Receiver::new(), &b);
        assert_eq!(message, "hello");
        assert!(fds.is_empty());
    }

    #[test]
    fn a_large_message_with_many_descriptors_is_cut_and_put_back_together() {
        let (a, b) = pair();
        let text = "x".repeat(3 * MAX_PACKET);
        let mut ends = Vec::new();
        let mut fds = Vec::new();
        for _ in 0..(MAX_FDS_PER_PACKET + 5) {
            let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
            ends.push(read);
            fds.push(write);
        }
        let packets = encode(&text, fds).unwrap();
        assert_eq!(packets.len(), 4);

        // Three 64 KiB packets may not fit the socket buffer at once: drain as we go.
        let mut receiver = Receiver::new();
        let mut message = None;
        for packet in &packets {
            send_packet(a.as_fd(), packet).unwrap();
            if let Incoming::Message { message: text, fds } =
                receiver.receive::<String>(b.as_fd()).unwrap()
            {
                message = Some((text, fds));
            }
        }
        drop(packets);
        let (received, fds) = message.expect("the last packet completes the message");
        assert_eq!(received, text);
        assert_eq!(fds.len(), MAX_FDS_PER_PACKET + 5);

        // The descriptors arrive in order: the 7th write end feeds the 7th read end.
        let mut write = std::fs::File::from(fds.into_iter().nth(6).unwrap());
        write.write_all(b"seven").unwrap();
        drop(write);
        let mut read = std::fs::File::from(ends.swap_remove(6));
        let mut got = String::new();
        read.read_to_string(&mut got).unwrap();
        assert_eq!(got, "seven");
    }

    #[test]
    fn a_closed_peer_reads_as_closed() {
        let (a, b) = pair();
        drop(a);
        assert!(matches!(
            Receiver::new().receive::<String>(b.as_fd()).unwrap(),
            Incoming::Closed
        ));
    }
}
