//! Arbitrary bytes as a layer tar: extraction may fail, but must never panic and never touch
//! anything outside the layer directory (see [`berth_fuzz::scene`] for how that is checked).
//! Runs as root, like the daemon.

#![no_main]

use std::fs;
use std::sync::OnceLock;

use berth_fuzz::scene::Scene;
use fsdriver::extract::{extract, ExtractLimits};
use libfuzzer_sys::fuzz_target;

const LIMITS: ExtractLimits = ExtractLimits {
    max_entries: 64,
    max_bytes: 1 << 20,
};

fn scene() -> &'static Scene {
    static SCENE: OnceLock<Scene> = OnceLock::new();
    SCENE.get_or_init(|| Scene::new("berth-fuzz-tar"))
}

fuzz_target!(|data: &[u8]| {
    let scene = scene();
    let layer = scene.deepest().join("layer");
    fs::create_dir(&layer).unwrap();
    let _ = extract(data, &layer, &LIMITS);
    fs::remove_dir_all(&layer).unwrap();
    scene.assert_untouched();
});
