//! Pull, push, login and TLS against Debian's docker-registry on loopback, through berth
//! and the real docker CLI; bad registry answers through a scripted registry.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::process::Command;

use berth_tests::fake_registry::{FakeRegistry, Route};
use berth_tests::registry::{DockerRegistry, HostsEntry, RegistryOptions, TestCa};
use berth_tests::{run_command, Daemon, Output};
use sha2::Digest as _;

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[track_caller]
fn skopeo(args: &[&str]) -> Output {
    let mut cmd = Command::new("skopeo");
    cmd.args(args);
    run_command(cmd, None)
}

/// Blobs, layers and images in the daemon's store, plus leftovers of interrupted writes.
fn store_snapshot(daemon: &Daemon) -> BTreeSet<String> {
    let root = daemon.data_root.join("image");
    let mut all = BTreeSet::new();
    for dir in ["blobs/sha256", "blobs/ingest", "layers", "images"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for entry in entries.flatten() {
                all.insert(format!("{dir}/{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    all.insert(format!(
        "tags: {}",
        std::fs::read_to_string(root.join("repositories.json")).unwrap_or_default()
    ));
    all
}

#[test]
fn berth_pushes_and_pulls_by_tag_digest_and_all_tags() {
    berth_tests::needs_root!();
    let registry = DockerRegistry::start();
    let daemon = Daemon::with_busybox();
    let name = format!("{}/team/busybox", registry.domain());
    daemon
        .berth(&["tag", "busybox", &format!("{name}:v1")])
        .ok();
    daemon
        .berth(&["tag", "busybox", &format!("{name}:v2")])
        .ok();
    let pushed = daemon.berth(&["push", "--all-tags", &name]).ok();
    assert!(
        pushed
            .stdout
            .contains(&format!("The push refers to repository [{name}]")),
        "{pushed}"
    );
    assert!(pushed.stdout.contains("v1: digest: sha256:"), "{pushed}");
    assert!(pushed.stdout.contains("v2: digest: sha256:"), "{pushed}");
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ])
    .ok();
    assert!(
        tags.stdout.contains("\"v1\"") && tags.stdout.contains("\"v2\""),
        "{tags}"
    );

    // Nothing local any more: the pull downloads the layer and the image runs.
    daemon
        .berth(&[
            "rmi",
            "busybox",
            &format!("{name}:v1"),
            &format!("{name}:v2"),
        ])
        .ok();
    let pulled = daemon.berth(&["pull", &format!("{name}:v1")]).ok();
    assert!(pulled.stdout.contains("Pull complete"), "{pulled}");
    assert!(
        pulled
            .stdout
            .contains(&format!("Status: Downloaded newer image for {name}:v1")),
        "{pulled}"
    );
    assert!(
        pulled.stdout.trim_end().ends_with(&format!("{name}:v1")),
        "{pulled}"
    );
    let ran = daemon
        .berth(&["run", "--rm", &format!("{name}:v1"), "echo", "pulled"])
        .ok();
    assert_eq!(ran.out(), "pulled");

    // The same layer under another tag is never downloaded again.
    let again = daemon.berth(&["pull", &format!("{name}:v2")]).ok();
    assert!(again.stdout.contains("Already exists"), "{again}");
    assert!(!again.stdout.contains("Pull complete"), "{again}");
    let up_to_date = daemon.berth(&["pull", &format!("{name}:v2")]).ok();
    assert!(
        up_to_date.stdout.contains("Image is up to date"),
        "{up_to_date}"
    );

    // By digest.
    let digests = daemon
        .berth(&["images", "--digests", "--format", "{{.Digest}}", &name])
        .ok();
    let digest = digests.lines()[0].to_owned();
    assert!(digest.starts_with("sha256:"), "{digests}");
    daemon.berth(&["rmi", "-f", &format!("{name}:v1")]).ok();
    daemon.berth(&["rmi", "-f", &format!("{name}:v2")]).ok();
    let by_digest = daemon.berth(&["pull", &format!("{name}@{digest}")]).ok();
    assert!(
        by_digest.stdout.contains(&format!("{name}@{digest}")),
        "{by_digest}"
    );
    daemon.berth(&["rmi", &format!("{name}@{digest}")]).ok();

    // Every tag.
    let all = daemon.berth(&["pull", "-a", &name]).ok();
    assert!(
        all.stdout.contains("v1: Pulling from team/busybox"),
        "{all}"
    );
    assert!(
        all.stdout.contains("v2: Pulling from team/busybox"),
        "{all}"
    );
    let listed = daemon
        .berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    let mut lines = listed.lines();
    lines.sort();
    assert_eq!(lines, [format!("{name}:v1"), format!("{name}:v2")]);

    // A tag the registry does not have.
    let missing = daemon.berth(&["pull", &format!("{name}:nope")]).fails();
    assert!(missing.stderr.contains("not found"), "{missing}");
}

#[test]
fn the_docker_cli_pulls_pushes_saves_loads_tags_and_removes() {
    berth_tests::needs_root!();
    let registry = DockerRegistry::start();
    let daemon = Daemon::with_busybox();
    let image = format!("{}/docker/busybox:1.0", registry.domain());
    daemon.docker(&["tag", "busybox", &image]).ok();
    let pushed = daemon.docker(&["push", &image]).ok();
    assert!(pushed.stdout.contains("1.0: digest: sha256:"), "{pushed}");
    daemon.docker(&["rmi", &image, "busybox"]).ok();
    assert_eq!(daemon.docker(&["images", "-q"]).ok().out(), "");
    let pulled = daemon.docker(&["pull", &image]).ok();
    assert!(pulled.stdout.contains("Pull complete"), "{pulled}");
    let listed = daemon
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert_eq!(listed.out(), image);
    let ran = daemon
        .docker(&["run", "--rm", &image, "echo", "via docker"])
        .ok();
    assert_eq!(ran.out(), "via docker");

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    let archive_arg = archive.to_str().unwrap();
    daemon.docker(&["save", "-o", archive_arg, &image]).ok();
    daemon.docker(&["rmi", &image]).ok();
    let loaded = daemon.docker(&["load", "-i", archive_arg]).ok();
    assert!(
        loaded.stdout.contains(&format!("Loaded image: {image}")),
        "{loaded}"
    );
    daemon.docker(&["tag", &image, "copy:latest"]).ok();
    let removed = daemon.docker(&["rmi", "copy"]).ok();
    assert_eq!(removed.out(), "Untagged: copy:latest");
}

#[test]
fn basic_auth_login_and_logout() {
    berth_tests::needs_root!();
    let registry = DockerRegistry::start_with(RegistryOptions {
        user: Some(("alice".into(), "s3cret".into())),
        tls: None,
    });
    let daemon = Daemon::with_busybox();
    let domain = registry.domain();
    let image = format!("{domain}/private/busybox:1");
    daemon.berth(&["tag", "busybox", &image]).ok();
    let refused = daemon.berth(&["push", &image]).fails();
    assert!(
        refused.stderr.contains("authentication required"),
        "{refused}"
    );
    let wrong = daemon
        .berth(&["login", "-u", "alice", "-p", "wrong", &domain])
        .fails();
    assert!(wrong.stderr.contains("unauthorized"), "{wrong}");

    let logged_in = daemon
        .docker_stdin(
            &["login", "-u", "alice", "--password-stdin", &domain],
            b"s3cret\n",
        )
        .ok();
    assert!(logged_in.stdout.contains("Login Succeeded"), "{logged_in}");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(daemon.docker_config().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["auths"][&domain]["auth"], "YWxpY2U6czNjcmV0");

    // berth uses the login docker stored, and the docker CLI one berth stored.
    daemon.berth(&["push", &image]).ok();
    daemon.berth(&["logout", &domain]).ok();
    daemon.berth(&["rmi", &image]).ok();
    daemon.docker(&["pull", &image]).fails();
    daemon
        .berth(&["login", "-u", "alice", "-p", "s3cret", &domain])
        .ok();
    let pulled = daemon.docker(&["pull", &image]).ok();
    assert!(pulled.stdout.contains("Downloaded newer image"), "{pulled}");
    let out = daemon.berth(&["logout", &domain]).ok();
    assert_eq!(
        out.out(),
        format!("Removing login credentials for {domain}")
    );
}

#[test]
fn tls_registries_are_trusted_through_certs_d() {
    berth_tests::needs_root!();
    let dir = tempfile::tempdir().unwrap();
    let name = format!("berth-registry-{}.test", std::process::id());
    let _hosts = HostsEntry::add(&name);
    let ca = TestCa::create(&dir.path().join("tls"), &name);
    let registry = DockerRegistry::start_with(RegistryOptions {
        user: None,
        tls: Some((ca.server_cert.clone(), ca.server_key.clone())),
    });
    let certs_dir = dir.path().join("certs.d");
    std::fs::create_dir_all(&certs_dir).unwrap();
    let daemon = Daemon::start_with(&[
        "--registry-certs-dir".into(),
        certs_dir.to_str().unwrap().into(),
    ]);
    daemon.import_busybox();
    let domain = format!("{name}:{}", registry.port);
    let image = format!("{domain}/secure/busybox:1");
    daemon.berth(&["tag", "busybox", &image]).ok();
    let untrusted = daemon.berth(&["push", &image]).fails();
    assert!(
        untrusted.stderr.to_lowercase().contains("certificate"),
        "{untrusted}"
    );

    let host_dir = certs_dir.join(&domain);
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(&ca.ca_cert, host_dir.join("ca.crt")).unwrap();
    daemon.berth(&["push", &image]).ok();
    daemon.berth(&["rmi", &image, "busybox"]).ok();
    daemon.berth(&["pull", &image]).ok();
    daemon.berth(&["run", "--rm", &image, "true"]).ok();
}

#[test]
fn insecure_registries_skip_verification() {
    berth_tests::needs_root!();
    let dir = tempfile::tempdir().unwrap();
    let name = format!("berth-insecure-{}.test", std::process::id());
    let _hosts = HostsEntry::add(&name);
    let ca = TestCa::create(&dir.path().join("tls"), &name);
    let registry = DockerRegistry::start_with(RegistryOptions {
        user: None,
        tls: Some((ca.server_cert.clone(), ca.server_key.clone())),
    });
    let domain = format!("{name}:{}", registry.port);
    let daemon = Daemon::start_with(&[
        "--insecure-registry".into(),
        domain.clone(),
        "--registry-certs-dir".into(),
        dir.path().join("none").to_str().unwrap().into(),
    ]);
    daemon.import_busybox();
    let image = format!("{domain}/insecure/busybox:1");
    daemon.berth(&["tag", "busybox", &image]).ok();
    daemon.berth(&["push", &image]).ok();
}

#[test]
fn skopeo_moves_images_between_berth_archives_oci_layouts_and_registries() {
    berth_tests::needs_root!();
    let registry = DockerRegistry::start();
    let daemon = Daemon::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();

    // berth save → skopeo → OCI layout → registry → berth pull.
    daemon
        .berth(&["save", "-o", &path("saved.tar"), "busybox"])
        .ok();
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", path("saved.tar")),
        &format!("oci:{}:tag1", path("layout")),
    ])
    .ok();
    let remote = format!("{}/from-skopeo/busybox:1", registry.domain());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:tag1", path("layout")),
        &format!("docker://{remote}"),
    ])
    .ok();
    daemon.berth(&["pull", &remote]).ok();
    daemon.berth(&["run", "--rm", &remote, "true"]).ok();

    // berth push → skopeo → OCI archive → berth load; → docker-archive → berth load.
    let pushed = format!("{}/from-berth/busybox:2", registry.domain());
    daemon.berth(&["tag", "busybox", &pushed]).ok();
    daemon.berth(&["push", &pushed]).ok();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{pushed}"),
        &format!("oci-archive:{}:img/oci:9", path("oci.tar")),
    ])
    .ok();
    let loaded = daemon.berth(&["load", "-i", &path("oci.tar")]).ok();
    assert_eq!(loaded.out(), "Loaded image: img/oci:9");
    skopeo(&[
        "copy",
        &format!("oci-archive:{}", path("oci.tar")),
        &format!("docker-archive:{}:img/docker:8", path("docker.tar")),
    ])
    .ok();
    let loaded = daemon.berth(&["load", "-i", &path("docker.tar")]).ok();
    assert_eq!(loaded.out(), "Loaded image: img/docker:8");
    let ran = daemon
        .berth(&["run", "--rm", "img/docker:8", "echo", "loaded"])
        .ok();
    assert_eq!(ran.out(), "loaded");

    // A berth archive read back by skopeo as an OCI archive too (Docker 25's layout).
    skopeo(&["inspect", &format!("oci-archive:{}", path("saved.tar"))]).ok();
}

/// A gzip layer with one file, its diff_id, and an image (config, manifest) around it.
struct FakeImage {
    layer: Vec<u8>,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

fn fake_image() -> FakeImage {
    let mut tar = tar::Builder::new(Vec::new());
    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "data.bin", &content[..])
        .unwrap();
    let uncompressed = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    gz.write_all(&uncompressed).unwrap();
    let layer = gz.finish().unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&uncompressed)]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}],
    }))
    .unwrap();
    FakeImage {
        layer,
        config,
        manifest,
    }
}

fn routes(image: &FakeImage, layer: Route, manifest: Vec<u8>) -> HashMap<String, Route> {
    let mut routes = HashMap::new();
    routes.insert(
        "/v2/bad/manifests/1".into(),
        Route::new("application/vnd.oci.image.manifest.v1+json", manifest),
    );
    routes.insert(
        format!("/v2/bad/blobs/{}", sha256(&image.config)),
        Route::new("application/octet-stream", image.config.clone()),
    );
    routes.insert(format!("/v2/bad/blobs/{}", sha256(&image.layer)), layer);
    routes
}

#[test]
fn bad_registry_answers_are_refused_and_leave_the_store_unchanged() {
    berth_tests::needs_root!();
    let image = fake_image();
    let daemon = Daemon::with_busybox();
    let before = store_snapshot(&daemon);
    let octet = "application/octet-stream";

    // A blob whose bytes do not match its digest.
    let mut corrupted = image.layer.clone();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0xff;
    let registry = FakeRegistry::start(routes(
        &image,
        Route::new(octet, corrupted),
        image.manifest.clone(),
    ));
    let failed = daemon
        .berth(&["pull", &format!("{}/bad:1", registry.domain())])
        .fails();
    assert!(
        failed.stderr.contains("digest mismatch") || failed.stderr.contains("invalid layer"),
        "{failed}"
    );
    assert_eq!(store_snapshot(&daemon), before);

    // A blob cut short at the source.
    let mut truncated = Route::new(octet, image.layer.clone());
    truncated.truncate_at = Some(image.layer.len() / 3);
    let registry = FakeRegistry::start(routes(&image, truncated, image.manifest.clone()));
    let failed = daemon
        .berth(&["pull", &format!("{}/bad:1", registry.domain())])
        .fails();
    assert!(failed.stderr.contains("truncated"), "{failed}");
    assert_eq!(store_snapshot(&daemon), before);

    // A malformed manifest.
    let registry = FakeRegistry::start(routes(
        &image,
        Route::new(octet, image.layer.clone()),
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:nothex"},"layers":[]}"#.to_vec(),
    ));
    let failed = daemon
        .berth(&["pull", &format!("{}/bad:1", registry.domain())])
        .fails();
    assert!(
        failed.stderr.contains("malformed image manifest"),
        "{failed}"
    );
    assert_eq!(store_snapshot(&daemon), before);

    // A config that is not the one the manifest names.
    let mut other = routes(
        &image,
        Route::new(octet, image.layer.clone()),
        image.manifest.clone(),
    );
    other.insert(
        format!("/v2/bad/blobs/{}", sha256(&image.config)),
        Route::new(octet, b"{\"rootfs\":{}}".to_vec()),
    );
    let registry = FakeRegistry::start(other);
    let failed = daemon
        .berth(&["pull", &format!("{}/bad:1", registry.domain())])
        .fails();
    assert!(failed.stderr.contains("verification failed"), "{failed}");
    assert_eq!(store_snapshot(&daemon), before);
}

#[test]
fn a_dropped_connection_is_resumed_with_range() {
    berth_tests::needs_root!();
    let image = fake_image();
    let daemon = Daemon::start();
    let mut dropping = Route::new("application/octet-stream", image.layer.clone());
    dropping.drop_first_after = Some(image.layer.len() / 2);
    let registry = FakeRegistry::start(routes(&image, dropping, image.manifest.clone()));
    let reference = format!("{}/bad:1", registry.domain());
    daemon.berth(&["pull", &reference]).ok();
    let ranged: Vec<String> = registry
        .requests()
        .into_iter()
        .filter(|r| r.contains(" range="))
        .collect();
    assert_eq!(
        ranged,
        [format!(
            "GET /v2/bad/blobs/{} range={}",
            sha256(&image.layer),
            image.layer.len() / 2
        )]
    );
    let id = daemon
        .berth(&["images", "-q", "--no-trunc", &reference])
        .ok();
    assert_eq!(id.out(), sha256(&image.config));
}
