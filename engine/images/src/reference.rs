//! Image references, parsed per the distribution reference grammar and normalized as
//! Docker does: `busybox` is `docker.io/library/busybox:latest`.
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]         host: dns labels joined by ".", or "[" ipv6 "]"
//! path       := component ( "/" component )*
//! component  := [a-z0-9]+ ( separator [a-z0-9]+ )*     separator: "." | "_" | "__" | "-"+
//! tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! ```

use std::fmt;

use fsdriver::digest::{Digest, DigestError};

pub const DEFAULT_DOMAIN: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    InvalidFormat,
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("repository name must have at least one component")]
    Empty,
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid reference format: {0}")]
    Digest(DigestError),
}

/// A normalized reference: always with a domain, and with a tag, a digest or both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalizes `input`, adding the `latest` tag when it names neither a tag nor a
    /// digest (what every image command does with a bare name).
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let mut reference = Reference::parse_normalized(input)?;
        if reference.tag.is_none() && reference.digest.is_none() {
            reference.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(reference)
    }

    /// Parses and normalizes `input` without adding a default tag.
    pub fn parse_normalized(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if fsdriver::digest::is_sha256_hex(input) {
            return Err(ReferenceError::HexName(input.to_string()));
        }
        let (domain, remainder) = split_domain(input);
        let remote_name = remainder.split(':').next().unwrap_or_default();
        if remote_name.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(remote_name.to_string()));
        }
        parse_remainder(domain, &remainder)
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full repository name, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The repository name as Docker shows it: `busybox`, `user/app`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// The whole reference as Docker shows it: `busybox:latest`, `localhost:5000/x@sha256:…`.
    pub fn familiar(&self) -> String {
        self.render(self.familiar_name())
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::InvalidFormat);
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository pinned to `digest`, without a tag (a RepoDigest).
    pub fn with_digest(&self, digest: &Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }

    fn render(&self, name: String) -> String {
        let mut text = name;
        if let Some(tag) = &self.tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            text.push('@');
            text.push_str(digest.as_str());
        }
        text
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

/// Splits off the domain: the first component is one only if it looks like a host (has a
/// `.` or `:`, is `localhost`, or has uppercase letters, which a path never has).
fn split_domain(input: &str) -> (String, String) {
    let (domain, remainder) = match input.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), input.to_string()),
    };
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let remainder = if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{remainder}")
    } else {
        remainder
    };
    (domain, remainder)
}

fn parse_remainder(domain: String, remainder: &str) -> Result<Reference, ReferenceError> {
    let (name_and_tag, digest) = match remainder.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (remainder, None),
    };
    let (path, tag) = match name_and_tag.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, Some(tag)),
        _ => (name_and_tag, None),
    };
    if !is_valid_domain(&domain) || path.is_empty() || !path.split('/').all(is_valid_component) {
        return Err(ReferenceError::InvalidFormat);
    }
    if domain.len() + 1 + path.len() > MAX_NAME_LEN {
        return Err(ReferenceError::NameTooLong);
    }
    if let Some(tag) = tag {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::InvalidFormat);
        }
    }
    let digest = match digest {
        Some(text) => Some(Digest::parse(text).map_err(|e| match e {
            DigestError::Malformed { .. } => ReferenceError::InvalidFormat,
            other => ReferenceError::Digest(other),
        })?),
        None => None,
    };
    Ok(Reference {
        domain,
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest,
    })
}

fn is_valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        // [ipv6] or [ipv6]:port
        let Some((ipv6, after)) = rest.split_once(']') else {
            return false;
        };
        if ipv6.is_empty() || !ipv6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host.is_empty() {
        domain.starts_with('[')
    } else {
        host.split('.').all(is_valid_dns_label)
    }
}

fn is_valid_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separators `.`, `_`, `__` or one or more `-`.
fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn full(input: &str) -> String {
        Reference::parse(input).unwrap().to_string()
    }

    fn familiar(input: &str) -> String {
        Reference::parse(input).unwrap().familiar()
    }

    fn error(input: &str) -> String {
        Reference::parse(input).unwrap_err().to_string()
    }

    #[test]
    fn normalizes_docker_hub_names() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            full("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            full("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full("a/b/c"), "docker.io/a/b/c:latest");
        assert_eq!(familiar("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(familiar("user/app:v1"), "user/app:v1");
        assert_eq!(familiar("library/a/b"), "library/a/b:latest");
    }

    #[test]
    fn recognizes_registry_domains() {
        assert_eq!(full("localhost:5000/x:tag"), "localhost:5000/x:tag");
        assert_eq!(familiar("localhost:5000/x:tag"), "localhost:5000/x:tag");
        assert_eq!(full("localhost/x"), "localhost/x:latest");
        assert_eq!(
            full("registry.example.com/team/app"),
            "registry.example.com/team/app:latest"
        );
        assert_eq!(full("127.0.0.1:5000/app"), "127.0.0.1:5000/app:latest");
        assert_eq!(full("[::1]:5000/app"), "[::1]:5000/app:latest");
        assert_eq!(
            full("Registry.Example.com/app"),
            "Registry.Example.com/app:latest"
        );
        // "localhost:5000" alone is the repository "localhost" with the tag "5000".
        assert_eq!(full("localhost:5000"), "docker.io/library/localhost:5000");
        let r = Reference::parse("localhost:5000/a/b:c").unwrap();
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("localhost:5000", "a/b", Some("c"))
        );
        assert_eq!(r.name(), "localhost:5000/a/b");
        assert_eq!(r.familiar_name(), "localhost:5000/a/b");
    }

    #[test]
    fn digests_replace_the_default_tag() {
        let r = Reference::parse(&format!("host.io/x@sha256:{HEX}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().hex(), HEX);
        assert_eq!(r.to_string(), format!("host.io/x@sha256:{HEX}"));
        let r = Reference::parse(&format!("busybox:1@sha256:{HEX}")).unwrap();
        assert_eq!(r.familiar(), format!("busybox:1@sha256:{HEX}"));
        assert_eq!(
            error(&format!("busybox@sha512:{}", "a".repeat(128))),
            "invalid reference format: unsupported digest algorithm \"sha512\" in \"sha512:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": only sha256 is supported"
        );
        assert_eq!(
            error("busybox@sha256:abc"),
            "invalid reference format: invalid digest \"sha256:abc\": the sha256 hex part must be 64 lowercase hex characters"
        );
        assert_eq!(error("busybox@"), "invalid reference format");
    }

    #[test]
    fn refuses_what_docker_refuses() {
        assert_eq!(
            error("Busybox"),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            error("user/App:tag"),
            "invalid reference format: repository name (user/App) must be lowercase"
        );
        assert_eq!(
            error(HEX),
            format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")
        );
        assert_eq!(
            error(""),
            "repository name must have at least one component"
        );
        for bad in [
            "busybox:",
            ":tag",
            "busybox::tag",
            "-busybox",
            "busybox-",
            "bus..ybox",
            "bus___ybox",
            "a//b",
            "/busybox",
            "busybox/",
            "busy box",
            "busybox:-tag",
            "busybox:.tag",
            "busybox:tag with space",
            "host:port/x",
            "bad_host.com/x",
            "-host.com/x",
            "[zz]:5000/x",
            "localhost:/x",
            "a/b:c/d",
        ] {
            assert_eq!(error(bad), "invalid reference format", "{bad:?}");
        }
        assert_eq!(
            error(&format!("busybox:{}", "t".repeat(129))),
            "invalid reference format"
        );
        assert!(Reference::parse(&format!("busybox:{}", "t".repeat(128))).is_ok());
        assert_eq!(
            error(&"a".repeat(250)),
            "repository name must not be more than 255 characters"
        );
    }

    #[test]
    fn accepts_every_separator_of_the_grammar() {
        for good in [
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "a1.b2_c3__d4-e5",
            "0",
            "x/y.z/w__v",
        ] {
            assert!(Reference::parse(good).is_ok(), "{good:?}");
        }
        assert!(Reference::parse("_ok:Tag_1.0-rc").is_err());
        assert_eq!(full("ok:Tag_1.0-rc"), "docker.io/library/ok:Tag_1.0-rc");
    }

    #[test]
    fn parse_normalized_keeps_a_missing_tag_missing() {
        let r = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.to_string(), "docker.io/library/busybox");
        assert_eq!(r.with_tag("1").unwrap().familiar(), "busybox:1");
        assert!(r.with_tag("bad tag").is_err());
    }
}
