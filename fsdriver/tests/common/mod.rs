//! Builds tar archives byte by byte, so tests can write what a hostile archive would contain
//! (paths with `..`, absolute names, links anywhere), which tar::Builder rightly refuses.

#![allow(dead_code)] // each test binary uses a different part of this helper

pub mod snapshot;

use tar::{EntryType, Header};

/// Whether the calling test is skipped: it needs root (it sets owners, makes device nodes,
/// mounts or writes cgroups) and runs as a normal user. Says so on stderr, past the test
/// harness's capture, so that `cargo test` shows it.
pub fn skipped_without_root() -> bool {
    if rustix::process::geteuid().is_root() {
        return false;
    }
    use std::io::Write as _;
    let thread = std::thread::current();
    let name = match thread.name() {
        Some("main") | None => std::env::args().next().unwrap_or_default(),
        Some(name) => name.to_string(),
    };
    let _ = writeln!(std::io::stderr(), "skipped {name}: it needs root");
    true
}

pub struct Tar {
    builder: tar::Builder<Vec<u8>>,
}

impl Tar {
    pub fn new() -> Tar {
        Tar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn header(path: &str, kind: EntryType, mode: u32, size: u64) -> Header {
        let mut header = Header::new_gnu();
        let name = &mut header.as_old_mut().name;
        assert!(path.len() <= name.len(), "use long_file for {path}");
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        header
    }

    fn append(&mut self, mut header: Header, data: &[u8]) -> &mut Tar {
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Tar {
        self.append(Self::header(path, EntryType::Directory, mode, 0), &[])
    }

    pub fn file(&mut self, path: &str, data: &[u8]) -> &mut Tar {
        self.file_with(path, data, 0o644, 0, 0)
    }

    pub fn file_with(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> &mut Tar {
        let mut header = Self::header(path, EntryType::Regular, mode, data.len() as u64);
        header.set_uid(uid);
        header.set_gid(gid);
        self.append(header, data)
    }

    fn link_entry(&mut self, path: &str, target: &str, kind: EntryType) -> &mut Tar {
        let mut header = Self::header(path, kind, 0o777, 0);
        let link = &mut header.as_old_mut().linkname;
        link[..target.len()].copy_from_slice(target.as_bytes());
        self.append(header, &[])
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Tar {
        self.link_entry(path, target, EntryType::Symlink)
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Tar {
        self.link_entry(path, target, EntryType::Link)
    }

    pub fn device(&mut self, path: &str, kind: EntryType, major: u32, minor: u32) -> &mut Tar {
        let mut header = Self::header(path, kind, 0o620, 0);
        header.set_device_major(major).unwrap();
        header.set_device_minor(minor).unwrap();
        self.append(header, &[])
    }

    /// A file whose name is too long for the header (the tar crate writes a GNU long name).
    pub fn long_file(&mut self, path: &str, data: &[u8]) -> &mut Tar {
        let mut header = Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_entry_type(EntryType::Regular);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        self.builder.append_data(&mut header, path, data).unwrap();
        self
    }

    /// A PAX extended header applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Tar {
        let mut data = Vec::new();
        for (key, value) in records {
            // "<len> <key>=<value>\n", where len counts itself.
            let body_len = 1 + key.len() + 1 + value.len() + 1;
            let mut len = body_len + 1;
            while len.to_string().len() + body_len != len {
                len = len.to_string().len() + body_len;
            }
            data.extend_from_slice(format!("{len} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        let header = Self::header("PaxHeader", EntryType::XHeader, 0o644, data.len() as u64);
        self.append(header, &data)
    }

    pub fn bytes(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}
