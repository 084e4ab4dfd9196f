//! The writer thread: applies batches of entries in order, submitting regular files and
//! symlinks to io_uring and doing the rest with the reference's functions.
//!
//! Entries whose effects the kernel may still be producing are "in flight". Order is kept
//! by three rules, each of which waits for everything in flight (a flush) when it applies:
//! - a name is never touched while an operation on it is in flight;
//! - a name that already exists is replaced only once nothing is in flight (it may be a
//!   directory with in-flight files inside);
//! - a parent directory that does not resolve yet is resolved again (and created) only once
//!   nothing is in flight (the path may run through a symlink or file still being
//!   created), and hard links, whose target may be anything in flight, are made only then.
//!
//! A regular file that fits in one batch is created with its final mode (the writer thread
//! has its own umask of 0, which the kernel's io_uring workers share; the first such file
//! is checked, and if it did not get that mode and our owner, every later file is fixed
//! explicitly), written and closed by one linked chain; its owner, setuid/setgid bits and
//! times are then fixed by name, which is safe because the name is a direct child of a
//! confined directory and nothing else touches it while it is in flight. Larger files and files with xattrs are created
//! with the reference's `create_file`, written by io_uring through that descriptor and
//! finished with the reference's `finish_file`.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;

use crossbeam::channel::{Receiver, Sender, TryRecvError};
use io_uring::{opcode, squeue, types};
use rustix::fs::{AtFlags, Mode};
use rustix::io::Errno;

use super::executor::Executor;
use super::{Batch, Item};
use crate::extract::archive::{Action, Components, Metadata, Node, Planned};
use crate::extract::tree::{child, DirTimes, Failure, Op, Tree};
use crate::extract::ExtractError;

/// Submission queue entries; the completion queue is four times larger.
const RING_ENTRIES: u32 = 256;
/// Direct descriptors: at most this many small files are in flight at once.
const FIXED_FILES: usize = 256;
/// Resolved directories kept open at most; the cache starts over when it is full.
const DIR_CACHE: usize = 1024;
const POSIX_ACL_DEFAULT: &str = "system.posix_acl_default";

/// Sets up a writer (its own umask, a ring) and drops it: whether extraction can run here.
pub(super) fn probe() -> io::Result<()> {
    setup(&Budget::from_limit()).map(drop)
}

/// The writer thread's own file-system context, then its ring. The kernel's io_uring
/// workers are created from this thread and share its context, umask included.
fn setup(budget: &Budget) -> io::Result<Executor> {
    // SAFETY: only the file-system context (cwd, root, umask) is unshared, not the
    // descriptor table.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }?;
    rustix::process::umask(Mode::empty());
    Executor::new(RING_ENTRIES, budget.fixed_files as u32)
}

/// How many descriptors a writer holds at most: direct descriptors (the kernel counts
/// them against the limit too) and cached directories, both within a share of what the
/// process may open, since other extractions and the daemon need theirs.
struct Budget {
    fixed_files: usize,
    dirs: usize,
}

impl Budget {
    fn from_limit() -> Budget {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let share = |fraction: u64, most: usize| {
            limit
                .map_or(most as u64, |n| n / fraction)
                .clamp(8, most as u64) as usize
        };
        Budget {
            fixed_files: share(8, FIXED_FILES),
            dirs: share(8, DIR_CACHE),
        }
    }
}

/// Applies every batch from `full`, handing emptied batches back through `empty`.
pub(super) fn run(
    tree: Tree<'_>,
    full: Receiver<Batch>,
    empty: Sender<Batch>,
) -> Result<(), ExtractError> {
    let budget = Budget::from_limit();
    let exec = setup(&budget).map_err(|e| tree.io("setting up io_uring for", &[], e))?;
    let mut writer = Writer {
        euid: rustix::process::geteuid().as_raw(),
        egid: rustix::process::getegid().as_raw(),
        tree,
        exec,
        dirs: HashMap::new(),
        dirs_generation: 0,
        busy_names: HashSet::new(),
        ops: Slab::default(),
        files: Slab::default(),
        slots: (0..budget.fixed_files as u32).rev().collect(),
        batches: Slab::default(),
        current: None,
        dir_times: Vec::new(),
        completions: Vec::new(),
        failed: false,
        creation_verified: false,
        force_fixes: false,
        dir_cache: budget.dirs,
        empty,
    };
    let result = writer.apply_all(&full);
    // Stop the reader at once if we failed; then let the kernel finish with our buffers.
    drop(full);
    let drained = writer.drain();
    result?;
    drained?;
    writer.tree.apply_dir_times(&writer.dir_times)
}

/// A resolved directory, kept open while entries are created in it.
struct Dir {
    fd: OwnedFd,
    path: Components,
    ino: u64,
    /// What a node created in it gets without being told.
    inherit: Inherit,
}

/// What a node created in a directory gets: our uid, and
#[derive(Clone, Copy, PartialEq, Eq)]
struct Inherit {
    /// this group, if known: the directory's if it is setgid, else ours, unless the
    /// directory's group differs from ours (a `grpid` mount gives it the directory's);
    gid: Option<u32>,
    /// exactly the mode asked for, unless a default ACL shapes it.
    exact_mode: bool,
}

impl Dir {
    fn new(fd: OwnedFd, path: Components, egid: u32) -> Result<Dir, Failure> {
        let stat = rustix::fs::fstat(&fd).op("stat")?;
        let gid = if Mode::from_raw_mode(stat.st_mode).contains(Mode::SGID) || stat.st_gid == egid {
            Some(stat.st_gid)
        } else {
            None
        };
        let exact_mode = matches!(
            rustix::fs::fgetxattr_query(&fd, POSIX_ACL_DEFAULT),
            Err(Errno::NODATA | Errno::OPNOTSUPP)
        );
        Ok(Dir {
            fd,
            path,
            ino: stat.st_ino,
            inherit: Inherit { gid, exact_mode },
        })
    }
}

/// A regular file being written.
struct File {
    dir: Rc<Dir>,
    leaf: CString,
    raw_path: Vec<u8>,
    meta: Metadata,
    target: Target,
    /// Where the next content goes.
    offset: u64,
    /// Writes submitted and not yet complete.
    writes: usize,
    ended: bool,
}

enum Target {
    /// Nothing submitted yet: the content seen so far, all in the current batch.
    Gathering {
        batch: usize,
        pieces: Vec<(usize, usize)>,
    },
    /// A linked open → writes → close chain on a direct descriptor.
    Slot { slot: u32, close: Close },
    /// Created with the reference's `create_file`; written through this descriptor.
    Descriptor(OwnedFd),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Close {
    /// Linked at the end of the chain: it runs once the writes are done.
    Linked,
    /// The chain broke (a short write): to be submitted once the writes are done.
    Needed,
    Submitted,
}

/// What a submitted entry was for, found again by its `user_data`.
enum Pending {
    Open {
        file: usize,
    },
    Write {
        file: usize,
        batch: usize,
        start: usize,
        end: usize,
        offset: u64,
    },
    Close {
        file: usize,
    },
    Symlink(Box<Symlink>),
}

struct Symlink {
    dir: Rc<Dir>,
    leaf: CString,
    target: CString,
    raw_path: Vec<u8>,
    meta: Metadata,
}

/// A batch whose buffer in-flight writes still read from.
struct Held {
    batch: Batch,
    writes: usize,
    dispatched: bool,
}

struct Writer<'t> {
    tree: Tree<'t>,
    exec: Executor,
    euid: u32,
    egid: u32,
    /// Resolved parents by path; valid while the tree's generation is `dirs_generation`.
    dirs: HashMap<Components, Rc<Dir>>,
    dirs_generation: u64,
    /// Names with an operation in flight, by directory inode.
    busy_names: HashSet<(u64, Vec<u8>)>,
    ops: Slab<Pending>,
    files: Slab<File>,
    slots: Vec<u32>,
    batches: Slab<Held>,
    /// The regular file whose content the next items carry.
    current: Option<usize>,
    dir_times: Vec<DirTimes>,
    completions: Vec<(u64, i32)>,
    /// Set once an error is reported: completions are then only reaped.
    failed: bool,
    /// See [`Writer::verify_creation`].
    creation_verified: bool,
    force_fixes: bool,
    /// Resolved directories kept open at most.
    dir_cache: usize,
    empty: Sender<Batch>,
}

impl Writer<'_> {
    fn apply_all(&mut self, full: &Receiver<Batch>) -> Result<(), ExtractError> {
        while let Some(batch) = self.next_batch(full)? {
            self.dispatch(batch)?;
            self.exec.submit().map_err(|e| self.ring_error(e))?;
        }
        self.flush()
    }

    /// The next batch, reaping completions while waiting for it; None once the reader is
    /// done.
    fn next_batch(&mut self, full: &Receiver<Batch>) -> Result<Option<Batch>, ExtractError> {
        loop {
            match full.try_recv() {
                Ok(batch) => return Ok(Some(batch)),
                Err(TryRecvError::Disconnected) => return Ok(None),
                Err(TryRecvError::Empty) => {}
            }
            if self.exec.in_flight() == 0 {
                return Ok(full.recv().ok());
            }
            self.reap()?;
        }
    }

    fn dispatch(&mut self, batch: Batch) -> Result<(), ExtractError> {
        let id = self.batches.insert(Held {
            batch,
            writes: 0,
            dispatched: false,
        });
        let mut items = std::mem::take(&mut self.batches.get_mut(id).batch.items);
        for item in items.drain(..) {
            match item {
                Item::Entry(planned) => self.entry(id, planned)?,
                Item::Content { start, end } => self.content(id, start, end)?,
                Item::EndOfFile => self.end_of_file()?,
            }
        }
        // A file whose content goes on in the next batch cannot be one chain.
        if let Some(file) = self.current {
            if matches!(self.files.get(file).target, Target::Gathering { .. }) {
                self.write_through_descriptor(file)?;
            }
        }
        let held = self.batches.get_mut(id);
        held.batch.items = items;
        held.dispatched = true;
        self.release_batch(id);
        Ok(())
    }

    fn entry(&mut self, batch: usize, planned: Planned) -> Result<(), ExtractError> {
        let Planned { raw_path, action } = planned;
        match action {
            Action::Create {
                parent,
                leaf,
                node: Node::Regular,
                meta,
            } => {
                let dir = self.dir(&parent, &raw_path)?;
                self.make_room(&dir, &leaf, &raw_path)?;
                let leaf = self.c_name(&dir, leaf, &raw_path)?;
                self.busy_names.insert((dir.ino, leaf.as_bytes().to_vec()));
                let with_xattrs = !meta.xattrs.is_empty();
                let file = self.files.insert(File {
                    dir,
                    leaf,
                    raw_path,
                    meta,
                    target: Target::Gathering {
                        batch,
                        pieces: Vec::new(),
                    },
                    offset: 0,
                    writes: 0,
                    ended: false,
                });
                self.current = Some(file);
                if with_xattrs {
                    // xattrs are set through a descriptor, as the reference does.
                    self.write_through_descriptor(file)?;
                }
                Ok(())
            }
            Action::Create {
                parent,
                leaf,
                node: Node::Symlink { target },
                meta,
            } if meta.xattrs.is_empty() => {
                let dir = self.dir(&parent, &raw_path)?;
                self.make_room(&dir, &leaf, &raw_path)?;
                let leaf = self.c_name(&dir, leaf, &raw_path)?;
                let target = self.c_name(&dir, target, &raw_path)?;
                self.busy_names.insert((dir.ino, leaf.as_bytes().to_vec()));
                self.symlink(Symlink {
                    dir,
                    leaf,
                    target,
                    raw_path,
                    meta,
                })
            }
            Action::Create {
                parent,
                leaf,
                node: Node::Directory,
                meta,
            } => {
                let dir = self.dir(&parent, &raw_path)?;
                let exists =
                    rustix::fs::statat(&dir.fd, leaf.as_slice(), AtFlags::SYMLINK_NOFOLLOW).is_ok();
                if exists || self.busy_names.contains(&(dir.ino, leaf.clone())) {
                    // An existing directory gets its metadata again, which changes what
                    // entries in flight inside it inherit.
                    self.flush()?;
                }
                let path = child(&parent, &leaf);
                let opened = self
                    .tree
                    .directory(dir.fd.as_fd(), &leaf, &meta)
                    .and_then(|fd| Dir::new(fd, path.clone(), self.egid))
                    .map_err(|f| self.tree.classify(f, &path, &raw_path))?;
                self.dir_times.push((path.clone(), meta.times));
                self.forget_dirs_if_stale();
                self.cache_dir(path, opened);
                Ok(())
            }
            Action::Create {
                node: Node::HardLink { .. },
                ..
            } => {
                // The target may be anything still in flight.
                self.flush()?;
                self.apply_in_place(Planned { raw_path, action })
            }
            Action::Create {
                ref parent,
                ref leaf,
                ..
            }
            | Action::Whiteout {
                ref parent,
                hidden: ref leaf,
                ..
            } => {
                let dir = self.dir(parent, &raw_path)?;
                self.make_room(&dir, leaf, &raw_path)?;
                self.apply_in_place(Planned { raw_path, action })
            }
            Action::Root(_) => {
                // As for an existing directory: what entries in flight inherit changes.
                self.flush()?;
                self.apply_in_place(Planned { raw_path, action })
            }
            Action::Parent { .. } | Action::Opaque { .. } => {
                self.apply_in_place(Planned { raw_path, action })
            }
        }
    }

    /// Applies an entry with the reference's functions, its directory resolved through the
    /// cache.
    fn apply_in_place(&mut self, planned: Planned) -> Result<(), ExtractError> {
        let dir_path = planned.action.dir().to_vec();
        let dir = self.dir(&dir_path, &planned.raw_path)?;
        let times = self.tree.apply_in(dir.fd.as_fd(), &dir_path, planned)?;
        self.dir_times.extend(times);
        self.forget_dirs_if_stale();
        Ok(())
    }

    fn content(&mut self, batch: usize, start: usize, end: usize) -> Result<(), ExtractError> {
        let file = self.current.expect("content follows its file's entry");
        match &mut self.files.get_mut(file).target {
            Target::Gathering { pieces, .. } => {
                pieces.push((start, end));
                Ok(())
            }
            Target::Descriptor(_) => self.write(file, batch, start, end),
            Target::Slot { .. } => unreachable!("a chain is only submitted at its end"),
        }
    }

    fn end_of_file(&mut self) -> Result<(), ExtractError> {
        let file = self.current.take().expect("a file ends after its entry");
        let f = self.files.get_mut(file);
        f.ended = true;
        match &f.target {
            Target::Gathering { .. } => self.submit_chain(file),
            Target::Descriptor(_) => self.finish_if_written(file),
            Target::Slot { .. } => unreachable!("a chain is only submitted at its end"),
        }
    }

    /// Submits a whole small file: open into a direct descriptor, write, close, linked.
    fn submit_chain(&mut self, file: usize) -> Result<(), ExtractError> {
        let Target::Gathering { batch, pieces } = std::mem::replace(
            &mut self.files.get_mut(file).target,
            Target::Slot {
                slot: 0,
                close: Close::Linked,
            },
        ) else {
            unreachable!("only a gathering file is submitted as a chain")
        };
        let slot = self.take_slot()?;
        self.make_ring_room(pieces.len() + 2)?;
        let f = self.files.get_mut(file);
        f.target = Target::Slot {
            slot,
            close: Close::Linked,
        };
        let mode = f.meta.mode.bits() as libc::mode_t;
        let open = opcode::OpenAt::new(types::Fd(f.dir.fd.as_raw_fd()), f.leaf.as_ptr())
            .file_index(Some(
                types::DestinationSlot::try_from_slot_target(slot).expect("slot is in range"),
            ))
            .flags(libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW)
            .mode(mode)
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(self.ops.insert(Pending::Open { file }) as u64);
        let mut chain = vec![open];
        for (start, end) in pieces {
            let offset = self.files.get(file).offset;
            self.files.get_mut(file).offset += (end - start) as u64;
            self.files.get_mut(file).writes += 1;
            self.batches.get_mut(batch).writes += 1;
            let entry = self
                .write_entry(file, batch, start, end, offset)
                .flags(squeue::Flags::IO_LINK);
            chain.push(entry);
        }
        let close = opcode::Close::new(types::Fixed(slot))
            .build()
            .user_data(self.ops.insert(Pending::Close { file }) as u64);
        chain.push(close);
        // SAFETY: the path and descriptor live in `self.files[file]`, the data in
        // `self.batches[batch]`, until the completions are reaped; room was made above.
        unsafe { self.exec.push(&chain) }.map_err(|e| self.ring_error(e))
    }

    /// Submits one write of `batch.data[start..end]` at the file's current offset.
    fn write(
        &mut self,
        file: usize,
        batch: usize,
        start: usize,
        end: usize,
    ) -> Result<(), ExtractError> {
        let offset = self.files.get(file).offset;
        self.files.get_mut(file).offset += (end - start) as u64;
        self.submit_write(file, batch, start, end, offset)
    }

    fn submit_write(
        &mut self,
        file: usize,
        batch: usize,
        start: usize,
        end: usize,
        offset: u64,
    ) -> Result<(), ExtractError> {
        self.make_ring_room(1)?;
        self.files.get_mut(file).writes += 1;
        self.batches.get_mut(batch).writes += 1;
        let entry = self.write_entry(file, batch, start, end, offset);
        // SAFETY: as in `submit_chain`.
        unsafe { self.exec.push(&[entry]) }.map_err(|e| self.ring_error(e))
    }

    fn write_entry(
        &mut self,
        file: usize,
        batch: usize,
        start: usize,
        end: usize,
        offset: u64,
    ) -> squeue::Entry {
        let data = &self.batches.get(batch).batch.data[start..end];
        let (ptr, len) = (data.as_ptr(), data.len() as u32);
        let entry = match &self.files.get(file).target {
            Target::Slot { slot, .. } => opcode::Write::new(types::Fixed(*slot), ptr, len),
            Target::Descriptor(fd) => opcode::Write::new(types::Fd(fd.as_raw_fd()), ptr, len),
            Target::Gathering { .. } => unreachable!("a gathering file has no descriptor yet"),
        };
        entry
            .offset(offset)
            .build()
            .user_data(self.ops.insert(Pending::Write {
                file,
                batch,
                start,
                end,
                offset,
            }) as u64)
    }

    /// Turns a gathering file into one written through its own descriptor.
    fn write_through_descriptor(&mut self, file: usize) -> Result<(), ExtractError> {
        let f = self.files.get(file);
        let fd = self
            .tree
            .create_file(f.dir.fd.as_fd(), f.leaf.as_bytes())
            .map_err(|failure| self.file_failure(file, failure))?;
        let Target::Gathering { batch, pieces } =
            std::mem::replace(&mut self.files.get_mut(file).target, Target::Descriptor(fd))
        else {
            unreachable!("only a gathering file gets a descriptor")
        };
        for (start, end) in pieces {
            self.write(file, batch, start, end)?;
        }
        Ok(())
    }

    /// Finishes a descriptor-written file once its content is complete and written.
    fn finish_if_written(&mut self, file: usize) -> Result<(), ExtractError> {
        let f = self.files.get(file);
        if !f.ended || f.writes > 0 {
            return Ok(());
        }
        let f = self.files.remove(file);
        let Target::Descriptor(fd) = &f.target else {
            unreachable!("only descriptor-written files are finished here")
        };
        let finished = self.tree.finish_file(fd.as_fd(), &f.meta);
        self.busy_names
            .remove(&(f.dir.ino, f.leaf.as_bytes().to_vec()));
        finished
            .map_err(|failure| self.classify_at(&f.dir, f.leaf.as_bytes(), &f.raw_path, failure))
    }

    fn symlink(&mut self, link: Symlink) -> Result<(), ExtractError> {
        self.make_ring_room(1)?;
        let entry = opcode::SymlinkAt::new(
            types::Fd(link.dir.fd.as_raw_fd()),
            link.target.as_ptr(),
            link.leaf.as_ptr(),
        )
        .build();
        let link = Box::new(link);
        let entry = entry.user_data(self.ops.insert(Pending::Symlink(link)) as u64);
        // SAFETY: the strings are heap allocations owned by the pending entry, which lives
        // until its completion is reaped.
        unsafe { self.exec.push(&[entry]) }.map_err(|e| self.ring_error(e))
    }

    /// Waits for at least one completion and handles all that came.
    fn reap(&mut self) -> Result<(), ExtractError> {
        let mut completions = std::mem::take(&mut self.completions);
        let waited = self.exec.wait(&mut completions);
        let mut result = waited.map_err(|e| self.ring_error(e));
        for (user_data, res) in completions.drain(..) {
            let handled = if self.failed {
                self.release(user_data as usize);
                Ok(())
            } else {
                self.complete(user_data as usize, res)
            };
            if let Err(e) = handled {
                self.failed = true;
                result = result.and(Err(e));
            }
        }
        self.completions = completions;
        result
    }

    /// Waits until nothing is in flight.
    fn flush(&mut self) -> Result<(), ExtractError> {
        while self.exec.in_flight() > 0 {
            self.reap()?;
        }
        Ok(())
    }

    /// Reaps everything in flight whatever happens, so no buffer is freed while the kernel
    /// may still read it; keeps the first error.
    fn drain(&mut self) -> Result<(), ExtractError> {
        let mut first = Ok(());
        while self.exec.in_flight() > 0 {
            if let Err(e) = self.reap() {
                if matches!(e, ExtractError::Io { op: RING_OP, .. }) {
                    // The ring itself failed: what is in flight can no longer be waited
                    // for, so its memory is never freed rather than freed too early.
                    std::mem::forget(std::mem::take(&mut self.ops));
                    std::mem::forget(std::mem::take(&mut self.batches));
                    std::mem::forget(std::mem::take(&mut self.files));
                    return Err(e);
                }
                first = first.and(Err(e));
            }
        }
        first
    }

    /// After a failure: lets go of what a completion held, without acting on it.
    fn release(&mut self, op: usize) {
        match self.ops.remove(op) {
            Pending::Write { file, batch, .. } => {
                self.files.get_mut(file).writes -= 1;
                self.batches.get_mut(batch).writes -= 1;
            }
            Pending::Open { .. } | Pending::Close { .. } | Pending::Symlink(_) => {}
        }
    }

    fn complete(&mut self, op: usize, res: i32) -> Result<(), ExtractError> {
        match self.ops.remove(op) {
            Pending::Open { file } => {
                if res < 0 {
                    return Err(self.file_failure(
                        file,
                        Failure {
                            op: "creating file",
                            errno: Errno::from_raw_os_error(-res),
                        },
                    ));
                }
                Ok(())
            }
            Pending::Write {
                file,
                batch,
                start,
                end,
                offset,
            } => self.write_done(file, batch, start, end, offset, res),
            Pending::Close { file } => self.close_done(file, res),
            Pending::Symlink(link) => {
                let key = (link.dir.ino, link.leaf.as_bytes().to_vec());
                self.busy_names.remove(&key);
                let done = if res < 0 {
                    Err(Failure {
                        op: "creating symlink",
                        errno: Errno::from_raw_os_error(-res),
                    })
                } else {
                    self.fix_symlink(&link)
                };
                done.map_err(|f| {
                    self.classify_at(&link.dir, link.leaf.as_bytes(), &link.raw_path, f)
                })
            }
        }
    }

    fn write_done(
        &mut self,
        file: usize,
        batch: usize,
        start: usize,
        end: usize,
        offset: u64,
        res: i32,
    ) -> Result<(), ExtractError> {
        let len = end - start;
        let chain_broken = res != len as i32;
        if chain_broken {
            if let Target::Slot { close, .. } = &mut self.files.get_mut(file).target {
                if *close == Close::Linked {
                    *close = Close::Needed;
                }
            }
        }
        self.files.get_mut(file).writes -= 1;
        self.batches.get_mut(batch).writes -= 1;
        match res {
            n if n == len as i32 => {}
            // Cancelled because an earlier link was short: it was not attempted.
            n if n == -libc::ECANCELED => self.submit_write(file, batch, start, end, offset)?,
            n if n > 0 => {
                let n = n as usize;
                self.submit_write(file, batch, start + n, end, offset + n as u64)?;
            }
            n => {
                let source = if n == 0 {
                    io::Error::from(io::ErrorKind::WriteZero)
                } else {
                    io::Error::from_raw_os_error(-n)
                };
                let f = self.files.get(file);
                return Err(self.tree.io(
                    "writing",
                    &child(&f.dir.path, f.leaf.as_bytes()),
                    source,
                ));
            }
        }
        self.release_batch(batch);
        let f = self.files.get(file);
        if f.writes > 0 {
            return Ok(());
        }
        match f.target {
            Target::Slot {
                close: Close::Needed,
                slot,
            } => self.submit_close(file, slot),
            Target::Descriptor(_) => self.finish_if_written(file),
            _ => Ok(()),
        }
    }

    fn submit_close(&mut self, file: usize, slot: u32) -> Result<(), ExtractError> {
        self.make_ring_room(1)?;
        if let Target::Slot { close, .. } = &mut self.files.get_mut(file).target {
            *close = Close::Submitted;
        }
        let entry = opcode::Close::new(types::Fixed(slot))
            .build()
            .user_data(self.ops.insert(Pending::Close { file }) as u64);
        // SAFETY: closing a direct descriptor refers to no memory of ours.
        unsafe { self.exec.push(&[entry]) }.map_err(|e| self.ring_error(e))
    }

    fn close_done(&mut self, file: usize, res: i32) -> Result<(), ExtractError> {
        let Target::Slot { slot, .. } = self.files.get(file).target else {
            unreachable!("only chained files are closed by the ring")
        };
        if res == -libc::ECANCELED {
            if let Target::Slot { close, .. } = &mut self.files.get_mut(file).target {
                *close = Close::Needed;
            }
            if self.files.get(file).writes == 0 {
                return self.submit_close(file, slot);
            }
            return Ok(());
        }
        self.slots.push(slot);
        let f = self.files.remove(file);
        self.busy_names
            .remove(&(f.dir.ino, f.leaf.as_bytes().to_vec()));
        if res < 0 {
            let source = io::Error::from_raw_os_error(-res);
            return Err(self
                .tree
                .io("closing", &child(&f.dir.path, f.leaf.as_bytes()), source));
        }
        self.fix_file(&f)
            .map_err(|failure| self.classify_at(&f.dir, f.leaf.as_bytes(), &f.raw_path, failure))
    }

    /// What a node created in `dir` needs fixed: its owner, its mode.
    fn fixes(&self, dir: &Dir, meta: &Metadata) -> (bool, bool) {
        let owner = self.force_fixes || meta.uid != self.euid || dir.inherit.gid != Some(meta.gid);
        // chown clears setuid and setgid, and creation may drop setgid: always set them
        // explicitly.
        let special = meta.mode.intersects(Mode::SUID | Mode::SGID);
        (
            owner,
            self.force_fixes || special || !dir.inherit.exact_mode,
        )
    }

    /// Checks, on the first file created by a chain whose metadata needed no fixing, that
    /// creation did give it our owner and the exact mode asked for (the io_uring workers
    /// share this thread's umask of 0). If not, every later file is fixed explicitly.
    fn verify_creation(&mut self, f: &File) -> Result<(), Failure> {
        if self.creation_verified || self.fixes(&f.dir, &f.meta) != (false, false) {
            return Ok(());
        }
        self.creation_verified = true;
        let stat = rustix::fs::statat(&f.dir.fd, f.leaf.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
            .op("stat")?;
        let created = (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777);
        let wanted = (f.meta.uid, f.meta.gid, f.meta.mode.bits());
        if created != wanted {
            tracing::warn!(
                ?created,
                ?wanted,
                "files created through io_uring do not get the owner and mode asked for; \
                 setting them explicitly"
            );
            self.force_fixes = true;
        }
        Ok(())
    }

    fn fix_file(&mut self, f: &File) -> Result<(), Failure> {
        self.verify_creation(f)?;
        let (owner, mode) = self.fixes(&f.dir, &f.meta);
        if owner {
            self.chown_at(&f.dir, &f.leaf, &f.meta)?;
        }
        if mode {
            // A regular file we created with O_EXCL|O_NOFOLLOW, in a directory only we
            // write to: the name is that file.
            rustix::fs::chmodat(&f.dir.fd, f.leaf.as_c_str(), f.meta.mode, AtFlags::empty())
                .op("chmod")?;
        }
        self.set_times_at(&f.dir, &f.leaf, &f.meta)
    }

    fn fix_symlink(&self, link: &Symlink) -> Result<(), Failure> {
        // Symlinks have no mode of their own.
        if self.fixes(&link.dir, &link.meta).0 {
            self.chown_at(&link.dir, &link.leaf, &link.meta)?;
        }
        self.set_times_at(&link.dir, &link.leaf, &link.meta)
    }

    fn set_times_at(&self, dir: &Dir, leaf: &CString, meta: &Metadata) -> Result<(), Failure> {
        rustix::fs::utimensat(
            &dir.fd,
            leaf.as_c_str(),
            &meta.times,
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .op("setting times")
    }

    fn chown_at(&self, dir: &Dir, leaf: &CString, meta: &Metadata) -> Result<(), Failure> {
        rustix::fs::chownat(
            &dir.fd,
            leaf.as_c_str(),
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .op("chown")
    }

    /// The directory at `path`, from the cache or resolved from the root as the reference
    /// does (creating what is missing).
    fn dir(&mut self, path: &[Vec<u8>], raw_path: &[u8]) -> Result<Rc<Dir>, ExtractError> {
        self.forget_dirs_if_stale();
        if let Some(dir) = self.dirs.get(path) {
            return Ok(dir.clone());
        }
        // What is in flight only adds names that did not exist: a path that resolves now
        // resolves the same once they exist. A path that does not may be waiting for one.
        let fd = match self.tree.resolve(path) {
            Ok(fd) => fd,
            Err(_) => {
                self.flush()?;
                self.tree
                    .open_dir(path, true)
                    .map_err(|f| self.tree.classify(f, path, raw_path))?
            }
        };
        let dir = Dir::new(fd, path.to_vec(), self.egid)
            .map_err(|f| self.tree.classify(f, path, raw_path))?;
        Ok(self.cache_dir(path.to_vec(), dir))
    }

    fn cache_dir(&mut self, path: Components, dir: Dir) -> Rc<Dir> {
        if self.dirs.len() >= self.dir_cache {
            // Entries in flight keep their own reference to their directory.
            self.dirs.clear();
        }
        let dir = Rc::new(dir);
        self.dirs.insert(path, dir.clone());
        dir
    }

    fn forget_dirs_if_stale(&mut self) {
        if self.tree.generation() != self.dirs_generation {
            self.dirs.clear();
            self.dirs_generation = self.tree.generation();
        }
    }

    /// Makes sure nothing named `leaf` exists in `dir` and nothing in flight involves it.
    fn make_room(&mut self, dir: &Dir, leaf: &[u8], raw_path: &[u8]) -> Result<(), ExtractError> {
        if self.busy_names.contains(&(dir.ino, leaf.to_vec())) {
            self.flush()?;
        }
        match rustix::fs::statat(&dir.fd, leaf, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Ok(()),
            Err(errno) => Err(self.classify_at(dir, leaf, raw_path, Failure { op: "stat", errno })),
            Ok(_) => {
                // It may be a directory with entries in flight inside.
                self.flush()?;
                self.tree
                    .clear(dir.fd.as_fd(), OsStr::from_bytes(leaf), false)
                    .map(drop)
                    .map_err(|f| self.classify_at(dir, leaf, raw_path, f))
            }
        }
    }

    fn c_name(&self, dir: &Dir, name: Vec<u8>, raw_path: &[u8]) -> Result<CString, ExtractError> {
        CString::new(name).map_err(|e| {
            let leaf = e.into_vec();
            self.classify_at(
                dir,
                &leaf,
                raw_path,
                Failure {
                    op: "a name contains a NUL byte",
                    errno: Errno::INVAL,
                },
            )
        })
    }

    fn take_slot(&mut self) -> Result<u32, ExtractError> {
        loop {
            if let Some(slot) = self.slots.pop() {
                return Ok(slot);
            }
            self.reap()?;
        }
    }

    fn make_ring_room(&mut self, entries: usize) -> Result<(), ExtractError> {
        while self.exec.room() < entries {
            self.reap()?;
        }
        Ok(())
    }

    /// Hands a batch back to the reader once it is dispatched and no write reads from it.
    fn release_batch(&mut self, id: usize) {
        let held = self.batches.get(id);
        if held.dispatched && held.writes == 0 {
            let mut batch = self.batches.remove(id).batch;
            batch.used = 0;
            // The reader may have stopped; the batch is then simply dropped.
            let _ = self.empty.send(batch);
        }
    }

    fn file_failure(&self, file: usize, failure: Failure) -> ExtractError {
        let f = self.files.get(file);
        self.classify_at(&f.dir, f.leaf.as_bytes(), &f.raw_path, failure)
    }

    fn classify_at(
        &self,
        dir: &Dir,
        leaf: &[u8],
        raw_path: &[u8],
        failure: Failure,
    ) -> ExtractError {
        self.tree
            .classify(failure, &child(&dir.path, leaf), raw_path)
    }

    fn ring_error(&self, source: io::Error) -> ExtractError {
        self.tree.io(RING_OP, &[], source)
    }
}

const RING_OP: &str = "waiting on io_uring for";

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        // Unwinding from a panic: the kernel must be done with our memory before it goes.
        let _ = self.drain();
    }
}

/// Values addressed by a small integer (a `user_data`, a file number), reused once freed.
struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    fn insert(&mut self, value: T) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.entries[i] = Some(value);
                i
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    fn get(&self, i: usize) -> &T {
        self.entries[i].as_ref().expect("a live slab entry")
    }

    fn get_mut(&mut self, i: usize) -> &mut T {
        self.entries[i].as_mut().expect("a live slab entry")
    }

    fn remove(&mut self, i: usize) -> T {
        let value = self.entries[i].take().expect("a live slab entry");
        self.free.push(i);
        value
    }
}
