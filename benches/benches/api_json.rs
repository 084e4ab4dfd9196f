//! The API's JSON work for 1000 containers (`BERTH_BENCH_CONTAINERS`), as berthd does it:
//! - `ps`: `view::summary` of every record, then one `serde_json::to_vec` of the list
//!   (`GET /containers/json`);
//! - `inspect`: `view::inspect` and `to_vec` of each record, one response per container
//!   (`GET /containers/{id}/json`), 1000 of them;
//! - `record_save` / `record_load`: encoding and decoding the stored `config.json` of every
//!   container (what each state change writes, and what a daemon start reads).
//!
//! Request routing is not measured: `berth_engine::api::route` is private and needs a live
//! `Engine` (actors, supervisor). The CLI round trip of the e2e harness covers it end to end.

use berth_engine::container::record::ContainerRecord;
use berth_engine::container::view;
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

criterion_group!(benches, bench_json);
criterion_main!(benches);
