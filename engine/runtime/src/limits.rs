//! The supervisor's descriptor limit. It holds several descriptors per container (pipes,
//! and the namespaces and cgroup files kept for execs), which at a few thousand containers
//! passes the limit it inherited (often 20,000 or less), so it raises its own to the most
//! the kernel allows, as containerd runs with `LimitNOFILE=infinity`. Its processes get the
//! inherited limit back before they exec, so a container's limit stays what it was.

use std::sync::OnceLock;

use crate::os_error::OsError;
use crate::spawn::SpawnError;

static INHERITED: OnceLock<libc::rlimit> = OnceLock::new();

/// Raises this process's RLIMIT_NOFILE to `fs.nr_open` (needs CAP_SYS_RESOURCE), or else its
/// soft limit to its hard one; the processes it starts get the limit it had back. Raising
/// again is a no-op.
pub fn raise_descriptor_limit() -> Result<(), SpawnError> {
    if INHERITED.get().is_some() {
        return Ok(());
    }
    let error = |what| {
        move |source: std::io::Error| SpawnError::Os {
            what,
            source: OsError::from(source),
        }
    };
    let mut inherited = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut inherited) } != 0 {
        return Err(error("reading the descriptor limit")(
            std::io::Error::last_os_error(),
        ));
    }
    let most: libc::rlim_t = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .map_err(error("reading /proc/sys/fs/nr_open"))?
        .trim()
        .parse()
        .map_err(|_| {
            error("reading /proc/sys/fs/nr_open")(std::io::Error::from(
                std::io::ErrorKind::InvalidData,
            ))
        })?;
    let raised = libc::rlimit {
        rlim_cur: most.max(inherited.rlim_cur),
        rlim_max: most.max(inherited.rlim_max),
    };
    // Without CAP_SYS_RESOURCE (a supervisor in a container) only the soft limit can rise.
    let soft_only = libc::rlimit {
        rlim_cur: inherited.rlim_max,
        rlim_max: inherited.rlim_max,
    };
    // SAFETY: setrlimit reads the struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0
        && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft_only) } != 0
    {
        return Err(error("raising the descriptor limit")(
            std::io::Error::last_os_error(),
        ));
    }
    let _ = INHERITED.set(inherited);
    Ok(())
}

/// In a new process, just before exec: the limit the supervisor inherited, if it raised it.
pub(crate) fn restore_inherited() -> Result<(), OsError> {
    let Some(inherited) = INHERITED.get() else {
        return Ok(());
    };
    // SAFETY: setrlimit reads the struct; lowering needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, inherited) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}
