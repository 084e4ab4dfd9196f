//! Everything observable about an extracted tree, so two extractions can be compared: type,
//! owner, mode, mtime, content, symlink target, device number, xattrs and which names are
//! hard links of one another. Access times are left out (reading a file may change them).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: (i64, i64),
    /// File content, symlink target or device number.
    pub data: Vec<u8>,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// For the second and later names of a hard-linked inode: the first name (in sorted
    /// order).
    pub link_of: Option<PathBuf>,
}

/// The tree under `root`, by path relative to it ("" for the root).
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut nodes = BTreeMap::new();
    let mut inodes: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut paths = vec![PathBuf::new()];
    let mut all = Vec::new();
    while let Some(rel) = paths.pop() {
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                paths.push(rel.join(entry.unwrap().file_name()));
            }
        }
        all.push((rel, meta));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    for (rel, meta) in all {
        let path = root.join(&rel);
        let file_type = meta.file_type();
        let (kind, data) = if file_type.is_dir() {
            ("dir", Vec::new())
        } else if file_type.is_file() {
            ("file", fs::read(&path).unwrap())
        } else if file_type.is_symlink() {
            let target = fs::read_link(&path).unwrap();
            ("symlink", target.into_os_string().into_encoded_bytes())
        } else if file_type.is_char_device() {
            ("char", meta.rdev().to_le_bytes().to_vec())
        } else if file_type.is_block_device() {
            ("block", meta.rdev().to_le_bytes().to_vec())
        } else if file_type.is_fifo() {
            ("fifo", Vec::new())
        } else {
            ("other", Vec::new())
        };
        let link_of = if !meta.is_dir() && meta.nlink() > 1 {
            match inodes.get(&meta.ino()) {
                Some(first) => Some(first.clone()),
                None => {
                    inodes.insert(meta.ino(), rel.clone());
                    None
                }
            }
        } else {
            None
        };
        nodes.insert(
            rel,
            Node {
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                data,
                xattrs: xattrs(&path),
                link_of,
            },
        );
    }
    nodes
}

fn xattrs(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut names = vec![0u8; 64 * 1024];
    let n = rustix::fs::llistxattr(path, &mut names[..]).unwrap();
    let mut xattrs = BTreeMap::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name_str = std::ffi::OsStr::from_bytes(name);
        let mut value = vec![0u8; 64 * 1024];
        let len = rustix::fs::lgetxattr(path, name_str, &mut value[..]).unwrap();
        value.truncate(len);
        xattrs.insert(name.to_vec(), value);
    }
    xattrs
}

/// Asserts that two snapshots are equal, naming the first path that differs.
pub fn assert_same(left: &BTreeMap<PathBuf, Node>, right: &BTreeMap<PathBuf, Node>) {
    for (path, node) in left {
        match right.get(path) {
            None => panic!("{} exists only on the left: {node:?}", path.display()),
            Some(other) => assert_eq!(node, other, "{} differs (left, right)", path.display()),
        }
    }
    for path in right.keys() {
        assert!(
            left.contains_key(path),
            "{} exists only on the right",
            path.display()
        );
    }
}
