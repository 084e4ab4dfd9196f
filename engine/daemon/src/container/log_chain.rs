//! Reading a log that may have rotated ([`super::log_files`]): one [`LogReader`] per file,
//! oldest first, each opened once, so a rotation that renames a file under a reader changes
//! nothing for it. Only the newest file grows; the older ones are read to their end. `tail`
//! counts back from the newest file into the older ones. Files are told apart by their
//! identity ([`FileId`]), which survives renames and compression, so a follower that
//! catches up after rotations takes exactly the files that came after the one it held.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::Error;
use super::log_files::{self, FileId, LogFile};
use super::logs::{Chunk, LogReader, ReadOptions};
use super::output::LogProgress;

/// How often a listing is taken again when a rotation changed the files under it, or when
/// the writer is past the file it last reported; with the pause, about a second in all.
const ATTEMPTS: usize = 200;
const PAUSE: Duration = Duration::from_millis(5);

pub struct ChainReader {
    path: PathBuf,
    options: ReadOptions,
    tty: bool,
    readers: VecDeque<LogReader>,
    /// The newest file held.
    newest: FileId,
}

fn read_error(path: &Path, err: std::io::Error) -> Error {
    Error::internal(format!("reading log {}: {err}", path.display()))
}

/// The log's files that exist, oldest first, with their identities.
fn listing(path: &Path) -> Result<Vec<(FileId, LogFile)>, Error> {
    log_files::identified(path).map_err(|err| read_error(path, err))
}

impl ChainReader {
    /// Opens every file of the log at `path`. `progress` is the writer's, while the
    /// container's output is being written: the files past the one it names are not its
    /// yet, and `tail` counts entries up to what it reports written. `None` when the
    /// container has never written a log.
    pub fn open(
        path: &Path,
        options: &ReadOptions,
        tty: bool,
        progress: impl Fn() -> Option<LogProgress>,
    ) -> Result<Option<ChainReader>, Error> {
        let whole = ReadOptions {
            tail: None,
            ..options.clone()
        };
        for _ in 0..ATTEMPTS {
            let now = progress();
            let mut listed = listing(path)?;
            if let Some(now) = now.filter(|now| now.file != FileId::default()) {
                let Some(at) = listed.iter().rposition(|(id, _)| *id == now.file) else {
                    // The writer is past the file it last reported; it reports again soon.
                    std::thread::sleep(PAUSE);
                    continue;
                };
                listed.truncate(at + 1);
            }
            let Some(newest) = listed.last().map(|(id, _)| *id) else {
                return Ok(None);
            };
            let Some(readers) = open_listed(&listed, &whole, tty)? else {
                continue;
            };
            let mut chain = ChainReader {
                path: path.to_path_buf(),
                options: whole,
                tty,
                readers,
                newest,
            };
            if let Some(count) = options.tail {
                let end = match now {
                    Some(now) => chain.limit(&now)?,
                    None => chain.file_len()?,
                };
                chain.start_at_tail(end, count)?;
            }
            return Ok(Some(chain));
        }
        Err(busy(path))
    }

    /// Starts each reader so that the last `count` entries are read, counting back from
    /// `end` in the newest file.
    fn start_at_tail(&mut self, end: u64, mut count: usize) -> Result<(), Error> {
        let newest = self.readers.len().saturating_sub(1);
        let mut keep_from = 0;
        for (index, held) in self.readers.iter_mut().enumerate().rev() {
            let end = if index == newest {
                end
            } else {
                held.file_len()?
            };
            let found = held.start_at_tail(end, count)?;
            if found >= count {
                keep_from = index;
                break;
            }
            count -= found;
        }
        self.readers.drain(..keep_from);
        Ok(())
    }

    /// How far the newest file held can be read, given the writer's progress: to what it
    /// reports written when that is the file it writes, else to its end, for the writer
    /// has moved on from it.
    pub fn limit(&self, now: &LogProgress) -> Result<u64, Error> {
        if now.file == FileId::default() || now.file == self.newest {
            Ok(now.written)
        } else {
            self.file_len()
        }
    }

    /// The writer writes a file newer than those held.
    pub fn lags(&self, now: &LogProgress) -> bool {
        now.file != FileId::default() && now.file != self.newest
    }

    /// The newest file's length.
    pub fn file_len(&self) -> Result<u64, Error> {
        match self.readers.back() {
            Some(held) => held.file_len(),
            None => Ok(0),
        }
    }

    /// Reads on: the older files to their end, the newest up to `limit`.
    pub fn read_chunk(&mut self, limit: u64) -> Result<Chunk, Error> {
        loop {
            let newest = self.readers.len() <= 1;
            let Some(front) = self.readers.front_mut() else {
                return Ok(Chunk {
                    output: Vec::new(),
                    caught_up: true,
                    stopped: false,
                });
            };
            let front_limit = if newest { limit } else { front.file_len()? };
            let chunk = front.read_chunk(front_limit)?;
            if newest || chunk.stopped || !chunk.caught_up {
                return Ok(chunk);
            }
            self.readers.pop_front();
            if !chunk.output.is_empty() {
                return Ok(Chunk {
                    caught_up: false,
                    ..chunk
                });
            }
        }
    }

    /// Takes in the files that came after the newest one held, up to `target`, the one the
    /// writer reports writing. False when `target` is not among the files (it is being
    /// renamed, or the writer is already past it): the next report will tell.
    pub fn follow(&mut self, target: FileId) -> Result<bool, Error> {
        for _ in 0..ATTEMPTS {
            let listed = listing(&self.path)?;
            let Some(at) = listed.iter().rposition(|(id, _)| *id == target) else {
                return Ok(false);
            };
            // A held file no longer listed was rotated away: all that is listed is newer.
            let start = listed
                .iter()
                .rposition(|(id, _)| *id == self.newest)
                .map_or(0, |held| held + 1);
            if start > at {
                return Ok(false);
            }
            let Some(opened) = open_listed(&listed[start..=at], &self.options, self.tty)? else {
                continue;
            };
            self.readers.extend(opened);
            self.newest = target;
            return Ok(true);
        }
        Err(busy(&self.path))
    }
}

fn busy(path: &Path) -> Error {
    Error::internal(format!(
        "reading log {}: its files kept changing while they were opened",
        path.display()
    ))
}

/// Opens the listed files; `None` when a rotation changed them meanwhile (a file is gone
/// or another file has its name now), so that the caller lists them again.
fn open_listed(
    listed: &[(FileId, LogFile)],
    options: &ReadOptions,
    tty: bool,
) -> Result<Option<VecDeque<LogReader>>, Error> {
    let mut held = VecDeque::new();
    for (_, file) in listed {
        let Some(opened) = file.open().map_err(|err| read_error(&file.path, err))? else {
            return Ok(None);
        };
        held.push_back(LogReader::with_file(&file.path, opened, options, tty));
    }
    for (id, file) in listed {
        if file.id().map_err(|err| read_error(&file.path, err))? != Some(*id) {
            return Ok(None);
        }
    }
    Ok(Some(held))
}

#[cfg(test)]
#[path = "log_chain_tests.rs"]
mod tests;
