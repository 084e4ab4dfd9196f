//! Chaos: 20 clients in parallel (`run --rm`, `run -d` + `logs -f` + `stop`, `exec`, `pull`
//! from a local registry, `commit`), all on the default bridge, while berthd and its
//! supervisor are killed with SIGKILL at random moments. No call may hang. After the last
//! restart: every container is listed with its true state and exit code; no address is
//! held by two containers, and a published port and the embedded DNS answer for the
//! container that holds them now; every blob of the image store matches its digest and
//! every image is whole. Once everything is removed nothing is left: no container
//! directory, cgroup or process below the daemon's own cgroup parent, mount, veth, netns
//! file or temporary file; and the daemon's memory is back near its idle figure.
//!
//! Bounded to about three minutes. The seed is printed on failure; `BERTH_CHAOS_SEED=N`
//! replays a run's choices (the timing of the machine is not replayed).

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use berth_tests::cgroups::{cgroups_under, processes_under};
use berth_tests::netcheck::http_get;
use berth_tests::registry::DockerRegistry;
use berth_tests::{binary, eventually, Daemon};
use sha2::{Digest, Sha256};

/// How long the faults go on.
const CHAOS: Duration = Duration::from_secs(40);
/// Clients running at once.
const CLIENTS: usize = 20;
/// How far above its idle figure the daemon's RSS may be once all is removed (the
/// allocator keeps some freed memory; a leak of every container's state would not fit).
const RSS_SLACK_KB: u64 = 32 * 1024;
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
    /// Pulls that succeeded.
    pulled: usize,
    succeeded: usize,
    failed: usize,
    /// How the failed calls failed (their first line of stderr, IDs and names cut), by count.
    failures: std::collections::BTreeMap<String, usize>,
    /// Calls that hung: each one fails the test.
    hung: Vec<String>,
    /// Calls that succeeded with a wrong answer: each one fails the test.
    wrong: Vec<String>,
}

/// What every client shares.
struct Shared {
    cli: Cli,
    seed: u64,
    stop: AtomicBool,
    ledger: Mutex<Ledger>,
    /// The image the clients pull (and remove again) from the local registry.
    payload: String,
}

impl Shared {
    fn record(&self, result: Result<Ran, String>) -> Option<Ran> {
        let mut ledger = self.ledger.lock().unwrap();
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
    }

    fn wrong(&self, what: String) {
        self.ledger.lock().unwrap().wrong.push(what);
    }
}

fn client(shared: Arc<Shared>, index: usize) {
    let cli = &shared.cli;
    let mut rng = Rng(shared.seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut n = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        n += 1;
        match rng.below(5) {
            0 => {
                let word = format!("chaos-{index}-{n}");
                let name = format!("rm-{index}-{n}");
                let ran = cli.run(
                    &["run", "--rm", "--name", &name, "busybox", "echo", &word],
                    CALL_LIMIT,
                );
                if let Some(ran) = shared.record(ran) {
                    if ran.code == 0 && ran.stdout.trim() != word {
                        shared.wrong(format!(
                            "run --rm echo {word} printed {:?} (stderr {:?})",
                            ran.stdout, ran.stderr
                        ));
                    }
                }
            }
            1 => ticker(&shared, &mut rng, format!("ticker-{index}-{n}")),
            2 => {
                let ran = cli.run(&["exec", "shared", "echo", "inside"], CALL_LIMIT);
                if let Some(ran) = shared.record(ran) {
                    if ran.code == 0 && ran.stdout.trim() != "inside" {
                        shared.wrong(format!("exec echo inside printed {:?}", ran.stdout));
                    }
                    // A berthd restarted after a supervisor death kills the orphans, and a
                    // berthd killed during a commit leaves the container paused: the clients
                    // bring the shared container back.
                    let all = format!("{}{}", ran.stdout, ran.stderr);
                    if all.contains("is not running") {
                        shared.record(cli.run(&["start", "shared"], CALL_LIMIT));
                    } else if all.contains("is paused") {
                        shared.record(cli.run(&["unpause", "shared"], CALL_LIMIT));
                    }
                }
            }
            3 => {
                let image = format!("chaos-img-{index}-{n}");
                if let Some(ran) = shared.record(cli.run(&["commit", "shared", &image], CALL_LIMIT))
                {
                    if ran.code == 0 {
                        shared.ledger.lock().unwrap().committed.insert(image);
                    }
                }
            }
            _ => {
                let pulled = shared.record(cli.run(&["pull", &shared.payload], CALL_LIMIT));
                if pulled.is_some_and(|ran| ran.code == 0) {
                    shared.ledger.lock().unwrap().pulled += 1;
                    if rng.below(2) == 0 {
                        shared.record(cli.run(&["rmi", &shared.payload], CALL_LIMIT));
                    }
                }
            }
        }
    }
}

/// `run -d` a ticker, follow its logs, stop it, remove it.
fn ticker(shared: &Shared, rng: &mut Rng, name: String) {
    let cli = &shared.cli;
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
    let Some(ran) = shared.record(started) else {
        return;
    };
    if ran.code == 0 {
        let id = ran.stdout.trim().to_owned();
        shared.ledger.lock().unwrap().created.insert(id);
    }
    let follower = {
        let cli = cli.clone();
        let name = name.clone();
        thread::spawn(move || cli.run(&["logs", "-f", &name], CALL_LIMIT))
    };
    thread::sleep(Duration::from_millis(rng.below(1000)));
    shared.record(cli.run(&["stop", "-t", "1", &name], CALL_LIMIT));
    // logs -f ends with the container (or with the daemon that served it).
    if let Ok(followed) = follower.join() {
        shared.record(followed);
    }
    if let Some(ran) = shared.record(cli.run(&["rm", "-f", &name], CALL_LIMIT)) {
        if ran.code == 0 {
            shared.ledger.lock().unwrap().removed.insert(name);
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

/// Processes in the cgroups of container `id` (below the daemon's cgroup parent).
fn container_procs(parent: &str, id: &str) -> Vec<(i32, String)> {
    let own = format!("{parent}/{id}");
    processes_under(parent)
        .into_iter()
        .filter(|(pid, _)| {
            fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .unwrap_or_default()
                .contains(&own)
        })
        .collect()
}

/// Every blob of the content store matches the digest it is stored under, and no blob is
/// half-stored (nothing is left in the ingest directory).
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

/// Files of atomic writes that never finished (`.<name>.tmp-<pid>-<n>`) or of half-made
/// layers, anywhere under `root`.
fn temp_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains(".tmp-") {
                found.push(entry.path());
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
    }
    found
}

/// berthd's resident memory in KiB.
fn rss_kb(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    berth_tests::status_field(&status, "VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The true state and exit code of every listed container: running ones run in their
/// cgroup, the others have no process and an exit code their command can have.
fn check_states(d: &Daemon, ledger: &Ledger, parent: &str) {
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
        let status = state["Status"].as_str().unwrap_or_default();
        if state["Running"] == true {
            assert!(
                pid > 0 && !has_exited(pid),
                "{name} is shown running, its PID {pid} is not: {state}"
            );
            let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            assert!(
                cgroup.contains(&format!("{parent}/{id}")),
                "{name}'s PID {pid} is not in its cgroup: {cgroup}"
            );
            continue;
        }
        assert_eq!(pid, 0, "{name} is not running but has a PID: {state}");
        assert!(["created", "exited"].contains(&status), "{name}: {state}");
        assert_eq!(
            container_procs(parent, &id),
            Vec::new(),
            "{name} is shown {status} but processes run in its cgroup"
        );
        if status == "exited" {
            // A ticker never ends by itself: stopped (SIGTERM is ignored by a PID 1 shell,
            // so SIGKILL), killed by a restarted berthd, or ended unseen (Docker's 255).
            // An `echo` ends with 0 unless killed.
            let code = state["ExitCode"].as_i64().unwrap_or(-1);
            let possible: &[i64] = if name.starts_with("ticker-") {
                &[137, 143, 255]
            } else if name.starts_with("rm-") {
                &[0, 137, 255]
            } else {
                &[0, 137, 143, 255]
            };
            assert!(
                possible.contains(&code),
                "{name} exited with {code}, which its command cannot give: {state}"
            );
        }
    }
}

/// No two running containers hold the same address on a network.
fn check_addresses(d: &Daemon) {
    let mut held: std::collections::BTreeMap<(String, String), String> = Default::default();
    for id in d.container_ids() {
        let inspect = d.inspect(&id);
        if inspect["State"]["Running"] != true {
            continue;
        }
        let networks = inspect["NetworkSettings"]["Networks"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (network, settings) in networks {
            let ip = settings["IPAddress"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if ip.is_empty() {
                continue;
            }
            if let Some(other) = held.insert((network.clone(), ip.clone()), id.clone()) {
                panic!("{ip} on {network} is held by both {other} and {id}");
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// An image of its own to pull: a megabyte of random bytes no other image has, pushed to
/// the registry and removed locally.
fn push_payload(d: &Daemon, registry: &DockerRegistry) -> String {
    let payload = format!("{}/chaos/payload:latest", registry.domain());
    d.berth(&[
        "run",
        "--name",
        "seed",
        "busybox",
        "sh",
        "-c",
        "head -c 1000000 /dev/urandom > /payload",
    ])
    .ok();
    d.berth(&["commit", "seed", &payload]).ok();
    d.berth(&["push", &payload]).ok();
    d.berth(&["rm", "seed"]).ok();
    d.berth(&["rmi", &payload]).ok();
    payload
}

fn chaos(d: &mut Daemon, registry: &DockerRegistry, seed: u64) {
    let parent = d.cgroup_parent().expect("its own cgroup parent").to_owned();
    assert_eq!(cgroups_under(&parent), Vec::<PathBuf>::new());
    assert_eq!(processes_under(&parent), Vec::new());
    let payload = push_payload(d, registry);
    // A user network for the embedded DNS, and a published port.
    let octet = d.network().gateway.split('.').nth(2).unwrap().to_owned();
    let subnet = format!("10.209.{octet}.0/24");
    d.berth(&["network", "create", "--subnet", &subnet, "chaosnet"])
        .ok();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    d.run_detached(&[
        "--name",
        "web",
        "--network",
        "chaosnet",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    d.run_detached(&["--name", "shared", "busybox", "sleep", "100000"]);

    let shared = Arc::new(Shared {
        cli: Cli {
            berth: binary("berth"),
            host: d.host(),
            docker_config: d.docker_config().to_path_buf(),
        },
        seed,
        stop: AtomicBool::new(false),
        ledger: Mutex::default(),
        payload: payload.clone(),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let shared = shared.clone();
            thread::spawn(move || client(shared, index))
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
    shared.stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().expect("a client panicked");
    }
    // The last fault, then the checks on what the restarted daemon shows.
    d.kill9();
    d.restart();
    thread::sleep(Duration::from_secs(1));
    let idle_rss = rss_kb(d.pid());
    let ledger = shared.ledger.lock().unwrap();
    eprintln!(
        "chaos: {berthd_kills} berthd kills, {supervisor_kills} supervisor kills, {} calls succeeded, {} failed, {} containers created, {} images committed, {} pulls",
        ledger.succeeded,
        ledger.failed,
        ledger.created.len(),
        ledger.committed.len(),
        ledger.pulled
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
    // `--rm` containers that were exiting at the last kill go once their exit is seen.
    eventually("the --rm containers to be gone", || {
        d.berth(&["ps", "-a", "--format", "{{.Names}}"])
            .ok()
            .stdout
            .lines()
            .all(|name| !name.starts_with("rm-"))
    });
    check_states(d, &ledger, &parent);
    check_addresses(d);
    let bad = verify_blobs(&d.data_root);
    assert!(
        bad.is_empty(),
        "the image store is damaged:\n{}",
        bad.join("\n")
    );
    // Every image listed is whole: its config and layers are there to inspect and run.
    let images = d
        .berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok()
        .stdout;
    for image in images.lines().filter(|i| !i.contains("<none>")) {
        d.berth(&["image", "inspect", image]).ok();
    }
    if let Some(image) = ledger
        .committed
        .iter()
        .find(|i| images.lines().any(|l| l == format!("{i}:latest")))
    {
        d.berth(&["run", "--rm", image, "true"]).ok();
    }
    d.berth(&["pull", &payload]).ok();
    d.berth(&["run", "--rm", &payload, "sh", "-c", "test -s /payload"])
        .ok();

    // Networking after the restarts: the published port and the DNS answer for the
    // container that holds them now.
    for name in ["web", "shared"] {
        match d.state(name).as_str() {
            "running" => {}
            // berthd was killed during a commit, which had paused it.
            "paused" => drop(d.berth(&["unpause", name]).ok()),
            _ => drop(d.berth(&["start", name]).ok()),
        }
    }
    eventually("the published port to serve web", || {
        http_get(SocketAddr::from(([127, 0, 0, 1], port))).is_some_and(|body| body == "hello")
    });
    let web_ip = d.inspect("web")["NetworkSettings"]["Networks"]["chaosnet"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let looked_up = d
        .berth(&[
            "run",
            "--rm",
            "--network",
            "chaosnet",
            "busybox",
            "nslookup",
            "web",
        ])
        .ok();
    assert!(
        !web_ip.is_empty() && looked_up.stdout.contains(&web_ip),
        "web is {web_ip}: {looked_up}"
    );
    // A newcomer on each network gets an address nobody holds.
    d.run_detached(&["--name", "newcomer", "busybox", "sleep", "600"]);
    d.run_detached(&[
        "--name",
        "newcomer2",
        "--network",
        "chaosnet",
        "busybox",
        "sleep",
        "600",
    ]);
    check_addresses(d);

    // Calm: the restarted daemon serves a burst of clients.
    let calm: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let cli = shared.cli.clone();
            thread::spawn(move || {
                let word = format!("calm-{i}");
                let ran = cli.run(&["run", "--rm", "busybox", "echo", &word], CALL_LIMIT);
                ran.map(|r| (r.code, r.stdout.trim() == word))
            })
        })
        .collect();
    for run in calm {
        assert_eq!(run.join().unwrap(), Ok((0, true)));
    }

    // Everything removed: nothing may be left.
    let ids = d.container_ids();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        d.berth(&args).ok();
    }
    let images = d
        .berth(&["images", "--format", "{{.Repository}}"])
        .ok()
        .stdout;
    let mut made: Vec<&str> = images
        .lines()
        .filter(|l| l.starts_with("chaos-img-") || l.contains("/chaos/payload"))
        .collect();
    made.dedup();
    if !made.is_empty() {
        let mut args = vec!["rmi"];
        args.extend(&made);
        d.berth(&args).ok();
    }
    d.berth(&["network", "rm", "chaosnet"]).ok();
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
    eventually("every cgroup below the daemon's parent to go", || {
        cgroups_under(&parent).is_empty()
    });
    assert_eq!(
        processes_under(&parent),
        Vec::new(),
        "processes left below the daemon's cgroup parent"
    );
    let bridge = d.network().bridge.clone();
    eventually("every veth to leave the bridge", || {
        berth_tests::netcheck::bridge_ports(&bridge).is_empty()
    });
    let netns: Vec<_> = fs::read_dir(d.exec_root.join("netns"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(netns.is_empty(), "network namespace files left: {netns:?}");
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
    let temps = temp_files(&d.data_root);
    assert!(temps.is_empty(), "temporary files left: {temps:?}");
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = d.data_root.display().to_string();
    assert!(
        !mountinfo.lines().any(|line| line.contains(&root)),
        "mounts left under {root}"
    );
    let after_rss = rss_kb(d.pid());
    eprintln!("chaos: berthd RSS {idle_rss} KiB idle after the last restart, {after_rss} KiB once all was removed");
    assert!(
        after_rss <= idle_rss + RSS_SLACK_KB,
        "berthd's RSS grew from {idle_rss} KiB idle to {after_rss} KiB with nothing left"
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
    eprintln!("chaos: BERTH_CHAOS_SEED={seed}");
    let registry = DockerRegistry::start();
    let mut d = Daemon::networked_with(&[]);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        chaos(&mut d, &registry, seed)
    }));
    if let Err(panic) = outcome {
        eprintln!("chaos failed with BERTH_CHAOS_SEED={seed}");
        std::panic::resume_unwind(panic);
    }
}
