//! A cgroup's stats files, opened once and read with `pread` at every sample: the
//! [`StatsSource`] a sampler serving many containers uses, so that a sample costs one
//! system call per file and no path lookups.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::detect::Hierarchy;
use crate::error::{CgroupError, Result};
use crate::fsio;
use crate::stats::{self, CgroupStats, StatsFile, StatsSource};

struct OpenFile {
    kind: StatsFile,
    path: PathBuf,
    /// `None` when the file does not exist: its controller is not there for this cgroup.
    file: Option<File>,
}

/// The open stats files of one cgroup.
pub struct OpenStats {
    version: u8,
    files: Vec<OpenFile>,
    buffer: Vec<u8>,
}

impl OpenStats {
    /// Opens every stats file of `cgroup_path` (e.g. "/berth/<id>") that exists. A cgroup
    /// that does not exist at all is an error of kind NotFound.
    pub fn open(hierarchy: &Hierarchy, cgroup_path: &str) -> Result<OpenStats> {
        let relative = cgroup_path.trim_start_matches('/');
        let locations: Vec<(StatsFile, PathBuf)> = match hierarchy {
            Hierarchy::V1 { mounts } => StatsFile::V1
                .iter()
                .filter_map(|kind| {
                    let (controller, name) = kind.v1_location()?;
                    let mount = mounts.get(controller)?;
                    Some((*kind, mount.join(relative).join(name)))
                })
                .collect(),
            Hierarchy::V2 { root } => {
                let dir = root.join(relative);
                if !dir.is_dir() {
                    return Err(fsio::io_error(
                        "open",
                        &dir,
                        io::Error::from(io::ErrorKind::NotFound),
                    ));
                }
                StatsFile::V2
                    .iter()
                    .filter_map(|kind| Some((*kind, dir.join(kind.v2_name()?))))
                    .collect()
            }
        };
        let mut files = Vec::with_capacity(locations.len());
        for (kind, path) in locations {
            let file = match File::open(&path) {
                Ok(file) => Some(file),
                Err(e) if fsio::is_not_found(&e) => None,
                Err(e) => return Err(fsio::io_error("open", &path, e)),
            };
            files.push(OpenFile { kind, path, file });
        }
        if let Hierarchy::V1 { .. } = hierarchy {
            // On v1 each hierarchy has its own directory; if none of the files exists the
            // cgroup itself is missing.
            if files.iter().all(|f| f.file.is_none()) {
                let path = files
                    .first()
                    .and_then(|f| f.path.parent())
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from(cgroup_path));
                return Err(fsio::io_error(
                    "open",
                    &path,
                    io::Error::from(io::ErrorKind::NotFound),
                ));
            }
        }
        Ok(OpenStats {
            version: hierarchy.version(),
            files,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// One sample: every open file is read from offset 0 and parsed.
    pub fn sample(&mut self) -> Result<CgroupStats> {
        if self.version == 1 {
            stats::collect_v1(self)
        } else {
            stats::collect_v2(self)
        }
    }
}

/// Reads the whole of `file` from offset 0 into `buffer`.
fn pread_all(file: &File, buffer: &mut Vec<u8>) -> io::Result<()> {
    buffer.clear();
    loop {
        if buffer.capacity() - buffer.len() < 1024 {
            buffer.reserve(buffer.capacity().max(4096));
        }
        let len = buffer.len();
        let spare = buffer.capacity() - len;
        buffer.resize(len + spare, 0);
        let read = file.read_at(&mut buffer[len..], len as u64);
        match read {
            Ok(0) => {
                buffer.truncate(len);
                return Ok(());
            }
            Ok(n) => buffer.truncate(len + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buffer.truncate(len),
            Err(e) => {
                buffer.truncate(len);
                return Err(e);
            }
        }
    }
}

impl StatsSource for OpenStats {
    fn read(&mut self, kind: StatsFile) -> Result<Option<&str>> {
        let Some(entry) = self.files.iter().find(|f| f.kind == kind) else {
            return Ok(None);
        };
        let Some(file) = &entry.file else {
            return Ok(None);
        };
        pread_all(file, &mut self.buffer).map_err(|e| fsio::io_error("read", &entry.path, e))?;
        match std::str::from_utf8(&self.buffer) {
            Ok(text) => Ok(Some(text)),
            Err(_) => Err(CgroupError::Parse {
                path: entry.path.clone(),
                source: crate::error::ParseError::new("the file is not UTF-8 text"),
            }),
        }
    }

    fn path(&self, kind: StatsFile) -> PathBuf {
        self.files
            .iter()
            .find(|f| f.kind == kind)
            .map(|f| f.path.clone())
            .unwrap_or_else(|| PathBuf::from(format!("{kind:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn pread_sees_each_rewrite_of_a_kept_open_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("berth/c1");
        fs::create_dir_all(&dir).unwrap();
        for (name, text) in [
            ("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\n"),
            ("memory.current", "4096\n"),
            ("memory.max", "max\n"),
            ("memory.stat", "anon 4096\ninactive_file 0\n"),
            ("pids.current", "1\n"),
            ("pids.max", "max\n"),
        ] {
            fs::write(dir.join(name), text).unwrap();
        }
        let hierarchy = Hierarchy::V2 {
            root: root.path().to_path_buf(),
        };
        let mut open = OpenStats::open(&hierarchy, "/berth/c1").unwrap();
        let first = open.sample().unwrap();
        assert_eq!(first.memory.unwrap().usage, 4096);
        assert!(first.blkio.is_none(), "io.stat is missing");
        // A rewrite in place, as the kernel regenerates the text at each read.
        fs::write(dir.join("memory.current"), "8192\n").unwrap();
        fs::write(
            dir.join("cpu.stat"),
            "usage_usec 12345678\nuser_usec 6\nsystem_usec 4\n",
        )
        .unwrap();
        let second = open.sample().unwrap();
        assert_eq!(second.memory.unwrap().usage, 8192);
        assert_eq!(second.cpu.unwrap().usage_total_ns, 12_345_678_000);
    }

    #[test]
    fn a_missing_cgroup_is_not_found() {
        let root = tempfile::tempdir().unwrap();
        let v2 = Hierarchy::V2 {
            root: root.path().to_path_buf(),
        };
        let err = OpenStats::open(&v2, "/berth/none").err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::NotFound, "{err}");
        let v1 = Hierarchy::V1 {
            mounts: [("memory".to_string(), root.path().join("memory"))]
                .into_iter()
                .collect(),
        };
        let err = OpenStats::open(&v1, "/berth/none").err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::NotFound, "{err}");
    }
}
