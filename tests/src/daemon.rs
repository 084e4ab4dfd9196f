//! A berthd of one's own: started on fresh temporary roots, torn down without a trace.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::command::{run_command, Background, Output};
use crate::fixture::busybox_tar;
use crate::http::{request, HttpResponse};
use crate::{binary, DOCKER_CLI};

/// How long berthd may take to answer `/_ping` after a start, or to exit after SIGTERM, and
/// how long the idle supervisor may take to exit, before the test fails.
const DAEMON_LIMIT: Duration = Duration::from_secs(30);

/// A running berthd with its own data root, exec root and socket in a temporary directory.
///
/// Dropping it removes every container, stops berthd with SIGTERM, checks that the supervisor
/// (`berth-supervisor --exec-root <exec root>`) exited on its own, and deletes the directory
/// after lazily unmounting whatever is still mounted under it.
pub struct Daemon {
    dir: tempfile::TempDir,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub socket: PathBuf,
    /// berthd's stdout and stderr, appended across restarts.
    pub log: PathBuf,
    docker_config: PathBuf,
    process: Option<Child>,
    /// Whether berthd ever answered; only then is it restarted to clean up.
    answered: bool,
    /// Flags added to berthd's command line (registry settings, say).
    extra_args: Vec<String>,
    /// The networking this daemon was given, deleted when it is dropped.
    network: Option<TestNetwork>,
    /// Its `--cgroup-parent`, when it has one of its own: checked empty and removed when it
    /// is dropped.
    cgroup_parent: Option<String>,
}

/// The host networking objects of one networked test daemon: names no other daemon uses.
#[derive(Debug, Clone)]
pub struct TestNetwork {
    /// The default network's Linux bridge (`bt<pid><n>`, at most 15 bytes).
    pub bridge: String,
    /// Its `--bip`: a /24 of 10.213.0.0/16 of its own.
    pub bip: String,
    /// The subnet of `bip`, `10.213.N.0/24`.
    pub subnet: String,
    /// The gateway (the bridge's address), `10.213.N.1`.
    pub gateway: String,
    /// berth's nftables table (family `ip`).
    pub firewall_table: String,
}

impl TestNetwork {
    /// Names for the next networked daemon of this test process.
    fn allocate() -> TestNetwork {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        // The third octet is spread by the process ID so that two test binaries running
        // side by side (or two engineers' runs) rarely meet, and by the counter within one.
        let octet = (pid.wrapping_mul(7).wrapping_add(n.wrapping_mul(37))) % 250 + 1;
        let gateway = format!("10.213.{octet}.1");
        TestNetwork {
            bridge: format!("bt{}n{n}", pid % 100_000),
            bip: format!("{gateway}/24"),
            subnet: format!("10.213.{octet}.0/24"),
            gateway,
            firewall_table: format!("berth_t{pid}_{n}"),
        }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--bridge".into(),
            self.bridge.clone(),
            "--bip".into(),
            self.bip.clone(),
            "--firewall-table".into(),
            self.firewall_table.clone(),
        ]
    }
}

impl Daemon {
    /// Starts a berthd on fresh roots and waits until it answers `GET /_ping`.
    #[track_caller]
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// Starts a berthd with `extra_args` added to its command line. Unless they say
    /// otherwise it runs with `--bridge none`: no default network, no bridge, no firewall
    /// table, so tests that do not care about networking leave nothing on the host.
    #[track_caller]
    pub fn start_with(extra_args: &[String]) -> Daemon {
        let mut args = extra_args.to_vec();
        if !args
            .iter()
            .any(|a| a == "--bridge" || a.starts_with("--bridge="))
        {
            args.extend(["--bridge".to_string(), "none".to_string()]);
        }
        Daemon::start_on(args, None)
    }

    /// Starts a berthd with a default network of its own: a bridge, a `--bip` and a
    /// firewall table no other test uses, all deleted (and checked gone) when it is dropped.
    #[track_caller]
    pub fn networked() -> Daemon {
        let network = TestNetwork::allocate();
        let daemon = Daemon::start_on(network.args(), Some(network));
        daemon.import_busybox();
        daemon
    }

    /// [`Daemon::networked`], with a cgroup parent of its own and `extra_args`.
    #[track_caller]
    pub fn networked_with(extra_args: &[String]) -> Daemon {
        let network = TestNetwork::allocate();
        let mut args = network.args();
        args.extend(own_cgroup_parent());
        args.extend_from_slice(extra_args);
        let daemon = Daemon::start_on(args, Some(network));
        daemon.import_busybox();
        daemon
    }

    /// [`Daemon::with_busybox`], with a cgroup parent of its own (`--cgroup-parent`): once
    /// dropped, it fails the test if any cgroup or process was left below it.
    #[track_caller]
    pub fn with_own_cgroups() -> Daemon {
        let daemon = Daemon::start_with(&own_cgroup_parent());
        daemon.import_busybox();
        daemon
    }

    /// Its own cgroup parent, if it was given one.
    pub fn cgroup_parent(&self) -> Option<&str> {
        self.cgroup_parent.as_deref()
    }

    /// The networking of a [`Daemon::networked`] daemon.
    pub fn network(&self) -> &TestNetwork {
        self.network
            .as_ref()
            .expect("the daemon was started with Daemon::networked")
    }

    /// [`Daemon::with_busybox`], with its data root on a tmpfs of `size` (`mount -o size=`,
    /// e.g. "64m"): a disk that fills up. Unmounted when the daemon is dropped.
    #[track_caller]
    pub fn with_small_data_root(size: &str) -> Daemon {
        let size = size.to_owned();
        let daemon = Daemon::start_prepared(vec!["--bridge".into(), "none".into()], None, |d| {
            fs::create_dir_all(&d.data_root).expect("data root");
            let mounted = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "berth-small"])
                .arg(&d.data_root)
                .status()
                .expect("running mount");
            assert!(
                mounted.success(),
                "mounting a tmpfs of {size} on the data root"
            );
        });
        daemon.import_busybox();
        daemon
    }

    #[track_caller]
    fn start_on(extra_args: Vec<String>, network: Option<TestNetwork>) -> Daemon {
        Daemon::start_prepared(extra_args, network, |_| {})
    }

    /// Makes the daemon's directories, lets `prepare` set them up, and starts berthd.
    #[track_caller]
    fn start_prepared(
        extra_args: Vec<String>,
        network: Option<TestNetwork>,
        prepare: impl FnOnce(&Daemon),
    ) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-it-")
            .tempdir()
            .expect("temporary directory for a daemon");
        let base = dir.path().to_path_buf();
        let cgroup_parent = extra_args
            .iter()
            .position(|a| a == "--cgroup-parent")
            .and_then(|i| extra_args.get(i + 1).cloned());
        let mut daemon = Daemon {
            cgroup_parent,
            data_root: base.join("data"),
            exec_root: base.join("exec"),
            socket: base.join("berth.sock"),
            log: base.join("berthd.log"),
            docker_config: base.join("docker-config"),
            dir,
            process: None,
            answered: false,
            extra_args,
            network,
        };
        fs::create_dir(&daemon.docker_config).expect("docker config directory");
        prepare(&daemon);
        daemon.restart();
        daemon
    }

    /// Starts a daemon and imports the busybox fixture into it as `busybox`.
    #[track_caller]
    pub fn with_busybox() -> Daemon {
        let daemon = Daemon::start();
        daemon.import_busybox();
        daemon
    }

    /// `berth import <busybox rootfs tar> busybox`.
    #[track_caller]
    pub fn import_busybox(&self) {
        let tar = busybox_tar().to_str().expect("UTF-8 path").to_owned();
        self.berth(&["import", &tar, "busybox"]).ok();
    }

    /// The `-H` value that reaches this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The docker config directory (`DOCKER_CONFIG`) that berth and docker use here.
    pub fn docker_config(&self) -> &Path {
        &self.docker_config
    }

    /// The temporary directory holding the roots, the socket and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The command line berthd is started with.
    fn berthd_command(&self) -> Command {
        let mut cmd = Command::new(binary("berthd"));
        cmd.arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("--host")
            .arg(self.host())
            .arg("--log-level")
            .arg("debug")
            .args(&self.extra_args);
        cmd
    }

    /// Starts berthd again on the same roots (after [`Daemon::kill9`] or [`Daemon::terminate`])
    /// and waits until it answers.
    #[track_caller]
    pub fn restart(&mut self) {
        assert!(self.process.is_none(), "berthd is already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("berthd log file");
        let mut cmd = self.berthd_command();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file descriptor"))
            .stderr(log);
        let mut child = cmd.spawn().expect("spawning berthd");
        let deadline = Instant::now() + DAEMON_LIMIT;
        loop {
            if self.ping() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "berthd exited with {status} before answering:\n{}",
                    self.log_text()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "berthd did not answer within {DAEMON_LIMIT:?}:\n{}",
                    self.log_text()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.process = Some(child);
        self.answered = true;
    }

    /// True if berthd answers `GET /_ping` with 200 OK.
    pub fn ping(&self) -> bool {
        matches!(request(&self.socket, "GET", "/_ping", None), Ok(r) if r.status == 200 && r.body == b"OK")
    }

    /// berthd's process ID.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("berthd is running").id()
    }

    /// Kills berthd with SIGKILL and reaps it; containers and the supervisor are left alone.
    pub fn kill9(&mut self) {
        let mut child = self.process.take().expect("berthd is running");
        child.kill().expect("SIGKILL to berthd");
        child.wait().expect("reaping berthd");
    }

    /// Sends berthd `signal` (SIGTERM or SIGINT) and waits for it to exit.
    #[track_caller]
    pub fn terminate_with(&mut self, signal: libc::c_int) -> ExitStatus {
        let child = self.process.take().expect("berthd is running");
        signal_and_wait(child, signal)
            .unwrap_or_else(|| panic!("berthd ignored signal {signal}:\n{}", self.log_text()))
    }

    /// Stops berthd with SIGTERM and waits for it to exit.
    #[track_caller]
    pub fn terminate(&mut self) -> ExitStatus {
        self.terminate_with(libc::SIGTERM)
    }

    /// What berthd has logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `berth ARGS...` against this daemon (through `BERTH_HOST`).
    #[track_caller]
    pub fn berth(&self, args: &[&str]) -> Output {
        run_command(self.berth_command(args), None)
    }

    /// Runs `berth ARGS...` with `stdin` as its standard input.
    #[track_caller]
    pub fn berth_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_command(self.berth_command(args), Some(stdin.to_vec()))
    }

    /// Starts `berth ARGS...` in the background.
    pub fn berth_background(&self, args: &[&str]) -> Background {
        Background::spawn(self.berth_command(args), None)
    }

    /// The `berth ARGS...` command, reaching this daemon through `BERTH_HOST`.
    pub fn berth_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary("berth"));
        cmd.args(args)
            .env("BERTH_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_HOST");
        cmd
    }

    /// Runs the real docker CLI with `DOCKER_HOST` pointing at this daemon and a config
    /// directory of its own.
    #[track_caller]
    pub fn docker(&self, args: &[&str]) -> Output {
        run_command(self.docker_command(args), None)
    }

    /// Runs the docker CLI with `stdin` as its standard input (`login --password-stdin`).
    #[track_caller]
    pub fn docker_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_command(self.docker_command(args), Some(stdin.to_vec()))
    }

    /// The docker CLI command [`Daemon::docker`] runs, for commands that stream (`logs -f`,
    /// `events`).
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(DOCKER_CLI);
        // The CLI's own scratch (a git context's clone, /tmp/docker-build-git*, which it leaves
        // when the build fails) goes in the test's directory, removed with it.
        if let Some(base) = self.docker_config.parent() {
            cmd.env("TMPDIR", base);
        }
        cmd.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION");
        cmd
    }

    /// One raw API request (see [`request`]); fails the test if the connection fails.
    #[track_caller]
    pub fn api(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> HttpResponse {
        request(&self.socket, method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\nberthd log:\n{}", self.log_text()))
    }

    /// `GET /containers/{name}/json`, failing the test unless it answers 200.
    #[track_caller]
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let response = self.api("GET", &format!("/containers/{name}/json"), None);
        assert_eq!(response.status, 200, "inspect {name}: {response}");
        response.json()
    }

    /// `.State.Status` of a container.
    #[track_caller]
    pub fn state(&self, name: &str) -> String {
        self.inspect(name)["State"]["Status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `berth run --rm ARGS...`, which must succeed; returns its standard output.
    #[track_caller]
    pub fn run_rm(&self, args: &[&str]) -> String {
        let mut full = vec!["run", "--rm"];
        full.extend_from_slice(args);
        self.berth(&full).ok().stdout
    }

    /// `berth run -d ARGS...`; returns the container's full ID.
    #[track_caller]
    pub fn run_detached(&self, args: &[&str]) -> String {
        let mut full = vec!["run", "-d"];
        full.extend_from_slice(args);
        let output = self.berth(&full).ok();
        let id = output.out().to_owned();
        assert!(
            crate::is_full_id(&id),
            "run -d did not print a full ID:\n{output}"
        );
        id
    }

    /// `.State.Pid` of a container: its PID 1 as seen from the host.
    #[track_caller]
    pub fn container_pid(&self, name: &str) -> i32 {
        let pid = self.inspect(name)["State"]["Pid"]
            .as_i64()
            .unwrap_or_default();
        assert!(pid > 0, "{name} has no PID: {}", self.inspect(name));
        pid as i32
    }

    /// A container's logs through the API, split into (stdout, stderr).
    #[track_caller]
    pub fn logs(&self, name: &str) -> (String, String) {
        let path = format!("/containers/{name}/logs?stdout=1&stderr=1");
        let response = self.api("GET", &path, None);
        assert_eq!(response.status, 200, "logs of {name}: {response}");
        demultiplex(&response.body)
            .unwrap_or_else(|| panic!("logs of {name} are not a multiplexed stream: {response}"))
    }

    /// Waits until a container's stdout contains `text` (it printed that it is ready).
    #[track_caller]
    pub fn wait_for_output(&self, name: &str, text: &str) {
        crate::eventually(&format!("{name} to print {text:?}"), || {
            self.logs(name).0.contains(text)
        });
    }

    /// Waits until a container's `.State.Status` is `status`.
    #[track_caller]
    pub fn wait_for_state(&self, name: &str, status: &str) {
        crate::eventually(&format!("{name} to be {status}"), || {
            self.state(name) == status
        });
    }

    /// The IDs of every container, through the API.
    #[track_caller]
    pub fn container_ids(&self) -> Vec<String> {
        let response = self.api("GET", "/containers/json?all=1", None);
        assert_eq!(response.status, 200, "listing containers: {response}");
        response
            .json()
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|c| c["Id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Image listing through the API (`GET /images/json`), for before/after comparisons.
    #[track_caller]
    pub fn images(&self) -> serde_json::Value {
        let response = self.api("GET", "/images/json", None);
        assert_eq!(response.status, 200, "listing images: {response}");
        response.json()
    }

    /// Removes every container: `berth rm -f $(berth ps -aq)`, then through the API whatever
    /// that left (so a broken CLI does not leak containers).
    fn remove_all_containers(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let cli_built = crate::bin_dir().join("berth").is_file();
        let listed = if cli_built {
            match Background::spawn(self.berth_command(&["ps", "-aq"]), None).try_finish() {
                Ok(output) => output.stdout,
                Err(output) => {
                    problems.push(format!("`berth ps -aq` hung:\n{output}"));
                    String::new()
                }
            }
        } else {
            String::new()
        };
        let ids: Vec<&str> = listed.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(&ids);
            match Background::spawn(self.berth_command(&args), None).try_finish() {
                Ok(removed) if removed.code == 0 => {}
                Ok(removed) | Err(removed) => {
                    problems.push(format!("cleanup with the CLI failed:\n{removed}"))
                }
            }
        }
        let Ok(list) = request(&self.socket, "GET", "/containers/json?all=1", None) else {
            return problems;
        };
        let left: Vec<String> = serde_json::from_slice::<serde_json::Value>(&list.body)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["Id"].as_str().map(str::to_owned))
            .collect();
        for id in left {
            let path = format!("/containers/{id}?force=1&v=1");
            match request(&self.socket, "DELETE", &path, None) {
                Ok(r) if r.status == 204 => {}
                other => problems.push(format!("DELETE {path}: {other:?}")),
            }
        }
        problems
    }

    /// Removes every network the test created, so that their bridges go too even when the
    /// test failed half-way.
    fn remove_user_networks(&self) -> Vec<String> {
        let Ok(list) = request(&self.socket, "GET", "/networks", None) else {
            return Vec::new();
        };
        let networks: Vec<serde_json::Value> = serde_json::from_slice(&list.body)
            .ok()
            .and_then(|v: serde_json::Value| v.as_array().cloned())
            .unwrap_or_default();
        let mut problems = Vec::new();
        for network in networks {
            let name = network["Name"].as_str().unwrap_or_default();
            if matches!(name, "bridge" | "host" | "none") {
                continue;
            }
            let id = network["Id"].as_str().unwrap_or_default();
            match request(&self.socket, "DELETE", &format!("/networks/{id}"), None) {
                Ok(r) if r.status == 204 || r.status == 404 => {}
                other => problems.push(format!("DELETE /networks/{id} ({name}): {other:?}")),
            }
        }
        problems
    }

    /// The PID of this daemon's one supervisor, once exactly one runs.
    #[track_caller]
    pub fn supervisor_pid(&self) -> libc::pid_t {
        let mut pids = Vec::new();
        crate::eventually("exactly one supervisor", || {
            pids = self.supervisor_pids();
            pids.len() == 1
        });
        pids[0]
    }

    /// Process IDs of this daemon's supervisor: `berth-supervisor --exec-root <exec root>`.
    pub fn supervisor_pids(&self) -> Vec<libc::pid_t> {
        let exec_root = self.exec_root.as_os_str().as_bytes();
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| {
                entry
                    .ok()?
                    .file_name()
                    .to_str()?
                    .parse::<libc::pid_t>()
                    .ok()
            })
            .filter(|pid| {
                let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
                    return false;
                };
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                let program = args.first().map(|arg0| Path::new(OsStr::from_bytes(arg0)));
                program.and_then(Path::file_name) == Some(OsStr::new("berth-supervisor"))
                    && args.iter().any(|a| {
                        *a == exec_root || a.strip_prefix(b"--exec-root=") == Some(exec_root)
                    })
            })
            .collect()
    }

    fn tear_down(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        // A test may leave berthd dead (live-restore tests); containers can only be removed
        // through a running daemon.
        if self.process.is_none() && self.answered {
            let restarted =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.restart()));
            if restarted.is_err() {
                problems.push("could not restart berthd to clean up".to_owned());
            }
        }
        if self.process.is_some() {
            problems.extend(self.remove_all_containers());
            if self.network.is_some() {
                problems.extend(self.remove_user_networks());
            }
            let child = self.process.take().expect("checked");
            if signal_and_wait(child, libc::SIGTERM).is_none() {
                problems.push("berthd ignored SIGTERM and was killed".to_owned());
            }
        }
        let deadline = Instant::now() + DAEMON_LIMIT;
        while !self.supervisor_pids().is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let leftover = self.supervisor_pids();
        if !leftover.is_empty() {
            problems.push(format!(
                "the supervisor {leftover:?} did not exit within {DAEMON_LIMIT:?} once idle"
            ));
            for pid in leftover {
                // SAFETY: kill(2) has no memory effects.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        problems.extend(self.leftover_netns());
        if let Some(parent) = &self.cgroup_parent {
            for cgroup in crate::cgroups::cgroups_under(parent) {
                problems.push(format!("cgroup {} left", cgroup.display()));
            }
            for (pid, cmdline) in crate::cgroups::processes_under(parent) {
                problems.push(format!(
                    "process {pid} ({cmdline}) left running in {parent}"
                ));
            }
            problems.extend(crate::cgroups::remove_parent(parent));
        }
        problems.extend(unmount_under(self.dir.path()));
        if let Some(network) = &self.network {
            problems.extend(crate::netcheck::remove_and_check(network));
        }
        problems
    }

    /// Network namespaces still bind-mounted in the exec root once every container is
    /// gone: each is a leak.
    fn leftover_netns(&self) -> Vec<String> {
        let netns = self.exec_root.join("netns");
        mount_points_under(&netns)
            .into_iter()
            .map(|point| format!("network namespace {} left mounted", point.display()))
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let problems = self.tear_down();
        if problems.is_empty() {
            return;
        }
        let report = format!(
            "tearing down the daemon in {}:\n- {}\nberthd log (tail):\n{}",
            self.dir.path().display(),
            problems.join("\n- "),
            tail(&self.log_text(), 40)
        );
        if thread::panicking() {
            eprintln!("{report}");
        } else {
            panic!("{report}");
        }
    }
}

fn own_cgroup_parent() -> [String; 2] {
    [
        "--cgroup-parent".to_owned(),
        crate::cgroups::unique_parent(),
    ]
}

/// Splits Docker's multiplexed stream (8-byte headers: stream, 3 zero bytes, big-endian
/// length) into stdout and stderr.
fn demultiplex(mut data: &[u8]) -> Option<(String, String)> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while !data.is_empty() {
        let header = data.get(..8)?;
        let len = u32::from_be_bytes(header[4..8].try_into().ok()?) as usize;
        let payload = data.get(8..8 + len)?;
        match header[0] {
            1 => stdout.extend_from_slice(payload),
            2 => stderr.extend_from_slice(payload),
            _ => return None,
        }
        data = &data[8 + len..];
    }
    Some((
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    ))
}

/// Sends `signal` and waits up to [`DAEMON_LIMIT`]; past that, SIGKILLs it and returns None.
fn signal_and_wait(mut child: Child, signal: libc::c_int) -> Option<ExitStatus> {
    // SAFETY: kill(2) has no memory effects; `child` is not reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let deadline = Instant::now() + DAEMON_LIMIT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Lazily unmounts every mount point under `dir`, deepest first.
fn unmount_under(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut points = mount_points_under(dir);
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for point in points {
        let Ok(c_path) = std::ffi::CString::new(point.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: c_path is a valid NUL-terminated string for the duration of the call.
        if unsafe { libc::umount2(c_path.as_ptr(), libc::MNT_DETACH) } != 0 {
            let e = io::Error::last_os_error();
            problems.push(format!("umount {}: {e}", point.display()));
        }
    }
    problems
}

/// Mount points under `dir` in this process's mount namespace.
fn mount_points_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|point| point.starts_with(dir))
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space and so on).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok());
        match (bytes[i], octal.and_then(|d| u8::from_str_radix(d, 8).ok())) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
