//! Capability sets: from the spec's names to the kernel's bit masks, and onto the process.

use std::io;

use crate::os_error::OsError;

use oci_spec::runtime::{Capability, LinuxCapabilities};

#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    #[error("dropping {cap} from the bounding set: {source}")]
    DropBounding { cap: &'static str, source: OsError },
    #[error("capset (effective {effective:#x}, permitted {permitted:#x}, inheritable {inheritable:#x}): {source}")]
    Capset {
        effective: u64,
        permitted: u64,
        inheritable: u64,
        source: OsError,
    },
    #[error("raising ambient capability {cap}: {source}")]
    Ambient { cap: &'static str, source: OsError },
    #[error("reading the kernel's last capability from /proc/sys/kernel/cap_last_cap: {0}")]
    LastCap(OsError),
}

/// A set of capabilities as the kernel's bit mask (bit n = capability number n).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapabilitySet(u64);

impl CapabilitySet {
    pub fn from_capabilities<'a>(caps: impl IntoIterator<Item = &'a Capability>) -> Self {
        CapabilitySet(
            caps.into_iter()
                .fold(0, |bits, cap| bits | 1 << number(*cap)),
        )
    }

    #[cfg(test)]
    pub fn bits(self) -> u64 {
        self.0
    }

    pub fn contains(self, cap: Capability) -> bool {
        self.0 & (1 << number(cap)) != 0
    }

    fn intersection(self, other: CapabilitySet) -> CapabilitySet {
        CapabilitySet(self.0 & other.0)
    }

    fn with(self, cap: Capability) -> CapabilitySet {
        CapabilitySet(self.0 | 1 << number(cap))
    }
}

/// The five sets a container process ends up with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessCapabilities {
    pub bounding: CapabilitySet,
    pub effective: CapabilitySet,
    pub permitted: CapabilitySet,
    pub inheritable: CapabilitySet,
    pub ambient: CapabilitySet,
}

impl ProcessCapabilities {
    pub fn from_spec(caps: Option<&LinuxCapabilities>) -> Self {
        let set = |list: Option<&std::collections::HashSet<Capability>>| {
            list.map(|caps| CapabilitySet::from_capabilities(caps.iter()))
                .unwrap_or_default()
        };
        let Some(caps) = caps else {
            return ProcessCapabilities::default();
        };
        ProcessCapabilities {
            bounding: set(caps.bounding().as_ref()),
            effective: set(caps.effective().as_ref()),
            permitted: set(caps.permitted().as_ref()),
            inheritable: set(caps.inheritable().as_ref()),
            ambient: set(caps.ambient().as_ref()),
        }
    }

    /// The sets limited to what this host lets us grant: capabilities the kernel does not
    /// know, or that berth itself was started without (no CAP_SYS_RESOURCE on some hosts),
    /// cannot be given to a container. `--privileged` then means "everything we have", as
    /// with Docker.
    pub fn limited_to(self, available: CapabilitySet) -> Self {
        ProcessCapabilities {
            bounding: self.bounding.intersection(available),
            effective: self.effective.intersection(available),
            permitted: self.permitted.intersection(available),
            inheritable: self.inheritable.intersection(available),
            ambient: self.ambient.intersection(available),
        }
    }

    /// Like this, but holding `cap` in the effective and permitted sets too.
    pub fn plus(self, cap: Capability) -> Self {
        ProcessCapabilities {
            effective: self.effective.with(cap),
            permitted: self.permitted.with(cap),
            ..self
        }
    }
}

/// The capabilities this process may hand on: its own bounding set, as far as the kernel
/// knows capabilities. Read once: the supervisor's bounding set never changes, and every
/// exec would otherwise read /proc for it.
pub fn available() -> Result<CapabilitySet, CapabilityError> {
    static AVAILABLE: std::sync::OnceLock<CapabilitySet> = std::sync::OnceLock::new();
    if let Some(known) = AVAILABLE.get() {
        return Ok(*known);
    }
    let read = read_available()?;
    Ok(*AVAILABLE.get_or_init(|| read))
}

fn read_available() -> Result<CapabilitySet, CapabilityError> {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .map_err(|e| CapabilityError::LastCap(e.into()))?
        .trim()
        .parse()
        .map_err(|e| {
            CapabilityError::LastCap(io::Error::new(io::ErrorKind::InvalidData, e).into())
        })?;
    let mut set = 0u64;
    for cap in 0..=last.min(63) {
        // SAFETY: PR_CAPBSET_READ only reads.
        if unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } == 1 {
            set |= 1 << cap;
        }
    }
    Ok(CapabilitySet(set))
}

/// Removes from the bounding set everything not in `keep` (needs CAP_SETPCAP).
pub fn drop_bounding(keep: CapabilitySet, available: CapabilitySet) -> Result<(), CapabilityError> {
    for cap in ALL.iter().copied() {
        let bit = 1u64 << number(cap);
        if available.0 & bit != 0 && keep.0 & bit == 0 {
            // SAFETY: plain prctl with integer arguments.
            let rc = unsafe {
                libc::prctl(libc::PR_CAPBSET_DROP, number(cap) as libc::c_ulong, 0, 0, 0)
            };
            if rc != 0 {
                return Err(CapabilityError::DropBounding {
                    cap: name(cap),
                    source: io::Error::last_os_error().into(),
                });
            }
        }
    }
    Ok(())
}

/// Sets the effective, permitted and inheritable sets, then the ambient set.
pub fn set(caps: &ProcessCapabilities) -> Result<(), CapabilityError> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let half = |set: CapabilitySet, high: bool| (if high { set.0 >> 32 } else { set.0 }) as u32;
    let data = [false, true].map(|high| Data {
        effective: half(caps.effective, high),
        permitted: half(caps.permitted, high),
        inheritable: half(caps.inheritable, high),
    });
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    // SAFETY: version 3 takes a header and two data words, all live for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    if rc != 0 {
        return Err(CapabilityError::Capset {
            effective: caps.effective.0,
            permitted: caps.permitted.0,
            inheritable: caps.inheritable.0,
            source: io::Error::last_os_error().into(),
        });
    }
    // SAFETY: plain prctl calls with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    for cap in ALL
        .iter()
        .copied()
        .filter(|cap| caps.ambient.contains(*cap))
    {
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE,
                number(cap) as libc::c_ulong,
                0,
                0,
            )
        };
        if rc != 0 {
            return Err(CapabilityError::Ambient {
                cap: name(cap),
                source: io::Error::last_os_error().into(),
            });
        }
    }
    Ok(())
}

const ALL: [Capability; 41] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// Every capability the spec can name, in kernel order.
pub fn all() -> Vec<Capability> {
    ALL.to_vec()
}

/// The kernel's number for a capability (include/uapi/linux/capability.h).
fn number(cap: Capability) -> u32 {
    ALL.iter()
        .position(|c| *c == cap)
        .expect("every capability is in ALL") as u32
}

fn name(cap: Capability) -> &'static str {
    const NAMES: [&str; 41] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    NAMES[number(cap) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_match_the_kernel_header() {
        assert_eq!(number(Capability::Chown), 0);
        assert_eq!(number(Capability::SysAdmin), 21);
        assert_eq!(number(Capability::SysResource), 24);
        assert_eq!(number(Capability::Setfcap), 31);
        assert_eq!(number(Capability::CheckpointRestore), 40);
        // The names are the spec's own spelling of each capability.
        for cap in ALL {
            assert_eq!(
                serde_json::to_string(&cap).unwrap(),
                format!("\"{}\"", name(cap))
            );
        }
    }

    #[test]
    fn limiting_to_the_available_set_drops_what_the_host_lacks() {
        let everything = ProcessCapabilities {
            bounding: CapabilitySet::from_capabilities(&ALL),
            effective: CapabilitySet::from_capabilities(&ALL),
            ..Default::default()
        };
        let without_resource = CapabilitySet(CapabilitySet::from_capabilities(&ALL).0 & !(1 << 24));
        let limited = everything.limited_to(without_resource);
        assert_eq!(limited.bounding.bits(), 0x1ff_feff_ffff);
        assert!(!limited.effective.contains(Capability::SysResource));
    }
}
