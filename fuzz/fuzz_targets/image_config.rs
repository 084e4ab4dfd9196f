//! Untrusted image config JSON through the parser the image store uses.

#![no_main]

use berth_images::parse::{diff_ids, parse_config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = parse_config(data) else {
        return;
    };
    diff_ids(&config);
    let bytes = serde_json::to_vec(&config).unwrap();
    parse_config(&bytes).unwrap();
});
