//! What a container changed (`docker diff`), read from its overlay upper directory and the
//! image layers below it.
//!
//! A path in the upper directory is `Deleted` when it is a whiteout (a character device
//! 0/0), `Modified` when a lower layer has it too, and `Added` otherwise. A directory that
//! only holds other changes is copied up by overlayfs without changing itself; it is
//! reported, as Docker reports it, when something under it changed or its own ownership or
//! mode did.

use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use crate::diff::{io_err, kept_entries, lgetxattr, DiffError, OPAQUE_XATTR};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

impl ChangeKind {
    /// The number the API sends (`Kind` of `GET /containers/{id}/changes`).
    pub fn code(self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute inside the container: `/etc/passwd`.
    pub path: String,
    pub kind: ChangeKind,
}

/// The changes recorded in `upper` over `lowers` (extracted layers, top-most first), sorted
/// by path. Paths in `skip` (relative to `upper`) are the engine's mount points, not the
/// container's changes.
pub fn upper_changes(
    upper: &Path,
    lowers: &[PathBuf],
    skip: &[PathBuf],
) -> Result<Vec<Change>, DiffError> {
    let mut changes = Vec::new();
    let walk = Walk { lowers, skip };
    walk.directory(upper, Path::new(""), &mut changes)?;
    Ok(changes)
}

struct Walk<'a> {
    lowers: &'a [PathBuf],
    skip: &'a [PathBuf],
}

impl Walk<'_> {
    fn directory(
        &self,
        dir: &Path,
        relative: &Path,
        changes: &mut Vec<Change>,
    ) -> Result<(), DiffError> {
        for (name, entry_relative) in kept_entries(dir, relative, self.skip)? {
            self.entry(&dir.join(&name), &entry_relative, changes)?;
        }
        Ok(())
    }

    fn entry(
        &self,
        path: &Path,
        relative: &Path,
        changes: &mut Vec<Change>,
    ) -> Result<(), DiffError> {
        let meta = fs::symlink_metadata(path).map_err(io_err("stat", path))?;
        let change = |kind| Change {
            path: format!("/{}", relative.display()),
            kind,
        };
        if meta.file_type().is_char_device() && meta.rdev() == 0 {
            changes.push(change(ChangeKind::Deleted));
            return Ok(());
        }
        let lower = self.lower_metadata(relative);
        if !meta.is_dir() {
            let kind = match lower {
                Some(_) => ChangeKind::Modified,
                None => ChangeKind::Added,
            };
            changes.push(change(kind));
            return Ok(());
        }
        let at = changes.len();
        self.directory(path, relative, changes)?;
        let own = match &lower {
            None => Some(ChangeKind::Added),
            Some(lower) if changed_itself(&meta, lower) => Some(ChangeKind::Modified),
            Some(_) if changes.len() > at => Some(ChangeKind::Modified),
            Some(_) if lgetxattr(path, OPAQUE_XATTR)?.as_deref() == Some(b"y") => {
                Some(ChangeKind::Modified)
            }
            Some(_) => None,
        };
        if let Some(kind) = own {
            changes.insert(at, change(kind));
        }
        Ok(())
    }

    /// The path's metadata in the top-most lower layer that has it, or None when no layer
    /// does or one above hides it. Each component is looked at without following symlinks,
    /// so a layer's links never lead the lookup out of the layer.
    fn lower_metadata(&self, relative: &Path) -> Option<Metadata> {
        let components: Vec<_> = relative
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name),
                _ => None,
            })
            .collect();
        for layer in self.lowers {
            let mut path = layer.clone();
            for (index, name) in components.iter().enumerate() {
                path.push(name);
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    break;
                };
                let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
                if whiteout {
                    return None;
                }
                if index + 1 == components.len() {
                    return Some(meta);
                }
                if !meta.is_dir() {
                    // A file or link where a directory would be hides the layers below.
                    return None;
                }
            }
            if self.opaque_above(layer, &components) {
                return None;
            }
        }
        None
    }

    /// Whether a directory on the path, within `layer`, is opaque: then no lower layer shows
    /// through it.
    fn opaque_above(&self, layer: &Path, components: &[&std::ffi::OsStr]) -> bool {
        let mut path = layer.to_path_buf();
        for name in &components[..components.len().saturating_sub(1)] {
            path.push(name);
            if lgetxattr(&path, OPAQUE_XATTR).ok().flatten().as_deref() == Some(b"y") {
                return true;
            }
        }
        false
    }
}

/// Whether a copied-up directory's own ownership or mode differ from the lower one's.
fn changed_itself(upper: &Metadata, lower: &Metadata) -> bool {
    upper.mode() != lower.mode() || upper.uid() != lower.uid() || upper.gid() != lower.gid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whiteout(path: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
    }

    fn listed(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| {
                let letter = match c.kind {
                    ChangeKind::Modified => 'C',
                    ChangeKind::Added => 'A',
                    ChangeKind::Deleted => 'D',
                };
                format!("{letter} {}", c.path)
            })
            .collect()
    }

    #[test]
    fn changes_are_read_against_the_layers_below() {
        let dir = tempfile::tempdir().unwrap();
        let (upper, top, base) = (
            dir.path().join("upper"),
            dir.path().join("top"),
            dir.path().join("base"),
        );
        for d in [&upper, &top, &base] {
            fs::create_dir(d).unwrap();
        }
        // The image: /etc/passwd and /usr/bin/tool in the base, /opt/app in the top layer,
        // which also deletes /usr/old.
        fs::create_dir_all(base.join("etc")).unwrap();
        fs::write(base.join("etc/passwd"), b"root").unwrap();
        fs::create_dir_all(base.join("usr/bin")).unwrap();
        fs::write(base.join("usr/bin/tool"), b"x").unwrap();
        fs::write(base.join("usr/old"), b"x").unwrap();
        fs::create_dir_all(top.join("opt")).unwrap();
        fs::write(top.join("opt/app"), b"x").unwrap();
        fs::create_dir(top.join("usr")).unwrap();
        whiteout(&top.join("usr/old"));

        // The container: changes /etc/passwd, adds /etc/new and /tmp/x, deletes /opt/app,
        // writes /usr/old again (gone from the image), and has the engine's /etc/hostname.
        fs::create_dir(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/passwd"), b"root2").unwrap();
        fs::write(upper.join("etc/new"), b"n").unwrap();
        fs::write(upper.join("etc/hostname"), b"").unwrap();
        fs::create_dir(upper.join("tmp")).unwrap();
        fs::write(upper.join("tmp/x"), b"x").unwrap();
        fs::create_dir(upper.join("opt")).unwrap();
        whiteout(&upper.join("opt/app"));
        fs::create_dir(upper.join("usr")).unwrap();
        fs::write(upper.join("usr/old"), b"y").unwrap();

        let lowers = [top, base];
        let skip = [PathBuf::from("etc/hostname")];
        let changes = upper_changes(&upper, &lowers, &skip).unwrap();
        assert_eq!(
            listed(&changes),
            [
                "C /etc",
                "A /etc/new",
                "C /etc/passwd",
                "C /opt",
                "D /opt/app",
                "A /tmp",
                "A /tmp/x",
                "C /usr",
                "A /usr/old",
            ]
        );
    }

    #[test]
    fn a_directory_holding_only_mount_points_is_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let (upper, base) = (dir.path().join("upper"), dir.path().join("base"));
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::create_dir_all(base.join("etc")).unwrap();
        let mode = fs::metadata(base.join("etc")).unwrap().mode();
        fs::set_permissions(
            upper.join("etc"),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .unwrap();
        fs::write(upper.join("etc/hosts"), b"").unwrap();
        let skip = [PathBuf::from("etc/hosts")];
        assert!(upper_changes(&upper, std::slice::from_ref(&base), &skip)
            .unwrap()
            .is_empty());
        // Its own mode changed: that is a change.
        fs::set_permissions(
            upper.join("etc"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        assert_eq!(
            listed(&upper_changes(&upper, &[base], &skip).unwrap()),
            ["C /etc"]
        );
    }

    #[test]
    fn a_link_in_a_layer_is_not_followed_out_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let (upper, base) = (dir.path().join("upper"), dir.path().join("base"));
        fs::create_dir_all(upper.join("escape")).unwrap();
        fs::write(upper.join("escape/passwd"), b"x").unwrap();
        fs::create_dir(&base).unwrap();
        // /escape in the image is a link to the host's /etc: /etc/passwd exists there, but
        // not in the image.
        std::os::unix::fs::symlink("/etc", base.join("escape")).unwrap();
        assert_eq!(
            listed(&upper_changes(&upper, &[base], &[]).unwrap()),
            ["C /escape", "A /escape/passwd"]
        );
    }
}
