//! The image store through its public API, with layer tars built in the test. Runs as root
//! (layer extraction chowns).

use std::fs;
use std::io::Write;
use std::path::Path;

use berth_images::parse::{parse_config, parse_manifest};
use berth_images::{
    Digest, ErrorKind, ImageStore, ImageUser, ImportOptions, LayerLeases, RemoveAction,
};

fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o755);
        header.set_size(data.len() as u64);
        header.set_mtime(1_600_000_000);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn busybox_tar() -> Vec<u8> {
    layer_tar(&[
        ("bin/busybox", b"\x7fELF pretend"),
        ("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
    ])
}

fn import(store: &ImageStore, tar: &[u8], reference: Option<&str>) -> berth_images::ImageRecord {
    store
        .import(tar, reference, ImportOptions::default())
        .unwrap()
}

fn changes(changes: &[&str]) -> ImportOptions {
    ImportOptions {
        message: String::new(),
        changes: changes.iter().map(|s| s.to_string()).collect(),
    }
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// No blob, no layer, no shared file, no image, no tag.
fn assert_empty(root: &Path) {
    assert_eq!(count(&root.join("blobs/sha256")), 0);
    assert_eq!(count(&root.join("layers")), 0);
    assert_eq!(count(&root.join("files")), 0);
    assert_eq!(count(&root.join("images")), 0);
    let tags = fs::read_to_string(root.join("repositories.json")).unwrap_or_default();
    assert!(!tags.contains("sha256:"), "{tags}");
}

fn not_used(_: &Digest) -> Option<ImageUser> {
    None
}

const CONTAINER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn import_stores_config_manifest_layer_and_tag() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let tar = busybox_tar();
    let image = import(&store, &tar, Some("busybox"));

    assert_eq!(image.repo_tags, ["busybox:latest"]);
    assert!(image.repo_digests.is_empty());
    assert_eq!(image.layers, [Digest::of_bytes(&tar)]);
    assert_eq!(image.size, 12 + 26);
    let config_bytes = fs::read(root.path().join("blobs/sha256").join(image.id.hex())).unwrap();
    assert_eq!(
        image.id,
        Digest::of_bytes(&config_bytes),
        "the ID is the config's digest"
    );
    let config = parse_config(&config_bytes).unwrap();
    assert_eq!(config, image.config);
    assert_eq!(config.os().to_string(), "linux");
    assert_eq!(config.architecture().to_string(), "amd64");
    assert_eq!(
        config.rootfs().diff_ids(),
        &[Digest::of_bytes(&tar).to_string()]
    );
    let history = config.history().as_ref().unwrap();
    assert_eq!(history[0].comment().as_deref(), Some("Imported from -"));
    assert!(image.created.is_some());
    assert_eq!(
        config.created().as_deref().map(|c| c.ends_with('Z')),
        Some(true)
    );

    let manifest_bytes =
        fs::read(root.path().join("blobs/sha256").join(image.manifest.hex())).unwrap();
    let manifest = parse_manifest(&manifest_bytes).unwrap();
    assert_eq!(manifest.config().digest().to_string(), image.id.to_string());
    assert_eq!(
        manifest.layers()[0].media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(
        manifest.layers()[0].digest().to_string(),
        Digest::of_bytes(&tar).to_string()
    );

    let layers = store.rootfs_layers(&image).unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        fs::read(layers[0].join("etc/passwd")).unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
}

#[test]
fn import_applies_changes_message_and_compression() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&busybox_tar()).unwrap();
    let gz = gz.finish().unwrap();
    let options = ImportOptions {
        message: "from a test".into(),
        changes: vec![
            "CMD [\"/bin/sh\"]".into(),
            "ENV PATH=/bin".into(),
            "WORKDIR /root".into(),
            "EXPOSE 80".into(),
            "LABEL a=b".into(),
            "USER 1000".into(),
            "STOPSIGNAL SIGINT".into(),
            "VOLUME /data".into(),
            "ENTRYPOINT [\"/bin/busybox\"]".into(),
        ],
    };
    let image = store
        .import(&gz[..], Some("localhost:5000/tools/bb:1.0"), options)
        .unwrap();
    assert_eq!(image.repo_tags, ["localhost:5000/tools/bb:1.0"]);
    assert_eq!(image.layers, [Digest::of_bytes(&busybox_tar())]);
    let config = image.config.config().clone().unwrap();
    assert_eq!(config.cmd().clone().unwrap(), ["/bin/sh"]);
    assert_eq!(config.entrypoint().clone().unwrap(), ["/bin/busybox"]);
    assert_eq!(config.env().clone().unwrap(), ["PATH=/bin"]);
    assert_eq!(config.working_dir().as_deref(), Some("/root"));
    assert_eq!(config.exposed_ports().clone().unwrap(), ["80/tcp"]);
    assert_eq!(config.labels().clone().unwrap()["a"], "b");
    assert_eq!(config.user().as_deref(), Some("1000"));
    assert_eq!(config.stop_signal().as_deref(), Some("SIGINT"));
    assert_eq!(config.volumes().clone().unwrap(), ["/data"]);
    let history = image.config.history().clone().unwrap();
    assert_eq!(history[0].comment().as_deref(), Some("from a test"));
    let manifest = parse_manifest(
        &fs::read(root.path().join("blobs/sha256").join(image.manifest.hex())).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest.layers()[0].media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        manifest.layers()[0].digest().to_string(),
        Digest::of_bytes(&gz).to_string()
    );
}

#[test]
fn bad_imports_store_nothing() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let tar = busybox_tar();
    let cases: Vec<(&str, Vec<u8>, Option<&str>, ImportOptions)> = vec![
        ("bad change", tar.clone(), Some("x"), changes(&["RUN true"])),
        (
            "bad reference",
            tar.clone(),
            Some("Bad/Name"),
            ImportOptions::default(),
        ),
        (
            "digest reference",
            tar.clone(),
            Some("x@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ImportOptions::default(),
        ),
        (
            "truncated tar",
            tar[..700].to_vec(),
            Some("x"),
            ImportOptions::default(),
        ),
        ("garbage", vec![0x42; 3000], None, ImportOptions::default()),
    ];
    for (what, input, reference, options) in cases {
        let err = store.import(&input[..], reference, options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{what}: {err}");
        assert_empty(root.path());
    }
    let err = store
        .import(&tar[..], None, changes(&["ONBUILD RUN x"]))
        .unwrap_err();
    assert!(err.to_string().contains("not supported"), "{err}");
    assert_eq!(
        store
            .import(&tar[..], Some("Bad"), ImportOptions::default())
            .unwrap_err()
            .to_string(),
        "invalid reference format: repository name (library/Bad) must be lowercase"
    );
    assert!(store.list().is_empty());
}

#[test]
fn resolve_by_reference_id_and_prefix() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let image = import(&store, &busybox_tar(), Some("busybox"));
    let hex = image.id.hex().to_string();
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        image.id.as_str(),
        &hex,
        &hex[..12],
        &hex[..3],
        &format!("sha256:{}", &hex[..12]),
    ] {
        assert_eq!(store.resolve(name).unwrap().id, image.id, "{name}");
    }
    let missing = |name: &str| store.resolve(name).unwrap_err();
    assert_eq!(
        missing("nosuch").to_string(),
        "No such image: nosuch:latest"
    );
    assert_eq!(missing("busybox:1").to_string(), "No such image: busybox:1");
    assert_eq!(missing("nosuch").kind(), ErrorKind::NotFound);
    let other_hex = if hex.starts_with('0') { "1" } else { "0" }.repeat(64);
    assert_eq!(
        missing(&other_hex).to_string(),
        format!("No such image: sha256:{other_hex}")
    );
    assert_eq!(missing("Busybox").kind(), ErrorKind::InvalidArgument);

    // With 17 images, two IDs share their first hex digit: that prefix is ambiguous.
    let mut ids = vec![image.id.clone()];
    for i in 0..16 {
        ids.push(
            store
                .import(&busybox_tar()[..], None, changes(&[&format!("ENV N={i}")]))
                .unwrap()
                .id,
        );
    }
    let shared = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|p| {
            ids.iter()
                .filter(|id| id.hex().starts_with(p.as_str()))
                .count()
                > 1
        })
        .unwrap();
    assert_eq!(missing(&shared).kind(), ErrorKind::NotFound);
    // The layer was stored once for all 17 images.
    assert_eq!(count(&root.path().join("layers")), 1);
}

#[test]
fn tag_list_and_persistence() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let tar = busybox_tar();
    let (first, second) = {
        let store = ImageStore::open(root.path()).unwrap();
        let first = import(&store, &tar, Some("busybox"));
        store.tag("busybox", "localhost:5000/bb:v1").unwrap();
        store.tag(&first.id.hex()[..8], "user/app").unwrap();
        let second = store
            .import(&tar[..], Some("busybox"), changes(&["CMD [\"sh\"]"]))
            .unwrap();
        // The tag moved; the first image keeps its other tags.
        let list = store.list();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, second.id, "newest first");
        assert_eq!(
            list[1].repo_tags,
            ["localhost:5000/bb:v1", "user/app:latest"]
        );
        assert_eq!(list[0].repo_tags, ["busybox:latest"]);

        let err = store.tag("nosuch", "x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = store
            .tag("busybox", &format!("x@{}", first.id))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err
            .to_string()
            .contains("refusing to create a tag with a digest reference"));
        (first.id, second.id)
    };
    // Reopened: same images and tags.
    let store = ImageStore::open(root.path()).unwrap();
    let list = store.list();
    assert_eq!(
        list.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        [second, first.clone()]
    );
    assert_eq!(store.resolve("user/app").unwrap().id, first);
    assert_eq!(
        store
            .resolve("localhost:5000/bb:v1")
            .unwrap()
            .repo_tags
            .len(),
        2
    );
    let json = fs::read_to_string(root.path().join("repositories.json")).unwrap();
    assert!(json.contains("\"docker.io/user/app\""), "{json}");
}

#[test]
fn remove_by_tag_untags_until_the_last_one() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let image = import(&store, &busybox_tar(), Some("busybox"));
    store.tag("busybox", "other:1").unwrap();
    assert_eq!(
        store.remove("other:1", false, &not_used).unwrap(),
        [RemoveAction::Untagged("other:1".into())]
    );
    assert_eq!(
        store.resolve(image.id.as_str()).unwrap().repo_tags,
        ["busybox:latest"]
    );
    assert_eq!(
        store.remove("busybox", false, &not_used).unwrap(),
        [
            RemoveAction::Untagged("busybox:latest".into()),
            RemoveAction::Deleted(image.id.clone())
        ]
    );
    assert!(store.list().is_empty());
    assert_empty(root.path());
    assert_eq!(
        store
            .remove("busybox", false, &not_used)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn remove_by_id_with_several_tags_must_be_forced() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let image = import(&store, &busybox_tar(), Some("busybox"));
    store.tag("busybox", "other").unwrap();
    let err = store
        .remove(&image.id.hex()[..12], false, &not_used)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", image.id.short())
    );
    assert_eq!(store.list().len(), 1);
    let actions = store.remove(image.id.as_str(), true, &not_used).unwrap();
    assert_eq!(
        actions,
        [
            RemoveAction::Untagged("busybox:latest".into()),
            RemoveAction::Untagged("other:latest".into()),
            RemoveAction::Deleted(image.id.clone()),
        ]
    );
    assert_empty(root.path());
}

#[test]
fn images_used_by_containers() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let image = import(&store, &busybox_tar(), Some("busybox"));
    let id = image.id.clone();
    let running = |d: &Digest| {
        (*d == id).then(|| ImageUser {
            container_id: CONTAINER.into(),
            running: true,
        })
    };
    let stopped = |d: &Digest| {
        (*d == id).then(|| ImageUser {
            container_id: CONTAINER.into(),
            running: false,
        })
    };
    let short = &CONTAINER[..12];

    for force in [false, true] {
        let err = store.remove(id.as_str(), force, &running).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(
            err.to_string(),
            format!("conflict: unable to delete {} (cannot be forced) - image is being used by running container {short}", id.short())
        );
    }
    let err = store.remove(id.as_str(), false, &stopped).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {} (must be forced) - image is being used by stopped container {short}", id.short())
    );
    let err = store.remove("busybox", false, &stopped).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to remove repository reference \"busybox\" (must force) - container {short} is using its referenced image {}", id.short())
    );
    assert_eq!(store.resolve("busybox").unwrap().id, id, "nothing changed");

    // Forced by name while running: the tag goes, the image stays for its container.
    assert_eq!(
        store.remove("busybox", true, &running).unwrap(),
        [RemoveAction::Untagged("busybox:latest".into())]
    );
    let dangling = store.resolve(id.as_str()).unwrap();
    assert!(dangling.repo_tags.is_empty());

    // A stopped container's lease keeps the layers after a forced removal.
    let leased = store.lease_layers(CONTAINER, &dangling).unwrap();
    assert_eq!(leased, store.rootfs_layers(&dangling).unwrap());
    assert_eq!(
        store.remove(id.as_str(), true, &stopped).unwrap(),
        [RemoveAction::Deleted(id.clone())]
    );
    assert!(leased[0].join("bin/busybox").is_file());
    assert_eq!(
        count(&root.path().join("blobs/sha256")),
        0,
        "blobs are not leased"
    );
    // ...until the container releases them.
    store.release_layers(CONTAINER).unwrap();
    assert_empty(root.path());
    store.release_layers(CONTAINER).unwrap();
    assert_eq!(
        store.release_layers("../x").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn shared_layers_live_as_long_as_an_image_uses_them() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let a = import(&store, &busybox_tar(), Some("a"));
    let b = store
        .import(&busybox_tar()[..], Some("b"), changes(&["CMD [\"x\"]"]))
        .unwrap();
    assert_eq!(a.layers, b.layers);
    store.remove("a", false, &not_used).unwrap();
    assert!(store.rootfs_layers(&b).unwrap()[0]
        .join("bin/busybox")
        .is_file());
    store.remove("b", false, &not_used).unwrap();
    assert_empty(root.path());
}

#[test]
fn leases_given_back_at_reopen_keep_their_layers_and_leftovers_go() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let tar = busybox_tar();
    let leased = {
        let store = ImageStore::open(root.path()).unwrap();
        let image = import(&store, &tar, Some("busybox"));
        let leased = store.lease_layers(CONTAINER, &image).unwrap();
        store.remove("busybox", false, &not_used).unwrap();
        leased
    };
    // What a crash between storing a layer and recording its image leaves behind.
    {
        let content = fsdriver::content::ContentStore::open(root.path()).unwrap();
        content.put(b"an orphan blob").unwrap();
        let layers = fsdriver::layer::LayerStore::open(root.path()).unwrap();
        layers.extract(&layer_tar(&[("orphan", b"o")])[..]).unwrap();
    }
    // The lease lives in the container's record, which the daemon hands back at open.
    let mut leases = LayerLeases::new();
    leases.hold(CONTAINER, leased.clone());
    let store = ImageStore::open_with_leases(root.path(), leases).unwrap();
    assert_eq!(count(&root.path().join("blobs/sha256")), 0);
    let layers = fsdriver::layer::LayerStore::open(root.path()).unwrap();
    assert_eq!(
        layers.list().unwrap(),
        [Digest::of_bytes(&tar)],
        "only the leased layer is kept"
    );
    assert!(leased[0].join("bin/busybox").is_file());
    store.release_layers(CONTAINER).unwrap();
    assert_empty(root.path());
}

#[test]
fn a_lease_not_given_back_at_reopen_lets_its_layers_go() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    {
        let store = ImageStore::open(root.path()).unwrap();
        let image = import(&store, &busybox_tar(), Some("busybox"));
        store.lease_layers(CONTAINER, &image).unwrap();
        store.remove("busybox", false, &not_used).unwrap();
    }
    // A create that never wrote its record: nothing leases the layers any more.
    ImageStore::open_with_leases(root.path(), LayerLeases::new()).unwrap();
    assert_empty(root.path());
}

#[test]
fn unknown_leases_at_reopen_collect_nothing() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let tar = busybox_tar();
    {
        let store = ImageStore::open(root.path()).unwrap();
        let image = import(&store, &tar, Some("busybox"));
        store.lease_layers(CONTAINER, &image).unwrap();
        store.remove("busybox", false, &not_used).unwrap();
    }
    let listed = || {
        fsdriver::layer::LayerStore::open(root.path())
            .unwrap()
            .list()
            .unwrap()
    };
    // A container's record that could not be read: its layers are unknown.
    let mut unreadable = LayerLeases::new();
    unreadable.mark_incomplete();
    let store = ImageStore::open_with_leases(root.path(), unreadable).unwrap();
    assert_eq!(listed(), [Digest::of_bytes(&tar)]);
    assert_eq!(store.gc().unwrap_err().kind(), ErrorKind::Internal);
    drop(store);
    // A record naming a directory that is not one of the store's layers.
    let mut foreign = LayerLeases::new();
    foreign.hold(CONTAINER, vec![root.path().join("elsewhere/diff")]);
    let store = ImageStore::open_with_leases(root.path(), foreign).unwrap();
    assert_eq!(listed(), [Digest::of_bytes(&tar)]);
    assert!(store.gc().is_err());
}

#[test]
fn lease_files_of_older_versions_are_removed_at_open() {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("leases")).unwrap();
    fs::write(root.path().join("leases").join(CONTAINER), b"[]").unwrap();
    ImageStore::open(root.path()).unwrap();
    assert!(!root.path().join("leases").exists());
}

#[test]
fn the_store_is_shareable_across_threads() {
    if skipped_without_root() {
        return;
    }
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ImageStore>();
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    std::thread::scope(|s| {
        for i in 0..4 {
            let store = &store;
            s.spawn(move || {
                let tag = format!("img{i}");
                store
                    .import(
                        &busybox_tar()[..],
                        Some(&tag),
                        changes(&[&format!("ENV I={i}")]),
                    )
                    .unwrap();
            });
        }
    });
    assert_eq!(store.list().len(), 4);
}

#[test]
fn gc_collects_what_nothing_references() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let kept = import(&store, &busybox_tar(), Some("kept"));
    assert_eq!(store.gc().unwrap(), berth_images::Collected::default());

    // What an interrupted pull leaves while the daemon runs: a blob, a layer.
    let orphan_blob = fsdriver::content::ContentStore::open(root.path())
        .unwrap()
        .put(b"an orphan blob")
        .unwrap()
        .digest;
    let orphan_layer = fsdriver::layer::LayerStore::open(root.path())
        .unwrap()
        .extract(&layer_tar(&[("orphan", &[7u8; 10_000])])[..])
        .unwrap()
        .diff_id;
    let before = store.layers_disk_usage().unwrap();
    let collected = store.gc().unwrap();
    assert_eq!(collected.layers, [orphan_layer]);
    let after = store.layers_disk_usage().unwrap();
    assert_eq!(before.content - after.content, 10_000);
    assert!(
        before.allocated - after.allocated >= 10_000,
        "{before:?} {after:?}"
    );
    assert_eq!(collected.blobs, [orphan_blob]);
    assert!(
        collected.bytes_freed >= 10_000 + 14,
        "{} bytes freed",
        collected.bytes_freed
    );
    assert_eq!(store.gc().unwrap(), berth_images::Collected::default());
    let image = store.resolve("kept").unwrap();
    assert_eq!(image.id, kept.id);
    assert!(store.rootfs_layers(&image).unwrap()[0]
        .join("bin/busybox")
        .is_file());
    store.remove("kept", false, &not_used).unwrap();
    assert_empty(root.path());
}

#[test]
fn gc_refuses_when_an_image_could_not_be_loaded() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let image = {
        let store = ImageStore::open(root.path()).unwrap();
        import(&store, &busybox_tar(), Some("busybox"))
    };
    let image_file = root
        .path()
        .join("images")
        .join(format!("{}.json", image.id.hex()));
    fs::write(&image_file, b"{ not json").unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let err = store.gc().unwrap_err();
    assert!(err.to_string().contains("could not be loaded"), "{err}");
    // Its layer and blobs are all still there.
    assert_eq!(count(&root.path().join("blobs/sha256")), 3);
    assert_eq!(count(&root.path().join("layers")), 1);
}

/// An overlay upper directory, as a container leaves it: a new file, a changed file and a
/// deleted one (a 0/0 character device).
fn upper_dir(dir: &Path) {
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::write(dir.join("etc/hostname"), b"box\n").unwrap();
    fs::write(dir.join("etc/motd"), b"hello\n").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("etc/passwd"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
}

#[test]
fn commit_adds_the_upper_directory_as_a_layer_on_the_parent() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let parent = import(&store, &busybox_tar(), Some("busybox"));
    let work = tempfile::tempdir().unwrap();
    let upper = work.path().join("upper");
    upper_dir(&upper);
    let options = berth_images::CommitOptions {
        reference: Some("committed:v1".into()),
        comment: "a comment".into(),
        author: "someone".into(),
        config: Default::default(),
        changes: vec!["ENV A=1".into(), r#"CMD ["echo","x"]"#.into()],
        created_by: "sh -c edit".into(),
        skip: vec!["etc/hostname".into()],
        healthcheck: Some(serde_json::json!({"Test": ["CMD", "true"], "Interval": 1000000000})),
    };
    let image = store
        .commit(&parent.id, &upper, &work.path().join("scratch"), options)
        .unwrap();

    assert_eq!(image.repo_tags, ["committed:v1"]);
    assert_eq!(image.layers.len(), 2);
    assert_eq!(image.layers[0], parent.layers[0]);
    let config = &image.config;
    assert_eq!(config.author().as_deref(), Some("someone"));
    let run = config.config().as_ref().unwrap();
    assert_eq!(run.env().as_deref(), Some(&["A=1".to_string()][..]));
    assert_eq!(
        run.cmd().as_deref(),
        Some(&["echo".to_string(), "x".to_string()][..])
    );
    let history = config.history().as_ref().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].comment().as_deref(), Some("a comment"));
    assert_eq!(history[1].created_by().as_deref(), Some("sh -c edit"));
    // Docker's healthcheck, which the OCI config has no field for, is in the config blob.
    assert_eq!(
        image.healthcheck.as_ref().unwrap()["Test"],
        serde_json::json!(["CMD", "true"])
    );
    let blob: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&image.id).unwrap()).unwrap();
    assert_eq!(blob["config"]["Healthcheck"]["Interval"], 1000000000);
    let manifest = parse_manifest(&store.read_blob(&image.manifest).unwrap()).unwrap();
    assert_eq!(manifest.layers().len(), 2);

    // The new layer holds the changes, and the deletion as overlayfs' whiteout again.
    let layers = store.rootfs_layers(&image).unwrap();
    assert_eq!(fs::read(layers[0].join("etc/motd")).unwrap(), b"hello\n");
    assert!(
        !layers[0].join("etc/hostname").exists(),
        "skipped paths stay out of the layer"
    );
    let whiteout = fs::symlink_metadata(layers[0].join("etc/passwd")).unwrap();
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert_eq!(
        count(&work.path().join("scratch")),
        0,
        "no temporary file left"
    );

    // The parent can go: the committed image keeps the shared layer.
    store.remove("busybox", false, &not_used).unwrap();
    assert_eq!(store.rootfs_layers(&image).unwrap().len(), 2);
}

#[test]
fn bad_commits_store_nothing() {
    if skipped_without_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let parent = import(&store, &busybox_tar(), None);
    let work = tempfile::tempdir().unwrap();
    let upper = work.path().join("upper");
    upper_dir(&upper);
    let blobs_before = count(&root.path().join("blobs/sha256"));
    let commit = |options: berth_images::CommitOptions, parent: &Digest| {
        store.commit(parent, &upper, &work.path().join("scratch"), options)
    };
    let err = commit(
        berth_images::CommitOptions {
            changes: vec!["RUN true".into()],
            ..Default::default()
        },
        &parent.id,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = commit(
        berth_images::CommitOptions {
            reference: Some("Bad Name".into()),
            ..Default::default()
        },
        &parent.id,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = commit(Default::default(), &Digest::of_bytes(b"no such image")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(count(&root.path().join("blobs/sha256")), blobs_before);
    assert_eq!(count(&root.path().join("layers")), 1);
    assert_eq!(store.list().len(), 1);
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
