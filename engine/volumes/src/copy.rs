//! Copy-up: the first time an empty volume is mounted over a directory of the image, the
//! directory's content is copied into it, with owners, modes and times, as Docker does.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;

#[derive(Debug, thiserror::Error)]
#[error("copying the image's content into the volume: {what} {path}: {source}")]
pub struct CopyError {
    what: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

fn at(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CopyError {
    let path = path.to_path_buf();
    move |source| CopyError { what, path, source }
}

/// Copies the content of the directory `src` into `dst` if `dst` is empty, and gives `dst`
/// the owner and mode of `src`; returns whether it copied. `src` must not change meanwhile
/// (the daemon reads it from a read-only overlay of its own): its symlinks are copied, never
/// followed.
pub fn copy_up(src: &Path, dst: &Path) -> Result<bool, CopyError> {
    let empty = fs::read_dir(dst)
        .map_err(at("reading", dst))?
        .next()
        .is_none();
    let meta = fs::symlink_metadata(src).map_err(at("reading", src))?;
    if !empty || !meta.is_dir() {
        return Ok(false);
    }
    let mut links = HashMap::new();
    copy_dir(src, dst, &mut links)?;
    set_owner_and_mode(dst, &meta)?;
    Ok(true)
}

/// Files with several links already copied: (device, inode) → their copy.
type Links = HashMap<(u64, u64), PathBuf>;

fn copy_dir(src: &Path, dst: &Path, links: &mut Links) -> Result<(), CopyError> {
    for entry in fs::read_dir(src).map_err(at("reading", src))? {
        let entry = entry.map_err(at("reading", src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).map_err(at("reading", &from))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            fs::create_dir(&to).map_err(at("creating", &to))?;
            copy_dir(&from, &to, links)?;
            set_owner_and_mode(&to, &meta)?;
            set_times(&to, &meta)?;
            continue;
        }
        if meta.nlink() > 1 {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                fs::hard_link(first, &to).map_err(at("linking", &to))?;
                continue;
            }
            links.insert((meta.dev(), meta.ino()), to.clone());
        }
        if kind.is_symlink() {
            let target = fs::read_link(&from).map_err(at("reading", &from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(at("creating", &to))?;
            lchown(&to, Some(meta.uid()), Some(meta.gid()))
                .map_err(at("changing owner of", &to))?;
            continue;
        }
        if kind.is_file() {
            let mut input = File::open(&from).map_err(at("opening", &from))?;
            let mut output = File::create_new(&to).map_err(at("creating", &to))?;
            io::copy(&mut input, &mut output).map_err(at("writing", &to))?;
        } else {
            // Devices, fifos and sockets are recreated, not read.
            let sflag = SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
            mknod(
                &to,
                sflag,
                Mode::from_bits_truncate(meta.mode() & 0o7777),
                meta.rdev(),
            )
            .map_err(|e| at("creating", &to)(e.into()))?;
        }
        set_owner_and_mode(&to, &meta)?;
        set_times(&to, &meta)?;
    }
    Ok(())
}

fn set_owner_and_mode(path: &Path, meta: &fs::Metadata) -> Result<(), CopyError> {
    lchown(path, Some(meta.uid()), Some(meta.gid())).map_err(at("changing owner of", path))?;
    // After the owner: chown clears the set-user-ID and set-group-ID bits.
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(at("changing mode of", path))
}

fn set_times(path: &Path, meta: &fs::Metadata) -> Result<(), CopyError> {
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &atime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| at("setting times of", path)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_modes_links_and_symlinks_are_copied_into_an_empty_volume() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        fs::write(src.path().join("file"), b"data").unwrap();
        fs::set_permissions(src.path().join("file"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::create_dir(src.path().join("sub")).unwrap();
        fs::hard_link(src.path().join("file"), src.path().join("sub/link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("sym")).unwrap();
        fs::set_permissions(src.path(), fs::Permissions::from_mode(0o711)).unwrap();

        assert!(copy_up(src.path(), dst.path()).unwrap());
        assert_eq!(fs::read(dst.path().join("file")).unwrap(), b"data");
        let mode = |p: &Path| fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&dst.path().join("file")), 0o640);
        assert_eq!(mode(dst.path()), 0o711);
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(&dst.path().join("file")),
            ino(&dst.path().join("sub/link"))
        );
        assert_eq!(
            fs::read_link(dst.path().join("sym")).unwrap(),
            Path::new("/etc/passwd")
        );
    }

    #[test]
    fn a_volume_with_content_is_left_alone() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        fs::write(src.path().join("image"), b"x").unwrap();
        fs::write(dst.path().join("mine"), b"y").unwrap();
        assert!(!copy_up(src.path(), dst.path()).unwrap());
        assert!(!dst.path().join("image").exists());
    }
}
