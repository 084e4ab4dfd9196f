//! Arbitrary bytes as a layer tar: extraction may fail, but must never panic and never touch
//! anything outside the layer directory.
//!
//! The layer sits a few directories deep, next to a sentinel file at every level, so that a
//! write that climbs out with `..` lands somewhere this target checks; `/` is checked too,
//! for absolute paths and symlinks to `/`. Runs as root, like the daemon. The scene lives in
//! `$TMPDIR/berth-fuzz-tar-<pid>`, which the fuzzing run leaves for the caller to remove.

#![no_main]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fsdriver::extract::{extract, ExtractLimits};
use libfuzzer_sys::fuzz_target;

const LIMITS: ExtractLimits = ExtractLimits {
    max_entries: 64,
    max_bytes: 1 << 20,
};

struct Scene {
    levels: Vec<PathBuf>,
    layer: PathBuf,
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
        let base = std::env::temp_dir().join(format!("berth-fuzz-tar-{}", std::process::id()));
        let levels: Vec<PathBuf> = ["", "a", "a/b", "a/b/c"]
            .iter()
            .map(|l| base.join(l))
            .collect();
        for level in &levels {
            fs::create_dir_all(level).unwrap();
            fs::write(level.join("sentinel"), b"untouched").unwrap();
        }
        Scene {
            layer: levels.last().unwrap().join("layer"),
            levels,
            root_entries: listing(Path::new("/")),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let scene = scene();
    fs::create_dir(&scene.layer).unwrap();
    let _ = extract(data, &scene.layer, &LIMITS);
    fs::remove_dir_all(&scene.layer).unwrap();

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
