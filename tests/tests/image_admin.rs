//! `history`, `image prune` and `system df`, through berth and the docker CLI; `rmi` of
//! images sharing a layer.

use berth_tests::{busybox_tar, Daemon};

#[test]
fn history_prune_and_df_read_like_dockers() {
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

    // An untagged import sharing busybox's layer: pruning it reclaims nothing, and the
    // tagged image keeps its layer.
    let tar = busybox_tar().to_str().unwrap().to_owned();
    daemon.berth(&["import", &tar]).ok();
    assert_eq!(daemon.images().as_array().unwrap().len(), 2);
    let pruned = daemon.berth(&["image", "prune", "-f"]).ok();
    assert!(pruned.stdout.contains("deleted: sha256:"), "{pruned}");
    assert!(
        pruned.stdout.contains("Total reclaimed space: 0B"),
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
    let gone = daemon.docker(&["image", "prune", "-af"]).ok();
    assert!(gone.stdout.contains("untagged: busybox:latest"), "{gone}");
    assert!(!gone.stdout.contains("Total reclaimed space: 0B"), "{gone}");
    assert_eq!(daemon.images().as_array().unwrap().len(), 0);
}

#[test]
fn removing_one_of_two_images_sharing_a_layer_keeps_the_other_whole() {
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
