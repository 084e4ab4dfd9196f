//! The embedded DNS (berth-dns), at `BERTH_BENCH_CONTAINERS` containers (default 1000) on one
//! network and a tenth of it:
//! - `dns_answer`: one query through the query path (parse, look up, encode), for a name on
//!   the querier's network, a name on two networks it shares, and a miss (the decision to
//!   forward);
//! - `dns_records`: replacing one container's records, what a start or a connect costs;
//! - `dns_udp`: a query's round trip over loopback UDP through a running server (one scope,
//!   its own runtime thread), the latency a container sees for a local name.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use berth_dns::query::{answer, Outcome, ScopeInfo, Transport};
use berth_dns::{DnsConfig, DnsServer, Records, ScopeNetwork, ScopeSockets};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

fn network(id: &str) -> ScopeNetwork {
    ScopeNetwork {
        id: id.to_string(),
        name: format!("{id}-net"),
    }
}

fn scope(networks: &[&str]) -> ScopeInfo {
    ScopeInfo {
        networks: networks.iter().map(|n| network(n)).collect(),
        ..ScopeInfo::default()
    }
}

fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + i as u32 + 2)
}

/// `count` containers on `n1` (name, alias, short ID each), the first ten also on `n2`.
fn fill(records: &Records, count: usize) {
    for i in 0..count {
        let names = vec![format!("web{i}"), format!("alias{i}"), format!("{i:012x}")];
        records.set("n1", &format!("c{i}"), names, vec![addr(i)], vec![]);
        if i < 10 {
            let names = vec![format!("web{i}")];
            records.set("n2", &format!("c{i}"), names, vec![addr(i + count)], vec![]);
        }
    }
}

fn packet(name: &str) -> Vec<u8> {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    msg.to_vec().unwrap()
}

fn bench_answer(c: &mut Criterion) {
    let largest = berth_benches::env_usize("BERTH_BENCH_CONTAINERS", 1000);
    let mut group = c.benchmark_group("dns_answer");
    group.throughput(Throughput::Elements(1));
    for count in [(largest / 10).max(10), largest.max(10)] {
        let records = Records::new();
        fill(&records, count);
        let one = scope(&["n1"]);
        let both = scope(&["n1", "n2"]);
        let local = packet(&format!("web{}", count / 2));
        let shared = packet("web3");
        let miss = packet("example.com");
        let cases = [
            ("local", &local, &one),
            ("two_networks", &shared, &both),
            ("miss", &miss, &one),
        ];
        for (case, packet, info) in cases {
            group.bench_with_input(BenchmarkId::new(case, count), packet, |b, packet| {
                b.iter(|| match answer(packet, Transport::Udp, &records, info, 0) {
                    Outcome::Reply(bytes) => bytes.len(),
                    Outcome::Forward { query, .. } => query.len(),
                    Outcome::Ignore => panic!("a query was ignored"),
                })
            });
        }
    }
    group.finish();
}

fn bench_records(c: &mut Criterion) {
    let largest = berth_benches::env_usize("BERTH_BENCH_CONTAINERS", 1000);
    let mut group = c.benchmark_group("dns_records");
    group.throughput(Throughput::Elements(1));
    for count in [(largest / 10).max(10), largest.max(10)] {
        let records = Records::new();
        fill(&records, count);
        let id = format!("c{}", count / 2);
        group.bench_function(BenchmarkId::new("set", count), |b| {
            b.iter(|| {
                let names = vec![
                    "web".to_string(),
                    "alias".to_string(),
                    "0123456789ab".to_string(),
                ];
                records.set("n1", &id, names, vec![addr(count / 2)], vec![]);
            })
        });
    }
    group.finish();
}

fn bench_udp(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a scratch directory");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "").expect("writing an empty resolv.conf");
    let config = DnsConfig {
        resolv_conf: resolv,
        ..DnsConfig::default()
    };
    let server = DnsServer::new(config, runtime.handle().clone()).expect("a DNS server");
    fill(server.records(), 1000);
    let sockets = ScopeSockets::bind("127.0.0.1:0".parse().unwrap()).expect("binding a scope");
    let target = sockets.local_addr().unwrap();
    server
        .register("bench", sockets, scope(&["n1"]))
        .expect("registering a scope");

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.connect(target).unwrap();
    let query = packet("web500");
    let mut buf = [0u8; 512];
    let mut group = c.benchmark_group("dns_udp");
    group.throughput(Throughput::Elements(1));
    group.bench_function("local_a_round_trip", |b| {
        b.iter(|| {
            client.send(&query).unwrap();
            client.recv(&mut buf).expect("an answer")
        })
    });
    group.finish();
    drop(server);
}

criterion_group!(benches, bench_answer, bench_records, bench_udp);
criterion_main!(benches);
