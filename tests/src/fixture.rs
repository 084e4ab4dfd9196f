//! The busybox image every test imports, built once per test binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::command::run_command;

/// The repository's root directory (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A busybox rootfs tar made by scripts/make-busybox-rootfs.sh from Debian's busybox-static.
///
/// It is built once per test binary into a shared path under the temp directory (by rename, so
/// test binaries running side by side never read a half-written file). The script's output is
/// reproducible, so every build has the same bytes and the same image ID.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = std::env::temp_dir().join("berth-tests");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let tar = dir.join("busybox-rootfs.tar");
        let partial = dir.join(format!("busybox-rootfs.tar.{}", std::process::id()));
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts/make-busybox-rootfs.sh"))
            .arg(&partial);
        run_command(cmd, None).ok();
        std::fs::rename(&partial, &tar)
            .unwrap_or_else(|e| panic!("renaming {} to {}: {e}", partial.display(), tar.display()));
        tar
    })
}
