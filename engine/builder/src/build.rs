//! A whole build: the Dockerfile parsed and planned, its stages run wave by wave (the stages
//! of a wave at the same time), the target image labelled and tagged.
//!
//! The output is the classic builder's: `Step N/M : …`, ` ---> Using cache`, ` ---> <id>`,
//! `Successfully built <id>`. The first stage of a wave streams as it runs; the others of
//! the wave are held back and written when they end, so no two stages' lines mix.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;

use crate::args::{ArgScope, BuildArgs};
use crate::cache::{Cache, CacheError};
use crate::config::{ConfigError, StageState};
use crate::context::{Context, ContextError};
use crate::copy::CopyError;
use crate::dockerfile::{self, DockerfileError, Instruction, Located};
use crate::executor::{ExecError, Executor, Network, Progress};
use crate::plan::{self, Base, Plan, PlanError};
use crate::subst::SubstError;
use crate::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Dockerfile(#[from] DockerfileError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("Dockerfile line {line}: {source}")]
    Subst {
        line: usize,
        #[source]
        source: SubstError,
    },
    #[error("{what} failed: {source}")]
    Context {
        what: &'static str,
        #[source]
        source: ContextError,
    },
    #[error("{what} failed: {source}")]
    Copy {
        what: &'static str,
        #[source]
        source: CopyError,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed { command: String, code: i64 },
    #[error("Dockerfile line {line}: {message}")]
    Unsupported { line: usize, message: String },
    #[error("Dockerfile line {line}: {source}")]
    Mount {
        line: usize,
        #[source]
        source: crate::mounts::MountError,
    },
    #[error("Dockerfile line {line}: {message}")]
    Invalid { line: usize, message: String },
    #[error("the build was cancelled")]
    Cancelled,
    #[error("creating a directory for a build step in {path}: {source}")]
    Scratch {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Dockerfile(e) => e.kind(),
            BuildError::Plan(e) => e.kind(),
            BuildError::Config(e) => e.kind(),
            BuildError::Subst { .. } | BuildError::Invalid { .. } => ErrorKind::InvalidArgument,
            BuildError::Context { source, .. } => source.kind(),
            BuildError::Copy { source, .. } => source.kind(),
            BuildError::Cache(e) => e.kind(),
            BuildError::Exec(e) => e.kind(),
            BuildError::RunFailed { .. } => ErrorKind::InvalidArgument,
            BuildError::Unsupported { .. } => ErrorKind::NotImplemented,
            BuildError::Mount { source, .. } => source.kind(),
            BuildError::Cancelled => ErrorKind::Unavailable,
            BuildError::Scratch { .. } => ErrorKind::Internal,
        }
    }
}

/// What the client asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub dockerfile: Vec<u8>,
    pub target: Option<String>,
    pub build_args: BuildArgs,
    /// Labels the target image gets (`labels`), as a last LABEL step.
    pub labels: BTreeMap<String, String>,
    /// References to tag the result with, already validated.
    pub tags: Vec<String>,
    pub no_cache: bool,
    pub pull: bool,
    /// Images whose ancestors alone may be cache hits (`cachefrom`), by name.
    pub cache_from: Vec<String>,
    /// What RUN steps get without `--network`.
    pub network: Network,
    /// What `RUN --mount=type=secret` mounts, by ID.
    pub secrets: crate::mounts::Secrets,
}

/// What a build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `sha256:…`
    pub image: String,
}

/// The services one build uses.
pub struct Builder<'a> {
    pub executor: &'a dyn Executor,
    pub cache: &'a Cache,
    pub context: &'a Context,
    /// Where step directories (layers being laid out) are made; emptied by the caller.
    pub scratch: &'a Path,
}

/// The first 12 hex digits of an image or container ID, as the classic builder prints them.
pub fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// A reference as Docker prints it: `:latest` added when no tag or digest is given.
pub fn with_default_tag(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') || reference.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

/// A stage's view of the output: live, or held until the stage ends.
enum StageOutput<'a> {
    Live(&'a dyn Progress),
    Held(&'a dyn Progress, Mutex<String>),
}

impl Progress for StageOutput<'_> {
    fn stream(&self, text: &str) {
        match self {
            StageOutput::Live(p) => p.stream(text),
            StageOutput::Held(_, held) => held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(text),
        }
    }
    fn cancelled(&self) -> bool {
        match self {
            StageOutput::Live(p) | StageOutput::Held(p, _) => p.cancelled(),
        }
    }
}

impl StageOutput<'_> {
    fn flush(&self) {
        if let StageOutput::Held(parent, held) = self {
            let text = std::mem::take(&mut *held.lock().unwrap_or_else(|e| e.into_inner()));
            if !text.is_empty() {
                parent.stream(&text);
            }
        }
    }
}

/// A finished stage: what later stages build on or copy from.
#[derive(Debug, Clone)]
pub(crate) struct StageResult {
    pub image: Option<String>,
    pub state: StageState,
}

/// Everything the stages of one build share.
pub(crate) struct Shared<'a> {
    pub builder: &'a Builder<'a>,
    pub options: &'a Options,
    pub dockerfile: &'a dockerfile::Dockerfile,
    pub plan: &'a Plan,
    pub global: ArgScope,
    pub total_steps: usize,
    /// Each needed stage's first step number.
    pub first_step: HashMap<usize, usize>,
    pub results: Mutex<HashMap<usize, StageResult>>,
    /// Images allowed as cache hits when `cachefrom` is given: the named images and every
    /// ancestor the cache records know.
    pub cache_allowed: Option<BTreeSet<String>>,
    pub declared_args: Mutex<BTreeSet<String>>,
}

impl Builder<'_> {
    pub fn build(&self, options: &Options, progress: &dyn Progress) -> Result<Outcome, BuildError> {
        let mut dockerfile = dockerfile::parse(&options.dockerfile)?;
        let global_decls: Vec<_> = dockerfile
            .global_args
            .iter()
            .flat_map(|a| a.value.clone())
            .collect();
        let global = options
            .build_args
            .global_scope(&global_decls, dockerfile.escape)
            .map_err(|source| BuildError::Subst { line: 1, source })?;
        let plan = plan::plan(&dockerfile, options.target.as_deref(), &global)?;
        if !options.labels.is_empty() {
            append_labels(
                &mut dockerfile.stages[plan.target].instructions,
                &options.labels,
            );
        }

        let mut first_step = HashMap::new();
        let mut total_steps = 0;
        for index in plan.needed() {
            first_step.insert(index, total_steps + 1);
            total_steps += 1 + dockerfile.stages[index].instructions.len();
        }
        let cache_allowed = self.cache_allowed(options, progress)?;
        let shared = Shared {
            builder: self,
            options,
            dockerfile: &dockerfile,
            plan: &plan,
            global,
            total_steps,
            first_step,
            results: Mutex::new(HashMap::new()),
            cache_allowed,
            declared_args: Mutex::new(global_decls.iter().map(|d| d.name.clone()).collect()),
        };

        for wave in &plan.waves {
            let outputs: Vec<StageOutput<'_>> = wave
                .iter()
                .enumerate()
                .map(|(i, _)| match i {
                    0 => StageOutput::Live(progress),
                    _ => StageOutput::Held(progress, Mutex::new(String::new())),
                })
                .collect();
            let results: Vec<Result<StageResult, BuildError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = wave
                    .iter()
                    .zip(&outputs)
                    .skip(1)
                    .map(|(&index, output)| {
                        let shared = &shared;
                        scope.spawn(move || shared.run_stage(index, output))
                    })
                    .collect();
                let mut results = vec![shared.run_stage(wave[0], &outputs[0])];
                for handle in handles {
                    results.push(handle.join().unwrap_or_else(|_| {
                        Err(BuildError::Exec(ExecError::new(
                            ErrorKind::Internal,
                            "a build stage's thread panicked",
                        )))
                    }));
                }
                results
            });
            for output in &outputs {
                output.flush();
            }
            let mut stored = shared.results.lock().unwrap_or_else(|e| e.into_inner());
            for (&index, result) in wave.iter().zip(results) {
                stored.insert(index, result?);
            }
        }

        let results = shared
            .results
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        let target = &results[&plan.target];
        let image = match &target.image {
            Some(image) => image.clone(),
            // `FROM scratch` alone: an image with no layer and the stage's configuration.
            None => self.executor.commit(
                None,
                None,
                &crate::executor::CommitSpec {
                    config: target.state.config.clone(),
                    created_by: String::new(),
                    author: target.state.author.clone(),
                    healthcheck: target.state.healthcheck.clone(),
                    on_build: target.state.on_build.clone(),
                },
            )?,
        };
        let declared = shared
            .declared_args
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        let unused = options.build_args.unused(&declared);
        if !unused.is_empty() {
            progress.stream(&format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                unused.join(" ")
            ));
        }
        progress.built(&image);
        progress.stream(&format!("Successfully built {}\n", short(&image)));
        for tag in &options.tags {
            self.executor.tag(&image, tag)?;
            progress.stream(&format!("Successfully tagged {}\n", with_default_tag(tag)));
        }
        Ok(Outcome { image })
    }

    fn cache_allowed(
        &self,
        options: &Options,
        progress: &dyn Progress,
    ) -> Result<Option<BTreeSet<String>>, BuildError> {
        if options.cache_from.is_empty() {
            return Ok(None);
        }
        let parents = self.cache.parents();
        let mut allowed = BTreeSet::new();
        for name in &options.cache_from {
            // Docker ignores a cache source it cannot find.
            let Ok(image) = self.executor.base_image(name, false, progress) else {
                continue;
            };
            let mut at = Some(image.id);
            while let Some(id) = at {
                if !allowed.insert(id.clone()) {
                    break;
                }
                at = parents.get(&id).cloned();
            }
        }
        Ok(Some(allowed))
    }
}

/// The `labels` of the request as the target stage's last instruction, as Docker adds it.
fn append_labels(instructions: &mut Vec<Located<Instruction>>, labels: &BTreeMap<String, String>) {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let pairs: Vec<(String, String)> = labels.iter().map(|(k, v)| (quote(k), quote(v))).collect();
    let original = format!(
        "LABEL {}",
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let line = instructions.last().map_or(1, |i| i.line);
    instructions.push(Located {
        line,
        original,
        value: Instruction::Label(pairs),
    });
}

impl Shared<'_> {
    /// The stage's base: an image, an earlier stage's result, or nothing.
    fn stage_base(&self, index: usize, progress: &dyn Progress) -> Result<StageState, BuildError> {
        let stage = &self.plan.stages[index];
        let from = &self.dockerfile.stages[index].from;
        if let Some(platform) = &from.value.platform {
            let platform =
                crate::subst::process_word(platform, &self.global, self.dockerfile.escape)
                    .map_err(|source| BuildError::Subst {
                        line: from.line,
                        source,
                    })?;
            let host = &self.options.build_args.platform;
            if !platform.is_empty() && platform != host.to_spec() && platform != host.os {
                return Err(BuildError::Unsupported {
                    line: from.line,
                    message: format!(
                        "FROM --platform={platform}: not supported by berth yet (it builds for {})",
                        host.to_spec()
                    ),
                });
            }
        }
        Ok(match &stage.base {
            Base::Scratch => StageState::new(None, Default::default()),
            Base::Stage(from) => {
                let results = self.results.lock().unwrap_or_else(|e| e.into_inner());
                let from = &results[from];
                let mut state = StageState::new(from.image.clone(), from.state.config.clone());
                state.shell = from.state.shell.clone();
                state.healthcheck = from.state.healthcheck.clone();
                state.on_build = from.state.on_build.clone();
                state
            }
            Base::Image(name) => {
                let base = self
                    .builder
                    .executor
                    .base_image(name, self.options.pull, progress)?;
                let mut state = StageState::new(Some(base.id), base.config);
                state.healthcheck = base.healthcheck;
                state.on_build = base.on_build;
                state
            }
        })
    }

    fn run_stage(
        &self,
        index: usize,
        progress: &StageOutput<'_>,
    ) -> Result<StageResult, BuildError> {
        let stage = &self.dockerfile.stages[index];
        let mut step = self.first_step[&index];
        progress.stream(&format!(
            "Step {step}/{} : {}\n",
            self.total_steps, stage.from.original
        ));
        let mut state = self.stage_base(index, progress)?;
        progress.stream(&format!(
            " ---> {}\n",
            state.image.as_deref().map(short).unwrap_or("")
        ));
        self.run_triggers(index, &mut state, progress)?;
        for instruction in &stage.instructions {
            step += 1;
            if progress.cancelled() {
                return Err(BuildError::Cancelled);
            }
            progress.stream(&format!(
                "Step {step}/{} : {}\n",
                self.total_steps, instruction.original
            ));
            if let Instruction::Arg(decls) = &instruction.value {
                let mut declared = self.declared_args.lock().unwrap_or_else(|e| e.into_inner());
                declared.extend(decls.iter().map(|d| d.name.clone()));
            }
            crate::steps::run_step(self, index, &mut state, instruction, progress)?;
            progress.stream(&format!(
                " ---> {}\n",
                state.image.as_deref().map(short).unwrap_or("")
            ));
        }
        Ok(StageResult {
            image: state.image.clone(),
            state,
        })
    }

    /// The base's `ONBUILD` triggers, before the stage's own instructions; the stage's
    /// image does not carry them on.
    fn run_triggers(
        &self,
        index: usize,
        state: &mut StageState,
        progress: &StageOutput<'_>,
    ) -> Result<(), BuildError> {
        let triggers = std::mem::take(&mut state.on_build);
        if triggers.is_empty() {
            return Ok(());
        }
        let line = self.dockerfile.stages[index].from.line;
        let plural = if triggers.len() > 1 { "s" } else { "" };
        progress.stream(&format!(
            "# Executing {} build trigger{plural}\n",
            triggers.len()
        ));
        for trigger in &triggers {
            if progress.cancelled() {
                return Err(BuildError::Cancelled);
            }
            let instruction = crate::triggers::parse(trigger, line)
                .map_err(|message| BuildError::Invalid { line, message })?;
            crate::steps::run_step(self, index, state, &instruction, progress)?;
        }
        Ok(())
    }

    /// An earlier stage's image, by the name or index `--from` gives.
    pub fn stage_image(&self, before: usize, reference: &str) -> Option<Option<String>> {
        let index = plan::stage_ref(self.dockerfile, before, reference)?;
        let results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        results.get(&index).map(|r| r.image.clone())
    }
}
