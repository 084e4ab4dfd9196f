//! Paths in a context or an image's files: cleaning, Go's wildcards, and resolution a
//! component at a time, over the disk or over a streamed context's index alike.

use std::path::{Component, Path, PathBuf};

use super::{io_err, Confinement, ContextError};

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

pub(crate) fn has_wildcard(s: &str) -> bool {
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
    let link = |rel: &str| -> Result<Option<PathBuf>, ContextError> {
        let candidate = root.join(rel);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(&candidate)
                .map(Some)
                .map_err(io_err("reading", &candidate)),
            _ => Ok(None),
        }
    };
    let rel = resolve_with(path, follow_last, confinement, &link)?;
    Ok(root.join(rel))
}

/// [`resolve_in`] over any tree: `link` says whether the path (relative, `/`-separated)
/// is a symlink and to what. Returns the resolved path, relative.
pub(crate) fn resolve_with(
    path: &str,
    follow_last: bool,
    confinement: Confinement,
    link: &dyn Fn(&str) -> Result<Option<PathBuf>, ContextError>,
) -> Result<String, ContextError> {
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
        let is_last = pending.is_empty();
        resolved.push(part);
        if is_last && !follow_last {
            break;
        }
        let Some(target) = link(&resolved.join("/"))? else {
            continue;
        };
        resolved.pop();
        links += 1;
        if links > 40 {
            return Err(ContextError::Loop(path.to_string()));
        }
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
    Ok(resolved.join("/"))
}
