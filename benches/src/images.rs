//! An image store filled with many small images, for look-up benchmarks.

use std::path::Path;

use berth_images::{ImageRecord, ImageStore, ImportOptions};

/// The tag of the `i`th image made by [`fill`].
pub fn tag(i: usize) -> String {
    format!("bench/img-{i}:latest")
}

/// Imports `count` images into `store`, tagged [`tag`]`(i)`. They share one tiny layer (so
/// the layer store does not grow) and differ by their history comment, so each has its own
/// config and ID.
pub fn fill(store: &ImageStore, count: usize) -> Result<Vec<ImageRecord>, berth_images::Error> {
    let layer = tiny_layer();
    (0..count)
        .map(|i| {
            store.import(
                &layer[..],
                Some(&tag(i)),
                ImportOptions {
                    message: format!("benchmark image {i}"),
                    changes: vec![r#"CMD ["/bin/sh"]"#.to_string()],
                },
            )
        })
        .collect()
}

/// Opens a store under `root` and fills it with `count` images.
pub fn store_with(
    root: &Path,
    count: usize,
) -> Result<(ImageStore, Vec<ImageRecord>), berth_images::Error> {
    let store = ImageStore::open(root)?;
    let images = fill(&store, count)?;
    Ok((store, images))
}

fn tiny_layer() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(6);
    builder
        .append_data(&mut header, "etc/motd", &b"hello\n"[..])
        .expect("writing a tar to memory");
    builder.into_inner().expect("writing a tar to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_store_resolves_every_way_the_bench_asks() {
        if crate::skipped_without_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (store, images) = store_with(dir.path(), 5).unwrap();
        assert_eq!(images.len(), 5);
        let third = &images[2];
        assert_eq!(store.resolve(&tag(2)).unwrap().id, third.id);
        assert_eq!(store.resolve(third.id.as_str()).unwrap().id, third.id);
        assert_eq!(store.resolve(&third.id.hex()[..12]).unwrap().id, third.id);
        assert_eq!(
            store.resolve("bench/img-missing").unwrap_err().kind(),
            berth_images::ErrorKind::NotFound
        );
        let mut ids: Vec<_> = images.iter().map(|i| i.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5, "every image has its own ID");
    }
}
