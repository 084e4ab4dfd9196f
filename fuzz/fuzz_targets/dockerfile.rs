//! Untrusted Dockerfiles through everything the builder does with one before it touches a
//! file or a container: the parser, the global ARG scope, the plan (for the last stage and
//! for each named target), every configuration instruction applied to a stage's state
//! (ENV, ARG, HEALTHCHECK, ONBUILD…), the RUN mounts, the ONBUILD triggers as a later build
//! parses them, and word substitution. Any input is a build plan or an error, never a panic.

#![no_main]

use berth_builder::args::{BuildArgs, Platform};
use berth_builder::config::{self, StageState};
use berth_builder::dockerfile::{self, Instruction};
use berth_builder::{mounts, plan, subst, triggers};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = dockerfile::parse(data) else {
        return;
    };
    let build_args = BuildArgs {
        given: [("GIVEN".to_string(), "given".to_string())].into(),
        platform: Platform::host(),
    };
    let decls: Vec<_> = parsed
        .global_args
        .iter()
        .flat_map(|a| a.value.clone())
        .collect();
    let Ok(global) = build_args.global_scope(&decls, parsed.escape) else {
        return;
    };
    let _ = plan::plan(&parsed, None, &global);
    for stage in &parsed.stages {
        if let Some(name) = &stage.from.value.name {
            let _ = plan::plan(&parsed, Some(name), &global);
        }
    }
    let vars = |name: &str| (name.len() % 2 == 0).then(|| name.to_string());
    for stage in &parsed.stages {
        let _ = subst::process_word(&stage.from.value.image, &vars, parsed.escape);
        let mut state = StageState::new(Some("sha256:base".into()), Default::default());
        for instruction in &stage.instructions {
            let _ = subst::process_words(&instruction.original, &vars, parsed.escape);
            let _ = config::apply(
                &mut state,
                &instruction.value,
                instruction.line,
                parsed.escape,
                &build_args,
                &global,
            );
            if let Instruction::Run { flags, .. } = &instruction.value {
                for (name, value) in flags {
                    if name == "mount" {
                        let _ = mounts::parse(value.as_deref().unwrap_or_default());
                    }
                }
            }
        }
        for trigger in &state.on_build {
            let _ = triggers::parse(trigger, stage.from.line);
        }
    }
});
