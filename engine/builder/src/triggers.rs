//! `ONBUILD` triggers: refused at `ONBUILD` time when Docker refuses them, and run, in
//! order, at the start of a stage whose base image (or base stage) carries them, as Docker's
//! classic builder runs them (`# Executing N build triggers`, the base's `OnBuild` cleared).

use crate::dockerfile::{self, Instruction, Located};

/// Docker's refusals of a trigger (the instruction after `ONBUILD`).
pub fn check(trigger: &str) -> Result<(), String> {
    let keyword = trigger
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    match keyword.as_str() {
        "" => Err("ONBUILD requires at least one argument".into()),
        "ONBUILD" => Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "FROM" | "MAINTAINER" => Err(format!("{keyword} isn't allowed as an ONBUILD trigger")),
        _ => Ok(()),
    }
}

/// A stored trigger as the one instruction it is, numbered `line` (the `FROM` that ran it).
/// A base image made elsewhere may hold anything, so it is checked again.
pub fn parse(trigger: &str, line: usize) -> Result<Located<Instruction>, String> {
    check(trigger)?;
    let parsed = dockerfile::parse(format!("FROM scratch\n{trigger}\n").as_bytes())
        .map_err(|e| format!("ONBUILD trigger {trigger:?}: {e}"))?;
    let mut stages = parsed.stages.into_iter();
    match (stages.next(), stages.next()) {
        (Some(stage), None) if stage.instructions.len() == 1 => {
            let mut instruction = stage
                .instructions
                .into_iter()
                .next()
                .ok_or_else(|| "onbuild trigger should be a single expression".to_string())?;
            instruction.line = line;
            Ok(instruction)
        }
        _ => Err("onbuild trigger should be a single expression".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_parse_to_one_instruction() {
        let run = parse("RUN echo hi", 7).unwrap();
        assert_eq!(run.line, 7);
        assert!(matches!(run.value, Instruction::Run { .. }));
        assert_eq!(run.original, "RUN echo hi");
        assert!(parse("FROM busybox", 1).is_err());
        assert!(parse("ONBUILD RUN x", 1).is_err());
        assert!(parse("RUN a\nRUN b", 1).is_err());
        assert!(parse("BOGUS x", 1).is_err());
    }
}
