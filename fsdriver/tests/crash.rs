//! kill -9 in the middle of an import: a child process (this same binary, re-executed)
//! ingests a gzip layer from its stdin; once it has consumed half the layer it says so, and
//! gets SIGKILL while it waits for the rest. Neither a half layer nor a half blob may then
//! be visible, and the next import of the layer must complete it. Runs once per extractor.
//! Runs as root.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::Tar;
use fsdriver::content::ContentStore;
use fsdriver::extract::Extractor;
use fsdriver::import::ingest_layer;
use fsdriver::layer::LayerStore;
use fsdriver::Digest;

const CHILD: &str = "BERTH_CRASH_CHILD_ROOT";
const CHILD_EXTRACTOR: &str = "BERTH_CRASH_CHILD_EXTRACTOR";
const SIGNAL_AFTER: &str = "BERTH_CRASH_CHILD_SIGNAL_AFTER";
const READY: &str = "half of the layer is in";

fn main() {
    if common::skipped_without_root() {
        return;
    }
    if let Ok(root) = std::env::var(CHILD) {
        child(Path::new(&root));
        return;
    }
    for extractor in [Extractor::Reference, Extractor::Uring] {
        kill_during_import(extractor);
        println!("test kill_during_import::{extractor:?} ... ok");
    }
}

fn extractor_name(extractor: Extractor) -> &'static str {
    match extractor {
        Extractor::Reference => "reference",
        Extractor::Uring => "uring",
    }
}

fn layer() -> (Vec<u8>, Vec<u8>) {
    let mut tar = Tar::new();
    tar.dir("data/", 0o755);
    for i in 0..2000u32 {
        let content: Vec<u8> = (0..8192u32)
            .map(|j| (j ^ i.wrapping_mul(2654435761)) as u8)
            .collect();
        tar.file(&format!("data/{}/file-{i}", i % 20), &content);
    }
    let tar = tar.bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    (tar, gz.finish().unwrap())
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn kill_during_import(extractor: Extractor) {
    let root = tempfile::tempdir().unwrap();
    let (tar, gz) = layer();
    let half = gz.len() / 2;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, root.path())
        .env(CHILD_EXTRACTOR, extractor_name(extractor))
        .env(SIGNAL_AFTER, half.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&gz[..half]).unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), READY, "the child did not get to extract");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    drop(stdin);

    // What the kill left: a temporary layer (with whatever files were written by then), a
    // partial blob, and nothing under a digest.
    let layers_dir = root.path().join("layers");
    let left = names(&layers_dir);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(".tmp-"), "{left:?}");
    assert!(layers_dir.join(&left[0]).join("diff").is_dir());
    assert!(names(&root.path().join("blobs/sha256")).is_empty());
    assert_eq!(names(&root.path().join("blobs/ingest")).len(), 1);

    // The next start cleans up, and the next import completes the layer.
    let content = ContentStore::open(root.path()).unwrap();
    let layers = LayerStore::open(root.path())
        .unwrap()
        .with_extractor(extractor);
    assert!(names(&layers_dir).is_empty());
    assert!(names(&root.path().join("blobs/ingest")).is_empty());
    let ingested = ingest_layer(&content, &layers, &gz[..]).unwrap();
    assert_eq!(ingested.diff_id, Digest::of_bytes(&tar));
    assert_eq!(
        layers.list().unwrap(),
        std::slice::from_ref(&ingested.diff_id)
    );
    assert_eq!(content.list().unwrap(), [Digest::of_bytes(&gz)]);
    let file = layers.path(&ingested.diff_id).join("data/19/file-1999");
    let expected: Vec<u8> = (0..8192u32)
        .map(|j| (j ^ 1999u32.wrapping_mul(2654435761)) as u8)
        .collect();
    assert_eq!(fs::read(file).unwrap(), expected);
}

/// The child: ingests stdin, announcing on stdout when it has read `SIGNAL_AFTER` bytes and
/// wants more.
fn child(root: &Path) {
    let extractor = match std::env::var(CHILD_EXTRACTOR).unwrap().as_str() {
        "reference" => Extractor::Reference,
        _ => Extractor::Uring,
    };
    let after: usize = std::env::var(SIGNAL_AFTER).unwrap().parse().unwrap();
    let content = ContentStore::open(root).unwrap();
    let layers = LayerStore::open(root).unwrap().with_extractor(extractor);
    let input = Announcing {
        inner: std::io::stdin().lock(),
        read: 0,
        after,
        announced: false,
    };
    ingest_layer(&content, &layers, input).unwrap();
    unreachable!("the parent never sends the whole layer");
}

struct Announcing<R> {
    inner: R,
    read: usize,
    after: usize,
    announced: bool,
}

impl<R: Read> Read for Announcing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read >= self.after && !self.announced {
            self.announced = true;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{READY}")?;
            stdout.flush()?;
        }
        let n = self.inner.read(buf)?;
        self.read += n;
        Ok(n)
    }
}
