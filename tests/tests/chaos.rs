//! Chaos: clients in parallel (`run --rm`, `run -d` + `logs -f` + `stop`, `exec`, `commit`)
//! while berthd and its supervisor are killed with SIGKILL at random moments. No call may
//! hang; after the last restart every container is listed with its true state, every blob
//! of the image store matches its digest, and once everything is removed nothing is left:
//! no container directory, cgroup, process, mount or half-written blob.
//!
//! Bounded to about two minutes. The seed is printed on failure; `BERTH_CHAOS_SEED=N`
//! replays a run's choices (the timing of the machine is not replayed).

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use berth_tests::{binary, eventually, Daemon};
use sha2::{Digest, Sha256};

/// How long the faults go on.
const CHAOS: Duration = Duration::from_secs(45);
/// Clients running at once (2 shared cores: more would measure the machine, not berth).
const CLIENTS: usize = 8;
/// No CLI call may take longer, whatever is being killed (a `stop -t 1` included).
const CALL_LIMIT: Duration = Duration::from_secs(60);

/// xorshift64*: small, seedable, good enough to choose operations and moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How to reach the daemon without borrowing it: the chaos thread restarts it.
#[derive(Clone)]
struct Cli {
    berth: PathBuf,
    host: String,
    docker_config: PathBuf,
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.berth);
        cmd.args(args)
            .env("BERTH_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_HOST");
        cmd
    }

    /// Runs `berth ARGS`; `Err` if it did not finish within `limit` (it is killed).
    fn run(&self, args: &[&str], limit: Duration) -> Result<Ran, String> {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning berth {args:?}: {e}"))?;
        let pid = child.id() as libc::pid_t;
        let mut out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let readers = (
            thread::spawn(move || {
                let mut s = String::new();
                let _ = out.read_to_string(&mut s);
                s
            }),
            thread::spawn(move || {
                let mut s = String::new();
                let _ = err.read_to_string(&mut s);
                s
            }),
        );
        let (sender, exited) = mpsc::channel();
        thread::spawn(move || {
            let _ = sender.send(child.wait());
        });
        let status = match exited.recv_timeout(limit) {
            Ok(status) => status,
            Err(_) => {
                // SAFETY: kill(2) has no memory effects; the waiting thread reaps the child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = exited.recv();
                return Err(format!(
                    "berth {args:?} hung for {limit:?}:\nstdout: {}\nstderr: {}",
                    readers.0.join().unwrap_or_default(),
                    readers.1.join().unwrap_or_default()
                ));
            }
        };
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .map(|s| s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)))
            .unwrap_or(-1);
        Ok(Ran {
            code,
            stdout: readers.0.join().unwrap_or_default(),
            stderr: readers.1.join().unwrap_or_default(),
        })
    }
}

/// What the clients did, for the checks afterwards.
#[derive(Default)]
struct Ledger {
    /// Containers whose `rm -f` succeeded: they must never come back.
    removed: BTreeSet<String>,
    /// Every container ID a client was told of.
    created: BTreeSet<String>,
    /// Images `commit` reported.
    committed: BTreeSet<String>,
    succeeded: usize,
    failed: usize,
    /// How the failed calls failed (their first line of stderr, IDs and names cut), by count.
    failures: std::collections::BTreeMap<String, usize>,
    /// Calls that hung: each one fails the test.
    hung: Vec<String>,
    /// Calls that succeeded with a wrong answer: each one fails the test.
    wrong: Vec<String>,
}

fn client(cli: Cli, seed: u64, index: usize, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    let mut rng = Rng(seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut n = 0;
    let record = |result: Result<Ran, String>| -> Option<Ran> {
        let mut ledger = ledger.lock().unwrap();
        match result {
            Ok(ran) => {
                if ran.code == 0 {
                    ledger.succeeded += 1;
                } else {
                    ledger.failed += 1;
                    let first = ran.stderr.lines().next().unwrap_or("(no message)");
                    let shape: String = first
                        .split_whitespace()
                        .map(|w| {
                            if w.chars().any(|c| c.is_ascii_digit()) {
                                "#"
                            } else {
                                w
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                    *ledger.failures.entry(shape).or_default() += 1;
                }
                Some(ran)
            }
            Err(hung) => {
                ledger.hung.push(hung);
                None
            }
        }
    };
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        match rng.below(4) {
            0 => {
                let word = format!("chaos-{index}-{n}");
                if let Some(ran) =
                    record(cli.run(&["run", "--rm", "busybox", "echo", &word], CALL_LIMIT))
                {
                    if ran.code == 0 && ran.stdout.trim() != word {
                        ledger.lock().unwrap().wrong.push(format!(
                            "run --rm echo {word} printed {:?} (stderr {:?})",
                            ran.stdout, ran.stderr
                        ));
                    }
                }
            }
            1 => {
                let name = format!("ticker-{index}-{n}");
                let started = cli.run(
                    &[
                        "run",
                        "-d",
                        "--name",
                        &name,
                        "busybox",
                        "sh",
                        "-c",
                        "while true; do echo tick; sleep 0.1; done",
                    ],
                    CALL_LIMIT,
                );
                let Some(ran) = record(started) else { continue };
                if ran.code == 0 {
                    ledger
                        .lock()
                        .unwrap()
                        .created
                        .insert(ran.stdout.trim().to_owned());
                }
                let follower = {
                    let cli = cli.clone();
                    let name = name.clone();
                    thread::spawn(move || cli.run(&["logs", "-f", &name], CALL_LIMIT))
                };
                thread::sleep(Duration::from_millis(rng.below(1000)));
                record(cli.run(&["stop", "-t", "1", &name], CALL_LIMIT));
                // logs -f ends with the container (or with the daemon that served it).
                if let Ok(followed) = follower.join() {
                    record(followed);
                }
                if let Some(ran) = record(cli.run(&["rm", "-f", &name], CALL_LIMIT)) {
                    if ran.code == 0 {
                        ledger.lock().unwrap().removed.insert(name);
                    }
                }
            }
            2 => {
                record(cli.run(&["exec", "shared", "echo", "inside"], CALL_LIMIT));
            }
            _ => {
                let image = format!("chaos-img-{index}-{n}");
                if let Some(ran) = record(cli.run(&["commit", "shared", &image], CALL_LIMIT)) {
                    if ran.code == 0 {
                        ledger.lock().unwrap().committed.insert(image);
                    }
                }
            }
        }
    }
}

/// True once `pid` is gone or a zombie.
fn has_exited(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// The cgroup directories of container `id` that exist (v2, or one per v1 hierarchy).
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut candidates = vec![root.join("berth").join(id)];
    if let Ok(hierarchies) = fs::read_dir(root) {
        candidates.extend(
            hierarchies
                .flatten()
                .map(|h| h.path().join("berth").join(id)),
        );
    }
    candidates.into_iter().filter(|dir| dir.exists()).collect()
}

/// Processes in container `id`'s cgroups.
fn cgroup_procs(id: &str) -> Vec<String> {
    cgroup_dirs(id)
        .iter()
        .flat_map(|dir| {
            fs::read_to_string(dir.join("cgroup.procs"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every blob of the content store matches the digest it is stored under.
fn verify_blobs(data_root: &Path) -> Vec<String> {
    let blobs = data_root.join("image/blobs/sha256");
    let mut bad = Vec::new();
    for entry in fs::read_dir(&blobs).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match fs::read(entry.path()) {
            Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == name => {}
            Ok(_) => bad.push(format!("blob {name} does not match its digest")),
            Err(e) => bad.push(format!("blob {name}: {e}")),
        }
    }
    bad
}

/// The true state of every listed container: running ones run, the others have no process.
fn check_states(d: &Daemon, ledger: &Ledger) {
    for id in d.container_ids() {
        let inspect = d.inspect(&id);
        let state = &inspect["State"];
        let name = inspect["Name"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/');
        assert!(
            !ledger.removed.contains(name),
            "{name} was removed but is listed again: {state}"
        );
        let pid = state["Pid"].as_i64().unwrap_or_default();
        if state["Running"] == true {
            assert!(
                pid > 0 && !has_exited(pid),
                "{name} is shown running, its PID {pid} is not: {state}"
            );
            let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            assert!(
                cgroup.contains(&id),
                "{name}'s PID {pid} is not in its cgroup: {cgroup}"
            );
        } else {
            assert_eq!(pid, 0, "{name} is not running but has a PID: {state}");
            assert!(
                ["created", "exited"].contains(&state["Status"].as_str().unwrap_or_default()),
                "{name}: {state}"
            );
            assert_eq!(
                cgroup_procs(&id),
                Vec::<String>::new(),
                "{name} is shown {} but processes run in its cgroup",
                state["Status"]
            );
        }
    }
}

fn chaos(d: &mut Daemon, seed: u64) {
    d.run_detached(&["--name", "shared", "busybox", "sleep", "100000"]);
    let cli = Cli {
        berth: binary("berth"),
        host: d.host(),
        docker_config: d.docker_config().to_path_buf(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let (cli, stop, ledger) = (cli.clone(), stop.clone(), ledger.clone());
            thread::spawn(move || client(cli, seed, index, stop, ledger))
        })
        .collect();

    let mut rng = Rng(seed);
    let (mut berthd_kills, mut supervisor_kills) = (0, 0);
    let end = Instant::now() + CHAOS;
    while Instant::now() < end {
        thread::sleep(Duration::from_millis(1500 + rng.below(4000)));
        if rng.below(2) == 0 {
            if let Some(pid) = d.supervisor_pids().first() {
                // SAFETY: kill(2) has no memory effects.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
                supervisor_kills += 1;
            }
        } else {
            d.kill9();
            berthd_kills += 1;
            thread::sleep(Duration::from_millis(rng.below(500)));
            d.restart();
        }
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().expect("a client panicked");
    }
    // The last fault, then the checks on what the restarted daemon shows.
    d.kill9();
    d.restart();
    let ledger = ledger.lock().unwrap();
    eprintln!(
        "chaos: {berthd_kills} berthd kills, {supervisor_kills} supervisor kills, {} calls succeeded, {} failed, {} containers created, {} images committed",
        ledger.succeeded,
        ledger.failed,
        ledger.created.len(),
        ledger.committed.len()
    );
    for (shape, count) in &ledger.failures {
        eprintln!("chaos: {count:5} x {shape}");
    }
    assert!(
        ledger.hung.is_empty(),
        "calls hung:\n{}",
        ledger.hung.join("\n")
    );
    assert!(
        ledger.wrong.is_empty(),
        "wrong answers:\n{}",
        ledger.wrong.join("\n")
    );
    assert!(ledger.succeeded > 0, "nothing succeeded at all");
    check_states(d, &ledger);
    let bad = verify_blobs(&d.data_root);
    assert!(
        bad.is_empty(),
        "the image store is damaged:\n{}",
        bad.join("\n")
    );
    // What was committed is whole: listed, and runnable.
    let images = d
        .berth(&["images", "--format", "{{.Repository}}"])
        .ok()
        .stdout;
    if let Some(image) = ledger
        .committed
        .iter()
        .find(|i| images.lines().any(|l| l == i.as_str()))
    {
        d.berth(&["run", "--rm", image, "true"]).ok();
    }

    // Everything removed: nothing may be left.
    let ids = d.container_ids();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        d.berth(&args).ok();
    }
    let committed: Vec<&str> = images
        .lines()
        .filter(|l| l.starts_with("chaos-img-"))
        .collect();
    if !committed.is_empty() {
        let mut args = vec!["rmi"];
        args.extend(&committed);
        d.berth(&args).ok();
    }
    let containers_dir = d.data_root.join("containers");
    eventually("every container directory to be gone", || {
        fs::read_dir(&containers_dir)
            .map(|entries| {
                entries
                    .flatten()
                    .all(|e| e.file_name().to_string_lossy().starts_with('.'))
            })
            .unwrap_or(true)
    });
    let mut every_id: BTreeSet<String> = ledger.created.clone();
    every_id.extend(ids);
    for id in &every_id {
        eventually(&format!("the cgroups of {id} to go"), || {
            cgroup_dirs(id).is_empty()
        });
    }
    let ingest = d.data_root.join("image/blobs/ingest");
    let half_written: Vec<_> = fs::read_dir(&ingest)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(
        half_written.is_empty(),
        "temporary blobs left: {half_written:?}"
    );
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = d.data_root.display().to_string();
    assert!(
        !mountinfo.lines().any(|line| line.contains(&root)),
        "mounts left under {root}"
    );
    assert_eq!(d.run_rm(&["busybox", "echo", "calm"]).trim(), "calm");
}

#[test]
fn clients_survive_berthd_and_supervisor_kills_and_nothing_leaks() {
    berth_tests::needs_root!();
    let seed = std::env::var("BERTH_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            now.as_nanos() as u64 | 1
        });
    let mut d = Daemon::with_busybox();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chaos(&mut d, seed)));
    if let Err(panic) = outcome {
        eprintln!("chaos failed with BERTH_CHAOS_SEED={seed}");
        std::panic::resume_unwind(panic);
    }
}
