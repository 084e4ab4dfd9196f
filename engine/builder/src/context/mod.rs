//! The build context: the client's tar, indexed as it streams in (see [`index`]), and the
//! paths COPY and ADD read in it.
//!
//! When a step needs the files, the tar goes through fsdriver's layer extractor, which
//! confines every entry to the directory (a `../` name or a planted symlink cannot write
//! outside). Source paths are resolved inside the context by hand, a component at a time,
//! over the index or the disk alike: a `..` or a symlink that would leave the context is
//! refused, never followed.

pub(crate) mod index;
mod resolve;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ErrorKind;
use index::Index;
use resolve::has_wildcard;
pub use resolve::{clean, clean_clamped, matches, resolve_in};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("the build context is not a valid tar archive: {0}")]
    Archive(String),
    #[error("{0}-compressed build contexts: not supported by berth yet (send a plain, gzip or zstd tar)")]
    Compression(&'static str),
    #[error("forbidden path outside the build context: {0}")]
    Outside(String),
    #[error("file not found in build context or excluded by .dockerignore: stat {0}: file does not exist")]
    NotFound(String),
    #[error("Cannot locate specified Dockerfile: {0}")]
    NoDockerfile(String),
    #[error("too many levels of symbolic links resolving {0}")]
    Loop(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ContextError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContextError::Io { .. } => ErrorKind::Internal,
            ContextError::NotFound(_) | ContextError::NoDockerfile(_) => ErrorKind::NotFound,
            ContextError::Compression(_) => ErrorKind::NotImplemented,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ContextError + 'a {
    move |source| ContextError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What a path that would leave the root does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// The build context: refused.
    Refuse,
    /// An image's file system, where `/` is the root: `..` stops at it and an absolute
    /// link starts from it, as inside a container.
    Clamp,
}

/// A context streamed from the client (its files extracted only once a step needs them),
/// one on disk, or an image's files read by `COPY --from`.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
    confinement: Confinement,
    /// A streamed context's entries; `None` when the files are on disk at `root`.
    index: Option<Arc<Index>>,
}

/// A path a COPY or ADD reads: as the Dockerfile named it (after globbing) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub path: PathBuf,
}

impl Context {
    /// Reads the plain tar `reader` to its end, indexing and hashing every entry and
    /// writing the tar to `spool`; the files are extracted into the existing empty
    /// directory `root` only when [`Context::materialize`] is first called.
    pub fn stream(reader: impl Read, root: &Path, spool: &Path) -> Result<Context, ContextError> {
        Ok(Context {
            root: root.to_path_buf(),
            confinement: Confinement::Refuse,
            index: Some(Arc::new(Index::read(reader, spool)?)),
        })
    }

    /// A context already on disk.
    pub fn at(root: &Path) -> Context {
        Context {
            root: root.to_path_buf(),
            confinement: Confinement::Refuse,
            index: None,
        }
    }

    /// An image's files, seen at `root`.
    pub fn rootfs(root: &Path) -> Context {
        Context {
            root: root.to_path_buf(),
            confinement: Confinement::Clamp,
            index: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A streamed context's index (its entries and spool); `None` for files on disk.
    pub(crate) fn index(&self) -> Option<&Index> {
        self.index.as_deref()
    }

    /// `path` (a [`Source`]'s) relative to the root, as the index names it.
    pub(crate) fn relative_name(&self, path: &Path) -> Option<String> {
        self.relative(path)
            .map(|rel| rel.to_string_lossy().to_string())
    }

    /// Makes the files of a streamed context exist under [`Context::root`] (once, whoever
    /// asks first), for a step that copies or mounts them.
    pub fn materialize(&self) -> Result<(), ContextError> {
        match &self.index {
            Some(index) => index.extract_into(&self.root),
            None => Ok(()),
        }
    }

    /// `path` resolved, relative to the root.
    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, ContextError> {
        match &self.index {
            Some(index) => resolve::resolve_with(path, follow_last, self.confinement, &|rel| {
                Ok(index.link(rel))
            }),
            None => {
                let resolved = resolve_in(&self.root, path, follow_last, self.confinement)?;
                Ok(resolved
                    .strip_prefix(&self.root)
                    .map(|p| p.to_string_lossy().to_string())
                    .unwrap_or_default())
            }
        }
    }

    fn exists(&self, rel: &str) -> bool {
        match &self.index {
            Some(index) => index.exists(rel),
            None => std::fs::symlink_metadata(self.root.join(rel)).is_ok(),
        }
    }

    fn relative<'a>(&self, path: &'a Path) -> Option<&'a Path> {
        path.strip_prefix(&self.root).ok()
    }

    /// Whether `path` (a [`Source`]'s) is a directory, before the files exist on disk.
    pub fn is_dir(&self, path: &Path) -> bool {
        match (&self.index, self.relative(path)) {
            (Some(index), Some(rel)) => index.is_dir(&rel.to_string_lossy()),
            _ => path.is_dir(),
        }
    }

    /// Adds the source at `path` (a file, link or whole tree) to `hasher`; for a streamed
    /// context from its index, without reading a file.
    pub fn hash(&self, hasher: &mut blake3::Hasher, path: &Path) -> Result<(), ContextError> {
        match (&self.index, self.relative(path)) {
            (Some(index), Some(rel)) => {
                index.hash(hasher, &rel.to_string_lossy(), "");
                Ok(())
            }
            _ => hash_tree(hasher, path),
        }
    }

    /// The Dockerfile's bytes (`name` relative to the context, as the client sends it).
    pub fn dockerfile(&self, name: &str) -> Result<Vec<u8>, ContextError> {
        let missing = || ContextError::NoDockerfile(name.to_string());
        let rel = self.resolve(name, true).map_err(|_| missing())?;
        if let Some(index) = &self.index {
            return index.content(&rel).ok_or_else(missing)?;
        }
        let path = self.root.join(rel);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing()),
            Err(e) => Err(io_err("reading", &path)(e)),
        }
    }

    /// The sources `pattern` names: one path, or every path its wildcards match.
    pub fn sources(&self, pattern: &str) -> Result<Vec<Source>, ContextError> {
        let cleaned = match (clean(pattern), self.confinement) {
            (Some(cleaned), _) => cleaned,
            (None, Confinement::Clamp) => clean_clamped(pattern),
            (None, Confinement::Refuse) => return Err(ContextError::Outside(pattern.to_string())),
        };
        if !has_wildcard(&cleaned) {
            let rel = self.resolve(&cleaned, true)?;
            if !self.exists(&rel) {
                return Err(ContextError::NotFound(pattern.to_string()));
            }
            return Ok(vec![Source {
                name: cleaned,
                path: self.root.join(rel),
            }]);
        }
        let mut found = Vec::new();
        self.glob("", &cleaned.split('/').collect::<Vec<_>>(), &mut found)?;
        if found.is_empty() {
            return Err(ContextError::NotFound(pattern.to_string()));
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    fn glob(&self, at: &str, parts: &[&str], found: &mut Vec<Source>) -> Result<(), ContextError> {
        let join = |name: &str| match at {
            "" => name.to_string(),
            _ => format!("{at}/{name}"),
        };
        let Some((first, rest)) = parts.split_first() else {
            let path = self.root.join(self.resolve(at, true)?);
            found.push(Source {
                name: at.to_string(),
                path,
            });
            return Ok(());
        };
        let dir = self.resolve(at, true)?;
        let in_dir = |name: &str| match dir.as_str() {
            "" => name.to_string(),
            _ => format!("{dir}/{name}"),
        };
        if !has_wildcard(first) {
            if self.exists(&in_dir(first)) {
                self.glob(&join(first), rest, found)?;
            }
            return Ok(());
        }
        let names = match &self.index {
            Some(index) => index.children(&dir),
            None => {
                let Ok(entries) = std::fs::read_dir(self.root.join(&dir)) else {
                    return Ok(());
                };
                let mut names: Vec<String> = entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect();
                names.sort();
                names
            }
        };
        for name in names {
            if matches(first, &name) {
                self.glob(&join(&name), rest, found)?;
            }
        }
        Ok(())
    }
}

/// Adds `path` (a file, link or whole tree) to `hasher`: names relative to it, types,
/// modes, owners, link targets and contents, in a fixed order.
pub fn hash_tree(hasher: &mut blake3::Hasher, path: &Path) -> Result<(), ContextError> {
    hash_entry(hasher, path, "")
}

fn hash_entry(hasher: &mut blake3::Hasher, path: &Path, name: &str) -> Result<(), ContextError> {
    let meta = std::fs::symlink_metadata(path).map_err(io_err("reading", path))?;
    let header = format!(
        "{name}\0{:o}\0{}\0{}\0{}\0",
        meta.mode(),
        meta.uid(),
        meta.gid(),
        if meta.is_file() { meta.len() } else { 0 }
    );
    hasher.update(&(header.len() as u64).to_le_bytes());
    hasher.update(header.as_bytes());
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = std::fs::read_link(path).map_err(io_err("reading", path))?;
        hasher.update(target.as_os_str().as_encoded_bytes());
    } else if kind.is_file() {
        let file = std::fs::File::open(path).map_err(io_err("opening", path))?;
        hasher
            .update_reader(file)
            .map_err(io_err("reading", path))?;
    } else if kind.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .map_err(io_err("reading", path))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err("reading", path))?;
        names.sort();
        for child in names {
            let child_name = format!("{name}/{}", child.to_string_lossy());
            hash_entry(hasher, &path.join(&child), &child_name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> (tempfile::TempDir, Context) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/sub")).unwrap();
        std::fs::write(root.join("src/a.txt"), "a").unwrap();
        std::fs::write(root.join("src/b.txt"), "b").unwrap();
        std::fs::write(root.join("src/sub/c.rs"), "c").unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM x\n").unwrap();
        std::os::unix::fs::symlink("src/a.txt", root.join("inside")).unwrap();
        std::os::unix::fs::symlink("../../etc/passwd", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("absolute")).unwrap();
        let ctx = Context::at(root);
        (dir, ctx)
    }

    fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, content, mode) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(*mode);
            tar.append_data(&mut header, name, *content).unwrap();
        }
        tar.into_inner().unwrap()
    }

    fn streamed(dir: &Path, tar: &[u8]) -> Result<Context, ContextError> {
        let root = dir.join("root");
        std::fs::create_dir_all(&root).unwrap();
        Context::stream(tar, &root, &dir.join("context.tar"))
    }

    fn source_hash(ctx: &Context, pattern: &str) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new();
        for source in ctx.sources(pattern).unwrap() {
            ctx.hash(&mut hasher, &source.path).unwrap();
        }
        hasher.finalize()
    }

    #[test]
    fn a_streamed_context_is_hashed_without_extracting_it() {
        let dir = tempfile::tempdir().unwrap();
        let files: &[(&str, &[u8], u32)] = &[
            ("Dockerfile", b"FROM x\n", 0o644),
            ("src/a.txt", b"a", 0o644),
            ("src/sub/b.txt", b"b", 0o600),
        ];
        let ctx = streamed(dir.path(), &tar_of(files)).unwrap();
        assert_eq!(ctx.dockerfile("Dockerfile").unwrap(), b"FROM x\n");
        assert!(matches!(
            ctx.dockerfile("nope").unwrap_err(),
            ContextError::NoDockerfile(_)
        ));
        assert!(matches!(
            ctx.dockerfile("src").unwrap_err(),
            ContextError::NoDockerfile(_)
        ));
        let names: Vec<String> = ctx
            .sources("src/*")
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["src/a.txt", "src/sub"]);
        assert!(ctx.is_dir(&ctx.root().join("src/sub")));
        assert!(!ctx.root().join("src").exists(), "nothing extracted yet");

        // The same tar hashes the same; a content, a mode, a name changed does not.
        let before = source_hash(&ctx, "src");
        let again = tempfile::tempdir().unwrap();
        assert_eq!(
            before,
            source_hash(&streamed(again.path(), &tar_of(files)).unwrap(), "src")
        );
        for changed in [
            [files[0], ("src/a.txt", b"A", 0o644), files[2]],
            [files[0], ("src/a.txt", b"a", 0o755), files[2]],
            [files[0], ("src/c.txt", b"a", 0o644), files[2]],
        ] {
            let other = tempfile::tempdir().unwrap();
            let ctx = streamed(other.path(), &tar_of(&changed)).unwrap();
            assert_ne!(before, source_hash(&ctx, "src"));
        }

        if !crate::skipped_without_root() {
            ctx.materialize().unwrap();
            ctx.materialize().unwrap();
            assert_eq!(
                std::fs::read(ctx.root().join("src/sub/b.txt")).unwrap(),
                b"b"
            );
        }

        let garbage = streamed(dir.path(), &[7u8; 1024]).unwrap_err();
        assert!(matches!(garbage, ContextError::Archive(_)), "{garbage}");
    }

    #[test]
    fn a_streamed_context_resolves_links_inside_it_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        tar.append_data(&mut header, "src/a.txt", &b"a"[..])
            .unwrap();
        for (name, target) in [
            ("inside", "src/a.txt"),
            ("escape", "../../etc"),
            ("abs", "/etc"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, name, target).unwrap();
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Link);
        header.set_size(0);
        tar.append_link(&mut header, "hard", "src/a.txt").unwrap();
        let ctx = streamed(dir.path(), &tar.into_inner().unwrap()).unwrap();
        assert_eq!(
            ctx.sources("inside").unwrap()[0].path,
            ctx.root().join("src/a.txt")
        );
        assert_eq!(ctx.dockerfile("hard").unwrap(), b"a");
        for bad in ["escape/passwd", "abs/passwd", "../x"] {
            let err = ctx.sources(bad).unwrap_err();
            assert!(matches!(err, ContextError::Outside(_)), "{bad}: {err}");
        }

        // An entry below a symlink would be written elsewhere than it is named.
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        tar.append_link(&mut header, "link", "/tmp").unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        tar.append_data(&mut header, "link/x", &b"x"[..]).unwrap();
        let other = tempfile::tempdir().unwrap();
        let err = streamed(other.path(), &tar.into_inner().unwrap()).unwrap_err();
        assert!(matches!(err, ContextError::Archive(_)), "{err}");
    }

    #[test]
    fn sources_plain_and_globbed() {
        let (_dir, ctx) = context();
        let names = |p: &str| -> Vec<String> {
            ctx.sources(p)
                .unwrap()
                .into_iter()
                .map(|s| s.name)
                .collect()
        };
        assert_eq!(names("src/a.txt"), vec!["src/a.txt"]);
        assert_eq!(names("/src/./a.txt"), vec!["src/a.txt"]);
        assert_eq!(names("src/*.txt"), vec!["src/a.txt", "src/b.txt"]);
        assert_eq!(names("s?c/sub/*"), vec!["src/sub/c.rs"]);
        assert_eq!(names("src/[ab].txt"), vec!["src/a.txt", "src/b.txt"]);
        assert_eq!(names("."), vec![""]);
        assert_eq!(
            ctx.sources("inside").unwrap()[0].path,
            ctx.root().join("src/a.txt")
        );
        assert!(matches!(
            ctx.sources("nope").unwrap_err(),
            ContextError::NotFound(_)
        ));
        assert!(matches!(
            ctx.sources("*.none").unwrap_err(),
            ContextError::NotFound(_)
        ));
    }

    #[test]
    fn escapes_are_refused() {
        let (_dir, ctx) = context();
        for bad in ["../x", "src/../../x", "escape", "absolute"] {
            let err = ctx.sources(bad).unwrap_err();
            assert!(matches!(err, ContextError::Outside(_)), "{bad}: {err}");
            assert!(err.to_string().contains("outside the build context"));
        }
    }

    #[test]
    fn an_image_root_clamps_instead() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/bin")).unwrap();
        std::fs::write(dir.path().join("usr/bin/sh"), "").unwrap();
        std::os::unix::fs::symlink("/usr/bin", dir.path().join("bin")).unwrap();
        let root = Context::rootfs(dir.path());
        assert_eq!(
            root.sources("/bin/sh").unwrap()[0].path,
            dir.path().join("usr/bin/sh")
        );
        assert_eq!(
            root.sources("../../bin/sh").unwrap()[0].path,
            dir.path().join("usr/bin/sh")
        );
        assert_eq!(
            resolve_in(dir.path(), "/bin/new/file", true, Confinement::Clamp).unwrap(),
            dir.path().join("usr/bin/new/file")
        );
    }

    #[test]
    fn wildcards_match_like_go() {
        assert!(matches("*.txt", "a.txt"));
        assert!(!matches("*.txt", "a.rs"));
        assert!(matches("[!a]*", "b"));
        assert!(!matches("[!a]*", "a"));
        assert!(matches("a\\*", "a*"));
        assert!(matches("?", "x"));
        assert!(!matches("?", ""));
    }

    #[test]
    fn the_hash_follows_content_modes_and_names() {
        let (dir, _ctx) = context();
        let hash = |p: &Path| {
            let mut h = blake3::Hasher::new();
            hash_tree(&mut h, p).unwrap();
            h.finalize()
        };
        let src = dir.path().join("src");
        let before = hash(&src);
        assert_eq!(before, hash(&src));
        std::fs::write(src.join("a.txt"), "A").unwrap();
        let changed = hash(&src);
        assert_ne!(before, changed);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(src.join("a.txt"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        assert_ne!(changed, hash(&src));
        std::fs::rename(src.join("b.txt"), src.join("d.txt")).unwrap();
        assert_ne!(changed, hash(&src));
    }
}
