//! One stats pass over N = 10, 100 and 1000 cgroups (issue 5), with what exists today.
//!
//! berth has no stats sampler yet (issue 3 adds one, keeping the files open and `pread`ing
//! them). What exists, and what these measure:
//! - `parse_only`: `berth_cgroups::stats::collect_v1` over an in-memory `StatsSource`: the
//!   parsers' share of a pass, the floor a sampler cannot go below;
//! - `fake_tree`: `CgroupManager::stats` (opens, reads and parses every file, each time) over
//!   a v1 layout of plain files in a temporary directory;
//! - `host`: `CgroupManager::stats` over N real, empty cgroups this bench creates on this host
//!   (root only; skipped otherwise), where the kernel generates each file on read.
//!
//! Throughput is in cgroups per second.

use std::time::Duration;

use berth_benches::cgroup_fixture::{FakeV1Tree, HostCgroups, InMemoryV1};
use berth_cgroups::CgroupManager;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const COUNTS: &[usize] = &[10, 100, 1000];

fn pass(managers: &[Box<dyn CgroupManager>]) {
    for manager in managers {
        let stats = manager.stats().expect("sampling a cgroup");
        std::hint::black_box(stats);
    }
}

fn bench_stats(c: &mut Criterion) {
    let mut group = c.benchmark_group("cgroup_stats_pass");
    group.measurement_time(Duration::from_secs(5));
    for &count in COUNTS {
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(BenchmarkId::new("parse_only", count), &count, |b, &n| {
            b.iter(|| {
                for _ in 0..n {
                    let stats = berth_cgroups::stats::collect_v1(&mut InMemoryV1)
                        .expect("the fixture parses");
                    std::hint::black_box(stats);
                }
            })
        });

        let tree = FakeV1Tree::new(count).expect("writing a fake cgroup tree");
        let hierarchy = tree.hierarchy();
        let managers: Vec<_> = tree
            .cgroup_paths()
            .iter()
            .map(|path| berth_cgroups::manager(&hierarchy, path).expect("a valid cgroup path"))
            .collect();
        group.bench_with_input(BenchmarkId::new("fake_tree", count), &managers, |b, m| {
            b.iter(|| pass(m))
        });

        if !berth_benches::is_root() {
            eprintln!("cgroup_stats_pass/host/{count}: skipped, creating cgroups needs root");
            continue;
        }
        let host = match HostCgroups::new(count) {
            Ok(host) => host,
            Err(err) => {
                eprintln!("cgroup_stats_pass/host/{count}: skipped, {err}");
                continue;
            }
        };
        group.bench_with_input(BenchmarkId::new("host", count), host.managers(), |b, m| {
            b.iter(|| pass(m))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_stats);
criterion_main!(benches);
