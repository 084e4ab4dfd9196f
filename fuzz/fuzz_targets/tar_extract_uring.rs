//! Arbitrary bytes as a layer tar, through the io_uring extractor and the reference one
//! side by side: neither may panic or touch anything outside its layer directory, and
//! they must agree — both fail, or both succeed with identical trees.
//!
//! How an escape is seen: [`berth_fuzz::scene`]. Runs as root, like the daemon.
//!
//! Random bytes rarely make a tar header; seed a run with the archives in `seeds/tar`:
//! `cargo +nightly fuzz run -O tar_extract_uring corpus/tar_extract_uring seeds/tar`.

#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_fuzz::scene::Scene;
use fsdriver::extract::{ExtractLimits, Extractor};
use libfuzzer_sys::fuzz_target;

#[path = "../../fsdriver/tests/common/snapshot.rs"]
mod snapshot;

const LIMITS: ExtractLimits = ExtractLimits {
    max_entries: 64,
    max_bytes: 1 << 20,
};

fn scene() -> &'static Scene {
    static SCENE: OnceLock<Scene> = OnceLock::new();
    SCENE.get_or_init(|| Scene::new("berth-fuzz-tar-uring"))
}

/// The tree, with times the extraction itself produced (unlisted directories, whiteouts)
/// left out.
fn snapshot(layer: &Path, start: i64) -> std::collections::BTreeMap<PathBuf, snapshot::Node> {
    let mut tree = snapshot::snapshot(layer);
    for node in tree.values_mut() {
        if node.mtime.0 >= start {
            node.mtime = (0, 0);
        }
    }
    tree
}

fuzz_target!(|data: &[u8]| {
    let scene = scene();
    let reference = scene.deepest().join("reference");
    let uring = scene.deepest().join("uring");
    fs::create_dir(&reference).unwrap();
    fs::create_dir(&uring).unwrap();
    // File systems stamp times from a coarse clock, a tick behind this one.
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 2;
    let expected = Extractor::Reference.extract(data, &reference, &LIMITS);
    let got = Extractor::Uring.extract(data, &uring, &LIMITS);
    match (&expected, &got) {
        (Ok(expected), Ok(got)) => {
            assert_eq!(expected, got);
            snapshot::assert_same(&snapshot(&reference, start), &snapshot(&uring, start));
        }
        (Err(expected), Err(got)) => assert_eq!(expected.kind(), got.kind(), "{expected} / {got}"),
        _ => panic!("reference: {expected:?}, io_uring: {got:?}"),
    }
    fs::remove_dir_all(&reference).unwrap();
    fs::remove_dir_all(&uring).unwrap();

    scene.assert_untouched();
});
