//! The confinement audit: berth's defaults against Docker's, rule by rule.
//!
//! Docker's default seccomp profile (moby `profiles/seccomp/default.json`), capabilities and
//! masked and read-only paths are written down here as data, for x86_64 and its i386 ABI
//! (the architectures berth builds filters for), so the audit needs no network. Every
//! difference between berth and Docker is listed below with its reason; a test fails when
//! a difference appears that is not listed, or a listed one disappears.

use std::collections::BTreeSet;

use oci_spec::runtime::{Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

use super::{capabilities, masked_paths, readonly_paths, seccomp_profile_for};
use crate::seccomp::{syscall_number, Abi};

/// Docker's rules allowed with no condition and no capability: its main allow-list, the
/// `ptrace` group (minKernel 4.8; every kernel berth supports is newer) and the x86 groups
/// (`arch_prctl` on amd64, `modify_ldt` on amd64 and x86).
#[rustfmt::skip] // a data table: one name a line would make it 350 lines long
const DOCKER_ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
    "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
    "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
    "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
    "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
    "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_time64", "futex_waitv",
    "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
    "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup",
    "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "membarrier",
    "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
    "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
    "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
    "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
    "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
    "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
    "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64",
    "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
    "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
    "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
    "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
    "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
    "waitpid", "write", "writev",
    // minKernel 4.8
    "process_vm_readv", "process_vm_writev", "ptrace",
    // amd64, x32 (and x86 for modify_ldt)
    "arch_prctl", "modify_ldt",
];

/// Docker's rules that a capability turns on, unconditionally allowed once it is held.
const DOCKER_GATED: &[(Capability, &[&str])] = &[
    (Capability::DacReadSearch, &["open_by_handle_at"]),
    (
        Capability::SysAdmin,
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    (Capability::SysBoot, &["reboot"]),
    (Capability::SysChroot, &["chroot"]),
    (
        Capability::SysModule,
        &["delete_module", "init_module", "finit_module"],
    ),
    (Capability::SysPacct, &["acct"]),
    (
        Capability::SysPtrace,
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    (Capability::SysRawio, &["iopl", "ioperm"]),
    (
        Capability::SysTime,
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    (Capability::SysTtyConfig, &["vhangup"]),
    (
        Capability::SysNice,
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    (Capability::Syslog, &["syslog"]),
    (Capability::Bpf, &["bpf"]),
    (Capability::Perfmon, &["perf_event_open"]),
];

/// Allowed by berth and not by Docker's profile, unconditionally: system calls newer than
/// the profile the list above records, allowed for the same reasons as their neighbours
/// (they read or change only what the caller owns), and two that any process may make.
const ONLY_BERTH_ALLOWS: &[&str] = &[
    "cachestat",        // page cache statistics of the caller's own file (6.5)
    "fchmodat2",        // fchmodat with flags (6.6)
    "futex_requeue",    // futex2 (6.7), as futex and futex_waitv
    "futex_wait",       // futex2 (6.7)
    "futex_wake",       // futex2 (6.7)
    "getxattrat",       // the *xattrat family (6.13), as getxattr and friends
    "listmount",        // lists the caller's own mount namespace (6.8)
    "listxattrat",      // (6.13)
    "map_shadow_stack", // the caller's own shadow stack (6.6)
    "mseal",            // seals the caller's own mappings (6.10)
    "removexattrat",    // (6.13)
    "setxattrat",       // (6.13)
    "statmount",        // reads a mount of the caller's own namespace (6.8)
    "uretprobe",        // the return of a uprobe, issued by the kernel's own trampoline (6.11)
];

/// Allowed by Docker and not by berth. (Names that are no system call of x86_64 or i386,
/// which libseccomp resolves to nothing there, are left out of the comparison.)
const ONLY_DOCKER_ALLOWS: &[&str] = &[
    // io_uring performs the operations it is submitted out of seccomp's sight, and has
    // been a leading source of kernel privilege escalations; containerd's default profile
    // dropped it too. Programs fall back to plain system calls on EPERM.
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
];

/// Per capability: what berth's rule allows beyond Docker's, and what Docker's allows
/// beyond berth's.
const GATED_DIFFERENCES: &[(Capability, &[&str], &[&str])] = &[(
    Capability::SysAdmin,
    // The LSM attribute calls (6.8) change the caller's own security attributes, which
    // only an administrator of the container should: gated as mount is.
    &["lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr"],
    // i386's old umount(2) (without flags): berth's rule lists only umount2, which
    // 32-bit libcs use for umount(3) as well.
    &["umount"],
)];

/// Rules with argument filters, as (system call, what the filter allows), in both.
fn filtered_rules(profile: &LinuxSeccomp) -> BTreeSet<String> {
    let mut rules = BTreeSet::new();
    for rule in profile.syscalls().as_ref().unwrap() {
        let Some(args) = rule.args().as_ref() else {
            continue;
        };
        for name in rule.names() {
            let conditions: Vec<String> = args
                .iter()
                .map(|a| {
                    format!(
                        "arg{} {:?} {:#x} {:?}",
                        a.index(),
                        a.op(),
                        a.value(),
                        a.value_two()
                    )
                })
                .collect();
            rules.insert(format!(
                "{name}: {:?} {}",
                rule.action(),
                conditions.join(" && ")
            ));
        }
    }
    rules
}

/// The names a profile allows with no argument condition.
fn unconditional(profile: &LinuxSeccomp) -> BTreeSet<String> {
    profile
        .syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|rule| rule.action() == LinuxSeccompAction::ScmpActAllow && rule.args().is_none())
        .flat_map(|rule| rule.names().iter().cloned())
        .collect()
}

/// Names that are system calls on x86_64 or i386, the ABIs berth filters.
fn on_x86(names: &[&str]) -> BTreeSet<String> {
    names
        .iter()
        .filter(|name| {
            syscall_number(Abi::X86_64, name).is_some() || syscall_number(Abi::I386, name).is_some()
        })
        .map(|name| name.to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[test]
fn the_unconditional_allow_list_differs_from_dockers_only_where_listed() {
    let berth = unconditional(&seccomp_profile_for(&[]));
    let docker = on_x86(DOCKER_ALLOWED);
    let only_berth: BTreeSet<String> = berth.difference(&docker).cloned().collect();
    let only_docker: BTreeSet<String> = docker.difference(&berth).cloned().collect();
    assert_eq!(only_berth, set(ONLY_BERTH_ALLOWS), "allowed by berth only");
    assert_eq!(
        only_docker,
        set(ONLY_DOCKER_ALLOWS),
        "allowed by Docker only"
    );
}

#[test]
fn every_capability_turns_on_what_it_turns_on_in_docker() {
    let base = unconditional(&seccomp_profile_for(&[]));
    for (cap, names) in DOCKER_GATED {
        let with = unconditional(&seccomp_profile_for(&[*cap]));
        let added: BTreeSet<String> = with.difference(&base).cloned().collect();
        // What Docker gates and berth allows anyway (ptrace and the process_vm calls, for
        // the kernel-version reason above) is not "added" by the capability in either.
        let mut expected: BTreeSet<String> = on_x86(names).difference(&base).cloned().collect();
        for (gated, only_berth, only_docker) in GATED_DIFFERENCES {
            if gated == cap {
                expected.extend(set(only_berth));
                for name in *only_docker {
                    expected.remove(*name);
                }
            }
        }
        assert_eq!(added, expected, "what {cap:?} allows");
    }
}

#[test]
fn argument_filters_match_dockers_except_where_listed() {
    let berth = filtered_rules(&seccomp_profile_for(&[]));
    let allow = LinuxSeccompAction::ScmpActAllow;
    let rule = |name: &str, op: LinuxSeccompOperator, value: u64| {
        format!("{name}: {allow:?} arg0 {op:?} {value:#x} None")
    };
    let mut docker: BTreeSet<String> = [0u64, 0x8, 0x20000, 0x20008, 0xffff_ffff]
        .iter()
        .map(|persona| rule("personality", LinuxSeccompOperator::ScmpCmpEq, *persona))
        .collect();
    // Without CAP_SYS_ADMIN: clone(2) without namespace flags (0x7e020000 is Docker's mask).
    docker.insert(format!(
        "clone: {allow:?} arg0 {:?} {:#x} Some(0)",
        LinuxSeccompOperator::ScmpCmpMaskedEq,
        0x7e02_0000u64
    ));
    // Docker: socket(2) for every family but AF_VSOCK (40).
    docker.insert(rule("socket", LinuxSeccompOperator::ScmpCmpNe, 40));
    // berth also refuses AF_ALG (38), the kernel crypto API, a frequent source of kernel
    // bugs reachable by unprivileged code: three rules instead of Docker's one.
    let berth_socket: BTreeSet<String> = [
        rule("socket", LinuxSeccompOperator::ScmpCmpLt, 38),
        rule("socket", LinuxSeccompOperator::ScmpCmpEq, 39),
        rule("socket", LinuxSeccompOperator::ScmpCmpGt, 40),
    ]
    .into();
    let mut expected = docker;
    expected.remove(&rule("socket", LinuxSeccompOperator::ScmpCmpNe, 40));
    expected.extend(berth_socket);
    assert_eq!(berth, expected);
}

#[test]
fn the_default_action_and_clone3_match_dockers() {
    let profile = seccomp_profile_for(&[]);
    // Docker: SCMP_ACT_ERRNO with errno 1 (EPERM) for everything not allowed.
    assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(profile.default_errno_ret(), Some(libc::EPERM as u32));
    // Docker: clone3 fails with ENOSYS (38) without CAP_SYS_ADMIN, so libc falls back to clone.
    let clone3 = profile
        .syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .find(|rule| rule.names().iter().any(|n| n == "clone3"))
        .expect("a clone3 rule");
    assert_eq!(clone3.action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(clone3.errno_ret(), Some(38));
    // Docker lists x86_64 with the x86 and x32 sub-architectures. berth filters x86_64 and
    // i386 only: an x32 call (x86_64 with bit 30 set) matches no rule of berth's filter and
    // gets the default action, so x32 programs cannot run (Docker allows them).
    let arches = profile.architectures().clone().unwrap_or_default();
    assert_eq!(
        arches,
        vec![
            oci_spec::runtime::Arch::ScmpArchX86_64,
            oci_spec::runtime::Arch::ScmpArchX86
        ]
    );
}

#[test]
fn capabilities_and_masked_and_read_only_paths_are_dockers() {
    // moby's oci/caps/defaults.go: 14 capabilities.
    let docker_caps = [
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ];
    let ours: BTreeSet<String> = capabilities().iter().map(|c| format!("{c:?}")).collect();
    let theirs: BTreeSet<String> = docker_caps.iter().map(|c| format!("{c:?}")).collect();
    assert_eq!(ours, theirs);
    // moby's oci/defaults.go masked paths. berth adds the per-CPU thermal_throttle
    // directories where the host has them, as Docker 25+ does.
    let docker_masked = set(&[
        "/proc/acpi",
        "/proc/asound",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/sys/devices/virtual/powercap",
        "/sys/firmware",
    ]);
    let masked: BTreeSet<String> = masked_paths()
        .into_iter()
        .filter(|p| !p.ends_with("/thermal_throttle"))
        .collect();
    assert_eq!(masked, docker_masked);
    let docker_readonly = set(&[
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]);
    assert_eq!(
        readonly_paths().into_iter().collect::<BTreeSet<_>>(),
        docker_readonly
    );
}
