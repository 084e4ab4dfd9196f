//! The image store: images, their tags, and the layers and blobs they keep alive.
//!
//! Layout under the store root (the daemon uses `<data-root>/image`):
//! - `blobs/…` and `layers/…`: fsdriver's content and layer stores;
//! - `images/<id hex>.json`: one file per image, naming its manifest blob (the manifest names
//!   the config, whose digest is the image ID, and the layer blobs);
//! - `repositories.json`: the tags.
//!
//! The layers a container keeps alive (its lease) are not stored here: the container's own
//! record names them, and the daemon hands them back at open (see [`crate::layer_lease`]).
//!
//! Every file is written atomically; an image file is written only once its blobs and layers
//! are stored, and whatever a crash leaves unreferenced is collected at the next open (and
//! by [`ImageStore::gc`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use fsdriver::content::ContentStore;
use fsdriver::layer::{LayerError, LayerStore};
use fsdriver::Digest;
use oci_spec::image::{
    Arch, Config, Descriptor, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder,
    ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::changes::apply_changes;
use crate::parse::{self, descriptor_digest};
use crate::reference::Reference;
use crate::tags::Tags;
use crate::Error;

/// An image as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The digest of the image's config, as in Docker.
    pub id: Digest,
    /// Tags, familiar form (`busybox:latest`), sorted.
    pub repo_tags: Vec<String>,
    /// Digest references, familiar form (`busybox@sha256:…`), sorted.
    pub repo_digests: Vec<String>,
    pub created: Option<DateTime<Utc>>,
    /// Sum of the layers' sizes.
    pub size: u64,
    pub config: ImageConfiguration,
    /// Docker's `config.Healthcheck` of the config blob, which the OCI config drops.
    pub healthcheck: Option<serde_json::Value>,
    /// Docker's `config.OnBuild` of the config blob (triggers a build `FROM` it runs).
    pub on_build: Vec<String>,
    /// Layer diff_ids, bottom-most first (the config's order).
    pub layers: Vec<Digest>,
    /// The image's manifest blob.
    pub manifest: Digest,
}

/// Options of [`ImageStore::import`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The history comment; empty means Docker's default, `Imported from -`.
    pub message: String,
    /// `--change` instructions (see [`crate::changes`]).
    pub changes: Vec<String>,
}

/// What [`ImageStore::remove`] did, in order; Docker's `Untagged`/`Deleted` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveAction {
    Untagged(String),
    Deleted(Digest),
}

/// A container using an image, as reported by the caller of [`ImageStore::remove`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    pub container_id: String,
    pub running: bool,
}

/// What [`ImageStore::gc`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// Layers (by diff_id) no image or lease used.
    pub layers: Vec<Digest>,
    /// Blobs no image used.
    pub blobs: Vec<Digest>,
    /// Disk space freed: the blobs, and whatever the layers did not share with others.
    pub bytes_freed: u64,
}

#[derive(Serialize, Deserialize)]
struct ImageFile {
    manifest: Digest,
}

/// An image as held in memory.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    pub(crate) id: Digest,
    pub(crate) manifest: Digest,
    pub(crate) config: ImageConfiguration,
    pub(crate) healthcheck: Option<serde_json::Value>,
    pub(crate) on_build: Vec<String>,
    pub(crate) layers: Vec<Digest>,
    /// Every blob the image needs: manifest, config and layer blobs.
    pub(crate) blobs: Vec<Digest>,
    pub(crate) size: u64,
    pub(crate) created: Option<DateTime<Utc>>,
}

pub(crate) struct State {
    pub(crate) images: BTreeMap<Digest, Image>,
    pub(crate) tags: Tags,
    pub(crate) leases: BTreeMap<String, Vec<Digest>>,
    /// In-memory protection of layers and blobs an operation in progress is about to
    /// reference (see [`crate::pin`]).
    pub(crate) pins: crate::pin::Pins,
    pub(crate) blob_leases: BTreeMap<String, BTreeSet<Digest>>,
}

/// How an image was named by the caller.
pub(crate) enum Found {
    ById(Digest),
    ByReference(Reference, Digest),
}

impl Found {
    pub(crate) fn id(&self) -> &Digest {
        match self {
            Found::ById(id) | Found::ByReference(_, id) => id,
        }
    }
}

pub struct ImageStore {
    pub(crate) content: ContentStore,
    pub(crate) layers: LayerStore,
    images_dir: PathBuf,
    pub(crate) blob_leases_dir: PathBuf,
    pub(crate) state: Mutex<State>,
    /// Held shared while an import stores layers and blobs it has not yet recorded in
    /// `state`, exclusively while unreferenced layers and blobs are deleted, so a deletion
    /// never takes away something an import is about to reference.
    pub(crate) gc: RwLock<()>,
    /// Every image file and every container's lease loaded at open. If one did not, its
    /// layers and blobs look unreferenced, so nothing is collected.
    all_loaded: bool,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root`, for a caller whose containers
    /// lease no layers (see [`ImageStore::open_with_leases`]). Only one store may be open per
    /// root (the daemon's data-root lock guarantees it).
    pub fn open(root: &Path) -> Result<ImageStore, Error> {
        Self::open_with_leases(root, crate::layer_lease::LayerLeases::new())
    }

    /// Opens the store with the layers that existing containers lease, so that the garbage
    /// collection at open keeps them even where no image uses them any more.
    pub fn open_with_leases(
        root: &Path,
        leases: crate::layer_lease::LayerLeases,
    ) -> Result<ImageStore, Error> {
        let images_dir = root.join("images");
        let blob_leases_dir = root.join(crate::blob_lease::BLOB_LEASES_DIR);
        for dir in [root, &images_dir, &blob_leases_dir] {
            fs::create_dir_all(dir).map_err(|source| Error::Io {
                op: "creating",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        crate::layer_lease::remove_lease_files(root)?;
        let content = ContentStore::open(root).map_err(fsdriver::Error::from)?;
        let layers = LayerStore::open(root).map_err(fsdriver::Error::from)?;
        let tags = Tags::load(&root.join("repositories.json"))?;
        let mut store = ImageStore {
            content,
            layers,
            images_dir,
            blob_leases_dir,
            state: Mutex::new(State {
                images: BTreeMap::new(),
                tags,
                leases: BTreeMap::new(),
                pins: Default::default(),
                blob_leases: BTreeMap::new(),
            }),
            gc: RwLock::new(()),
            all_loaded: false,
        };
        let images_loaded = store.load_images()?;
        let leases_known = store.take_leases(leases);
        store.load_blob_leases()?;
        let all_loaded = images_loaded && leases_known;
        if all_loaded {
            store.collect_unreferenced()?;
        } else {
            tracing::warn!(
                "some images or container leases could not be loaded; skipping garbage collection"
            );
        }
        store.all_loaded = all_loaded;
        Ok(store)
    }

    /// Deletes every layer and blob that no image and no lease references (what `image
    /// prune` leaves to collect, or a crash left behind), and the shared files only they
    /// used.
    pub fn gc(&self) -> Result<Collected, Error> {
        if !self.all_loaded {
            return Err(Error::Internal(
                "some images or container leases could not be loaded when the store was \
                 opened; refusing to collect layers and blobs they may use"
                    .into(),
            ));
        }
        self.collect_unreferenced()
    }

    /// The disk space layers take: their content counted per layer, and the space actually
    /// used once files shared between layers are counted once (`system df`).
    pub fn layers_disk_usage(&self) -> Result<fsdriver::layer::DiskUsage, Error> {
        Ok(self.layers.disk_usage().map_err(fsdriver::Error::from)?)
    }

    /// Bytes of every stored blob (manifests, configs and layers as pulled or loaded).
    pub fn blobs_size(&self) -> Result<u64, Error> {
        let mut total = 0;
        for digest in self.content.list().map_err(fsdriver::Error::from)? {
            match self.content.size(&digest) {
                Ok(size) => total += size,
                // Deleted since it was listed.
                Err(fsdriver::content::ContentError::NotFound(_)) => {}
                Err(e) => return Err(fsdriver::Error::from(e).into()),
            }
        }
        Ok(total)
    }

    /// Stores a single-layer image from a tar stream (gzip, zstd or plain), like
    /// `docker import`, and tags it as `reference` (default tag `latest`) if given.
    pub fn import(
        &self,
        reader: impl Read,
        reference: Option<&str>,
        options: ImportOptions,
    ) -> Result<ImageRecord, Error> {
        // Everything the caller controls is checked before anything is stored.
        let reference = reference.map(parse_tag_reference).transpose()?;
        let mut config = Config::default();
        apply_changes(&mut config, &options.changes)?;

        let _gc = self.gc.read();
        let layer = fsdriver::import::ingest_layer(&self.content, &self.layers, reader)
            .map_err(fsdriver::Error::from)?;
        let created = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        let history = HistoryBuilder::default()
            .created(created.clone())
            .comment(if options.message.is_empty() {
                "Imported from -".to_string()
            } else {
                options.message
            })
            .build()
            .expect("history has no required fields");
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(vec![layer.diff_id.to_string()])
            .build()
            .expect("rootfs is complete");
        let image_config = ImageConfigurationBuilder::default()
            .created(created)
            .architecture(Arch::default())
            .os(Os::Linux)
            .config(config)
            .rootfs(rootfs)
            .history(vec![history])
            .build()
            .expect("image config is complete");
        let config_bytes = serde_json::to_vec(&image_config).expect("image config serializes");
        let config_blob = self.put(&config_bytes)?;
        let manifest_bytes = manifest_bytes(
            &config_bytes,
            vec![descriptor(MediaType::from(layer.media_type), &layer.blob)],
        );
        let manifest_blob = self.put(&manifest_bytes)?;

        let image = Image {
            id: config_blob.digest.clone(),
            manifest: manifest_blob.digest.clone(),
            created: parse_created(&image_config),
            config: image_config,
            healthcheck: None,
            on_build: Vec::new(),
            layers: vec![layer.diff_id.clone()],
            blobs: vec![manifest_blob.digest, config_blob.digest, layer.blob.digest],
            size: layer.layer.size,
        };
        let mut state = self.state.lock();
        self.write_image_file(&image)?;
        let id = image.id.clone();
        state.images.insert(id.clone(), image);
        state.point_references(reference, &id)?;
        Ok(record(&state, &state.images[&id]))
    }

    /// Finds an image as Docker does: by reference (`busybox` means `busybox:latest`), by
    /// full ID (`sha256:<hex>` or bare hex), or by a unique prefix of its ID.
    pub fn resolve(&self, name_or_id: &str) -> Result<ImageRecord, Error> {
        let state = self.state.lock();
        let found = find(&state, name_or_id)?;
        Ok(record(&state, &state.images[found.id()]))
    }

    /// Every image, newest first.
    pub fn list(&self) -> Vec<ImageRecord> {
        let state = self.state.lock();
        let mut records: Vec<ImageRecord> = state
            .images
            .values()
            .map(|image| record(&state, image))
            .collect();
        records.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        records
    }

    /// Points the reference `target` (default tag `latest`) at the image `source` names.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), Error> {
        let target = parse_tag_reference(target)?;
        let mut state = self.state.lock();
        let id = find(&state, source)?.id().clone();
        state.point_references([target], &id)
    }

    /// Removes a reference or an image, with Docker's rules:
    /// - by reference, when the image has other references, only that reference goes;
    /// - by ID, an image with references in several repositories needs `force`;
    /// - an image used by a running container is never deleted, one used by a stopped
    ///   container only with `force`.
    ///
    /// `in_use_by` reports a container using the image: a running one if there is any.
    /// Layers and blobs are deleted once no image and no lease needs them.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        in_use_by: &dyn Fn(&Digest) -> Option<ImageUser>,
    ) -> Result<Vec<RemoveAction>, Error> {
        self.remove_reclaiming(name_or_id, force, in_use_by)
            .map(|(actions, _)| actions)
    }

    /// [`ImageStore::remove`], also saying how much disk space the layers and blobs it
    /// deleted took (`image prune`).
    pub fn remove_reclaiming(
        &self,
        name_or_id: &str,
        force: bool,
        in_use_by: &dyn Fn(&Digest) -> Option<ImageUser>,
    ) -> Result<(Vec<RemoveAction>, u64), Error> {
        let deleted = {
            let mut state = self.state.lock();
            let found = find(&state, name_or_id)?;
            let mut removal = Removal {
                id: found.id().clone(),
                tags: state.tags.clone(),
                actions: Vec::new(),
            };
            match removal.plan(found, name_or_id, force, in_use_by)? {
                Plan::UntagOnly => {
                    removal.tags.save()?;
                    state.tags = removal.tags;
                    return Ok((removal.actions, 0));
                }
                Plan::Delete => {}
            }
            removal.tags.save()?;
            state.tags = removal.tags;
            self.remove_image_file(&removal.id)?;
            let image = state
                .images
                .remove(&removal.id)
                .expect("a found image is in the store");
            removal.actions.push(RemoveAction::Deleted(removal.id));
            (removal.actions, image)
        };
        let (actions, image) = deleted;
        let collected = self.delete_unreferenced(&image.layers, &image.blobs)?;
        Ok((actions, collected.bytes_freed))
    }

    /// The image's layer directories, top-most first (overlayfs `lowerdir` order).
    pub fn rootfs_layers(&self, image: &ImageRecord) -> Result<Vec<PathBuf>, Error> {
        image
            .layers
            .iter()
            .rev()
            .map(|diff_id| {
                if self.layers.contains(diff_id) {
                    Ok(self.layers.path(diff_id))
                } else {
                    Err(Error::Internal(format!(
                        "layer {diff_id} of image {} is missing",
                        image.id
                    )))
                }
            })
            .collect()
    }

    pub(crate) fn put(&self, bytes: &[u8]) -> Result<fsdriver::content::Descriptor, Error> {
        Ok(self.content.put(bytes).map_err(fsdriver::Error::from)?)
    }

    fn image_file(&self, id: &Digest) -> PathBuf {
        self.images_dir.join(format!("{}.json", id.hex()))
    }

    pub(crate) fn write_image_file(&self, image: &Image) -> Result<(), Error> {
        let path = self.image_file(&image.id);
        let json = serde_json::to_vec(&ImageFile {
            manifest: image.manifest.clone(),
        })
        .expect("an image file serializes");
        fsdriver::atomic::write_atomic(&path, &json).map_err(|source| Error::Io {
            op: "writing",
            path,
            source,
        })
    }

    pub(crate) fn remove_image_file(&self, id: &Digest) -> Result<(), Error> {
        let path = self.image_file(id);
        fs::remove_file(&path)
            .and_then(|()| fsdriver::atomic::sync_dir(&self.images_dir))
            .map_err(|source| Error::Io {
                op: "removing",
                path,
                source,
            })
    }

    /// Loads every image file; returns whether all of them loaded.
    fn load_images(&mut self) -> Result<bool, Error> {
        let entries = fs::read_dir(&self.images_dir).map_err(|source| Error::Io {
            op: "listing",
            path: self.images_dir.clone(),
            source,
        })?;
        let mut all_loaded = true;
        let mut images = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                op: "listing",
                path: self.images_dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|hex| Digest::from_hex(hex).ok())
            else {
                // Temporary files of an interrupted atomic write.
                continue;
            };
            match self.load_image(&id) {
                Ok(image) => {
                    images.insert(id, image);
                }
                Err(e) => {
                    tracing::error!(%id, "cannot load image: {e}");
                    all_loaded = false;
                }
            }
        }
        self.state.get_mut().images = images;
        Ok(all_loaded)
    }

    fn load_image(&self, id: &Digest) -> Result<Image, Error> {
        let path = self.image_file(id);
        let bytes = fs::read(&path).map_err(|source| Error::Io {
            op: "reading",
            path: path.clone(),
            source,
        })?;
        let corrupt = |reason: String| Error::Internal(format!("image {id} is corrupt: {reason}"));
        let file: ImageFile = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(format!("{}: {e}", path.display())))?;
        let read = |digest: &Digest| self.content.read(digest).map_err(fsdriver::Error::from);
        let manifest =
            parse::parse_manifest(&read(&file.manifest)?).map_err(|e| corrupt(e.to_string()))?;
        if descriptor_digest(manifest.config()) != *id {
            return Err(corrupt("its manifest names another config".into()));
        }
        let config_bytes = read(id)?;
        let config = parse::parse_config(&config_bytes).map_err(|e| corrupt(e.to_string()))?;
        let healthcheck = parse::healthcheck(&config_bytes);
        let on_build = parse::on_build(&config_bytes);
        let layers = parse::diff_ids(&config);
        if layers.len() != manifest.layers().len() {
            return Err(corrupt(
                "config and manifest disagree on the number of layers".into(),
            ));
        }
        let mut size = 0;
        for diff_id in &layers {
            size += self
                .layers
                .info(diff_id)
                .map_err(fsdriver::Error::from)?
                .size;
        }
        let mut blobs = vec![file.manifest.clone(), id.clone()];
        blobs.extend(manifest.layers().iter().map(descriptor_digest));
        Ok(Image {
            id: id.clone(),
            manifest: file.manifest,
            created: parse_created(&config),
            config,
            healthcheck,
            on_build,
            layers,
            blobs,
            size,
        })
    }

    /// Deletes whichever of `layers` and `blobs` no image or lease references any more.
    pub(crate) fn collect(&self, layers: &[Digest], blobs: &[Digest]) -> Result<(), Error> {
        self.delete_unreferenced(layers, blobs).map(drop)
    }

    /// Deletes every layer and blob nothing references: what an import or a removal
    /// interrupted by a crash left behind.
    fn collect_unreferenced(&self) -> Result<Collected, Error> {
        let layers = self.layers.list().map_err(fsdriver::Error::from)?;
        let blobs = self.content.list().map_err(fsdriver::Error::from)?;
        self.delete_unreferenced(&layers, &blobs)
    }

    /// [`ImageStore::collect`], saying what it deleted.
    fn delete_unreferenced(&self, layers: &[Digest], blobs: &[Digest]) -> Result<Collected, Error> {
        let _gc = self.gc.write();
        let (layers, blobs) = {
            let state = self.state.lock();
            let (kept_layers, kept_blobs) = referenced(&state);
            let layers: Vec<Digest> = layers
                .iter()
                .filter(|d| !kept_layers.contains(d))
                .cloned()
                .collect();
            let blobs: Vec<Digest> = blobs
                .iter()
                .filter(|d| !kept_blobs.contains(d))
                .cloned()
                .collect();
            (layers, blobs)
        };
        let mut collected = Collected::default();
        for diff_id in layers {
            match self.layers.remove(&diff_id) {
                Ok(freed) => {
                    collected.bytes_freed += freed;
                    collected.layers.push(diff_id);
                }
                Err(LayerError::NotFound(_)) => {}
                Err(e) => return Err(fsdriver::Error::from(e).into()),
            }
        }
        if !collected.layers.is_empty() {
            let swept = self.layers.sweep_shared().map_err(fsdriver::Error::from)?;
            collected.bytes_freed += swept.bytes;
        }
        for digest in blobs {
            let size = match self.content.size(&digest) {
                Ok(size) => size,
                Err(fsdriver::content::ContentError::NotFound(_)) => continue,
                Err(e) => return Err(fsdriver::Error::from(e).into()),
            };
            match self.content.delete(&digest) {
                Ok(()) => {
                    collected.bytes_freed += size;
                    collected.blobs.push(digest);
                }
                Err(fsdriver::content::ContentError::NotFound(_)) => {}
                Err(e) => return Err(fsdriver::Error::from(e).into()),
            }
        }
        Ok(collected)
    }
}

impl State {
    /// Points each of `references` at the image `id`, saving the tags before they change
    /// in memory.
    pub(crate) fn point_references(
        &mut self,
        references: impl IntoIterator<Item = Reference>,
        id: &Digest,
    ) -> Result<(), Error> {
        let mut tags = self.tags.clone();
        let mut changed = false;
        for reference in references {
            tags.insert(reference, id.clone());
            changed = true;
        }
        if changed {
            tags.save()?;
            self.tags = tags;
        }
        Ok(())
    }
}

/// The layers and blobs that images and leases need.
fn referenced(state: &State) -> (BTreeSet<Digest>, BTreeSet<Digest>) {
    let mut layers: BTreeSet<Digest> = state.leases.values().flatten().cloned().collect();
    let mut blobs = BTreeSet::new();
    state.pins.add_to(&mut layers, &mut blobs);
    blobs.extend(state.blob_leases.values().flatten().cloned());
    for image in state.images.values() {
        layers.extend(image.layers.iter().cloned());
        blobs.extend(image.blobs.iter().cloned());
    }
    (layers, blobs)
}

/// The tag bookkeeping of one [`ImageStore::remove`] call, done on a copy of the tags that
/// is saved only if the removal goes ahead.
struct Removal {
    id: Digest,
    tags: Tags,
    actions: Vec<RemoveAction>,
}

enum Plan {
    /// Only references were removed; the image stays.
    UntagOnly,
    /// The image itself is to be deleted (its references are already removed).
    Delete,
}

/// Which conflicts to check (Docker's hard and soft conflicts).
struct ConflictCheck {
    /// Other references to the image (soft).
    references: bool,
    /// A stopped container using the image (soft).
    stopped: bool,
}

struct Conflict {
    message: String,
    /// The conflict is a container using the image.
    used: bool,
}

impl Removal {
    fn plan(
        &mut self,
        found: Found,
        asked: &str,
        force: bool,
        in_use_by: &dyn Fn(&Digest) -> Option<ImageUser>,
    ) -> Result<Plan, Error> {
        let mut untagged_last = false;
        match found {
            Found::ByReference(reference, _) => {
                let refs = self.tags.refs_of(&self.id);
                if !force && is_single_reference(&refs) {
                    if let Some(user) = in_use_by(&self.id) {
                        return Err(Error::Conflict(format!(
                            "conflict: unable to remove repository reference \"{asked}\" (must force) - container {} is using its referenced image {}",
                            short_id(&user.container_id),
                            self.id.short()
                        )));
                    }
                }
                self.untag(&reference);
                if reference.digest().is_none() {
                    self.untag_orphaned_digests(&reference);
                }
                if !self.tags.refs_of(&self.id).is_empty() {
                    return Ok(Plan::UntagOnly);
                }
                untagged_last = true;
            }
            Found::ById(_) => {
                let refs = self.tags.refs_of(&self.id);
                if is_single_reference(&refs) {
                    let check = ConflictCheck {
                        references: false,
                        stopped: !force,
                    };
                    if let Some(conflict) = self.conflict(&check, in_use_by) {
                        return Err(Error::Conflict(conflict.message));
                    }
                    for reference in refs {
                        self.untag(&reference);
                    }
                }
            }
        }
        let check = ConflictCheck {
            references: !force,
            stopped: !force,
        };
        if let Some(conflict) = self.conflict(&check, in_use_by) {
            // Having just removed the last reference, a container still using the image
            // keeps it (as an untagged image) without failing the removal.
            if untagged_last && conflict.used {
                return Ok(Plan::UntagOnly);
            }
            return Err(Error::Conflict(conflict.message));
        }
        for reference in self.tags.refs_of(&self.id) {
            self.untag(&reference);
        }
        Ok(Plan::Delete)
    }

    fn untag(&mut self, reference: &Reference) {
        self.tags.remove(reference);
        self.actions
            .push(RemoveAction::Untagged(reference.familiar()));
    }

    /// Once the last tag of a repository is gone, its digest references to the image go too.
    fn untag_orphaned_digests(&mut self, removed: &Reference) {
        let remaining = self.tags.refs_of(&self.id);
        let same_repository = |r: &&Reference| r.name() == removed.name();
        if remaining
            .iter()
            .filter(same_repository)
            .any(|r| r.digest().is_none())
        {
            return;
        }
        for reference in remaining.iter().filter(same_repository) {
            self.untag(reference);
        }
    }

    /// Docker's order: a running container (cannot be forced), other references, a stopped
    /// container.
    fn conflict(
        &self,
        check: &ConflictCheck,
        in_use_by: &dyn Fn(&Digest) -> Option<ImageUser>,
    ) -> Option<Conflict> {
        let id = self.id.short();
        let user = in_use_by(&self.id);
        if let Some(user) = user.as_ref().filter(|u| u.running) {
            return Some(Conflict {
                message: format!(
                    "conflict: unable to delete {id} (cannot be forced) - image is being used by running container {}",
                    short_id(&user.container_id)
                ),
                used: true,
            });
        }
        if check.references && !self.tags.refs_of(&self.id).is_empty() {
            return Some(Conflict {
                message: format!(
                    "conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories"
                ),
                used: false,
            });
        }
        if let Some(user) = user.as_ref().filter(|_| check.stopped) {
            return Some(Conflict {
                message: format!(
                    "conflict: unable to delete {id} (must be forced) - image is being used by stopped container {}",
                    short_id(&user.container_id)
                ),
                used: true,
            });
        }
        None
    }
}

/// Whether the references amount to one name: a single tag, possibly with digest references
/// of that same repository.
fn is_single_reference(refs: &[Reference]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let tagged: Vec<&Reference> = refs.iter().filter(|r| r.digest().is_none()).collect();
    if tagged.len() > 1 {
        return false;
    }
    let single = tagged.first().copied().unwrap_or(&refs[0]);
    let digest_repositories: BTreeSet<String> = refs
        .iter()
        .filter(|r| r.digest().is_some())
        .map(Reference::name)
        .collect();
    digest_repositories.len() == 1 && digest_repositories.contains(&single.name())
}

pub(crate) fn find(state: &State, input: &str) -> Result<Found, Error> {
    let by_id = |id: Digest| {
        if state.images.contains_key(&id) {
            Ok(Found::ById(id))
        } else {
            Err(Error::NotFound(id.to_string()))
        }
    };
    if fsdriver::digest::is_sha256_hex(input) {
        return by_id(Digest::from_hex(input).expect("checked as hex"));
    }
    if let Some(hex) = input.strip_prefix("sha256:") {
        if let Ok(id) = Digest::parse(input) {
            return by_id(id);
        }
        return find_by_prefix(state, hex).ok_or_else(|| Error::NotFound(input.to_string()));
    }
    let reference = Reference::parse(input)?;
    if let Some(id) = state.tags.get(&reference) {
        if state.images.contains_key(id) {
            return Ok(Found::ByReference(reference.clone(), id.clone()));
        }
    }
    find_by_prefix(state, input).ok_or_else(|| Error::NotFound(reference.familiar()))
}

/// The image whose ID starts with `prefix`, if exactly one does.
fn find_by_prefix(state: &State, prefix: &str) -> Option<Found> {
    if prefix.is_empty()
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut matches = state
        .images
        .keys()
        .filter(|id| id.hex().starts_with(prefix));
    let first = matches.next()?;
    match matches.next() {
        Some(_) => None,
        None => Some(Found::ById(first.clone())),
    }
}

pub(crate) fn record(state: &State, image: &Image) -> ImageRecord {
    let mut repo_tags = Vec::new();
    let mut repo_digests = Vec::new();
    for reference in state.tags.refs_of(&image.id) {
        match reference.digest() {
            Some(digest) => repo_digests.push(format!("{}@{digest}", reference.familiar_name())),
            None => repo_tags.push(reference.familiar()),
        }
    }
    repo_tags.sort();
    repo_digests.sort();
    ImageRecord {
        id: image.id.clone(),
        repo_tags,
        repo_digests,
        created: image.created,
        size: image.size,
        config: image.config.clone(),
        healthcheck: image.healthcheck.clone(),
        on_build: image.on_build.clone(),
        layers: image.layers.clone(),
        manifest: image.manifest.clone(),
    }
}

/// A reference that can be created by tagging: a name and tag, never a digest.
pub(crate) fn parse_tag_reference(text: &str) -> Result<Reference, Error> {
    let reference = Reference::parse(text)?;
    if reference.digest().is_some() {
        return Err(Error::InvalidArgument(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    Ok(reference)
}

pub(crate) fn parse_created(config: &ImageConfiguration) -> Option<DateTime<Utc>> {
    let created = config.created().as_deref()?;
    DateTime::parse_from_rfc3339(created)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn descriptor(
    media_type: MediaType,
    blob: &fsdriver::content::Descriptor,
) -> Descriptor {
    let digest = oci_spec::image::Digest::from_str(blob.digest.as_str())
        .expect("a sha256 digest is a valid OCI digest");
    Descriptor::new(media_type, blob.size, digest)
}

/// The OCI manifest, serialized, of the image whose config is `config` and whose layer
/// blobs are `layers`, bottom-most first.
pub(crate) fn manifest_bytes(config: &[u8], layers: Vec<Descriptor>) -> Vec<u8> {
    let config = descriptor(
        MediaType::ImageConfig,
        &fsdriver::content::Descriptor {
            digest: Digest::of_bytes(config),
            size: config.len() as u64,
        },
    );
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .expect("manifest is complete");
    serde_json::to_vec(&manifest).expect("manifest serializes")
}

/// Docker's 12-character short form of a container or image ID.
fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.get(..12).unwrap_or(id)
}

/// A lease holder names a file: letters, digits, `_`, `.` and `-`, not starting with `.`.
pub(crate) fn check_holder(holder: &str) -> Result<(), Error> {
    let ok = !holder.is_empty()
        && !holder.starts_with('.')
        && holder
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid lease holder {holder:?}"
        )))
    }
}
