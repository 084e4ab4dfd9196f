//! Which cgroup version this host runs, and where its hierarchies are mounted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{CgroupError, Result};
use crate::fsio;

/// The cgroup layout of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1: one mount per hierarchy. Keys are controller names ("memory", "cpu", …) and
    /// named hierarchies as mounted ("name=systemd"); co-mounted controllers ("cpu,cpuacct")
    /// each map to the same directory.
    V1 { mounts: BTreeMap<String, PathBuf> },
    /// cgroup v2: a single unified tree.
    V2 { root: PathBuf },
}

impl Hierarchy {
    /// 1 or 2, as `docker info` reports "Cgroup Version".
    pub fn version(&self) -> u8 {
        match self {
            Hierarchy::V1 { .. } => 1,
            Hierarchy::V2 { .. } => 2,
        }
    }

    /// Whether a block IO weight can be set (Docker's `BlkioWeight` capability): v1 needs
    /// the `blkio.weight` file, which only kernels with a weight-aware I/O scheduler give
    /// the blkio hierarchy; v2 needs the io controller.
    pub fn supports_blkio_weight(&self) -> bool {
        match self {
            Hierarchy::V1 { mounts } => mounts
                .get("blkio")
                .is_some_and(|mount| mount.join("blkio.weight").exists()),
            Hierarchy::V2 { root } => fsio::read_if_exists(&root.join("cgroup.controllers"))
                .ok()
                .flatten()
                .is_some_and(|text| text.split_whitespace().any(|c| c == "io")),
        }
    }
}

pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: u32 = 0x6367_7270;

/// Controllers the v1 kernel knows; anything else in a cgroup mount's options is a mount flag.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "debug",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// Detects this host's layout: `/sys/fs/cgroup` itself being cgroup2 means a pure v2 host;
/// otherwise the v1 mounts are read from `/proc/self/mountinfo`.
pub fn detect() -> Result<Hierarchy> {
    let root = Path::new(DEFAULT_ROOT);
    let stat = rustix::fs::statfs(root).map_err(|e| fsio::io_error("statfs", root, e.into()))?;
    // The field's integer type differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    if stat.f_type as u32 == CGROUP2_SUPER_MAGIC {
        return Ok(Hierarchy::V2 {
            root: root.to_path_buf(),
        });
    }
    let mountinfo_path = Path::new("/proc/self/mountinfo");
    let mountinfo = fsio::read(mountinfo_path)?;
    detect_at(root, &mountinfo)
}

/// The testable core of [`detect`]: decides from a mountinfo text alone.
///
/// A cgroup2 mount at `root` means v2. Otherwise the v1 controller mounts make a v1 layout,
/// even when a cgroup2 tree is also mounted (the "hybrid" layout, e.g. at
/// `/sys/fs/cgroup/unified`), since v1 then owns the controllers. A host with only a cgroup2
/// mount somewhere else is v2 at that mount.
pub fn detect_at(root: &Path, mountinfo: &str) -> Result<Hierarchy> {
    let mounts: Vec<Mount> = mountinfo.lines().filter_map(parse_mountinfo_line).collect();

    if mounts
        .iter()
        .any(|m| m.fstype == "cgroup2" && m.mount_point == root)
    {
        return Ok(Hierarchy::V2 {
            root: root.to_path_buf(),
        });
    }

    let mut v1 = BTreeMap::new();
    for mount in mounts.iter().filter(|m| m.fstype == "cgroup") {
        for option in mount.super_options.split(',') {
            let is_hierarchy = V1_CONTROLLERS.contains(&option) || option.starts_with("name=");
            if is_hierarchy {
                // The first mount of a hierarchy wins; later ones are bind mounts of it.
                v1.entry(option.to_string())
                    .or_insert_with(|| mount.mount_point.clone());
            }
        }
    }
    if !v1.is_empty() {
        return Ok(Hierarchy::V1 { mounts: v1 });
    }

    match mounts.iter().find(|m| m.fstype == "cgroup2") {
        Some(mount) => Ok(Hierarchy::V2 {
            root: mount.mount_point.clone(),
        }),
        None => Err(CgroupError::NoHierarchy(format!(
            "neither cgroup2 at {} nor any cgroup v1 controller is mounted",
            root.display()
        ))),
    }
}

struct Mount {
    mount_point: PathBuf,
    fstype: String,
    super_options: String,
}

/// One line of mountinfo (proc(5)): `id parent maj:min root mount_point options [optional
/// fields…] - fstype source super_options`. Lines that do not have this shape are skipped.
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (before, after) = line.split_once(" - ")?;
    let mount_point = before.split(' ').nth(4)?;
    let mut after = after.split(' ');
    let fstype = after.next()?;
    let _source = after.next()?;
    let super_options = after.next().unwrap_or("");
    Some(Mount {
        mount_point: PathBuf::from(unescape_octal(mount_point)),
        fstype: fstype.to_string(),
        super_options: super_options.to_string(),
    })
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match escape {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const PURE_V1_SYSTEMD: &str = "\
25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
";

    const PURE_V2: &str = "\
22 1 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    fn root() -> &'static Path {
        Path::new(DEFAULT_ROOT)
    }

    #[test]
    fn hybrid_host_is_v1_with_every_controller_and_without_the_unified_tree() {
        let Hierarchy::V1 { mounts } = detect_at(root(), HYBRID).unwrap() else {
            panic!("expected v1");
        };
        let names: Vec<&str> = mounts.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "blkio",
                "cpu",
                "cpuacct",
                "cpuset",
                "devices",
                "freezer",
                "memory",
                "name=systemd",
                "pids"
            ]
        );
        assert_eq!(mounts["cpu"], PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(
            mounts["name=systemd"],
            PathBuf::from("/sys/fs/cgroup/systemd")
        );
    }

    #[test]
    fn co_mounted_controllers_share_one_directory_and_mount_flags_are_not_controllers() {
        let Hierarchy::V1 { mounts } = detect_at(root(), PURE_V1_SYSTEMD).unwrap() else {
            panic!("expected v1");
        };
        assert_eq!(mounts["cpu"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(mounts["cpuacct"], mounts["cpu"]);
        assert_eq!(
            mounts["net_prio"],
            PathBuf::from("/sys/fs/cgroup/net_cls,net_prio")
        );
        assert!(!mounts.contains_key("rw"));
        assert!(!mounts.contains_key("xattr"));
        assert!(!mounts.keys().any(|k| k.starts_with("release_agent")));
        assert_eq!(mounts.len(), 7);
    }

    #[test]
    fn cgroup2_at_the_root_is_v2() {
        assert_eq!(
            detect_at(root(), PURE_V2).unwrap(),
            Hierarchy::V2 {
                root: root().to_path_buf()
            }
        );
    }

    #[test]
    fn lone_cgroup2_elsewhere_is_v2_there() {
        let text = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            detect_at(root(), text).unwrap(),
            Hierarchy::V2 {
                root: PathBuf::from("/sys/fs/cgroup/unified")
            }
        );
    }

    #[test]
    fn no_cgroup_mount_at_all_is_an_error() {
        let text = "22 1 0:20 / /sys rw - sysfs sysfs rw\n";
        let err = detect_at(root(), text).unwrap_err();
        assert!(matches!(err, CgroupError::NoHierarchy(_)), "{err}");
    }

    #[test]
    fn optional_fields_and_escaped_mount_points_are_understood() {
        let text =
            "50 31 0:40 / /mnt/my\\040cgroups rw shared:3 master:1 - cgroup cgroup rw,memory\n";
        let Hierarchy::V1 { mounts } = detect_at(root(), text).unwrap() else {
            panic!("expected v1");
        };
        assert_eq!(mounts["memory"], PathBuf::from("/mnt/my cgroups"));
    }

    #[test]
    fn this_host_is_detected_as_its_mountinfo_says() {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(detect().unwrap(), detect_at(root(), &mountinfo).unwrap());
    }
}
