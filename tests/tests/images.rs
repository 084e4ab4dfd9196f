//! Images, the minimum: import (from a file and from stdin), images, tag, rmi and
//! image inspect; a container's rootfs is an overlay over the image's layers.

use std::process::Command;

use berth_tests::{busybox_tar, is_full_id, run_command, Daemon};

/// `sha256:<hex>` of the busybox tar: the layer's DiffID, as the tar is imported uncompressed.
fn busybox_diff_id() -> String {
    let mut cmd = Command::new("sha256sum");
    cmd.arg(busybox_tar());
    let out = run_command(cmd, None).ok();
    format!("sha256:{}", out.out().split_whitespace().next().unwrap())
}

fn tar_path() -> String {
    busybox_tar().to_str().unwrap().to_owned()
}

fn image_id(out: &str) -> &str {
    let id = out
        .trim()
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("{out:?}"));
    assert!(is_full_id(id), "{out:?}");
    id
}

#[test]
fn import_from_a_file_lists_the_image() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let out = d.berth(&["import", &tar_path(), "mine:1.0"]).ok();
    let id = image_id(out.out()).to_owned();

    let images = d.berth(&["images"]).ok();
    let lines = images.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"],
        "{images}"
    );
    assert_eq!(lines.len(), 2, "{images}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&row[..3], ["mine", "1.0", &id[..12]], "{images}");

    d.berth(&["run", "--rm", "mine:1.0", "echo", "from mine"])
        .ok()
        .stdout_has("from mine");
}

#[test]
fn import_from_stdin() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let tar = std::fs::read(busybox_tar()).unwrap();
    let out = d.berth_stdin(&["import", "-", "piped"], &tar).ok();
    let id = image_id(out.out()).to_owned();
    let inspect = d.berth(&["image", "inspect", "piped"]).ok();
    let inspect: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(inspect[0]["Id"], format!("sha256:{id}"));
    assert_eq!(inspect[0]["RepoTags"], serde_json::json!(["piped:latest"]));
    d.berth(&["run", "--rm", "piped", "true"]).ok();
}

#[test]
fn import_without_a_name_makes_an_untagged_image() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let out = d.berth(&["import", &tar_path()]).ok();
    let id = image_id(out.out()).to_owned();
    let images = d.berth(&["images"]).ok();
    let row: Vec<&str> = images.lines()[1].split_whitespace().collect();
    assert_eq!(&row[..3], ["<none>", "<none>", &id[..12]], "{images}");
    // An image is reachable by a prefix of its ID.
    d.berth(&["run", "--rm", &id[..12], "true"]).ok();
}

#[test]
fn image_inspect_shows_the_layer_and_the_config() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let out = d.berth(&["image", "inspect", "busybox"]).ok();
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("image inspect prints JSON ({e}):\n{out}"));
    let image = &json[0];
    assert!(
        image["Id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sha256:"),
        "{image}"
    );
    assert_eq!(image["RepoTags"], serde_json::json!(["busybox:latest"]));
    assert_eq!(image["Os"], "linux");
    assert_eq!(image["Architecture"], "amd64");
    assert_eq!(image["RootFS"]["Type"], "layers");
    assert_eq!(
        image["RootFS"]["Layers"],
        serde_json::json!([busybox_diff_id()])
    );
    assert!(
        image["Size"].as_i64().unwrap_or_default() > 1_000_000,
        "{image}"
    );

    let id = d
        .berth(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
        .ok();
    assert_eq!(id.out(), image["Id"].as_str().unwrap());
    d.berth(&["image", "inspect", "nosuch"])
        .code(1)
        .stderr_has("No such image");
}

#[test]
fn tag_adds_a_name_and_rmi_removes_names_then_the_image() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let id = d.api("GET", "/images/busybox/json", None).json()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    d.berth(&["tag", "busybox", "mine:v2"]).ok();
    d.berth(&["tag", "mine:v2", "localhost/other"]).ok();
    let tags = &d.api("GET", "/images/busybox/json", None).json()["RepoTags"];
    let mut tags: Vec<&str> = tags
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        ["busybox:latest", "localhost/other:latest", "mine:v2"]
    );
    d.berth(&["run", "--rm", "mine:v2", "true"]).ok();

    // Removing one name of several only untags.
    d.berth(&["rmi", "mine:v2"])
        .ok()
        .stdout_has("Untagged: mine:v2");
    d.berth(&["rmi", "localhost/other"])
        .ok()
        .stdout_has("Untagged: localhost/other:latest");
    assert_eq!(d.images().as_array().map(Vec::len), Some(1));

    // Removing the last name deletes the image.
    let out = d.berth(&["rmi", "busybox"]).ok();
    assert!(out.stdout.contains("Untagged: busybox:latest"), "{out}");
    assert!(out.stdout.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(d.images(), serde_json::json!([]));

    d.berth(&["rmi", "nosuch"])
        .code(1)
        .stderr_has("No such image");
}

#[test]
fn rmi_refuses_an_image_a_container_uses() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&["create", "--name", "user", "busybox", "true"])
        .ok();
    d.berth(&["rmi", "busybox"]).code(1);
    let response = d.api("DELETE", "/images/busybox", None);
    assert_eq!(response.status, 409, "{response}");
    assert_eq!(d.images().as_array().map(Vec::len), Some(1));
    d.berth(&["start", "user"]).ok();
}

#[test]
fn images_of_the_same_layer_share_its_directory() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.berth(&["import", &tar_path(), "twin"]).ok();
    d.berth(&["create", "--name", "from-busybox", "busybox", "true"])
        .ok();
    d.berth(&["create", "--name", "from-twin", "twin", "true"])
        .ok();
    let (a, b) = (d.inspect("from-busybox"), d.inspect("from-twin"));
    let data = |c: &serde_json::Value, key: &str| {
        c["GraphDriver"]["Data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("GraphDriver.Data.{key} in {c}"))
            .to_owned()
    };
    let driver = a["GraphDriver"]["Name"].as_str().unwrap_or_default();
    assert!(driver.starts_with("overlay"), "{a}");
    // The layer was extracted once; each container has its own upper directory.
    assert_eq!(data(&a, "LowerDir"), data(&b, "LowerDir"));
    assert_ne!(data(&a, "UpperDir"), data(&b, "UpperDir"));
    for dir in [data(&a, "LowerDir"), data(&a, "UpperDir")] {
        assert!(
            std::path::Path::new(&dir).starts_with(&d.data_root),
            "{dir} is under the data root {}",
            d.data_root.display()
        );
    }
}

#[test]
fn docker_import_through_the_api() {
    berth_tests::needs_root!();
    let d = Daemon::start();
    let tar = std::fs::read(busybox_tar()).unwrap();
    let response = d.api(
        "POST",
        "/images/create?fromSrc=-&repo=viaapi&tag=t1",
        Some(("application/x-tar", &tar)),
    );
    assert_eq!(response.status, 200, "{response}");
    let image = d.api("GET", "/images/viaapi:t1/json", None);
    assert_eq!(image.status, 200, "{image}");
    assert_eq!(
        image.json()["RootFS"]["Layers"],
        serde_json::json!([busybox_diff_id()])
    );
}
