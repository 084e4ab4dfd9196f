//! The attach path of a container start on the bridge, as root: create the network
//! namespace (lo up), then connect it (address, veth pair, MAC, route, bridge port), and
//! the teardown of both. Without root it prints why and measures nothing.
//!
//! `cargo bench -p berth-network --bench attach`

use std::time::{Duration, Instant};

use berth_network::{DefaultBridge, EndpointRequest, NetworkConfig, Networks};
use criterion::{criterion_group, criterion_main, Criterion};

fn attach(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping the attach bench: it needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pid = std::process::id() % 100_000;
    let config = NetworkConfig {
        state_dir: dir.path().join("state"),
        netns_dir: dir.path().join("netns"),
        default_bridge: Some(DefaultBridge {
            name: format!("bb{pid}"),
            bip: Some("10.213.250.1/24".parse().expect("bip")),
            ..Default::default()
        }),
        firewall_table: format!("berth_bench_{pid}"),
    };
    let nets = Networks::open(config.clone()).expect("open");
    let mut n = 0u64;
    let mut group = c.benchmark_group("network");
    group.sample_size(30);
    group.bench_function("create_sandbox+connect", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let id = format!("bench{n}");
                let start = Instant::now();
                let ns = nets.create_sandbox(&id).expect("sandbox");
                nets.connect(&id, &ns, "bridge", EndpointRequest::default())
                    .expect("connect");
                spent += start.elapsed();
                nets.remove_sandbox(&id).expect("remove");
            }
            spent
        })
    });
    group.bench_function("remove_sandbox", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let id = format!("bench{n}");
                let ns = nets.create_sandbox(&id).expect("sandbox");
                nets.connect(&id, &ns, "bridge", EndpointRequest::default())
                    .expect("connect");
                let start = Instant::now();
                nets.remove_sandbox(&id).expect("remove");
                spent += start.elapsed();
            }
            spent
        })
    });
    group.finish();
    drop(nets);
    let _ = berth_network::purge(&config);
}

criterion_group!(benches, attach);
criterion_main!(benches);
