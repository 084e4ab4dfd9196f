//! A fully cached rebuild of issue 11's 10-step Dockerfile with a COPY of a
//! `BERTH_BENCH_CONTEXT_MB` MiB (default 50) tree of 4 KiB files, through berth-builder with
//! an executor that stores nothing: the builder's own share of the "cached rebuild ≤ 100 ms"
//! goal (parse, plan, hash the context, look the steps up). The daemon's share (receiving
//! and extracting the context) is measured end to end, not here.

use std::time::Duration;

use berth_benches::build::{context_tree, options, NullExecutor, Quiet};
use berth_builder::build::Builder;
use berth_builder::cache::Cache;
use berth_builder::context::Context;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench_rebuild(c: &mut Criterion) {
    if !berth_benches::is_root() {
        eprintln!("build_rebuild: skipped, COPY chowns to root, which needs root");
        return;
    }
    let mb = berth_benches::env_usize("BERTH_BENCH_CONTEXT_MB", 50);
    let dir = match std::env::var_os("BERTH_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("creating the benchmark's scratch directory");
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).expect("creating the context");
    context_tree(&ctx, mb);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("creating the scratch directory");
    let cache = Cache::open(&dir.path().join("cache")).expect("opening the cache");
    let context = Context::at(&ctx);
    let executor = NullExecutor::default();
    let builder = Builder {
        executor: &executor,
        cache: &cache,
        context: &context,
        scratch: &scratch,
    };
    let options = options();
    let first = builder.build(&options, &Quiet).expect("the first build");

    let mut group = c.benchmark_group("build");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Bytes((mb as u64) << 20));
    group.bench_function("cached_rebuild", |b| {
        b.iter(|| {
            let again = builder.build(&options, &Quiet).expect("a rebuild");
            assert_eq!(again, first);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_rebuild);
criterion_main!(benches);
