//! What every exec of one run of a container starts from: the process of its runtime spec
//! and its user. Building the spec (with its default seccomp profile of ~400 rules) costs far
//! more than the exec itself, and a healthcheck execs every second, so it is built once per
//! run and kept in the actor.
//!
//! Kept for one PID 1, so that a restart (a new process) builds it again, and dropped by a
//! `docker update`, the one change to a running container's record.

use oci_spec::runtime::Process;

use crate::container::error::Error;

/// The container's process spec, for exec'd processes to start from.
#[derive(Debug, Clone)]
pub(crate) struct ExecBase {
    /// The PID 1 of the run it was built for.
    pid: i32,
    pub process: Process,
    /// The container's `-u`, which an exec without one runs as.
    pub user: Option<String>,
}

impl ExecBase {
    pub fn new(pid: i32, container: &berth_runtime::ContainerConfig) -> Result<ExecBase, Error> {
        let process = container
            .spec
            .process()
            .clone()
            .ok_or_else(|| Error::internal("the container's spec has no process"))?;
        let user = container
            .spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(berth_runtime::USER_ANNOTATION).cloned());
        Ok(ExecBase { pid, process, user })
    }

    /// The base kept in `slot` if it was built for PID 1 `pid`, else a new one from `build`.
    pub fn current(
        slot: &mut Option<ExecBase>,
        pid: i32,
        build: impl FnOnce() -> Result<ExecBase, Error>,
    ) -> Result<&ExecBase, Error> {
        if !matches!(slot, Some(base) if base.pid == pid) {
            *slot = None;
            let built = build()?;
            if built.pid != pid {
                return Err(Error::internal(format!(
                    "the exec base was built for PID {}, not {pid}",
                    built.pid
                )));
            }
            *slot = Some(built);
        }
        slot.as_ref()
            .ok_or_else(|| Error::internal("the exec base went missing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(pid: i32, arg: &str) -> Result<ExecBase, Error> {
        let mut process = Process::default();
        process.set_args(Some(vec![arg.into()]));
        Ok(ExecBase {
            pid,
            process,
            user: None,
        })
    }

    fn arg(base: &ExecBase) -> String {
        base.process.args().as_ref().unwrap()[0].clone()
    }

    #[test]
    fn a_base_is_built_once_per_run_and_again_after_a_restart_or_an_update() {
        let mut slot = None;
        let mut builds = 0;
        let mut get = |slot: &mut Option<ExecBase>, pid, version: &str| {
            ExecBase::current(slot, pid, || {
                builds += 1;
                base(pid, version)
            })
            .map(arg)
            .unwrap()
        };
        assert_eq!(get(&mut slot, 100, "first"), "first");
        // The same run: kept, whatever would be built now.
        assert_eq!(get(&mut slot, 100, "second"), "first");
        // A restart: a new PID 1, a new base.
        assert_eq!(get(&mut slot, 200, "restarted"), "restarted");
        // `docker update` drops it.
        slot = None;
        assert_eq!(get(&mut slot, 200, "updated"), "updated");
        assert_eq!(builds, 3);
    }

    #[test]
    fn a_failed_build_keeps_nothing() {
        let mut slot = Some(base(100, "old").unwrap());
        let failed = ExecBase::current(&mut slot, 200, || Err(Error::internal("no spec")));
        assert!(failed.is_err());
        assert!(slot.is_none());
    }
}
