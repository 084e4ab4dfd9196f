//! The spooled layer against the directory `copy::stage` lays out, and its failures.

use super::*;
use crate::copy::Request as StageRequest;
use std::os::unix::fs::PermissionsExt;

/// An entry of a layer tar as a container would see it (directory and link times
/// left out: both paths stamp them with the time of the build).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    path: String,
    kind: String,
    mode: u32,
    owner: (u64, u64),
    mtime: Option<u64>,
    link: Option<String>,
    content: Vec<u8>,
}

fn seen(tar: &[u8]) -> Vec<Seen> {
    let mut archive = tar::Archive::new(tar);
    let mut found = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        found.push(Seen {
            path: entry.path().unwrap().display().to_string(),
            kind: format!("{kind:?}"),
            mode: header.mode().unwrap(),
            owner: (header.uid().unwrap(), header.gid().unwrap()),
            mtime: kind.is_file().then(|| header.mtime().unwrap()),
            link: entry.link_name().unwrap().map(|l| l.display().to_string()),
            content,
        });
    }
    found
}

fn entry(tar: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, mode: u32) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_mtime(1_000_000 + u64::from(mode));
    header.set_uid(1234);
    header.set_gid(5678);
    let content = if kind.is_file() { name.as_bytes() } else { &[] };
    header.set_size(content.len() as u64);
    tar.append_data(&mut header, name, content).unwrap();
}

fn link(tar: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, target: &str) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(0);
    tar.append_link(&mut header, name, target).unwrap();
}

struct Scene {
    dir: tempfile::TempDir,
    context: Context,
    rootfs: PathBuf,
}

fn scene() -> Scene {
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    let mut tar = tar::Builder::new(Vec::new());
    entry(&mut tar, "Dockerfile", Regular, 0o644);
    entry(&mut tar, "one", Regular, 0o600);
    entry(&mut tar, "tree", Directory, 0o750);
    entry(&mut tar, "tree/a", Regular, 0o640);
    entry(&mut tar, "tree/sub/b", Regular, 0o4755);
    link(&mut tar, "tree/link", Symlink, "a");
    link(&mut tar, "tree/out", Symlink, "../../../etc/passwd");
    link(&mut tar, "tree/hard", Link, "tree/a");
    link(&mut tar, "alias", Symlink, "tree/sub");
    let tar = tar.into_inner().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("context");
    std::fs::create_dir(&root).unwrap();
    let context = Context::stream(tar.as_slice(), &root, &dir.path().join("spool")).unwrap();
    let rootfs = dir.path().join("rootfs");
    for d in ["etc", "tmp", "srv"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(rootfs.join("srv"), std::fs::Permissions::from_mode(0o710)).unwrap();
    std::os::unix::fs::lchown(rootfs.join("srv"), Some(1000), Some(1001)).unwrap();
    std::os::unix::fs::symlink("/srv", rootfs.join("data")).unwrap();
    Scene {
        dir,
        context,
        rootfs,
    }
}

fn inputs(scene: &Scene, patterns: &[&str]) -> Vec<Input> {
    let mut inputs = Vec::new();
    for pattern in patterns {
        if let Some(doc) = pattern.strip_prefix("<<") {
            inputs.push(Input::Inline {
                name: doc.to_string(),
                content: format!("{doc}\n"),
            });
            continue;
        }
        for source in scene.context.sources(pattern).unwrap() {
            inputs.push(Input::Path {
                name: source.name,
                path: source.path,
                keep_owner: false,
                unpack: true,
            });
        }
    }
    inputs
}

/// The tar `stage` and the image store's tar of its directory make.
fn staged(scene: &Scene, inputs: &[Input], dest: &str, attributes: Attributes) -> Vec<u8> {
    scene.context.materialize().unwrap();
    let layer = tempfile::tempdir_in(scene.dir.path()).unwrap();
    crate::copy::stage(&StageRequest {
        what: "COPY",
        inputs,
        dest,
        attributes,
        extract: false,
        rootfs: Some(&scene.rootfs),
        layer: layer.path(),
    })
    .unwrap();
    let mut tar = Vec::new();
    fsdriver::diff::write_upper_as_layer(layer.path(), &[], &mut tar).unwrap();
    tar
}

fn planned(scene: &Scene, inputs: &[Input], dest: &str, attributes: Attributes) -> Vec<u8> {
    assert!(applies(&scene.context, inputs, false));
    let request = Request {
        what: "COPY",
        inputs,
        dest,
        attributes,
        rootfs: Some(&scene.rootfs),
    };
    let mut tar = Vec::new();
    plan(&scene.context, &request)
        .unwrap()
        .write(&mut tar)
        .unwrap();
    tar
}

#[test]
fn the_spooled_layer_holds_what_a_staged_directory_holds() {
    if crate::skipped_without_root() {
        return;
    }
    let scene = scene();
    let chowned = Attributes {
        owner: Some((1000, 50)),
        mode: Some(0o600),
    };
    let cases: &[(&[&str], &str, Attributes)] = &[
        (&["tree"], "/srv/app", Attributes::default()),
        (&["tree"], "/data/app/", chowned),
        (&["one", "tree", "alias"], "/tmp/x/", Attributes::default()),
        (&["tree/a"], "/opt/renamed", chowned),
        (&["tree/link", "<<EOF"], "/etc/", Attributes::default()),
        (&["."], "/ctx", Attributes::default()),
        (&["tree/[ahls]*"], "/glob/", chowned),
    ];
    for (patterns, dest, attributes) in cases {
        let inputs = inputs(&scene, patterns);
        let planned = seen(&planned(&scene, &inputs, dest, *attributes));
        let staged = seen(&staged(&scene, &inputs, dest, *attributes));
        assert_eq!(planned, staged, "COPY {patterns:?} {dest} {attributes:?}");
    }

    // What the old path laid out, checked once by hand.
    let inputs = inputs(&scene, &["tree"]);
    let tar = seen(&planned(&scene, &inputs, "/data/app/", chowned));
    let at = |path: &str| tar.iter().find(|s| s.path == path).unwrap();
    // The image's /srv (reached through its /data link) keeps its mode and owner.
    assert_eq!((at("srv/").mode, at("srv/").owner), (0o710, (1000, 1001)));
    assert_eq!(
        (at("srv/app/").mode, at("srv/app/").owner),
        (0o755, (1000, 50))
    );
    let file = at("srv/app/sub/b");
    assert_eq!((file.mode, file.owner), (0o600, (1000, 50)));
    assert_eq!(file.mtime, Some(1_000_000 + 0o4755));
    assert_eq!(file.content, b"tree/sub/b");
    assert_eq!(at("srv/app/link").link.as_deref(), Some("a"));
    // A link is copied as a link, never followed out of the context.
    assert_eq!(
        at("srv/app/out").link.as_deref(),
        Some("../../../etc/passwd")
    );
    // A hard link of the context is a file of its own, as a copy makes it.
    assert_eq!(at("srv/app/hard").content, b"tree/a");
    assert_eq!(at("srv/app/hard").kind, "Regular");
    let plain = seen(&planned(&scene, &inputs, "/srv/app", Attributes::default()));
    let b = plain.iter().find(|s| s.path == "srv/app/sub/b").unwrap();
    assert_eq!((b.mode, b.owner), (0o4755, (0, 0)));
}

#[test]
fn archives_add_unpacks_and_files_on_disk_take_the_directory_path() {
    let mut inner = tar::Builder::new(Vec::new());
    entry(&mut inner, "x", tar::EntryType::Regular, 0o644);
    let inner = inner.into_inner().unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(inner.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "a.tar", inner.as_slice())
        .unwrap();
    entry(&mut tar, "plain", tar::EntryType::Regular, 0o644);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("context");
    std::fs::create_dir(&root).unwrap();
    let spool = dir.path().join("spool");
    let context = Context::stream(tar.into_inner().unwrap().as_slice(), &root, &spool).unwrap();
    let input = |name: &str| Input::Path {
        name: name.into(),
        path: root.join(name),
        keep_owner: false,
        unpack: true,
    };
    assert!(
        !applies(&context, &[input("a.tar")], true),
        "ADD unpacks it"
    );
    assert!(applies(&context, &[input("a.tar")], false), "COPY does not");
    assert!(applies(&context, &[input("plain")], true));
    let outside = Input::Path {
        name: "fetched".into(),
        path: dir.path().join("fetched"),
        keep_owner: false,
        unpack: false,
    };
    assert!(!applies(&context, &[input("plain"), outside], false));
    assert!(!applies(&Context::at(&root), &[input("plain")], false));
}

#[test]
fn a_spool_shorter_than_its_index_fails_the_write() {
    let mut tar = tar::Builder::new(Vec::new());
    entry(&mut tar, "f", tar::EntryType::Regular, 0o644);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("context");
    std::fs::create_dir(&root).unwrap();
    let spool = dir.path().join("spool");
    let context = Context::stream(tar.into_inner().unwrap().as_slice(), &root, &spool).unwrap();
    let inputs = [Input::Path {
        name: "f".into(),
        path: root.join("f"),
        keep_owner: false,
        unpack: true,
    }];
    let request = Request {
        what: "COPY",
        inputs: &inputs,
        dest: "/f",
        attributes: Attributes::default(),
        rootfs: None,
    };
    let plan = plan(&context, &request).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&spool)
        .unwrap()
        .set_len(512)
        .unwrap();
    let err = plan.write(&mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("spool"), "{err}");
}
