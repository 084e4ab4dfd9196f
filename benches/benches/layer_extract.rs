//! Layer extraction throughput, in MB/s of uncompressed tar and in files/s.
//!
//! The layer is generated (see `berth_benches::layer`): `BERTH_BENCH_LAYER_MB` MiB of file
//! content (default 64; issue 5 asks for about 400 on a bench machine), many small files.
//! Each extractor runs on the uncompressed, gzip and zstd forms, decompressed on the fly as
//! the layer store does on import. Two levels are measured:
//! - `extract/<target>/<extractor>/<compression>`: the extractor alone (std::fs reference or
//!   io_uring), into a fresh directory on each target: `tmpfs` (/dev/shm, when it is a tmpfs:
//!   the extractor's own CPU and syscall cost) and `disk` (`BERTH_BENCH_DIR`, default the
//!   system temp dir: put it on the disk the data root will use);
//! - `layer_store/<compression>`: `LayerStore::extract` on the disk target (its default
//!   extractor, io_uring when the kernel has it; plus sharing files with stored layers, the
//!   metadata file, one syncfs and the rename into place), what an import pays.
//!
//! Each extracted tree is deleted outside the timing, but a file system may make the next
//! iteration pay for it: ext4 without a journal skips inodes deleted in the last
//! `dirty_expire_centisecs` when allocating, and reads the inode table to find them, so
//! back-to-back extractions there slow down (see benches/RESULTS.md).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use berth_benches::layer::{self, GeneratedLayer};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fsdriver::extract::{ExtractLimits, Extracted};
use fsdriver::layer::LayerStore;

/// An extractor under test: applies an uncompressed tar stream to an existing directory.
type Extractor = fn(&mut dyn Read, &Path) -> Extracted;

/// Every extractor to compare.
const EXTRACTORS: &[(&str, Extractor)] = &[("std_fs", extract_std_fs), ("io_uring", extract_uring)];

fn extract_std_fs(reader: &mut dyn Read, dest: &Path) -> Extracted {
    fsdriver::extract::extract(reader, dest, &ExtractLimits::default())
        .expect("the generated layer extracts")
}

fn extract_uring(reader: &mut dyn Read, dest: &Path) -> Extracted {
    fsdriver::extract::uring::extract(reader, dest, &ExtractLimits::default())
        .expect("the generated layer extracts")
}

struct Form {
    name: &'static str,
    bytes: Vec<u8>,
}

fn forms(layer: &GeneratedLayer) -> Vec<Form> {
    vec![
        Form {
            name: "tar",
            bytes: layer.tar.clone(),
        },
        Form {
            name: "gzip",
            bytes: layer::gzip(&layer.tar),
        },
        Form {
            name: "zstd",
            bytes: layer::zstd(&layer.tar),
        },
    ]
}

fn disk_scratch() -> tempfile::TempDir {
    match std::env::var_os("BERTH_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("creating the benchmark's scratch directory")
}

/// /dev/shm, if it is a tmpfs; TMPFS_MAGIC from statfs(2).
fn tmpfs_scratch() -> Option<tempfile::TempDir> {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let shm = Path::new("/dev/shm");
    let stat = rustix::fs::statfs(shm).ok()?;
    #[allow(clippy::unnecessary_cast)] // the field's type differs between architectures
    let is_tmpfs = stat.f_type as i64 == TMPFS_MAGIC;
    is_tmpfs.then(|| tempfile::tempdir_in(shm).expect("creating a scratch directory in /dev/shm"))
}

fn bench_extract(c: &mut Criterion) {
    let mb = berth_benches::env_usize("BERTH_BENCH_LAYER_MB", 64);
    let layer = layer::generate((mb as u64) << 20, 1);
    let forms = forms(&layer);
    eprintln!(
        "layer: {} MiB of content in {} files ({} entries), tar {} B, gzip {} B, zstd {} B",
        mb,
        layer.files,
        layer.entries,
        layer.tar.len(),
        forms[1].bytes.len(),
        forms[2].bytes.len()
    );
    let disk = disk_scratch();
    let mut targets = vec![("disk", disk.path().to_path_buf())];
    let tmpfs = tmpfs_scratch();
    match &tmpfs {
        Some(dir) => targets.insert(0, ("tmpfs", dir.path().to_path_buf())),
        None => eprintln!("extract/tmpfs: skipped, /dev/shm is not a tmpfs"),
    }
    // Both MB/s (of uncompressed tar, whatever the form) and files/s are reported.
    let throughput = Throughput::ElementsAndBytes {
        elements: layer.files,
        bytes: layer.tar.len() as u64,
    };

    let mut group = c.benchmark_group("extract");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(throughput.clone());
    for (target, scratch) in &targets {
        for (extractor_name, extractor) in EXTRACTORS {
            for form in &forms {
                let id = format!("{target}/{extractor_name}/{}", form.name);
                group.bench_function(id, |b| {
                    b.iter_batched(
                        || tempfile::tempdir_in(scratch).expect("creating a target"),
                        |dest| {
                            let (_, mut reader) =
                                fsdriver::compression::decompress(&form.bytes[..])
                                    .expect("the generated layer decompresses");
                            let extracted = extractor(&mut reader, dest.path());
                            assert_eq!(extracted.entries, layer.entries);
                            dest
                        },
                        BatchSize::PerIteration,
                    )
                });
            }
        }
    }
    group.finish();

    let mut group = c.benchmark_group("layer_store");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(throughput);
    for form in &forms {
        group.bench_function(form.name, |b| {
            b.iter_batched(
                || {
                    let root = tempfile::tempdir_in(disk.path()).expect("creating a store");
                    let store = LayerStore::open(root.path()).expect("opening a layer store");
                    (root, store)
                },
                |(root, store)| {
                    let (_, reader) = fsdriver::compression::decompress(&form.bytes[..])
                        .expect("the generated layer decompresses");
                    store
                        .extract(reader)
                        .expect("the generated layer is stored");
                    root
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_extract);
criterion_main!(benches);
