//! Untrusted manifest JSON through the parser the image store uses.

#![no_main]

use berth_images::parse::{descriptor_digest, parse_manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = parse_manifest(data) else {
        return;
    };
    // What the store does with an accepted manifest must not panic.
    descriptor_digest(manifest.config());
    for layer in manifest.layers() {
        descriptor_digest(layer);
    }
    // And a manifest the store writes back must be accepted again.
    let bytes = serde_json::to_vec(&manifest).unwrap();
    parse_manifest(&bytes).unwrap();
});
