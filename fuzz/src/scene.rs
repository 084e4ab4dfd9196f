//! The place an extraction target unpacks into, set up so that a write escaping the layer
//! directory is seen.
//!
//! The layers sit a few directories deep, next to a sentinel file at every level, so that a
//! write that climbs out with `..` lands somewhere [`Scene::assert_untouched`] checks; `/` is
//! checked too, for absolute paths and symlinks to `/`. The scene lives in
//! `$TMPDIR/<name>-<pid>`, which the fuzzing run leaves for the caller to remove.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

pub struct Scene {
    /// From the scene's top directory down to the deepest, where the layers go.
    levels: Vec<PathBuf>,
    /// What `/` held before any extraction.
    root_entries: BTreeSet<OsString>,
}

fn listing(dir: &Path) -> BTreeSet<OsString> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect()
}

impl Scene {
    /// Creates the levels and their sentinels under `$TMPDIR/<name>-<pid>`.
    pub fn new(name: &str) -> Scene {
        let base = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let levels: Vec<PathBuf> = ["", "a", "a/b", "a/b/c"]
            .iter()
            .map(|l| base.join(l))
            .collect();
        for level in &levels {
            fs::create_dir_all(level).unwrap();
            fs::write(level.join("sentinel"), b"untouched").unwrap();
        }
        Scene {
            levels,
            root_entries: listing(Path::new("/")),
        }
    }

    /// The directory the layer directories belong in.
    pub fn deepest(&self) -> &Path {
        self.levels.last().unwrap()
    }

    /// Panics unless every level holds just its sentinel, unchanged, and the next level, and
    /// `/` holds what it held at the start; call it once the layers are removed.
    pub fn assert_untouched(&self) {
        for (i, level) in self.levels.iter().enumerate() {
            let mut expected: BTreeSet<OsString> = ["sentinel".into()].into();
            if let Some(next) = self.levels.get(i + 1) {
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
            self.root_entries,
            "something was written in /"
        );
    }
}
