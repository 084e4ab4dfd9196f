//! Measures layer extraction: `extract_speed LAYER SCRATCH EXTRACTOR RUNS`.
//!
//! LAYER is a tar, gzip or zstd layer file (recognised by its magic bytes), SCRATCH a
//! directory on the file system to measure, EXTRACTOR `reference` or `uring`. Each run
//! decompresses and extracts the layer into a fresh directory under SCRATCH (the input is
//! read once beforehand so it comes from the page cache); removal is not timed. Prints each
//! run and the medians, in MB/s of uncompressed tar stream and in entries/s.

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use fsdriver::compression;
use fsdriver::extract::{ExtractLimits, Extractor};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, layer, scratch, extractor, runs] = &args[..] else {
        eprintln!("usage: extract_speed LAYER SCRATCH reference|uring RUNS");
        return ExitCode::from(2);
    };
    let extractor = match extractor.as_str() {
        "reference" => Extractor::Reference,
        "uring" => Extractor::Uring,
        other => {
            eprintln!("unknown extractor {other:?}: use reference or uring");
            return ExitCode::from(2);
        }
    };
    let Ok(runs) = runs.parse::<usize>() else {
        eprintln!("RUNS must be a number");
        return ExitCode::from(2);
    };
    // Warm the page cache, so the runs measure extraction rather than reading the input.
    let mut input = File::open(layer).expect("opening the layer");
    std::io::copy(&mut input, &mut std::io::sink()).expect("reading the layer");

    let mut rates = Vec::new();
    for run in 0..runs {
        let dest = PathBuf::from(scratch).join(format!("run-{}-{run}", std::process::id()));
        fs::create_dir(&dest).expect("creating the scratch directory");
        let file = BufReader::with_capacity(1 << 20, File::open(layer).expect("opening"));
        let started = Instant::now();
        let (_, stream) = compression::decompress(file).expect("recognising the layer");
        let mut counted = Counted {
            inner: stream,
            bytes: 0,
        };
        let extracted = extractor
            .extract(&mut counted, &dest, &ExtractLimits::default())
            .expect("extracting");
        let seconds = started.elapsed().as_secs_f64();
        let mb_per_s = counted.bytes as f64 / 1e6 / seconds;
        let entries_per_s = extracted.entries as f64 / seconds;
        println!(
            "run {run}: {:.2} s, {mb_per_s:.1} MB/s, {entries_per_s:.0} entries/s ({} entries, {} MB of files)",
            seconds,
            extracted.entries,
            extracted.size / 1_000_000
        );
        rates.push((mb_per_s, entries_per_s));
        fs::remove_dir_all(&dest).expect("removing the scratch directory");
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!(
        "median: {:.1} MB/s, {:.0} entries/s",
        median(rates.iter().map(|r| r.0).collect()),
        median(rates.iter().map(|r| r.1).collect())
    );
    ExitCode::SUCCESS
}

/// Counts the uncompressed bytes extracted.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}
