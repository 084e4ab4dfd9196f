//! How the supervisor starts a container's process: behind a trait, so that the event loop
//! and the protocol are tested with plain host processes, and berthd plugs in the runtime.

use std::collections::HashMap;

use berth_runtime::{
    ContainerConfig, ExecConfig, ExecTarget, ProcessIo, StartFailure, StartFailureKind, Started,
};

/// The container an exec enters.
#[derive(Debug, Clone, Copy)]
pub enum Entered<'a> {
    /// One this supervisor spawned and has not reaped yet: `pid` is its PID 1.
    Child { id: &'a str, pid: i32 },
    /// One whose supervisor died: known only from the request, entered through its PID 1,
    /// which the supervisor holds by a pidfd and checks again after the exec.
    Orphan {
        pid: i32,
        config: &'a ContainerConfig,
    },
}

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
    /// Starts container `config.id`. What its execs will need may be kept until
    /// [`Spawner::forget`].
    fn spawn(&mut self, config: &ContainerConfig, io: ProcessIo) -> Result<Started, StartFailure>;

    /// Starts `config.process` in the running container `container`.
    fn exec(
        &mut self,
        container: Entered<'_>,
        config: &ExecConfig,
        io: ProcessIo,
    ) -> Result<Started, StartFailure>;

    /// Container `id`'s PID 1 was reaped (or its start undone): drop what was kept for it.
    fn forget(&mut self, id: &str);
}

/// berthd's spawner: an isolated container from berth-runtime, with each running
/// container's [`ExecTarget`] kept from its spawn to the reaping of its PID 1.
#[derive(Debug, Default)]
pub struct RuntimeSpawner {
    targets: HashMap<String, ExecTarget>,
}

impl Spawner for RuntimeSpawner {
    fn spawn(&mut self, config: &ContainerConfig, io: ProcessIo) -> Result<Started, StartFailure> {
        let (started, target) = berth_runtime::spawn_container(config, io)
            .map_err(|error| StartFailure::from(&error))?;
        self.targets.insert(config.id.clone(), target);
        Ok(started)
    }

    fn exec(
        &mut self,
        container: Entered<'_>,
        config: &ExecConfig,
        io: ProcessIo,
    ) -> Result<Started, StartFailure> {
        let started = match container {
            Entered::Child { id, pid } => match self.targets.get_mut(id) {
                Some(target) if target.pid() == pid => target.exec(config, io),
                _ => {
                    return Err(StartFailure {
                        kind: StartFailureKind::Other,
                        message: format!(
                            "the supervisor kept nothing for exec into container {id} (PID {pid})"
                        ),
                    })
                }
            },
            // Not kept: the PID names the container only as long as the caller's check
            // after this exec says so.
            Entered::Orphan {
                pid,
                config: container,
            } => ExecTarget::new(container, pid).and_then(|mut target| target.exec(config, io)),
        };
        started.map_err(|error| StartFailure::from(&error))
    }

    fn forget(&mut self, id: &str) {
        self.targets.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_into_a_container_the_spawner_does_not_hold_is_refused() {
        let mut spawner = RuntimeSpawner::default();
        let process = oci_spec::runtime::Process::default();
        let config = ExecConfig {
            process,
            user: None,
        };
        let failure = spawner
            .exec(
                Entered::Child {
                    id: "gone",
                    pid: 12345,
                },
                &config,
                ProcessIo::Terminal,
            )
            .unwrap_err();
        assert_eq!(failure.kind, StartFailureKind::Other);
        assert!(failure.message.contains("container gone"), "{failure:?}");
    }
}
