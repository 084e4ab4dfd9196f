//! Bad input gets a clear error, the daemon stays up, and nothing stored changes: unknown
//! images, names in use, bad flags, malformed bodies, and layer tars that try to escape.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_tests::Daemon;

/// Everything under `root`: each path with its kind, and for files their size and a hash of
/// their content. Two equal snapshots mean nothing stored has changed.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(listing) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in listing.flatten() {
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let description = if meta.is_dir() {
                pending.push(path.clone());
                "dir".to_owned()
            } else if meta.is_symlink() {
                format!("symlink -> {:?}", fs::read_link(&path).ok())
            } else if meta.is_file() {
                let mut hasher = DefaultHasher::new();
                hasher.write(&fs::read(&path).unwrap_or_default());
                format!("file {} {:x}", meta.len(), hasher.finish())
            } else {
                "special".to_owned()
            };
            entries.insert(path.strip_prefix(root).unwrap().to_path_buf(), description);
        }
    }
    entries
}

/// A daemon holding an image and a stopped container, the stored data bad input must not touch.
fn daemon_with_data() -> Daemon {
    let d = Daemon::with_busybox();
    d.berth(&["run", "--name", "keep", "busybox", "echo", "kept"])
        .ok();
    d
}

/// Fails the test unless the daemon answers and its data root matches `before`.
#[track_caller]
fn assert_unchanged(d: &Daemon, before: &BTreeMap<PathBuf, String>, after_what: &str) {
    assert!(
        d.ping(),
        "berthd is down after {after_what}:\n{}",
        d.log_text()
    );
    let after = snapshot(&d.data_root);
    if &after != before {
        let changed: Vec<_> = before
            .iter()
            .filter(|(path, what)| after.get(*path) != Some(what))
            .map(|(path, _)| format!("changed or removed: {}", path.display()))
            .chain(
                after
                    .keys()
                    .filter(|path| !before.contains_key(*path))
                    .map(|path| format!("added: {}", path.display())),
            )
            .collect();
        panic!(
            "stored data changed after {after_what}:\n{}",
            changed.join("\n")
        );
    }
    assert_eq!(d.logs("keep").0, "kept\n");
}

/// An image reference that can only be looked up on loopback, so that no test ever reaches
/// out to a real registry once pulling exists.
const UNKNOWN_IMAGE: &str = "127.0.0.1:1/berth-tests/nosuch";

#[test]
fn an_unknown_image_is_reported_with_125() {
    berth_tests::needs_root!();
    let d = daemon_with_data();
    let before = snapshot(&d.data_root);
    d.berth(&["run", UNKNOWN_IMAGE, "true"])
        .code(125)
        .stderr_has(&format!(
            "Unable to find image '{UNKNOWN_IMAGE}:latest' locally"
        ));
    assert_unchanged(&d, &before, "run of an unknown image");
    // As with docker, `run` fails with 125 and `create` with 1.
    d.berth(&["create", &format!("{UNKNOWN_IMAGE}:v2")])
        .code(1)
        .stderr_has(&format!(
            "Unable to find image '{UNKNOWN_IMAGE}:v2' locally"
        ));
    assert_unchanged(&d, &before, "create of an unknown image");
    d.docker(&["run", UNKNOWN_IMAGE, "true"])
        .code(125)
        .stderr_has(&format!(
            "Unable to find image '{UNKNOWN_IMAGE}:latest' locally"
        ));
    assert_unchanged(&d, &before, "docker run of an unknown image");
}

#[test]
fn a_name_in_use_is_a_409_with_dockers_message() {
    berth_tests::needs_root!();
    let d = daemon_with_data();
    let body = br#"{"Image": "busybox", "Cmd": ["true"]}"#;
    let first = d.api(
        "POST",
        "/containers/create?name=dup",
        Some(("application/json", body)),
    );
    assert_eq!(first.status, 201, "{first}");
    let id = first.json()["Id"].as_str().unwrap().to_owned();
    let expected = format!(
        "Conflict. The container name \"/dup\" is already in use by container \"{id}\". You have to \
         remove (or rename) that container to be able to reuse that name."
    );
    let before = snapshot(&d.data_root);

    let second = d.api(
        "POST",
        "/containers/create?name=dup",
        Some(("application/json", body)),
    );
    assert_eq!(second.status, 409, "{second}");
    assert_eq!(second.error_message(), expected);
    assert_unchanged(&d, &before, "a second create with the same name");

    d.berth(&["create", "--name", "dup", "busybox", "true"])
        .code(1)
        .stderr_has(&expected);
    d.berth(&["run", "--name", "dup", "busybox", "true"])
        .code(125)
        .stderr_has(&expected);
    d.docker(&["create", "--name", "dup", "busybox", "true"])
        .code(1)
        .stderr_has(&expected);
    d.docker(&["run", "--name", "dup", "busybox", "true"])
        .code(125)
        .stderr_has(&expected);
    assert_unchanged(&d, &before, "creates with a name in use");
    assert_eq!(d.container_ids().len(), 2);
}

#[test]
fn bad_flags_are_usage_errors_with_125() {
    berth_tests::needs_root!();
    let d = daemon_with_data();
    let before = snapshot(&d.data_root);
    let attempts: &[&[&str]] = &[
        &["run", "--no-such-flag", "busybox", "true"],
        &["create", "--bogus", "busybox"],
        &["ps", "--bogus"],
        &["run", "-m", "lots", "busybox", "true"],
        &["run", "--cpus", "many", "busybox", "true"],
        &["run", "--pids-limit", "some", "busybox", "true"],
        &["run", "--restart", "sometimes", "busybox", "true"],
        &["run", "--restart", "on-failure:x", "busybox", "true"],
        &["run", "--security-opt", "no-such-option", "busybox", "true"],
        &[
            "run",
            "--mount",
            "type=nonsense,target=/x",
            "busybox",
            "true",
        ],
        &["run", "-v", "/tmp:relative/path", "busybox", "true"],
        &[
            "run",
            "--env-file",
            "/nonexistent/env.list",
            "busybox",
            "true",
        ],
        &["stop", "-t", "soon", "keep"],
        &["run"],
    ];
    for args in attempts {
        let out = d.berth(args).code(125);
        assert!(
            !out.stderr.trim().is_empty(),
            "a usage error says why:\n{out}"
        );
        assert_unchanged(&d, &before, &format!("berth {}", args.join(" ")));
    }
    assert_eq!(d.container_ids().len(), 1);
}

#[test]
fn malformed_bodies_and_parameters_are_400() {
    berth_tests::needs_root!();
    let d = daemon_with_data();
    let before = snapshot(&d.data_root);
    let bodies: &[&[u8]] = &[
        br#"{"Image": "busybox", "#,
        b"not json at all",
        br#"{"Image": 42}"#,
        br#"{"Image": "busybox", "HostConfig": {"Memory": "lots"}}"#,
        br#"["Image", "busybox"]"#,
    ];
    for prefix in ["", "/v1.49"] {
        for body in bodies {
            let path = format!("{prefix}/containers/create");
            let response = d.api("POST", &path, Some(("application/json", body)));
            let shown = String::from_utf8_lossy(body);
            assert_eq!(response.status, 400, "POST {path} {shown}: {response}");
            assert!(!response.error_message().is_empty(), "{response}");
            assert_unchanged(&d, &before, &format!("POST {path} {shown}"));
        }
    }
    for path in [
        "/containers/json?filters=notjson",
        "/containers/json?all=1&filters=%7B%22status%22%3A%5B%22sleepy%22%5D%7D",
    ] {
        let response = d.api("GET", path, None);
        assert_eq!(response.status, 400, "GET {path}: {response}");
        assert!(!response.error_message().is_empty(), "{response}");
    }
    assert_unchanged(&d, &before, "bad filters");
    assert_eq!(d.container_ids().len(), 1);
}

#[test]
fn unknown_objects_are_404_with_dockers_messages() {
    berth_tests::needs_root!();
    let d = daemon_with_data();
    let before = snapshot(&d.data_root);
    for (method, path) in [
        ("GET", "/containers/nosuch/json"),
        ("POST", "/containers/nosuch/start"),
        ("POST", "/containers/nosuch/stop"),
        ("POST", "/containers/nosuch/kill"),
        ("POST", "/containers/nosuch/wait"),
        ("DELETE", "/containers/nosuch"),
        ("GET", "/v1.24/containers/nosuch/json"),
    ] {
        let response = d.api(method, path, None);
        assert_eq!(response.status, 404, "{method} {path}: {response}");
        assert_eq!(response.error_message(), "No such container: nosuch");
    }
    for (method, path) in [("GET", "/images/nosuch/json"), ("DELETE", "/images/nosuch")] {
        let response = d.api(method, path, None);
        assert_eq!(response.status, 404, "{method} {path}: {response}");
        assert!(
            response
                .error_message()
                .starts_with("No such image: nosuch"),
            "{response}"
        );
    }
    assert_unchanged(&d, &before, "requests for unknown objects");
}

/// One entry of a hand-made tar: the `tar` crate refuses to write the paths these tests need.
struct Entry {
    name: String,
    kind: u8,
    link: String,
    data: Vec<u8>,
}

fn file(name: &str, data: &str) -> Entry {
    Entry {
        name: name.to_owned(),
        kind: b'0',
        link: String::new(),
        data: data.as_bytes().to_vec(),
    }
}

fn dir(name: &str) -> Entry {
    Entry {
        name: name.to_owned(),
        kind: b'5',
        link: String::new(),
        data: Vec::new(),
    }
}

fn symlink(name: &str, target: &str) -> Entry {
    Entry {
        name: name.to_owned(),
        kind: b'2',
        link: target.to_owned(),
        data: Vec::new(),
    }
}

fn hardlink(name: &str, target: &str) -> Entry {
    Entry {
        name: name.to_owned(),
        kind: b'1',
        link: target.to_owned(),
        data: Vec::new(),
    }
}

/// A ustar archive of `entries`, with no checks on the names.
fn tar(entries: &[Entry]) -> Vec<u8> {
    fn put(header: &mut [u8], at: usize, len: usize, value: &[u8]) {
        assert!(
            value.len() <= len,
            "{} does not fit in {len} bytes",
            String::from_utf8_lossy(value)
        );
        header[at..at + value.len()].copy_from_slice(value);
    }
    let mut out = Vec::new();
    for entry in entries {
        let mut header = [0u8; 512];
        put(&mut header, 0, 100, entry.name.as_bytes());
        let mode: &[u8] = if entry.kind == b'5' {
            b"0000755\0"
        } else {
            b"0000644\0"
        };
        put(&mut header, 100, 8, mode);
        put(&mut header, 108, 8, b"0000000\0");
        put(&mut header, 116, 8, b"0000000\0");
        put(
            &mut header,
            124,
            12,
            format!("{:011o}\0", entry.data.len()).as_bytes(),
        );
        put(&mut header, 136, 12, b"00000000000\0");
        put(&mut header, 148, 8, b"        ");
        header[156] = entry.kind;
        put(&mut header, 157, 100, entry.link.as_bytes());
        put(&mut header, 257, 8, b"ustar\x0000");
        let sum: u32 = header.iter().map(|b| *b as u32).sum();
        put(&mut header, 148, 8, format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&entry.data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A directory outside the daemon's roots with one file; no import may change it.
struct Sentinel {
    dir: tempfile::TempDir,
}

impl Sentinel {
    fn new() -> Sentinel {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("victim"), "original\n").unwrap();
        Sentinel { dir }
    }

    /// The sentinel directory's absolute path.
    fn abs(&self) -> String {
        self.dir.path().to_str().unwrap().to_owned()
    }

    /// A relative path that climbs from any layer directory to the sentinel directory.
    fn climbing(&self) -> String {
        format!("{}{}", "../".repeat(16), self.abs().trim_start_matches('/'))
    }

    #[track_caller]
    fn assert_untouched(&self, attack: &str) {
        let names: BTreeSet<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            BTreeSet::from(["victim".to_owned()]),
            "{attack} wrote outside"
        );
        let victim = self.dir.path().join("victim");
        assert_eq!(
            fs::read_to_string(&victim).unwrap(),
            "original\n",
            "{attack} overwrote it"
        );
        assert_eq!(
            fs::metadata(&victim).unwrap().nlink(),
            1,
            "{attack} linked to it"
        );
    }
}

#[test]
fn layer_tars_cannot_write_outside_their_directory() {
    berth_tests::needs_root!();
    let d = daemon_with_data();
    let sentinel = Sentinel::new();
    let (abs, up) = (sentinel.abs(), sentinel.climbing());
    let attacks: Vec<(&str, Vec<Entry>)> = vec![
        ("a .. path", vec![file(&format!("{up}/dotdot"), "x")]),
        (
            "a .. inside a path",
            vec![dir("etc/"), file(&format!("etc/{up}/dotdot-inside"), "x")],
        ),
        (
            "an absolute path",
            vec![file(&format!("{abs}/absolute"), "x")],
        ),
        (
            "a file through an absolute symlink",
            vec![symlink("escape", &abs), file("escape/through-symlink", "x")],
        ),
        (
            "a file through a relative symlink",
            vec![
                symlink("rel", &up),
                file("rel/through-relative-symlink", "x"),
            ],
        ),
        (
            "a directory through a symlink",
            vec![symlink("dlink", &abs), dir("dlink/newdir/")],
        ),
        (
            "a file through a chain of symlinks",
            vec![
                symlink("s1", "s2"),
                symlink("s2", &abs),
                file("s1/chained", "x"),
            ],
        ),
        (
            "a file over a symlink to a host file",
            vec![
                symlink("victimlink", &format!("{abs}/victim")),
                file("victimlink", "overwritten\n"),
            ],
        ),
        (
            "a hardlink to a host file, then written",
            vec![
                hardlink("hard", &format!("{abs}/victim")),
                file("hard", "overwritten\n"),
            ],
        ),
        (
            "a hardlink with .., then written",
            vec![
                hardlink("hard2", &format!("{up}/victim")),
                file("hard2", "overwritten\n"),
            ],
        ),
        (
            "a hardlink through a symlink",
            vec![
                symlink("sl", &abs),
                hardlink("hard3", "sl/victim"),
                file("hard3", "overwritten\n"),
            ],
        ),
    ];
    let work = tempfile::tempdir().unwrap();
    for (i, (attack, entries)) in attacks.into_iter().enumerate() {
        // A regular file first, so the layer is not refused merely for being odd.
        let mut layer = vec![file("ok", "fine\n")];
        layer.extend(entries);
        let path = work.path().join(format!("attack-{i}.tar"));
        fs::write(&path, tar(&layer)).unwrap();

        let before = snapshot(&d.data_root);
        let images_before = d.images();
        let out = d.berth(&["import", path.to_str().unwrap(), &format!("attack:{i}")]);
        sentinel.assert_untouched(attack);
        if out.code == 0 {
            // Confined: the import is a new image; everything stored before is still there.
            let images = d.images();
            for image in images_before.as_array().unwrap() {
                assert!(
                    images.as_array().unwrap().contains(image),
                    "{attack}: {image} lost"
                );
            }
            assert!(d.ping());
            assert_eq!(d.logs("keep").0, "kept\n");
        } else {
            assert!(
                !out.stderr.trim().is_empty(),
                "{attack}: refused without a reason:\n{out}"
            );
            assert_unchanged(&d, &before, attack);
            assert_eq!(d.images(), images_before, "{attack}");
        }
    }
}

#[test]
fn a_file_that_is_not_a_tar_is_refused() {
    berth_tests::needs_root!();
    let d = daemon_with_data();
    let before = snapshot(&d.data_root);
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("garbage.tar");
    fs::write(
        &path,
        b"this is not a tar archive, not even close ".repeat(40),
    )
    .unwrap();
    d.berth(&["import", path.to_str().unwrap(), "garbage"])
        .fails();
    assert_unchanged(&d, &before, "importing garbage");
    d.berth(&["import", "/nonexistent/file.tar", "missing"])
        .fails();
    assert_unchanged(&d, &before, "importing a missing file");
}

#[test]
fn removing_a_running_container_is_a_409() {
    berth_tests::needs_root!();
    let d = daemon_with_data();
    let id = d.run_detached(&["--name", "running", "busybox", "sleep", "1000"]);
    let response = d.api("DELETE", "/containers/running", None);
    assert_eq!(response.status, 409, "{response}");
    assert!(!response.error_message().is_empty());
    assert_eq!(d.inspect("running")["Id"], id.as_str());
    assert_eq!(d.state("running"), "running");
}
