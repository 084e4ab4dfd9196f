//! Arbitrary bytes as a layer tar, through the io_uring extractor and the reference one
//! side by side: neither may panic or touch anything outside its layer directory, and
//! they must agree — both fail, or both succeed with identical trees.
//!
//! The two layers sit a few directories deep, next to a sentinel file at every level, so
//! that a write that climbs out with `..` lands somewhere this target checks; `/` is checked
//! too, for absolute paths and symlinks to `/`. Runs as root, like the daemon. The scene
//! lives in `$TMPDIR/berth-fuzz-tar-uring-<pid>`, which the fuzzing run leaves for the
//! caller to remove.
//!
//! Random bytes rarely make a tar header; seed a run with the archives in `seeds/tar`:
//! `cargo +nightly fuzz run -O tar_extract_uring corpus/tar_extract_uring seeds/tar`.

#![no_main]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use fsdriver::extract::{ExtractLimits, Extractor};
use libfuzzer_sys::fuzz_target;

#[path = "../../fsdriver/tests/common/snapshot.rs"]
mod snapshot;

const LIMITS: ExtractLimits = ExtractLimits {
    max_entries: 64,
    max_bytes: 1 << 20,
};

struct Scene {
    levels: Vec<PathBuf>,
    reference: PathBuf,
    uring: PathBuf,
    root_entries: BTreeSet<OsString>,
}

fn listing(dir: &Path) -> BTreeSet<OsString> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect()
}

fn scene() -> &'static Scene {
    static SCENE: OnceLock<Scene> = OnceLock::new();
    SCENE.get_or_init(|| {
        let base =
            std::env::temp_dir().join(format!("berth-fuzz-tar-uring-{}", std::process::id()));
        let levels: Vec<PathBuf> = ["", "a", "a/b", "a/b/c"]
            .iter()
            .map(|l| base.join(l))
            .collect();
        for level in &levels {
            fs::create_dir_all(level).unwrap();
            fs::write(level.join("sentinel"), b"untouched").unwrap();
        }
        let deepest = levels.last().unwrap().clone();
        Scene {
            levels,
            reference: deepest.join("reference"),
            uring: deepest.join("uring"),
            root_entries: listing(Path::new("/")),
        }
    })
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
    fs::create_dir(&scene.reference).unwrap();
    fs::create_dir(&scene.uring).unwrap();
    // File systems stamp times from a coarse clock, a tick behind this one.
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 2;
    let expected = Extractor::Reference.extract(data, &scene.reference, &LIMITS);
    let got = Extractor::Uring.extract(data, &scene.uring, &LIMITS);
    match (&expected, &got) {
        (Ok(expected), Ok(got)) => {
            assert_eq!(expected, got);
            snapshot::assert_same(
                &snapshot(&scene.reference, start),
                &snapshot(&scene.uring, start),
            );
        }
        (Err(expected), Err(got)) => assert_eq!(expected.kind(), got.kind(), "{expected} / {got}"),
        _ => panic!("reference: {expected:?}, io_uring: {got:?}"),
    }
    fs::remove_dir_all(&scene.reference).unwrap();
    fs::remove_dir_all(&scene.uring).unwrap();

    for (i, level) in scene.levels.iter().enumerate() {
        let mut expected: BTreeSet<OsString> = ["sentinel".into()].into();
        if let Some(next) = scene.levels.get(i + 1) {
            expected.insert(next.file_name().unwrap().into());
        }
        assert_eq!(
            listing(level),
            expected,
            "something was written in {}",
            level.display()
        );
        assert_eq!(fs::read(level.join("sentinel")).unwrap(), b"untouched");
    }
    assert_eq!(
        listing(Path::new("/")),
        scene.root_entries,
        "something was written in /"
    );
});
