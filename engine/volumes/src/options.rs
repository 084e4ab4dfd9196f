//! The local driver's options (`-o type=… -o o=… -o device=…`): which it accepts, and the
//! mount they describe, as `mount(8)` would read them.

use std::collections::BTreeMap;

use crate::error::Error;

const VALID: [&str; 4] = ["type", "o", "device", "size"];
/// An option given without one of these is refused, as the local driver refuses it.
const MANDATORY: [(&str, &[&str]); 3] = [
    ("device", &["type"]),
    ("type", &["device"]),
    ("o", &["device", "type"]),
];

/// Refuses options the local driver refuses, before anything is created.
pub fn validate(name: &str, options: &BTreeMap<String, String>) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidOption {
        name: name.to_string(),
        reason,
    };
    for key in options.keys() {
        if !VALID.contains(&key.as_str()) {
            return Err(invalid(format!("invalid option: \"{key}\"")));
        }
    }
    if options.contains_key("size") {
        // Docker needs project quotas on the volumes' file system (xfs) for this.
        return Err(invalid(
            "quota size requested but no quota support".to_string(),
        ));
    }
    for (option, required) in MANDATORY {
        if options.contains_key(option) {
            for needed in required {
                if !options.contains_key(*needed) {
                    return Err(invalid(format!("missing required option: \"{needed}\"")));
                }
            }
        }
    }
    Ok(())
}

/// A mount the options describe: `mount -t FSTYPE -o O DEVICE <volume>/_data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub device: String,
    pub fstype: String,
    /// `MS_*` flags from the options `mount(8)` turns into flags.
    pub flags: libc::c_ulong,
    /// The options left for the file system itself (`size=…`, `uid=…`).
    pub data: String,
}

impl MountSpec {
    /// The mount a volume's options ask for, or `None` for a plain directory.
    pub fn from_options(options: &BTreeMap<String, String>) -> Option<MountSpec> {
        let fstype = options.get("type").cloned().unwrap_or_default();
        let device = options.get("device").cloned().unwrap_or_default();
        if fstype.is_empty() && device.is_empty() {
            return None;
        }
        let mut flags: libc::c_ulong = 0;
        let mut data = Vec::new();
        for option in options
            .get("o")
            .map(String::as_str)
            .unwrap_or("")
            .split(',')
            .filter(|o| !o.is_empty())
        {
            match flag(option) {
                Some((bits, true)) => flags |= bits,
                Some((bits, false)) => flags &= !bits,
                None => data.push(option),
            }
        }
        Some(MountSpec {
            device,
            fstype,
            flags,
            data: data.join(","),
        })
    }
}

/// The options `mount(8)` turns into flags: the bits, and whether the option sets or
/// clears them.
fn flag(option: &str) -> Option<(libc::c_ulong, bool)> {
    Some(match option {
        "ro" => (libc::MS_RDONLY, true),
        "rw" => (libc::MS_RDONLY, false),
        "nosuid" => (libc::MS_NOSUID, true),
        "suid" => (libc::MS_NOSUID, false),
        "nodev" => (libc::MS_NODEV, true),
        "dev" => (libc::MS_NODEV, false),
        "noexec" => (libc::MS_NOEXEC, true),
        "exec" => (libc::MS_NOEXEC, false),
        "sync" => (libc::MS_SYNCHRONOUS, true),
        "async" => (libc::MS_SYNCHRONOUS, false),
        "dirsync" => (libc::MS_DIRSYNC, true),
        "noatime" => (libc::MS_NOATIME, true),
        "atime" => (libc::MS_NOATIME, false),
        "nodiratime" => (libc::MS_NODIRATIME, true),
        "diratime" => (libc::MS_NODIRATIME, false),
        "relatime" => (libc::MS_RELATIME, true),
        "norelatime" => (libc::MS_RELATIME, false),
        "strictatime" => (libc::MS_STRICTATIME, true),
        "mand" => (libc::MS_MANDLOCK, true),
        "nomand" => (libc::MS_MANDLOCK, false),
        "bind" => (libc::MS_BIND, true),
        "rbind" => (libc::MS_BIND | libc::MS_REC, true),
        "defaults" => (0, true),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_are_checked_as_the_local_driver_does() {
        assert!(validate("v", &opts(&[])).is_ok());
        assert!(validate("v", &opts(&[("type", "tmpfs"), ("device", "tmpfs")])).is_ok());
        assert_eq!(
            validate("v", &opts(&[("colour", "blue")]))
                .unwrap_err()
                .to_string(),
            "create v: invalid option: \"colour\""
        );
        assert_eq!(
            validate("v", &opts(&[("type", "tmpfs")]))
                .unwrap_err()
                .to_string(),
            "create v: missing required option: \"device\""
        );
        assert!(validate("v", &opts(&[("o", "size=1m"), ("device", "tmpfs")])).is_err());
    }

    #[test]
    fn mount_options_split_into_flags_and_data() {
        let spec = MountSpec::from_options(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=64k,uid=1000,noexec,ro,rw"),
        ]))
        .unwrap();
        assert_eq!(spec.fstype, "tmpfs");
        assert_eq!(spec.data, "size=64k,uid=1000");
        assert_eq!(spec.flags, libc::MS_NOEXEC);
        let bind = MountSpec::from_options(&opts(&[
            ("type", "none"),
            ("device", "/srv"),
            ("o", "bind"),
        ]))
        .unwrap();
        assert_eq!(bind.flags, libc::MS_BIND);
        assert_eq!(MountSpec::from_options(&opts(&[])), None);
    }
}
