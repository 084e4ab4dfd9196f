//! The supervisor as a real separate process (the `plain-supervisor` binary, whose spawner
//! runs plain host processes), driven through the real socket by the client.
//!
//! A "daemon" here is a tokio runtime: dropping the runtime closes its connection exactly as
//! the kernel does when berthd is killed. Nothing is timed: every wait is for an event (a
//! reply, an exit event, a pidfd turning readable, EOF on a pipe).

use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Command;

use berth_runtime::{ContainerConfig, ExecConfig, ProcessIo, Rootfs, StartFailureKind, Stdio};
use berth_supervisor::{
    read_exit_record, ClientError, ContainerIo, ExecRequest, ExitEvent, Refusal, SpawnRequest,
    SupervisorClient,
};
use oci_spec::runtime::{ProcessBuilder, Spec};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use tempfile::TempDir;
use tokio::sync::mpsc::UnboundedReceiver;

/// One test's exec root and state directories, and pidfds of every process it started, so
/// that a failing test kills what it left behind (pidfds: never a recycled PID). A test that
/// passes ends by waiting for its supervisor to exit by itself.
struct Fixture {
    exec_root: TempDir,
    state_root: TempDir,
    supervisor: Option<OwnedFd>,
    processes: Vec<OwnedFd>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            exec_root: tempfile::tempdir().unwrap(),
            state_root: tempfile::tempdir().unwrap(),
            supervisor: None,
            processes: Vec::new(),
        }
    }

    fn start_command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_plain-supervisor"));
        command.arg("--exec-root").arg(self.exec_root.path());
        command
    }

    async fn connect(&mut self) -> (SupervisorClient, UnboundedReceiver<ExitEvent>) {
        let (client, events) =
            SupervisorClient::connect_or_start(self.exec_root.path(), self.start_command())
                .await
                .unwrap();
        // While a daemon is connected the supervisor cannot exit, so this PID is still its.
        let supervisor = self.watch(client.supervisor_pid());
        self.supervisor.get_or_insert(supervisor);
        (client, events)
    }

    /// Must be called while `pid` cannot have been reaped yet.
    fn watch(&mut self, pid: i32) -> OwnedFd {
        let pidfd = pidfd_open(Pid::from_raw(pid).unwrap(), PidfdFlags::empty()).unwrap();
        self.processes.push(pidfd.try_clone().unwrap());
        pidfd
    }

    fn state_dir(&self, id: &str) -> PathBuf {
        let dir = self.state_root.path().join(id);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn request(&self, id: &str, script: &str) -> SpawnRequest {
        self.request_with_env(id, script, vec!["PATH=/usr/bin:/bin".into()])
    }

    fn request_with_env(&self, id: &str, script: &str, env: Vec<String>) -> SpawnRequest {
        let process = ProcessBuilder::default()
            .args(vec!["/bin/sh".into(), "-c".into(), script.into()])
            .env(env)
            .build()
            .unwrap();
        let mut spec = Spec::default();
        spec.set_process(Some(process));
        SpawnRequest {
            config: ContainerConfig {
                id: id.into(),
                spec,
                rootfs: Rootfs::Directory("/".into()),
                init: false,
            },
            state_dir: self.state_dir(id),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for process in &self.processes {
                let _ = pidfd_send_signal(process, Signal::KILL);
            }
        } else if let Some(supervisor) = &self.supervisor {
            // No daemon and no container left: the supervisor exits by itself.
            wait_for_exit(supervisor);
            let socket = berth_supervisor::paths::socket(self.exec_root.path());
            assert!(!socket.exists(), "the supervisor removed its socket");
        }
    }
}

/// Runs one daemon lifetime; everything it connected is closed when this returns.
fn as_daemon<T>(future: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(future)
}

fn wait_for_exit(pidfd: &OwnedFd) {
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    while poll(&mut fds, None).unwrap() == 0 {}
}

fn pipe() -> (OwnedFd, OwnedFd) {
    pipe_with(PipeFlags::CLOEXEC).unwrap()
}

fn dev_null() -> OwnedFd {
    File::options()
        .write(true)
        .open("/dev/null")
        .unwrap()
        .into()
}

fn quiet() -> Stdio {
    Stdio {
        stdin: None,
        stdout: dev_null(),
        stderr: dev_null(),
    }
}

fn read_to_end(fd: OwnedFd) -> String {
    let mut text = String::new();
    File::from(fd).read_to_string(&mut text).unwrap();
    text
}

async fn next_exit(events: &mut UnboundedReceiver<ExitEvent>) -> ExitEvent {
    events.recv().await.expect("the connection stays up")
}

#[test]
fn a_container_runs_exits_and_is_released() {
    let mut fixture = Fixture::new();
    as_daemon(async {
        let (client, mut events) = fixture.connect().await;
        let request = fixture.request("exit3", "echo out; echo err >&2; exit 3");
        let state_dir = request.state_dir.clone();
        let (out_read, out_write) = pipe();
        let (err_read, err_write) = pipe();
        let stdio = Stdio {
            stdin: None,
            stdout: out_write,
            stderr: err_write,
        };
        let spawned = client
            .spawn(request, stdio, Vec::new())
            .await
            .unwrap()
            .unwrap();

        let event = next_exit(&mut events).await;
        assert_eq!((event.id.as_str(), event.pid), ("exit3", spawned.pid));
        assert_eq!((event.exit.exit_code, event.exit.signal), (3, None));
        // Written before the event was sent.
        assert_eq!(read_exit_record(&state_dir), Some(event.exit.clone()));
        // EOF proves the supervisor closed its copies of the child's ends after spawning.
        assert_eq!(read_to_end(out_read), "out\n");
        assert_eq!(read_to_end(err_read), "err\n");

        let listed = client.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!listed[0].running);
        assert_eq!(listed[0].exit, Some(event.exit));

        client.release("exit3").await.unwrap();
        assert!(client.list().await.unwrap().is_empty());
    });
}

#[test]
fn a_signal_reaches_a_running_container_and_not_a_reaped_one() {
    let mut fixture = Fixture::new();
    as_daemon(async {
        let (client, mut events) = fixture.connect().await;
        let request = fixture.request("sleeper", "exec sleep 1000");
        let spawned = client
            .spawn(request, quiet(), Vec::new())
            .await
            .unwrap()
            .unwrap();
        fixture.watch(spawned.pid);

        assert!(client.signal("sleeper", libc::SIGTERM).await.unwrap());
        let event = next_exit(&mut events).await;
        assert_eq!(
            (event.exit.exit_code, event.exit.signal),
            (143, Some(libc::SIGTERM))
        );

        assert!(!client.signal("sleeper", libc::SIGKILL).await.unwrap());
        client.release("sleeper").await.unwrap();
    });
}

#[test]
fn mistakes_are_refused_and_start_failures_reported() {
    let mut fixture = Fixture::new();
    as_daemon(async {
        let (client, mut events) = fixture.connect().await;
        let missing = fixture.request("missing", "unused");
        let mut missing = missing;
        let mut process = missing.config.spec.process().clone().unwrap();
        process.set_args(Some(vec!["/nonexistent/program".into()]));
        missing.config.spec.set_process(Some(process));
        let failure = client
            .spawn(missing, quiet(), Vec::new())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(failure.kind, StartFailureKind::NotFound);
        assert!(
            client.list().await.unwrap().is_empty(),
            "a failed start leaves nothing"
        );

        let (stdin_read, stdin_write) = pipe();
        let stdio = Stdio {
            stdin: Some(stdin_read),
            ..quiet()
        };
        let request = fixture.request("reader", "read line; exit 0");
        let spawned = client
            .spawn(request, stdio, Vec::new())
            .await
            .unwrap()
            .unwrap();
        fixture.watch(spawned.pid);

        let again = fixture.request("reader", "exit 0");
        assert!(matches!(
            client.spawn(again, quiet(), Vec::new()).await,
            Err(ClientError::Refused(Refusal::DuplicateContainer { .. }))
        ));
        assert!(matches!(
            client.release("reader").await,
            Err(ClientError::Refused(Refusal::StillRunning { .. }))
        ));
        assert!(matches!(
            client.signal("nobody", libc::SIGTERM).await,
            Err(ClientError::Refused(Refusal::UnknownContainer { .. }))
        ));
        assert!(matches!(
            client.signal("reader", 4096).await,
            Err(ClientError::Refused(Refusal::Signal { .. }))
        ));
        let mut relative = fixture.request("relative", "exit 0");
        relative.state_dir = PathBuf::from("state/relative");
        assert!(matches!(
            client.spawn(relative, quiet(), Vec::new()).await,
            Err(ClientError::Refused(Refusal::StateDir { .. }))
        ));

        File::from(stdin_write).write_all(b"go\n").unwrap();
        assert_eq!(next_exit(&mut events).await.exit.exit_code, 0);
        client.release("reader").await.unwrap();
    });
}

#[test]
fn a_container_inherits_only_its_stdio() {
    let mut fixture = Fixture::new();
    as_daemon(async {
        let (client, mut events) = fixture.connect().await;
        // The supervisor holds a listener, a signalfd, a lock, the connection and this kept
        // pipe end: none of them may reach the container.
        let (kept, _kept_write) = pipe();
        let request = fixture.request(
            "fds",
            "for fd in /proc/$$/fd/*; do echo \"${fd##*/}\"; done",
        );
        let (out_read, out_write) = pipe();
        let stdio = Stdio {
            stdin: None,
            stdout: out_write,
            stderr: dev_null(),
        };
        client
            .spawn(request, stdio, vec![kept])
            .await
            .unwrap()
            .unwrap();
        let listed = read_to_end(out_read);
        // 0, 1, 2, and the directory the shell's glob reads.
        assert_eq!(listed.lines().count(), 4, "{listed}");
        next_exit(&mut events).await;
        client.release("fds").await.unwrap();
    });
}

#[test]
fn pipes_and_exits_survive_the_daemon() {
    let mut fixture = Fixture::new();
    let (stdin_write, kept_before, state_dir, pid) = as_daemon(async {
        let (client, _events) = fixture.connect().await;
        let (stdin_read, stdin_write) = pipe();
        let (out_read, out_write) = pipe();
        // Data already in the pipe when the daemon dies: the daemon's own ends go with it.
        File::from(out_write.try_clone().unwrap())
            .write_all(b"before the crash\n")
            .unwrap();
        let stdio = Stdio {
            stdin: Some(stdin_read),
            stdout: out_write,
            stderr: dev_null(),
        };
        let request = fixture.request("survivor", "read line; echo \"got $line\"; exit 42");
        let state_dir = request.state_dir.clone();
        let keep = vec![out_read];
        let spawned = client.spawn(request, stdio, keep).await.unwrap().unwrap();
        let kept_before = client.list().await.unwrap().remove(0).kept.len();
        (stdin_write, kept_before, state_dir, spawned.pid)
    });
    // The daemon is gone (its runtime and socket closed). The container exits meanwhile.
    let container = fixture.watch(pid);
    File::from(stdin_write).write_all(b"hello\n").unwrap();
    wait_for_exit(&container);

    as_daemon(async {
        let (client, mut events) = fixture.connect().await;
        let mut listed = client.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        let mut survivor = listed.remove(0);
        assert_eq!((survivor.id.as_str(), survivor.pid), ("survivor", pid));
        assert_eq!(survivor.kept.len(), kept_before);
        let exit = match survivor.exit.take() {
            Some(exit) => exit,
            // Exited, but not reaped yet when the list was made: the event follows.
            None => next_exit(&mut events).await.exit,
        };
        assert_eq!((exit.exit_code, exit.signal), (42, None));
        assert_eq!(read_exit_record(&state_dir), Some(exit));
        assert_eq!(
            read_to_end(survivor.kept.remove(0)),
            "before the crash\ngot hello\n"
        );
        client.release("survivor").await.unwrap();
    });
}

/// Reads a terminal's master until its last slave is gone (EIO), with CRLF made LF.
fn read_terminal(master: OwnedFd) -> String {
    let mut file = File::from(master);
    let mut output = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("reading the terminal: {e}"),
        }
    }
    String::from_utf8_lossy(&output).replace("\r\n", "\n")
}

#[test]
fn a_terminal_comes_back_and_is_kept_for_the_next_daemon() {
    let mut fixture = Fixture::new();
    let (master, pid) = as_daemon(async {
        let (client, _events) = fixture.connect().await;
        let request = fixture.request("tty", "read line; echo \"got $line\"; [ -t 0 ]");
        let io = ContainerIo {
            io: ProcessIo::Terminal,
            keep: Vec::new(),
            stdin_writer: None,
        };
        let started = client.spawn_with(request, io).await.unwrap().unwrap();
        let listed = client.list().await.unwrap().remove(0);
        assert!(listed.terminal.is_some() && listed.stdin_writer.is_none());
        (started.terminal.unwrap(), started.spawned.pid)
    });
    // The first daemon's copy of the master is closed; the kept one still reaches the
    // container through the next daemon.
    drop(master);
    fixture.watch(pid);
    as_daemon(async {
        let (client, mut events) = fixture.connect().await;
        let master = client.list().await.unwrap().remove(0).terminal.unwrap();
        File::from(master.try_clone().unwrap())
            .write_all(b"typed\n")
            .unwrap();
        let exit = next_exit(&mut events).await;
        assert_eq!(exit.exit.exit_code, 0, "stdin was a terminal");
        // The supervisor still holds a copy until the release, so the slave's end is what
        // ends the read.
        assert_eq!(read_terminal(master), "typed\ngot typed\n");
        client.release("tty").await.unwrap();
    });
}

#[test]
fn a_kept_stdin_writer_outlives_the_daemon_until_it_is_closed() {
    let mut fixture = Fixture::new();
    let (out_read, pid) = as_daemon(async {
        let (client, _events) = fixture.connect().await;
        let (stdin_read, stdin_write) = pipe();
        let (out_read, out_write) = pipe();
        let request = fixture.request("cat", "exec cat");
        File::from(stdin_write.try_clone().unwrap())
            .write_all(b"first\n")
            .unwrap();
        let io = ContainerIo {
            io: ProcessIo::Pipes(Stdio {
                stdin: Some(stdin_read),
                stdout: out_write,
                stderr: dev_null(),
            }),
            keep: Vec::new(),
            stdin_writer: Some(stdin_write),
        };
        let started = client.spawn_with(request, io).await.unwrap().unwrap();
        assert!(started.terminal.is_none());
        (out_read, started.spawned.pid)
    });
    // The daemon died with its writer: cat did not see end-of-file, the kept writer is there.
    fixture.watch(pid);
    as_daemon(async {
        let (client, mut events) = fixture.connect().await;
        let writer = client.list().await.unwrap().remove(0).stdin_writer.unwrap();
        File::from(writer).write_all(b"second\n").unwrap();
        client.close_stdin("cat").await.unwrap();
        assert!(client.list().await.unwrap()[0].stdin_writer.is_none());
        assert_eq!(next_exit(&mut events).await.exit.exit_code, 0);
        assert_eq!(read_to_end(out_read), "first\nsecond\n");
        assert!(matches!(
            client.close_stdin("nobody").await,
            Err(ClientError::Refused(Refusal::UnknownContainer { .. }))
        ));
        client.release("cat").await.unwrap();
    });
}

#[test]
fn an_exec_is_reported_with_its_id_and_refused_outside_a_running_container() {
    let mut fixture = Fixture::new();
    as_daemon(async {
        let (client, mut events) = fixture.connect().await;
        let container = fixture.request("host", "exec sleep 1000");
        let config = container.config.clone();
        let spawned = client
            .spawn(container, quiet(), Vec::new())
            .await
            .unwrap()
            .unwrap();
        fixture.watch(spawned.pid);
        let exec = |exec_id: &str, script: &str, container: &ContainerConfig| {
            let mut process = config.spec.process().clone().unwrap();
            process.set_args(Some(vec!["/bin/sh".into(), "-c".into(), script.into()]));
            ExecRequest {
                exec_id: exec_id.into(),
                container: container.id.clone(),
                config: ExecConfig {
                    process,
                    user: None,
                },
                orphan: None,
            }
        };

        let (out_read, out_write) = pipe();
        let stdio = Stdio {
            stdin: None,
            stdout: out_write,
            stderr: dev_null(),
        };
        let started = client
            .exec(
                exec("e1", "echo inside; exit 7", &config),
                ProcessIo::Pipes(stdio),
            )
            .await
            .unwrap()
            .unwrap();
        let event = next_exit(&mut events).await;
        assert_eq!(
            (event.id.as_str(), event.exec.as_deref(), event.pid),
            ("host", Some("e1"), started.spawned.pid)
        );
        assert_eq!(event.exit.exit_code, 7);
        assert_eq!(read_to_end(out_read), "inside\n");

        let terminal = client
            .exec(
                exec("e2", "[ -t 1 ] && echo tty", &config),
                ProcessIo::Terminal,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read_terminal(terminal.terminal.unwrap()), "tty\n");
        assert_eq!(next_exit(&mut events).await.exec.as_deref(), Some("e2"));

        let mut stranger = config.clone();
        stranger.id = "nobody".into();
        assert!(matches!(
            client
                .exec(exec("e3", "true", &stranger), ProcessIo::Pipes(quiet()))
                .await,
            Err(ClientError::Refused(Refusal::UnknownContainer { .. }))
        ));
        assert!(client.signal("host", libc::SIGKILL).await.unwrap());
        assert_eq!(next_exit(&mut events).await.exec, None);
        assert!(matches!(
            client
                .exec(exec("e4", "true", &config), ProcessIo::Pipes(quiet()))
                .await,
            Err(ClientError::Refused(Refusal::NotRunning { .. }))
        ));
        client.release("host").await.unwrap();
    });
}

#[test]
fn the_supervisor_outlives_a_daemon_while_it_holds_containers() {
    let mut fixture = Fixture::new();
    let (first_pid, container) = as_daemon(async {
        let (client, _events) = fixture.connect().await;
        let request = fixture.request("held", "exec sleep 1000");
        let spawned = client
            .spawn(request, quiet(), Vec::new())
            .await
            .unwrap()
            .unwrap();
        (client.supervisor_pid(), spawned.pid)
    });
    fixture.watch(container);
    as_daemon(async {
        let (client, mut events) = fixture.connect().await;
        assert_eq!(
            client.supervisor_pid(),
            first_pid,
            "the same supervisor answered"
        );
        assert!(client.list().await.unwrap()[0].running);
        assert!(client.signal("held", libc::SIGKILL).await.unwrap());
        let exit = next_exit(&mut events).await.exit;
        assert_eq!((exit.exit_code, exit.signal), (137, Some(libc::SIGKILL)));
        client.release("held").await.unwrap();
    });
}

#[test]
fn a_new_connection_replaces_the_old_one() {
    let mut fixture = Fixture::new();
    as_daemon(async {
        let (old, mut old_events) = fixture.connect().await;
        let (new, _new_events) = fixture.connect().await;
        assert_eq!(old.supervisor_pid(), new.supervisor_pid());
        assert!(
            old_events.recv().await.is_none(),
            "the old connection was closed"
        );
        assert!(matches!(old.list().await, Err(ClientError::Disconnected)));
        assert!(new.list().await.unwrap().is_empty());
    });
}

#[test]
fn concurrent_requests_large_specs_and_many_descriptors() {
    let mut fixture = Fixture::new();
    as_daemon(async {
        let (client, mut events) = fixture.connect().await;

        // Twenty spawns in flight at once, from separate tasks.
        let mut tasks = tokio::task::JoinSet::new();
        for code in 0..20 {
            let client = client.clone();
            let request = fixture.request(&format!("c{code}"), &format!("exit {code}"));
            tasks.spawn(async move { client.spawn(request, quiet(), Vec::new()).await });
        }
        while let Some(spawned) = tasks.join_next().await {
            spawned.unwrap().unwrap().unwrap();
        }
        for _ in 0..20 {
            let event = next_exit(&mut events).await;
            assert_eq!(event.id, format!("c{}", event.exit.exit_code));
            client.release(&event.id).await.unwrap();
        }

        // A spec larger than one packet, with more descriptors than one packet carries.
        // (One variable may not exceed 128 KiB, so three of 100 KiB.)
        let big = "b".repeat(100 * 1024);
        let request = fixture.request_with_env(
            "big",
            "printf %s \"$BIG1$BIG2$BIG3\" | wc -c",
            vec![
                format!("BIG1={big}"),
                format!("BIG2={big}"),
                format!("BIG3={big}"),
                "PATH=/usr/bin:/bin".into(),
            ],
        );
        let (out_read, out_write) = pipe();
        let mut writers = Vec::new();
        let mut keep = Vec::new();
        for _ in 0..150 {
            let (read, write) = pipe();
            keep.push(read);
            writers.push(write);
        }
        let stdio = Stdio {
            stdin: None,
            stdout: out_write,
            stderr: dev_null(),
        };
        client.spawn(request, stdio, keep).await.unwrap().unwrap();
        assert_eq!(read_to_end(out_read).trim(), (300 * 1024).to_string());
        assert_eq!(next_exit(&mut events).await.exit.exit_code, 0);

        File::from(writers.remove(99))
            .write_all(b"hundredth")
            .unwrap();
        let mut listed = client.list().await.unwrap();
        let kept = std::mem::take(&mut listed[0].kept);
        assert_eq!(kept.len(), 150);
        client.release("big").await.unwrap();
        // The supervisor closed its copies on release; ours still read what was written.
        let hundredth = kept.into_iter().nth(99).unwrap();
        assert_eq!(read_to_end(hundredth), "hundredth");
    });
}

#[test]
fn a_live_supervisor_that_lost_its_socket_is_reported_busy() {
    let mut fixture = Fixture::new();
    as_daemon(async {
        let (_client, _events) = fixture.connect().await;
        let socket = berth_supervisor::paths::socket(fixture.exec_root.path());
        std::fs::remove_file(&socket).unwrap();
        let second =
            SupervisorClient::connect_or_start(fixture.exec_root.path(), fixture.start_command())
                .await;
        assert!(
            matches!(second, Err(ClientError::Busy { .. })),
            "{:?}",
            second.err()
        );
    });
}

#[test]
fn a_failing_start_command_is_reported() {
    let fixture = Fixture::new();
    as_daemon(async {
        let mut command = Command::new(env!("CARGO_BIN_EXE_plain-supervisor"));
        command
            .arg("--no-such-flag")
            .stderr(std::process::Stdio::null());
        let result = SupervisorClient::connect_or_start(fixture.exec_root.path(), command).await;
        assert!(
            matches!(result, Err(ClientError::StartCommandFailed { .. })),
            "{:?}",
            result.err()
        );
    });
}

fn resident_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Issue 2 asks for a per-container cost far below Docker's shim (about 13 MB) and Podman's
/// conmon (1.9 MB). What a running container costs the supervisor is one table entry and the
/// kept descriptors; this measures it over a few hundred containers.
#[test]
fn a_running_container_costs_the_supervisor_a_few_kilobytes_at_most() {
    const CONTAINERS: usize = 300;
    let mut fixture = Fixture::new();
    as_daemon(async {
        let (client, mut events) = fixture.connect().await;
        let supervisor = client.supervisor_pid();
        // Warm up the allocator and the code paths once, so the baseline is not a cold start.
        let warm_up = fixture.request("warm-up", "exit 0");
        client
            .spawn(warm_up, quiet(), Vec::new())
            .await
            .unwrap()
            .unwrap();
        next_exit(&mut events).await;
        client.release("warm-up").await.unwrap();
        let before = resident_kib(supervisor);

        for index in 0..CONTAINERS {
            let id = format!("{index:064}");
            let request = fixture.request(&id, "exec sleep 1000");
            let (read, write) = pipe();
            let stdio = Stdio {
                stdin: None,
                stdout: write.try_clone().unwrap(),
                stderr: write,
            };
            let spawned = client
                .spawn(request, stdio, vec![read])
                .await
                .unwrap()
                .unwrap();
            fixture.watch(spawned.pid);
        }
        let after = resident_kib(supervisor);
        let per_container = (after.saturating_sub(before) * 1024) / CONTAINERS as u64;
        eprintln!(
            "supervisor RSS: {before} KiB idle, {after} KiB with {CONTAINERS} running containers: \
             {per_container} bytes each"
        );
        assert!(
            per_container < 8 * 1024,
            "{per_container} bytes per container"
        );

        for index in 0..CONTAINERS {
            assert!(client
                .signal(&format!("{index:064}"), libc::SIGKILL)
                .await
                .unwrap());
        }
        for _ in 0..CONTAINERS {
            let event = next_exit(&mut events).await;
            client.release(&event.id).await.unwrap();
        }
    });
}
