//! Device access rules: Docker's default list, and their v1 `devices.allow`/`devices.deny`
//! form. cgroup v2 has no device files; it needs an eBPF program, which berth does not load
//! yet (see the crate docs).

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{CgroupError, Result};

/// The device rules Docker gives an unprivileged container: deny everything, then allow
/// mknod of any node (access is still checked on open), the standard character devices,
/// the pty devices and /dev/net/tun.
pub fn docker_default_device_rules() -> Vec<LinuxDeviceCgroup> {
    const CHAR: LinuxDeviceType = LinuxDeviceType::C;
    const BLOCK: LinuxDeviceType = LinuxDeviceType::B;
    let mut rules = vec![rule(false, None, None, None, "rwm")];
    rules.extend(
        [
            (CHAR, None, None, "m"),
            (BLOCK, None, None, "m"),
            (CHAR, Some(1), Some(3), "rwm"),    // null
            (CHAR, Some(1), Some(5), "rwm"),    // zero
            (CHAR, Some(1), Some(7), "rwm"),    // full
            (CHAR, Some(1), Some(8), "rwm"),    // random
            (CHAR, Some(1), Some(9), "rwm"),    // urandom
            (CHAR, Some(5), Some(0), "rwm"),    // tty
            (CHAR, Some(5), Some(2), "rwm"),    // ptmx
            (CHAR, Some(136), None, "rwm"),     // pts/*
            (CHAR, Some(10), Some(200), "rwm"), // net/tun
        ]
        .into_iter()
        .map(|(typ, major, minor, access)| rule(true, Some(typ), major, minor, access)),
    );
    rules
}

fn rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(allow)
        .set_typ(typ)
        .set_major(major)
        .set_minor(minor)
        .set_access(Some(access.to_string()));
    rule
}

/// Whether applying `rules` in order leaves every device allowed: the last "all devices" rule
/// allows, and no deny rule follows it.
pub(crate) fn allows_everything(rules: &[LinuxDeviceCgroup]) -> bool {
    let Some(last_all) = rules.iter().rposition(is_all_devices) else {
        return false;
    };
    rules[last_all].allow() && rules[last_all + 1..].iter().all(|r| r.allow())
}

fn is_all_devices(rule: &LinuxDeviceCgroup) -> bool {
    matches!(rule.typ(), None | Some(LinuxDeviceType::A))
}

/// The v1 file a rule goes to and the line written there, e.g. ("devices.allow", "c 1:3 rwm").
pub(crate) fn v1_rule_line(rule: &LinuxDeviceCgroup) -> Result<(&'static str, String)> {
    let file = if rule.allow() {
        "devices.allow"
    } else {
        "devices.deny"
    };
    let access = rule.access().as_deref().unwrap_or("");
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(invalid(format!(
            "access {access:?} of rule {rule} must be a non-empty combination of r, w and m"
        )));
    }
    let typ = match rule.typ() {
        None | Some(LinuxDeviceType::A) => {
            // The kernel reads "a" as "every device, every access" and ignores the rest of
            // the line, so a narrower "a" rule would silently mean more than it says.
            if rule.major().is_some() || rule.minor().is_some() || access.len() < 3 {
                return Err(invalid(format!(
                    "rule {rule}: an all-devices rule must not name a device number or a partial access"
                )));
            }
            return Ok((file, "a".to_string()));
        }
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
        Some(LinuxDeviceType::B) => 'b',
        Some(LinuxDeviceType::P) => {
            return Err(CgroupError::Unsupported {
                resource: "device rule of type p (FIFO)",
                reason: "the devices controller only governs character and block devices",
            })
        }
    };
    let number = |n: Option<i64>| -> Result<String> {
        match n {
            None | Some(-1) => Ok("*".to_string()),
            Some(n) if n >= 0 => Ok(n.to_string()),
            Some(n) => Err(invalid(format!(
                "rule {rule}: device number {n} is negative"
            ))),
        }
    };
    Ok((
        file,
        format!(
            "{typ} {}:{} {access}",
            number(rule.major())?,
            number(rule.minor())?
        ),
    ))
}

fn invalid(reason: String) -> CgroupError {
    CgroupError::InvalidResource {
        resource: "device rule",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(rules: &[LinuxDeviceCgroup]) -> Vec<(&'static str, String)> {
        rules.iter().map(|r| v1_rule_line(r).unwrap()).collect()
    }

    #[test]
    fn docker_defaults_deny_all_then_allow_the_standard_devices() {
        let lines = lines(&docker_default_device_rules());
        assert_eq!(lines[0], ("devices.deny", "a".to_string()));
        let allowed: Vec<&str> = lines[1..]
            .iter()
            .map(|(file, line)| {
                assert_eq!(*file, "devices.allow");
                line.as_str()
            })
            .collect();
        assert_eq!(
            allowed,
            [
                "c *:* m",
                "b *:* m",
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 1:8 rwm",
                "c 1:9 rwm",
                "c 5:0 rwm",
                "c 5:2 rwm",
                "c 136:* rwm",
                "c 10:200 rwm",
            ]
        );
        assert!(!allows_everything(&docker_default_device_rules()));
    }

    #[test]
    fn privileged_rules_allow_everything() {
        let privileged = vec![rule(true, None, None, None, "rwm")];
        assert!(allows_everything(&privileged));
        assert_eq!(lines(&privileged), [("devices.allow", "a".to_string())]);

        let mut then_denied = privileged.clone();
        then_denied.push(rule(
            false,
            Some(LinuxDeviceType::C),
            Some(1),
            Some(3),
            "rwm",
        ));
        assert!(!allows_everything(&then_denied));

        let mut then_allowed = privileged;
        then_allowed.push(rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "r"));
        assert!(allows_everything(&then_allowed));
        assert!(!allows_everything(&[]));
    }

    #[test]
    fn malformed_rules_are_refused() {
        let empty_access = rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "");
        let bad_access = rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rx");
        let narrow_all = rule(true, None, Some(1), None, "rwm");
        let partial_all = rule(true, None, None, None, "r");
        let negative = rule(true, Some(LinuxDeviceType::B), Some(-5), None, "r");
        for bad in [empty_access, bad_access, narrow_all, partial_all, negative] {
            let err = v1_rule_line(&bad).unwrap_err();
            assert!(matches!(err, CgroupError::InvalidResource { .. }), "{err}");
        }
        let fifo = rule(true, Some(LinuxDeviceType::P), None, None, "rwm");
        assert!(matches!(
            v1_rule_line(&fifo),
            Err(CgroupError::Unsupported { .. })
        ));
    }

    #[test]
    fn unbuffered_char_devices_are_char_devices() {
        let u = rule(false, Some(LinuxDeviceType::U), Some(4), Some(1), "rw");
        assert_eq!(
            v1_rule_line(&u).unwrap(),
            ("devices.deny", "c 4:1 rw".to_string())
        );
    }
}
