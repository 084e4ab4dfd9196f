//! `cp`: files between a container and the local file system. The daemon only stats a
//! container path, sends a tar of it, or unpacks a tar into a container directory; where
//! things land follows docker's rules, decided here:
//! - a file onto a missing path becomes that path (a path ending in `/` must be a
//!   directory that exists), onto a file replaces it, into a directory keeps its name;
//! - a directory onto a missing path becomes that path, into a directory keeps its name,
//!   or gives only its contents when the source ends in `/.`; onto a file it is an error.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use hyper::Method;

use super::archive::copy_body;
use super::images::file_body;
use crate::client::query::{segment, Query};
use crate::client::{empty_body, Client};
use crate::error::CliError;
use crate::registry_args::CpArgs;

/// A copy that cannot be done as asked: docker exits 1 for these, not 125 as for bad flags.
fn refused(message: String) -> CliError {
    CliError::Status { code: 1, message }
}

/// One side of a copy: `CONTAINER:PATH`, or a local path (`-` for a tar on stdin/stdout).
#[derive(Debug, PartialEq)]
enum Side {
    Local(String),
    Container { name: String, path: String },
}

/// As docker splits it: an absolute path, or one whose part before `:` starts with `.`,
/// or one without `:`, is local.
fn side(arg: &str) -> Side {
    if arg.starts_with('/') {
        return Side::Local(arg.to_owned());
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.starts_with('.') => Side::Container {
            name: name.to_owned(),
            path: path.to_owned(),
        },
        _ => Side::Local(arg.to_owned()),
    }
}

pub async fn cp(client: &mut Client, args: CpArgs) -> Result<(), CliError> {
    match (side(&args.source), side(&args.destination)) {
        (Side::Container { name, path }, Side::Local(local)) => {
            from_container(client, &args, &name, &path, &local).await
        }
        (Side::Local(local), Side::Container { name, path }) => {
            to_container(client, &args, &local, &name, &path).await
        }
        (Side::Local(_), Side::Local(_)) => Err(refused(
            "must specify at least one container source".to_owned(),
        )),
        (Side::Container { .. }, Side::Container { .. }) => Err(refused(
            "copying between containers is not supported".to_owned(),
        )),
    }
}

/// What the daemon says of a container path.
struct ContainerStat {
    is_dir: bool,
    is_symlink: bool,
    link_target: String,
}

fn parse_stat(header: Option<&hyper::header::HeaderValue>) -> Result<ContainerStat, CliError> {
    let bad = |why: String| refused(format!("the daemon sent a bad path stat: {why}"));
    let header = header.ok_or_else(|| bad("none".into()))?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(header.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    let stat: serde_json::Value = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
    let mode = stat["mode"].as_u64().unwrap_or(0);
    Ok(ContainerStat {
        is_dir: mode & (1 << 31) != 0,
        is_symlink: mode & (1 << 27) != 0,
        link_target: stat["linkTarget"].as_str().unwrap_or("").to_owned(),
    })
}

fn archive_path(name: &str, query: Query) -> String {
    format!("/containers/{}/archive{}", segment(name), query.build())
}

/// Whether a path asks for a directory's contents (`dir/.`) or for a directory (`dir/`).
fn ends_with_dot(path: &str) -> bool {
    path == "." || path.ends_with("/.")
}

async fn from_container(
    client: &mut Client,
    args: &CpArgs,
    name: &str,
    path: &str,
    local: &str,
) -> Result<(), CliError> {
    let get = |path: &str| archive_path(name, Query::new().param("path", path));
    let mut response = client.stream(Method::GET, &get(path), empty_body()).await?;
    let mut stat = parse_stat(response.headers().get("X-Docker-Container-Path-Stat"))?;
    if args.follow_link && stat.is_symlink {
        response = client
            .stream(Method::GET, &get(&stat.link_target), empty_body())
            .await?;
        stat = parse_stat(response.headers().get("X-Docker-Container-Path-Stat"))?;
    }
    if local == "-" {
        copy_body(response, &mut std::io::stdout().lock()).await?;
        return Ok(());
    }
    let target = local_target(local, stat.is_dir, ends_with_dot(path))?;
    // The archive is spooled rather than held in memory: a copied tree may be large.
    let mut spool =
        tempfile::tempfile().map_err(|e| CliError::io("creating a temporary file", e))?;
    let size = copy_body(response, &mut spool).await?;
    std::io::Seek::rewind(&mut spool)
        .map_err(|e| CliError::io("reading the temporary archive", e))?;
    unpack_locally(std::io::BufReader::new(spool), &target)?;
    if !args.quiet && rustix::termios::isatty(std::io::stderr()) {
        eprintln!(
            "Successfully copied {} to {local}",
            crate::format::units::human_size(size as f64)
        );
    }
    Ok(())
}

/// Where the top of a copied archive lands locally.
#[derive(Debug, PartialEq)]
enum LocalTarget {
    /// The top becomes this path.
    Exactly(PathBuf),
    /// The top keeps its archive name, inside this existing directory.
    Inside(PathBuf),
    /// The archive holds a directory's contents (its top is `.`): they go into this
    /// directory, made if missing.
    Contents(PathBuf),
}

/// Where the copied path's top lands locally, by docker's rules.
fn local_target(local: &str, source_is_dir: bool, contents: bool) -> Result<LocalTarget, CliError> {
    let dest = Path::new(local);
    match fs::metadata(dest) {
        Ok(meta) if meta.is_dir() && contents && source_is_dir => {
            Ok(LocalTarget::Contents(dest.to_path_buf()))
        }
        Ok(meta) if meta.is_dir() => Ok(LocalTarget::Inside(dest.to_path_buf())),
        Ok(_) if source_is_dir => Err(refused(format!(
            "cannot copy a directory to a file: {local}"
        ))),
        Ok(_) => Ok(LocalTarget::Exactly(dest.to_path_buf())),
        Err(_) if local.ends_with('/') && !source_is_dir => {
            Err(refused(format!("destination directory {local} must exist")))
        }
        Err(_) if contents && source_is_dir => Ok(LocalTarget::Contents(dest.to_path_buf())),
        Err(_) => Ok(LocalTarget::Exactly(dest.to_path_buf())),
    }
}

/// Unpacks an archive whose entries all start with one top component (the copied path's
/// name, or `.` for its contents) so that the top lands at `target`.
fn unpack_locally(tar: impl std::io::Read, target: &LocalTarget) -> Result<(), CliError> {
    let bad = |e: std::io::Error| refused(format!("unpacking the archive: {e}"));
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        let mut components = path.components().filter(|c| *c != Component::CurDir);
        // A contents archive names paths inside the directory; any other has the copied
        // path's name on top.
        let top = match target {
            LocalTarget::Contents(_) => None,
            _ => components.next(),
        };
        let rest: PathBuf = components.collect();
        if rest
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(refused(format!(
                "the archive names {} outside of the copied path",
                path.display()
            )));
        }
        let top_target = match (target, top) {
            (LocalTarget::Exactly(path), _) => path.clone(),
            (LocalTarget::Inside(dir), Some(Component::Normal(name))) => dir.join(name),
            (LocalTarget::Inside(dir) | LocalTarget::Contents(dir), _) => dir.clone(),
        };
        let destination = if rest.as_os_str().is_empty() {
            top_target
        } else {
            top_target.join(&rest)
        };
        entry.set_preserve_permissions(true);
        entry.set_preserve_mtime(true);
        entry
            .unpack(&destination)
            .map_err(|e| refused(format!("copying to {}: {e}", destination.display())))?;
    }
    Ok(())
}

async fn to_container(
    client: &mut Client,
    args: &CpArgs,
    local: &str,
    name: &str,
    path: &str,
) -> Result<(), CliError> {
    let container_path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let put = |dir: &str| {
        archive_path(
            name,
            Query::new()
                .param("path", dir)
                .flag("noOverwriteDirNonDir", true)
                .flag("copyUIDGID", args.archive),
        )
    };
    if local == "-" {
        let stdin = tokio::io::stdin();
        client
            .stream(Method::PUT, &put(&container_path), file_body(stdin))
            .await?;
        return Ok(());
    }
    let source = Path::new(local);
    let source_meta = if args.follow_link {
        fs::metadata(source)
    } else {
        fs::symlink_metadata(source)
    }
    .map_err(|e| CliError::io(format!("stat {local}"), e))?;
    let source_is_dir = source_meta.is_dir();

    let head = archive_path(name, Query::new().param("path", &container_path));
    let destination = match client.stream(Method::HEAD, &head, empty_body()).await {
        Ok(response) => Some(parse_stat(
            response.headers().get("X-Docker-Container-Path-Stat"),
        )?),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let source_name = || {
        source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".to_owned())
    };
    let (directory, top) = match destination {
        Some(stat) if stat.is_dir => {
            let top = if ends_with_dot(local) {
                ".".to_owned()
            } else {
                source_name()
            };
            (container_path.clone(), top)
        }
        Some(_) if source_is_dir => {
            return Err(refused(format!(
                "cannot copy a directory to a file: {name}:{path}"
            )))
        }
        None if container_path.ends_with('/') && !source_is_dir => {
            return Err(refused(format!(
                "destination directory {name}:{path} must exist"
            )))
        }
        _ => {
            let target = Path::new(container_path.trim_end_matches('/'));
            let parent = target
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "/".to_owned());
            let top = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| refused(format!("cannot copy onto {name}:{path}")))?;
            (parent, top)
        }
    };

    let spool = tempfile::tempfile().map_err(|e| CliError::io("creating a temporary file", e))?;
    let mut archive = tar::Builder::new(spool);
    archive.follow_symlinks(false);
    let added = if source_is_dir {
        archive.append_dir_all(&top, source)
    } else if args.follow_link {
        let mut file =
            fs::File::open(source).map_err(|e| CliError::io(format!("opening {local}"), e))?;
        archive.append_file(&top, &mut file)
    } else {
        archive.append_path_with_name(source, &top)
    };
    added.map_err(|e| CliError::io(format!("archiving {local}"), e))?;
    let mut spool = archive
        .into_inner()
        .map_err(|e| CliError::io(format!("archiving {local}"), e))?;
    let size = spool
        .flush()
        .and_then(|()| std::io::Seek::rewind(&mut spool))
        .and_then(|()| spool.metadata().map(|m| m.len()))
        .map_err(|e| CliError::io("reading the temporary archive", e))?;
    let body = file_body(tokio::fs::File::from_std(spool));
    client.stream(Method::PUT, &put(&directory), body).await?;
    if !args.quiet && rustix::termios::isatty(std::io::stderr()) {
        eprintln!(
            "Successfully copied {} to {name}:{path}",
            crate::format::units::human_size(size as f64)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_split_as_docker_splits_them() {
        assert_eq!(
            side("web:/etc/hosts"),
            Side::Container {
                name: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(side("/abs:olute"), Side::Local("/abs:olute".into()));
        assert_eq!(side("./rel:ative"), Side::Local("./rel:ative".into()));
        assert_eq!(side("plain"), Side::Local("plain".into()));
        assert_eq!(side("-"), Side::Local("-".into()));
    }

    fn archive(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, content) in entries {
            let mut header = tar::Header::new_gnu();
            match content {
                Some(data) => {
                    header.set_size(data.len() as u64);
                    header.set_mode(0o644);
                    header.set_cksum();
                    tar.append_data(&mut header, name, *data).unwrap();
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    header.set_mode(0o755);
                    header.set_cksum();
                    tar.append_data(&mut header, name, &[][..]).unwrap();
                }
            }
        }
        tar.into_inner().unwrap()
    }

    #[test]
    fn the_archive_top_lands_where_dockers_rules_say() {
        let dir = tempfile::tempdir().unwrap();
        let d = |p: &str| dir.path().join(p);
        let local = |p: &str| d(p).display().to_string();
        let tree = archive(&[("conf", None), ("conf/a", Some(b"a")), ("conf/sub", None)]);
        let file = archive(&[("hosts", Some(b"h"))]);

        // A directory onto a missing path becomes it; into a directory, it keeps its name.
        unpack_locally(
            tree.as_slice(),
            &local_target(&local("copy"), true, false).unwrap(),
        )
        .unwrap();
        assert_eq!(fs::read(d("copy/a")).unwrap(), b"a");
        unpack_locally(
            tree.as_slice(),
            &local_target(&local("copy"), true, false).unwrap(),
        )
        .unwrap();
        assert_eq!(fs::read(d("copy/conf/a")).unwrap(), b"a");
        // Its contents (`dir/.`) go straight into an existing directory.
        fs::create_dir(d("flat")).unwrap();
        let contents = archive(&[(".", None), ("./a", Some(b"a"))]);
        unpack_locally(
            contents.as_slice(),
            &local_target(&local("flat"), true, true).unwrap(),
        )
        .unwrap();
        assert_eq!(fs::read(d("flat/a")).unwrap(), b"a");

        // A file: onto a missing path, onto a file, into a directory.
        unpack_locally(
            file.as_slice(),
            &local_target(&local("h1"), false, false).unwrap(),
        )
        .unwrap();
        assert_eq!(fs::read(d("h1")).unwrap(), b"h");
        fs::write(d("h2"), b"old").unwrap();
        unpack_locally(
            file.as_slice(),
            &local_target(&local("h2"), false, false).unwrap(),
        )
        .unwrap();
        assert_eq!(fs::read(d("h2")).unwrap(), b"h");
        unpack_locally(
            file.as_slice(),
            &local_target(&local("flat"), false, false).unwrap(),
        )
        .unwrap();
        assert_eq!(fs::read(d("flat/hosts")).unwrap(), b"h");

        // Refused: a directory onto a file, a file into a missing directory.
        assert!(local_target(&local("h2"), true, false).is_err());
        assert!(local_target(&format!("{}/", local("nodir")), false, false).is_err());
        // An archive naming a path outside the copied one is refused.
        let mut escape = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_old();
        let name = b"conf/../../evil";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(1);
        header.set_mode(0o644);
        header.set_cksum();
        escape.append(&header, &b"x"[..]).unwrap();
        let escape = escape.into_inner().unwrap();
        assert!(unpack_locally(escape.as_slice(), &LocalTarget::Exactly(d("x"))).is_err());
        assert!(!dir.path().parent().unwrap().join("evil").exists());
    }
}
