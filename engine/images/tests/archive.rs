//! `save` and `load` through the image store's API, with archives built in the test: what a
//! load stores, and that a load refused for a bad layer stores nothing. Runs as root (layer
//! extraction chowns).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use berth_images::{Digest, ErrorKind, ImageStore, ImportOptions};
use serde_json::json;

fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_mtime(1_600_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn config(diff_ids: &[&[u8]]) -> Vec<u8> {
    let diff_ids: Vec<String> = diff_ids
        .iter()
        .map(|tar| Digest::of_bytes(tar).to_string())
        .collect();
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .unwrap()
}

/// An archive's members in the order given.
fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn manifest_json(entries: &[(&str, &str, &[&str])]) -> Vec<u8> {
    let entries: Vec<_> = entries
        .iter()
        .map(|(config, tag, layers)| json!({ "Config": config, "RepoTags": [tag], "Layers": layers }))
        .collect();
    serde_json::to_vec(&entries).unwrap()
}

fn open(root: &Path) -> Arc<ImageStore> {
    Arc::new(ImageStore::open(root).unwrap())
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// No blob, no layer (nor a temporary one), no image, no blob being written.
fn assert_nothing_stored(root: &Path, what: &str) {
    for dir in ["blobs/sha256", "blobs/ingest", "layers", "images"] {
        assert_eq!(count(&root.join(dir)), 0, "{what}: {dir} is not empty");
    }
}

fn load(store: &Arc<ImageStore>, root: &Path, archive: &[u8]) -> Result<Vec<String>, ErrorKind> {
    store
        .load(archive, &root.join("tmp"))
        .map(|loaded| loaded.into_iter().flat_map(|l| l.references).collect())
        .map_err(|e| e.kind())
}

#[test]
fn a_saved_image_loads_back_into_an_empty_store() {
    if skipped_without_root() {
        return;
    }
    let tar = layer_tar(&[("etc/motd", b"hello"), ("bin/tool", &[7u8; 100_000])]);
    let source = tempfile::tempdir().unwrap();
    let store = open(source.path());
    let saved = store
        .import(&gzip(&tar)[..], Some("app:1"), ImportOptions::default())
        .unwrap();
    let mut archive = Vec::new();
    store.save(&["app:1".to_string()], &mut archive).unwrap();

    let target = tempfile::tempdir().unwrap();
    let store = open(target.path());
    assert_eq!(
        load(&store, target.path(), &archive),
        Ok(vec!["app:1".into()])
    );
    let loaded = store.resolve("app:1").unwrap();
    assert_eq!(loaded.id, saved.id);
    let diff_id = Digest::of_bytes(&tar);
    assert_eq!(loaded.layers, vec![diff_id.clone()]);
    assert_eq!(
        fs::read(store.layer_path(&diff_id).join("etc/motd")).unwrap(),
        b"hello"
    );
    // The archive holds the layer uncompressed: that tar is now the layer's blob.
    assert!(store.has_layer(&diff_id, &diff_id));
    assert_eq!(count(&target.path().join("blobs/ingest")), 0);
    assert_eq!(count(&target.path().join("tmp")), 0);
}

#[test]
fn layers_load_in_any_order_compressed_or_not_and_once_when_shared() {
    if skipped_without_root() {
        return;
    }
    let base = layer_tar(&[("base", b"base")]);
    let top = layer_tar(&[("top", b"top")]);
    let top_gz = gzip(&top);
    let one = config(&[&base]);
    let two = config(&[&base, &top]);
    // The manifest comes first, and the base layer is shared by both images.
    let manifest = manifest_json(&[
        ("one.json", "one:1", &["base.tar"]),
        ("two.json", "two:1", &["base.tar", "top.tar.gz"]),
    ]);
    let archive = archive(&[
        ("manifest.json", &manifest),
        ("base.tar", &base),
        ("one.json", &one),
        ("top.tar.gz", &top_gz),
        ("two.json", &two),
    ]);
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path());
    assert_eq!(
        load(&store, root.path(), &archive),
        Ok(vec!["one:1".into(), "two:1".into()])
    );
    let two = store.resolve("two:1").unwrap();
    assert_eq!(
        two.layers,
        vec![Digest::of_bytes(&base), Digest::of_bytes(&top)]
    );
    assert!(store.has_layer(&Digest::of_bytes(&top), &Digest::of_bytes(&top_gz)));
    assert!(store.has_layer(&Digest::of_bytes(&base), &Digest::of_bytes(&base)));
    assert_eq!(count(&root.path().join("layers")), 2);
}

#[test]
fn an_archive_with_a_bad_layer_is_refused_and_stores_nothing() {
    let good = layer_tar(&[("f", b"the real content")]);
    let other = layer_tar(&[("f", b"something else!!")]);
    let cfg = config(&[&good]);
    let manifest = manifest_json(&[("c.json", "x:1", &["layer.tar"])]);
    let truncated = good[..good.len() - 1024].to_vec();
    let mut junk_tar = other.clone();
    junk_tar.truncate(700);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a layer that is not the config's diff_id",
            archive(&[
                ("layer.tar", &other),
                ("c.json", &cfg),
                ("manifest.json", &manifest),
            ]),
        ),
        (
            "the same, compressed",
            archive(&[
                ("layer.tar", &gzip(&other)),
                ("c.json", &cfg),
                ("manifest.json", &manifest),
            ]),
        ),
        (
            "a layer cut short",
            archive(&[
                ("layer.tar", &truncated),
                ("c.json", &cfg),
                ("manifest.json", &manifest),
            ]),
        ),
        (
            "a layer that is not a tar",
            archive(&[
                ("layer.tar", &junk_tar),
                ("c.json", &cfg),
                ("manifest.json", &manifest),
            ]),
        ),
        (
            "a missing layer",
            archive(&[("c.json", &cfg), ("manifest.json", &manifest)]),
        ),
    ];
    for (what, archive) in cases {
        let root = tempfile::tempdir().unwrap();
        let store = open(root.path());
        assert_eq!(
            load(&store, root.path(), &archive),
            Err(ErrorKind::InvalidArgument),
            "{what}"
        );
        assert_nothing_stored(root.path(), what);
        assert!(store.resolve("x:1").is_err(), "{what}");
    }
}

#[test]
fn an_oci_layout_blob_that_does_not_match_its_name_is_refused() {
    if skipped_without_root() {
        return;
    }
    let real = layer_tar(&[("f", b"real")]);
    let swapped = layer_tar(&[("f", b"fake")]);
    let cfg = config(&[&real]);
    let cfg_digest = Digest::of_bytes(&cfg);
    let blob = Digest::of_bytes(&real);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": cfg_digest.to_string(),
            "size": cfg.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": blob.to_string(),
            "size": real.len(),
        }],
    }))
    .unwrap();
    let manifest_digest = Digest::of_bytes(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest.to_string(),
            "size": manifest.len(),
            "annotations": { "io.containerd.image.name": "docker.io/library/oci:1" },
        }],
    }))
    .unwrap();
    let path = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let layout = |layer: &[u8]| {
        archive(&[
            (&path(&blob), layer),
            (&path(&cfg_digest), &cfg),
            (&path(&manifest_digest), &manifest),
            ("index.json", &index),
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        ])
    };

    let root = tempfile::tempdir().unwrap();
    let store = open(root.path());
    assert_eq!(
        load(&store, root.path(), &layout(&swapped)),
        Err(ErrorKind::InvalidArgument)
    );
    assert_nothing_stored(root.path(), "a swapped layer");
    assert_eq!(
        load(&store, root.path(), &layout(&real)),
        Ok(vec!["oci:1".into()])
    );
    assert!(store.has_layer(&blob, &blob));
}

#[test]
fn a_member_that_looks_like_a_layer_but_no_image_uses_is_ignored() {
    if skipped_without_root() {
        return;
    }
    let layer = layer_tar(&[("f", b"x")]);
    let mut broken = layer_tar(&[("g", &[1u8; 4096])]);
    broken.truncate(1000);
    let cfg = config(&[&layer]);
    let manifest = manifest_json(&[("c.json", "y:1", &["layer.tar"])]);
    let archive = archive(&[
        ("extra/broken.tar", &broken),
        ("extra/unused.tar", &layer_tar(&[("h", b"unused")])),
        ("layer.tar", &layer),
        ("c.json", &cfg),
        ("manifest.json", &manifest),
    ]);
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path());
    assert_eq!(load(&store, root.path(), &archive), Ok(vec!["y:1".into()]));
    assert_eq!(count(&root.path().join("layers")), 1);
    // The layer's blob, the config and the manifest made for it.
    assert_eq!(count(&root.path().join("blobs/sha256")), 3);
    assert_eq!(count(&root.path().join("blobs/ingest")), 0);
}

/// Whether the calling test is skipped: it needs root (it sets owners, makes device nodes,
/// mounts or writes cgroups) and runs as a normal user. Says so on stderr, past the test
/// harness's capture, so that `cargo test` shows it.
fn skipped_without_root() -> bool {
    if rustix::process::geteuid().is_root() {
        return false;
    }
    use std::io::Write as _;
    let thread = std::thread::current();
    let name = match thread.name() {
        Some("main") | None => std::env::args().next().unwrap_or_default(),
        Some(name) => name.to_string(),
    };
    let _ = writeln!(std::io::stderr(), "skipped {name}: it needs root");
    true
}
