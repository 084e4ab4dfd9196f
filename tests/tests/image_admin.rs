//! `history`, `image prune` and `system df`, through berth and the docker CLI; `rmi` of
//! images sharing a layer; `load` of archives the store has in part, or that lie.

use berth_tests::{busybox_tar, Daemon};

#[test]
fn history_prune_and_df_read_like_dockers() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    for tool in ["berth", "docker"] {
        let run = |args: &[&str]| {
            if tool == "berth" {
                daemon.berth(args)
            } else {
                daemon.docker(args)
            }
        };
        let history = run(&["history", "busybox"]).ok();
        let lines = history.lines();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"],
            "{history}"
        );
        assert!(lines[1].contains("Imported from -"), "{history}");
        let df = run(&["system", "df"]).ok();
        assert!(
            df.stdout.contains("Images          1         0"),
            "{tool}: {df}"
        );
    }

    // `system df` reports the disk space the store takes (blobs and extracted layers, files
    // shared between layers counted once), as du sees it, and both CLIs print it alike.
    let usage = daemon.api("GET", "/system/df", None).json();
    let layers_size = usage["LayersSize"].as_u64().unwrap();
    let du = std::process::Command::new("du")
        .args(["-s", "-B1"])
        .arg(daemon.data_root.join("image"))
        .output()
        .unwrap();
    let du: u64 = String::from_utf8_lossy(&du.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let content = usage["Images"][0]["Size"].as_u64().unwrap();
    assert!(
        layers_size > 2 * content * 9 / 10,
        "the layer blob and the extracted layer both count: {layers_size} vs {content}"
    );
    assert!(
        layers_size * 10 > du * 9 && layers_size * 10 < du * 11,
        "LayersSize {layers_size}, du {du}"
    );
    assert_eq!(
        daemon.berth(&["system", "df"]).ok().stdout,
        daemon.docker(&["system", "df"]).ok().stdout
    );

    // An untagged import sharing busybox's layer: pruning it reclaims only its config and
    // manifest, and the tagged image keeps its layer.
    let tar = busybox_tar().to_str().unwrap().to_owned();
    daemon.berth(&["import", &tar]).ok();
    assert_eq!(daemon.images().as_array().unwrap().len(), 2);
    let pruned = daemon.berth(&["image", "prune", "-f"]).ok();
    assert!(pruned.stdout.contains("deleted: sha256:"), "{pruned}");
    let reclaimed = pruned
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Total reclaimed space: "))
        .unwrap_or_else(|| panic!("{pruned}"));
    assert!(
        reclaimed != "0B"
            && (reclaimed.ends_with("kB") || reclaimed.ends_with("B"))
            && !reclaimed.ends_with("MB"),
        "{pruned}"
    );
    daemon.berth(&["run", "--rm", "busybox", "true"]).ok();

    // A container keeps its image from `prune -a`; without it the image goes.
    daemon
        .berth(&["create", "--name", "keeper", "busybox", "true"])
        .ok();
    let kept = daemon.docker(&["image", "prune", "-af"]).ok();
    assert!(kept.stdout.contains("Total reclaimed space: 0B"), "{kept}");
    daemon.berth(&["rm", "keeper"]).ok();
    // A blob no image references (what an interrupted pull leaves) is collected too.
    let stray = b"left by an interrupted pull";
    let stray_path = daemon
        .data_root
        .join("image/blobs/sha256")
        .join(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(stray)));
    std::fs::write(&stray_path, stray).unwrap();
    let gone = daemon.docker(&["image", "prune", "-af"]).ok();
    assert!(!stray_path.exists(), "prune collects unreferenced blobs");
    assert!(gone.stdout.contains("untagged: busybox:latest"), "{gone}");
    assert!(
        gone.stdout.contains("MB\n"),
        "the layer and its blob go: {gone}"
    );
    assert_eq!(daemon.images().as_array().unwrap().len(), 0);
    // Nothing of the image is left in the store.
    for dir in ["image/layers", "image/blobs/sha256"] {
        let left: Vec<_> = std::fs::read_dir(daemon.data_root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{dir}: {left:?}");
    }
}

#[test]
fn removing_one_of_two_images_sharing_a_layer_keeps_the_other_whole() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let tar = busybox_tar().to_str().unwrap().to_owned();
    // Same layer, another image (another creation time, so another config).
    daemon
        .berth(&["import", "--change", "ENV A=1", &tar, "other"])
        .ok();
    daemon.berth(&["rmi", "busybox"]).ok();
    assert_eq!(
        daemon
            .berth(&["run", "--rm", "other", "sh", "-c", "echo $A"])
            .ok()
            .out(),
        "1"
    );
    daemon.berth(&["rmi", "other"]).ok();
    let layers = std::fs::read_dir(daemon.data_root.join("image/layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 0, "the shared layer goes with the last image");
}

#[test]
fn export_writes_the_containers_file_system() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    daemon
        .berth(&[
            "run",
            "--name",
            "changed",
            "busybox",
            "sh",
            "-c",
            "echo hello > /greeting && rm /bin/ls",
        ])
        .ok();
    let dir = tempfile::tempdir().unwrap();
    let berth_tar = dir.path().join("berth.tar");
    daemon
        .berth(&["export", "-o", berth_tar.to_str().unwrap(), "changed"])
        .ok();
    let docker_tar = dir.path().join("docker.tar");
    daemon
        .docker(&["export", "-o", docker_tar.to_str().unwrap(), "changed"])
        .ok();
    for tar in [&berth_tar, &docker_tar] {
        let mut archive = tar::Archive::new(std::fs::File::open(tar).unwrap());
        let mut greeting = None;
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            if name.ends_with("greeting") {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
                greeting = Some(text);
            }
            names.push(name);
        }
        assert_eq!(greeting.as_deref(), Some("hello\n"));
        assert!(names.iter().any(|n| n.ends_with("bin/sh")), "{names:?}");
        assert!(
            !names.iter().any(|n| n.ends_with("bin/ls")),
            "the deleted file is gone"
        );
    }
    // What export wrote imports back as a working image.
    daemon
        .berth(&["import", berth_tar.to_str().unwrap(), "exported"])
        .ok();
    assert_eq!(
        daemon
            .berth(&["run", "--rm", "exported", "cat", "/greeting"])
            .ok()
            .out(),
        "hello"
    );
}

/// Identity and change time of a file: a re-extraction of its layer would link it into the
/// shared-file index again (and drop the copy), which changes its ctime.
fn stamp(path: &std::path::Path) -> (u64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).unwrap();
    (meta.ino(), meta.ctime(), meta.ctime_nsec())
}

/// Every blob, layer, image and blob or layer being written, by name.
fn stored(daemon: &Daemon) -> Vec<String> {
    let root = daemon.data_root.join("image");
    let mut all = Vec::new();
    for dir in ["blobs/sha256", "blobs/ingest", "layers", "images"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            all.push(format!(
                "{dir}/{}",
                entry.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    all.sort();
    all
}

/// Where, in `archive`, the first byte of content of the first non-empty file of its
/// largest member (the layer) is.
fn layer_file_byte(archive: &[u8]) -> usize {
    let mut outer = tar::Archive::new(archive);
    let (start, size) = outer
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.raw_file_position() as usize, e.size() as usize))
        .max_by_key(|(_, size)| *size)
        .unwrap();
    let mut inner = tar::Archive::new(&archive[start..start + size]);
    let file = inner
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.header().entry_type().is_file() && e.size() > 0)
        .expect("the layer has a file");
    start + file.raw_file_position() as usize
}

#[test]
fn a_load_whose_layer_is_not_its_diff_id_is_refused_and_stores_nothing() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("busybox.tar");
    let tampered = dir.path().join("tampered.tar");
    daemon
        .berth(&["save", "-o", saved.to_str().unwrap(), "busybox"])
        .ok();
    // One byte of a file changed: the layer is still a valid tar, but not the one the
    // image's config names.
    let mut archive = std::fs::read(&saved).unwrap();
    let at = layer_file_byte(&archive);
    archive[at] ^= 0xff;
    std::fs::write(&tampered, &archive).unwrap();
    daemon.berth(&["rmi", "busybox"]).ok();
    let empty = stored(&daemon);

    for client in ["berth", "docker"] {
        let args = ["load", "-i", tampered.to_str().unwrap()];
        let refused = match client {
            "berth" => daemon.berth(&args).fails(),
            _ => daemon.docker(&args).fails(),
        };
        assert!(
            refused.stderr.contains("does not match its diff_id"),
            "{client}: {refused}"
        );
        assert_eq!(stored(&daemon), empty, "{client}");
    }
    daemon.berth(&["load", "-i", saved.to_str().unwrap()]).ok();
    assert_eq!(
        daemon
            .berth(&["run", "--rm", "busybox", "echo", "loaded"])
            .ok()
            .out(),
        "loaded"
    );
}

#[test]
fn loading_an_archive_again_does_not_extract_its_layers_again() {
    berth_tests::needs_root!();
    let daemon = Daemon::with_busybox();
    let layers = daemon.data_root.join("image/layers");
    let layer = std::fs::read_dir(&layers)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .expect("busybox has a layer");
    let busybox = layer.join("diff/bin/busybox");
    let before = (stamp(&layer), stamp(&busybox));

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    let archive = archive.to_str().unwrap();
    daemon.berth(&["save", "-o", archive, "busybox"]).ok();
    // Docker's archive form, then with the image gone and its layer kept by a container,
    // and through the docker CLI.
    daemon.berth(&["load", "-i", archive]).ok();
    daemon
        .berth(&["create", "--name", "keeper", "busybox", "true"])
        .ok();
    daemon.berth(&["rmi", "-f", "busybox"]).ok();
    daemon.docker(&["load", "-i", archive]).ok();
    assert_eq!(
        (stamp(&layer), stamp(&busybox)),
        before,
        "the stored layer was extracted again"
    );
    assert_eq!(
        daemon
            .berth(&["run", "--rm", "busybox", "echo", "loaded"])
            .ok()
            .out(),
        "loaded"
    );
}
