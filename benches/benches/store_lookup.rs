//! Store look-ups, at two store sizes (`BERTH_BENCH_IMAGES`, default 1000, and a tenth of
//! it) so that the cost's growth with the store shows:
//! - `ImageStore::resolve` by tag, by full ID, by a 12-hex-digit ID prefix, and a miss;
//! - `ContentStore::contains` of a stored and of an absent blob.
//!
//! Stores live under `BERTH_BENCH_DIR` (default: the system temp dir).

use berth_images::ImageStore;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fsdriver::content::ContentStore;
use fsdriver::Digest;

fn scratch() -> tempfile::TempDir {
    match std::env::var_os("BERTH_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("creating the benchmark's scratch directory")
}

fn bench_lookups(c: &mut Criterion) {
    let largest = berth_benches::env_usize("BERTH_BENCH_IMAGES", 1000);
    let sizes = [(largest / 10).max(1), largest];

    let mut group = c.benchmark_group("image_resolve");
    group.throughput(Throughput::Elements(1));
    for count in sizes {
        let dir = scratch();
        let started = std::time::Instant::now();
        let (store, images) =
            berth_benches::images::store_with(dir.path(), count).expect("filling an image store");
        eprintln!("imported {count} images in {:?}", started.elapsed());
        let middle = &images[count / 2];
        let tag = berth_benches::images::tag(count / 2);
        let full_id = middle.id.to_string();
        let prefix = middle.id.hex()[..12].to_string();

        group.bench_with_input(BenchmarkId::new("by_tag", count), &tag, |b, name| {
            b.iter(|| resolve(&store, name, Some(&middle.id)))
        });
        group.bench_with_input(BenchmarkId::new("by_id", count), &full_id, |b, name| {
            b.iter(|| resolve(&store, name, Some(&middle.id)))
        });
        group.bench_with_input(BenchmarkId::new("by_prefix", count), &prefix, |b, name| {
            b.iter(|| resolve(&store, name, Some(&middle.id)))
        });
        group.bench_with_input(
            BenchmarkId::new("miss", count),
            "bench/not-there:latest",
            |b, name| b.iter(|| resolve(&store, name, None)),
        );
        drop(store);
    }
    group.finish();

    let mut group = c.benchmark_group("content_contains");
    group.throughput(Throughput::Elements(1));
    for count in sizes {
        let dir = scratch();
        let store = ContentStore::open(dir.path()).expect("opening a content store");
        let stored: Vec<Digest> = (0..count)
            .map(|i| {
                store
                    .put(format!("blob {i}").as_bytes())
                    .expect("storing a blob")
                    .digest
            })
            .collect();
        let present = &stored[count / 2];
        let absent = Digest::of_bytes(b"never stored");
        group.bench_with_input(BenchmarkId::new("hit", count), present, |b, digest| {
            b.iter(|| assert!(store.contains(digest)))
        });
        group.bench_with_input(BenchmarkId::new("miss", count), &absent, |b, digest| {
            b.iter(|| assert!(!store.contains(digest)))
        });
    }
    group.finish();
}

fn resolve(store: &ImageStore, name: &str, expected: Option<&Digest>) {
    match (store.resolve(name), expected) {
        (Ok(image), Some(id)) => assert_eq!(&image.id, id),
        (Err(err), None) => assert_eq!(err.kind(), berth_images::ErrorKind::NotFound),
        (found, expected) => panic!("resolving {name}: {found:?}, expected {expected:?}"),
    }
}

criterion_group!(benches, bench_lookups);
criterion_main!(benches);
