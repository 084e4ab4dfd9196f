//! Identical files across layers stored once, through the layer store. Runs as root.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::Tar;
use fsdriver::layer::{LayerInfo, LayerStore};
use fsdriver::overlay;

fn ino(path: &Path) -> u64 {
    fs::symlink_metadata(path).unwrap().ino()
}

/// A base of `files` files of 16 KiB each, all different.
fn base(tar: &mut Tar, files: usize) -> &mut Tar {
    tar.dir("usr/", 0o755).dir("usr/lib/", 0o755);
    for i in 0..files {
        let content: Vec<u8> = (0..16384u32)
            .map(|j| (j.wrapping_mul(7).wrapping_add(i as u32 * 13)) as u8)
            .collect();
        tar.file(&format!("usr/lib/lib{i}.so"), &content);
    }
    tar
}

#[test]
fn ten_images_on_a_common_base_cost_about_one_base() {
    if common::skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = LayerStore::open(root.path()).unwrap();
    let one = {
        let layer = store
            .extract(&base(&mut Tar::new(), 200).bytes()[..])
            .unwrap();
        let usage = store.disk_usage().unwrap();
        store.remove(&layer.diff_id).unwrap();
        store.sweep_shared().unwrap();
        usage.allocated
    };
    assert_eq!(store.disk_usage().unwrap().content, 0);

    // Ten different layers (squashed images, say), each the base plus its own file.
    let mut layers = Vec::new();
    for image in 0..10 {
        let tar = base(&mut Tar::new(), 200)
            .file(
                &format!("app/image-{image}"),
                format!("app {image}").as_bytes(),
            )
            .bytes();
        layers.push(store.extract(&tar[..]).unwrap());
    }
    let usage = store.disk_usage().unwrap();
    assert_eq!(usage.content, 10 * (200 * 16384 + "app 0".len() as u64));
    assert!(
        usage.allocated < one * 3 / 2,
        "ten images take {} bytes, one takes {one}",
        usage.allocated
    );
    let lib = |layer: &LayerInfo| layer.path.join("usr/lib/lib42.so");
    assert_eq!(ino(&lib(&layers[0])), ino(&lib(&layers[9])));
    assert_ne!(
        ino(&layers[0].path.join("app/image-0")),
        ino(&layers[1].path.join("app/image-1"))
    );

    // Removing all but one frees their own files only; the last one frees the rest.
    let mut freed = 0;
    for layer in &layers[1..] {
        freed += store.remove(&layer.diff_id).unwrap();
    }
    assert!(freed < one / 2, "freed {freed} of {one}");
    assert_eq!(fs::read(lib(&layers[0])).unwrap().len(), 16384);
    // Only the removed layers' own files were left in the index.
    assert_eq!(store.sweep_shared().unwrap().files, 9);
    store.remove(&layers[0].diff_id).unwrap();
    let swept = store.sweep_shared().unwrap();
    assert_eq!(swept.files, 201);
    assert!(swept.bytes >= 200 * 16384, "{swept:?}");
    assert!(fs::read_dir(root.path().join("files"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn only_files_with_identical_metadata_are_shared() {
    if common::skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = LayerStore::open(root.path()).unwrap();
    let content = b"the same bytes everywhere";
    // The same four files, but for the mode of d/mode, the group of d/owner and the
    // xattr of d/xattr.
    let layer_with = |mode: u32, gid: u64, tag: &[u8]| {
        store
            .extract(
                &Tar::new()
                    .dir("d/", 0o755)
                    .file("d/same", content)
                    .file_with("d/mode", content, mode, 0, 0)
                    .file_with("d/owner", content, 0o644, 1000, gid)
                    .pax(&[("SCHILY.xattr.user.tag", tag)])
                    .file("d/xattr", content)
                    .bytes()[..],
            )
            .unwrap()
    };
    let first = layer_with(0o600, 1000, b"a");
    let second = layer_with(0o640, 1001, b"b");
    let at = |layer: &LayerInfo, name: &str| ino(&layer.path.join("d").join(name));
    assert_eq!(at(&first, "same"), at(&second, "same"));
    for differs in ["mode", "owner", "xattr"] {
        assert_ne!(at(&first, differs), at(&second, differs), "{differs}");
    }
    // Any name will do across layers.
    let third = store
        .extract(
            &Tar::new()
                .dir("d/", 0o755)
                .file("d/other-name", content)
                .bytes()[..],
        )
        .unwrap();
    assert_eq!(at(&first, "same"), at(&third, "other-name"));
    let meta = fs::metadata(second.path.join("d/mode")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    // Sharing renamed files into the directories: their times are still the tar's.
    assert_eq!(
        fs::metadata(second.path.join("d")).unwrap().mtime(),
        1_600_000_000
    );
}

#[test]
fn a_layer_keeps_its_own_link_structure() {
    if common::skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = LayerStore::open(root.path()).unwrap();
    let layer = store
        .extract(
            &Tar::new()
                .file("a", b"twins")
                .file("b", b"twins")
                .file("c", b"linked")
                .hardlink("d", "c")
                .bytes()[..],
        )
        .unwrap();
    let path = |name: &str| layer.path.join(name);
    assert_ne!(
        ino(&path("a")),
        ino(&path("b")),
        "two files of one layer joined"
    );
    assert_eq!(ino(&path("c")), ino(&path("d")));
    assert_eq!(
        fs::metadata(path("c")).unwrap().nlink(),
        2,
        "the tar's link only"
    );

    // Another layer shares with the first but still never joins its own files.
    let other = store
        .extract(&Tar::new().file("x", b"twins").file("y", b"twins").bytes()[..])
        .unwrap();
    let shared = [ino(&other.path.join("x")), ino(&other.path.join("y"))];
    assert!(shared.contains(&ino(&path("a"))) || shared.contains(&ino(&path("b"))));
    assert_ne!(shared[0], shared[1]);
}

#[test]
fn a_container_write_never_reaches_another_layer() {
    if common::skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = LayerStore::open(root.path()).unwrap();
    let tar = |extra: &str| {
        Tar::new()
            .dir("etc/", 0o755)
            .file("etc/config", b"original")
            .file("etc/script", b"#!/bin/sh")
            .file(extra, b"")
            .bytes()
    };
    let mine = store.extract(&tar("mine")[..]).unwrap();
    let theirs = store.extract(&tar("theirs")[..]).unwrap();
    let config = theirs.path.join("etc/config");
    let script = theirs.path.join("etc/script");
    assert_eq!(ino(&mine.path.join("etc/config")), ino(&config));
    let before = (ino(&config), fs::metadata(&script).unwrap().mode());

    let dirs: Vec<_> = ["upper", "work", "merged"]
        .iter()
        .map(|d| root.path().join(d))
        .collect();
    for d in &dirs {
        fs::create_dir(d).unwrap();
    }
    let merged = &dirs[2];
    overlay::mount(std::slice::from_ref(&mine.path), &dirs[0], &dirs[1], merged).unwrap();
    let wrote = (
        fs::write(merged.join("etc/config"), b"changed in a container"),
        fs::set_permissions(merged.join("etc/script"), fs::Permissions::from_mode(0o777)),
        fs::read(merged.join("etc/config")),
    );
    overlay::unmount(merged).unwrap();
    wrote.0.unwrap();
    wrote.1.unwrap();
    assert_eq!(wrote.2.unwrap(), b"changed in a container");
    // overlayfs copied both up; the shared inodes, and so the other layer, are untouched.
    assert_eq!(fs::read(&config).unwrap(), b"original");
    assert_eq!(fs::read(mine.path.join("etc/config")).unwrap(), b"original");
    assert_eq!(
        (ino(&config), fs::metadata(&script).unwrap().mode()),
        before
    );
    assert_eq!(
        fs::read(dirs[0].join("etc/config")).unwrap(),
        b"changed in a container"
    );
}
