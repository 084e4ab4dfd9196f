//! The layer store, one-pass layer import and overlay mounts. Runs as root.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::Tar;
use fsdriver::compression::Compression;
use fsdriver::content::ContentStore;
use fsdriver::extract::{ExtractLimits, Extractor};
use fsdriver::import::{ingest_layer, ingest_written, receive_layer};
use fsdriver::layer::{LayerError, LayerStore};
use fsdriver::{overlay, Digest, ErrorKind};

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Nothing is stored: no blob, no layer, no shared file, no temporary leftovers.
fn assert_store_empty(root: &Path) {
    assert!(entries(&root.join("blobs/sha256")).is_empty());
    assert!(entries(&root.join("blobs/ingest")).is_empty());
    assert!(entries(&root.join("layers")).is_empty());
    assert!(entries(&root.join("files")).is_empty());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

#[test]
fn layers_are_stored_once_by_diff_id() {
    if common::skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let layers = LayerStore::open(root.path()).unwrap();
    let tar = Tar::new().file("hello", b"world").bytes();
    let info = layers.extract(&tar[..]).unwrap();
    assert_eq!(info.diff_id, Digest::of_bytes(&tar));
    assert_eq!(info.size, 5);
    assert_eq!(info.path, layers.path(&info.diff_id));
    assert_eq!(fs::read(info.path.join("hello")).unwrap(), b"world");
    assert!(layers.contains(&info.diff_id));
    assert_eq!(layers.info(&info.diff_id).unwrap(), info);

    // The same layer again: the stored copy is kept, the new one thrown away.
    let again = layers.extract(&tar[..]).unwrap();
    assert_eq!(again, info);
    assert_eq!(layers.list().unwrap(), vec![info.diff_id.clone()]);
    assert_eq!(entries(&root.path().join("layers")), [info.diff_id.hex()]);

    layers.remove(&info.diff_id).unwrap();
    assert!(!layers.contains(&info.diff_id));
    assert!(matches!(
        layers.remove(&info.diff_id),
        Err(LayerError::NotFound(_))
    ));
    assert!(matches!(
        layers.info(&info.diff_id),
        Err(LayerError::NotFound(_))
    ));
    assert!(entries(&root.path().join("layers")).is_empty());
}

#[test]
fn a_failed_extraction_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let layers = LayerStore::open(root.path())
        .unwrap()
        .with_limits(ExtractLimits {
            max_entries: 2,
            max_bytes: 1 << 20,
        });
    let tar = Tar::new().file("a", &[1; 4000]).bytes();
    let err = layers.extract(&tar[..1500]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let bomb = Tar::new()
        .file("a", b"")
        .file("b", b"")
        .file("c", b"")
        .bytes();
    let err = layers.extract(&bomb[..]).unwrap_err();
    assert!(err.to_string().contains("more than 2 entries"), "{err}");
    assert!(entries(&root.path().join("layers")).is_empty());
}

#[test]
fn open_removes_interrupted_extractions() {
    if common::skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let layers = LayerStore::open(root.path()).unwrap();
    let tar = Tar::new().file("kept", b"k").bytes();
    let kept = layers.extract(&tar[..]).unwrap();
    // What a kill -9 in the middle of an extraction leaves behind.
    let staged = layers
        .stage(&Tar::new().file("half", b"h").bytes()[..])
        .unwrap();
    std::mem::forget(staged);
    assert_eq!(entries(&root.path().join("layers")).len(), 2);

    let layers = LayerStore::open(root.path()).unwrap();
    assert_eq!(entries(&root.path().join("layers")), [kept.diff_id.hex()]);
    assert_eq!(layers.list().unwrap(), vec![kept.diff_id]);
}

#[test]
fn ingest_stores_the_blob_as_sent_and_the_layer_extracted() {
    if common::skipped_without_root() {
        return;
    }
    let tar = Tar::new()
        .dir("etc/", 0o755)
        .file("etc/motd", b"hi")
        .bytes();
    let cases = [
        (
            tar.clone(),
            Compression::None,
            "application/vnd.oci.image.layer.v1.tar",
        ),
        (
            gzip(&tar),
            Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            zstd::encode_all(&tar[..], 3).unwrap(),
            Compression::Zstd,
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    ];
    for (blob, compression, media_type) in cases {
        let root = tempfile::tempdir().unwrap();
        let content = ContentStore::open(root.path()).unwrap();
        let layers = LayerStore::open(root.path()).unwrap();
        let ingested = ingest_layer(&content, &layers, &blob[..]).unwrap();
        assert_eq!(ingested.compression, compression);
        assert_eq!(ingested.media_type, media_type);
        assert_eq!(ingested.blob.digest, Digest::of_bytes(&blob));
        assert_eq!(ingested.blob.size, blob.len() as u64);
        assert_eq!(ingested.diff_id, Digest::of_bytes(&tar));
        assert_eq!(&*content.read(&ingested.blob.digest).unwrap(), &blob[..]);
        assert_eq!(
            fs::read(layers.path(&ingested.diff_id).join("etc/motd")).unwrap(),
            b"hi"
        );
        assert_eq!(ingested.layer.size, 2);
    }
}

#[test]
fn a_received_layer_is_stored_only_when_committed() {
    if common::skipped_without_root() {
        return;
    }
    let tar = Tar::new().file("etc/motd", b"hi").bytes();
    // Bytes after a plain tar's end are part of its blob and of its diff_id.
    let mut padded = tar.clone();
    padded.extend_from_slice(&[0u8; 4096]);
    for (blob, diff_id) in [(padded.clone(), &padded), (gzip(&tar), &tar)] {
        let root = tempfile::tempdir().unwrap();
        let content = ContentStore::open(root.path()).unwrap();
        let layers = LayerStore::open(root.path()).unwrap();
        let nothing_visible = || {
            assert!(entries(&root.path().join("blobs/sha256")).is_empty());
            assert!(layers.list().unwrap().is_empty());
        };
        let received = receive_layer(&content, &layers, &blob[..]).unwrap();
        assert_eq!(received.blob().digest, Digest::of_bytes(&blob));
        assert_eq!(received.blob().size, blob.len() as u64);
        assert_eq!(received.diff_id(), &Digest::of_bytes(diff_id));
        nothing_visible();
        drop(received);
        nothing_visible();
        assert!(entries(&root.path().join("blobs/ingest")).is_empty());

        let ingested = receive_layer(&content, &layers, &blob[..])
            .unwrap()
            .commit()
            .unwrap();
        assert_eq!(&*content.read(&ingested.blob.digest).unwrap(), &blob[..]);
        assert_eq!(
            fs::read(layers.path(&ingested.diff_id).join("etc/motd")).unwrap(),
            b"hi"
        );
    }
}

#[test]
fn a_written_layer_is_stored_as_a_streamed_one_and_a_failed_writer_stores_nothing() {
    if common::skipped_without_root() {
        return;
    }
    // Bigger than the chunks the writer hands on, so the store reads while it writes.
    let mut tar = Tar::new();
    for i in 0..40 {
        tar.file(&format!("f{i}"), &[i as u8; 100_000]);
    }
    let tar = tar.bytes();
    let root = tempfile::tempdir().unwrap();
    let content = ContentStore::open(root.path()).unwrap();
    let layers = LayerStore::open(root.path()).unwrap();
    let ingested = ingest_written(&content, &layers, &mut |out: &mut dyn Write| {
        out.write_all(&tar)
    })
    .unwrap();
    assert_eq!(ingested.diff_id, Digest::of_bytes(&tar));
    assert_eq!(ingested.blob.digest, Digest::of_bytes(&tar));
    assert_eq!(&*content.read(&ingested.blob.digest).unwrap(), &tar[..]);
    assert_eq!(
        fs::read(layers.path(&ingested.diff_id).join("f39")).unwrap(),
        vec![39u8; 100_000]
    );

    // A writer that fails after a whole entry (a tar the store would read as complete)
    // or in the middle of one stores nothing, and its error is the one reported.
    for cut in [512 + 100_000 + 352, 3_000_000] {
        let root = tempfile::tempdir().unwrap();
        let content = ContentStore::open(root.path()).unwrap();
        let layers = LayerStore::open(root.path()).unwrap();
        let err = ingest_written(&content, &layers, &mut |out: &mut dyn Write| {
            out.write_all(&tar[..cut])?;
            Err(std::io::Error::other("the spool went away"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("the spool went away"), "{err}");
        assert_store_empty(root.path());
    }

    // A store that stops reading (a bad entry) reports its own error, not the writer's.
    let root = tempfile::tempdir().unwrap();
    let content = ContentStore::open(root.path()).unwrap();
    let layers = LayerStore::open(root.path()).unwrap();
    let escaping = Tar::new().hardlink("x", "../../../etc/passwd").bytes();
    let err = ingest_written(&content, &layers, &mut |out: &mut dyn Write| {
        out.write_all(&escaping)?;
        out.write_all(&tar)
    })
    .unwrap_err();
    assert!(!err.to_string().contains("writing the layer tar"), "{err}");
    assert_store_empty(root.path());
}

#[test]
fn a_bad_upload_stores_nothing() {
    if common::skipped_without_root() {
        return;
    }
    let tar = Tar::new().file("f", &vec![3u8; 50_000]).bytes();
    let gz = gzip(&tar);
    // Bombs: a few kilobytes that expand past the limits below.
    let huge = Tar::new().file("zeros", &vec![0u8; 8 << 20]).bytes();
    let mut many = Tar::new();
    for i in 0..300 {
        many.file(&format!("f{i}"), b"");
    }
    let many = many.bytes();
    let bad_inputs: Vec<(&str, Vec<u8>)> = vec![
        ("truncated gzip", gz[..gz.len() - 8].to_vec()),
        ("gzip cut in the middle", gz[..gz.len() / 2].to_vec()),
        ("truncated tar", tar[..20_000].to_vec()),
        ("xz", b"\xfd7zXZ\x00whatever".to_vec()),
        (
            "escaping hard link",
            Tar::new().hardlink("x", "../../../etc/passwd").bytes(),
        ),
        ("gzip bomb", gzip(&huge)),
        ("zstd bomb", zstd::encode_all(&huge[..], 3).unwrap()),
        ("millions of entries, or 300", gzip(&many)),
    ];
    let limits = ExtractLimits {
        max_entries: 100,
        max_bytes: 4 << 20,
    };
    for extractor in [Extractor::Reference, Extractor::Uring] {
        for (what, input) in &bad_inputs {
            let root = tempfile::tempdir().unwrap();
            let content = ContentStore::open(root.path()).unwrap();
            let layers = LayerStore::open(root.path())
                .unwrap()
                .with_extractor(extractor)
                .with_limits(limits);
            let err = ingest_layer(&content, &layers, &input[..]).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidArgument,
                "{extractor:?}, {what}: {err}"
            );
            if what.contains("bomb") || what.contains("entries") {
                assert!(
                    err.to_string().contains("limit") || err.to_string().contains("more than"),
                    "{extractor:?}, {what}: {err}"
                );
            }
            assert_store_empty(root.path());
        }
    }
}

#[test]
fn the_store_extracts_with_io_uring_when_the_kernel_has_it() {
    let root = tempfile::tempdir().unwrap();
    let layers = LayerStore::open(root.path()).unwrap();
    assert_eq!(layers.extractor(), Extractor::detect());
    match fsdriver::extract::uring::available() {
        Ok(()) => assert_eq!(layers.extractor(), Extractor::Uring),
        Err(e) => assert_eq!(layers.extractor(), Extractor::Reference, "{e}"),
    }
}

#[test]
fn overlay_mounts_layers_top_most_first() {
    if common::skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let layers = LayerStore::open(root.path()).unwrap();
    let base = layers
        .extract(
            &Tar::new()
                .file("base", b"1")
                .file("shadowed", b"base")
                .file("removed", b"x")
                .bytes()[..],
        )
        .unwrap();
    let top = layers
        .extract(
            &Tar::new()
                .file("shadowed", b"top")
                .file(".wh.removed", b"")
                .bytes()[..],
        )
        .unwrap();
    let (upper, work, merged) = (
        root.path().join("upper"),
        root.path().join("work"),
        root.path().join("merged"),
    );
    for d in [&upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let lower = vec![top.path.clone(), base.path.clone()];
    overlay::mount(&lower, &upper, &work, &merged).unwrap();
    let seen = (
        fs::read(merged.join("base")),
        fs::read(merged.join("shadowed")),
        merged.join("removed").exists(),
        fs::write(merged.join("new"), b"n"),
    );
    overlay::unmount(&merged).unwrap();
    assert_eq!(seen.0.unwrap(), b"1");
    assert_eq!(seen.1.unwrap(), b"top");
    assert!(!seen.2, "the whiteout hides the lower file");
    seen.3.unwrap();
    assert_eq!(fs::read(upper.join("new")).unwrap(), b"n");
    assert!(entries(&merged).is_empty());

    let options = overlay::mount_options(&lower, &upper, &work).unwrap();
    assert_eq!(
        options,
        format!(
            "lowerdir={}:{},upperdir={},workdir={},index=off",
            top.path.display(),
            base.path.display(),
            upper.display(),
            work.display()
        )
    );
    let err = overlay::mount_options(&[root.path().join("a,b")], &upper, &work).unwrap_err();
    assert!(err.to_string().contains("a,b"), "{err}");
    let err = overlay::mount(&lower, &upper, &work, &root.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}
