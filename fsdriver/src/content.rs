//! The content store: immutable OCI blobs addressed by sha256 at `<root>/blobs/sha256/<hex>`.
//!
//! A blob is written to a temporary file under `<root>/blobs/ingest/` while it is hashed,
//! checked against the expected digest, fsynced and only then renamed into place, so a blob
//! that is visible is always complete and correct. Blobs are never modified afterwards, which
//! is what makes reading them through a memory map safe.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;
use sha2::{Digest as _, Sha256};

use crate::atomic::sync_dir;
use crate::digest::{digests_named_in, Digest};

/// Bytes of a blob being written after which the kernel is asked to start writing them to
/// disk: a large blob (a layer) is then written out while the rest of it arrives, and the
/// fsync of its commit has little left to wait for.
const WRITEBACK_STEP: u64 = 8 << 20;

/// A blob's identity and length, as in an OCI descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Descriptor {
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("blob {0} not found")]
    NotFound(Digest),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("reading blob data: {0}")]
    Source(#[source] io::Error),
    #[error("the unhashed blob {0} was committed without its digest")]
    Unhashed(PathBuf),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ContentError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            ContentError::NotFound(_) => crate::ErrorKind::NotFound,
            ContentError::DigestMismatch { .. } | ContentError::Source(_) => {
                crate::ErrorKind::InvalidArgument
            }
            ContentError::Io { .. } | ContentError::Unhashed(_) => crate::ErrorKind::Internal,
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ContentError + 'a {
    move |source| ContentError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Content-addressed blob storage. Cheap to share by reference between threads: every
/// operation works on the file system only.
#[derive(Debug)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the store under `root`. Temporary files left by an
    /// interrupted ingest are removed, so only one store may be open per root.
    pub fn open(root: &Path) -> Result<ContentStore, ContentError> {
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("blobs").join("ingest");
        fs::create_dir_all(&blobs).map_err(io_err("creating", &blobs))?;
        if ingest.exists() {
            fs::remove_dir_all(&ingest).map_err(io_err("cleaning", &ingest))?;
        }
        fs::create_dir_all(&ingest).map_err(io_err("creating", &ingest))?;
        Ok(ContentStore { blobs, ingest })
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Starts writing a new blob; see [`BlobWriter`].
    pub fn writer(&self) -> Result<BlobWriter<'_>, ContentError> {
        self.new_writer(Some(Sha256::new()))
    }

    /// Starts writing a new blob that is not hashed as it is written, for a caller that
    /// computes the sha256 of exactly the same bytes anyway (an uncompressed layer's diff_id
    /// is its blob's digest): it commits with the digest it computed, which is taken as is.
    pub fn unhashed_writer(&self) -> Result<BlobWriter<'_>, ContentError> {
        self.new_writer(None)
    }

    fn new_writer(&self, hasher: Option<Sha256>) -> Result<BlobWriter<'_>, ContentError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = self.ingest.join(format!("{}-{n}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(file) => {
                    return Ok(BlobWriter {
                        store: self,
                        tmp: Some(tmp),
                        file,
                        hasher,
                        size: 0,
                        written_back: 0,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err("creating", &tmp)(e)),
            }
        }
    }

    /// Stores everything `reader` yields. With `expected`, the data must hash to it, or
    /// nothing is stored. Ingesting a blob that already exists succeeds without change.
    pub fn ingest(
        &self,
        mut reader: impl Read,
        expected: Option<&Digest>,
    ) -> Result<Descriptor, ContentError> {
        let mut writer = self.writer()?;
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ContentError::Source(e)),
            };
            writer.write_chunk(&buf[..n])?;
        }
        writer.commit(expected)
    }

    /// Stores `bytes` as a blob.
    pub fn put(&self, bytes: &[u8]) -> Result<Descriptor, ContentError> {
        self.ingest(bytes, None)
    }

    /// Maps the blob into memory.
    pub fn read(&self, digest: &Digest) -> Result<Blob, ContentError> {
        let file = self.open_blob(digest)?;
        let path = self.path(digest);
        let len = file.metadata().map_err(io_err("stat", &path))?.len();
        if len == 0 {
            // mmap refuses zero-length mappings.
            return Ok(Blob { map: None });
        }
        // SAFETY: blobs are immutable once renamed into place (written once, mode 0444,
        // removed only by unlink, which keeps the mapped inode alive), so the mapping
        // cannot change under us.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err("mapping", &path))?;
        Ok(Blob { map: Some(map) })
    }

    /// Opens the blob for streaming.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        let path = self.path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ContentError::NotFound(digest.clone()),
            _ => io_err("opening", &path)(e),
        })
    }

    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let path = self.path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err("stat", &path)(e)),
        }
    }

    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err("removing", &path)(e)),
        }
    }

    /// Every stored blob, sorted.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        digests_named_in(&self.blobs).map_err(io_err("listing", &self.blobs))
    }
}

/// A blob being written: bytes go to a temporary file while they are hashed. Nothing is
/// visible until [`BlobWriter::commit`]; dropping the writer without committing removes the
/// temporary file.
pub struct BlobWriter<'a> {
    store: &'a ContentStore,
    tmp: Option<PathBuf>,
    file: File,
    /// None for an [`ContentStore::unhashed_writer`].
    hasher: Option<Sha256>,
    size: u64,
    /// How much of the start of the blob has been handed to writeback.
    written_back: u64,
}

impl BlobWriter<'_> {
    fn tmp_path(&self) -> &Path {
        self.tmp
            .as_deref()
            .expect("temporary path is present until commit")
    }

    /// Appends `bytes`, with an error that names the temporary file.
    pub fn write_chunk(&mut self, bytes: &[u8]) -> Result<(), ContentError> {
        self.write_all(bytes)
            .map_err(|e| io_err("writing", self.tmp_path())(e))
    }

    /// Starts writing what was written since the last call to disk, without waiting.
    fn start_writeback(&mut self) {
        let (offset, len) = (self.written_back, self.size - self.written_back);
        // SAFETY: sync_file_range only reads its arguments, and the descriptor is open.
        // Its result is ignored: it is only a head start for commit's fsync, which waits
        // for the same pages and reports any error writing them.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.written_back = self.size;
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The sha256 of the bytes written so far; None for an unhashed writer.
    pub fn digest(&self) -> Option<Digest> {
        self.hasher
            .as_ref()
            .map(|hasher| Digest::from_sha256_bytes(&hasher.clone().finalize().into()))
    }

    /// Checks the digest, makes the data durable and moves it into place. An unhashed
    /// writer takes `expected` as the digest of what it wrote, and needs one.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<Descriptor, ContentError> {
        let digest = match (self.digest(), expected) {
            (Some(actual), Some(expected)) if actual != *expected => {
                return Err(ContentError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
            (Some(actual), _) => actual,
            (None, Some(expected)) => expected.clone(),
            (None, None) => return Err(ContentError::Unhashed(self.tmp_path().to_path_buf())),
        };
        let descriptor = Descriptor {
            digest,
            size: self.size,
        };
        let dest = self.store.path(&descriptor.digest);
        if dest.is_file() {
            // Same digest, same bytes: the existing blob is kept; Drop removes ours.
            return Ok(descriptor);
        }
        let tmp = self.tmp_path().to_path_buf();
        self.file.sync_all().map_err(io_err("syncing", &tmp))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o444))
            .map_err(io_err("setting mode of", &tmp))?;
        fs::rename(&tmp, &dest).map_err(io_err("renaming into place", &dest))?;
        self.tmp = None;
        sync_dir(&self.store.blobs).map_err(|e| io_err("syncing", &self.store.blobs)(e))?;
        Ok(descriptor)
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.size += n as u64;
        if self.size - self.written_back >= WRITEBACK_STEP {
            self.start_writeback();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// A read-only view of a stored blob.
pub struct Blob {
    /// None for an empty blob, which cannot be mapped.
    map: Option<Mmap>,
}

impl Blob {
    /// The blob's blake3 hash: a fast content identity for deduplicating files across
    /// layers, not a substitute for the sha256 address.
    pub fn blake3(&self) -> blake3::Hash {
        blake3::hash(self)
    }
}

impl Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        (dir, store)
    }

    fn ingest_entries(store: &ContentStore) -> usize {
        fs::read_dir(&store.ingest).unwrap().count()
    }

    #[test]
    fn an_unhashed_blob_is_stored_under_the_digest_its_writer_is_given() {
        let (_dir, store) = store();
        let mut writer = store.unhashed_writer().unwrap();
        writer.write_chunk(b"hello").unwrap();
        assert_eq!(writer.digest(), None);
        assert!(matches!(
            writer.commit(None),
            Err(ContentError::Unhashed(_))
        ));
        assert_eq!(ingest_entries(&store), 0);
        let digest = Digest::of_bytes(b"hello");
        let mut writer = store.unhashed_writer().unwrap();
        writer.write_chunk(b"hello").unwrap();
        assert_eq!(writer.commit(Some(&digest)).unwrap().size, 5);
        assert_eq!(&*store.read(&digest).unwrap(), b"hello");
    }

    #[test]
    fn put_read_list_delete() {
        let (_dir, store) = store();
        let desc = store.put(b"hello").unwrap();
        assert_eq!(desc.digest, Digest::of_bytes(b"hello"));
        assert_eq!(desc.size, 5);
        assert!(store.contains(&desc.digest));
        assert_eq!(&*store.read(&desc.digest).unwrap(), b"hello");
        assert_eq!(store.size(&desc.digest).unwrap(), 5);
        let mut text = String::new();
        store
            .open_blob(&desc.digest)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello");
        assert_eq!(store.list().unwrap(), vec![desc.digest.clone()]);
        assert_eq!(
            store.read(&desc.digest).unwrap().blake3(),
            blake3::hash(b"hello")
        );
        // A second ingest of the same bytes is a no-op.
        assert_eq!(store.put(b"hello").unwrap(), desc);
        store.delete(&desc.digest).unwrap();
        assert!(!store.contains(&desc.digest));
        assert!(matches!(
            store.read(&desc.digest),
            Err(ContentError::NotFound(_))
        ));
        assert!(matches!(
            store.delete(&desc.digest),
            Err(ContentError::NotFound(_))
        ));
        assert_eq!(ingest_entries(&store), 0);
    }

    #[test]
    fn empty_blob_reads_as_empty() {
        let (_dir, store) = store();
        let desc = store.put(b"").unwrap();
        assert_eq!(desc.size, 0);
        assert!(store.read(&desc.digest).unwrap().is_empty());
    }

    #[test]
    fn digest_mismatch_stores_nothing() {
        let (_dir, store) = store();
        let wrong = Digest::of_bytes(b"something else");
        let err = store.ingest(&b"hello"[..], Some(&wrong)).unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        assert!(store.list().unwrap().is_empty());
        assert_eq!(ingest_entries(&store), 0);
    }

    #[test]
    fn failing_source_stores_nothing() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut short"));
                }
                self.0 -= 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        let (_dir, store) = store();
        let err = store.ingest(Broken(3), None).unwrap_err();
        assert!(matches!(err, ContentError::Source(_)), "{err}");
        assert!(store.list().unwrap().is_empty());
        assert_eq!(ingest_entries(&store), 0);
    }

    #[test]
    fn open_removes_leftover_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let mut writer = store.writer().unwrap();
        writer.write_chunk(b"partial").unwrap();
        // Simulate a crash: the writer never runs its Drop.
        std::mem::forget(writer);
        assert_eq!(ingest_entries(&store), 1);
        let store = ContentStore::open(dir.path()).unwrap();
        assert_eq!(ingest_entries(&store), 0);
        assert!(store.list().unwrap().is_empty());
    }
}
