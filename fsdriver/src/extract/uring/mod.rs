//! The io_uring extractor: the same entries as the reference extractor, applied by two
//! threads in a pipeline.
//!
//! - The calling thread reads the stream (decompressing it, if the reader does), hashes it
//!   and parses the tar, packing entries and file content into [`Batch`]es of reusable
//!   buffers.
//! - A writer thread ([`writer`]) creates regular files and symlinks through io_uring:
//!   each small file is one linked chain `openat` (into a direct descriptor) → `write` →
//!   `close`, submitted with many others in one `io_uring_enter`, so the kernel's workers
//!   create files while the reading thread decompresses the next ones. Everything else
//!   (directories, hard links, devices, whiteouts) goes through the reference's own
//!   functions, in order; so do the creation and metadata of files larger than a batch or
//!   with xattrs, whose content is still written through io_uring.
//!
//! Batches travel over two bounded channels: full ones to the writer, empty ones back once
//! the kernel is done with their buffers, so memory stays bounded whatever the layer size.
//! Parents are resolved exactly as the reference does (`openat2(RESOLVE_IN_ROOT)`); what the
//! writer adds is a cache of those resolutions, forgotten whenever the tree changes in a way
//! that could alter one.

mod executor;
mod writer;

use std::io::{self, Read};
use std::path::Path;
use std::sync::OnceLock;
use std::thread;

use crossbeam::channel::{self, Receiver, Sender};

use super::archive::{self, Action, Content, Node, Planned, Summary};
use super::tree::Tree;
use super::{ExtractError, ExtractLimits, Extracted};

/// Bytes of file content per batch: files that fit are written from one buffer.
const BATCH_BYTES: usize = 1 << 20;
/// Entries per batch, so directories of tiny files still flow in steps.
const BATCH_ITEMS: usize = 1024;
/// Batches in circulation between the two threads.
const BATCHES: usize = 8;

/// Why the io_uring extractor cannot run here.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(String);

/// Whether this kernel (and any seccomp filter around us) offers what the io_uring
/// extractor needs. Probed once per process, by setting up a writer in a scratch thread.
pub fn available() -> Result<(), Unavailable> {
    static PROBE: OnceLock<Result<(), Unavailable>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            thread::spawn(writer::probe)
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the probe panicked")))
                .map_err(|e| Unavailable(e.to_string()))
        })
        .clone()
}

/// Extracts the uncompressed tar `reader` into the existing directory `dest`, like
/// [`super::extract`] and with the same results, through io_uring.
pub fn extract(
    reader: impl Read,
    dest: &Path,
    limits: &ExtractLimits,
) -> Result<Extracted, ExtractError> {
    let tree = Tree::open(dest)?;
    let (full_tx, full_rx) = channel::bounded::<Batch>(BATCHES);
    let (empty_tx, empty_rx) = channel::bounded::<Batch>(BATCHES);
    let (read, written) = thread::scope(|scope| {
        let writer = thread::Builder::new()
            .name("layer-writer".into())
            .spawn_scoped(scope, move || writer::run(tree, full_rx, empty_tx))
            .map_err(|e| ExtractError::Io {
                op: "starting the io_uring writer for",
                path: dest.to_path_buf(),
                source: e,
            })?;
        let mut batcher = Batcher {
            current: Batch::new(),
            full: full_tx,
            empty: empty_rx,
            allocated: 1,
        };
        let read = archive::read_archive(reader, limits, |planned, content| {
            batcher.add(planned, content)
        })
        .and_then(|summary| batcher.ship().map(|()| summary));
        // Hanging up tells the writer there is nothing more.
        drop(batcher);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok::<_, ExtractError>((read, written))
    })?;
    // The writer only ever fails on an entry the reader handed over earlier, so its error
    // comes first; a reader error with a successful writer is the reader's own.
    written?;
    let summary: Summary = read?;
    Ok(Extracted {
        diff_id: summary.diff_id,
        size: summary.size,
        entries: summary.entries,
    })
}

/// Entries, and the content of their regular files, handed from the reader to the writer.
struct Batch {
    items: Vec<Item>,
    data: Box<[u8]>,
    used: usize,
}

enum Item {
    Entry(Planned),
    /// More content of the latest regular file: `data[start..end]`.
    Content {
        start: usize,
        end: usize,
    },
    /// The latest regular file is complete.
    EndOfFile,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            items: Vec::with_capacity(BATCH_ITEMS),
            data: vec![0u8; BATCH_BYTES].into_boxed_slice(),
            used: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn room(&self) -> usize {
        self.data.len() - self.used
    }
}

/// The reader's side: fills batches and ships them.
struct Batcher {
    current: Batch,
    full: Sender<Batch>,
    empty: Receiver<Batch>,
    allocated: usize,
}

impl Batcher {
    fn add(&mut self, planned: Planned, content: &mut Content<'_>) -> Result<(), ExtractError> {
        let regular = matches!(
            planned.action,
            Action::Create {
                node: Node::Regular,
                ..
            }
        );
        if regular {
            // A file that fits in a batch is kept in one, so it can be written in one go.
            let wanted = usize::try_from(content.size_hint)
                .unwrap_or(usize::MAX)
                .min(BATCH_BYTES);
            if self.current.room() < wanted {
                self.ship()?;
            }
        }
        self.current.items.push(Item::Entry(planned));
        if regular {
            let mut start = self.current.used;
            loop {
                if self.current.room() == 0 {
                    let end = self.current.used;
                    if end > start {
                        self.current.items.push(Item::Content { start, end });
                    }
                    self.ship()?;
                    start = 0;
                }
                let used = self.current.used;
                let n = content.read(&mut self.current.data[used..])?;
                if n == 0 {
                    break;
                }
                self.current.used += n;
            }
            let end = self.current.used;
            if end > start {
                self.current.items.push(Item::Content { start, end });
            }
            self.current.items.push(Item::EndOfFile);
        }
        if self.current.items.len() >= BATCH_ITEMS {
            self.ship()?;
        }
        Ok(())
    }

    /// Sends the current batch (if it holds anything) and starts another.
    fn ship(&mut self) -> Result<(), ExtractError> {
        if self.current.is_empty() {
            return Ok(());
        }
        let next = match self.empty.try_recv() {
            Ok(batch) => batch,
            Err(_) if self.allocated < BATCHES => {
                self.allocated += 1;
                Batch::new()
            }
            Err(_) => self.empty.recv().map_err(|_| writer_gone())?,
        };
        let full = std::mem::replace(&mut self.current, next);
        self.full.send(full).map_err(|_| writer_gone())
    }
}

/// The writer stopped early, which it only does on an error it reports itself.
fn writer_gone() -> ExtractError {
    ExtractError::Io {
        op: "handing entries to the io_uring writer",
        path: Default::default(),
        source: io::Error::other("the writer stopped"),
    }
}
