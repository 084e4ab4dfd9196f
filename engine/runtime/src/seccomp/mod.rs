//! Compiles an OCI seccomp profile into a classic BPF filter and installs it.
//!
//! The filter is our own rather than seccompiler's: an OCI profile gives every rule its own
//! action (Docker's default answers clone3 with ENOSYS next to plain allows), which
//! seccompiler, with one match action per filter, cannot express.
//!
//! Semantics follow runc's: the rules of one system call are tried in profile order and the
//! first whose conditions all hold decides; conditions of one rule are ANDed, except that a
//! rule naming the same argument twice is split into one rule per condition (ORed); names
//! an ABI lacks are skipped. The x86_64 ABI is always filtered, the i386 one (32-bit
//! programs) when the profile lists SCMP_ARCH_X86; any other ABI, x32 included, gets the
//! default action.

mod bpf;
mod syscalls;

use std::collections::BTreeMap;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};

use bpf::{Assembler, Target, AND_K, JEQ_K, JGE_K, JGT_K, LD_W_ABS, RET_K};

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp: the profile has no x86_64 architecture (it lists {0:?})")]
    NoNativeArchitecture(Vec<Arch>),
    #[error("seccomp: argument index {index} of {syscall} is out of range (0-5)")]
    ArgumentIndex { syscall: String, index: usize },
    #[error("seccomp: action {0:?} is not supported by berth")]
    UnsupportedAction(LinuxSeccompAction),
    #[error("seccomp: a notification listener ({0}) is not supported by berth")]
    UnsupportedListener(String),
    #[error("seccomp: the filter needs {instructions} instructions, more than the kernel's 4096")]
    TooLarge { instructions: usize },
    #[error("seccomp: a jump of {distance} instructions does not fit a BPF branch")]
    JumpTooFar { distance: usize },
    #[error("seccomp: installing the filter: {0}")]
    Install(#[source] std::io::Error),
}

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// System call numbers with this bit come from the x32 ABI.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
const SECCOMP_DATA_ARGS: u32 = 16;

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_uint = 1;
const SECCOMP_FILTER_FLAG_LOG: libc::c_uint = 2;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: libc::c_uint = 4;
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: libc::c_uint = 32;

/// The system call ABIs of an x86_64 kernel that a filter can tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abi {
    X86_64,
    /// 32-bit programs (IA32 emulation).
    I386,
}

impl Abi {
    fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 => AUDIT_ARCH_X86_64,
            Abi::I386 => AUDIT_ARCH_I386,
        }
    }
}

/// The number of a system call in `abi`.
pub(crate) fn syscall_number(abi: Abi, name: &str) -> Option<u32> {
    let table = match abi {
        Abi::X86_64 => syscalls::X86_64,
        Abi::I386 => syscalls::I386,
    };
    table
        .binary_search_by(|(known, _)| known.cmp(&name))
        .ok()
        .map(|at| table[at].1)
}

/// A compiled filter, ready to install.
#[derive(Debug, Clone)]
pub struct SeccompFilter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_uint,
}

#[derive(Debug, Clone)]
struct Rule {
    conditions: Vec<LinuxSeccompArg>,
    action: u32,
}

impl SeccompFilter {
    pub fn compile(profile: &LinuxSeccomp) -> Result<SeccompFilter, SeccompError> {
        if let Some(listener) = profile.listener_path() {
            return Err(SeccompError::UnsupportedListener(
                listener.display().to_string(),
            ));
        }
        if let Some(arches) = profile.architectures() {
            let native = [Arch::ScmpArchX86_64, Arch::ScmpArchNative];
            if !arches.is_empty() && !arches.iter().any(|a| native.contains(a)) {
                return Err(SeccompError::NoNativeArchitecture(arches.clone()));
            }
        }
        let default_action = action_value(profile.default_action(), profile.default_errno_ret())?;

        let mut abis = vec![Abi::X86_64];
        if profile
            .architectures()
            .iter()
            .flatten()
            .any(|a| *a == Arch::ScmpArchX86)
        {
            abis.push(Abi::I386);
        }
        let mut asm = Assembler::default();
        asm.statement(LD_W_ABS, SECCOMP_DATA_ARCH);
        let abi_labels: Vec<usize> = abis.iter().map(|_| asm.new_label()).collect();
        for (abi, label) in abis.iter().zip(&abi_labels) {
            // The ABI blocks are far apart: a short test, then a long jump.
            let other = asm.new_label();
            asm.branch(JEQ_K, abi.audit_arch(), Target::Next, Target::Label(other));
            asm.jump(Target::Label(*label));
            asm.place(other);
        }
        asm.statement(RET_K, default_action);
        for (abi, label) in abis.iter().zip(&abi_labels) {
            asm.place(*label);
            asm.statement(LD_W_ABS, SECCOMP_DATA_NR);
            if *abi == Abi::X86_64 {
                let not_x32 = asm.new_label();
                asm.branch(JGE_K, X32_SYSCALL_BIT, Target::Next, Target::Label(not_x32));
                asm.statement(RET_K, default_action);
                asm.place(not_x32);
            }
            for (number, rules) in rules_for(profile, *abi)? {
                emit_syscall(&mut asm, number, &rules, default_action);
            }
            asm.statement(RET_K, default_action);
        }

        Ok(SeccompFilter {
            program: asm.finish()?,
            flags: filter_flags(profile),
        })
    }

    /// Installs the filter on the calling thread. The caller must hold CAP_SYS_ADMIN or have
    /// set no_new_privs.
    pub fn install(&self) -> Result<(), SeccompError> {
        let program = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `program` points at a live, well-formed filter for the duration of the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                self.flags,
                &program as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(SeccompError::Install(std::io::Error::last_os_error()));
        }
        Ok(())
    }

    #[cfg(test)]
    fn evaluate(&self, arch: u32, number: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&number.to_ne_bytes());
        data.extend_from_slice(&arch.to_ne_bytes());
        data.extend_from_slice(&0u64.to_ne_bytes());
        for arg in args {
            data.extend_from_slice(&arg.to_ne_bytes());
        }
        bpf::run(&self.program, &data)
    }
}

/// The profile's rules for `abi`, by system call number, in profile order.
fn rules_for(profile: &LinuxSeccomp, abi: Abi) -> Result<BTreeMap<u32, Vec<Rule>>, SeccompError> {
    let mut rules: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
    for syscall in profile.syscalls().iter().flatten() {
        let action = action_value(syscall.action(), syscall.errno_ret())?;
        let conditions = syscall.args().clone().unwrap_or_default();
        for name in syscall.names() {
            if let Some(bad) = conditions.iter().find(|c| c.index() > 5) {
                return Err(SeccompError::ArgumentIndex {
                    syscall: name.clone(),
                    index: bad.index(),
                });
            }
            // Profiles list the calls of every architecture; those this ABI lacks are skipped.
            if let Some(number) = syscall_number(abi, name) {
                rules
                    .entry(number)
                    .or_default()
                    .extend(split_rules(&conditions, action));
            }
        }
    }
    Ok(rules)
}

fn action_value(action: LinuxSeccompAction, errno: Option<u32>) -> Result<u32, SeccompError> {
    match action {
        LinuxSeccompAction::ScmpActNotify => Err(SeccompError::UnsupportedAction(action)),
        // The kernel's return value for every other action is what the OCI types compute;
        // an errno action without errnoRet means EPERM.
        _ => Ok(action.as_u32(errno)),
    }
}

fn filter_flags(profile: &LinuxSeccomp) -> libc::c_uint {
    profile
        .flags()
        .iter()
        .flatten()
        .map(|flag| match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
        })
        .fold(0, |all, flag| all | flag)
}

/// One OCI syscall entry becomes one rule, or one per condition when an argument is named
/// twice (a conjunction on one argument is almost always meant as alternatives).
fn split_rules(conditions: &[LinuxSeccompArg], action: u32) -> Vec<Rule> {
    let repeats_an_argument = conditions.iter().enumerate().any(|(i, c)| {
        conditions[..i]
            .iter()
            .any(|earlier| earlier.index() == c.index())
    });
    if repeats_an_argument {
        conditions
            .iter()
            .map(|c| Rule {
                conditions: vec![*c],
                action,
            })
            .collect()
    } else {
        vec![Rule {
            conditions: conditions.to_vec(),
            action,
        }]
    }
}

fn emit_syscall(asm: &mut Assembler, number: u32, rules: &[Rule], default_action: u32) {
    if let Some(first) = rules.first().filter(|r| r.conditions.is_empty()) {
        let after = asm.new_label();
        asm.branch(JEQ_K, number, Target::Next, Target::Label(after));
        asm.statement(RET_K, first.action);
        asm.place(after);
        return;
    }
    let body = asm.new_label();
    let after = asm.new_label();
    asm.branch(JEQ_K, number, Target::Label(body), Target::Next);
    asm.jump(Target::Label(after));
    asm.place(body);
    for rule in rules {
        if rule.conditions.is_empty() {
            // Unconditional: nothing after it can match.
            asm.statement(RET_K, rule.action);
            asm.place(after);
            return;
        }
        let next_rule = asm.new_label();
        for condition in &rule.conditions {
            emit_condition(asm, condition, next_rule);
        }
        asm.statement(RET_K, rule.action);
        asm.place(next_rule);
    }
    asm.statement(RET_K, default_action);
    asm.place(after);
}

/// Emits a 64-bit comparison of one argument, as two 32-bit halves (high half first):
/// falls through when it holds, jumps to `fail` when it does not.
fn emit_condition(asm: &mut Assembler, condition: &LinuxSeccompArg, fail: usize) {
    let low_offset = SECCOMP_DATA_ARGS + 8 * condition.index() as u32;
    let high_offset = low_offset + 4;
    let halves = |value: u64| ((value >> 32) as u32, value as u32);
    let (value_high, value_low) = halves(condition.value());
    let pass_label = asm.new_label();
    let (pass, fail) = (Target::Label(pass_label), Target::Label(fail));
    use LinuxSeccompOperator::*;
    match condition.op() {
        ScmpCmpEq | ScmpCmpNe => {
            // Equal means both halves equal; "not equal" is the same test with the exits swapped.
            let (equal, different) = if condition.op() == ScmpCmpEq {
                (pass, fail)
            } else {
                (fail, pass)
            };
            asm.statement(LD_W_ABS, high_offset);
            asm.branch(JEQ_K, value_high, Target::Next, different);
            asm.statement(LD_W_ABS, low_offset);
            asm.branch(JEQ_K, value_low, equal, different);
        }
        ScmpCmpGt | ScmpCmpGe | ScmpCmpLt | ScmpCmpLe => {
            // a > v (or >=) decided on the high half unless the halves are equal; "less" is
            // the negation of "greater or equal" (or of "greater").
            let (greater, not_greater) = if matches!(condition.op(), ScmpCmpGt | ScmpCmpGe) {
                (pass, fail)
            } else {
                (fail, pass)
            };
            let low_test = if matches!(condition.op(), ScmpCmpGt | ScmpCmpLe) {
                JGT_K
            } else {
                JGE_K
            };
            asm.statement(LD_W_ABS, high_offset);
            asm.branch(JGT_K, value_high, greater, Target::Next);
            asm.branch(JEQ_K, value_high, Target::Next, not_greater);
            asm.statement(LD_W_ABS, low_offset);
            asm.branch(low_test, value_low, greater, not_greater);
        }
        ScmpCmpMaskedEq => {
            let (mask_high, mask_low) = (value_high, value_low);
            let (want_high, want_low) = halves(condition.value_two().unwrap_or(0));
            asm.statement(LD_W_ABS, high_offset);
            asm.statement(AND_K, mask_high);
            asm.branch(JEQ_K, want_high, Target::Next, fail);
            asm.statement(LD_W_ABS, low_offset);
            asm.statement(AND_K, mask_low);
            asm.branch(JEQ_K, want_low, pass, fail);
        }
    }
    asm.place(pass_label);
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSyscall;

    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
    const ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

    fn nr(name: &str) -> u32 {
        syscall_number(Abi::X86_64, name).unwrap()
    }

    fn nr32(name: &str) -> u32 {
        syscall_number(Abi::I386, name).unwrap()
    }

    fn call(filter: &SeccompFilter, name: &str, args: &[u64]) -> u32 {
        let mut all = [0u64; 6];
        all[..args.len()].copy_from_slice(args);
        filter.evaluate(AUDIT_ARCH_X86_64, nr(name), all)
    }

    #[test]
    fn syscall_table_agrees_with_libc() {
        assert_eq!(nr("read"), libc::SYS_read as u32);
        assert_eq!(nr("clone3"), libc::SYS_clone3 as u32);
        assert_eq!(nr("mseal"), libc::SYS_mseal as u32);
        assert_eq!(nr("futex_waitv"), libc::SYS_futex_waitv as u32);
        assert_eq!(nr("_sysctl"), libc::SYS__sysctl as u32);
        assert!(syscall_number(Abi::X86_64, "socketcall").is_none());
        assert_eq!(nr32("read"), 3);
        assert_eq!(nr32("socketcall"), 102);
        assert_eq!(nr32("mount"), 21);
        assert_eq!(nr32("clone3"), 435);
        for table in [syscalls::X86_64, syscalls::I386] {
            assert!(
                table.windows(2).all(|w| w[0].0 < w[1].0),
                "tables must stay sorted"
            );
        }
    }

    #[test]
    fn default_profile_allows_denies_and_checks_arguments() {
        let filter = SeccompFilter::compile(&crate::defaults::seccomp_profile()).unwrap();
        assert_eq!(call(&filter, "read", &[]), ALLOW);
        assert_eq!(call(&filter, "execve", &[]), ALLOW);
        assert_eq!(call(&filter, "chroot", &[]), ALLOW);
        assert_eq!(call(&filter, "mount", &[]), EPERM);
        assert_eq!(call(&filter, "keyctl", &[]), EPERM);
        assert_eq!(call(&filter, "clone3", &[]), ENOSYS);
        let sigchld = libc::SIGCHLD as u64;
        assert_eq!(call(&filter, "clone", &[sigchld]), ALLOW);
        assert_eq!(
            call(&filter, "clone", &[sigchld | libc::CLONE_NEWNS as u64]),
            EPERM
        );
        assert_eq!(call(&filter, "clone", &[libc::CLONE_NEWUSER as u64]), EPERM);
        for (family, expected) in [
            (2, ALLOW),
            (37, ALLOW),
            (38, EPERM),
            (39, ALLOW),
            (40, EPERM),
            (41, ALLOW),
        ] {
            assert_eq!(
                call(&filter, "socket", &[family]),
                expected,
                "socket family {family}"
            );
        }
        assert_eq!(call(&filter, "personality", &[8]), ALLOW);
        assert_eq!(call(&filter, "personality", &[0xffff_ffff]), ALLOW);
        assert_eq!(call(&filter, "personality", &[1]), EPERM);
        assert_eq!(call(&filter, "personality", &[0x1_0000_0008]), EPERM);
        // The x32 numbering and unknown ABIs never reach the x86_64 rules.
        assert_eq!(
            filter.evaluate(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | nr("read"), [0; 6]),
            EPERM
        );
        assert_eq!(filter.evaluate(0xc000_00b7, nr("read"), [0; 6]), EPERM);
    }

    #[test]
    fn i386_programs_get_their_own_numbers_checked() {
        let filter = SeccompFilter::compile(&crate::defaults::seccomp_profile()).unwrap();
        let call32 = |name: &str, args: &[u64]| {
            let mut all = [0u64; 6];
            all[..args.len()].copy_from_slice(args);
            filter.evaluate(AUDIT_ARCH_I386, nr32(name), all)
        };
        assert_eq!(call32("read", &[]), ALLOW);
        assert_eq!(call32("socketcall", &[]), ALLOW);
        assert_eq!(call32("chown32", &[]), ALLOW);
        assert_eq!(call32("waitpid", &[]), ALLOW);
        assert_eq!(call32("mount", &[]), EPERM);
        assert_eq!(call32("umount", &[]), EPERM);
        assert_eq!(call32("clone3", &[]), ENOSYS);
        assert_eq!(call32("clone", &[libc::CLONE_NEWNET as u64]), EPERM);
        assert_eq!(call32("socket", &[40]), EPERM);
        // i386's 21 is mount, x86_64's 21 is access: each ABI has its own table.
        assert_eq!(filter.evaluate(AUDIT_ARCH_X86_64, 21, [0; 6]), ALLOW);
        assert_eq!(filter.evaluate(AUDIT_ARCH_I386, 21, [0; 6]), EPERM);

        // A profile that does not list SCMP_ARCH_X86 leaves 32-bit calls to the default.
        let mut only_64 = crate::defaults::seccomp_profile();
        only_64.set_architectures(Some(vec![Arch::ScmpArchX86_64]));
        let filter = SeccompFilter::compile(&only_64).unwrap();
        assert_eq!(
            filter.evaluate(AUDIT_ARCH_I386, nr32("read"), [0; 6]),
            EPERM
        );
    }

    fn profile(syscalls: Vec<LinuxSyscall>) -> LinuxSeccomp {
        let mut profile = LinuxSeccomp::default();
        profile
            .set_default_action(LinuxSeccompAction::ScmpActErrno)
            .set_syscalls(Some(syscalls));
        profile
    }

    fn rule(
        action: LinuxSeccompAction,
        errno: Option<u32>,
        args: Vec<LinuxSeccompArg>,
    ) -> LinuxSyscall {
        let mut syscall = LinuxSyscall::default();
        syscall
            .set_names(vec!["ioctl".into()])
            .set_action(action)
            .set_errno_ret(errno)
            .set_args(Some(args));
        syscall
    }

    fn condition(
        index: usize,
        op: LinuxSeccompOperator,
        value: u64,
        two: Option<u64>,
    ) -> LinuxSeccompArg {
        let mut builder = oci_spec::runtime::LinuxSeccompArgBuilder::default()
            .index(index)
            .op(op)
            .value(value);
        if let Some(two) = two {
            builder = builder.value_two(two);
        }
        builder.build().unwrap()
    }

    #[test]
    fn every_operator_compares_all_64_bits() {
        use LinuxSeccompOperator::*;
        let samples = [
            0,
            1,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_0000_0001,
            0x2_0000_0000,
            u64::MAX,
        ];
        let reference = |op: LinuxSeccompOperator, a: u64, v: u64, two: u64| match op {
            ScmpCmpEq => a == v,
            ScmpCmpNe => a != v,
            ScmpCmpLt => a < v,
            ScmpCmpLe => a <= v,
            ScmpCmpGt => a > v,
            ScmpCmpGe => a >= v,
            ScmpCmpMaskedEq => a & v == two,
        };
        for op in [
            ScmpCmpEq,
            ScmpCmpNe,
            ScmpCmpLt,
            ScmpCmpLe,
            ScmpCmpGt,
            ScmpCmpGe,
            ScmpCmpMaskedEq,
        ] {
            for &value in &samples {
                let two = value & 0x1_0000_0001;
                let filter = SeccompFilter::compile(&profile(vec![rule(
                    LinuxSeccompAction::ScmpActAllow,
                    None,
                    vec![condition(3, op, value, Some(two))],
                )]))
                .unwrap();
                for &argument in &samples {
                    let expected = if reference(op, argument, value, two) {
                        ALLOW
                    } else {
                        EPERM
                    };
                    let got = call(&filter, "ioctl", &[0, 0, 0, argument]);
                    assert_eq!(got, expected, "{op:?} arg={argument:#x} value={value:#x}");
                }
            }
        }
    }

    #[test]
    fn conditions_are_anded_unless_an_argument_repeats() {
        use LinuxSeccompOperator::*;
        let and = SeccompFilter::compile(&profile(vec![rule(
            LinuxSeccompAction::ScmpActAllow,
            None,
            vec![
                condition(0, ScmpCmpEq, 1, None),
                condition(1, ScmpCmpEq, 2, None),
            ],
        )]))
        .unwrap();
        assert_eq!(call(&and, "ioctl", &[1, 2]), ALLOW);
        assert_eq!(call(&and, "ioctl", &[1, 3]), EPERM);
        let or = SeccompFilter::compile(&profile(vec![rule(
            LinuxSeccompAction::ScmpActAllow,
            None,
            vec![
                condition(0, ScmpCmpEq, 1, None),
                condition(0, ScmpCmpEq, 5, None),
            ],
        )]))
        .unwrap();
        assert_eq!(call(&or, "ioctl", &[1]), ALLOW);
        assert_eq!(call(&or, "ioctl", &[5]), ALLOW);
        assert_eq!(call(&or, "ioctl", &[4]), EPERM);
    }

    #[test]
    fn first_matching_rule_decides() {
        use LinuxSeccompOperator::*;
        let filter = SeccompFilter::compile(&profile(vec![
            rule(
                LinuxSeccompAction::ScmpActErrno,
                Some(libc::ENOSYS as u32),
                vec![condition(0, ScmpCmpGt, 10, None)],
            ),
            rule(LinuxSeccompAction::ScmpActAllow, None, vec![]),
            rule(LinuxSeccompAction::ScmpActKillProcess, None, vec![]),
        ]))
        .unwrap();
        assert_eq!(call(&filter, "ioctl", &[11]), ENOSYS);
        assert_eq!(call(&filter, "ioctl", &[10]), ALLOW);
        assert_eq!(call(&filter, "read", &[]), EPERM);
    }

    #[test]
    fn unsupported_profiles_are_refused() {
        let mut notify = profile(vec![rule(LinuxSeccompAction::ScmpActNotify, None, vec![])]);
        assert!(matches!(
            SeccompFilter::compile(&notify),
            Err(SeccompError::UnsupportedAction(_))
        ));
        notify
            .set_syscalls(None)
            .set_architectures(Some(vec![Arch::ScmpArchAarch64]));
        assert!(matches!(
            SeccompFilter::compile(&notify),
            Err(SeccompError::NoNativeArchitecture(_))
        ));
        let bad_index = profile(vec![rule(
            LinuxSeccompAction::ScmpActAllow,
            None,
            vec![condition(6, LinuxSeccompOperator::ScmpCmpEq, 0, None)],
        )]);
        assert!(matches!(
            SeccompFilter::compile(&bad_index),
            Err(SeccompError::ArgumentIndex { .. })
        ));
    }
}
