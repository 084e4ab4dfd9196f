//! The confinement audit: berth's defaults against Docker's, rule by rule.
//!
//! Docker's default seccomp profile is read from `moby_seccomp_default.json`, a verbatim copy
//! of moby's `profiles/seccomp/default.json` (github.com/moby/profiles/seccomp v0.1.0, as
//! vendored by moby/moby v28.5.2 at `vendor/github.com/moby/profiles/seccomp/default.json`;
//! Copyright The Moby Authors, Apache License 2.0). The test evaluates it as dockerd does on
//! an amd64 host (its `includes` and `excludes` of architecture and capabilities) for
//! several capability sets, and compares the result with berth's profile for the same set,
//! system call by system call and argument filter by argument filter, for the system calls
//! of x86_64 and its i386 ABI (the architectures berth builds filters for). Docker's
//! capabilities and masked and read-only paths (moby v28.5.2 `oci/caps/defaults.go` and
//! `oci/defaults.go`) are recorded as data. Every difference is listed below with its
//! reason; a test fails when a difference appears that is not listed, or a listed one
//! disappears.

use std::collections::BTreeSet;

use oci_spec::runtime::{Capability, LinuxSeccomp};
use serde::Deserialize;

use super::{capabilities, masked_paths, readonly_paths, seccomp_profile_for};
use crate::seccomp::{syscall_number, Abi};

const MOBY_PROFILE: &str = include_str!("moby_seccomp_default.json");

/// The part of a seccomp profile both sides share: moby's JSON and the OCI runtime spec's
/// (which berth's `LinuxSeccomp` serializes to) use the same field names.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    default_errno_ret: Option<u32>,
    syscalls: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Conditions,
    #[serde(default)]
    excludes: Conditions,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    value_two: Option<u64>,
    op: String,
}

/// moby's `includes`/`excludes`: the rule applies on these architectures (Go's names),
/// with these capabilities. (Their `minKernel` is ignored: every kernel berth supports is
/// newer than any the profile names.)
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Conditions {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
}

/// `CAP_SYS_ADMIN` for `SysAdmin`, as moby's profile names capabilities.
fn cap_name(cap: &Capability) -> String {
    let camel = format!("{cap:?}");
    let mut name = String::from("CAP_");
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The rules of `profile` that apply on amd64 to a container holding `caps`, as dockerd
/// selects them: every included architecture and capability present, no excluded one.
fn applicable<'a>(profile: &'a Profile, caps: &[Capability]) -> impl Iterator<Item = &'a Rule> {
    let held: BTreeSet<String> = caps.iter().map(cap_name).collect();
    profile.syscalls.iter().filter(move |rule| {
        let arch_in = |arches: &[String]| arches.iter().any(|a| a == "amd64");
        (rule.includes.arches.is_empty() || arch_in(&rule.includes.arches))
            && !arch_in(&rule.excludes.arches)
            && rule.includes.caps.iter().all(|c| held.contains(c))
            && !rule.excludes.caps.iter().any(|c| held.contains(c))
    })
}

/// Every applicable rule as one line per system call of x86_64 or i386, e.g.
/// `clone: SCMP_ACT_ALLOW if arg0 SCMP_CMP_MASKED_EQ 0x7e020000 0x0`. A missing `valueTwo`
/// is 0, as in libseccomp. Names that are no system call of either ABI (other
/// architectures' calls, which libseccomp resolves to nothing here) are left out.
fn rule_lines(profile: &Profile, caps: &[Capability]) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for rule in applicable(profile, caps) {
        let mut action = rule.action.clone();
        if let Some(errno) = rule.errno_ret {
            action.push_str(&format!("({errno})"));
        }
        let conditions: Vec<String> = rule
            .args
            .iter()
            .flatten()
            .map(|a| {
                format!(
                    "arg{} {} {:#x} {:#x}",
                    a.index,
                    a.op,
                    a.value,
                    a.value_two.unwrap_or(0)
                )
            })
            .collect();
        let condition = if conditions.is_empty() {
            String::new()
        } else {
            format!(" if {}", conditions.join(" && "))
        };
        for name in &rule.names {
            if syscall_number(Abi::X86_64, name).is_some()
                || syscall_number(Abi::I386, name).is_some()
            {
                lines.insert(format!("{name}: {action}{condition}"));
            }
        }
    }
    lines
}

fn docker_profile() -> Profile {
    serde_json::from_str(MOBY_PROFILE).expect("moby's default.json parses")
}

fn berth_profile(caps: &[Capability]) -> Profile {
    let profile: LinuxSeccomp = seccomp_profile_for(caps);
    let json = serde_json::to_string(&profile).unwrap();
    serde_json::from_str(&json).unwrap()
}

/// A rule that one side has and the other has not, whatever the container's capabilities.
struct Difference {
    rule: &'static str,
    only_in: Side,
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Debug, Clone, Copy)]
enum Side {
    Berth,
    Docker,
}

/// Every difference between the two profiles.
const DIFFERENCES: &[Difference] = &[
    // socket(2): Docker refuses only AF_VSOCK (40). berth also refuses AF_ALG (38), the
    // kernel crypto API, a frequent source of kernel bugs reachable by unprivileged code:
    // three rules instead of Docker's one.
    Difference {
        rule: "socket: SCMP_ACT_ALLOW if arg0 SCMP_CMP_NE 0x28 0x0",
        only_in: Side::Docker,
    },
    Difference {
        rule: "socket: SCMP_ACT_ALLOW if arg0 SCMP_CMP_LT 0x26 0x0",
        only_in: Side::Berth,
    },
    Difference {
        rule: "socket: SCMP_ACT_ALLOW if arg0 SCMP_CMP_EQ 0x27 0x0",
        only_in: Side::Berth,
    },
    Difference {
        rule: "socket: SCMP_ACT_ALLOW if arg0 SCMP_CMP_GT 0x28 0x0",
        only_in: Side::Berth,
    },
];

/// The capability sets both profiles are evaluated for: none, Docker's default set, the
/// default set plus each capability a rule of either profile names, and all of them.
fn capability_sets() -> Vec<Vec<Capability>> {
    let gating = [
        Capability::DacReadSearch,
        Capability::SysAdmin,
        Capability::SysBoot,
        Capability::SysChroot,
        Capability::SysModule,
        Capability::SysPacct,
        Capability::SysPtrace,
        Capability::SysRawio,
        Capability::SysTime,
        Capability::SysTtyConfig,
        Capability::SysNice,
        Capability::Syslog,
        Capability::Bpf,
        Capability::Perfmon,
    ];
    let mut sets = vec![Vec::new(), capabilities()];
    for cap in gating {
        let mut set = capabilities();
        set.push(cap);
        sets.push(set);
    }
    sets.push(gating.to_vec());
    sets
}

#[test]
fn every_seccomp_rule_is_dockers_except_the_listed_differences() {
    let docker = docker_profile();
    for caps in capability_sets() {
        let ours = rule_lines(&berth_profile(&caps), &caps);
        let theirs = rule_lines(&docker, &caps);
        let found: BTreeSet<(Side, String)> = ours
            .difference(&theirs)
            .map(|r| (Side::Berth, r.clone()))
            .chain(theirs.difference(&ours).map(|r| (Side::Docker, r.clone())))
            .collect();
        let listed: BTreeSet<(Side, String)> = DIFFERENCES
            .iter()
            .map(|d| (d.only_in, d.rule.to_string()))
            .collect();
        assert_eq!(
            found.iter().map(printable).collect::<Vec<_>>(),
            listed.iter().map(printable).collect::<Vec<_>>(),
            "differences with capabilities {caps:?} (left: found, right: listed)"
        );
    }
}

fn printable((side, rule): &(Side, String)) -> String {
    format!("only in {side:?}: {rule}")
}

#[test]
fn the_default_action_is_dockers() {
    let docker = docker_profile();
    let ours = berth_profile(&capabilities());
    // SCMP_ACT_ERRNO with errno 1 (EPERM) for everything not allowed.
    assert_eq!(ours.default_action, docker.default_action);
    assert_eq!(ours.default_errno_ret, docker.default_errno_ret);
    // Docker lists x86_64 with the x86 and x32 sub-architectures. berth filters x86_64 and
    // i386 only: an x32 call (x86_64 with bit 30 set) matches no rule of berth's filter and
    // gets the default action, so x32 programs cannot run (Docker allows them).
    let arches = seccomp_profile_for(&[]).architectures().clone();
    assert_eq!(
        arches,
        Some(vec![
            oci_spec::runtime::Arch::ScmpArchX86_64,
            oci_spec::runtime::Arch::ScmpArchX86
        ])
    );
}

#[test]
fn the_audit_reads_dockers_rules_as_dockerd_does() {
    // The evaluation itself, on rules whose outcome is known: without CAP_SYS_ADMIN clone3
    // fails with ENOSYS and mount is refused; with it both are allowed; arm's calls never
    // apply on amd64.
    let docker = docker_profile();
    let default = rule_lines(&docker, &capabilities());
    assert!(default.contains("clone3: SCMP_ACT_ERRNO(38)"));
    assert!(default.contains("chroot: SCMP_ACT_ALLOW"));
    assert!(!default.iter().any(|r| r.starts_with("mount:")));
    let mut admin = capabilities();
    admin.push(Capability::SysAdmin);
    let admin = rule_lines(&docker, &admin);
    assert!(admin.contains("mount: SCMP_ACT_ALLOW"));
    assert!(admin.contains("clone3: SCMP_ACT_ALLOW"));
    assert!(!admin
        .iter()
        .any(|r| r.starts_with("clone3: SCMP_ACT_ERRNO")));
    assert_eq!(cap_name(&Capability::SysAdmin), "CAP_SYS_ADMIN");
    assert_eq!(cap_name(&Capability::DacReadSearch), "CAP_DAC_READ_SEARCH");
    assert!(docker
        .syscalls
        .iter()
        .any(|r| r.names.iter().any(|n| n == "set_tls")));
    assert!(!default.iter().any(|r| r.starts_with("set_tls:")));
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[test]
fn capabilities_and_masked_and_read_only_paths_are_dockers() {
    // moby's oci/caps/defaults.go: 14 capabilities.
    let docker_caps = set(&[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]);
    let ours: BTreeSet<String> = capabilities().iter().map(cap_name).collect();
    assert_eq!(ours, docker_caps);
    // moby's oci/defaults.go masked paths. Both add the per-CPU thermal_throttle
    // directories where the host has them.
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
