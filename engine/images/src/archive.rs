//! `docker save` and `docker load`: image archives.
//!
//! `save` writes what Docker 25 and later write, which is at once a docker-archive and an
//! OCI image layout: `blobs/sha256/<hex>` holding the configs, the OCI manifests and the
//! layers as uncompressed tars (named by their diff_id), `index.json` and `oci-layout`,
//! plus the legacy `manifest.json` and `repositories`.
//!
//! `load` reads either form: `manifest.json` (docker-archive, layers compressed or not),
//! or, without it, `index.json` (an OCI image layout, as skopeo writes it). Tar entries come
//! in any order, and the layers usually before the manifests that say what they are: so
//! each member that looks like a layer (a tar, gzip or zstd stream) is received as one as it
//! streams by, written to a temporary blob while it is extracted to a temporary directory,
//! in the one pass a pull makes. Other members (and layers the store already has) are
//! unpacked into a scratch directory. Once the manifests are read, every layer is checked
//! against the config's diff_ids and every blob against its digest; only then is it stored.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use fsdriver::import::ReceivedLayer;
use fsdriver::Digest;
use oci_spec::image::MediaType;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::parse::{self, descriptor_digest};
use crate::reference::Reference;
use crate::store::manifest_bytes;
use crate::{io_err, Error, ImageRecord, ImageStore};

const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const IMAGE_NAME_ANNOTATION: &str = "io.containerd.image.name";
const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// An entry of `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
struct ArchiveManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// What `load` stored: an image and the references now pointing at it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub image: ImageRecord,
    /// Familiar form (`busybox:latest`); empty for an untagged image.
    pub references: Vec<String>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidArgument(message.into())
}

impl ImageStore {
    /// Writes the images `names` (references or IDs) as one archive to `out`.
    pub fn save(&self, names: &[String], out: impl Write) -> Result<(), Error> {
        // Each image once, with every tag it was named by.
        let mut images: Vec<(ImageRecord, Vec<Reference>)> = Vec::new();
        for name in names {
            let record = self.resolve(name)?;
            let tag = Reference::parse(name)
                .ok()
                .filter(|r| r.digest().is_none() && record.repo_tags.contains(&r.familiar()));
            match images.iter_mut().find(|(r, _)| r.id == record.id) {
                Some((_, tags)) => tags.extend(tag),
                None => images.push((record, tag.into_iter().collect())),
            }
        }
        let mut archive = tar::Builder::new(out);
        archive.mode(tar::HeaderMode::Deterministic);
        let mut written = BTreeSet::new();
        add_dir(&mut archive, "blobs/")?;
        add_dir(&mut archive, "blobs/sha256/")?;
        let mut index_entries = Vec::new();
        let mut archive_manifests = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (record, tags) in &images {
            let stored = parse::parse_manifest(&self.read_blob(&record.manifest)?)
                .map_err(|e| Error::Internal(format!("image {}: {e}", record.id)))?;
            let config = self.read_blob(&record.id)?;
            if written.insert(record.id.clone()) {
                add_file(&mut archive, &blob_path(&record.id), &config)?;
            }
            let mut layer_descriptors = Vec::new();
            let mut layer_paths = Vec::new();
            for (layer, diff_id) in stored.layers().iter().zip(&record.layers) {
                let size = self.write_uncompressed_layer(
                    &mut archive,
                    &descriptor_digest(layer),
                    diff_id,
                    &mut written,
                )?;
                let digest = oci_spec::image::Digest::try_from(diff_id.as_str())
                    .expect("a sha256 digest is a valid OCI digest");
                layer_descriptors.push(oci_spec::image::Descriptor::new(
                    MediaType::ImageLayer,
                    size,
                    digest,
                ));
                layer_paths.push(blob_path(diff_id));
            }
            let manifest_bytes = manifest_bytes(&config, layer_descriptors);
            let manifest_digest = Digest::of_bytes(&manifest_bytes);
            if written.insert(manifest_digest.clone()) {
                add_file(&mut archive, &blob_path(&manifest_digest), &manifest_bytes)?;
            }
            let entry = |annotations: serde_json::Value| {
                json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": manifest_digest.to_string(),
                    "size": manifest_bytes.len(),
                    "annotations": annotations,
                })
            };
            if tags.is_empty() {
                index_entries.push(entry(json!({})));
            }
            for tag in tags {
                index_entries.push(entry(json!({
                    IMAGE_NAME_ANNOTATION: tag.to_string(),
                    REF_NAME_ANNOTATION: tag.tag().unwrap_or_default(),
                })));
                if let Some(top) = record.layers.last() {
                    repositories.entry(tag.familiar_name()).or_default().insert(
                        tag.tag().unwrap_or_default().to_string(),
                        top.hex().to_string(),
                    );
                }
            }
            archive_manifests.push(ArchiveManifest {
                config: blob_path(&record.id),
                repo_tags: Some(tags.iter().map(Reference::familiar).collect()),
                layers: layer_paths,
            });
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": index_entries,
        });
        add_file(
            &mut archive,
            "index.json",
            &serde_json::to_vec(&index).expect("JSON"),
        )?;
        add_file(
            &mut archive,
            "manifest.json",
            &serde_json::to_vec(&archive_manifests).expect("JSON"),
        )?;
        add_file(&mut archive, "oci-layout", OCI_LAYOUT.as_bytes())?;
        if !repositories.is_empty() {
            add_file(
                &mut archive,
                "repositories",
                &serde_json::to_vec(&repositories).expect("JSON"),
            )?;
        }
        archive
            .into_inner()
            .and_then(|mut out| out.flush())
            .map_err(|e| Error::Internal(format!("writing the archive: {e}")))
    }

    /// Adds the layer `diff_id` as an uncompressed tar, decompressing its stored blob
    /// (twice: once to learn the size the tar header needs).
    fn write_uncompressed_layer<W: Write>(
        &self,
        archive: &mut tar::Builder<W>,
        blob: &Digest,
        diff_id: &Digest,
        written: &mut BTreeSet<Digest>,
    ) -> Result<u64, Error> {
        let uncompressed = || -> Result<Box<dyn Read + '_>, Error> {
            let file = self.open_blob(blob)?;
            let (_, stream) =
                fsdriver::compression::decompress(file).map_err(|e| Error::Store(e.into()))?;
            Ok(stream)
        };
        let size = io::copy(&mut uncompressed()?, &mut io::sink())
            .map_err(|e| Error::Internal(format!("reading layer {blob}: {e}")))?;
        if written.insert(diff_id.clone()) {
            let mut header = file_header(size);
            archive
                .append_data(&mut header, blob_path(diff_id), uncompressed()?)
                .map_err(|e| Error::Internal(format!("writing layer {diff_id}: {e}")))?;
        }
        Ok(size)
    }

    /// Stores every image of the archive read from `input`, unpacking it under a scratch
    /// directory inside `scratch_parent` first.
    pub fn load(
        self: &Arc<Self>,
        input: impl Read,
        scratch_parent: &Path,
    ) -> Result<Vec<Loaded>, Error> {
        fs::create_dir_all(scratch_parent).map_err(io_err("creating", scratch_parent))?;
        let scratch = tempfile::Builder::new()
            .prefix("load-")
            .tempdir_in(scratch_parent)
            .map_err(io_err("creating a directory in", scratch_parent))?;
        let mut members = self.receive(input, scratch.path())?;
        let dir = scratch.path();
        if dir.join("manifest.json").is_file() {
            self.load_docker_archive(&mut members)
        } else if dir.join("index.json").is_file() {
            self.load_oci_layout(&mut members)
        } else {
            Err(invalid(
                "invalid archive: it has neither manifest.json (docker-archive) nor index.json (OCI image layout)",
            ))
        }
    }

    fn load_docker_archive(
        self: &Arc<Self>,
        members: &mut Members<'_>,
    ) -> Result<Vec<Loaded>, Error> {
        let dir = members.dir;
        let bytes = read_member(dir, "manifest.json", parse::MAX_MANIFEST_BYTES)?;
        let entries: Vec<ArchiveManifest> = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("invalid archive: malformed manifest.json: {e}")))?;
        let mut loaded = Vec::new();
        for entry in entries {
            let config = read_member(dir, &entry.config, parse::MAX_CONFIG_BYTES)?;
            let image_config = parse::parse_config(&config)
                .map_err(|e| invalid(format!("invalid archive: {e}")))?;
            let diff_ids = parse::diff_ids(&image_config);
            if diff_ids.len() != entry.layers.len() {
                return Err(invalid(format!(
                    "invalid archive: {} names {} layers, its config {}",
                    entry.config,
                    entry.layers.len(),
                    diff_ids.len()
                )));
            }
            let layers = entry
                .layers
                .iter()
                .zip(diff_ids)
                .map(|(member, diff_id)| ArchiveLayer {
                    member: member.clone(),
                    diff_id,
                    blob: None,
                })
                .collect();
            let references = entry
                .repo_tags
                .iter()
                .flatten()
                .map(|t| crate::store::parse_tag_reference(t))
                .collect::<Result<Vec<_>, _>>()?;
            loaded.push(self.store_archive_image(members, layers, &config, None, references)?);
        }
        Ok(loaded)
    }

    fn load_oci_layout(self: &Arc<Self>, members: &mut Members<'_>) -> Result<Vec<Loaded>, Error> {
        let dir = members.dir;
        let bytes = read_member(dir, "index.json", parse::MAX_MANIFEST_BYTES)?;
        let index =
            parse::parse_index(&bytes).map_err(|e| invalid(format!("invalid archive: {e}")))?;
        let mut loaded = Vec::new();
        for entry in index.manifests() {
            let annotations = entry.annotations().clone().unwrap_or_default();
            let reference = annotations
                .get(IMAGE_NAME_ANNOTATION)
                .or_else(|| annotations.get(REF_NAME_ANNOTATION))
                .and_then(|name| crate::store::parse_tag_reference(name).ok());
            let mut digest = descriptor_digest(entry);
            let mut media_type = entry.media_type().to_string();
            // A nested index: the linux/amd64 manifest (or the only one).
            if media_type.contains("index") || media_type.contains("manifest.list") {
                let nested = parse::parse_index(&read_blob_member(dir, &digest)?)
                    .map_err(|e| invalid(format!("invalid archive: {e}")))?;
                let chosen = nested
                    .manifests()
                    .iter()
                    .find(|d| {
                        d.platform().as_ref().is_some_and(|p| {
                            p.os().to_string() == "linux" && p.architecture().to_string() == "amd64"
                        })
                    })
                    .or_else(|| nested.manifests().first())
                    .ok_or_else(|| invalid("invalid archive: an empty nested index"))?;
                digest = descriptor_digest(chosen);
                media_type = chosen.media_type().to_string();
            }
            if media_type.contains("index") || media_type.contains("manifest.list") {
                return Err(invalid("invalid archive: indexes nested more than twice"));
            }
            let manifest_bytes = read_blob_member(dir, &digest)?;
            let manifest = parse::parse_manifest(&manifest_bytes)
                .map_err(|e| invalid(format!("invalid archive: {e}")))?;
            let config = read_blob_member(dir, &descriptor_digest(manifest.config()))?;
            let image_config = parse::parse_config(&config)
                .map_err(|e| invalid(format!("invalid archive: {e}")))?;
            let diff_ids = parse::diff_ids(&image_config);
            if diff_ids.len() != manifest.layers().len() {
                return Err(invalid(format!(
                    "invalid archive: manifest {digest} has {} layers, its config {}",
                    manifest.layers().len(),
                    diff_ids.len()
                )));
            }
            let layers = manifest
                .layers()
                .iter()
                .zip(diff_ids)
                .map(|(layer, diff_id)| {
                    let blob = descriptor_digest(layer);
                    ArchiveLayer {
                        member: blob_path(&blob),
                        diff_id,
                        blob: Some(blob),
                    }
                })
                .collect();
            let references = reference.into_iter().collect();
            loaded.push(self.store_archive_image(
                members,
                layers,
                &config,
                Some(manifest_bytes),
                references,
            )?);
        }
        Ok(loaded)
    }

    /// Stores one image of an archive: its layers (each one extracted only if the store
    /// lacks it), then the image, built around `manifest` or, without one, around a
    /// manifest made from the layers as stored. On failure, whatever it stored and nothing
    /// else uses is removed again.
    fn store_archive_image(
        self: &Arc<Self>,
        members: &mut Members<'_>,
        layers: Vec<ArchiveLayer>,
        config: &[u8],
        manifest: Option<Vec<u8>>,
        references: Vec<Reference>,
    ) -> Result<Loaded, Error> {
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let pin = self.pin(diff_ids.clone(), Vec::new());
        let mut blobs = Vec::new();
        let stored = (|| {
            let mut descriptors = Vec::new();
            for layer in &layers {
                let (descriptor, blob) = self.store_archive_layer(members, layer, &pin)?;
                blobs.push(blob);
                descriptors.push(descriptor);
            }
            let manifest = match manifest {
                Some(manifest) => manifest,
                None => manifest_bytes(config, descriptors),
            };
            let image = self.add_image(&manifest, config, &references)?;
            Ok(Loaded {
                image,
                references: references.iter().map(Reference::familiar).collect(),
            })
        })();
        drop(pin);
        if stored.is_err() {
            self.discard_unreferenced(&diff_ids, &blobs)?;
        }
        stored
    }

    /// Makes sure the store has the archive layer `layer` and its blob, and says what that
    /// blob is. A layer already extracted is never extracted again; a blob already stored
    /// is not copied again.
    fn store_archive_layer(
        &self,
        members: &mut Members<'_>,
        layer: &ArchiveLayer,
        pin: &crate::Pinned,
    ) -> Result<(oci_spec::image::Descriptor, Digest), Error> {
        let key = safe_relative(Path::new(&layer.member))?;
        let (descriptor, blob) = match members.received.remove(&key) {
            Some(Received::Layer(received)) => {
                crate::ingest::check_received(&received, layer.blob.as_ref(), &layer.diff_id)
                    .map_err(|e| invalid(format!("invalid archive: {}: {e}", layer.member)))?;
                let blob = received.blob();
                pin.extend(Vec::new(), vec![blob.digest.clone()]);
                let media_type = received.compression().oci_layer_media_type();
                received.commit().map_err(|e| Error::Store(e.into()))?;
                (
                    layer_descriptor(media_type, blob.size, &blob.digest),
                    blob.digest,
                )
            }
            Some(Received::Stored {
                descriptor,
                diff_id,
            }) => {
                if diff_id != layer.diff_id {
                    return Err(invalid(format!(
                        "invalid archive: {} is layer {diff_id} for one image and {} for another",
                        layer.member, layer.diff_id
                    )));
                }
                let blob = descriptor_digest(&descriptor);
                pin.extend(Vec::new(), vec![blob.clone()]);
                if !self.has_layer(&diff_id, &blob) {
                    return Err(Error::Internal(format!(
                        "layer {diff_id} was removed while the archive was being loaded"
                    )));
                }
                (descriptor, blob)
            }
            Some(Received::Invalid(reason)) => {
                return Err(invalid(format!(
                    "invalid archive: layer {}: {reason}",
                    layer.member
                )))
            }
            None => self.store_unpacked_layer(members.dir, layer, pin)?,
        };
        members.received.insert(
            key,
            Received::Stored {
                descriptor: descriptor.clone(),
                diff_id: layer.diff_id.clone(),
            },
        );
        Ok((descriptor, blob))
    }

    /// [`Self::store_archive_layer`] for a layer unpacked into the scratch directory: one
    /// the store already had when the archive arrived, or one that did not look like a
    /// layer then.
    fn store_unpacked_layer(
        &self,
        dir: &Path,
        layer: &ArchiveLayer,
        pin: &crate::Pinned,
    ) -> Result<(oci_spec::image::Descriptor, Digest), Error> {
        let mut file = open_member(dir, &layer.member)?;
        let member_err =
            |e: io::Error| invalid(format!("invalid archive: reading {}: {e}", layer.member));
        let mut head = [0u8; 8];
        let head_len = read_head(&mut file, &mut head).map_err(member_err)?;
        let compression = fsdriver::compression::Compression::detect(&head[..head_len])
            .map_err(|e| Error::Store(e.into()))?;
        let size = file.metadata().map_err(member_err)?.len();
        // Docker's archives do not name layer blobs by digest: hash the member to learn it.
        let blob = match &layer.blob {
            Some(blob) => blob.clone(),
            None => {
                let mut hasher = Sha256::new();
                file.seek(SeekFrom::Start(0)).map_err(member_err)?;
                io::copy(&mut file, &mut hasher).map_err(member_err)?;
                Digest::from_sha256_bytes(&hasher.finalize().into())
            }
        };
        pin.extend(Vec::new(), vec![blob.clone()]);
        file.seek(SeekFrom::Start(0)).map_err(member_err)?;
        if self.has_layer(&layer.diff_id, &blob) {
            tracing::debug!(diff_id = %layer.diff_id, "layer already stored");
        } else if self.has_extracted_layer(&layer.diff_id) {
            self.ingest_blob(file, Some(&blob))?;
        } else {
            self.ingest_layer_blob(file, &blob, &layer.diff_id)?;
        }
        Ok((
            layer_descriptor(compression.oci_layer_media_type(), size, &blob),
            blob,
        ))
    }

    /// Reads the archive `input` to its end: each member that looks like a layer the store
    /// lacks is received as one (see [`Received`]); every other regular file and directory
    /// is unpacked under `dir`. Any other kind of entry is ignored, and a path leaving `dir`
    /// is refused.
    fn receive<'s>(&'s self, input: impl Read, dir: &'s Path) -> Result<Members<'s>, Error> {
        let mut members = Members {
            dir,
            received: HashMap::new(),
        };
        let mut archive = tar::Archive::new(input);
        let entries = archive
            .entries()
            .map_err(|e| invalid(format!("invalid archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| invalid(format!("invalid archive: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| invalid(format!("invalid archive: {e}")))?
                .into_owned();
            let relative = safe_relative(&path)?;
            let target = dir.join(&relative);
            match entry.header().entry_type() {
                tar::EntryType::Directory => {
                    fs::create_dir_all(&target).map_err(io_err("creating", &target))?;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut head = [0u8; TAR_HEADER_LEN];
                    let head_len = read_head(&mut entry, &mut head)
                        .map_err(|e| read_err(&path, &target, e))?;
                    let head = &head[..head_len];
                    let member = io::Cursor::new(head).chain(&mut entry);
                    if looks_like_layer(head) && !self.stores_member(&relative) {
                        let received =
                            fsdriver::import::receive_layer(&self.content, &self.layers, member);
                        let received = match received {
                            Ok(layer) => Received::Layer(layer),
                            // Bad bytes are an error only if an image uses them as a layer.
                            Err(e) if e.kind() == fsdriver::ErrorKind::InvalidArgument => {
                                Received::Invalid(e.to_string())
                            }
                            Err(e) => return Err(Error::Store(e.into())),
                        };
                        members.received.insert(relative, received);
                    } else {
                        spool(member, &path, &target)?;
                    }
                }
                _ => {}
            }
        }
        Ok(members)
    }

    /// Whether the member at `relative` is named after a layer or blob the store has (the
    /// archives Docker 25 and later and skopeo write name layers by digest): such a member
    /// is unpacked rather than extracted again.
    fn stores_member(&self, relative: &Path) -> bool {
        let Some(name) = relative.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        let hex = name.strip_suffix(".tar").unwrap_or(name);
        Digest::from_hex(hex)
            .is_ok_and(|digest| self.has_extracted_layer(&digest) || self.has_blob(&digest))
    }
}

/// The members of an archive being loaded, once it has been read.
struct Members<'s> {
    /// The scratch directory holding the members that were unpacked.
    dir: &'s Path,
    /// The members received as layers, by path within the archive.
    received: HashMap<PathBuf, Received<'s>>,
}

/// A member of an archive read as a layer as it streamed by.
enum Received<'s> {
    /// Extracted and written as a blob, nothing stored yet: it is stored once an image
    /// names it as a layer with the same diff_id (and blob digest, if the image names one),
    /// and dropped otherwise.
    Layer(ReceivedLayer<'s>),
    /// Stored as a layer of an image loaded earlier from the same archive.
    Stored {
        descriptor: oci_spec::image::Descriptor,
        diff_id: Digest,
    },
    /// It looked like a layer but is not a valid one: why.
    Invalid(String),
}

/// Whether a member's first bytes are those of a layer: a gzip or zstd stream, or a tar
/// whose first header has the POSIX magic (Docker, Podman and skopeo all write it).
fn looks_like_layer(head: &[u8]) -> bool {
    use fsdriver::compression::Compression;
    let tar_magic = head.get(TAR_MAGIC_AT..TAR_MAGIC_AT + TAR_MAGIC.len()) == Some(TAR_MAGIC);
    tar_magic
        || matches!(
            Compression::detect(head),
            Ok(Compression::Gzip | Compression::Zstd)
        )
}

fn layer_descriptor(media_type: &str, size: u64, blob: &Digest) -> oci_spec::image::Descriptor {
    let digest = oci_spec::image::Digest::try_from(blob.as_str())
        .expect("a sha256 digest is a valid OCI digest");
    oci_spec::image::Descriptor::new(MediaType::from(media_type), size, digest)
}

/// One layer of an image in an archive: the member holding it, its diff_id from the
/// image's config, and its blob digest when the archive names it (an OCI layout does).
struct ArchiveLayer {
    member: String,
    diff_id: Digest,
    blob: Option<Digest>,
}

const TAR_HEADER_LEN: usize = 512;
/// Where a POSIX (ustar) or GNU tar header holds its magic, and the part both share.
const TAR_MAGIC_AT: usize = 257;
const TAR_MAGIC: &[u8] = b"ustar";

/// Reads up to `buf.len()` bytes from the start of `file` (fewer only at its end).
fn read_head(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

fn file_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header
}

fn add_dir<W: Write>(archive: &mut tar::Builder<W>, path: &str) -> Result<(), Error> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(0o755);
    header.set_mtime(0);
    archive
        .append_data(&mut header, path, io::empty())
        .map_err(|e| Error::Internal(format!("writing the archive: {e}")))
}

fn add_file<W: Write>(
    archive: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> Result<(), Error> {
    let mut header = file_header(bytes.len() as u64);
    archive
        .append_data(&mut header, path, bytes)
        .map_err(|e| Error::Internal(format!("writing the archive: {e}")))
}

/// Writes the member `path` of the archive, read from `member`, to `target`.
fn spool(mut member: impl Read, path: &Path, target: &Path) -> Result<(), Error> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
    }
    let mut file = File::create(target).map_err(io_err("creating", target))?;
    io::copy(&mut member, &mut file).map_err(|e| read_err(path, target, e))?;
    Ok(())
}

/// A failure copying the member `path` to `target`: the archive's fault when it ends early
/// or is malformed, otherwise the disk's.
fn read_err(path: &Path, target: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::InvalidData {
        invalid(format!("invalid archive: {}: {e}", path.display()))
    } else {
        Error::Io {
            op: "writing",
            path: target.to_path_buf(),
            source: e,
        }
    }
}

fn safe_relative(path: &Path) -> Result<PathBuf, Error> {
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            _ => {
                return Err(invalid(format!(
                    "invalid archive: entry {} leaves the archive",
                    path.display()
                )))
            }
        }
    }
    Ok(relative)
}

fn open_member(dir: &Path, name: &str) -> Result<File, Error> {
    let path = dir.join(safe_relative(Path::new(name))?);
    File::open(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => invalid(format!("invalid archive: {name} is missing")),
        _ => Error::Io {
            op: "opening",
            path: path.clone(),
            source: e,
        },
    })
}

fn read_member(dir: &Path, name: &str, limit: usize) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    open_member(dir, name)?
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| invalid(format!("invalid archive: reading {name}: {e}")))?;
    if bytes.len() > limit {
        return Err(invalid(format!(
            "invalid archive: {name} is larger than {limit} bytes"
        )));
    }
    Ok(bytes)
}

/// A manifest or config blob of an OCI layout, checked against its digest.
fn read_blob_member(dir: &Path, digest: &Digest) -> Result<Vec<u8>, Error> {
    let bytes = read_member(dir, &blob_path(digest), parse::MAX_CONFIG_BYTES)?;
    let actual = Digest::of_bytes(&bytes);
    if actual != *digest {
        return Err(invalid(format!(
            "invalid archive: blob {digest} has digest {actual}"
        )));
    }
    Ok(bytes)
}
