//! Log rotation (issue 10 §3): json-file's `max-size`, `max-file` and `compress`, and the
//! `local` driver (rotated and compressed by default), read and followed across files by
//! the real docker CLI; bad values refused with Docker's words.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_tests::Daemon;

/// The numbers of the `line N` lines of `text`, in order.
fn lines(text: &str) -> Vec<u32> {
    text.lines()
        .map(|l| {
            l.strip_prefix("line ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a numbered line: {l:?}"))
        })
        .collect()
}

fn log_of(d: &Daemon, name: &str) -> PathBuf {
    let id = d.inspect(name)["Id"].as_str().unwrap().to_string();
    d.data_root
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// Waits for the compression of the last rotated file, done in the background.
fn wait_until_compressed(first: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while first.exists() {
        assert!(Instant::now() < deadline, "{} stays", first.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn json_file_logs_rotate_and_are_read_and_followed_across_files() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    // About 75 bytes an entry: some 26 entries a file, three files kept.
    d.docker(&[
        "run",
        "--name",
        "rot",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 200); do echo line $i; done",
    ])
    .ok();
    let log = log_of(&d, "rot");
    for file in [
        log.clone(),
        with_suffix(&log, ".1"),
        with_suffix(&log, ".2"),
    ] {
        let size = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .len();
        assert!(size > 0 && size <= 2000, "{}: {size}", file.display());
    }
    assert!(!with_suffix(&log, ".3").exists());
    let kept = lines(&d.docker(&["logs", "rot"]).ok().stdout);
    let first = kept[0];
    assert!(first > 100, "{kept:?}");
    assert_eq!(kept, (first..=200).collect::<Vec<_>>());
    let tail = lines(&d.docker(&["logs", "--tail", "40", "rot"]).ok().stdout);
    assert_eq!(tail, (161..=200).collect::<Vec<_>>());

    // A follower that started before the output sees every line, across the rotations.
    // The lines come in bursts, so the follower is never more than a file behind.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "busy",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=4",
        "busybox",
        "sh",
        "-c",
        "sleep 1; for i in $(seq 1 200); do echo line $i; \
         [ $((i % 5)) = 0 ] && usleep 100000; done",
    ])
    .ok();
    let followed = lines(&d.docker(&["logs", "-f", "busy"]).ok().stdout);
    assert_eq!(followed, (1..=200).collect::<Vec<_>>());
}

#[test]
fn compressed_rotated_files_are_gzipped_and_read_back() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "--name",
        "gz",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=4",
        "--log-opt",
        "compress=true",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 300); do echo line $i; done",
    ])
    .ok();
    let log = log_of(&d, "gz");
    wait_until_compressed(&with_suffix(&log, ".1"));
    for n in 1..=3 {
        let gz = with_suffix(&log, &format!(".{n}.gz"));
        let bytes = std::fs::read(&gz).unwrap_or_else(|e| panic!("{}: {e}", gz.display()));
        assert_eq!(&bytes[..2], b"\x1f\x8b", "{} is not gzip", gz.display());
        assert!(!with_suffix(&log, &format!(".{n}")).exists());
    }
    assert!(!with_suffix(&log, ".4.gz").exists());
    let kept = lines(&d.docker(&["logs", "gz"]).ok().stdout);
    let first = kept[0];
    assert!(first > 150, "{kept:?}");
    assert_eq!(kept, (first..=300).collect::<Vec<_>>());
    let tail = lines(&d.docker(&["logs", "--tail", "60", "gz"]).ok().stdout);
    assert_eq!(tail, (241..=300).collect::<Vec<_>>());
    // stderr and stdout stay apart across files.
    let only_err = d.docker(&["logs", "gz"]).ok().stderr;
    assert_eq!(only_err, "");
}

#[test]
fn the_local_driver_rotates_compresses_and_is_read_and_followed() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "loc",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=1k",
        "busybox",
        "sh",
        "-c",
        "sleep 1; for i in $(seq 1 150); do echo line $i; \
         [ $((i % 5)) = 0 ] && usleep 100000; done",
    ])
    .ok();
    let followed = lines(&d.docker(&["logs", "-f", "loc"]).ok().stdout);
    assert_eq!(followed, (1..=150).collect::<Vec<_>>());
    let c = d.inspect("loc");
    assert_eq!(c["HostConfig"]["LogConfig"]["Type"], "local");
    // Docker names the log file only for json-file.
    assert_eq!(c["LogPath"], "");
    let id = c["Id"].as_str().unwrap();
    let log = d
        .data_root
        .join("containers")
        .join(id)
        .join("local-logs")
        .join("container.log");
    wait_until_compressed(&with_suffix(&log, ".1"));
    // Five files by default: the current one and four compressed.
    for n in 1..=4 {
        assert!(with_suffix(&log, &format!(".{n}.gz")).exists(), "{n}");
    }
    assert!(!with_suffix(&log, ".5.gz").exists());
    let kept = lines(&d.docker(&["logs", "loc"]).ok().stdout);
    assert_eq!(kept, (kept[0]..=150).collect::<Vec<_>>());
    assert!(kept[0] > 1, "{kept:?}");
    // By default nothing rotates under 20 MiB.
    let plain = d.docker(&[
        "run",
        "--name",
        "loc2",
        "--log-driver",
        "local",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 300); do echo line $i; done",
    ]);
    assert_eq!(lines(&plain.ok().stdout), (1..=300).collect::<Vec<_>>());
    assert_eq!(
        lines(&d.docker(&["logs", "loc2"]).ok().stdout),
        (1..=300).collect::<Vec<_>>()
    );
}

#[test]
fn bad_log_options_get_dockers_errors_and_nothing_is_created() {
    berth_tests::needs_root!();
    let d = Daemon::with_busybox();
    let refused = |args: &[&str], message: &str| {
        let mut all = vec!["create", "--name", "bad"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["busybox", "true"]);
        // `docker create` exits 1 on a daemon error (`run` would exit 125).
        d.docker(&all).code(1).stderr_has(message);
    };
    refused(&["--log-opt", "max-size=lots"], "invalid size: 'lots'");
    refused(
        &["--log-opt", "max-size=0"],
        "max-size must be a positive number",
    );
    refused(
        &["--log-opt", "max-size=1m", "--log-opt", "max-file=0"],
        "max-file cannot be less than 1",
    );
    refused(
        &["--log-opt", "max-size=1m", "--log-opt", "max-file=x"],
        "strconv.Atoi: parsing \"x\": invalid syntax",
    );
    refused(
        &["--log-opt", "max-size=1m", "--log-opt", "compress=true"],
        "compress cannot be true when max-file is less than 2 or max-size is not set",
    );
    refused(
        &[
            "--log-opt",
            "max-size=1m",
            "--log-opt",
            "max-file=2",
            "--log-opt",
            "compress=maybe",
        ],
        "strconv.ParseBool: parsing \"maybe\": invalid syntax",
    );
    refused(
        &["--log-driver", "local", "--log-opt", "frob=1"],
        "unknown log opt 'frob' for log driver local",
    );
    refused(
        &["--log-driver", "local", "--log-opt", "max-file=1"],
        "compression cannot be enabled when max file count is 1",
    );
    refused(
        &["--log-driver", "local", "--log-opt", "max-size=big"],
        "invalid value for max-size: big: invalid size: 'big'",
    );
    // An unknown driver stays Docker's 400.
    let response = d.api(
        "POST",
        "/containers/create?name=bad",
        Some((
            "application/json",
            br#"{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"frob"}}}"#,
        )),
    );
    assert_eq!(response.status, 400, "{response}");
    d.docker(&["inspect", "bad"]).fails();
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
}
