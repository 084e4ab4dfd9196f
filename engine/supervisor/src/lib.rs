//! The supervisor: the one process that parents every container of a berthd instance.
//!
//! # Why one supervisor, and not a shim per container
//!
//! A container's exit status goes to its parent, and its stdio pipes close when the last
//! process holding them dies. So whoever parents the containers decides what survives a
//! `kill -9` of berthd. Docker puts a containerd-shim behind every container (about 13 MB of
//! RSS each on this machine kind); Podman a conmon (1.9 MB). berth has exactly one supervisor
//! per berthd instance (per exec root), and a container costs it a table entry and a few
//! descriptors.
//!
//! The supervisor is the `berth-supervisor --exec-root DIR` executable ([`EXECUTABLE`]),
//! installed next to berthd and running [`run_supervisor`]. It
//! - detaches from the daemon at start (fork, setsid, stdio to /dev/null and
//!   `supervisor.log`), so the daemon's death, signals and terminal never reach it;
//! - is a child subreaper, so a container's PID 1 stays its (grand)child even if the runtime
//!   forks through an intermediate process;
//! - is single-threaded, a `poll` loop over its listening socket, the daemon connection and a
//!   signalfd for SIGCHLD — because `berth_runtime::spawn` forks and requires it;
//! - keeps, for each container, the daemon's ends of its stdio pipes (passed to it at spawn),
//!   so a restarted daemon gets them back with nothing the container wrote lost;
//! - reaps every child, writes a container's exit to `<state_dir>/exit.json` (atomically)
//!   *before* telling the daemon, and keeps it until the daemon releases the container;
//! - exits by itself once no daemon is connected and it holds no container.
//!
//! # The socket
//!
//! `<exec_root>/supervisor.sock`, SOCK_SEQPACKET, mode 0600, one daemon connection at a time
//! (a new connection replaces the old: the connecting daemon is the live one). JSON messages,
//! descriptors as SCM_RIGHTS; `src/protocol.rs` documents the exchange. The
//! daemon's side is [`SupervisorClient`]. A restarted daemon connects, calls
//! [`SupervisorClient::list`] and re-adopts what it finds: running containers with their pipe
//! ends, and exits that happened while it was down.
//!
//! # Costs and limits
//!
//! - A running container costs the supervisor about 0.6 KB of RSS (measured over 300
//!   containers by `a_running_container_costs_the_supervisor_a_few_kilobytes_at_most`), plus
//!   the kernel's pipe buffers it would have anyway.
//! - Starts are serialized through the one thread; the runtime's fork and handshake take about
//!   a millisecond, so this bounds throughput, not latency.
//! - While the daemon is down nobody reads the containers' pipes: a container that fills its
//!   pipe (64 KiB) waits in `write` until a daemon is back. Its output is delayed, never lost.
//! - If the supervisor is killed, its containers are reparented to the nearest subreaper:
//!   berthd, which makes itself one before it starts the supervisor, holds each container's
//!   PID 1 by a pidfd, reaps it for its real exit code and starts a new supervisor at once
//!   (berthd's `supervision` module). Only a supervisor that dies while no berthd parents it
//!   costs its containers' exit codes (reported 255, as Docker does after a reboot). It holds
//!   no state on disk besides each container's `exit.json`.
//! - Every request has a deadline (10 s; 60 s for a spawn or exec): a stuck supervisor
//!   answers [`ClientError::Deadline`] instead of a wait forever.
//!
//! # Terminals, stdin and exec
//!
//! A container with a terminal gets no stdio descriptors: the runtime makes a pty inside it,
//! and the supervisor hands its master to the daemon in the spawn's reply and keeps a copy
//! among the container's kept descriptors. A container with an open stdin has the daemon's
//! writer of its stdin pipe kept too, until the daemon asks to close it (`CloseStdin`, for a
//! client that sent end-of-file): the container reads EOF only once both copies are gone.
//!
//! An exec (a process joining a running container, maybe with a pty) is a request next to
//! spawn, with the same descriptor passing. The supervisor parents it, reaps it and reports
//! its exit as an [`ExitEvent`] carrying the exec's ID; execs are not kept across a daemon
//! restart (Docker forgets them too), and one that exits while no daemon is connected is
//! only reaped.

mod client;
mod exit;
mod framing;
mod protocol;
mod spawner;
mod supervisor;

pub use client::{ClientError, ContainerIo, KnownContainer, SupervisorClient};
pub use exit::{read_exit_record, ExitRecord, EXIT_FILE};
pub use protocol::{
    ExecRequest, ExitEvent, OrphanContainer, Refusal, SpawnRequest, PROTOCOL_VERSION,
};
pub use spawner::{Entered, RuntimeSpawner, Spawner};
pub use supervisor::{run, run_supervisor, SupervisorError, SupervisorOptions, CONNECTION_FD_ENV};

/// The file name of the supervisor's executable; berthd starts the one in its own directory.
pub const EXECUTABLE: &str = "berth-supervisor";

/// The files of a supervisor in its exec root.
pub mod paths {
    use std::path::{Path, PathBuf};

    pub fn socket(exec_root: &Path) -> PathBuf {
        exec_root.join("supervisor.sock")
    }

    /// Held (flock) by the live supervisor for its whole life.
    pub fn lock(exec_root: &Path) -> PathBuf {
        exec_root.join("supervisor.lock")
    }

    /// The supervisor's stderr.
    pub fn log(exec_root: &Path) -> PathBuf {
        exec_root.join("supervisor.log")
    }
}
