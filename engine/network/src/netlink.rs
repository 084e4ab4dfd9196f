//! A small synchronous rtnetlink client over `netlink-sys` with the message types of
//! `netlink-packet-route`. Synchronous because every caller is already on a blocking thread
//! and a request is one send and one or two receives: an async connection task would only
//! add a hop. A socket belongs to the network namespace of the thread that opened it, which
//! is how the container side is configured (see `host.rs`).

use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;

use ipnet::{IpNet, Ipv4Net};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::types::MacAddr;

/// One rtnetlink socket and its sequence numbers.
pub(crate) struct Rtnl {
    socket: Socket,
    seq: u32,
}

impl Rtnl {
    /// Opens a socket in the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Rtnl> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl { socket, seq: 0 })
    }

    /// Sends one request and collects the messages of its answer until the ACK (or the end
    /// of a dump). A kernel error comes back as the io::Error of its errno.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            let (bytes, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < bytes.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "empty netlink message",
                    ));
                }
                offset += (len + 3) & !3;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(_) => Err(e.to_io()),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(m) => {
                        out.push(m);
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn ack(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.request(msg, NLM_F_ACK | flags).map(drop)
    }

    /// The index of link `name`, `None` when there is none.
    pub(crate) fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), NLM_F_ACK) {
            Ok(replies) => Ok(replies.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn create_bridge(&mut self, name: &str, mac: MacAddr) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        // A fixed address: a bridge otherwise takes the lowest of its ports' addresses,
        // which changes as containers come and go and makes peers' ARP entries stale.
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Creates a veth pair from this socket's namespace: `name` (with `mac`) stays here,
    /// `peer` is created directly in the namespace of `peer_netns`.
    pub(crate) fn create_veth(
        &mut self,
        name: &str,
        mac: MacAddr,
        mtu: Option<u32>,
        peer: &str,
        peer_netns: RawFd,
    ) -> io::Result<()> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg.attributes.push(LinkAttribute::NetNsFd(peer_netns));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
            peer_msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Brings link `index` up, enslaving it to `controller` first when given.
    pub(crate) fn set_up(&mut self, index: u32, controller: Option<u32>) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        if let Some(c) = controller {
            msg.attributes.push(LinkAttribute::Controller(c));
        }
        self.ack(RouteNetlinkMessage::SetLink(msg), 0)
    }

    pub(crate) fn delete_link(&mut self, index: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.ack(RouteNetlinkMessage::DelLink(msg), 0)
    }

    /// The IPv4 addresses of link `index`.
    pub(crate) fn addresses(&mut self, index: u32) -> io::Result<Vec<Ipv4Net>> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let replies = self.request(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for reply in replies {
            let RouteNetlinkMessage::NewAddress(a) = reply else {
                continue;
            };
            if a.header.index != index {
                continue;
            }
            for attr in &a.attributes {
                if let AddressAttribute::Local(std::net::IpAddr::V4(ip)) = attr {
                    if let Ok(net) = Ipv4Net::new(*ip, a.header.prefix_len) {
                        out.push(net);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Adds an address to link `index`; one the link has already is not an error. IPv4
    /// addresses get their broadcast address (below /31). IPv6 ones are added without
    /// duplicate address detection (`nodad`, as Docker adds them): IPAM already made them
    /// unique on the link, and DAD would keep them tentative, unusable, for a second or more
    /// after the container starts.
    pub(crate) fn add_address(&mut self, index: u32, addr: IpNet) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.prefix_len = addr.prefix_len();
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Address(addr.addr()));
        match addr {
            IpNet::V4(v4) => {
                msg.header.family = AddressFamily::Inet;
                msg.attributes.push(AddressAttribute::Local(addr.addr()));
                if v4.prefix_len() < 31 {
                    msg.attributes
                        .push(AddressAttribute::Broadcast(v4.broadcast()));
                }
            }
            IpNet::V6(_) => {
                msg.header.family = AddressFamily::Inet6;
                msg.attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
        }
        self.create_or_keep(RouteNetlinkMessage::NewAddress(msg))
    }

    /// Adds `default via gateway dev index` in the gateway's family; an existing default
    /// route is kept (a second network does not take the way out from the first, as in
    /// Docker).
    pub(crate) fn add_default_route(&mut self, index: u32, gateway: IpAddr) -> io::Result<()> {
        let mut msg = RouteMessage::default();
        let (family, via) = match gateway {
            IpAddr::V4(v4) => (AddressFamily::Inet, RouteAddress::Inet(v4)),
            IpAddr::V6(v6) => (AddressFamily::Inet6, RouteAddress::Inet6(v6)),
        };
        msg.header.address_family = family;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(via));
        msg.attributes.push(RouteAttribute::Oif(index));
        self.create_or_keep(RouteNetlinkMessage::NewRoute(msg))
    }

    /// Sends a create request; an object that exists already (EEXIST) is kept.
    fn create_or_keep(&mut self, msg: RouteNetlinkMessage) -> io::Result<()> {
        match self.ack(msg, NLM_F_CREATE | NLM_F_EXCL) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    /// Adds `dest dev index scope link` to the main table.
    pub(crate) fn add_link_route(&mut self, index: u32, dest: Ipv4Net) -> io::Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = dest.prefix_len();
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Link;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(
                dest.network(),
            )));
        msg.attributes.push(RouteAttribute::Oif(index));
        self.ack(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// The destinations of the main table's IPv4 routes, without the default route.
    pub(crate) fn routes(&mut self) -> io::Result<Vec<Ipv4Net>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let replies = self.request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for reply in replies {
            let RouteNetlinkMessage::NewRoute(r) = reply else {
                continue;
            };
            if r.header.table != RouteHeader::RT_TABLE_MAIN
                || r.header.destination_prefix_length == 0
            {
                continue;
            }
            for attr in &r.attributes {
                if let RouteAttribute::Destination(RouteAddress::Inet(ip)) = attr {
                    if let Ok(net) = Ipv4Net::new(*ip, r.header.destination_prefix_length) {
                        out.push(net.trunc());
                    }
                }
            }
        }
        Ok(out)
    }
}
