//! How much a volume holds, for `system df -v` and `volume prune`.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The bytes of the files under `dir`, each hard-linked file counted once, as Docker's
/// `directory.Size` counts them. Entries that vanish meanwhile are skipped.
pub fn dir_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
                continue;
            }
            if meta.nlink() > 1 && !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total += meta.len();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_count_hard_links_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"12345").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), b"123").unwrap();
        std::fs::hard_link(dir.path().join("a"), dir.path().join("sub/a2")).unwrap();
        assert_eq!(super::dir_size(dir.path()), 8);
    }
}
