//! One query, start to decision: parse the bytes a container sent, answer from the records of
//! the networks it is on, or say it must be forwarded. No I/O here, so it is unit-tested and
//! fuzzed as it is.
//!
//! What is answered, as Docker's embedded DNS (libnetwork `resolver.go`) answers:
//! - A / AAAA of a name on a network the querier is on: its addresses (TTL 600). A name that
//!   exists with no address of the asked family gets an empty NOERROR answer, not NXDOMAIN.
//! - MX of such a name: an empty NOERROR answer (the "implicit MX" of RFC 5321 5.1).
//! - PTR of an address on those networks: `NAME.NETWORK.`
//! - Any other name or type goes to the upstream servers, except A/AAAA of a single-label
//!   name when the container's resolv.conf sets `ndots` itself: then an empty NOERROR answer,
//!   so the client goes on with its search domains. A container with no way out (only
//!   `--internal` networks) gets SERVFAIL instead of forwarding.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::records::{Records, ScopeNetwork};

/// Docker's TTL for the names it answers itself.
pub const TTL: u32 = 600;
/// The UDP payload size answers advertise when the query has EDNS (the 2020 DNS flag day's).
const EDNS_PAYLOAD: u16 = 1232;
/// A DNS header: id, flags, four counts.
const HEADER_LEN: usize = 12;

/// What a scope (one container) is: the networks it is on and how its other names resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeInfo {
    /// The networks whose records this container sees, in the order it joined them.
    pub networks: Vec<ScopeNetwork>,
    /// Where its other names go (the container's `--dns`); empty: the host's nameservers.
    pub upstreams: Vec<SocketAddr>,
    /// Its resolv.conf sets `ndots` (from the host's or a `--dns-option`), as Docker's
    /// `NdotsSet`: single-label names are then not forwarded.
    pub ndots_set: bool,
    /// Every network it is on is `--internal`: it has no way out, so its other names are
    /// not forwarded but answered SERVFAIL (Docker's resolver forwards only for containers
    /// with external access).
    pub internal: bool,
    /// `--link NAME:ALIAS` of a container on a user-defined network, as (alias, name), both
    /// lower-case: the alias is a name of the linked container that only this container
    /// resolves (Docker's endpoint aliases).
    pub links: Vec<(String, String)>,
}

impl ScopeInfo {
    /// The name the records are asked for: a link's alias stands for its container's name.
    fn linked<'a>(&'a self, name: &'a str) -> &'a str {
        let bare = name.trim_end_matches('.');
        self.links
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(bare))
            .map_or(name, |(_, target)| target.as_str())
    }
}

/// How the query arrived: answers over UDP must fit the client's payload size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What to do with one packet.
#[derive(Debug)]
pub enum Outcome {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Send the query's bytes, unchanged, to the upstream servers; `failure` is the answer if
    /// none answers (SERVFAIL), `refused` the one if too many forwards are already waiting.
    Forward {
        query: Vec<u8>,
        failure: Vec<u8>,
        refused: Vec<u8>,
    },
    /// Not a query (a response, or too short to answer): say nothing.
    Ignore,
}

/// Decides what to answer `packet` with for a container on `scope`'s networks. `turn` rotates
/// the order of several addresses (round robin between containers sharing an alias).
pub fn answer(
    packet: &[u8],
    transport: Transport,
    records: &Records,
    scope: &ScopeInfo,
    turn: usize,
) -> Outcome {
    let query = match Message::from_vec(packet) {
        Ok(query) => query,
        Err(_) => return header_error(packet, ResponseCode::FormErr),
    };
    if query.metadata.message_type != MessageType::Query {
        return Outcome::Ignore;
    }
    if query.metadata.op_code != OpCode::Query {
        return reply(error_reply(&query, ResponseCode::NotImp), transport, &query);
    }
    let [question] = query.queries.as_slice() else {
        return reply(
            error_reply(&query, ResponseCode::FormErr),
            transport,
            &query,
        );
    };
    if let Some(local) = local_answer(&query, question, records, scope, turn) {
        return reply(local, transport, &query);
    }
    let single_label = !question
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .contains('.');
    let address_query = matches!(question.query_type(), RecordType::A | RecordType::AAAA);
    if address_query && single_label && scope.ndots_set {
        return reply(response_to(&query), transport, &query);
    }
    let failure = encode(&error_reply(&query, ResponseCode::ServFail));
    if scope.internal {
        return Outcome::Reply(failure);
    }
    Outcome::Forward {
        query: packet.to_vec(),
        failure,
        refused: encode(&error_reply(&query, ResponseCode::Refused)),
    }
}

/// The answer from the records, if the question is about something they hold.
fn local_answer(
    query: &Message,
    question: &Query,
    records: &Records,
    scope: &ScopeInfo,
    turn: usize,
) -> Option<Message> {
    if question.query_class() != DNSClass::IN {
        return None;
    }
    let name = question.name();
    match question.query_type() {
        RecordType::A | RecordType::AAAA => {
            let found = records.lookup(&scope.networks, scope.linked(&name.to_ascii()))?;
            let mut resp = response_to(query);
            let rdata: Vec<RData> = if question.query_type() == RecordType::A {
                rotated(&found.ipv4, turn).map(|a| RData::A(A(a))).collect()
            } else {
                rotated(&found.ipv6, turn)
                    .map(|a| RData::AAAA(AAAA(a)))
                    .collect()
            };
            resp.answers = rdata
                .into_iter()
                .map(|d| Record::from_rdata(name.clone(), TTL, d))
                .collect();
            Some(resp)
        }
        RecordType::MX => {
            records.lookup(&scope.networks, scope.linked(&name.to_ascii()))?;
            Some(response_to(query))
        }
        RecordType::PTR => {
            let addr = arpa_address(name)?;
            let host = records.reverse(&scope.networks, addr)?;
            let target = Name::from_ascii(format!("{host}.")).ok()?;
            let mut resp = response_to(query);
            resp.answers = vec![Record::from_rdata(
                name.clone(),
                TTL,
                RData::PTR(PTR(target)),
            )];
            Some(resp)
        }
        _ => None,
    }
}

/// The address a full `in-addr.arpa.` / `ip6.arpa.` name stands for; a shorter (network)
/// name is not ours to answer.
fn arpa_address(name: &Name) -> Option<IpAddr> {
    let net = name.parse_arpa_name().ok()?;
    let full = if net.addr().is_ipv4() { 32 } else { 128 };
    (net.prefix_len() == full).then(|| net.addr())
}

fn rotated<T: Copy>(items: &[T], turn: usize) -> impl Iterator<Item = T> + '_ {
    let start = if items.is_empty() {
        0
    } else {
        turn % items.len()
    };
    items[start..].iter().chain(&items[..start]).copied()
}

/// A NOERROR response echoing the question, as Docker's `createRespMsg`: recursion
/// available, the query's RD bit kept.
fn response_to(query: &Message) -> Message {
    let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.metadata.checking_disabled = query.metadata.checking_disabled;
    resp.queries = query.queries.clone();
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        resp.set_edns(edns);
    }
    resp
}

fn error_reply(query: &Message, code: ResponseCode) -> Message {
    let mut resp = response_to(query);
    resp.metadata.response_code = code;
    resp
}

/// The reply's bytes, cut to what the client takes over UDP: answers are dropped from the
/// end and TC set until it fits (the client then asks again over TCP).
fn reply(mut resp: Message, transport: Transport, query: &Message) -> Outcome {
    let limit = match transport {
        Transport::Udp => usize::from(query.max_payload()),
        Transport::Tcp => usize::from(u16::MAX),
    };
    loop {
        let bytes = encode(&resp);
        if bytes.len() <= limit || resp.answers.is_empty() {
            return Outcome::Reply(bytes);
        }
        resp.answers.pop();
        resp.metadata.truncation = true;
    }
}

/// Encodes a message this module built. Only names that came from a parsed message or were
/// checked by `Name::from_ascii` go in, so encoding cannot fail but for a bug: then the
/// client gets a bare SERVFAIL rather than nothing.
fn encode(msg: &Message) -> Vec<u8> {
    match msg.to_vec() {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!("encoding a DNS response: {e}");
            bare_header(msg.metadata.id, 0, ResponseCode::ServFail)
        }
    }
}

/// A message hickory could not parse still gets FORMERR if its header says it is a query,
/// as RFC 1035 asks; anything shorter than a header cannot be answered.
fn header_error(packet: &[u8], code: ResponseCode) -> Outcome {
    if packet.len() < HEADER_LEN || packet[2] & 0x80 != 0 {
        return Outcome::Ignore;
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    // Opcode and RD are echoed; QR set.
    let flags = packet[2] & 0x79;
    Outcome::Reply(bare_header(id, flags, code))
}

fn bare_header(id: u16, opcode_rd: u8, code: ResponseCode) -> Vec<u8> {
    let mut bytes = vec![0; HEADER_LEN];
    bytes[..2].copy_from_slice(&id.to_be_bytes());
    bytes[2] = 0x80 | opcode_rd;
    bytes[3] = 0x80 | (u16::from(code) as u8 & 0x0f);
    bytes
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
