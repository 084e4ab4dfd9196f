use super::*;

use std::net::{Ipv4Addr, Ipv6Addr};

fn scope() -> ScopeInfo {
    ScopeInfo {
        networks: vec![ScopeNetwork {
            id: "n1".into(),
            name: "front".into(),
        }],
        upstreams: vec![],
        ndots_set: false,
        internal: false,
        links: vec![],
    }
}

fn records() -> Records {
    let r = Records::new();
    r.set(
        "n1",
        "c1",
        vec!["web".into(), "www".into()],
        vec![Ipv4Addr::new(10, 0, 0, 2)],
        vec![],
    );
    r.set(
        "n1",
        "c2",
        vec!["db".into()],
        vec![Ipv4Addr::new(10, 0, 0, 3)],
        vec!["fd00::3".parse().unwrap()],
    );
    r
}

fn query(name: &str, rtype: RecordType) -> Message {
    let mut msg = Message::query();
    msg.metadata.id = 0x1234;
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    // As it arrives: names on the wire are always fully qualified.
    Message::from_vec(&msg.to_vec().unwrap()).unwrap()
}

fn ask(msg: &Message, records: &Records, scope: &ScopeInfo) -> Outcome {
    answer(&msg.to_vec().unwrap(), Transport::Udp, records, scope, 0)
}

fn reply_of(outcome: Outcome) -> Message {
    match outcome {
        Outcome::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn addrs(resp: &Message) -> Vec<IpAddr> {
    resp.answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(a) => IpAddr::V6(a.0),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn a_of_a_local_name_in_any_case_with_or_without_the_dot() {
    let r = records();
    for name in ["web", "web.", "WeB.", "www"] {
        let resp = reply_of(ask(&query(name, RecordType::A), &r, &scope()));
        assert_eq!(resp.metadata.id, 0x1234);
        assert_eq!(resp.metadata.message_type, MessageType::Response);
        assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
        assert!(resp.metadata.recursion_available && resp.metadata.recursion_desired);
        assert_eq!(addrs(&resp), vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))]);
        assert_eq!(resp.answers[0].ttl, TTL);
        // The answer carries the name as asked.
        assert_eq!(
            resp.answers[0].name.to_ascii(),
            format!("{}.", name.trim_end_matches('.'))
        );
        assert_eq!(resp.queries, query(name, RecordType::A).queries);
    }
}

#[test]
fn aaaa_of_a_name_without_ipv6_is_an_empty_noerror() {
    let r = records();
    let resp = reply_of(ask(&query("web", RecordType::AAAA), &r, &scope()));
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.answers.is_empty());
    let resp = reply_of(ask(&query("db", RecordType::AAAA), &r, &scope()));
    assert_eq!(
        addrs(&resp),
        vec![IpAddr::V6("fd00::3".parse::<Ipv6Addr>().unwrap())]
    );
}

#[test]
fn mx_of_a_local_name_is_an_empty_noerror() {
    let resp = reply_of(ask(&query("db", RecordType::MX), &records(), &scope()));
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.answers.is_empty());
}

#[test]
fn ptr_of_a_local_address_names_container_dot_network() {
    let r = records();
    let resp = reply_of(ask(
        &query("3.0.0.10.in-addr.arpa.", RecordType::PTR),
        &r,
        &scope(),
    ));
    let RData::PTR(ptr) = &resp.answers[0].data else {
        panic!("{resp:?}")
    };
    assert_eq!(ptr.0.to_ascii(), "db.front.");
    let v6 = "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
    let resp = reply_of(ask(&query(v6, RecordType::PTR), &r, &scope()));
    let RData::PTR(ptr) = &resp.answers[0].data else {
        panic!("{resp:?}")
    };
    assert_eq!(ptr.0.to_ascii(), "db.front.");
    // Another address, or a network's reverse zone, is not ours.
    for name in ["9.0.0.10.in-addr.arpa.", "0.10.in-addr.arpa."] {
        assert!(matches!(
            ask(&query(name, RecordType::PTR), &r, &scope()),
            Outcome::Forward { .. }
        ));
    }
}

#[test]
fn names_of_networks_the_querier_is_not_on_are_forwarded() {
    let r = records();
    let mut elsewhere = scope();
    elsewhere.networks[0].id = "n2".into();
    let msg = query("web", RecordType::A);
    let Outcome::Forward {
        query: forwarded,
        failure,
        refused,
    } = ask(&msg, &r, &elsewhere)
    else {
        panic!("expected a forward")
    };
    assert_eq!(forwarded, msg.to_vec().unwrap(), "forwarded unchanged");
    let failure = Message::from_vec(&failure).unwrap();
    assert_eq!(failure.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(failure.metadata.id, 0x1234);
    assert_eq!(failure.queries, msg.queries);
    let refused = Message::from_vec(&refused).unwrap();
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn other_types_of_local_names_are_forwarded() {
    assert!(matches!(
        ask(&query("web", RecordType::TXT), &records(), &scope()),
        Outcome::Forward { .. }
    ));
}

#[test]
fn single_label_names_are_not_forwarded_when_ndots_is_set() {
    let r = records();
    let mut ndots = scope();
    ndots.ndots_set = true;
    let resp = reply_of(ask(&query("nothere", RecordType::A), &r, &ndots));
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.answers.is_empty());
    // With a dot, or of another type, they still go out.
    for (name, rtype) in [
        ("nothere.example", RecordType::A),
        ("nothere", RecordType::TXT),
    ] {
        assert!(matches!(
            ask(&query(name, rtype), &r, &ndots),
            Outcome::Forward { .. }
        ));
    }
    // Without ndots set, a single label goes out too (Docker forwards it).
    assert!(matches!(
        ask(&query("nothere", RecordType::A), &r, &scope()),
        Outcome::Forward { .. }
    ));
}

#[test]
fn a_container_with_no_way_out_gets_servfail_for_other_names() {
    let mut internal = scope();
    internal.internal = true;
    let resp = reply_of(ask(
        &query("example.com", RecordType::A),
        &records(),
        &internal,
    ));
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
    // Its own networks' names still answer.
    let resp = reply_of(ask(&query("web", RecordType::A), &records(), &internal));
    assert_eq!(addrs(&resp).len(), 1);
}

#[test]
fn several_addresses_rotate_with_the_turn() {
    let r = Records::new();
    let ips: Vec<Ipv4Addr> = (2..5).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    for (i, ip) in ips.iter().enumerate() {
        r.set(
            "n1",
            &format!("c{i}"),
            vec!["svc".into()],
            vec![*ip],
            vec![],
        );
    }
    let bytes = query("svc", RecordType::A).to_vec().unwrap();
    let first = |turn| match answer(&bytes, Transport::Udp, &r, &scope(), turn) {
        Outcome::Reply(b) => addrs(&Message::from_vec(&b).unwrap()),
        other => panic!("{other:?}"),
    };
    assert_eq!(first(0).len(), 3);
    assert_eq!(first(0)[0], IpAddr::V4(ips[0]));
    assert_eq!(first(1)[0], IpAddr::V4(ips[1]));
    assert_eq!(first(5)[0], IpAddr::V4(ips[2]));
}

#[test]
fn a_long_udp_answer_is_truncated_and_whole_over_tcp() {
    let r = Records::new();
    let ips: Vec<Ipv4Addr> = (0..100).map(|i| Ipv4Addr::new(10, 0, 1, i)).collect();
    r.set("n1", "c", vec!["many".into()], ips, vec![]);
    let bytes = query("many", RecordType::A).to_vec().unwrap();
    let Outcome::Reply(udp) = answer(&bytes, Transport::Udp, &r, &scope(), 0) else {
        panic!()
    };
    assert!(udp.len() <= 512, "{}", udp.len());
    let udp = Message::from_vec(&udp).unwrap();
    assert!(udp.metadata.truncation);
    assert!(!udp.answers.is_empty() && udp.answers.len() < 100);
    let Outcome::Reply(tcp) = answer(&bytes, Transport::Tcp, &r, &scope(), 0) else {
        panic!()
    };
    let tcp = Message::from_vec(&tcp).unwrap();
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 100);
}

#[test]
fn edns_raises_the_udp_limit_and_is_answered_with_edns() {
    let r = Records::new();
    let ips: Vec<Ipv4Addr> = (0..40).map(|i| Ipv4Addr::new(10, 0, 1, i)).collect();
    r.set("n1", "c", vec!["many".into()], ips, vec![]);
    let mut msg = query("many", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    msg.set_edns(edns);
    let resp = reply_of(ask(&msg, &r, &scope()));
    assert!(!resp.metadata.truncation);
    assert_eq!(resp.answers.len(), 40);
    assert_eq!(
        resp.edns.as_ref().map(Edns::max_payload),
        Some(EDNS_PAYLOAD)
    );
}

#[test]
fn malformed_queries() {
    let r = records();
    // Shorter than a header: nothing to answer.
    assert!(matches!(
        answer(&[1, 2, 3], Transport::Udp, &r, &scope(), 0),
        Outcome::Ignore
    ));
    // A header announcing a question that is not there: FORMERR with its ID.
    let packet = [0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    let Outcome::Reply(bytes) = answer(&packet, Transport::Udp, &r, &scope(), 0) else {
        panic!()
    };
    assert_eq!(&bytes[..2], &[0xab, 0xcd]);
    assert_eq!(bytes[2] & 0x80, 0x80, "a response");
    assert_eq!(bytes[2] & 0x01, 0x01, "RD echoed");
    assert_eq!(bytes[3] & 0x0f, 1, "FORMERR");
    // A response is never answered (no loops between two servers).
    let mut resp = query("web", RecordType::A);
    resp.metadata.message_type = MessageType::Response;
    assert!(matches!(ask(&resp, &r, &scope()), Outcome::Ignore));
    // Two questions: FORMERR. Another opcode: NOTIMP.
    let mut two = query("web", RecordType::A);
    two.add_query(Query::query(Name::from_ascii("db").unwrap(), RecordType::A));
    assert_eq!(
        reply_of(ask(&two, &r, &scope())).metadata.response_code,
        ResponseCode::FormErr
    );
    let mut none = query("web", RecordType::A);
    none.queries.clear();
    assert_eq!(
        reply_of(ask(&none, &r, &scope())).metadata.response_code,
        ResponseCode::FormErr
    );
    let mut status = query("web", RecordType::A);
    status.metadata.op_code = OpCode::Status;
    assert_eq!(
        reply_of(ask(&status, &r, &scope())).metadata.response_code,
        ResponseCode::NotImp
    );
}

#[test]
fn a_link_alias_resolves_only_in_the_linking_scope() {
    let r = records();
    let mut linking = scope();
    linking.links = vec![("store".into(), "db".into())];
    for name in ["store", "STORE.", "db"] {
        let resp = reply_of(ask(&query(name, RecordType::A), &r, &linking));
        assert_eq!(addrs(&resp), vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3))]);
        assert_eq!(
            resp.answers[0].name.to_ascii(),
            format!("{}.", name.trim_end_matches('.'))
        );
    }
    // Anyone else asking for the alias is forwarded: it is not a name on the network.
    assert!(matches!(
        ask(&query("store", RecordType::A), &r, &scope()),
        Outcome::Forward { .. }
    ));
    // A link to a container not on a shared network resolves to nothing local.
    linking.links = vec![("gone".into(), "nowhere".into())];
    assert!(matches!(
        ask(&query("gone", RecordType::A), &r, &linking),
        Outcome::Forward { .. }
    ));
}
