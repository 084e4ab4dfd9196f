//! The API's JSON work for 1000 containers (`BERTH_BENCH_CONTAINERS`), as berthd does it:
//! - `ps`: `view::summary` of every record, then one `serde_json::to_vec` of the list
//!   (`GET /containers/json`);
//! - `inspect`: `view::inspect` and `to_vec` of each record, one response per container
//!   (`GET /containers/{id}/json`), 1000 of them;
//! - `record_save` / `record_load`: encoding and decoding the stored `config.json` of every
//!   container (what each state change writes, and what a daemon start reads);
//! - `route`: the request routing, `api::strip_version` and `api::parse_route`, over a mix of
//!   the paths the docker CLI sends (one iteration routes every path of the mix once).

use berth_engine::{parse_route, strip_version, view, ContainerRecord};
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench_json(c: &mut Criterion) {
    let count = berth_benches::env_usize("BERTH_BENCH_CONTAINERS", 1000);
    let records = berth_benches::containers::running(
        count,
        std::path::Path::new("/var/lib/berth/containers"),
    );
    let now = Utc::now();

    let mut group = c.benchmark_group("api_json");
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function(format!("ps/{count}"), |b| {
        b.iter(|| {
            let summaries: Vec<_> = records
                .iter()
                .map(|(record, _)| {
                    let image = record.config.image.clone().unwrap_or_default();
                    view::summary(record, image, now)
                })
                .collect();
            serde_json::to_vec(&summaries).expect("encoding ps")
        })
    });
    group.bench_function(format!("inspect/{count}"), |b| {
        b.iter(|| {
            let mut bytes = 0;
            for (record, dir) in &records {
                bytes += serde_json::to_vec(&view::inspect(record, dir))
                    .expect("encoding inspect")
                    .len();
            }
            bytes
        })
    });
    group.bench_function(format!("record_save/{count}"), |b| {
        b.iter(|| {
            let mut bytes = 0;
            for (record, _) in &records {
                bytes += serde_json::to_vec(record).expect("encoding a record").len();
            }
            bytes
        })
    });
    let stored: Vec<Vec<u8>> = records
        .iter()
        .map(|(record, _)| serde_json::to_vec(record).expect("encoding a record"))
        .collect();
    group.bench_function(format!("record_load/{count}"), |b| {
        b.iter(|| {
            for bytes in &stored {
                let record: ContainerRecord =
                    serde_json::from_slice(bytes).expect("decoding a record");
                std::hint::black_box(record);
            }
        })
    });
    group.finish();
}

/// Paths as the docker CLI sends them, with the version prefix.
const ROUTED: &[(&str, &str)] = &[
    ("GET", "/_ping"),
    ("GET", "/v1.49/version"),
    ("GET", "/v1.49/containers/json"),
    ("POST", "/v1.49/containers/create"),
    ("POST", "/v1.49/containers/4f2a9c8e1b7d/start"),
    ("POST", "/v1.49/containers/4f2a9c8e1b7d/attach"),
    ("POST", "/v1.49/containers/4f2a9c8e1b7d/wait"),
    ("GET", "/v1.49/containers/4f2a9c8e1b7d/json"),
    ("GET", "/v1.49/containers/4f2a9c8e1b7d/logs"),
    ("DELETE", "/v1.49/containers/4f2a9c8e1b7d"),
    ("POST", "/v1.49/exec/9e0c/start"),
    ("GET", "/v1.49/images/localhost:5000/team/app/json"),
    ("DELETE", "/v1.49/images/busybox"),
    ("GET", "/v1.49/no/such/path"),
];

fn bench_route(c: &mut Criterion) {
    let requests: Vec<(hyper::Method, &str)> = ROUTED
        .iter()
        .map(|(method, path)| (method.parse().expect("a method"), *path))
        .collect();
    let mut group = c.benchmark_group("api_route");
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function(format!("mix/{}", requests.len()), |b| {
        b.iter(|| {
            let mut routed = 0;
            for (method, path) in &requests {
                let path = strip_version(path).expect("a supported version");
                if parse_route(method, path).is_ok() {
                    routed += 1;
                }
            }
            routed
        })
    });
    group.finish();
}

criterion_group!(benches, bench_json, bench_route);
criterion_main!(benches);
