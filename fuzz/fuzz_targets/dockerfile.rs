//! Untrusted Dockerfiles through the builder's parser and its word substitution: any input
//! is a Dockerfile or an error, never a panic.

#![no_main]

use berth_builder::{dockerfile, subst};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = dockerfile::parse(data) else {
        return;
    };
    let vars = |name: &str| (name.len() % 2 == 0).then(|| name.to_string());
    for stage in &parsed.stages {
        let _ = subst::process_word(&stage.from.value.image, &vars, parsed.escape);
        for instruction in &stage.instructions {
            let _ = subst::process_words(&instruction.original, &vars, parsed.escape);
        }
    }
});
