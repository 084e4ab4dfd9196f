//! Volume names: Docker's rule for the local driver, and the names of anonymous volumes.

use crate::error::Error;

/// Docker's `RestrictedNameChars`, quoted in its message.
const RESTRICTED_NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

/// Refuses a name the local driver would refuse: it names a directory under the volumes
/// root, so `/` and `..` (which could leave it) are never accepted.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidName {
        op: "create",
        name: name.to_string(),
        reason,
    };
    if name.len() == 1 {
        return Err(invalid(
            "volume name is too short, names should be at least two alphanumeric characters"
                .to_string(),
        ));
    }
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(invalid(format!(
            "\"{name}\" includes invalid characters for a local volume name, only \"{RESTRICTED_NAME_CHARS}\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// A fresh name for an anonymous volume: 64 random hex digits, as Docker draws them.
pub fn anonymous_name() -> String {
    let mut bytes = [0u8; 32];
    // getrandom fails only without any entropy source, where nothing else would work either;
    // the time keeps names distinct even then.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        bytes[..8].copy_from_slice(&nanos.to_le_bytes());
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_local_driver() {
        assert!(validate_name("data").is_ok());
        assert!(validate_name("my_vol.1-x").is_ok());
        let err = validate_name("a/b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        assert!(validate_name("..").is_err());
        assert!(validate_name("../x").is_err());
        assert!(validate_name(".hidden").is_err());
        assert!(validate_name("x")
            .unwrap_err()
            .to_string()
            .contains("too short"));
        assert!(validate_name("").is_err());
    }

    #[test]
    fn anonymous_names_are_valid_and_distinct() {
        let a = anonymous_name();
        assert_eq!(a.len(), 64);
        assert!(validate_name(&a).is_ok());
        assert_ne!(a, anonymous_name());
    }
}
