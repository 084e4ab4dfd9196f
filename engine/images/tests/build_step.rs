//! `build_step`: the images a build's steps make, through the store's public API.

use berth_images::{BuildStep, ImageStore, ImportOptions, StepLayer};
use oci_spec::image::Config;

fn base_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(5);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, "etc/base", &b"base\n"[..])
        .unwrap();
    builder.into_inner().unwrap()
}

fn step(created_by: &str, user: &str) -> BuildStep {
    let mut config = Config::default();
    config.set_user(Some(user.to_string()));
    BuildStep {
        config,
        created_by: created_by.to_string(),
        author: None,
        healthcheck: None,
        on_build: Vec::new(),
    }
}

#[test]
fn configuration_steps_add_history_and_file_steps_add_layers() {
    let root = tempfile::tempdir().unwrap();
    let scratch = root.path().join("scratch");
    let store = ImageStore::open(&root.path().join("store")).unwrap();
    let base = store
        .import(&base_tar()[..], Some("base"), ImportOptions::default())
        .unwrap();

    let env = store
        .build_step(
            Some(&base.id),
            None,
            &scratch,
            step("/bin/sh -c #(nop)  ENV A=1", "app"),
        )
        .unwrap();
    assert_eq!(env.layers, base.layers, "no layer for a configuration step");
    let history = env.config.history().clone().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[1].created_by().as_deref(),
        Some("/bin/sh -c #(nop)  ENV A=1")
    );
    assert_eq!(history[1].empty_layer(), Some(true));
    assert_eq!(
        env.config.config().as_ref().unwrap().user().as_deref(),
        Some("app")
    );

    let upper = root.path().join("upper");
    std::fs::create_dir_all(upper.join("srv")).unwrap();
    std::fs::write(upper.join("srv/file"), "copied").unwrap();
    let copy = store
        .build_step(
            Some(&env.id),
            Some(StepLayer::Upper {
                upper: &upper,
                skip: &[],
            }),
            &scratch,
            step("/bin/sh -c #(nop) COPY file:x in /srv ", "app"),
        )
        .unwrap();
    assert_eq!(copy.layers.len(), 2);
    assert_eq!(copy.layers[0], base.layers[0]);
    assert_eq!(copy.config.rootfs().diff_ids().len(), 2);
    assert!(store.contains(&copy.id));
    let history = copy.config.history().clone().unwrap();
    assert_eq!(history[2].empty_layer(), None);
    let layer_dirs = store.rootfs_layers(&copy).unwrap();
    assert_eq!(
        std::fs::read_to_string(layer_dirs[0].join("srv/file")).unwrap(),
        "copied"
    );
    // Untagged: the build tags the last step itself.
    assert!(copy.repo_tags.is_empty());
}

#[test]
fn a_step_on_nothing_starts_an_image_and_a_removed_parent_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let scratch = root.path().join("scratch");
    let store = ImageStore::open(&root.path().join("store")).unwrap();
    let first = store
        .build_step(
            None,
            None,
            &scratch,
            step("/bin/sh -c #(nop)  CMD [\"x\"]", "0"),
        )
        .unwrap();
    assert!(first.layers.is_empty());
    assert_eq!(first.config.history().clone().unwrap().len(), 1);

    let missing = berth_images::Digest::of_bytes(b"no such image");
    let err = store
        .build_step(Some(&missing), None, &scratch, step("x", "0"))
        .unwrap_err();
    assert_eq!(err.kind(), berth_images::ErrorKind::NotFound);
}
