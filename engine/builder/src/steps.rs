//! One instruction of a stage: its cache key, and on a miss the work that makes its image.

use std::path::Path;

use crate::build::{short, BuildError, Shared};
use crate::cache::StepKey;
use crate::config::{self, StageState};
use crate::context::{self, Context};
use crate::copy::{self, Attributes, Input};
use crate::copy_layer;
use crate::dockerfile::{CommandForm, CopySource, CopySpec, Heredoc, Instruction, Located};
use crate::executor::{CommitSpec, ExecError, Network, Progress, RunOutcome, RunSpec};
use crate::mounts;
use crate::subst;
use crate::ErrorKind;

pub(crate) fn run_step(
    shared: &Shared<'_>,
    stage: usize,
    state: &mut StageState,
    instruction: &Located<Instruction>,
    progress: &dyn Progress,
) -> Result<(), BuildError> {
    let line = instruction.line;
    match &instruction.value {
        Instruction::Run {
            flags,
            command,
            heredocs,
        } => run(
            shared, stage, state, line, flags, command, heredocs, progress,
        ),
        Instruction::Copy(spec) => copy_step(shared, stage, state, line, spec, "COPY", progress),
        Instruction::Add(spec) => copy_step(shared, stage, state, line, spec, "ADD", progress),
        other => {
            let parent = state.image.clone();
            let escape = shared.dockerfile.escape;
            let args = &shared.options.build_args;
            let Some(created_by) = config::apply(state, other, line, escape, args, &shared.global)?
            else {
                return Ok(());
            };
            let spec = commit_spec(state, created_by);
            let workdir = match other {
                Instruction::Workdir(_) => state.config.working_dir().clone(),
                _ => None,
            };
            let key = StepKey {
                parent: parent.as_deref(),
                created_by: &spec.created_by,
                config: &spec.config,
                docker: StepKey::docker_fields(&spec),
                extra: "",
            };
            cached(shared, state, &key, progress, || {
                let executor = shared.builder.executor;
                let Some(dir) = &workdir else {
                    return Ok(executor.commit(parent.as_deref(), None, &spec)?);
                };
                let layer = scratch_dir(shared)?;
                let made = with_rootfs(shared, parent.as_deref(), |rootfs| {
                    copy::stage_dir(rootfs, dir, layer.path()).map_err(|source| BuildError::Copy {
                        what: "WORKDIR",
                        source,
                    })
                })?;
                let layer_path = made.then_some(layer.path());
                Ok(executor.commit(parent.as_deref(), layer_path, &spec)?)
            })
        }
    }
}

fn commit_spec(state: &StageState, created_by: String) -> CommitSpec {
    CommitSpec {
        config: state.config.clone(),
        created_by,
        author: state.author.clone(),
        healthcheck: state.healthcheck.clone(),
        on_build: state.on_build.clone(),
    }
}

pub(crate) fn scratch_dir(shared: &Shared<'_>) -> Result<tempfile::TempDir, BuildError> {
    let scratch = shared.builder.scratch;
    tempfile::Builder::new()
        .prefix("step-")
        .tempdir_in(scratch)
        .map_err(|source| BuildError::Scratch {
            path: scratch.to_path_buf(),
            source,
        })
}

/// Runs `work` with the files of `image` (`None`: an empty image).
pub(crate) fn with_rootfs<T: Send>(
    shared: &Shared<'_>,
    image: Option<&str>,
    work: impl FnOnce(Option<&Path>) -> Result<T, BuildError> + Send,
) -> Result<T, BuildError> {
    let Some(image) = image else {
        return work(None);
    };
    let mut work = Some(work);
    let mut answer = None;
    shared.builder.executor.with_rootfs(image, &mut |root| {
        if let Some(work) = work.take() {
            answer = Some(work(Some(root)));
        }
    })?;
    answer.unwrap_or_else(|| {
        Err(BuildError::Exec(ExecError::new(
            ErrorKind::Internal,
            format!("the files of image {image} could not be read"),
        )))
    })
}

/// A cache hit, or `make`'s new image (recorded for next time).
fn cached(
    shared: &Shared<'_>,
    state: &mut StageState,
    key: &StepKey<'_>,
    progress: &dyn Progress,
    make: impl FnOnce() -> Result<String, BuildError>,
) -> Result<(), BuildError> {
    let digest = key.digest();
    let cache = shared.builder.cache;
    if !shared.options.no_cache {
        if let Some(hit) = cache.get(&digest) {
            let allowed = shared
                .cache_allowed
                .as_ref()
                .is_none_or(|allowed| allowed.contains(&hit));
            if allowed && shared.builder.executor.image_exists(&hit) {
                progress.stream(" ---> Using cache\n");
                state.image = Some(hit);
                return Ok(());
            }
        }
    }
    let image = make()?;
    cache.put(&digest, &image, key.parent)?;
    state.image = Some(image);
    Ok(())
}

fn network_flag(line: usize, value: Option<&str>) -> Result<Network, BuildError> {
    match value.unwrap_or("default") {
        "default" => Ok(Network::Default),
        "none" => Ok(Network::None),
        "host" => Ok(Network::Host),
        other => Err(BuildError::Invalid {
            line,
            message: format!("unsupported network mode {other:?} (default, none or host)"),
        }),
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    shared: &Shared<'_>,
    stage: usize,
    state: &mut StageState,
    line: usize,
    flags: &[(String, Option<String>)],
    command: &CommandForm,
    heredocs: &[Heredoc],
    progress: &dyn Progress,
) -> Result<(), BuildError> {
    let mut network = shared.options.network;
    let mut mount_specs = Vec::new();
    for (name, value) in flags {
        match name.as_str() {
            "network" => network = network_flag(line, value.as_deref())?,
            "mount" => mount_specs.push(
                mounts::parse(value.as_deref().unwrap_or_default())
                    .map_err(|source| BuildError::Mount { line, source })?,
            ),
            "security" => {
                return Err(BuildError::Unsupported {
                    line,
                    message: format!("RUN --{name}: not supported by berth yet"),
                })
            }
            other => {
                return Err(BuildError::Invalid {
                    line,
                    message: format!("unknown flag: --{other}"),
                })
            }
        }
    }
    let argv = match (command, heredocs) {
        (command, []) => state.command(command),
        // `RUN <<EOF`: the document is the script the shell runs.
        (CommandForm::Shell(line_text), [doc]) if line_text.trim().is_empty() => {
            state.command(&CommandForm::Shell(doc.content.clone()))
        }
        // `RUN <<EOF bash`: the document is the command's standard input, as is (the
        // quoted delimiter keeps the shell from expanding it first).
        (CommandForm::Shell(line_text), [doc]) => {
            let mut delimiter = "BERTH_HEREDOC".to_string();
            while doc.content.contains(&delimiter) {
                delimiter.push('_');
            }
            state.command(&CommandForm::Shell(format!(
                "{} <<'{delimiter}'\n{}{delimiter}\n",
                line_text.trim(),
                doc.content
            )))
        }
        _ => {
            return Err(BuildError::Unsupported {
                line,
                message: "several heredocs on one RUN: not supported by berth yet".into(),
            })
        }
    };
    let created_by = config::run_created_by(state, &argv);
    let spec = commit_spec(state, created_by);
    let mut env = state.config.env().clone().unwrap_or_default();
    for (name, value) in state.args.values() {
        if state.env_value(&name).is_none() {
            env.push(format!("{name}={value}"));
        }
    }
    for (name, value) in shared.options.build_args.undeclared_proxies(&state.args) {
        env.push(format!("{name}={value}"));
    }
    // Held until the step ends: copies that bind mounts show.
    let mut holding = Vec::new();
    let (mounts, mounts_key) = mounts::resolve(
        shared,
        stage,
        state,
        line,
        &mount_specs,
        &mut holding,
        progress,
    )?;
    let run = RunSpec {
        argv: argv.clone(),
        env,
        user: state.config.user().clone().unwrap_or_default(),
        working_dir: state.config.working_dir().clone().unwrap_or_default(),
        network,
        mounts,
        commit: spec,
    };
    let parent = state.image.clone();
    let extra = format!("network={network:?} mounts={mounts_key}");
    let key = StepKey {
        parent: parent.as_deref(),
        created_by: &run.commit.created_by,
        config: &run.commit.config,
        docker: StepKey::docker_fields(&run.commit),
        extra: &extra,
    };
    cached(shared, state, &key, progress, || {
        let mut container = String::new();
        let outcome = shared.builder.executor.run(
            parent.as_deref(),
            &run,
            &mut |id| {
                container = id.to_string();
                progress.stream(&format!(" ---> Running in {}\n", short(id)));
            },
            progress,
        )?;
        match outcome {
            RunOutcome::Committed { id } => {
                if !container.is_empty() {
                    progress.stream(&format!(
                        " ---> Removed intermediate container {}\n",
                        short(&container)
                    ));
                }
                Ok(id)
            }
            RunOutcome::Failed { code } => Err(BuildError::RunFailed {
                command: argv.join(" "),
                code,
            }),
        }
    })
}

/// Where `dest` points, relative destinations under the working directory, a trailing `/`
/// kept (it says "a directory").
fn absolute_dest(state: &StageState, dest: &str) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    let workdir = state.config.working_dir().clone().unwrap_or_default();
    let mut joined = config::normalise_workdir(&workdir, dest);
    if (dest.ends_with('/') || dest == "." || dest.ends_with("/.")) && !joined.ends_with('/') {
        joined.push('/');
    }
    joined
}

fn copy_step(
    shared: &Shared<'_>,
    stage: usize,
    state: &mut StageState,
    line: usize,
    spec: &CopySpec,
    what: &'static str,
    progress: &dyn Progress,
) -> Result<(), BuildError> {
    let escape = shared.dockerfile.escape;
    let subst_err = |source| BuildError::Subst { line, source };
    let word = |w: &str| subst::process_word(w, &state.vars(), escape).map_err(subst_err);
    let (mut from, mut chown, mut chmod) = (None, None, None);
    for (name, value) in &spec.flags {
        let value = value.as_deref().map(word).transpose()?;
        match name.as_str() {
            "from" => from = value,
            "chown" => chown = value,
            "chmod" => chmod = value,
            // Only how the layer is stacked differs; the result is the same.
            "link" => {}
            other => {
                return Err(BuildError::Unsupported {
                    line,
                    message: format!("{what} --{other}: not supported by berth yet"),
                })
            }
        }
    }
    let mode = chmod
        .as_deref()
        .map(copy::parse_mode)
        .transpose()
        .map_err(|source| BuildError::Copy { what, source })?;
    let dest = absolute_dest(state, &word(&spec.dest)?);

    let mut patterns = Vec::new();
    let mut urls = Vec::new();
    let mut inline = Vec::new();
    for source in &spec.sources {
        match source {
            CopySource::Path(path) => {
                let path = word(path)?;
                if path.starts_with("http://") || path.starts_with("https://") {
                    if what != "ADD" {
                        return Err(BuildError::Invalid {
                            line,
                            message: "source can't be a URL for COPY".into(),
                        });
                    }
                    urls.push(path);
                    continue;
                }
                patterns.push(path);
            }
            CopySource::Heredoc(doc) => {
                let content = match doc.expand {
                    true => subst::expand_text(&doc.content, &state.vars(), escape)
                        .map_err(subst_err)?,
                    false => doc.content.clone(),
                };
                inline.push(Input::Inline {
                    name: doc.name.clone(),
                    content,
                });
            }
        }
    }

    // The files read, and a hash of them (or of where they come from) for the cache.
    let holding = scratch_dir(shared)?;
    let (mut inputs, hash) = match &from {
        None => {
            let (mut inputs, mut hash) = context_inputs(shared.builder.context, &patterns, what)?;
            if !urls.is_empty() {
                let (fetched, fetched_hash) = fetch_all(shared, &urls, holding.path(), line)?;
                inputs.extend(fetched);
                hash = blake3::hash(format!("{hash}{fetched_hash}").as_bytes())
                    .to_hex()
                    .to_string();
            }
            (inputs, hash)
        }
        Some(reference) => {
            let image = match shared.stage_image(stage, reference) {
                Some(image) => image,
                None => Some(
                    shared
                        .builder
                        .executor
                        .base_image(reference, false, progress)?
                        .id,
                ),
            };
            let inputs = with_rootfs(shared, image.as_deref(), |root| {
                let Some(root) = root else {
                    return Err(BuildError::Context {
                        what,
                        source: context::ContextError::NotFound(patterns.join(" ")),
                    });
                };
                take_out(&Context::rootfs(root), &patterns, holding.path(), what)
            })?;
            let hash = blake3::hash(format!("{image:?}\0{}", patterns.join("\0")).as_bytes());
            (inputs, hash.to_hex().to_string())
        }
    };
    let inline_hash = blake3::hash(
        inline
            .iter()
            .map(|i| match i {
                Input::Inline { content, .. } => content.as_str(),
                Input::Path { .. } => "",
            })
            .collect::<Vec<_>>()
            .join("\0")
            .as_bytes(),
    );
    inputs.extend(inline);
    // From the index for the context's files, which are not on disk before a step copies.
    let kind = match inputs.as_slice() {
        [Input::Path { path, .. }] if shared.builder.context.is_dir(path) => "dir",
        [_] => "file",
        _ => "multi",
    };
    let created_by = state.nop_file(&format!("{what} {kind}:{hash} in {dest} "));
    let commit = commit_spec(state, created_by);
    let extra = format!(
        "chown={chown:?} chmod={chmod:?} inline={}",
        inline_hash.to_hex()
    );
    let parent = state.image.clone();
    let key = StepKey {
        parent: parent.as_deref(),
        created_by: &commit.created_by,
        config: &commit.config,
        docker: StepKey::docker_fields(&commit),
        extra: &extra,
    };
    cached(shared, state, &key, progress, || {
        let context = shared.builder.context;
        let attributes = |rootfs: Option<&Path>| -> Result<Attributes, BuildError> {
            let owner = chown
                .as_deref()
                .map(|spec| copy::lookup_owner(rootfs, spec))
                .transpose()
                .map_err(|source| BuildError::Copy { what, source })?;
            Ok(Attributes { owner, mode })
        };
        if from.is_none() && copy_layer::applies(context, &inputs, what == "ADD") {
            // Straight from the spool: each file is created once, in the layer store.
            let plan = with_rootfs(shared, parent.as_deref(), |rootfs| {
                let request = copy_layer::Request {
                    what,
                    inputs: &inputs,
                    dest: &dest,
                    attributes: attributes(rootfs)?,
                    rootfs,
                };
                copy_layer::plan(context, &request)
                    .map_err(|source| BuildError::Copy { what, source })
            })?;
            let mut write = |out: &mut dyn std::io::Write| plan.write(out);
            return Ok(shared.builder.executor.commit_tar(
                parent.as_deref(),
                &mut write,
                &commit,
            )?);
        }
        if from.is_none() && !patterns.is_empty() {
            shared
                .builder
                .context
                .materialize()
                .map_err(|source| BuildError::Context { what, source })?;
        }
        let layer = scratch_dir(shared)?;
        with_rootfs(shared, parent.as_deref(), |rootfs| {
            copy::stage(&copy::Request {
                what,
                inputs: &inputs,
                dest: &dest,
                attributes: attributes(rootfs)?,
                extract: what == "ADD",
                rootfs,
                layer: layer.path(),
            })
            .map_err(|source| BuildError::Copy { what, source })
        })?;
        Ok(shared
            .builder
            .executor
            .commit(parent.as_deref(), Some(layer.path()), &commit)?)
    })
}

/// The context's files `patterns` name, with the hash of their names and contents.
fn context_inputs(
    context: &Context,
    patterns: &[String],
    what: &'static str,
) -> Result<(Vec<Input>, String), BuildError> {
    let mut hasher = blake3::Hasher::new();
    let mut inputs = Vec::new();
    for pattern in patterns {
        let sources = context
            .sources(pattern)
            .map_err(|source| BuildError::Context { what, source })?;
        for source in sources {
            hasher.update(source.name.as_bytes());
            hasher.update(b"\0");
            context
                .hash(&mut hasher, &source.path)
                .map_err(|source| BuildError::Context { what, source })?;
            inputs.push(Input::Path {
                name: source.name,
                path: source.path,
                keep_owner: false,
                unpack: true,
            });
        }
    }
    Ok((inputs, hasher.finalize().to_hex().to_string()))
}

/// Copies what `patterns` name in another image out to `holding`, owners kept.
fn take_out(
    image: &Context,
    patterns: &[String],
    holding: &Path,
    what: &'static str,
) -> Result<Vec<Input>, BuildError> {
    let mut inputs = Vec::new();
    for pattern in patterns {
        let sources = image
            .sources(pattern)
            .map_err(|source| BuildError::Context { what, source })?;
        for source in sources {
            let held = holding.join(inputs.len().to_string());
            copy::copy_out(&source.path, &held)
                .map_err(|source| BuildError::Copy { what, source })?;
            inputs.push(Input::Path {
                name: source.name,
                path: held,
                keep_owner: true,
                unpack: true,
            });
        }
    }
    Ok(inputs)
}

/// ADD's URLs, downloaded into `holding` (a file named after the URL's last path segment,
/// mode 0600 as Docker gives it, never unpacked), with the hash of their contents.
fn fetch_all(
    shared: &Shared<'_>,
    urls: &[String],
    holding: &Path,
    line: usize,
) -> Result<(Vec<Input>, String), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    let mut hasher = blake3::Hasher::new();
    let mut inputs = Vec::new();
    for url in urls {
        let name = url
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .find(|s| !s.is_empty() && !s.contains(':'))
            .unwrap_or("download")
            .to_string();
        let dir = holding.join(format!("url-{}", inputs.len()));
        std::fs::create_dir_all(&dir).map_err(|source| BuildError::Scratch {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(&name);
        shared
            .builder
            .executor
            .fetch(url, &path)
            .map_err(|e| BuildError::Invalid {
                line,
                message: format!("ADD failed: {e}"),
            })?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| BuildError::Scratch {
                path: path.clone(),
                source,
            },
        )?;
        hasher.update(url.as_bytes());
        context::hash_tree(&mut hasher, &path).map_err(|source| BuildError::Context {
            what: "ADD",
            source,
        })?;
        inputs.push(Input::Path {
            name,
            path,
            keep_owner: false,
            unpack: false,
        });
    }
    Ok((inputs, hasher.finalize().to_hex().to_string()))
}
