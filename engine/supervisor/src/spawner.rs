//! How the supervisor starts a container's process: behind a trait, so that the event loop
//! and the protocol are tested with plain host processes, and berthd plugs in the runtime.

use berth_runtime::{ContainerConfig, ExecConfig, ProcessIo, StartFailure, Started};

/// Starts one container's PID 1 as a child of the calling process (or as a grandchild whose
/// parent exits, since the supervisor is a subreaper), or a process inside a running
/// container, and returns without waiting for it.
///
/// Called only from the supervisor's single thread. The supervisor keeps SIGCHLD blocked (for
/// its signalfd) and, as every Rust program, SIGPIPE ignored; execve keeps both, so the child
/// must reset its signal mask and dispositions before it execs (berth-runtime's child does;
/// so does std's `Command`). The implementation closes the parent's copies of the child's
/// stdio before it returns (dropping them is enough) so that the daemon sees EOF when the
/// process exits.
pub trait Spawner {
    fn spawn(&mut self, config: &ContainerConfig, io: ProcessIo) -> Result<Started, StartFailure>;

    /// Starts `config.process` in the container whose PID 1 is `container_pid`, a running
    /// child of the supervisor.
    fn exec(
        &mut self,
        config: &ExecConfig,
        container_pid: i32,
        io: ProcessIo,
    ) -> Result<Started, StartFailure>;
}

/// berthd's spawner: an isolated container from berth-runtime.
#[derive(Debug, Default)]
pub struct RuntimeSpawner;

impl Spawner for RuntimeSpawner {
    fn spawn(&mut self, config: &ContainerConfig, io: ProcessIo) -> Result<Started, StartFailure> {
        berth_runtime::spawn_with(config, io).map_err(|error| StartFailure::from(&error))
    }

    fn exec(
        &mut self,
        config: &ExecConfig,
        container_pid: i32,
        io: ProcessIo,
    ) -> Result<Started, StartFailure> {
        berth_runtime::exec(config, container_pid, io).map_err(|error| StartFailure::from(&error))
    }
}
