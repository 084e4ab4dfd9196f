//! A container's DNS packet through the embedded DNS's query path, as the server runs it on
//! each datagram or TCP message: parse, answer from the records or decide to forward. The
//! first byte picks the transport and the querier's scope; the rest is the packet.
//! Whatever the bytes, it must decide without panicking, and what it would send must be a
//! response to that packet: its ID, the QR bit set, within the client's UDP size.

#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use berth_dns::query::{answer, Outcome, ScopeInfo, Transport};
use berth_dns::{Records, ScopeNetwork};
use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;

/// DNS over TCP carries at most 65,535 bytes; longer input is not a packet.
const MAX_PACKET: usize = 65_535;

fn records() -> &'static Records {
    static RECORDS: OnceLock<Records> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let r = Records::new();
        r.set(
            "n1",
            "c1",
            vec!["web".into(), "WWW.".into(), "0123456789ab".into()],
            vec![Ipv4Addr::new(10, 0, 0, 2)],
            vec![Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)],
        );
        // Enough addresses for one name that a UDP answer must be truncated.
        let many: Vec<Ipv4Addr> = (0..=255).map(|i| Ipv4Addr::new(10, 0, 1, i)).collect();
        r.set("n1", "c2", vec!["many".into(), "svc".into()], many, vec![]);
        r.set("n2", "c3", vec!["db".into(), "svc".into()], vec![Ipv4Addr::new(10, 1, 0, 3)], vec![]);
        r
    })
}

fn scope(pick: u8) -> ScopeInfo {
    let networks = [("n1", "front"), ("n2", "back.end")]
        .iter()
        .enumerate()
        .filter(|(i, _)| pick & (1 << i) != 0)
        .map(|(_, (id, name))| ScopeNetwork {
            id: (*id).into(),
            name: (*name).into(),
        })
        .collect();
    ScopeInfo {
        networks,
        upstreams: vec![],
        ndots_set: pick & 4 != 0,
        internal: pick & 8 != 0,
        links: if pick & 16 != 0 {
            vec![("store".into(), "web".into())]
        } else {
            vec![]
        },
    }
}

fn check_response(packet: &[u8], reply: &[u8], transport: Transport) {
    assert!(reply.len() >= 12, "a reply has a header");
    assert_eq!(reply[..2], packet[..2], "the reply carries the query's ID");
    assert_ne!(reply[2] & 0x80, 0, "the reply is a response");
    let parsed = Message::from_vec(reply).expect("the reply parses");
    if transport == Transport::Udp {
        // What the client said it takes (512 without EDNS): the query parsed if the reply
        // has more than a header.
        let limit = Message::from_vec(packet).map_or(512, |q| usize::from(q.max_payload()));
        assert!(
            reply.len() <= limit || parsed.answers.is_empty(),
            "{} bytes over UDP for a limit of {limit}",
            reply.len()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, packet)) = data.split_first() else {
        return;
    };
    if packet.len() > MAX_PACKET {
        return;
    }
    let transport = if pick & 0x10 == 0 { Transport::Udp } else { Transport::Tcp };
    let turn = usize::from(pick >> 5);
    match answer(packet, transport, records(), &scope(pick), turn) {
        Outcome::Reply(reply) => check_response(packet, &reply, transport),
        Outcome::Forward { query, failure, refused } => {
            assert_eq!(query, packet, "a query is forwarded unchanged");
            check_response(packet, &failure, transport);
            check_response(packet, &refused, transport);
        }
        Outcome::Ignore => {}
    }
});
