//! COPY and ADD: the files they read laid out in a directory that becomes the step's layer.
//!
//! The directory mirrors the image: the destination's parent directories are recreated with
//! the mode and owner they have in the parent image (so the layer does not change them), the
//! copied files are placed under them. Destinations are resolved inside the parent image's
//! files, so a COPY to `/var/run/x` where `/var/run` links to `/run` lands in `/run`.

use std::fs::{File, Permissions};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::context::{io_err, resolve_in, Confinement, ContextError};
use crate::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("When using {0} with more than one source file, the destination must be a directory and end with a /")]
    DestNotDir(&'static str),
    #[error("{0}")]
    Context(#[from] ContextError),
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("invalid --chmod value {0:?}: an octal mode is expected")]
    BadMode(String),
    #[error("{path}: cannot copy a file of this type (only files, directories and links)")]
    FileType { path: PathBuf },
    #[error("extracting the archive {name}: {message}")]
    Archive { name: String, message: String },
}

impl CopyError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CopyError::Context(e) => e.kind(),
            CopyError::FileType { .. } => ErrorKind::NotImplemented,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

/// One thing to copy.
#[derive(Debug, Clone)]
pub enum Input {
    /// A file or tree on disk, named as the Dockerfile matched it.
    Path {
        name: String,
        path: PathBuf,
        /// Whether its owner is kept (`COPY --from`); context files become root's.
        keep_owner: bool,
        /// Whether ADD unpacks it if it is an archive (not a download, as in Docker).
        unpack: bool,
    },
    /// A heredoc: a file of this name and content.
    Inline { name: String, content: String },
}

/// Who owns what is copied and with which mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attributes {
    pub owner: Option<(u32, u32)>,
    pub mode: Option<u32>,
}

pub fn parse_mode(value: &str) -> Result<u32, CopyError> {
    u32::from_str_radix(value, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| CopyError::BadMode(value.to_string()))
}

/// `--chown=user[:group]`, names looked up in the image's `/etc/passwd` and `/etc/group`.
pub fn lookup_owner(rootfs: Option<&Path>, spec: &str) -> Result<(u32, u32), CopyError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let read = |file: &str| -> String {
        rootfs
            .and_then(|root| std::fs::read_to_string(root.join(file)).ok())
            .unwrap_or_default()
    };
    let field = |text: &str, name: &str, index: usize| -> Option<u32> {
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| f.get(index).and_then(|v| v.parse().ok()))
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(uid) => (uid, uid),
        Err(_) => {
            let passwd = read("etc/passwd");
            let uid = field(&passwd, user, 2).ok_or_else(|| CopyError::NoUser(user.into()))?;
            (uid, field(&passwd, user, 3).unwrap_or(uid))
        }
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                field(&read("etc/group"), g, 2).ok_or_else(|| CopyError::NoGroup(g.into()))?
            }
        },
    };
    Ok((uid, gid))
}

/// One COPY or ADD to lay out.
pub struct Request<'a> {
    /// `COPY` or `ADD`, for messages.
    pub what: &'static str,
    pub inputs: &'a [Input],
    /// Absolute, in the image.
    pub dest: &'a str,
    pub attributes: Attributes,
    /// Whether archives are unpacked (ADD).
    pub extract: bool,
    /// The parent image's files (`None`: an empty image).
    pub rootfs: Option<&'a Path>,
    /// The directory that becomes the layer.
    pub layer: &'a Path,
}

/// Lays the request's inputs out under its layer directory as they land at `dest`.
pub fn stage(request: &Request<'_>) -> Result<(), CopyError> {
    let Request {
        what,
        inputs,
        dest,
        attributes,
        extract,
        rootfs,
        layer,
    } = *request;
    let empty = empty_root();
    let root = rootfs.unwrap_or(&empty);
    let landing = Landing::resolve(what, inputs.len(), dest, root)?;
    for input in inputs {
        let (name, meta_source) = match input {
            Input::Path { name, path, .. } => (name.as_str(), Some(path)),
            Input::Inline { name, .. } => (name.as_str(), None),
        };
        let is_dir = meta_source.is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.is_dir()));
        let archive = extract && !is_dir && meta_source.is_some_and(|p| is_archive(p));
        let (target_dir, target) = landing.target(name, is_dir || archive);
        make_parents(root, layer, &target_dir, attributes.owner)?;
        match input {
            Input::Inline { content, .. } => {
                let path = layer.join(&target);
                std::fs::write(&path, content).map_err(ContextError::from_io("writing", &path))?;
                finish(&path, 0o644, (0, 0), None, attributes)?;
            }
            Input::Path { path, .. } if archive => {
                let file = File::open(path).map_err(ContextError::from_io("opening", path))?;
                let (_, tar) =
                    fsdriver::compression::decompress(file).map_err(|e| CopyError::Archive {
                        name: name.to_string(),
                        message: e.to_string(),
                    })?;
                fsdriver::extract::extract(
                    tar,
                    &layer.join(&target),
                    &fsdriver::extract::ExtractLimits::default(),
                )
                .map_err(|e| CopyError::Archive {
                    name: name.to_string(),
                    message: e.to_string(),
                })?;
            }
            Input::Path {
                path, keep_owner, ..
            } => copy_tree(path, &layer.join(&target), *keep_owner, attributes, is_dir)?,
        }
    }
    Ok(())
}

impl ContextError {
    fn from_io<'a>(
        op: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> ContextError + 'a {
        io_err(op, path)
    }
}

/// Where a request's inputs land, relative to the layer's root.
pub(crate) struct Landing {
    /// The destination, resolved inside the parent image's files.
    relative: PathBuf,
    /// Whether inputs go into it (rather than becoming it).
    into_dir: bool,
}

impl Landing {
    /// Resolves `dest` inside the image whose files are at `root`.
    pub(crate) fn resolve(
        what: &'static str,
        inputs: usize,
        dest: &str,
        root: &Path,
    ) -> Result<Landing, CopyError> {
        let dest_is_dir_by_name = dest.ends_with('/');
        if inputs > 1 && !dest_is_dir_by_name {
            return Err(CopyError::DestNotDir(what));
        }
        let resolved = resolve_in(root, dest, true, Confinement::Clamp)?;
        let relative = resolved
            .strip_prefix(root)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let exists_as_dir = std::fs::metadata(&resolved).is_ok_and(|m| m.is_dir());
        Ok(Landing {
            relative,
            into_dir: dest_is_dir_by_name || exists_as_dir || inputs > 1,
        })
    }

    /// The directory that must exist for the input `name`, and where its content goes
    /// (relative to the layer): a directory's contents (or an unpacked archive's,
    /// `contents`) go into the destination itself.
    pub(crate) fn target(&self, name: &str, contents: bool) -> (PathBuf, PathBuf) {
        let relative = &self.relative;
        if contents {
            return (relative.clone(), relative.clone());
        }
        if self.into_dir {
            let base = Path::new(name)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            return (relative.clone(), relative.join(base));
        }
        let parent = relative.parent().map(Path::to_path_buf).unwrap_or_default();
        (parent, relative.clone())
    }
}

/// The mode and owner a directory the layer needs at `at` gets: the image's own when it
/// has one there, else root's 0755 (or the `--chown` owner).
pub(crate) fn parent_attrs(root: &Path, at: &Path, owner: Option<(u32, u32)>) -> (u32, (u32, u32)) {
    match std::fs::metadata(root.join(at)) {
        Ok(meta) if meta.is_dir() => (meta.mode() & 0o7777, (meta.uid(), meta.gid())),
        _ => (0o755, owner.unwrap_or((0, 0))),
    }
}

/// A path that never exists, standing for the root of an empty image.
pub(crate) fn empty_root() -> PathBuf {
    PathBuf::from("/nonexistent/berth-empty-image-root")
}

/// Lays out the directory `dir` (absolute) unless the image already has it; whether it
/// did (WORKDIR).
pub fn stage_dir(rootfs: Option<&Path>, dir: &str, layer: &Path) -> Result<bool, CopyError> {
    let empty = empty_root();
    let root = rootfs.unwrap_or(&empty);
    let resolved = resolve_in(root, dir, true, Confinement::Clamp)?;
    if resolved.is_dir() {
        return Ok(false);
    }
    let relative = resolved.strip_prefix(root).unwrap_or(Path::new(""));
    make_parents(root, layer, relative, None)?;
    Ok(true)
}

/// Copies `from` (a file, link or tree) to the new path `to`, owners and modes kept: a
/// `COPY --from` source taken out of its image.
pub fn copy_out(from: &Path, to: &Path) -> Result<(), CopyError> {
    copy_tree(from, to, true, Attributes::default(), false)
}

/// Creates `relative`'s directories under `layer`, each with the mode and owner it has in
/// the image, or root's 0755 (or the `--chown` owner) when the image lacks it.
fn make_parents(
    root: &Path,
    layer: &Path,
    relative: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), CopyError> {
    let mut at = PathBuf::new();
    for part in relative.components() {
        at.push(part);
        let staged = layer.join(&at);
        if staged.is_dir() {
            continue;
        }
        std::fs::create_dir(&staged).map_err(ContextError::from_io("creating", &staged))?;
        let (mode, ids) = parent_attrs(root, &at, owner);
        set_attrs(&staged, mode, ids)?;
    }
    Ok(())
}

fn set_attrs(path: &Path, mode: u32, (uid, gid): (u32, u32)) -> Result<(), CopyError> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(ContextError::from_io("changing the owner of", path))?;
    std::fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(ContextError::from_io("changing the mode of", path))?;
    Ok(())
}

fn finish(
    path: &Path,
    mode: u32,
    owner: (u32, u32),
    modified: Option<std::time::SystemTime>,
    attributes: Attributes,
) -> Result<(), CopyError> {
    set_attrs(
        path,
        attributes.mode.unwrap_or(mode),
        attributes.owner.unwrap_or(owner),
    )?;
    if let Some(modified) = modified {
        // Docker keeps a copied file's modification time.
        let file = File::open(path).map_err(ContextError::from_io("opening", path))?;
        file.set_modified(modified)
            .map_err(ContextError::from_io("setting the times of", path))?;
    }
    Ok(())
}

/// Copies `from` to `to`; a directory's contents go into `to` (created if missing).
fn copy_tree(
    from: &Path,
    to: &Path,
    keep_owner: bool,
    attributes: Attributes,
    contents_only: bool,
) -> Result<(), CopyError> {
    let meta = std::fs::symlink_metadata(from).map_err(ContextError::from_io("reading", from))?;
    let owner = if keep_owner {
        (meta.uid(), meta.gid())
    } else {
        (0, 0)
    };
    let kind = meta.file_type();
    if kind.is_dir() {
        if !to.is_dir() {
            std::fs::create_dir(to).map_err(ContextError::from_io("creating", to))?;
            if !contents_only {
                finish(to, meta.mode() & 0o7777, owner, None, attributes)?;
            }
        }
        let mut names: Vec<_> = std::fs::read_dir(from)
            .map_err(ContextError::from_io("reading", from))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(ContextError::from_io("reading", from))?;
        names.sort();
        for name in names {
            copy_tree(
                &from.join(&name),
                &to.join(&name),
                keep_owner,
                attributes,
                false,
            )?;
        }
    } else if kind.is_symlink() {
        let target = std::fs::read_link(from).map_err(ContextError::from_io("reading", from))?;
        let _ = std::fs::remove_file(to);
        std::os::unix::fs::symlink(&target, to).map_err(ContextError::from_io("creating", to))?;
        let (uid, gid) = attributes.owner.unwrap_or(owner);
        std::os::unix::fs::lchown(to, Some(uid), Some(gid))
            .map_err(ContextError::from_io("changing the owner of", to))?;
    } else if kind.is_file() {
        std::fs::copy(from, to).map_err(ContextError::from_io("copying to", to))?;
        finish(
            to,
            meta.mode() & 0o7777,
            owner,
            meta.modified().ok(),
            attributes,
        )?;
    } else {
        return Err(CopyError::FileType {
            path: from.to_path_buf(),
        });
    }
    Ok(())
}

/// Whether ADD unpacks the file: it reads as a (possibly compressed) tar.
fn is_archive(path: &Path) -> bool {
    File::open(path).is_ok_and(is_archive_stream)
}

/// Whether the content `file` reads is a (possibly compressed) tar.
pub(crate) fn is_archive_stream(file: impl Read) -> bool {
    let Ok((_, mut stream)) = fsdriver::compression::decompress(file) else {
        return false;
    };
    let mut block = [0u8; 512];
    if stream.read_exact(&mut block).is_err() {
        return false;
    }
    let header = tar::Header::from_byte_slice(&block);
    let Ok(stored) = header.cksum() else {
        return false;
    };
    // The checksum counts its own field as spaces.
    let computed: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    stored == computed
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        ctx: PathBuf,
        rootfs: PathBuf,
        layer: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        let rootfs = dir.path().join("rootfs");
        let layer = dir.path().join("layer");
        for d in [&ctx, &rootfs, &layer] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::create_dir_all(ctx.join("tree/sub")).unwrap();
        std::fs::write(ctx.join("tree/sub/f"), "f").unwrap();
        std::fs::write(ctx.join("one"), "1").unwrap();
        std::fs::set_permissions(ctx.join("one"), Permissions::from_mode(0o750)).unwrap();
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::create_dir_all(rootfs.join("run")).unwrap();
        std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
        std::fs::set_permissions(rootfs.join("tmp"), Permissions::from_mode(0o1777)).unwrap();
        std::os::unix::fs::symlink("/run", rootfs.join("varrun")).unwrap();
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        Fixture {
            _dir: dir,
            ctx,
            rootfs,
            layer,
        }
    }

    fn path_input(f: &Fixture, name: &str) -> Input {
        Input::Path {
            name: name.into(),
            path: f.ctx.join(name),
            keep_owner: false,
            unpack: true,
        }
    }

    fn request<'a>(f: &'a Fixture, inputs: &'a [Input], dest: &'a str) -> Request<'a> {
        Request {
            what: "COPY",
            inputs,
            dest,
            attributes: Attributes::default(),
            extract: true,
            rootfs: Some(&f.rootfs),
            layer: &f.layer,
        }
    }

    fn run(
        f: &Fixture,
        inputs: &[Input],
        dest: &str,
        attributes: Attributes,
    ) -> Result<(), CopyError> {
        stage(&Request {
            attributes,
            ..request(f, inputs, dest)
        })
    }

    #[test]
    fn a_file_to_a_file_a_dir_and_an_existing_dir() {
        if !nix_root() {
            eprintln!("skipped: COPY chowns to root, which needs root");
            return;
        }
        let f = fixture();
        run(
            &f,
            &[path_input(&f, "one")],
            "/opt/renamed",
            Attributes::default(),
        )
        .unwrap();
        assert_eq!(std::fs::read(f.layer.join("opt/renamed")).unwrap(), b"1");
        let mode = std::fs::metadata(f.layer.join("opt/renamed"))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o7777, 0o750);
        run(
            &f,
            &[path_input(&f, "one")],
            "/opt/dir/",
            Attributes::default(),
        )
        .unwrap();
        assert!(f.layer.join("opt/dir/one").is_file());
        run(&f, &[path_input(&f, "one")], "/tmp", Attributes::default()).unwrap();
        assert!(f.layer.join("tmp/one").is_file());
        // The existing /tmp keeps its mode in the layer.
        assert_eq!(
            std::fs::metadata(f.layer.join("tmp")).unwrap().mode() & 0o7777,
            0o1777
        );
    }

    #[test]
    fn a_directory_copies_its_contents_and_links_resolve_in_the_image() {
        if !nix_root() {
            eprintln!("skipped: COPY chowns to root, which needs root");
            return;
        }
        let f = fixture();
        run(
            &f,
            &[path_input(&f, "tree")],
            "/varrun/app",
            Attributes::default(),
        )
        .unwrap();
        assert!(f.layer.join("run/app/sub/f").is_file());
        assert!(!f.layer.join("varrun").exists());
    }

    #[test]
    fn many_sources_need_a_directory() {
        let f = fixture();
        let err = run(
            &f,
            &[path_input(&f, "one"), path_input(&f, "tree")],
            "/x",
            Attributes::default(),
        )
        .unwrap_err();
        assert!(matches!(err, CopyError::DestNotDir("COPY")));
    }

    #[test]
    fn owner_and_mode_flags() {
        let f = fixture();
        assert_eq!(lookup_owner(Some(&f.rootfs), "app").unwrap(), (1000, 1001));
        assert_eq!(
            lookup_owner(Some(&f.rootfs), "app:staff").unwrap(),
            (1000, 50)
        );
        assert_eq!(lookup_owner(None, "7").unwrap(), (7, 7));
        assert_eq!(lookup_owner(None, "7:8").unwrap(), (7, 8));
        assert!(matches!(
            lookup_owner(Some(&f.rootfs), "nobody"),
            Err(CopyError::NoUser(_))
        ));
        assert_eq!(parse_mode("755").unwrap(), 0o755);
        assert!(parse_mode("9").is_err());
        if !nix_root() {
            return;
        }
        let attributes = Attributes {
            owner: Some((1000, 50)),
            mode: Some(0o600),
        };
        run(&f, &[path_input(&f, "one")], "/o/", attributes).unwrap();
        let meta = std::fs::metadata(f.layer.join("o/one")).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (1000, 50, 0o600)
        );
        // A directory the COPY creates belongs to the --chown owner.
        assert_eq!(std::fs::metadata(f.layer.join("o")).unwrap().uid(), 1000);
    }

    #[test]
    fn heredocs_and_archives() {
        if !nix_root() {
            eprintln!("skipped: COPY chowns to root, which needs root");
            return;
        }
        let f = fixture();
        let inline = Input::Inline {
            name: "EOF".into(),
            content: "hello\n".into(),
        };
        run(&f, &[inline], "/etc/motd", Attributes::default()).unwrap();
        assert_eq!(std::fs::read(f.layer.join("etc/motd")).unwrap(), b"hello\n");

        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        tar.append_data(&mut header, "inner/x", &b"xx"[..]).unwrap();
        std::fs::write(f.ctx.join("a.tar"), tar.into_inner().unwrap()).unwrap();
        run(
            &f,
            &[path_input(&f, "a.tar")],
            "/unpacked/",
            Attributes::default(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(f.layer.join("unpacked/inner/x")).unwrap(),
            b"xx"
        );
        // COPY never unpacks.
        let inputs = [path_input(&f, "a.tar")];
        stage(&Request {
            extract: false,
            ..request(&f, &inputs, "/kept/")
        })
        .unwrap();
        assert!(f.layer.join("kept/a.tar").is_file());
        assert!(!is_archive(&f.ctx.join("one")));
    }

    fn nix_root() -> bool {
        std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false)
    }
}
