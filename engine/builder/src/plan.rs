//! Which stages a build runs, on what each is based, and in which order.
//!
//! A stage depends on the stage it is built `FROM` and on those its `COPY --from` and
//! `RUN --mount=from=` name. Only the target (the last stage unless `--target` names one)
//! and what it depends on run. Stages are grouped in waves: a wave's stages depend only on
//! earlier waves, so they can run at the same time.

use std::collections::BTreeSet;

use crate::args::ArgScope;
use crate::dockerfile::{CopySpec, Dockerfile, Instruction};
use crate::subst::{self, SubstError};
use crate::ErrorKind;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("failed to reach build target {0} in Dockerfile")]
    NoTarget(String),
    #[error("Dockerfile line {line}: {source}")]
    Subst {
        line: usize,
        #[source]
        source: SubstError,
    },
    #[error("Dockerfile line {line}: base name ({image}) should not be blank")]
    BlankBase { line: usize, image: String },
    #[error("Dockerfile line {line}: stage {stage} cannot be built from itself")]
    Circular { line: usize, stage: String },
}

impl PlanError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image, by the name `FROM` gives once substituted.
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStage {
    pub index: usize,
    pub name: Option<String>,
    pub base: Base,
    /// Earlier stages this one reads (its base included).
    pub depends_on: BTreeSet<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every stage of the Dockerfile, needed or not.
    pub stages: Vec<PlannedStage>,
    pub target: usize,
    /// The stages to build, wave by wave; within a wave in Dockerfile order.
    pub waves: Vec<Vec<usize>>,
}

impl Plan {
    /// The needed stages in Dockerfile order.
    pub fn needed(&self) -> Vec<usize> {
        let mut all: Vec<usize> = self.waves.iter().flatten().copied().collect();
        all.sort_unstable();
        all
    }
}

/// Which earlier stage `reference` (a name or an index) names, if any.
pub fn stage_ref(dockerfile: &Dockerfile, before: usize, reference: &str) -> Option<usize> {
    let lower = reference.to_ascii_lowercase();
    if let Some(found) = dockerfile.stages[..before]
        .iter()
        .position(|s| s.from.value.name.as_deref() == Some(lower.as_str()))
    {
        return Some(found);
    }
    reference.parse::<usize>().ok().filter(|i| *i < before)
}

/// The `--from=` of a COPY or a RUN mount, if any.
pub fn copy_from(spec: &CopySpec) -> Option<&str> {
    spec.flags
        .iter()
        .find(|(name, _)| name == "from")
        .and_then(|(_, value)| value.as_deref())
}

fn mount_froms(flags: &[(String, Option<String>)]) -> Vec<String> {
    flags
        .iter()
        .filter(|(name, _)| name == "mount")
        .filter_map(|(_, value)| value.as_deref())
        .flat_map(|value| value.split(','))
        .filter_map(|field| field.strip_prefix("from="))
        .map(str::to_string)
        .collect()
}

pub fn plan(
    dockerfile: &Dockerfile,
    target: Option<&str>,
    global: &ArgScope,
) -> Result<Plan, PlanError> {
    let escape = dockerfile.escape;
    let mut stages = Vec::new();
    for (index, stage) in dockerfile.stages.iter().enumerate() {
        let line = stage.from.line;
        let image = subst::process_word(&stage.from.value.image, global, escape)
            .map_err(|source| PlanError::Subst { line, source })?;
        if image.is_empty() {
            return Err(PlanError::BlankBase {
                line,
                image: stage.from.value.image.clone(),
            });
        }
        let base = if image.eq_ignore_ascii_case("scratch") {
            Base::Scratch
        } else if let Some(from) = stage_ref(dockerfile, index, &image) {
            Base::Stage(from)
        } else if stage.from.value.name.as_deref() == Some(image.to_ascii_lowercase().as_str()) {
            return Err(PlanError::Circular { line, stage: image });
        } else {
            Base::Image(image)
        };
        let mut depends_on = BTreeSet::new();
        if let Base::Stage(from) = base {
            depends_on.insert(from);
        }
        for instruction in &stage.instructions {
            let froms = match &instruction.value {
                Instruction::Copy(spec) | Instruction::Add(spec) => copy_from(spec)
                    .map(|f| vec![f.to_string()])
                    .unwrap_or_default(),
                Instruction::Run { flags, .. } => mount_froms(flags),
                _ => Vec::new(),
            };
            for from in froms {
                let from = subst::process_word(&from, global, escape).map_err(|source| {
                    PlanError::Subst {
                        line: instruction.line,
                        source,
                    }
                })?;
                if let Some(dep) = stage_ref(dockerfile, index, &from) {
                    depends_on.insert(dep);
                }
            }
        }
        stages.push(PlannedStage {
            index,
            name: stage.from.value.name.clone(),
            base,
            depends_on,
        });
    }

    let target = match target.filter(|t| !t.is_empty()) {
        None => stages.len() - 1,
        Some(name) => stages
            .iter()
            .position(|s| s.name.as_deref() == Some(name.to_ascii_lowercase().as_str()))
            .ok_or_else(|| PlanError::NoTarget(name.to_string()))?,
    };

    // Dependencies are always earlier stages, so one backward pass finds what is needed and
    // one forward pass gives each stage its wave.
    let mut needed = vec![false; stages.len()];
    needed[target] = true;
    for index in (0..=target).rev() {
        if needed[index] {
            for &dep in &stages[index].depends_on {
                needed[dep] = true;
            }
        }
    }
    let mut wave_of = vec![0usize; stages.len()];
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for index in 0..=target {
        if !needed[index] {
            continue;
        }
        let wave = stages[index]
            .depends_on
            .iter()
            .map(|&d| wave_of[d] + 1)
            .max()
            .unwrap_or(0);
        wave_of[index] = wave;
        if waves.len() <= wave {
            waves.resize(wave + 1, Vec::new());
        }
        waves[wave].push(index);
    }
    Ok(Plan {
        stages,
        target,
        waves,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{BuildArgs, Platform};
    use crate::dockerfile::parse;

    fn plan_of(text: &str, target: Option<&str>) -> Result<Plan, PlanError> {
        let dockerfile = parse(text.as_bytes()).unwrap();
        let args = BuildArgs {
            given: Default::default(),
            platform: Platform::host(),
        };
        let decls: Vec<_> = dockerfile
            .global_args
            .iter()
            .flat_map(|a| a.value.clone())
            .collect();
        let global = args.global_scope(&decls, '\\').unwrap();
        plan(&dockerfile, target, &global)
    }

    const MULTI: &str = "ARG BASE=busybox\n\
        FROM $BASE AS a\nRUN echo a\n\
        FROM busybox AS b\nRUN echo b\n\
        FROM busybox AS unused\nRUN echo u\n\
        FROM a AS final\nCOPY --from=b /x /x\nCOPY --from=1 /y /y\n";

    #[test]
    fn bases_and_dependencies() {
        let plan = plan_of(MULTI, None).unwrap();
        assert_eq!(plan.stages[0].base, Base::Image("busybox".into()));
        assert_eq!(plan.stages[3].base, Base::Stage(0));
        assert_eq!(plan.stages[3].depends_on, BTreeSet::from([0, 1]));
        assert_eq!(plan.target, 3);
        // a and b are independent: one wave; the unused stage is skipped.
        assert_eq!(plan.waves, vec![vec![0, 1], vec![3]]);
        assert_eq!(plan.needed(), vec![0, 1, 3]);
    }

    #[test]
    fn a_target_stops_the_build_early() {
        let plan = plan_of(MULTI, Some("B")).unwrap();
        assert_eq!(plan.target, 1);
        assert_eq!(plan.waves, vec![vec![1]]);
        assert_eq!(
            plan_of(MULTI, Some("nope")).unwrap_err(),
            PlanError::NoTarget("nope".into())
        );
    }

    #[test]
    fn scratch_images_and_blank_bases() {
        let plan = plan_of(
            "FROM scratch\nCOPY a /a\nFROM registry:5000/x/y:1\n",
            Some(""),
        )
        .unwrap();
        assert_eq!(plan.stages[0].base, Base::Scratch);
        assert_eq!(
            plan.stages[1].base,
            Base::Image("registry:5000/x/y:1".into())
        );
        assert_eq!(plan.waves, vec![vec![1]]);
        assert!(matches!(
            plan_of("FROM $NOTHING\n", None).unwrap_err(),
            PlanError::BlankBase { line: 1, .. }
        ));
        assert!(matches!(
            plan_of("FROM me AS me\n", None).unwrap_err(),
            PlanError::Circular { .. }
        ));
    }
}
