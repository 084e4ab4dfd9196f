//! The container's process between clone(2) and execve(2). A container's first process runs
//! in the supervisor's copied memory; an exec'd one in the supervisor's own memory while it
//! is suspended (`crate::vfork`, whose rules the exec path keeps: it frees what it allocates,
//! leaves what it holds at execve in the `ExecSlot`, and uses raw system calls for its
//! credentials). Every failure becomes a [`StartFailure`] written to the report pipe.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use oci_spec::runtime::Capability;

use crate::capabilities;
use crate::devices;
use crate::enter::EnterPlan;
use crate::exec::{self, ExecError, PreparedExec};
use crate::init;
use crate::limits;
use crate::mounts::{self, RootDir};
use crate::namespaces;
use crate::os_error::OsError;
use crate::plan::{Plan, ProcessPlan};
use crate::rootfs;
use crate::shm;
use crate::terminal;
use crate::user;
use crate::vfork::ExecSlot;
use crate::{StartFailure, StartFailureKind, Stdio};

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// The new process's ends of the handshake, and its stdio: the caller's descriptors, or the
/// socket over which it sends the master of the terminal it makes. Descriptors only, nothing
/// on the heap: a vfork child gets a bitwise copy (see `crate::vfork`).
pub struct ChildEnds {
    pub io: ChildIo,
    /// Only for a fork-like clone, whose parent moves it into its cgroup.
    pub go: Option<OwnedFd>,
    pub report: OwnedFd,
}

pub enum ChildIo {
    Pipes(Stdio),
    Terminal(OwnedFd),
}

/// Sets up the container and execs its program; never returns.
pub fn run(plan: &Plan, ends: ChildEnds) -> ! {
    let ChildEnds { io, go, report } = ends;
    report_and_exit(set_up_and_exec(plan, io, go), report)
}

/// Joins the running container `plan` describes and execs the new process; never returns.
/// Runs as a vfork child (see `crate::vfork`).
/// `fds` are its `cgroup.procs` files, then its namespaces, as `plan` lists them.
pub fn run_in_container(plan: &EnterPlan<'_>, ends: ChildEnds, fds: &[RawFd]) -> ! {
    let ChildEnds { io, go: _, report } = ends;
    report_and_exit(enter_and_exec(plan, io, fds), report)
}

fn report_and_exit(result: Result<Never, StartFailure>, report: OwnedFd) -> ! {
    let failure = match result {
        Ok(never) => match never {},
        Err(failure) => failure,
    };
    let code = failure.kind.exit_code();
    if let Ok(message) = serde_json::to_vec(&failure) {
        let _ = std::fs::File::from(report).write_all(&message);
    }
    // Freed here, not left behind: a vfork child allocated it in the supervisor's heap.
    drop(failure);
    // SAFETY: leaves without running the supervisor's destructors or atexit handlers.
    unsafe { libc::_exit(code) }
}

enum Never {}

fn other(error: impl std::fmt::Display) -> StartFailure {
    StartFailure {
        kind: StartFailureKind::Other,
        message: error.to_string(),
    }
}

fn exec_failure(error: ExecError) -> StartFailure {
    StartFailure {
        kind: error.kind(),
        message: error.to_string(),
    }
}

fn os_failure(what: String) -> impl FnOnce(OsError) -> StartFailure {
    move |e| other(format!("{what}: {e}"))
}

fn set_up_and_exec(plan: &Plan, io: ChildIo, go: Option<OwnedFd>) -> Result<Never, StartFailure> {
    reset_signals();
    if let Some(go) = go {
        wait_for_go(go)?;
    }
    let (stdin_is_null, terminal) = match io {
        ChildIo::Pipes(stdio) => {
            let stdin_is_null = stdio.stdin.is_none();
            install_stdio(stdio)?;
            (stdin_is_null, None)
        }
        ChildIo::Terminal(socket) => (false, Some(socket)),
    };
    // Whatever the supervisor had open must not reach the container's program.
    // SAFETY: only sets close-on-exec flags.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };

    for namespace in &plan.joined {
        namespace.join().map_err(other)?;
    }
    // The supervisor has put us into our cgroup: a namespace made now has it as its root.
    if plan.namespaces.new_cgroup {
        namespaces::unshare_cgroup().map_err(other)?;
    }
    if plan.namespaces.new_network() {
        namespaces::bring_up_loopback().map_err(other)?;
    }

    // Taken before our root exists: entering the donor's namespace resets root and cwd.
    let shared_shm = plan
        .shm_from
        .as_ref()
        .map(shm::clone_from)
        .transpose()
        .map_err(other)?;

    // Modes below are exact; the process's own umask comes back before exec.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let root_path = rootfs::mount_rootfs(&plan.rootfs).map_err(other)?;
    {
        let root = RootDir::open(&root_path).map_err(other)?;
        for entry in &plan.mounts {
            match &shared_shm {
                Some(tree) if entry.destination() == Path::new(shm::SHM_PATH) => {
                    shm::attach(&root, tree).map_err(other)?
                }
                _ => mounts::mount_one(&root, entry, &plan.cgroup_mounts).map_err(other)?,
            }
        }
        devices::populate(&root, &plan.devices).map_err(other)?;
    }
    rootfs::pivot(&root_path).map_err(other)?;
    if let Some(socket) = terminal {
        // The container's devpts is in place: the terminal is the container's own.
        terminal::take_new(plan.process.console_size, socket).map_err(other)?;
    } else if stdin_is_null {
        // The host's /dev/null served until now; the container's own shows as /dev/null.
        let null = std::fs::File::open("/dev/null")
            .map_err(|e| other(format!("opening /dev/null for stdin: {}", OsError::from(e))))?;
        dup_onto(&null, 0)?;
    }

    if let Some(hostname) = &plan.hostname {
        nix::unistd::sethostname(hostname)
            .map_err(|e| other(format!("sethostname {hostname}: {}", OsError::from(e))))?;
    }
    if let Some(domainname) = &plan.domainname {
        set_domainname(domainname)?;
    }
    for (key, value) in &plan.sysctl {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value)
            .map_err(|e| other(format!("sysctl {key}={value}: {}", OsError::from(e))))?;
    }
    let cwd = &plan.process.cwd;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(cwd)
        .map_err(|e| {
            other(format!(
                "creating the working directory {}: {}",
                cwd.display(),
                OsError::from(e)
            ))
        })?;
    rootfs::mask(&plan.masked_paths).map_err(other)?;
    rootfs::make_readonly(&plan.readonly_paths).map_err(other)?;
    if plan.root_readonly {
        rootfs::remount_readonly(Path::new("/")).map_err(other)?;
    }
    become_process(&plan.process, plan.init, None)
}

/// The container is in place already: join its cgroup and namespaces (the pid namespace was
/// entered at clone), take the stdio from inside it, and become the process.
fn enter_and_exec(plan: &EnterPlan<'_>, io: ChildIo, fds: &[RawFd]) -> Result<Never, StartFailure> {
    reset_signals();
    if fds.len() != plan.cgroup_procs + plan.namespaces.len() {
        return Err(other("the exec's process got the wrong descriptors"));
    }
    // SAFETY: open descriptors of this process until exec (close-on-exec), owned by the
    // caller's plan.
    let borrow = |fd: &RawFd| unsafe { BorrowedFd::borrow_raw(*fd) };
    let (cgroup_procs, namespaces) = fds.split_at(plan.cgroup_procs);
    // Before the namespaces: the cgroup namespace joined next has the cgroup as its root.
    for file in cgroup_procs.iter().map(borrow) {
        // "0" is the writer itself, whatever its PID in the container's namespace.
        rustix::io::write(file, b"0").map_err(|e| {
            other(format!(
                "joining cgroup {} (writing its cgroup.procs): {}",
                plan.cgroup_path,
                OsError::from(e)
            ))
        })?;
    }
    // SAFETY: only sets close-on-exec flags.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    for (namespace, fd) in plan.namespaces.iter().zip(namespaces.iter().map(borrow)) {
        namespace.join_through(fd).map_err(other)?;
    }
    match io {
        // Inside the mount namespace now: a missing stdin is the container's /dev/null.
        ChildIo::Pipes(stdio) => install_stdio(stdio)?,
        ChildIo::Terminal(socket) => {
            terminal::take_new(plan.process.console_size, socket).map_err(other)?
        }
    }
    become_process(&plan.process, false, Some(plan.slot))
}

/// What every process does once its container is in place: its working directory, limits,
/// user, capabilities, no_new_privs and seccomp filter, then exec. A vfork child leaves what
/// it holds at execve in `slot`.
fn become_process(
    process: &ProcessPlan,
    init: bool,
    slot: Option<&ExecSlot>,
) -> Result<Never, StartFailure> {
    std::env::set_current_dir(&process.cwd).map_err(|e| {
        other(format!(
            "chdir to {}: {}",
            process.cwd.display(),
            OsError::from(e)
        ))
    })?;

    set_rlimits(process)?;
    if let Some(score) = process.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", score.to_string()).map_err(|e| {
            other(format!(
                "setting oom_score_adj to {score}: {}",
                OsError::from(e)
            ))
        })?;
    }

    let prepared = {
        let program = exec::find_executable(&process.args[0], exec::path_variable(&process.env))
            .map_err(exec_failure)?;
        let home = become_user(process)?;
        let mut env = process.env.clone();
        if !env.iter().any(|var| var.starts_with("HOME=")) {
            env.push(format!("HOME={home}"));
        }
        PreparedExec::new(&program, &process.args, &env).map_err(exec_failure)?
    };
    drop_privileges(process)?;
    // Last, after every open: the supervisor's own table may be past the inherited limit.
    if !process
        .rlimits
        .iter()
        .any(|limit| limit.resource == libc::RLIMIT_NOFILE)
    {
        limits::restore_inherited()
            .map_err(|e| other(format!("restoring the descriptor limit: {e}")))?;
    }

    if init {
        init::fork_container_process().map_err(other)?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        process.user.umask as libc::mode_t,
    ));
    match slot {
        Some(slot) => Err(exec_failure(slot.keep(prepared).exec())),
        None => Err(exec_failure(prepared.exec())),
    }
}

/// The supervisor's handlers and blocked signals must not outlive the fork: exec keeps
/// ignored signals ignored (Rust ignores SIGPIPE) and blocked ones blocked.
fn reset_signals() {
    for signal in 1..=libc::SIGRTMAX() {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            // SAFETY: restores default dispositions; the numbers glibc reserves just fail.
            unsafe { libc::signal(signal, libc::SIG_DFL) };
        }
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Blocks until the supervisor has placed us in our cgroup. A closed pipe means it gave up.
fn wait_for_go(go: OwnedFd) -> Result<(), StartFailure> {
    let mut byte = [0u8; 1];
    match std::fs::File::from(go).read(&mut byte) {
        Ok(1) => Ok(()),
        _ => Err(other("the supervisor abandoned the start")),
    }
}

fn install_stdio(stdio: Stdio) -> Result<(), StartFailure> {
    let stdin = match stdio.stdin {
        Some(fd) => fd,
        None => std::fs::File::open("/dev/null")
            .map_err(|e| other(format!("opening /dev/null for stdin: {}", OsError::from(e))))?
            .into(),
    };
    // First away from 0-2, so that installing one cannot close another.
    let high = |fd: &OwnedFd| -> Result<OwnedFd, StartFailure> {
        fd.as_fd().try_clone_to_owned().map_err(|e| {
            other(format!(
                "duplicating a stdio descriptor: {}",
                OsError::from(e)
            ))
        })
    };
    let sources = [high(&stdin)?, high(&stdio.stdout)?, high(&stdio.stderr)?];
    drop((stdin, stdio.stdout, stdio.stderr));
    for (target, source) in sources.iter().enumerate() {
        dup_onto(source, target as libc::c_int)?;
    }
    Ok(())
}

fn dup_onto(source: &impl AsRawFd, target: libc::c_int) -> Result<(), StartFailure> {
    // SAFETY: dup2 onto a standard descriptor, which this process owns.
    if unsafe { libc::dup2(source.as_raw_fd(), target) } < 0 {
        return Err(other(format!(
            "installing descriptor {target}: {}",
            OsError::from(std::io::Error::last_os_error())
        )));
    }
    Ok(())
}

fn set_domainname(domainname: &str) -> Result<(), StartFailure> {
    // SAFETY: the pointer and length describe `domainname`.
    let rc = unsafe { libc::setdomainname(domainname.as_ptr().cast(), domainname.len()) };
    if rc != 0 {
        return Err(other(format!(
            "setdomainname {domainname}: {}",
            OsError::from(std::io::Error::last_os_error())
        )));
    }
    Ok(())
}

fn set_rlimits(process: &ProcessPlan) -> Result<(), StartFailure> {
    for limit in &process.rlimits {
        let value = libc::rlimit {
            rlim_cur: limit.soft,
            rlim_max: limit.hard,
        };
        // SAFETY: `value` is a valid rlimit for the call.
        if unsafe { libc::setrlimit(limit.resource, &value) } != 0 {
            return Err(other(format!(
                "setting {} to {}:{}: {}",
                limit.name,
                limit.soft,
                limit.hard,
                OsError::from(std::io::Error::last_os_error())
            )));
        }
    }
    Ok(())
}

/// Switches to the container's user and groups (resolving `-u` in the container's own
/// /etc/passwd and /etc/group); returns the user's home directory. The bounding set is cut
/// first, while we still hold CAP_SETPCAP, and the permitted set survives the switch so that
/// the container's capabilities can be set afterwards.
fn become_user(process: &ProcessPlan) -> Result<String, StartFailure> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let group = std::fs::read_to_string("/etc/group").ok();
    let (uid, gid, mut groups, home) = match &process.user.name {
        Some(name) => {
            let resolved =
                user::resolve(name, passwd.as_deref(), group.as_deref()).map_err(other)?;
            // Docker's groups for a named user: its primary group first, then the others.
            let mut groups = vec![resolved.gid];
            groups.extend((resolved.supplementary_gids.iter()).filter(|g| **g != resolved.gid));
            (resolved.uid, resolved.gid, groups, resolved.home)
        }
        None => (
            process.user.uid,
            process.user.gid,
            Vec::new(),
            user::home_of(process.user.uid, passwd.as_deref()),
        ),
    };
    let added =
        user::additional_groups(&process.user.group_add, group.as_deref()).map_err(other)?;
    for gid in process.user.additional_gids.iter().chain(&added) {
        if !groups.contains(gid) {
            groups.push(*gid);
        }
    }

    give_stdio_to(uid)?;
    capabilities::drop_bounding(
        process.capabilities.bounding,
        process.available_capabilities,
    )
    .map_err(other)?;
    // SAFETY: plain prctl calls with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    // Raw system calls: glibc's wrappers would also change the credentials of the threads
    // they believe this process has, which for a vfork child are the supervisor's.
    // SAFETY: the pointer and length describe `groups`.
    let set = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    credentials_set(set).map_err(|e| other(format!("setgroups {groups:?}: {e}")))?;
    // SAFETY: integer arguments only.
    let set = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
    credentials_set(set).map_err(|e| other(format!("setgid {gid}: {e}")))?;
    // SAFETY: integer arguments only.
    let set = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
    credentials_set(set).map_err(|e| other(format!("setuid {uid}: {e}")))?;
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    Ok(home)
}

/// Sets the container's capabilities, no_new_privs and seccomp filter. Installing a filter
/// needs CAP_SYS_ADMIN or no_new_privs: without the latter, CAP_SYS_ADMIN is held just long
/// enough to install it, and the final capset is the only call left after the filter.
fn drop_privileges(process: &ProcessPlan) -> Result<(), StartFailure> {
    let caps = &process.capabilities;
    let install = |filter: &crate::seccomp::SeccompFilter| filter.install().map_err(other);
    match &process.seccomp {
        Some(filter)
            if !process.no_new_privileges && !caps.effective.contains(Capability::SysAdmin) =>
        {
            capabilities::set(&caps.plus(Capability::SysAdmin)).map_err(other)?;
            install(filter)?;
            capabilities::set(caps).map_err(other)?;
        }
        seccomp => {
            capabilities::set(caps).map_err(other)?;
            if process.no_new_privileges {
                set_no_new_privileges()?;
            }
            if let Some(filter) = seccomp {
                install(filter)?;
            }
        }
    }
    Ok(())
}

/// Hands the process's stdio (a pipe, or the terminal's slave) to the user it becomes, as
/// runc does, so that it can reopen them (`/dev/stdout`, `tty`). /dev/null stays root's.
fn give_stdio_to(uid: u32) -> Result<(), StartFailure> {
    let null = rustix::fs::makedev(1, 3);
    for fd in 0..=2 {
        // SAFETY: 0, 1 and 2 are open in this process until exec.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let stat = rustix::fs::fstat(fd)
            .map_err(|e| other(format!("fstat of stdio descriptor: {}", OsError::from(e))))?;
        let is_null = rustix::fs::FileType::from_raw_mode(stat.st_mode)
            == rustix::fs::FileType::CharacterDevice
            && stat.st_rdev == null;
        if is_null || stat.st_uid == uid {
            continue;
        }
        let owner = rustix::fs::Uid::from_raw(uid);
        let group = rustix::fs::Gid::from_raw(stat.st_gid);
        match rustix::fs::fchown(fd, Some(owner), Some(group)) {
            // A read-only filesystem or a descriptor that is not ours to give away.
            Ok(()) | Err(rustix::io::Errno::INVAL | rustix::io::Errno::PERM) => {}
            Err(e) => {
                return Err(other(format!(
                    "giving stdio to uid {uid}: {}",
                    OsError::from(e)
                )))
            }
        }
    }
    Ok(())
}

fn credentials_set(result: libc::c_long) -> Result<(), OsError> {
    match result {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error().into()),
    }
}

fn set_no_new_privileges() -> Result<(), StartFailure> {
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(os_failure("setting no_new_privs".into())(
            std::io::Error::last_os_error().into(),
        ));
    }
    Ok(())
}
