//! The build context: the client's tar, extracted, and the paths COPY and ADD read in it.
//!
//! The tar goes through fsdriver's layer extractor, which confines every entry to the
//! directory (a `../` name or a planted symlink cannot write outside). Source paths are then
//! resolved inside the context by hand, a component at a time: a `..` or a symlink that
//! would leave the context is refused, never followed.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::ErrorKind;

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

/// An extracted context, or an image's files read by `COPY --from`.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
    confinement: Confinement,
}

/// A path a COPY or ADD reads: as the Dockerfile named it (after globbing) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub path: PathBuf,
}

impl Context {
    /// Extracts the (possibly gzip- or zstd-compressed) tar `reader` into the existing
    /// empty directory `root`.
    pub fn extract(reader: impl Read, root: &Path) -> Result<Context, ContextError> {
        let (_, tar) = fsdriver::compression::decompress(reader).map_err(|e| match e {
            fsdriver::compression::CompressionError::Unsupported(name) => {
                ContextError::Compression(name)
            }
            e => ContextError::Archive(e.to_string()),
        })?;
        fsdriver::extract::extract(tar, root, &fsdriver::extract::ExtractLimits::default())
            .map_err(|e| match e.kind() {
                fsdriver::ErrorKind::Internal => ContextError::Io {
                    op: "extracting the build context into",
                    path: root.to_path_buf(),
                    source: std::io::Error::other(e.to_string()),
                },
                _ => ContextError::Archive(e.to_string()),
            })?;
        Ok(Context::at(root))
    }

    /// A context already on disk.
    pub fn at(root: &Path) -> Context {
        Context {
            root: root.to_path_buf(),
            confinement: Confinement::Refuse,
        }
    }

    /// An image's files, seen at `root`.
    pub fn rootfs(root: &Path) -> Context {
        Context {
            root: root.to_path_buf(),
            confinement: Confinement::Clamp,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Dockerfile's bytes (`name` relative to the context, as the client sends it).
    pub fn dockerfile(&self, name: &str) -> Result<Vec<u8>, ContextError> {
        let path = resolve_in(&self.root, name, true, self.confinement)
            .map_err(|_| ContextError::NoDockerfile(name.to_string()))?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ContextError::NoDockerfile(name.to_string()))
            }
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
            let path = resolve_in(&self.root, &cleaned, true, self.confinement)?;
            if std::fs::symlink_metadata(&path).is_err() {
                return Err(ContextError::NotFound(pattern.to_string()));
            }
            return Ok(vec![Source {
                name: cleaned,
                path,
            }]);
        }
        let mut found = Vec::new();
        self.glob(
            Path::new(""),
            &cleaned.split('/').collect::<Vec<_>>(),
            &mut found,
        )?;
        if found.is_empty() {
            return Err(ContextError::NotFound(pattern.to_string()));
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    fn glob(&self, at: &Path, parts: &[&str], found: &mut Vec<Source>) -> Result<(), ContextError> {
        let Some((first, rest)) = parts.split_first() else {
            let name = at.to_string_lossy().to_string();
            let path = resolve_in(&self.root, &name, true, self.confinement)?;
            found.push(Source { name, path });
            return Ok(());
        };
        let dir = resolve_in(&self.root, &at.to_string_lossy(), true, self.confinement)?;
        if !has_wildcard(first) {
            if std::fs::symlink_metadata(dir.join(first)).is_ok() {
                self.glob(&at.join(first), rest, found)?;
            }
            return Ok(());
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        for name in names {
            if matches(first, &name) {
                self.glob(&at.join(&name), rest, found)?;
            }
        }
        Ok(())
    }
}

/// `path` made relative and normal, or `None` when its `..` climbs above the root.
pub fn clean(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// `path` made relative and normal, a `..` at the root staying there.
pub fn clean_clamped(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Go's `filepath.Match` for one path component: `*`, `?`, `[a-z]`, `[!x]`, `\` escapes.
pub fn matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some(('[', rest)) => {
                let Some((&c, n_rest)) = n.split_first() else {
                    return false;
                };
                let Some(end) = rest.iter().position(|&x| x == ']') else {
                    return false;
                };
                let (class, after) = (&rest[..end], &rest[end + 1..]);
                let (negate, class) = match class.split_first() {
                    Some(('!' | '^', tail)) => (true, tail),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != negate && go(after, n_rest)
            }
            Some(('\\', rest)) if !rest.is_empty() => {
                n.first() == Some(&rest[0]) && go(&rest[1..], &n[1..])
            }
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Where `path` (relative to `root`, or absolute meaning the same) leads inside `root`,
/// following symlinks (the last one only if `follow_last`). A `..` or a link that would
/// leave `root` is refused; a path that does not exist resolves as far as it can and keeps
/// its remaining components.
pub fn resolve_in(
    root: &Path,
    path: &str,
    follow_last: bool,
    confinement: Confinement,
) -> Result<PathBuf, ContextError> {
    let clamp = confinement == Confinement::Clamp;
    let outside = || ContextError::Outside(path.to_string());
    let mut pending: Vec<String> = Path::new(path)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().to_string()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            if resolved.pop().is_none() && !clamp {
                return Err(outside());
            }
            continue;
        }
        let candidate = root.join(resolved.join("/")).join(&part);
        let is_last = pending.is_empty();
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() && (follow_last || !is_last) => {
                links += 1;
                if links > 40 {
                    return Err(ContextError::Loop(path.to_string()));
                }
                let target =
                    std::fs::read_link(&candidate).map_err(io_err("reading", &candidate))?;
                if target.is_absolute() {
                    if !clamp {
                        // An absolute link names a host path, never one in the context.
                        return Err(outside());
                    }
                    resolved.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => pending.push(s.to_string_lossy().to_string()),
                        Component::ParentDir => pending.push("..".to_string()),
                        _ => {}
                    }
                }
            }
            _ => resolved.push(part),
        }
    }
    Ok(root.join(resolved.join("/")))
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

    #[test]
    fn a_tar_context_is_extracted() {
        if crate::skipped_without_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(7);
        header.set_mode(0o644);
        tar.append_data(&mut header, "Dockerfile", &b"FROM x\n"[..])
            .unwrap();
        let bytes = tar.into_inner().unwrap();
        let ctx = Context::extract(&bytes[..], dir.path()).unwrap();
        assert_eq!(ctx.dockerfile("Dockerfile").unwrap(), b"FROM x\n");
        assert!(matches!(
            ctx.dockerfile("nope").unwrap_err(),
            ContextError::NoDockerfile(_)
        ));
        let xz = Context::extract(&b"\xfd7zXZ\0rest"[..], dir.path()).unwrap_err();
        assert_eq!(xz.kind(), ErrorKind::NotImplemented, "{xz}");
        assert!(
            xz.to_string().starts_with("xz-compressed build contexts"),
            "{xz}"
        );
        let garbage = Context::extract(&[7u8; 1024][..], dir.path()).unwrap_err();
        assert!(matches!(garbage, ContextError::Archive(_)), "{garbage}");
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
