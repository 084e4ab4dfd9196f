//! The data root's filesystem fills up (a tmpfs of a few dozen megabytes) during a pull, a
//! load, a commit and 100 MB of logs. Each fails with a clear error naming ENOSPC and the
//! path; the daemon keeps running and does not spin; the image store and every container
//! record stay readable (across a restart too); nothing half-written is left; and once
//! space is freed everything works again.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_tests::registry::DockerRegistry;
use berth_tests::{eventually, Daemon, Output};

const SIZE: &str = "96m";

/// Bytes free on the filesystem of `path`.
fn free_bytes(path: &Path) -> u64 {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: statvfs writes only into the struct it is given; c_path is NUL-terminated.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) }, 0);
    stat.f_bavail as u64 * stat.f_frsize as u64
}

/// Fills the filesystem of `dir` until at most `leave` bytes are free, with files of its own
/// (removed to free the space again).
fn fill(dir: &Path, leave: u64) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let chunk = vec![0x5a_u8; 1 << 20];
    while free_bytes(dir) > leave {
        let path = dir.join(format!("filler-{}", files.len()));
        let mut file = fs::File::create(&path).unwrap();
        files.push(path);
        for _ in 0..8 {
            if free_bytes(dir) <= leave {
                break;
            }
            let room = (free_bytes(dir) - leave).min(chunk.len() as u64) as usize;
            if file.write_all(&chunk[..room]).is_err() {
                break;
            }
        }
    }
    files
}

/// berthd's CPU time (user + system) in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    fields
        .get(11..13)
        .map(|t| t.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0)
}

/// A failure of the full disk: ENOSPC, said in words, with the path it hit.
#[track_caller]
fn fails_for_space(out: Output, d: &Daemon) {
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("No space left on device"),
        "not ENOSPC: {out}"
    );
    assert!(
        out.stderr.contains(&d.data_root.display().to_string()),
        "the error does not name the path it could not write: {out}"
    );
}

/// Everything the daemon stores still reads: it answers, lists and inspects every
/// container and image, and nothing half-written is left in the store.
#[track_caller]
fn store_readable(d: &Daemon) {
    assert!(d.ping(), "berthd died:\n{}", d.log_text());
    for id in d.container_ids() {
        d.inspect(&id);
    }
    let images = d.berth(&["images", "-q"]).ok().stdout;
    for id in images.lines() {
        d.berth(&["image", "inspect", id]).ok();
    }
    let ingest = d.data_root.join("image/blobs/ingest");
    let half: Vec<_> = fs::read_dir(&ingest)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(half.is_empty(), "half-stored blobs: {half:?}");
    let mut temps = Vec::new();
    let mut dirs = vec![d.data_root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains(".tmp-") {
                temps.push(entry.path());
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
    }
    assert!(temps.is_empty(), "temporary files left: {temps:?}");
}

#[test]
fn a_full_data_root_fails_each_write_clearly_and_everything_works_once_space_is_freed() {
    berth_tests::needs_root!();
    let registry = DockerRegistry::start();
    let mut d = Daemon::with_small_data_root(SIZE);
    let scratch = tempfile::tempdir().unwrap();

    // What the writes need, made while there is room: an 8 MB image in the registry and in
    // a tar, and a container with 8 MB of changes to commit.
    let payload = format!("{}/full/payload:latest", registry.domain());
    d.berth(&[
        "run",
        "--name",
        "seed",
        "busybox",
        "sh",
        "-c",
        "head -c 8000000 /dev/urandom > /payload",
    ])
    .ok();
    d.berth(&["commit", "seed", &payload]).ok();
    d.berth(&["push", &payload]).ok();
    let tar = scratch.path().join("payload.tar");
    d.berth(&["save", "-o", tar.to_str().unwrap(), &payload])
        .ok();
    d.berth(&["rmi", &payload]).ok();

    let filler = fill(&d.data_root, 1 << 20);
    fails_for_space(d.berth(&["pull", &payload]), &d);
    store_readable(&d);
    fails_for_space(d.berth(&["load", "-i", tar.to_str().unwrap()]), &d);
    store_readable(&d);
    fails_for_space(d.berth(&["commit", "seed", "full/commit"]), &d);
    store_readable(&d);

    // 100 MB of logs into the last megabyte: the container runs to its end (what does not
    // fit is lost, as with Docker's json-file), and the log writer neither dies nor spins.
    let script = "yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -c 100000000; echo; echo done";
    d.berth(&[
        "run", "-d", "--name", "logger", "busybox", "sh", "-c", script,
    ])
    .ok();
    let before = (Instant::now(), cpu_ticks(d.pid()));
    eventually("the logger to end", || d.state("logger") == "exited");
    assert_eq!(d.inspect("logger")["State"]["ExitCode"], 0);
    std::thread::sleep(Duration::from_secs(2));
    let idle = cpu_ticks(d.pid());
    std::thread::sleep(Duration::from_secs(2));
    let spun = cpu_ticks(d.pid()) - idle;
    assert!(
        spun < 50,
        "berthd used {spun} ticks of CPU in 2 s idle after the disk filled (it spins)"
    );
    eprintln!(
        "logger ended after {:?}, berthd used {} ticks",
        before.0.elapsed(),
        idle - before.1
    );
    store_readable(&d);
    d.logs("logger");

    // Every record reads again after a restart on the full disk.
    d.terminate();
    d.restart();
    store_readable(&d);
    assert_eq!(d.state("seed"), "exited");
    assert_eq!(d.state("logger"), "exited");

    // Space freed: everything works again.
    for file in filler {
        fs::remove_file(file).unwrap();
    }
    d.berth(&["pull", &payload]).ok();
    d.berth(&["rmi", &payload]).ok();
    d.berth(&["load", "-i", tar.to_str().unwrap()]).ok();
    d.berth(&["commit", "seed", "full/commit"]).ok();
    assert_eq!(d.run_rm(&["busybox", "echo", "roomy"]).trim(), "roomy");
    d.berth(&["run", "--rm", &payload, "test", "-s", "/payload"])
        .ok();
    let logs = d.berth(&["logs", "--tail", "1", "logger"]).ok();
    assert!(logs.stdout.trim().len() <= 80, "{logs}");
    d.berth(&["rm", "seed", "logger"]).ok();
    d.berth(&["rmi", &payload, "full/commit"]).ok();
    store_readable(&d);
}
