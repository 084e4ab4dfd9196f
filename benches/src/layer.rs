//! A generated image layer: many small files, as in a distribution's /usr/lib.
//!
//! The layer is deterministic (a seeded PRNG, fixed owners and times), so two runs measure
//! the same bytes. File sizes are log-uniform between 32 B and 128 KiB (mean about 16 KiB,
//! most files a few KiB), in directories of 16 files; one file in 64 also gets a symlink and
//! one in 128 a hard link. File contents are half copies from a small dictionary, half random
//! bytes, which compresses about 2:1, like shared libraries do.

use std::io::Write;

use tar::{EntryType, Header};

const MIN_FILE: f64 = 32.0;
const MAX_FILE: f64 = 128.0 * 1024.0;
const FILES_PER_DIR: u64 = 16;
const DIRS_PER_TOP: u64 = 16;
const CHUNK: usize = 64;
const DICTIONARY_LEN: usize = 4096;
/// A fixed mtime (2020-01-01) so the tar is byte-for-byte reproducible.
const MTIME: u64 = 1_577_836_800;

/// An uncompressed layer tar and what it holds.
#[derive(Debug, Clone)]
pub struct GeneratedLayer {
    pub tar: Vec<u8>,
    /// Regular files (hard links not counted).
    pub files: u64,
    /// Every tar entry: directories, files, symlinks and hard links.
    pub entries: u64,
    /// Bytes of regular file content.
    pub content_bytes: u64,
}

/// A layer whose file contents add up to at least `target_bytes`.
pub fn generate(target_bytes: u64, seed: u64) -> GeneratedLayer {
    let mut rng = Rng::new(seed);
    let mut dictionary = vec![0u8; DICTIONARY_LEN];
    rng.fill(&mut dictionary);
    let mut builder = tar::Builder::new(Vec::with_capacity(target_bytes as usize * 11 / 10));
    let mut layer = GeneratedLayer {
        tar: Vec::new(),
        files: 0,
        entries: 0,
        content_bytes: 0,
    };
    let mut content = Vec::new();
    while layer.content_bytes < target_bytes {
        let i = layer.files;
        if i.is_multiple_of(FILES_PER_DIR * DIRS_PER_TOP) {
            append_dir(&mut builder, &top_dir(i));
            layer.entries += 1;
        }
        if i.is_multiple_of(FILES_PER_DIR) {
            append_dir(&mut builder, &leaf_dir(i));
            layer.entries += 1;
        }
        let size = rng.log_uniform(MIN_FILE, MAX_FILE) as usize;
        content.clear();
        content.resize(size, 0);
        fill_content(&mut rng, &dictionary, &mut content);
        let name = file_name(i);
        let mode = if i.is_multiple_of(5) { 0o755 } else { 0o644 };
        append(
            &mut builder,
            EntryType::Regular,
            &name,
            mode,
            &content,
            None,
        );
        layer.files += 1;
        layer.entries += 1;
        layer.content_bytes += size as u64;
        if i.is_multiple_of(64) {
            let link = format!("{}/lib{i:07}.so.1", leaf_dir(i));
            let target = format!("lib{i:07}.so");
            append(
                &mut builder,
                EntryType::Symlink,
                &link,
                0o777,
                &[],
                Some(&target),
            );
            layer.entries += 1;
        }
        if i % 128 == 1 {
            let link = format!("{}/hard{i:07}", leaf_dir(i));
            append(&mut builder, EntryType::Link, &link, mode, &[], Some(&name));
            layer.entries += 1;
        }
    }
    layer.tar = builder.into_inner().expect("writing a tar to memory");
    layer
}

/// gzip at the default level, as `docker push` and Go's gzip writer use.
pub fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(tar.len() / 2),
        flate2::Compression::default(),
    );
    encoder.write_all(tar).expect("compressing to memory");
    encoder.finish().expect("compressing to memory")
}

/// zstd at its default level (3).
pub fn zstd(tar: &[u8]) -> Vec<u8> {
    zstd::encode_all(tar, 0).expect("compressing to memory")
}

fn top_dir(i: u64) -> String {
    format!("usr/lib/pkg{:04}", i / (FILES_PER_DIR * DIRS_PER_TOP))
}

fn leaf_dir(i: u64) -> String {
    format!("{}/sub{:x}", top_dir(i), (i / FILES_PER_DIR) % DIRS_PER_TOP)
}

fn file_name(i: u64) -> String {
    format!("{}/lib{i:07}.so", leaf_dir(i))
}

fn append_dir(builder: &mut tar::Builder<Vec<u8>>, path: &str) {
    append(builder, EntryType::Directory, path, 0o755, &[], None);
}

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    kind: EntryType,
    path: &str,
    mode: u32,
    data: &[u8],
    link: Option<&str>,
) {
    let mut header = Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(MTIME);
    header.set_size(data.len() as u64);
    if let Some(target) = link {
        header
            .set_link_name(target)
            .expect("generated link names fit a ustar header");
    }
    builder
        .append_data(&mut header, path, data)
        .expect("generated paths are valid tar paths");
}

fn fill_content(rng: &mut Rng, dictionary: &[u8], out: &mut [u8]) {
    for chunk in out.chunks_mut(CHUNK) {
        if rng.next() & 1 == 0 {
            let start = (rng.next() as usize) % (DICTIONARY_LEN - CHUNK);
            chunk.copy_from_slice(&dictionary[start..start + chunk.len()]);
        } else {
            rng.fill(chunk);
        }
    }
}

/// xorshift64*: fast, seedable, and good enough to make incompressible bytes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // A zero state would stay zero forever.
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn log_uniform(&mut self, low: f64, high: f64) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (low.ln() + unit * (high.ln() - low.ln())).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn layer_holds_what_it_reports() {
        let layer = generate(2 << 20, 1);
        assert!(layer.content_bytes >= 2 << 20);
        assert!(layer.files > 100, "{} files", layer.files);

        let mut archive = tar::Archive::new(&layer.tar[..]);
        let (mut entries, mut files, mut bytes, mut links) = (0, 0, 0, 0);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            entries += 1;
            match entry.header().entry_type() {
                EntryType::Regular => {
                    files += 1;
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).unwrap();
                    bytes += data.len() as u64;
                }
                EntryType::Symlink | EntryType::Link => links += 1,
                _ => {}
            }
        }
        assert_eq!(entries, layer.entries);
        assert_eq!(files, layer.files);
        assert_eq!(bytes, layer.content_bytes);
        assert!(links > 0);
    }

    #[test]
    fn layer_is_reproducible_and_seeded() {
        assert_eq!(generate(256 << 10, 7).tar, generate(256 << 10, 7).tar);
        assert_ne!(generate(256 << 10, 7).tar, generate(256 << 10, 8).tar);
    }

    #[test]
    fn compressed_forms_round_trip_and_compress_about_two_to_one() {
        let layer = generate(1 << 20, 3);
        let gz = gzip(&layer.tar);
        let zst = zstd(&layer.tar);
        for compressed in [&gz, &zst] {
            let ratio = layer.tar.len() as f64 / compressed.len() as f64;
            assert!((1.4..4.0).contains(&ratio), "ratio {ratio}");
            let (_, mut reader) = fsdriver::compression::decompress(&compressed[..]).unwrap();
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert_eq!(out, layer.tar);
        }
    }

    #[test]
    fn fsdriver_extracts_every_generated_entry() {
        if crate::skipped_without_root() {
            return;
        }
        let layer = generate(1 << 20, 4);
        let dest = tempfile::tempdir().unwrap();
        let extracted = fsdriver::extract::extract(
            &layer.tar[..],
            dest.path(),
            &fsdriver::extract::ExtractLimits::default(),
        )
        .unwrap();
        assert_eq!(extracted.entries, layer.entries);
        assert_eq!(extracted.size, layer.content_bytes);
        assert_eq!(
            std::fs::read_link(dest.path().join("usr/lib/pkg0000/sub0/lib0000000.so.1")).unwrap(),
            std::path::Path::new("lib0000000.so")
        );
    }
}
