//! COPY and ADD of a streamed context's files as a layer tar read straight from the
//! context's spool.
//!
//! [`crate::copy::stage`] lays a step's files out in a directory that the image store then
//! tars and extracts again: each file is created three times (extracted from the spool into
//! the build's scratch, copied into the step's directory, extracted into the layer store),
//! and on ext4 creating inodes is what a big COPY costs. Here the layer is planned in
//! memory instead, the same tree `stage` would lay out (parent directories with the image's
//! modes and owners, the destination resolved inside the image, `--chown`/`--chmod`, the
//! context's modes and modification times, links kept as links), and written as a tar
//! whose file contents are read from the spool by offset, so the only files created are
//! the layer store's. The tar has the entries, order and headers that
//! `fsdriver::diff::write_upper_as_layer` gives the directory `stage` makes.
//!
//! Sources were resolved by [`crate::context::Context::sources`], which refuses `..` and
//! symlinks leading out of the context; links inside a copied tree are copied as links,
//! never followed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::context::index::{Index, Item};
use crate::context::{Context, ContextError};
use crate::copy::{empty_root, parent_attrs, Attributes, CopyError, Input, Landing};

/// Mode, owner and modification time (seconds) of a planned entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    mode: u32,
    owner: (u32, u32),
    mtime: u64,
}

#[derive(Debug)]
enum Node {
    Dir {
        meta: Meta,
        children: BTreeMap<String, Node>,
    },
    File {
        meta: Meta,
        data: Data,
    },
    Link {
        meta: Meta,
        target: PathBuf,
    },
}

#[derive(Debug)]
enum Data {
    /// `size` bytes at `offset` in the spool.
    Spool {
        offset: u64,
        size: u64,
    },
    Inline(Vec<u8>),
}

/// A COPY's layer, planned: what the tar will hold.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The layer's root (never written itself, as an upper directory's root is not).
    children: BTreeMap<String, Node>,
    spool: PathBuf,
}

/// What [`plan`] lays out.
pub(crate) struct Request<'a> {
    pub what: &'static str,
    pub inputs: &'a [Input],
    pub dest: &'a str,
    pub attributes: Attributes,
    /// The parent image's files (`None`: an empty image).
    pub rootfs: Option<&'a Path>,
}

/// Whether [`plan`] can make this step's layer: every input is a heredoc or a file of the
/// streamed `context` (not an archive ADD would unpack).
pub(crate) fn applies(context: &Context, inputs: &[Input], unpack: bool) -> bool {
    let Some(index) = context.index() else {
        return false;
    };
    inputs.iter().all(|input| match input {
        Input::Inline { .. } => true,
        Input::Path {
            path,
            keep_owner: false,
            unpack: source_unpacks,
            ..
        } => {
            let Some(rel) = context.relative_name(path) else {
                return false;
            };
            match index.spooled(&rel).map(|s| s.item) {
                Some(Item::File { offset, size }) if unpack && *source_unpacks => {
                    !is_archive(index.spool(), offset, size)
                }
                Some(_) => true,
                None => false,
            }
        }
        Input::Path { .. } => false,
    })
}

fn is_archive(spool: &Path, offset: u64, size: u64) -> bool {
    File::open(spool).is_ok_and(|file| {
        crate::copy::is_archive_stream(Range {
            file: &file,
            offset,
            left: size,
        })
    })
}

/// Lays out the request's inputs (which [`applies`] accepted) as `stage` would, in memory.
pub(crate) fn plan(context: &Context, request: &Request<'_>) -> Result<Plan, CopyError> {
    let index = context
        .index()
        .ok_or_else(|| ContextError::Archive("the context was not streamed".into()))?;
    let empty = empty_root();
    let root = request.rootfs.unwrap_or(&empty);
    let landing = Landing::resolve(request.what, request.inputs.len(), request.dest, root)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut planner = Planner {
        index,
        root,
        attributes: request.attributes,
        now,
        children: BTreeMap::new(),
    };
    for input in request.inputs {
        match input {
            Input::Inline { name, content } => {
                let (dir, target) = landing.target(name, false);
                planner.parents(&dir)?;
                let meta = planner.meta(0o644, now);
                let data = Data::Inline(content.clone().into_bytes());
                planner.place(&target, Node::File { meta, data })?;
            }
            Input::Path { name, path, .. } => {
                let rel = context.relative_name(path).unwrap_or_default();
                let is_dir = index.is_dir(&rel);
                let (dir, target) = landing.target(name, is_dir);
                planner.parents(&dir)?;
                planner.copy(&rel, path, &target, is_dir)?;
            }
        }
    }
    Ok(Plan {
        children: planner.children,
        spool: index.spool().to_path_buf(),
    })
}

struct Planner<'a> {
    index: &'a Index,
    root: &'a Path,
    attributes: Attributes,
    now: u64,
    children: BTreeMap<String, Node>,
}

fn names(path: &Path) -> Vec<String> {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect()
}

impl Planner<'_> {
    /// A copied entry's attributes: `--chmod`/`--chown` over its own (root's, for a
    /// context file).
    fn meta(&self, mode: u32, mtime: u64) -> Meta {
        Meta {
            mode: self.attributes.mode.unwrap_or(mode),
            owner: self.attributes.owner.unwrap_or((0, 0)),
            mtime,
        }
    }

    /// The directory holding `path`'s last component, made as needed.
    fn dir_of(&mut self, path: &Path) -> Result<&mut BTreeMap<String, Node>, CopyError> {
        let parts = names(path);
        let Some((_, parents)) = parts.split_last() else {
            return Ok(&mut self.children);
        };
        self.parents(&parents.iter().collect::<PathBuf>())?;
        let mut at = &mut self.children;
        for part in parents {
            match at.get_mut(part) {
                Some(Node::Dir { children, .. }) => at = children,
                _ => return Err(not_a_dir(path)),
            }
        }
        Ok(at)
    }

    /// Makes `relative`'s directories, each with the mode and owner it has in the image
    /// (as `stage`'s `make_parents`).
    fn parents(&mut self, relative: &Path) -> Result<(), CopyError> {
        let (root, owner, now) = (self.root, self.attributes.owner, self.now);
        let mut at = &mut self.children;
        let mut walked = PathBuf::new();
        for part in names(relative) {
            walked.push(&part);
            let node = at.entry(part).or_insert_with(|| {
                let (mode, owner) = parent_attrs(root, &walked, owner);
                Node::Dir {
                    meta: Meta {
                        mode,
                        owner,
                        mtime: now,
                    },
                    children: BTreeMap::new(),
                }
            });
            match node {
                Node::Dir { children, .. } => at = children,
                _ => return Err(not_a_dir(&walked)),
            }
        }
        Ok(())
    }

    /// Puts `node` at `path`, replacing what was there (a later source wins, as a later
    /// copy overwrites an earlier one).
    fn place(&mut self, path: &Path, node: Node) -> Result<(), CopyError> {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().to_string()) else {
            return Err(not_a_dir(path));
        };
        self.dir_of(path)?.insert(name, node);
        Ok(())
    }

    /// Copies the context's entry `rel` (seen at `path`) to `target`; a directory's
    /// contents go into it (`contents_only`: it exists already, with its own attributes).
    fn copy(
        &mut self,
        rel: &str,
        path: &Path,
        target: &Path,
        contents_only: bool,
    ) -> Result<(), CopyError> {
        let entry = self
            .index
            .spooled(rel)
            .ok_or_else(|| ContextError::NotFound(rel.to_string()))?;
        match entry.item {
            Item::Dir => {
                let exists = matches!(self.get(target), Some(Node::Dir { .. }));
                if !exists && !contents_only {
                    let meta = self.meta(entry.mode, self.now);
                    let children = BTreeMap::new();
                    self.place(target, Node::Dir { meta, children })?;
                } else if !exists {
                    self.parents(target)?;
                }
                for child in self.index.children(rel) {
                    let child_rel = match rel {
                        "" => child.clone(),
                        _ => format!("{rel}/{child}"),
                    };
                    self.copy(&child_rel, &path.join(&child), &target.join(&child), false)?;
                }
                Ok(())
            }
            Item::Symlink(link) => {
                let meta = Meta {
                    mode: 0o777,
                    owner: self.attributes.owner.unwrap_or((0, 0)),
                    mtime: self.now,
                };
                let target_path = link.to_path_buf();
                let node = Node::Link {
                    meta,
                    target: target_path,
                };
                self.place(target, node)
            }
            Item::File { offset, size } => {
                let meta = self.meta(entry.mode, entry.mtime);
                let data = Data::Spool { offset, size };
                self.place(target, Node::File { meta, data })
            }
            Item::Other => Err(CopyError::FileType {
                path: path.to_path_buf(),
            }),
        }
    }

    fn get(&self, path: &Path) -> Option<&Node> {
        let parts = names(path);
        let (last, parents) = parts.split_last()?;
        let mut at = &self.children;
        for part in parents {
            match at.get(part) {
                Some(Node::Dir { children, .. }) => at = children,
                _ => return None,
            }
        }
        at.get(last)
    }
}

fn not_a_dir(path: &Path) -> CopyError {
    CopyError::Context(ContextError::Io {
        op: "creating a directory in the layer at",
        path: path.to_path_buf(),
        source: io::Error::from(io::ErrorKind::AlreadyExists),
    })
}

/// A range of the spool, read by position.
struct Range<'a> {
    file: &'a File,
    offset: u64,
    left: u64,
}

impl Read for Range<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the context's spool is shorter than its index says",
            ));
        }
        self.offset += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

impl Plan {
    /// Writes the layer tar to `out`: entries sorted by name, depth first, GNU headers
    /// (long names allowed), as `write_upper_as_layer` writes a directory.
    pub(crate) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let spool = File::open(&self.spool).map_err(|e| named(e, "opening", &self.spool))?;
        let mut archive = tar::Builder::new(out);
        self.write_dir(&mut archive, &spool, &self.children, Path::new(""))?;
        archive.into_inner()?.flush()
    }

    fn write_dir(
        &self,
        archive: &mut tar::Builder<&mut dyn Write>,
        spool: &File,
        children: &BTreeMap<String, Node>,
        at: &Path,
    ) -> io::Result<()> {
        for (name, node) in children {
            let path = at.join(name);
            match node {
                Node::Dir { meta, children } => {
                    let mut header = header(meta, tar::EntryType::Directory, 0);
                    let mut dir_name = path.as_os_str().to_os_string();
                    dir_name.push("/");
                    archive.append_data(&mut header, dir_name, io::empty())?;
                    self.write_dir(archive, spool, children, &path)?;
                }
                Node::Link { meta, target } => {
                    let mut header = header(meta, tar::EntryType::Symlink, 0);
                    archive.append_link(&mut header, &path, target)?;
                }
                Node::File { meta, data } => match data {
                    Data::Inline(bytes) => {
                        let size = bytes.len() as u64;
                        let mut header = header(meta, tar::EntryType::Regular, size);
                        archive.append_data(&mut header, &path, bytes.as_slice())?;
                    }
                    &Data::Spool { offset, size } => {
                        let mut header = header(meta, tar::EntryType::Regular, size);
                        let range = Range {
                            file: spool,
                            offset,
                            left: size,
                        };
                        archive
                            .append_data(&mut header, &path, range)
                            .map_err(|e| named(e, "reading", &self.spool))?;
                    }
                },
            }
        }
        Ok(())
    }
}

fn header(meta: &Meta, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mode(meta.mode);
    header.set_uid(meta.owner.0.into());
    header.set_gid(meta.owner.1.into());
    header.set_mtime(meta.mtime);
    header.set_size(size);
    header.set_entry_type(kind);
    header
}

fn named(e: io::Error, op: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{op} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
