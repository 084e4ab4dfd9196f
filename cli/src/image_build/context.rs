//! The build context as docker's client prepares it: a local directory
//! sent as a tar with `.dockerignore` applied (the Dockerfile and
//! .dockerignore always included, a Dockerfile from outside the context
//! added under a random name), a tar or a bare Dockerfile on stdin, or a URL
//! the daemon fetches.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::dockerignore::{keep_build_files, read_patterns, Matcher};
use crate::error::CliError;

/// Where the context comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    Stdin,
    /// A URL the daemon fetches (`remote=`).
    Remote(String),
    Local(PathBuf),
}

pub fn detect(context: &str) -> Source {
    if context == "-" {
        return Source::Stdin;
    }
    let is_url = ["http://", "https://", "git://", "git@", "github.com/"]
        .iter()
        .any(|prefix| context.starts_with(prefix));
    if is_url {
        Source::Remote(context.to_owned())
    } else {
        Source::Local(PathBuf::from(context))
    }
}

fn prepare_error(reason: impl std::fmt::Display) -> CliError {
    CliError::Status {
        code: 1,
        message: format!("unable to prepare context: {reason}"),
    }
}

/// Go's `filepath.Abs` (lexically cleaned, not resolved).
fn absolute(path: &Path, cwd: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    let mut clean = PathBuf::from("/");
    for component in joined.components() {
        match component {
            Component::Normal(name) => clean.push(name),
            Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    clean
}

/// A local context directory, absolute with its symlinks resolved.
pub fn context_dir(dir: &Path, cwd: &Path) -> Result<PathBuf, CliError> {
    let absolute_dir = absolute(dir, cwd);
    if !absolute_dir.exists() {
        return Err(prepare_error(format!(
            "path {:?} not found",
            dir.display().to_string()
        )));
    }
    let context = std::fs::canonicalize(&absolute_dir)
        .map_err(|e| prepare_error(format!("unable to evaluate symlinks in context path: {e}")))?;
    if !context.is_dir() {
        return Err(prepare_error(format!(
            "context must be a directory: {}",
            context.display()
        )));
    }
    Ok(context)
}

/// A local context: its directory and the Dockerfile relative to it (`../x`
/// when it lies outside), as docker's `GetContextFromLocalDir`.
pub fn local_dir(
    dir: &Path,
    dockerfile: Option<&str>,
    cwd: &Path,
) -> Result<(PathBuf, String), CliError> {
    let context = context_dir(dir, cwd)?;
    // `-f` is relative to the current directory, not to the context.
    let wanted = match dockerfile {
        Some(f) => absolute(Path::new(f), cwd),
        None => {
            let default = context.join("Dockerfile");
            let lower = context.join("dockerfile");
            if default.symlink_metadata().is_err() && lower.symlink_metadata().is_ok() {
                lower
            } else {
                default
            }
        }
    };
    let resolved = std::fs::canonicalize(&wanted).map_err(|_| {
        prepare_error(format!(
            "Cannot locate Dockerfile: {:?}",
            wanted.display().to_string()
        ))
    })?;
    Ok((context.clone(), relative(&context, &resolved)))
}

/// `target` relative to `base`, with `..` where it leaves it (both absolute).
fn relative(base: &Path, target: &Path) -> String {
    let base: Vec<_> = base.components().collect();
    let target: Vec<_> = target.components().collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); base.len() - common];
    parts.extend(
        target[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// The tar header docker's archive writes: owner root, the file's mode and time.
fn header_for(meta: &std::fs::Metadata, kind: tar::EntryType, size: u64) -> tar::Header {
    use std::os::unix::fs::MetadataExt;
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(meta.mode() & 0o7777);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(meta.mtime().max(0) as u64);
    header.set_size(size);
    header
}

fn io_error<'a>(what: &str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CliError + 'a {
    let what = what.to_owned();
    move |e| CliError::io(format!("{what} {}", path.display()), e)
}

/// Writes the directory `root` as a tar to `out`, leaving out what
/// `.dockerignore` excludes (`dockerfile` and `.dockerignore` always kept).
pub fn write_tar(root: &Path, dockerfile: &str, out: impl Write) -> Result<(), CliError> {
    let patterns = match std::fs::read_to_string(root.join(".dockerignore")) {
        Ok(text) => read_patterns(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(CliError::Status {
                code: 1,
                message: format!("error reading .dockerignore: {e}"),
            })
        }
    };
    let patterns = keep_build_files(patterns, dockerfile);
    let matcher = Matcher::new(&patterns).map_err(|e| CliError::Status {
        code: 1,
        message: e.to_string(),
    })?;
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    add_dir(&mut builder, root, "", &matcher)?;
    builder
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(|e| CliError::io("writing the build context", e))
}

fn add_dir<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &str,
    matcher: &Matcher,
) -> Result<(), CliError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_error("can't stat", dir))?
        .collect::<Result<_, _>>()
        .map_err(io_error("can't stat", dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io_error("can't stat", &path))?;
        let excluded = matcher.excludes(&name);
        let file_type = meta.file_type();
        if file_type.is_dir() {
            // An excluded directory is still walked when an exception may
            // bring back something inside it.
            if excluded && !matcher.has_exclusions() {
                continue;
            }
            if !excluded {
                let mut header = header_for(&meta, tar::EntryType::Directory, 0);
                builder
                    .append_data(&mut header, format!("{name}/"), std::io::empty())
                    .map_err(io_error("adding", &path))?;
            }
            add_dir(builder, &path, &format!("{name}/"), matcher)?;
            continue;
        }
        if excluded {
            continue;
        }
        if file_type.is_symlink() {
            let target = std::fs::read_link(&path).map_err(io_error("reading the link", &path))?;
            let mut header = header_for(&meta, tar::EntryType::Symlink, 0);
            builder
                .append_link(&mut header, &name, &target)
                .map_err(io_error("adding", &path))?;
        } else if file_type.is_file() {
            let file = std::fs::File::open(&path).map_err(|e| CliError::Status {
                code: 1,
                message: format!(
                    "checking context: no permission to read from '{}': {e}",
                    path.display()
                ),
            })?;
            let mut header = header_for(&meta, tar::EntryType::Regular, meta.len());
            builder
                .append_data(&mut header, &name, file)
                .map_err(io_error("adding", &path))?;
        }
        // Sockets, pipes and devices have no place in a build context.
    }
    Ok(())
}

/// The header of a file berth makes up (not read from disk): root's, mode 0600.
fn generated_file(size: usize, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size as u64);
    header
}

/// A 20-character name suffix of a–z0–9, as docker's `randomSuffix`.
fn random_suffix() -> String {
    let mut bytes = [0u8; 10];
    if getrandom::fill(&mut bytes).is_err() {
        // Uniqueness within one context is all that matters here.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes.copy_from_slice(&nanos.to_le_bytes()[..10]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// docker's `AddDockerfileToBuildContext`: appends `dockerfile` to the tar in
/// `context` under a random name and lists that name in `.dockerignore`, so
/// that COPY never sees it. Returns the new tar and the Dockerfile's name.
pub fn add_dockerfile(context: &[u8], dockerfile: &[u8]) -> Result<(Vec<u8>, String), CliError> {
    let name = format!(".dockerfile.{}", random_suffix());
    let bad = |e: std::io::Error| CliError::io("rewriting the build context", e);
    let mut archive = tar::Archive::new(context);
    let mut out = tar::Builder::new(Vec::new());
    let mut ignore: Option<Vec<u8>> = None;
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        if path == ".dockerignore" {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut text).map_err(bad)?;
            ignore = Some(text);
            continue;
        }
        let mut header = entry.header().clone();
        out.append_data(&mut header, &path, &mut entry)
            .map_err(bad)?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut ignore = ignore.unwrap_or_else(|| b".dockerignore".to_vec());
    ignore.extend_from_slice(format!("\n{name}\n").as_bytes());
    for (file, content) in [(name.as_str(), dockerfile), (".dockerignore", &ignore[..])] {
        let mut header = generated_file(content.len(), now);
        out.append_data(&mut header, file, content).map_err(bad)?;
    }
    Ok((out.into_inner().map_err(bad)?, name))
}

/// docker's test for a tar (or a compressed stream) on stdin; anything else
/// is a Dockerfile.
pub fn is_archive(head: &[u8]) -> bool {
    const MAGICS: &[&[u8]] = &[
        &[0x1f, 0x8b, 0x08],
        b"BZh",
        &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    if MAGICS.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    head.len() >= 512
        && tar::Header::from_byte_slice(&head[..512])
            .cksum()
            .is_ok_and(|sum| {
                let computed: u32 = head[..512]
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
                sum == computed
            })
}

/// A Dockerfile given on stdin becomes a context of that one file.
pub fn dockerfile_context(dockerfile: &[u8]) -> Result<Vec<u8>, CliError> {
    let bad = |e: std::io::Error| CliError::io("making the build context", e);
    let mut out = tar::Builder::new(Vec::new());
    let mut header = generated_file(dockerfile.len(), 0);
    out.append_data(&mut header, "Dockerfile", dockerfile)
        .map_err(bad)?;
    out.into_inner().map_err(bad)
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
