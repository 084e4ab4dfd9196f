//! A layer of many directories, stored under a low limit of open descriptors: neither the
//! io_uring extractor's cache of directories nor the sharing pass may run out. A plain main,
//! because the limit applies to the whole process. Runs as root.

mod common;

use std::fs;

use common::Tar;
use fsdriver::extract::Extractor;
use fsdriver::layer::LayerStore;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

fn main() {
    if common::skipped_without_root() {
        return;
    }
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(128),
            maximum: limit.maximum,
        },
    )
    .unwrap();

    let mut tar = Tar::new();
    for i in 0..2000 {
        let dir = format!("d{}/e{i}", i % 40);
        tar.dir(&format!("{dir}/"), 0o755)
            .file(&format!("{dir}/f"), format!("file {i}").as_bytes());
    }
    let tar = tar.bytes();
    for extractor in [Extractor::Reference, Extractor::Uring] {
        let root = tempfile::tempdir().unwrap();
        let store = LayerStore::open(root.path())
            .unwrap()
            .with_extractor(extractor);
        let first = store.extract(&tar[..]).unwrap();
        assert_eq!(
            fs::read(first.path.join("d39/e1999/f")).unwrap(),
            b"file 1999"
        );
        // A second layer with the same files shares them all.
        let mut again = tar.clone();
        again.truncate(again.len() - 1024);
        again.extend(Tar::new().file("extra", b"x").bytes());
        let second = store.extract(&again[..]).unwrap();
        let usage = store.disk_usage().unwrap();
        assert_eq!(usage.content, first.size * 2 + 1);
        drop(second);
        println!("test many_directories_under_a_low_descriptor_limit::{extractor:?} ... ok");
    }
}
