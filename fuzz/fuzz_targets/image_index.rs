//! Untrusted index / manifest list JSON through the parser the image store uses.

#![no_main]

use berth_images::parse::{descriptor_digest, parse_index};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(index) = parse_index(data) else {
        return;
    };
    for manifest in index.manifests() {
        descriptor_digest(manifest);
    }
    let bytes = serde_json::to_vec(&index).unwrap();
    parse_index(&bytes).unwrap();
});
