//! How the supervisor starts a container's process: behind a trait, so that the event loop
//! and the protocol are tested with plain host processes, and berthd plugs in the runtime.

use berth_runtime::{ContainerConfig, Spawned, StartFailure, Stdio};

/// Starts one container's PID 1 as a child of the calling process (or as a grandchild whose
/// parent exits, since the supervisor is a subreaper) and returns without waiting for it.
///
/// Called only from the supervisor's single thread. The supervisor keeps SIGCHLD blocked (for
/// its signalfd) and, as every Rust program, SIGPIPE ignored; execve keeps both, so the child
/// must reset its signal mask and dispositions before it execs (berth-runtime's child does;
/// so does std's `Command`). `stdio` is the child's; the implementation closes the parent's
/// copies before it returns (dropping them is enough) so that the daemon sees EOF when the
/// container exits.
pub trait Spawner {
    fn spawn(&mut self, config: &ContainerConfig, stdio: Stdio) -> Result<Spawned, StartFailure>;
}

/// berthd's spawner: an isolated container from berth-runtime.
#[derive(Debug, Default)]
pub struct RuntimeSpawner;

impl Spawner for RuntimeSpawner {
    fn spawn(&mut self, config: &ContainerConfig, stdio: Stdio) -> Result<Spawned, StartFailure> {
        berth_runtime::spawn(config, stdio).map_err(|error| StartFailure::from(&error))
    }
}
