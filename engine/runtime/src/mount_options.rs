//! The options of an OCI mount, split the way mount(2) wants them: flags, propagation
//! changes (each a separate call) and the filesystem's own data string.

use nix::mount::MsFlags;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountOptionError {
    #[error("mount option {0:?} is not supported by berth")]
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount itself (MS_RDONLY, MS_NOSUID, …), without MS_BIND / MS_REC.
    pub flags: MsFlags,
    /// A bind mount (`bind`, `rbind`, or type "bind").
    pub bind: bool,
    /// `rbind`: submounts of the source come along.
    pub recursive: bool,
    /// Propagation changes applied after mounting, in order.
    pub propagation: Vec<MsFlags>,
    /// Everything else, comma-joined, for the filesystem (`mode=755,size=65536k`).
    pub data: String,
}

impl MountOptions {
    pub fn parse(options: &[String]) -> Result<MountOptions, MountOptionError> {
        let mut parsed = MountOptions {
            flags: MsFlags::empty(),
            bind: false,
            recursive: false,
            propagation: Vec::new(),
            data: String::new(),
        };
        let mut data = Vec::new();
        for option in options {
            let option = option.as_str();
            if let Some((set, flag)) = flag(option) {
                parsed.flags.set(flag, set);
            } else if let Some(propagation) = propagation(option) {
                parsed.propagation.push(propagation);
            } else {
                match option {
                    "bind" => parsed.bind = true,
                    "rbind" => {
                        parsed.bind = true;
                        parsed.recursive = true;
                    }
                    "defaults" | "" => {}
                    // runc extensions Docker can emit; we do not implement them.
                    "tmpcopyup" | "rro" | "idmap" | "ridmap" => {
                        return Err(MountOptionError::Unsupported(option.to_string()))
                    }
                    _ => data.push(option),
                }
            }
        }
        parsed.data = data.join(",");
        Ok(parsed)
    }
}

/// A mount flag option: whether it sets (true) or clears (false) the flag.
fn flag(option: &str) -> Option<(bool, MsFlags)> {
    Some(match option {
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "atime" => (false, MsFlags::MS_NOATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        _ => return None,
    })
}

fn propagation(option: &str) -> Option<MsFlags> {
    Some(match option {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> MountOptions {
        MountOptions::parse(&options.iter().map(|o| o.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags_propagation_and_data_are_separated() {
        let devpts = parse(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(devpts.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert_eq!(devpts.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        assert!(!devpts.bind);

        let volume = parse(&["rbind", "ro", "rprivate"]);
        assert!(volume.bind && volume.recursive);
        assert_eq!(volume.flags, MsFlags::MS_RDONLY);
        assert_eq!(
            volume.propagation,
            vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]
        );
        assert!(volume.data.is_empty());
    }

    #[test]
    fn later_options_override_earlier_ones() {
        assert_eq!(parse(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(parse(&["rw", "ro"]).flags, MsFlags::MS_RDONLY);
    }

    #[test]
    fn runc_only_extensions_are_refused() {
        let err = MountOptions::parse(&["tmpcopyup".to_string()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mount option \"tmpcopyup\" is not supported by berth"
        );
    }
}
