//! Both extractors, against well-formed and hostile archives: every test runs once with the
//! reference extractor and once with the io_uring one. Runs as root (they chown and create
//! device nodes, as the daemon does).

mod common;

use common::snapshot;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::Tar;
use fsdriver::extract::{ExtractError, ExtractLimits, Extracted, Extractor};
use fsdriver::{Digest, ErrorKind};
use tar::EntryType;

/// A layer directory next to a sentinel directory holding one file, so that a write outside
/// the layer has somewhere visible to land.
struct Scene {
    dir: tempfile::TempDir,
    extractor: Extractor,
}

impl Scene {
    fn new(extractor: Extractor) -> Scene {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("layer")).unwrap();
        fs::create_dir(dir.path().join("sentinel")).unwrap();
        fs::write(dir.path().join("sentinel/secret"), b"untouched").unwrap();
        Scene { dir, extractor }
    }

    fn layer(&self) -> PathBuf {
        self.dir.path().join("layer")
    }

    fn sentinel(&self) -> PathBuf {
        self.dir.path().join("sentinel")
    }

    fn extract(&self, tar: &[u8]) -> Result<Extracted, ExtractError> {
        self.extract_with(tar, &ExtractLimits::default())
    }

    fn extract_with(&self, tar: &[u8], limits: &ExtractLimits) -> Result<Extracted, ExtractError> {
        self.extractor.extract(tar, &self.layer(), limits)
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

/// Each test, once per extractor: `name::reference` and `name::uring`.
macro_rules! with_each_extractor {
    ($(fn $name:ident($extractor:ident: Extractor) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($extractor: Extractor) $body

            #[test]
            fn reference() {
                run(Extractor::Reference)
            }

            #[test]
            fn uring() {
                run(Extractor::Uring)
            }
        }
    )*};
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

with_each_extractor! {
    fn round_trip_preserves_everything(extractor: Extractor) {
        if common::skipped_without_root() {
            return;
        }
        let scene = Scene::new(extractor);
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

    fn blank_numeric_fields_read_as_zero(extractor: Extractor) {

        if common::skipped_without_root() {

            return;

        }
        let scene = Scene::new(extractor);
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

    fn whiteouts_become_overlay_whiteouts(extractor: Extractor) {

        if common::skipped_without_root() {

            return;

        }
        let scene = Scene::new(extractor);
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

    fn later_entries_replace_earlier_ones(extractor: Extractor) {

        if common::skipped_without_root() {

            return;

        }
        let scene = Scene::new(extractor);
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

    fn dot_dot_and_absolute_paths_are_confined(extractor: Extractor) {

        if common::skipped_without_root() {

            return;

        }
        let scene = Scene::new(extractor);
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

    fn writes_through_symlinks_stay_inside(extractor: Extractor) {

        if common::skipped_without_root() {

            return;

        }
        let scene = Scene::new(extractor);
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

    fn symlink_to_an_outside_file_is_never_followed(extractor: Extractor) {

        if common::skipped_without_root() {

            return;

        }
        let scene = Scene::new(extractor);
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

    fn hard_links_cannot_reach_outside(extractor: Extractor) {
        let scene = Scene::new(extractor);
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

    fn directory_over_a_symlink_replaces_the_symlink(extractor: Extractor) {

        if common::skipped_without_root() {

            return;

        }
        let scene = Scene::new(extractor);
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

    fn whiteouts_through_symlinks_stay_inside(extractor: Extractor) {
        let scene = Scene::new(extractor);
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

    fn tar_bombs_end_with_a_clean_error(extractor: Extractor) {

        if common::skipped_without_root() {

            return;

        }
        let scene = Scene::new(extractor);
        let limits = ExtractLimits {
            max_entries: 10,
            max_bytes: 1 << 20,
        };
        let mut many = Tar::new();
        for i in 0..11 {
            many.file(&format!("f{i}"), b"");
        }
        let err = scene.extract_with(&many.bytes(), &limits).unwrap_err();
        assert!(
            matches!(err, ExtractError::TooManyEntries { limit: 10 }),
            "{err}"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);

        let big = Tar::new().file("big", &vec![0u8; 2 << 20]).bytes();
        let err = scene.extract_with(&big, &limits).unwrap_err();
        assert!(matches!(err, ExtractError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("larger than"), "{err}");

        // Endless trailing data after the archive counts too.
        let mut padded = Tar::new().file("small", b"x").bytes();
        padded.resize(2 << 20, 0);
        let err = scene.extract_with(&padded, &limits).unwrap_err();
        assert!(matches!(err, ExtractError::TooLarge { .. }), "{err}");
    }

    fn truncated_and_garbage_archives_are_invalid(extractor: Extractor) {

        if common::skipped_without_root() {

            return;

        }
        let scene = Scene::new(extractor);
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

    fn unsupported_and_inconsistent_entries_are_invalid(extractor: Extractor) {
        let scene = Scene::new(extractor);
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
}

/// Extracts `tar` with both extractors, each into its own fresh directory, and checks that
/// they agree on the outcome and, when it is a success, on every detail of the tree.
fn assert_extractors_agree(tar: &[u8]) -> std::collections::BTreeMap<PathBuf, snapshot::Node> {
    let reference = Scene::new(Extractor::Reference);
    let uring = Scene::new(Extractor::Uring);
    // File systems stamp times from a coarse clock, a tick behind this one.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 2;
    let expected = reference.extract(tar);
    let got = uring.extract(tar);
    match (&expected, &got) {
        (Ok(expected), Ok(got)) => assert_eq!(expected, got),
        (Err(expected), Err(got)) => {
            assert_eq!(expected.kind(), got.kind(), "{expected} / {got}");
            return Default::default();
        }
        _ => panic!("reference: {expected:?}, io_uring: {got:?}"),
    }
    reference.assert_outside_untouched();
    uring.assert_outside_untouched();
    // Directories the archive does not list, and whiteouts, get the time of extraction.
    let snapshot = |scene: &Scene| {
        let mut tree = snapshot::snapshot(&scene.layer());
        for node in tree.values_mut() {
            if node.mtime.0 >= start {
                node.mtime = (0, 0);
            }
        }
        tree
    };
    let left = snapshot(&reference);
    snapshot::assert_same(&left, &snapshot(&uring));
    left
}

/// A minimal POSIX ACL in the kernel's xattr form: owner rwx, group r-x, others nothing.
fn default_acl() -> Vec<u8> {
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm) in [(0x01u16, 7u16), (0x04, 5), (0x20, 0)] {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&u32::MAX.to_le_bytes());
    }
    acl
}

#[test]
fn extractors_agree_on_a_layer_with_everything() {
    if common::skipped_without_root() {
        return;
    }
    let pattern = |len: usize, seed: u8| -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    let acl = default_acl();
    let mut tar = Tar::new();
    tar.dir("./", 0o755)
        // Owners, modes and the umask: nothing may be inherited or masked.
        .file_with("open", b"rw for all", 0o666, 0, 0)
        .dir("wide/", 0o777)
        .file_with("wide/su", b"setuid, not root", 0o4755, 1000, 1000)
        .file_with("wide/sg", b"setgid", 0o2711, 0, 50)
        .file_with("wide/none", b"", 0o000, 0, 0)
        // A setgid directory: files, symlinks and directories in it inherit its group
        // and (directories) its setgid bit unless told otherwise.
        .file_with("shared", b"replaced by a directory", 0o644, 0, 0)
        .dir("shared/", 0o2775)
        .pax(&[("gid", b"60")])
        .dir("shared/", 0o2775)
        .file_with("shared/root-group", b"gid 0", 0o644, 0, 0)
        .file_with("shared/own-group", b"gid 60", 0o640, 7, 60)
        .symlink("shared/link", "root-group")
        .dir("shared/sub/", 0o755)
        // A directory of another group, not setgid: whether its files get its group
        // depends on the mount (grpid); either way they must end with the tar's.
        .pax(&[("gid", b"70")])
        .dir("other-group/", 0o755)
        .file_with("other-group/root", b"gid 0", 0o644, 0, 0)
        .file_with("other-group/own", b"gid 70", 0o644, 0, 70)
        // A default ACL shapes the mode of whatever is created under it.
        .pax(&[("SCHILY.xattr.system.posix_acl_default", &acl)])
        .dir("acl/", 0o755)
        .file_with("acl/file", b"mode from the tar, not the ACL", 0o666, 0, 0)
        .dir("acl/dir/", 0o777)
        // xattrs on files, directories, symlinks.
        .pax(&[
            ("SCHILY.xattr.user.one", b"1"),
            ("SCHILY.xattr.trusted.two", b"2"),
        ])
        .file("xattr-file", &pattern(3000, 1))
        .pax(&[("SCHILY.xattr.user.dir", b"d")])
        .dir("xattr-dir/", 0o750)
        .pax(&[("SCHILY.xattr.trusted.link", b"l")])
        .symlink("xattr-link", "xattr-file")
        // Files larger than a batch, and around its size.
        .file("big/one-mib", &pattern(1 << 20, 2))
        .file("big/one-mib-and-one", &pattern((1 << 20) + 1, 3))
        .file("big/three-and-a-half", &pattern(7 << 19, 4))
        .pax(&[("SCHILY.xattr.user.big", b"b")])
        .file("big/with-xattr", &pattern(3 << 20, 5));
    // Many small files and symlinks, over many batches.
    for i in 0..3000 {
        tar.file(
            &format!("many/d{}/f{i}", i % 17),
            &pattern(i % 700, i as u8),
        );
        if i % 5 == 0 {
            tar.symlink(&format!("many/l{i}"), &format!("d{}/f{i}", i % 17));
        }
    }
    tar
        // Replacements while the first versions may still be in flight.
        .file("again", b"first")
        .file("again", b"second")
        .file("kind", b"a file")
        .symlink("kind", "somewhere")
        .dir("kind/", 0o700)
        .file("kind/inside", b"x")
        .file("kind", b"a file again")
        .symlink("sl", "target-1")
        .symlink("sl", "target-2")
        // Hard links to files just written, and whiteouts of them.
        .file("linked", b"shared content")
        .hardlink("link-1", "linked")
        .hardlink("many/link-2", "linked")
        .file("gone", b"whited out")
        .file(".wh.gone", b"")
        .dir("opaque/", 0o755)
        .file("opaque/.wh..wh..opq", b"")
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/fifo", EntryType::Fifo, 0, 0)
        // Writes through symlinks, confined.
        .symlink("up", "../../..")
        .file("up/through-up", b"x")
        .symlink("dirlink", "/wide")
        .file("dirlink/via-link", b"in wide")
        // A directory listed again with new metadata, after its content.
        .dir("wide/", 0o2755)
        // And the root again, last.
        .dir("./", 0o2750);
    let tree = assert_extractors_agree(&tar.bytes());
    // The comparison is only as good as the reference: spot-check it.
    let node = |p: &str| &tree[Path::new(p)];
    assert_eq!(node("open").mode, 0o666);
    assert_eq!((node("wide/su").mode, node("wide/su").uid), (0o4755, 1000));
    assert_eq!(node("wide").mode, 0o2755);
    assert_eq!(node("shared").gid, 60);
    assert_eq!(node("shared/root-group").gid, 0);
    assert_eq!(node("shared/sub").mode, 0o755);
    assert_eq!(node("shared/sub").gid, 0);
    assert_eq!(node("shared/link").gid, 0);
    assert_eq!(node("other-group").gid, 70);
    assert_eq!(node("other-group/root").gid, 0);
    assert_eq!(node("other-group/own").gid, 70);
    assert_eq!(node("acl/file").mode, 0o666);
    assert_eq!(node("acl/dir").mode, 0o777);
    assert_eq!(node("big/three-and-a-half").data, pattern(7 << 19, 4));
    assert_eq!(node("xattr-link").xattrs.len(), 1);
    assert_eq!(node("again").data, b"second");
    assert_eq!(node("kind").data, b"a file again");
    assert_eq!(node("linked").link_of.as_deref(), Some(Path::new("link-1")));
    assert_eq!(
        node("many/link-2").link_of.as_deref(),
        Some(Path::new("link-1"))
    );
    assert_eq!(node("gone").kind, "char");
    assert_eq!(node("wide/via-link").data, b"in wide");
    assert_eq!(node("through-up").data, b"x");
    assert_eq!(node("").mode, 0o2750);
    // many/, its 17 directories, 3000 files, 600 symlinks and a hard link.
    let many = tree.keys().filter(|p| p.starts_with("many")).count();
    assert_eq!(many, 1 + 17 + 3000 + 600 + 1);
}

#[test]
fn extractors_agree_on_a_system_directory_archived_by_gnu_tar() {
    if common::skipped_without_root() {
        return;
    }
    // A real archive: GNU tar's headers, hard links and symlinks as it writes them.
    let output = std::process::Command::new("tar")
        .args([
            "--numeric-owner",
            "-C",
            "/usr/share",
            "-cf",
            "-",
            "zoneinfo",
            "common-licenses",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = assert_extractors_agree(&output.stdout);
    assert!(tree.len() > 1000, "{} entries", tree.len());
}

#[test]
fn extractors_agree_on_failures() {
    for tar in [
        Tar::new().file("f", b"x").file("f/child", b"y").bytes(),
        Tar::new().hardlink("h", "missing").bytes(),
        Tar::new()
            .symlink("s", "/nowhere")
            .file("s/x", b"y")
            .bytes(),
        Tar::new().file("data", &vec![7u8; 10_000]).bytes()[..5000].to_vec(),
        // An xattr in no namespace fails as the archive's fault in both, before a later
        // entry's bad header is reached by the one that reads ahead (found by fuzzing).
        Tar::new()
            .pax(&[("SCHILY.xattr.reference/p", b"v")])
            .file("f", b"x")
            .bytes(),
    ] {
        assert_extractors_agree(&tar);
    }
    let unnamespaced = Tar::new()
        .pax(&[("SCHILY.xattr.reference/p", b"v")])
        .file("f", b"x")
        .bytes();
    let err = Scene::new(Extractor::Reference)
        .extract(&unnamespaced)
        .unwrap_err();
    assert!(err.to_string().contains("in no namespace"), "{err}");
}
