//! The one place the volume store touches the host's mount table.

use std::io;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::options::MountSpec;

/// Mounts and unmounts volumes with options; a fake in tests.
pub trait Mounter: Send + Sync {
    fn mount(&self, spec: &MountSpec, target: &Path) -> io::Result<()>;
    fn unmount(&self, target: &Path) -> io::Result<()>;
    /// Whether something is mounted on `target` (a daemon killed with its volumes mounted
    /// left them so).
    fn is_mounted(&self, target: &Path) -> io::Result<bool>;
}

/// The host's mount table, through mount(2) and /proc/self/mountinfo.
pub struct LinuxMounter;

impl Mounter for LinuxMounter {
    fn mount(&self, spec: &MountSpec, target: &Path) -> io::Result<()> {
        let data = (!spec.data.is_empty()).then_some(spec.data.as_str());
        let fstype = (!spec.fstype.is_empty()).then_some(spec.fstype.as_str());
        mount(
            Some(spec.device.as_str()),
            target,
            fstype,
            MsFlags::from_bits_truncate(spec.flags),
            data,
        )
        .map_err(io::Error::from)
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        // Lazy: a process of the host that has the directory open must not keep the volume
        // mounted forever once no container uses it.
        umount2(target, MntFlags::MNT_DETACH).map_err(io::Error::from)
    }

    fn is_mounted(&self, target: &Path) -> io::Result<bool> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        let wanted = target.to_string_lossy();
        // The fifth field is the mount point, with spaces and the like octal-escaped.
        Ok(mountinfo.lines().any(|line| {
            line.split(' ')
                .nth(4)
                .is_some_and(|point| unescape(point) == wanted)
        }))
    }
}

fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.by_ref().take(3).collect();
            match u8::from_str_radix(&digits, 8) {
                Ok(byte) => out.push(byte as char),
                Err(_) => {
                    out.push('\\');
                    out.push_str(&digits);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_escapes_are_read() {
        assert_eq!(super::unescape("/a\\040b"), "/a b");
        assert_eq!(super::unescape("/plain"), "/plain");
    }
}
