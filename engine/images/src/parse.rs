//! Parsing of untrusted image metadata (manifests, indexes, configs), with the checks the
//! store relies on: every digest is a well-formed sha256, every media type is one berth
//! knows how to handle. The store reads its own blobs through these functions too, and the
//! fuzz targets drive them with arbitrary bytes.

use fsdriver::Digest;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

/// Registries refuse manifests above 4 MiB; so do we, before parsing.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Configs carry history and environment; generous, but bounded.
pub const MAX_CONFIG_BYTES: usize = 8 << 20;

pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const DOCKER_FOREIGN_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{what} is {len} bytes, over the limit of {limit}")]
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("malformed {what}: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("malformed {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

fn invalid(what: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        what,
        reason: reason.into(),
    }
}

fn json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<T, ParseError> {
    if bytes.len() > limit {
        return Err(ParseError::TooLarge {
            what,
            len: bytes.len(),
            limit,
        });
    }
    serde_json::from_slice(bytes).map_err(|source| ParseError::Json { what, source })
}

/// An image manifest (OCI or Docker schema 2).
pub fn parse_manifest(bytes: &[u8]) -> Result<ImageManifest, ParseError> {
    const WHAT: &str = "image manifest";
    let manifest: ImageManifest = json(WHAT, bytes, MAX_MANIFEST_BYTES)?;
    check_schema_version(WHAT, manifest.schema_version())?;
    if let Some(media_type) = manifest.media_type() {
        if !is_manifest_type(media_type) {
            return Err(invalid(WHAT, format!("unexpected media type {media_type}")));
        }
    }
    let config = manifest.config();
    check_descriptor(WHAT, config)?;
    if !matches!(config.media_type(), MediaType::ImageConfig)
        && config.media_type().as_ref() != DOCKER_CONFIG
    {
        return Err(invalid(
            WHAT,
            format!("unsupported config media type {}", config.media_type()),
        ));
    }
    for layer in manifest.layers() {
        check_descriptor(WHAT, layer)?;
        if !is_layer_type(layer.media_type()) {
            return Err(invalid(
                WHAT,
                format!("unsupported layer media type {}", layer.media_type()),
            ));
        }
    }
    Ok(manifest)
}

/// An image index (OCI) or manifest list (Docker).
pub fn parse_index(bytes: &[u8]) -> Result<ImageIndex, ParseError> {
    const WHAT: &str = "image index";
    let index: ImageIndex = json(WHAT, bytes, MAX_MANIFEST_BYTES)?;
    check_schema_version(WHAT, index.schema_version())?;
    if let Some(media_type) = index.media_type() {
        if !is_index_type(media_type) {
            return Err(invalid(WHAT, format!("unexpected media type {media_type}")));
        }
    }
    for manifest in index.manifests() {
        check_descriptor(WHAT, manifest)?;
        let media_type = manifest.media_type();
        if !is_manifest_type(media_type) && !is_index_type(media_type) {
            return Err(invalid(
                WHAT,
                format!("unsupported manifest media type {media_type}"),
            ));
        }
    }
    Ok(index)
}

/// The `Healthcheck` of a Docker image config (`config.Healthcheck`), which the OCI config
/// has no field for; `None` when there is none.
pub fn healthcheck(bytes: &[u8]) -> Option<serde_json::Value> {
    let config: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    config
        .get("config")?
        .get("Healthcheck")
        .filter(|h| h.is_object())
        .cloned()
}

/// The `OnBuild` triggers of a Docker image config (`config.OnBuild`), which the OCI config
/// has no field for either; empty when there are none.
pub fn on_build(bytes: &[u8]) -> Vec<String> {
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    config
        .get("config")
        .and_then(|c| c.get("OnBuild"))
        .and_then(|o| o.as_array())
        .map(|triggers| {
            triggers
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// An image configuration.
pub fn parse_config(bytes: &[u8]) -> Result<ImageConfiguration, ParseError> {
    const WHAT: &str = "image config";
    let config: ImageConfiguration = json(WHAT, bytes, MAX_CONFIG_BYTES)?;
    let rootfs = config.rootfs();
    if rootfs.typ() != "layers" {
        return Err(invalid(
            WHAT,
            format!("rootfs type is {:?}, expected \"layers\"", rootfs.typ()),
        ));
    }
    for diff_id in rootfs.diff_ids() {
        Digest::parse(diff_id).map_err(|e| invalid(WHAT, format!("rootfs diff_id: {e}")))?;
    }
    if let Some(created) = config.created() {
        chrono::DateTime::parse_from_rfc3339(created)
            .map_err(|e| invalid(WHAT, format!("created {created:?}: {e}")))?;
    }
    Ok(config)
}

/// The layer diff_ids of a config that went through [`parse_config`].
pub fn diff_ids(config: &ImageConfiguration) -> Vec<Digest> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d).expect("diff_ids were checked by parse_config"))
        .collect()
}

/// A descriptor's digest as berth's [`Digest`]; the descriptor must come from a manifest or
/// index that went through this module.
pub fn descriptor_digest(descriptor: &Descriptor) -> Digest {
    Digest::parse(descriptor.digest().as_ref())
        .expect("descriptor digests were checked when parsed")
}

fn check_schema_version(what: &'static str, version: u32) -> Result<(), ParseError> {
    if version != 2 {
        return Err(invalid(
            what,
            format!("schemaVersion is {version}, expected 2"),
        ));
    }
    Ok(())
}

fn check_descriptor(what: &'static str, descriptor: &Descriptor) -> Result<(), ParseError> {
    Digest::parse(descriptor.digest().as_ref())
        .map(drop)
        .map_err(|e| invalid(what, format!("descriptor: {e}")))
}

fn is_manifest_type(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageManifest) || media_type.as_ref() == DOCKER_MANIFEST_V2
}

fn is_index_type(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageIndex) || media_type.as_ref() == DOCKER_MANIFEST_LIST
}

fn is_layer_type(media_type: &MediaType) -> bool {
    matches!(
        media_type,
        MediaType::ImageLayer
            | MediaType::ImageLayerGzip
            | MediaType::ImageLayerZstd
            | MediaType::ImageLayerNonDistributable
            | MediaType::ImageLayerNonDistributableGzip
            | MediaType::ImageLayerNonDistributableZstd
    ) || matches!(
        media_type.as_ref(),
        DOCKER_LAYER_GZIP | DOCKER_FOREIGN_LAYER_GZIP
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const D2: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn manifest(config_type: &str, layer_type: &str, layer_digest: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{{"mediaType":"{config_type}","digest":"{D1}","size":2}},
            "layers":[{{"mediaType":"{layer_type}","digest":"{layer_digest}","size":5}}]}}"#
        )
    }

    #[test]
    fn accepts_oci_and_docker_manifests() {
        let m = parse_manifest(
            manifest(
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
                D2,
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(descriptor_digest(&m.layers()[0]).as_str(), D2);
        parse_manifest(manifest(DOCKER_CONFIG, DOCKER_LAYER_GZIP, D2).as_bytes()).unwrap();
    }

    #[test]
    fn refuses_bad_manifests_with_a_clear_error() {
        let cases = [
            (
                manifest(DOCKER_CONFIG, DOCKER_LAYER_GZIP, "sha256:1234"),
                "digest length",
            ),
            (
                manifest(DOCKER_CONFIG, DOCKER_LAYER_GZIP, "md5:abcd"),
                "unsupported digest algorithm",
            ),
            (
                manifest(DOCKER_CONFIG, "text/plain", D2),
                "unsupported layer media type text/plain",
            ),
            (
                manifest("application/json", DOCKER_LAYER_GZIP, D2),
                "unsupported config media type",
            ),
            (
                manifest(DOCKER_CONFIG, DOCKER_LAYER_GZIP, D2)
                    .replace("\"schemaVersion\":2", "\"schemaVersion\":1"),
                "schemaVersion is 1",
            ),
            (
                manifest(DOCKER_CONFIG, DOCKER_LAYER_GZIP, D2)
                    .replace("oci.image.manifest", "oci.image.index"),
                "unexpected media type",
            ),
            ("{".to_string(), "malformed image manifest"),
            ("[]".to_string(), "malformed image manifest"),
        ];
        for (input, expected) in cases {
            let err = parse_manifest(input.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
        }
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(parse_manifest(&big)
            .unwrap_err()
            .to_string()
            .contains("over the limit"));
    }

    #[test]
    fn parses_and_checks_indexes() {
        let index = |media_type: &str, digest: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[
                {{"mediaType":"{media_type}","digest":"{digest}","size":7,
                  "platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
            )
        };
        let parsed = parse_index(index(DOCKER_MANIFEST_V2, D1).as_bytes()).unwrap();
        assert_eq!(parsed.manifests().len(), 1);
        let err = parse_index(index(DOCKER_MANIFEST_V2, "sha256:xyz").as_bytes()).unwrap_err();
        assert!(err.to_string().contains("malformed image index"), "{err}");
        let err = parse_index(index("application/octet-stream", D1).as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("unsupported manifest media type"),
            "{err}"
        );
    }

    #[test]
    fn parses_and_checks_configs() {
        let config = |diff_id: &str, created: &str| {
            format!(
                r#"{{"architecture":"amd64","os":"linux","created":"{created}",
                "rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
            )
        };
        let parsed = parse_config(config(D1, "2024-01-02T03:04:05.123456789Z").as_bytes()).unwrap();
        assert_eq!(diff_ids(&parsed)[0].as_str(), D1);
        let err = parse_config(config("sha256:00", "2024-01-02T03:04:05Z").as_bytes()).unwrap_err();
        assert!(err.to_string().contains("rootfs diff_id"), "{err}");
        let err = parse_config(config(D1, "yesterday").as_bytes()).unwrap_err();
        assert!(err.to_string().contains("created \"yesterday\""), "{err}");
        let err = parse_config(
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"tarball","diff_ids":[]}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("rootfs type"), "{err}");
        assert!(parse_config(b"null").is_err());
    }
}
