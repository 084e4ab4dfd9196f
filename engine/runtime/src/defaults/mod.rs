//! What the engine puts into a container's spec when the user asks for nothing special:
//! Docker's defaults, so that a container here looks like one under dockerd + runc.

#[cfg(test)]
mod docker_audit;
mod seccomp_profile;

use std::path::Path;

use oci_spec::runtime::{Capability, Mount};

pub use seccomp_profile::{seccomp_profile, seccomp_profile_for};

/// Docker's default capability set (14 capabilities: CapEff `00000000a80425fb`).
pub fn capabilities() -> Vec<Capability> {
    vec![
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
    ]
}

/// Every capability the kernel defines (`--privileged`); the runtime keeps those the host
/// lets it grant.
pub fn all_capabilities() -> Vec<Capability> {
    crate::capabilities::all()
}

/// Paths hidden from the container: files get /dev/null bound over them, directories an
/// empty read-only tmpfs.
pub fn masked_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
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
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // Per-CPU thermal throttle counters leak host activity; they only exist on some hosts,
    // so they are listed only where present.
    paths.extend(thermal_throttle_paths(Path::new("/sys/devices/system/cpu")));
    paths
}

fn thermal_throttle_paths(cpu_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(cpu_dir) else {
        return Vec::new();
    };
    let mut cpus: Vec<u32> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            name.to_str()?.strip_prefix("cpu")?.parse().ok()
        })
        .collect();
    cpus.sort_unstable();
    cpus.into_iter()
        .map(|cpu| cpu_dir.join(format!("cpu{cpu}/thermal_throttle")))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect()
}

/// Paths the container sees read-only.
pub fn readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// The filesystems every container gets, in mount order.
pub fn mounts() -> Vec<Mount> {
    [
        ("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"][..]),
        (
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"][..],
        ),
        (
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ][..],
        ),
        (
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"][..],
        ),
        (
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"][..],
        ),
        (
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"][..],
        ),
        (
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"][..],
        ),
    ]
    .into_iter()
    .map(|(destination, typ, source, options)| {
        let mut mount = Mount::default();
        mount
            .set_destination(destination.into())
            .set_typ(Some(typ.to_string()))
            .set_source(Some(source.into()))
            .set_options(Some(options.iter().map(|o| o.to_string()).collect()));
        mount
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::CapabilitySet;

    #[test]
    fn default_capabilities_read_as_docker_cap_eff() {
        let set = CapabilitySet::from_capabilities(&capabilities());
        assert_eq!(format!("{:016x}", set.bits()), "00000000a80425fb");
    }

    #[test]
    fn default_mounts_cover_the_container_filesystems() {
        let destinations: Vec<_> = mounts()
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect();
        assert_eq!(
            destinations,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
        );
        let shm = &mounts()[6];
        assert!(shm
            .options()
            .as_ref()
            .unwrap()
            .contains(&"size=65536k".to_string()));
    }

    #[test]
    fn thermal_throttle_paths_only_lists_existing_cpus() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cpu0/thermal_throttle")).unwrap();
        std::fs::create_dir_all(dir.path().join("cpu1")).unwrap();
        std::fs::create_dir_all(dir.path().join("cpufreq")).unwrap();
        std::fs::create_dir_all(dir.path().join("cpu10/thermal_throttle")).unwrap();
        let found = thermal_throttle_paths(dir.path());
        let expected: Vec<String> = ["cpu0", "cpu10"]
            .iter()
            .map(|cpu| {
                dir.path()
                    .join(cpu)
                    .join("thermal_throttle")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(found, expected);
    }
}
