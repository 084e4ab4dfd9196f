//! Platforms (`os/arch[/variant]`), and choosing a manifest from an index by platform.

use std::fmt;

use oci_spec::image::{Descriptor, ImageIndex};

use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Default for Platform {
    /// linux/amd64, what Docker on this kind of host pulls by default.
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl Platform {
    /// Parses `os[/arch[/variant]]` (Docker's `--platform`), normalising architecture
    /// aliases (`x86_64` → `amd64`, `aarch64` → `arm64`) and arm64's default variant.
    pub fn parse(text: &str) -> Result<Platform, Error> {
        let text = text.trim().to_ascii_lowercase();
        let parts: Vec<&str> = text.split('/').collect();
        let bad = || {
            Error::Invalid(format!(
                "invalid platform {text:?}: expected os/arch[/variant]"
            ))
        };
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(bad());
        }
        let os = parts[0].to_string();
        if os != "linux" {
            return Err(Error::Invalid(format!(
                "platform {text:?}: berth runs linux images only"
            )));
        }
        let architecture = match parts.get(1).copied().unwrap_or("amd64") {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            "i386" => "386",
            other => other,
        }
        .to_string();
        let variant = parts
            .get(2)
            .map(|v| v.to_string())
            .filter(|v| !(architecture == "arm64" && v == "v8"));
        Ok(Platform {
            os,
            architecture,
            variant,
        })
    }

    fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        let variant = variant.filter(|v| !(architecture == "arm64" && *v == "v8"));
        self.os == os
            && self.architecture == architecture
            && match (&self.variant, variant) {
                (Some(wanted), Some(v)) => wanted == v,
                (Some(_), None) => false,
                (None, _) => true,
            }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The index entry for `wanted`: an exact variant match is preferred over an entry without
/// a variant.
pub fn select<'a>(index: &'a ImageIndex, wanted: &Platform) -> Option<&'a Descriptor> {
    let candidates = index.manifests().iter().filter(|d| {
        d.platform().as_ref().is_some_and(|p| {
            wanted.matches(
                &p.os().to_string(),
                &p.architecture().to_string(),
                p.variant().as_deref(),
            )
        })
    });
    candidates.max_by_key(|d| {
        d.platform()
            .as_ref()
            .and_then(|p| p.variant().clone())
            .is_some_and(|v| Some(v) == wanted.variant)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_platform_strings() {
        assert_eq!(Platform::parse("linux/amd64").unwrap(), Platform::default());
        assert_eq!(Platform::parse("linux").unwrap(), Platform::default());
        assert_eq!(
            Platform::parse("Linux/x86_64").unwrap(),
            Platform::default()
        );
        let arm = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!(arm.to_string(), "linux/arm/v7");
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert!(Platform::parse("windows/amd64").is_err());
        assert!(Platform::parse("linux//x").is_err());
        assert!(Platform::parse("linux/a/b/c").is_err());
    }

    #[test]
    fn selects_from_an_index() {
        let index: ImageIndex = serde_json::from_str(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
             "digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111",
             "platform":{"os":"linux","architecture":"arm","variant":"v6"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
             "digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222",
             "platform":{"os":"linux","architecture":"arm","variant":"v7"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
             "digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333",
             "platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
             "digest":"sha256:4444444444444444444444444444444444444444444444444444444444444444",
             "platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#,
        )
        .unwrap();
        let pick = |p: &str| {
            select(&index, &Platform::parse(p).unwrap())
                .map(|d| d.digest().to_string()[7..8].to_string())
        };
        assert_eq!(pick("linux/amd64").as_deref(), Some("3"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("2"));
        assert_eq!(pick("linux/arm64").as_deref(), Some("4"));
        assert_eq!(pick("linux/s390x"), None);
    }
}
