//! The local driver's store: the volumes, their metadata on disk and their users in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::mounter::Mounter;
use crate::name::{anonymous_name, validate_name};
use crate::options::{self, MountSpec};

pub const LOCAL_DRIVER: &str = "local";
/// The label Docker puts on the volumes it creates without a name.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

const DATA_DIR: &str = "_data";
const METADATA_FILE: &str = "volume.json";
/// Prefixes of directories being created or removed. A volume name starts with an
/// alphanumeric character, so these never collide with one.
const CREATING: &str = ".creating-";
const REMOVING: &str = ".removing-";

/// What is stored of a volume, in `<root>/<name>/volume.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Metadata {
    name: String,
    driver: String,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
    created_at: DateTime<Utc>,
}

/// A volume as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    /// The directory containers mount: `<root>/<name>/_data`.
    pub mountpoint: PathBuf,
    /// The containers that use it.
    pub users: Vec<String>,
}

impl Volume {
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// What `volume create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// `None` (or empty) makes an anonymous volume.
    pub name: Option<String>,
    pub driver: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

struct Entry {
    meta: Metadata,
    users: BTreeSet<String>,
    /// Whether its options' mount is on `_data` now.
    mounted: bool,
}

pub struct Store {
    root: PathBuf,
    mounter: Box<dyn Mounter>,
    volumes: Mutex<BTreeMap<String, Entry>>,
    /// Names whose directory is being written, outside the `volumes` lock: a create costs
    /// fsyncs, and holding that lock across them would serialise every create, mount and
    /// look-up of every volume behind the disk. Taken before `volumes` when both are held.
    creating: Mutex<BTreeSet<String>>,
    /// Signalled when a name leaves `creating`, for a create of the same name waiting on it.
    created: Condvar,
}

impl Store {
    /// Opens the store in `root`, finishing what a killed daemon left half done: a volume
    /// being created was never answered to anyone and goes, one being removed goes too.
    pub fn open(root: &Path, mounter: Box<dyn Mounter>) -> Result<Store, Error> {
        std::fs::create_dir_all(root).map_err(Error::io("creating", root))?;
        let mut volumes = BTreeMap::new();
        for entry in std::fs::read_dir(root).map_err(Error::io("reading", root))? {
            let entry = entry.map_err(Error::io("reading", root))?;
            let path = entry.path();
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if file_name.starts_with(CREATING) || file_name.starts_with(REMOVING) {
                std::fs::remove_dir_all(&path).map_err(Error::io("removing", &path))?;
                continue;
            }
            if validate_name(&file_name).is_err() || !path.join(DATA_DIR).is_dir() {
                continue;
            }
            let meta = read_metadata(&path, &file_name)?;
            let data = path.join(DATA_DIR);
            let mounted = MountSpec::from_options(&meta.options).is_some()
                && mounter
                    .is_mounted(&data)
                    .map_err(Error::io("reading the mounts of", &data))?;
            volumes.insert(
                file_name,
                Entry {
                    meta,
                    users: BTreeSet::new(),
                    mounted,
                },
            );
        }
        Ok(Store {
            root: root.to_path_buf(),
            mounter,
            volumes: Mutex::new(volumes),
            creating: Mutex::new(BTreeSet::new()),
            created: Condvar::new(),
        })
    }

    fn data_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA_DIR)
    }

    fn volume(&self, entry: &Entry) -> Volume {
        Volume {
            name: entry.meta.name.clone(),
            driver: entry.meta.driver.clone(),
            labels: entry.meta.labels.clone(),
            options: entry.meta.options.clone(),
            created_at: entry.meta.created_at,
            mountpoint: self.data_path(&entry.meta.name),
            users: entry.users.iter().cloned().collect(),
        }
    }

    /// Creates a volume, or answers the existing one of that name as Docker does. Its
    /// directory is made under a temporary name and renamed into place with its metadata,
    /// so a crash never leaves a volume without metadata.
    pub fn create(&self, request: CreateRequest) -> Result<Volume, Error> {
        let mut labels = request.labels;
        let name = match request.name.filter(|n| !n.is_empty()) {
            Some(name) => name,
            None => {
                labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
                anonymous_name()
            }
        };
        validate_name(&name)?;
        let driver = request
            .driver
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| LOCAL_DRIVER.to_string());
        if driver != LOCAL_DRIVER {
            return Err(Error::UnknownDriver { name, driver });
        }
        options::validate(&name, &request.options)?;

        // A create of the same name under way is waited for, and its volume answered.
        let mut creating = self.creating.lock();
        loop {
            if let Some(existing) = self.volumes.lock().get(&name) {
                return Ok(self.volume(existing));
            }
            if !creating.contains(&name) {
                break;
            }
            self.created.wait(&mut creating);
        }
        creating.insert(name.clone());
        drop(creating);

        let meta = Metadata {
            name: name.clone(),
            driver,
            labels,
            options: request.options,
            created_at: Utc::now(),
        };
        let staging = self.root.join(format!("{CREATING}{name}"));
        let created = write_new(&staging, &meta).and_then(|()| {
            let target = self.root.join(&name);
            std::fs::rename(&staging, &target).map_err(Error::io("renaming to", &target))?;
            fsdriver::atomic::sync_dir(&self.root).map_err(Error::io("syncing", &self.root))
        });
        if created.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        let mut creating = self.creating.lock();
        creating.remove(&name);
        self.created.notify_all();
        created?;
        let entry = Entry {
            meta,
            users: BTreeSet::new(),
            mounted: false,
        };
        let volume = self.volume(&entry);
        self.volumes.lock().insert(name, entry);
        drop(creating);
        Ok(volume)
    }

    pub fn get(&self, name: &str) -> Result<Volume, Error> {
        let volumes = self.volumes.lock();
        volumes
            .get(name)
            .map(|e| self.volume(e))
            .ok_or_else(|| Error::NotFound(name.to_string()))
    }

    pub fn list(&self) -> Vec<Volume> {
        let volumes = self.volumes.lock();
        volumes.values().map(|e| self.volume(e)).collect()
    }

    /// Records that container `user` uses the volume, mounting its options' mount if it is
    /// the first user; answers the directory to mount into the container.
    pub fn acquire(&self, name: &str, user: &str) -> Result<PathBuf, Error> {
        let mut volumes = self.volumes.lock();
        let entry = volumes
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(name.to_string()))?;
        let data = self.data_path(name);
        if let Some(spec) = MountSpec::from_options(&entry.meta.options) {
            if !entry.mounted {
                self.mounter
                    .mount(&spec, &data)
                    .map_err(|source| Error::Mount {
                        name: name.to_string(),
                        device: spec.device.clone(),
                        path: data.clone(),
                        flags: spec.flags,
                        data: spec.data.clone(),
                        source,
                    })?;
                entry.mounted = true;
            }
        }
        entry.users.insert(user.to_string());
        Ok(data)
    }

    /// Container `user` uses none of its volumes any more (it was removed, or its create
    /// failed); a volume left without users is unmounted.
    pub fn release(&self, user: &str) {
        let mut volumes = self.volumes.lock();
        for (name, entry) in volumes.iter_mut() {
            if entry.users.remove(user) && entry.users.is_empty() && entry.mounted {
                let data = self.data_path(name);
                match self.mounter.unmount(&data) {
                    Ok(()) => entry.mounted = false,
                    Err(err) => tracing::warn!("unmounting volume {}: {err}", data.display()),
                }
            }
        }
    }

    /// Removes a volume and its data. One in use is refused, forced or not; `force` only
    /// makes a missing volume no error, as in Docker.
    pub fn remove(&self, name: &str, force: bool) -> Result<(), Error> {
        let mut volumes = self.volumes.lock();
        let Some(entry) = volumes.get(name) else {
            return if force {
                Ok(())
            } else {
                Err(Error::NotFound(name.to_string()))
            };
        };
        if !entry.users.is_empty() {
            return Err(Error::InUse {
                name: name.to_string(),
                users: entry.users.iter().cloned().collect(),
            });
        }
        self.remove_entry(name, entry.mounted)?;
        volumes.remove(name);
        Ok(())
    }

    /// Renames the volume's directory away (atomically: from then on it is gone, even across
    /// a crash), then deletes it.
    fn remove_entry(&self, name: &str, mounted: bool) -> Result<(), Error> {
        let data = self.data_path(name);
        if mounted {
            self.mounter
                .unmount(&data)
                .map_err(Error::io("unmounting", &data))?;
        }
        let dir = self.root.join(name);
        let doomed = self.root.join(format!("{REMOVING}{name}"));
        std::fs::rename(&dir, &doomed).map_err(Error::io("renaming", &dir))?;
        if let Err(err) = std::fs::remove_dir_all(&doomed) {
            // The volume is gone for every client; the next start deletes the rest.
            tracing::warn!("removing {}: {err}", doomed.display());
        }
        Ok(())
    }

    /// Removes every unused volume `wanted` picks; answers their names and the bytes their
    /// data took.
    pub fn prune(&self, wanted: impl Fn(&Volume) -> bool) -> Result<(Vec<String>, u64), Error> {
        let mut volumes = self.volumes.lock();
        let doomed: Vec<(String, bool)> = volumes
            .values()
            .filter(|e| e.users.is_empty() && wanted(&self.volume(e)))
            .map(|e| (e.meta.name.clone(), e.mounted))
            .collect();
        let mut removed = Vec::new();
        let mut reclaimed = 0;
        for (name, mounted) in doomed {
            let size = crate::usage::dir_size(&self.data_path(&name));
            self.remove_entry(&name, mounted)?;
            volumes.remove(&name);
            removed.push(name);
            reclaimed += size;
        }
        Ok((removed, reclaimed))
    }
}

/// Makes `dir` with its empty `_data` and its metadata, durably.
fn write_new(dir: &Path, meta: &Metadata) -> Result<(), Error> {
    let data = dir.join(DATA_DIR);
    std::fs::create_dir_all(&data).map_err(Error::io("creating", &data))?;
    let path = dir.join(METADATA_FILE);
    let bytes = serde_json::to_vec(meta).map_err(|source| Error::Decode {
        path: path.clone(),
        source,
    })?;
    fsdriver::atomic::write_atomic(&path, &bytes).map_err(Error::io("writing", &path))
}

/// A volume's metadata; a directory without any (made by hand, or by Docker's layout) is a
/// volume with no labels or options, created when its directory was.
fn read_metadata(dir: &Path, name: &str) -> Result<Metadata, Error> {
    let path = dir.join(METADATA_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| Error::Decode { path, source })
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let created_at = std::fs::metadata(dir)
                .and_then(|m| m.modified())
                .map(DateTime::<Utc>::from)
                .unwrap_or_else(|_| Utc::now());
            Ok(Metadata {
                name: name.to_string(),
                driver: LOCAL_DRIVER.to_string(),
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                created_at,
            })
        }
        Err(err) => Err(Error::io("reading", &path)(err)),
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
