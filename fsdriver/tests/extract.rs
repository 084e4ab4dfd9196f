//! The reference extractor, against well-formed and hostile archives. Runs as root (it
//! chowns and creates device nodes, as the daemon does).

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::Tar;
use fsdriver::extract::{extract, ExtractError, ExtractLimits};
use fsdriver::{Digest, ErrorKind};
use tar::EntryType;

/// A layer directory next to a sentinel directory holding one file, so that a write outside
/// the layer has somewhere visible to land.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("layer")).unwrap();
        fs::create_dir(dir.path().join("sentinel")).unwrap();
        fs::write(dir.path().join("sentinel/secret"), b"untouched").unwrap();
        Scene { dir }
    }

    fn layer(&self) -> PathBuf {
        self.dir.path().join("layer")
    }

    fn sentinel(&self) -> PathBuf {
        self.dir.path().join("sentinel")
    }

    fn extract(&self, tar: &[u8]) -> Result<fsdriver::extract::Extracted, ExtractError> {
        extract(tar, &self.layer(), &ExtractLimits::default())
    }

    /// Nothing outside the layer was created, changed, linked or removed.
    fn assert_outside_untouched(&self) {
        let names = |p: &Path| {
            let mut v: Vec<_> = fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(self.dir.path()), ["layer", "sentinel"]);
        assert_eq!(names(&self.sentinel()), ["secret"]);
        let secret = self.sentinel().join("secret");
        assert_eq!(fs::read(&secret).unwrap(), b"untouched");
        let meta = fs::symlink_metadata(&secret).unwrap();
        assert_eq!(meta.nlink(), 1, "the sentinel file was hard linked");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
        for path in [self.sentinel(), secret] {
            let xattrs = rustix::fs::listxattr(&path, &mut [0u8; 256]).unwrap();
            assert_eq!(xattrs, 0, "{} gained xattrs", path.display());
        }
    }
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

#[test]
fn round_trip_preserves_everything() {
    let scene = Scene::new();
    let long_name = format!("usr/share/{}/file.txt", "long-directory-name".repeat(8));
    let tar = Tar::new()
        .dir("./", 0o755)
        .dir("bin/", 0o755)
        .file_with("bin/su", b"#!suid", 0o4755, 0, 0)
        .file_with("bin/wall", b"sgid", 0o2755, 0, 5)
        .dir("tmp/", 0o1777)
        .file_with("home/user/notes", b"mine", 0o600, 1000, 1000)
        .symlink("bin/sh", "/bin/busybox")
        .hardlink("bin/su2", "bin/su")
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/loop0", EntryType::Block, 7, 0)
        .device("run/fifo", EntryType::Fifo, 0, 0)
        .long_file(&long_name, b"long")
        .pax(&[
            ("SCHILY.xattr.user.origin", b"berth"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
            ("path", "pax/".repeat(40).as_bytes()),
            ("mtime", b"1700000000.5"),
        ])
        .file("ignored-name", b"pax")
        .bytes();
    let extracted = scene.extract(&tar).unwrap();
    assert_eq!(extracted.diff_id, Digest::of_bytes(&tar));
    assert_eq!(extracted.size, 6 + 4 + 4 + 4 + 3);

    let layer = scene.layer();
    let meta = |p: &str| fs::symlink_metadata(layer.join(p)).unwrap();
    assert_eq!(meta("bin/su").mode() & 0o7777, 0o4755);
    assert_eq!(meta("bin/wall").mode() & 0o7777, 0o2755);
    assert_eq!(meta("bin/wall").gid(), 5);
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(
        (meta("home/user/notes").uid(), meta("home/user/notes").gid()),
        (1000, 1000)
    );
    // Parents that the archive never listed are created root-owned 0755.
    assert_eq!(meta("home/user").mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read_link(layer.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(meta("bin/su2").ino(), meta("bin/su").ino());
    assert_eq!(meta("bin/su").nlink(), 2);
    assert!(meta("dev/null").file_type().is_char_device());
    assert_eq!(meta("dev/null").rdev(), rustix::fs::makedev(1, 3));
    assert!(meta("dev/loop0").file_type().is_block_device());
    assert!(meta("run/fifo").file_type().is_fifo());
    assert_eq!(fs::read(layer.join(&long_name)).unwrap(), b"long");
    let pax_path = "pax/".repeat(40);
    let pax_file = layer.join(pax_path.trim_end_matches('/'));
    assert_eq!(fs::read(&pax_file).unwrap(), b"pax");
    assert_eq!(
        xattr(&pax_file, "user.origin").as_deref(),
        Some(&b"berth"[..])
    );
    // overlayfs' own xattrs are never taken from an archive.
    assert_eq!(xattr(&pax_file, "trusted.overlay.redirect"), None);
    let pax_meta = fs::metadata(&pax_file).unwrap();
    assert_eq!(
        (pax_meta.mtime(), pax_meta.mtime_nsec()),
        (1_700_000_000, 500_000_000)
    );
    // Directory times are applied after their content was written.
    assert_eq!(meta("bin").mtime(), 1_600_000_000);
    assert_eq!(meta(".").mtime(), 1_600_000_000);
}

#[test]
fn blank_numeric_fields_read_as_zero() {
    let scene = Scene::new();
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..4].copy_from_slice(b"file");
    header.set_size(2);
    header.set_entry_type(EntryType::Regular);
    header.set_mode(0o640);
    header.set_cksum();
    assert!(header.uid().is_err(), "the tar crate refuses a blank uid");
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, &b"ok"[..]).unwrap();
    scene.extract(&builder.into_inner().unwrap()).unwrap();
    let meta = fs::metadata(scene.layer().join("file")).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mtime()), (0, 0, 0));
    assert_eq!(meta.mode() & 0o7777, 0o640);
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let scene = Scene::new();
    let tar = Tar::new()
        .dir("etc/", 0o755)
        .file("etc/.wh.passwd", b"")
        .dir("var/cache/", 0o755)
        .file("var/cache/.wh..wh..opq", b"")
        .file("var/.wh..wh.plnk", b"")
        .bytes();
    scene.extract(&tar).unwrap();
    let whiteout = fs::symlink_metadata(scene.layer().join("etc/passwd")).unwrap();
    assert!(whiteout.file_type().is_char_device());
    assert_eq!(whiteout.rdev(), 0);
    assert!(!scene.layer().join("etc/.wh.passwd").exists());
    assert_eq!(
        xattr(&scene.layer().join("var/cache"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!scene.layer().join("var/cache/.wh..wh..opq").exists());
    assert!(!scene.layer().join("var/.wh..wh.plnk").exists());
}

#[test]
fn later_entries_replace_earlier_ones() {
    let scene = Scene::new();
    let tar = Tar::new()
        .file("a", b"first")
        .file("a", b"second")
        .file("b", b"file")
        .dir("b/", 0o700)
        .file("b/inside", b"x")
        .dir("c/", 0o755)
        .file("c/kept", b"kept")
        .dir("c/", 0o711)
        .dir("d/", 0o755)
        .file("d/gone", b"gone")
        .file("d", b"now a file")
        .bytes();
    scene.extract(&tar).unwrap();
    let layer = scene.layer();
    assert_eq!(fs::read(layer.join("a")).unwrap(), b"second");
    assert_eq!(fs::read(layer.join("b/inside")).unwrap(), b"x");
    assert_eq!(fs::read(layer.join("c/kept")).unwrap(), b"kept");
    assert_eq!(
        fs::metadata(layer.join("c")).unwrap().mode() & 0o7777,
        0o711
    );
    assert_eq!(fs::read(layer.join("d")).unwrap(), b"now a file");
}

#[test]
fn dot_dot_and_absolute_paths_are_confined() {
    let scene = Scene::new();
    let tar = Tar::new()
        .file("../sentinel/secret", b"overwritten")
        .file("../../../../../../escape-abs", b"x")
        .file("/sentinel/abs", b"x")
        .file("a/../../../sentinel/deep", b"x")
        .bytes();
    scene.extract(&tar).unwrap();
    scene.assert_outside_untouched();
    let layer = scene.layer();
    assert_eq!(
        fs::read(layer.join("sentinel/secret")).unwrap(),
        b"overwritten"
    );
    assert!(layer.join("escape-abs").is_file());
    assert!(layer.join("sentinel/abs").is_file());
    assert!(layer.join("sentinel/deep").is_file());
}

#[test]
fn writes_through_symlinks_stay_inside() {
    let scene = Scene::new();
    let sentinel = scene.sentinel();
    let sentinel = sentinel.to_str().unwrap();
    let tar = Tar::new()
        // Symlinks that point to the root or above it resolve to the layer root.
        .symlink("up", "../../..")
        .file("up/via-up", b"x")
        .symlink("slash", "/")
        .file("slash/via-slash", b"x")
        .symlink("abs", sentinel)
        .symlink("rel", "../sentinel")
        .bytes();
    scene.extract(&tar).unwrap();
    let layer = scene.layer();
    assert!(layer.join("via-up").is_file());
    assert!(layer.join("via-slash").is_file());

    // Writing through a symlink whose (confined) target does not exist is refused.
    for name in ["abs", "rel"] {
        let tar = Tar::new()
            .symlink(
                name,
                if name == "abs" {
                    sentinel
                } else {
                    "../sentinel"
                },
            )
            .file(&format!("{name}/evil"), b"x")
            .bytes();
        let err = scene.extract(&tar).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
    scene.assert_outside_untouched();
}

#[test]
fn symlink_to_an_outside_file_is_never_followed() {
    let scene = Scene::new();
    let secret = scene.sentinel().join("secret");
    let secret = secret.to_str().unwrap();
    let tar = Tar::new()
        .symlink("link", secret)
        // Each of these would modify the link's target if it were followed.
        .file("link", b"replaced")
        .symlink("link2", secret)
        .hardlink("link2", "link")
        .symlink("dev", secret)
        .device("dev", EntryType::Fifo, 0, 0)
        .bytes();
    scene.extract(&tar).unwrap();
    scene.assert_outside_untouched();
    assert_eq!(fs::read(scene.layer().join("link")).unwrap(), b"replaced");
}

#[test]
fn hard_links_cannot_reach_outside() {
    let scene = Scene::new();
    for target in ["../sentinel/secret", "/etc/passwd", "slash/etc/passwd"] {
        let tar = Tar::new()
            .symlink("slash", "/")
            .hardlink("stolen", target)
            .bytes();
        let err = scene.extract(&tar).unwrap_err();
        assert!(
            matches!(err, ExtractError::BadEntry { .. }),
            "{target}: {err}"
        );
        scene.assert_outside_untouched();
    }
    // Through a symlinked parent that leads out of the layer.
    let sentinel = scene.sentinel();
    let tar = Tar::new()
        .symlink("out", sentinel.to_str().unwrap())
        .hardlink("stolen", "out/secret")
        .bytes();
    assert!(scene.extract(&tar).is_err());
    scene.assert_outside_untouched();
}

#[test]
fn directory_over_a_symlink_replaces_the_symlink() {
    let scene = Scene::new();
    let sentinel = scene.sentinel();
    let tar = Tar::new()
        .symlink("d", sentinel.to_str().unwrap())
        .dir("d/", 0o755)
        .file("d/secret", b"mine")
        .bytes();
    scene.extract(&tar).unwrap();
    scene.assert_outside_untouched();
    let d = scene.layer().join("d");
    assert!(fs::symlink_metadata(&d).unwrap().is_dir());
    assert_eq!(fs::read(d.join("secret")).unwrap(), b"mine");
}

#[test]
fn whiteouts_through_symlinks_stay_inside() {
    let scene = Scene::new();
    let sentinel = scene.sentinel();
    for tar in [
        Tar::new()
            .symlink("s", "../sentinel")
            .file("s/.wh.secret", b"")
            .bytes(),
        Tar::new()
            .symlink("s", sentinel.to_str().unwrap())
            .file("s/.wh..wh..opq", b"")
            .bytes(),
        Tar::new()
            .symlink("s", "/")
            .file("s/.wh.x", b"")
            .file("s/.wh..wh..opq", b"")
            .bytes(),
    ] {
        let _ = scene.extract(&tar);
        scene.assert_outside_untouched();
    }
}

#[test]
fn tar_bombs_end_with_a_clean_error() {
    let scene = Scene::new();
    let limits = ExtractLimits {
        max_entries: 10,
        max_bytes: 1 << 20,
    };
    let mut many = Tar::new();
    for i in 0..11 {
        many.file(&format!("f{i}"), b"");
    }
    let err = extract(&many.bytes()[..], &scene.layer(), &limits).unwrap_err();
    assert!(
        matches!(err, ExtractError::TooManyEntries { limit: 10 }),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    let big = Tar::new().file("big", &vec![0u8; 2 << 20]).bytes();
    let err = extract(&big[..], &scene.layer(), &limits).unwrap_err();
    assert!(matches!(err, ExtractError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("larger than"), "{err}");

    // Endless trailing data after the archive counts too.
    let mut padded = Tar::new().file("small", b"x").bytes();
    padded.resize(2 << 20, 0);
    let err = extract(&padded[..], &scene.layer(), &limits).unwrap_err();
    assert!(matches!(err, ExtractError::TooLarge { .. }), "{err}");
}

#[test]
fn truncated_and_garbage_archives_are_invalid() {
    let scene = Scene::new();
    let tar = Tar::new().file("data", &vec![7u8; 10_000]).bytes();
    for cut in [100, 600, 5000] {
        let err = scene.extract(&tar[..cut]).unwrap_err();
        assert!(
            matches!(err, ExtractError::Archive(_)),
            "cut at {cut}: {err}"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
    let err = scene.extract(&[0x55u8; 1024]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn unsupported_and_inconsistent_entries_are_invalid() {
    let scene = Scene::new();
    let err = scene
        .extract(
            &Tar::new()
                .file("plain", b"x")
                .file("plain/child", b"y")
                .bytes(),
        )
        .unwrap_err();
    assert!(matches!(err, ExtractError::BadEntry { .. }), "{err}");
    let err = scene
        .extract(&Tar::new().file("./", b"x").bytes())
        .unwrap_err();
    assert!(err.to_string().contains("layer root"), "{err}");
    let err = scene
        .extract(&Tar::new().hardlink("h", "missing").bytes())
        .unwrap_err();
    assert!(err.to_string().contains("\"h\""), "{err}");
}
