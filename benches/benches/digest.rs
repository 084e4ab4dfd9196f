//! sha256 against blake3 over the same stored blob, read through the content store's mmap
//! reader (`ContentStore::read` → `Blob`). The blob is `BERTH_BENCH_BLOB_MB` MiB (default
//! 64) of a generated layer tar, written to a store under `BERTH_BENCH_DIR` (default: the
//! system temp dir). After the first pass the blob is in the page cache, so this measures
//! hashing of mapped memory, not the disk.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fsdriver::content::ContentStore;
use fsdriver::Digest;

fn bench_digest(c: &mut Criterion) {
    let mb = berth_benches::env_usize("BERTH_BENCH_BLOB_MB", 64);
    let mut bytes = berth_benches::layer::generate((mb as u64) << 20, 2).tar;
    bytes.truncate(mb << 20);
    let root = match std::env::var_os("BERTH_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("creating the benchmark's scratch directory");
    let store = ContentStore::open(root.path()).expect("opening a content store");
    let stored = store.put(&bytes).expect("storing the blob");
    drop(bytes);

    let mut group = c.benchmark_group("digest");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Bytes(stored.size));
    group.bench_function("sha256_mmap", |b| {
        b.iter(|| {
            let blob = store.read(&stored.digest).expect("reading the blob");
            let digest = Digest::of_bytes(&blob);
            assert_eq!(digest, stored.digest);
        })
    });
    group.bench_function("blake3_mmap", |b| {
        b.iter(|| {
            let blob = store.read(&stored.digest).expect("reading the blob");
            std::hint::black_box(blob.blake3())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_digest);
criterion_main!(benches);
