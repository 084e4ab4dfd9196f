//! OCI content digests. berth stores and addresses everything by sha256, so a [`Digest`] is
//! always `sha256:` followed by 64 lowercase hex characters; anything else is refused when
//! parsed, so a `Digest` in hand is always safe to use as a file name.

use std::fmt;
use std::io;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

const ALGORITHM: &str = "sha256";
const PREFIX: &str = "sha256:";
const HEX_LEN: usize = 64;

/// A `sha256:<64 lowercase hex>` digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// The whole text, `sha256:<hex>`, kept so that [`Digest::as_str`] costs nothing.
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {input:?}: expected the form sha256:<64 hex characters>")]
    Malformed { input: String },
    #[error("unsupported digest algorithm {algorithm:?} in {input:?}: only sha256 is supported")]
    UnsupportedAlgorithm { input: String, algorithm: String },
    #[error("invalid digest {input:?}: the sha256 hex part must be 64 lowercase hex characters")]
    BadHex { input: String },
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(input: &str) -> Result<Digest, DigestError> {
        let Some((algorithm, hex)) = input.split_once(':') else {
            return Err(DigestError::Malformed {
                input: input.to_string(),
            });
        };
        if algorithm != ALGORITHM {
            if algorithm.is_empty() || hex.is_empty() {
                return Err(DigestError::Malformed {
                    input: input.to_string(),
                });
            }
            return Err(DigestError::UnsupportedAlgorithm {
                input: input.to_string(),
                algorithm: algorithm.to_string(),
            });
        }
        Digest::from_hex(hex).map_err(|_| DigestError::BadHex {
            input: input.to_string(),
        })
    }

    /// Builds a digest from the bare 64-character lowercase hex part.
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        if !is_sha256_hex(hex) {
            return Err(DigestError::BadHex {
                input: hex.to_string(),
            });
        }
        Ok(Digest {
            text: format!("{PREFIX}{hex}"),
        })
    }

    /// The digest of a finished sha256 hash.
    pub fn from_sha256_bytes(bytes: &[u8; 32]) -> Digest {
        Digest {
            text: format!("{PREFIX}{}", hex::encode(bytes)),
        }
    }

    /// The sha256 digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest::from_sha256_bytes(&Sha256::digest(bytes).into())
    }

    pub fn algorithm(&self) -> &'static str {
        ALGORITHM
    }

    /// The 64 hex characters after `sha256:`.
    pub fn hex(&self) -> &str {
        &self.text[PREFIX.len()..]
    }

    /// The first 12 hex characters, the short ID Docker prints.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The digests that name entries of `dir` by their hex (blobs, layers), sorted; other
/// entries are skipped.
pub(crate) fn digests_named_in(dir: &Path) -> io::Result<Vec<Digest>> {
    let mut digests = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Some(digest) = entry?
            .file_name()
            .to_str()
            .and_then(|name| Digest::from_hex(name).ok())
        {
            digests.push(digest);
        }
    }
    digests.sort();
    Ok(digests)
}

/// Whether `hex` is exactly 64 lowercase hex characters.
pub fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == HEX_LEN
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_displays_a_sha256_digest() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.hex(), &EMPTY[7..]);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(Digest::of_bytes(b""), d);
        assert_eq!(EMPTY.parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn refuses_malformed_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            ":abc",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:../../../../etc/passwd",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let err = Digest::parse("sha512:abcd").unwrap_err();
        assert!(matches!(err, DigestError::UnsupportedAlgorithm { .. }));
        assert!(err.to_string().contains("only sha256"), "{err}");
    }

    #[test]
    fn serde_round_trips_as_a_string() {
        let d = Digest::parse(EMPTY).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
