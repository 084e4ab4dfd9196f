//! The layer store: each layer extracted once, into `<root>/layers/<hex>/diff`, keyed by its
//! diff_id (the sha256 of its uncompressed tar).
//!
//! A layer is extracted into `<root>/layers/.tmp-*`, its files shared with identical stored
//! ones ([`crate::dedup`]), and renamed into place only when it is complete, so a layer
//! directory that exists under its diff_id is always whole: a kill -9 in the middle of an
//! extraction leaves only a temporary directory, removed when the store is next opened, and
//! the next import of that layer extracts it again from the start.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::atomic::{sync_dir, write_atomic};
use crate::dedup::{DedupError, DedupIndex, Swept};
use crate::digest::{digests_named_in, Digest};
use crate::extract::{ExtractError, ExtractLimits, Extractor};

const TEMP_PREFIX: &str = ".tmp-";
const DIFF_DIR: &str = "diff";
const METADATA_FILE: &str = "layer.json";

/// A stored layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    pub diff_id: Digest,
    /// Bytes of regular file content in the layer.
    pub size: u64,
    /// The extracted directory, usable as an overlayfs lower directory.
    pub path: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Metadata {
    diff_id: Digest,
    size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {0} not found")]
    NotFound(Digest),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Dedup(#[from] DedupError),
    #[error("layer metadata {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl LayerError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            LayerError::NotFound(_) => crate::ErrorKind::NotFound,
            LayerError::Extract(e) => e.kind(),
            LayerError::Corrupt { .. } | LayerError::Io { .. } | LayerError::Dedup(_) => {
                crate::ErrorKind::Internal
            }
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LayerError + 'a {
    move |source| LayerError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Space the layers take on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Bytes of regular file content, counted in every layer that has them.
    pub content: u64,
    /// Disk space actually used by layers and the shared-file index, each inode counted
    /// once.
    pub allocated: u64,
}

#[derive(Debug)]
pub struct LayerStore {
    dir: PathBuf,
    limits: ExtractLimits,
    extractor: Extractor,
    dedup: DedupIndex,
}

impl LayerStore {
    /// Opens (creating if needed) the store under `root`, removing what an interrupted
    /// extraction or removal left behind. Only one store may be open per root.
    pub fn open(root: &Path) -> Result<LayerStore, LayerError> {
        let dir = root.join("layers");
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        for entry in fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
            let entry = entry.map_err(io_err("listing", &dir))?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let path = entry.path();
                tracing::info!(path = %path.display(), "removing an interrupted layer");
                fs::remove_dir_all(&path).map_err(io_err("removing", &path))?;
            }
        }
        Ok(LayerStore {
            dir,
            limits: ExtractLimits::default(),
            extractor: Extractor::detect(),
            dedup: DedupIndex::open(root)?,
        })
    }

    /// Chooses the extractor (by default io_uring when available, see
    /// [`Extractor::detect`]).
    pub fn with_extractor(mut self, extractor: Extractor) -> LayerStore {
        self.extractor = extractor;
        self
    }

    pub fn extractor(&self) -> Extractor {
        self.extractor
    }

    /// Sets the tar bomb limits for later extractions.
    pub fn with_limits(mut self, limits: ExtractLimits) -> LayerStore {
        self.limits = limits;
        self
    }

    /// The extracted directory of the layer `diff_id` (whether or not it exists).
    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex()).join(DIFF_DIR)
    }

    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.dir.join(diff_id.hex()).join(METADATA_FILE).is_file()
    }

    pub fn info(&self, diff_id: &Digest) -> Result<LayerInfo, LayerError> {
        let path = self.dir.join(diff_id.hex()).join(METADATA_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LayerError::NotFound(diff_id.clone()))
            }
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        let metadata: Metadata =
            serde_json::from_slice(&bytes).map_err(|source| LayerError::Corrupt {
                path: path.clone(),
                source,
            })?;
        Ok(LayerInfo {
            diff_id: metadata.diff_id,
            size: metadata.size,
            path: self.path(diff_id),
        })
    }

    /// Every stored layer, sorted.
    pub fn list(&self) -> Result<Vec<Digest>, LayerError> {
        digests_named_in(&self.dir).map_err(io_err("listing", &self.dir))
    }

    /// Removes the layer; returns the disk space freed (files it shares with other layers
    /// stay). It disappears from its place atomically (renamed away first), so a crash
    /// half-way through the deletion leaves only a temporary directory.
    pub fn remove(&self, diff_id: &Digest) -> Result<u64, LayerError> {
        let path = self.dir.join(diff_id.hex());
        let doomed = self.temp_path();
        match fs::rename(&path, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LayerError::NotFound(diff_id.clone()))
            }
            Err(e) => return Err(io_err("removing", &path)(e)),
        }
        sync_dir(&self.dir).map_err(io_err("syncing", &self.dir))?;
        remove_counting(&doomed)
    }

    /// Removes the shared files no layer uses any more.
    pub fn sweep_shared(&self) -> Result<Swept, LayerError> {
        Ok(self.dedup.sweep()?)
    }

    /// What the stored layers take: their content, and the disk space they use with
    /// shared files counted once.
    pub fn disk_usage(&self) -> Result<DiskUsage, LayerError> {
        let mut usage = DiskUsage::default();
        for diff_id in self.list()? {
            usage.content += self.info(&diff_id)?.size;
        }
        let mut seen = std::collections::HashSet::new();
        let mut dirs = vec![self.dir.clone(), self.dedup.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
                let entry = entry.map_err(io_err("listing", &dir))?;
                let path = entry.path();
                let meta = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
                if meta.is_dir() {
                    dirs.push(path);
                }
                if seen.insert((meta.dev(), meta.ino())) {
                    usage.allocated += meta.blocks() * 512;
                }
            }
        }
        Ok(usage)
    }

    /// Extracts the uncompressed tar stream `reader` and stores it as a layer.
    pub fn extract(&self, reader: impl Read) -> Result<LayerInfo, LayerError> {
        self.stage(reader)?.commit()
    }

    /// Extracts `reader` into a temporary directory; nothing is visible until
    /// [`StagedLayer::commit`], and dropping the staged layer removes it.
    pub fn stage(&self, reader: impl Read) -> Result<StagedLayer<'_>, LayerError> {
        let temp = self.temp_path();
        let mut staged = StagedLayer {
            store: self,
            temp: temp.clone(),
            diff_id: None,
            size: 0,
        };
        let diff = temp.join(DIFF_DIR);
        fs::create_dir(&temp).map_err(io_err("creating", &temp))?;
        fs::create_dir(&diff).map_err(io_err("creating", &diff))?;
        let extracted = self.extractor.extract(reader, &diff, &self.limits)?;
        let shared = self.dedup.share(&diff)?;
        tracing::debug!(
            diff_id = %extracted.diff_id,
            files = shared.files,
            bytes = shared.bytes,
            "layer files shared with stored layers"
        );
        let metadata = Metadata {
            diff_id: extracted.diff_id.clone(),
            size: extracted.size,
        };
        let meta_path = temp.join(METADATA_FILE);
        let json = serde_json::to_vec(&metadata).expect("layer metadata serializes");
        write_atomic(&meta_path, &json).map_err(io_err("writing", &meta_path))?;
        staged.diff_id = Some(extracted.diff_id);
        staged.size = extracted.size;
        Ok(staged)
    }

    fn temp_path(&self) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()))
    }
}

/// A fully extracted layer waiting to be moved into place.
pub struct StagedLayer<'a> {
    store: &'a LayerStore,
    temp: PathBuf,
    diff_id: Option<Digest>,
    size: u64,
}

impl StagedLayer<'_> {
    pub fn diff_id(&self) -> &Digest {
        self.diff_id
            .as_ref()
            .expect("a staged layer has its diff_id")
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Makes the layer durable and renames it into place. If the layer already exists, the
    /// stored copy wins and this one is thrown away.
    pub fn commit(self) -> Result<LayerInfo, LayerError> {
        let diff_id = self.diff_id().clone();
        let dest = self.store.dir.join(diff_id.hex());
        // Extracted files are written without individual fsyncs; one syncfs before the
        // rename makes the whole layer durable before it becomes visible.
        let dir = rustix::fs::open(
            &self.temp,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err("opening", &self.temp)(e.into()))?;
        rustix::fs::syncfs(&dir).map_err(|e| io_err("syncing", &self.temp)(e.into()))?;
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &self.temp,
            rustix::fs::CWD,
            &dest,
            RenameFlags::NOREPLACE,
        ) {
            Ok(()) => sync_dir(&self.store.dir).map_err(io_err("syncing", &self.store.dir))?,
            Err(Errno::EXIST | Errno::NOTEMPTY) => {
                tracing::debug!(%diff_id, "layer already stored; dropping the new copy");
            }
            Err(e) => return Err(io_err("renaming into place", &dest)(e.into())),
        }
        Ok(LayerInfo {
            diff_id: diff_id.clone(),
            size: self.size,
            path: self.store.path(&diff_id),
        })
        // Drop removes the temporary directory if the rename did not consume it.
    }
}

impl Drop for StagedLayer<'_> {
    fn drop(&mut self) {
        if self.temp.exists() {
            if let Err(e) = fs::remove_dir_all(&self.temp) {
                tracing::warn!(path = %self.temp.display(), "removing a staged layer: {e}");
            }
        }
    }
}

/// Removes the tree at `path`; returns the disk space freed: what its directories, and the
/// files it held the last link to, took.
fn remove_counting(path: &Path) -> Result<u64, LayerError> {
    let mut freed = 0;
    let mut stack = vec![(path.to_path_buf(), false)];
    while let Some((dir, listed)) = stack.pop() {
        if listed {
            let meta = fs::symlink_metadata(&dir).map_err(io_err("stat", &dir))?;
            fs::remove_dir(&dir).map_err(io_err("removing", &dir))?;
            freed += meta.blocks() * 512;
            continue;
        }
        stack.push((dir.clone(), true));
        for entry in fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
            let entry = entry.map_err(io_err("listing", &dir))?;
            let child = entry.path();
            let meta = fs::symlink_metadata(&child).map_err(io_err("stat", &child))?;
            if meta.is_dir() {
                stack.push((child, false));
            } else {
                fs::remove_file(&child).map_err(io_err("removing", &child))?;
                if meta.nlink() == 1 {
                    freed += meta.blocks() * 512;
                }
            }
        }
    }
    Ok(freed)
}
