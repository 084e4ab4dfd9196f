//! One RUN step: a container of the parent image, created, attached and started as
//! `docker run` does it (so it gets a container's default isolation), its output streamed
//! into the build, its changes committed as the step's layer, then removed.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use berth_builder::executor::{ExecError, Network, Progress, RunOutcome, RunSpec};
use berth_builder::mounts::{RunMount, Sharing};
use berth_builder::ErrorKind;
use bollard_stubs::models::{ContainerCreateBody, HostConfig};

use super::{digest, from_container, from_images, step, DaemonExecutor};
use crate::container::actor::{Attach, ContainerActor, Kill, Remove, Start, Wait, WaitCondition};
use crate::container::error::Error;
use crate::container::names::Lookup;
use crate::container::record::ContainerDir;
use crate::engine::Engine;

/// What the container's task on the actor runtime reports to the build's thread.
enum Event {
    Started(String),
    Output(Vec<u8>),
    Exited(i64),
    Failed(Error),
}

/// How often a running step looks whether the client went away.
const CANCEL_POLL: Duration = Duration::from_millis(200);

pub(super) fn run(
    exec: &DaemonExecutor,
    parent: Option<&str>,
    spec: &RunSpec,
    started: &mut dyn FnMut(&str),
    progress: &dyn Progress,
) -> Result<RunOutcome, ExecError> {
    let Some(parent) = parent else {
        return Err(ExecError::new(
            ErrorKind::InvalidArgument,
            "RUN needs an image to run in: FROM scratch has no files, no shell to run",
        ));
    };
    // Cache mounts shared as `locked` are held until the step ends.
    let locks = cache_locks(&spec.mounts);
    let _held: Vec<_> = locks
        .iter()
        .map(|lock| lock.lock().unwrap_or_else(|e| e.into_inner()))
        .collect();
    // The secrets' files stay until the container is gone.
    let HostMounts {
        binds,
        tmpfs,
        secrets: _secrets,
    } = host_mounts(exec, &spec.mounts)?;
    let network_mode = match spec.network {
        Network::None => Some("none".to_string()),
        Network::Host => Some("host".to_string()),
        Network::Default => exec.network_mode.clone(),
    };
    let body = ContainerCreateBody {
        image: Some(parent.to_string()),
        cmd: Some(spec.argv.clone()),
        // An image's ENTRYPOINT does not wrap RUN's command.
        entrypoint: Some(vec![String::new()]),
        env: Some(spec.env.clone()),
        user: Some(spec.user.clone()),
        working_dir: Some(spec.working_dir.clone()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(HostConfig {
            network_mode,
            binds: (!binds.is_empty()).then_some(binds),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let engine = exec.engine.clone();
    let spawned = exec.arbiter.spawn_fn(move || {
        actix_rt::spawn(drive(engine, body, tx));
    });
    if !spawned {
        return Err(ExecError::new(
            ErrorKind::Unavailable,
            "the daemon is shutting down",
        ));
    }
    let (container, ended) = follow(exec, &rx, started, progress);
    let outcome = match ended {
        Ended::Exited(0) => {
            let id = container.as_deref().unwrap_or_default();
            commit(exec, parent, id, spec)
        }
        Ended::Exited(code) => Ok(RunOutcome::Failed { code }),
        Ended::Cancelled => Err(ExecError::new(
            ErrorKind::Unavailable,
            "the build was cancelled: its client went away",
        )),
        Ended::Failed(err) => Err(err),
    };
    if let Some(id) = container {
        remove(exec, id);
    }
    outcome
}

enum Ended {
    Exited(i64),
    Cancelled,
    Failed(ExecError),
}

/// Passes the container's events on until it ends; kills it if the client goes away.
fn follow(
    exec: &DaemonExecutor,
    rx: &Receiver<Event>,
    started: &mut dyn FnMut(&str),
    progress: &dyn Progress,
) -> (Option<String>, Ended) {
    let mut container = None;
    let mut killed = false;
    loop {
        match rx.recv_timeout(CANCEL_POLL) {
            Ok(Event::Started(id)) => {
                started(&id);
                container = Some(id);
            }
            Ok(Event::Output(bytes)) => progress.output(&bytes),
            Ok(Event::Exited(_)) if killed => return (container, Ended::Cancelled),
            Ok(Event::Exited(code)) => return (container, Ended::Exited(code)),
            Ok(Event::Failed(err)) => return (container, Ended::Failed(from_container(err))),
            Err(RecvTimeoutError::Timeout) => {
                if !killed && progress.cancelled() {
                    if let Some(id) = container.clone() {
                        killed = true;
                        let engine = exec.engine.clone();
                        let _ = exec.on_actors(move || async move {
                            if let Ok((_, addr)) = find(&engine, &id).await {
                                let _ = addr
                                    .send(Kill {
                                        signal: libc::SIGKILL,
                                    })
                                    .await;
                            }
                        });
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let err = ExecError::new(ErrorKind::Internal, "the RUN container's task ended");
                return (container, Ended::Failed(err));
            }
        }
    }
}

/// Creates, attaches to and starts the container, reporting what happens on `tx`.
async fn drive(engine: Engine, body: ContainerCreateBody, tx: Sender<Event>) {
    if let Err(err) = drive_inner(&engine, body, &tx).await {
        let _ = tx.send(Event::Failed(err));
    }
}

async fn drive_inner(
    engine: &Engine,
    body: ContainerCreateBody,
    tx: &Sender<Event>,
) -> Result<(), Error> {
    let containers = engine.config.containers_dir();
    let id = crate::container::creation::create(&engine.services, &containers, body, None)
        .await?
        .id;
    let _ = tx.send(Event::Started(id.clone()));
    let (_, addr) = find(engine, &id).await?;
    let attachment = addr
        .send(Attach {
            typed: id.clone(),
            stdin: false,
            stream: true,
        })
        .await??;
    let exited = addr.send(Wait(WaitCondition::NextExit)).await??;
    addr.send(Start).await??;
    // The hub closes the subscription once the output is over, after the last byte.
    if let Some(mut output) = attachment.output {
        while let Some(chunk) = output.recv().await {
            let _ = tx.send(Event::Output(chunk.data.to_vec()));
        }
    }
    let code = exited
        .await
        .map_err(|_| Error::internal(format!("container {id} vanished while running")))?;
    let _ = tx.send(Event::Exited(code));
    Ok(())
}

/// The container's changes as the step's image.
fn commit(
    exec: &DaemonExecutor,
    parent: &str,
    container: &str,
    spec: &RunSpec,
) -> Result<RunOutcome, ExecError> {
    let upper = ContainerDir::new(&exec.engine.config.containers_dir(), container).upper();
    let mut skip = crate::container::spec::engine_files();
    // A secret's mount point: the runtime made it in the upper directory to mount over.
    skip.extend(spec.mounts.iter().filter_map(|m| match m {
        RunMount::Secret { target, .. } => Some(PathBuf::from(target.trim_start_matches('/'))),
        _ => None,
    }));
    let parent = digest(parent)?;
    let image = exec
        .engine
        .images
        .build_step(
            Some(&parent),
            Some(berth_images::StepLayer::Upper {
                upper: &upper,
                skip: &skip,
            }),
            &exec.tmp(),
            step(&spec.commit),
        )
        .map_err(from_images)?;
    Ok(RunOutcome::Committed {
        id: image.id.to_string(),
    })
}

/// Removes the step's container (Docker's `rm=true`, the default of every client).
fn remove(exec: &DaemonExecutor, id: String) {
    let engine = exec.engine.clone();
    let removed = exec.on_actors(move || async move {
        let (_, addr) = find(&engine, &id).await?;
        let done = addr
            .send(Remove {
                force: true,
                volumes: true,
            })
            .await??;
        done.await
            .map_err(|_| Error::internal("the container's removal was dropped"))?
    });
    match removed {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!("removing a build step's container: {err}"),
        Err(err) => tracing::warn!("removing a build step's container: {err}"),
    }
}

/// One lock per cache mount ID, for `sharing=locked`.
fn cache_locks(mounts: &[RunMount]) -> Vec<Arc<Mutex<()>>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    let table = LOCKS.get_or_init(Default::default);
    let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
    let mut ids: Vec<&str> = mounts
        .iter()
        .filter_map(|m| match m {
            RunMount::Cache {
                id,
                sharing: Sharing::Locked,
                ..
            } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    // Always taken in one order, so two steps never wait on each other.
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .map(|id| table.entry(id.to_string()).or_default().clone())
        .collect()
}

/// Where the cache mount `id` lives: `<data-root>/builder/cache-mounts/<sha256 of id>`,
/// kept between builds and daemon runs.
fn cache_dir(exec: &DaemonExecutor, id: &str) -> PathBuf {
    use sha2::Digest as _;
    let name = hex::encode(sha2::Sha256::digest(id.as_bytes()));
    exec.engine
        .config
        .data_root
        .join("builder/cache-mounts")
        .join(name)
}

/// A RUN's mounts as its container gets them.
struct HostMounts {
    binds: Vec<String>,
    tmpfs: HashMap<String, String>,
    /// The directories of its secrets' files, removed when dropped.
    secrets: Vec<tempfile::TempDir>,
}

/// The RUN's mounts as a container's `Binds` and `Tmpfs`, and the files of its secrets.
fn host_mounts(exec: &DaemonExecutor, mounts: &[RunMount]) -> Result<HostMounts, ExecError> {
    let mut binds = Vec::new();
    let mut tmpfs = HashMap::new();
    let mut secrets = Vec::new();
    for mount in mounts {
        match mount {
            RunMount::Cache {
                id,
                target,
                readonly,
                uid,
                gid,
                mode,
                ..
            } => {
                let dir = cache_dir(exec, id);
                if !dir.exists() {
                    prepare_cache_dir(&dir, *uid, *gid, *mode)?;
                }
                binds.push(bind(&dir, target, *readonly));
            }
            RunMount::Tmpfs { target, options } => {
                tmpfs.insert(target.clone(), options.clone());
            }
            RunMount::Bind {
                source,
                target,
                readonly,
            } => binds.push(bind(source, target, *readonly)),
            RunMount::Secret {
                target,
                content,
                mode,
                uid,
                gid,
            } => {
                let held = secret_file(exec, &content.0, *mode, *uid, *gid)?;
                binds.push(bind(&held.path().join("secret"), target, true));
                secrets.push(held);
            }
        }
    }
    Ok(HostMounts {
        binds,
        tmpfs,
        secrets,
    })
}

/// Where this daemon's build secrets are while a RUN uses them: on the host's `/dev/shm`
/// tmpfs, so that a secret is never written to a disk, in directories (root's only) named
/// after the daemon's data root (one daemon per root) and this prefix.
const SHM: &str = "/dev/shm";

pub(crate) fn secrets_prefix(engine: &Engine) -> String {
    use sha2::Digest as _;
    let root = sha2::Sha256::digest(engine.config.data_root.as_os_str().as_encoded_bytes());
    format!("berth-build-secret-{}-", &hex::encode(root)[..16])
}

/// Removes what a crash left of this daemon's secrets (before its first build).
pub(crate) fn remove_stale_secrets(engine: &Engine) {
    let prefix = secrets_prefix(engine);
    for entry in std::fs::read_dir(SHM).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A directory holding the file `secret` with the owner and mode its mount asks for;
/// removed when dropped, at the end of the step.
fn secret_file(
    exec: &DaemonExecutor,
    content: &[u8],
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<tempfile::TempDir, ExecError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |op: &str, path: &std::path::Path, e: std::io::Error| {
        ExecError::new(ErrorKind::Internal, format!("{op} {}: {e}", path.display()))
    };
    let held = tempfile::Builder::new()
        .prefix(&secrets_prefix(&exec.engine))
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(SHM)
        .map_err(|e| io("creating a directory in", std::path::Path::new(SHM), e))?;
    let path = held.path().join("secret");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io("creating", &path, e))?;
    file.write_all(content)
        .map_err(|e| io("writing", &path, e))?;
    std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
        .map_err(|e| io("changing the owner of", &path, e))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| io("changing the mode of", &path, e))?;
    Ok(held)
}

fn bind(source: &std::path::Path, target: &str, readonly: bool) -> String {
    let mode = if readonly { ":ro" } else { "" };
    format!("{}:{target}{mode}", source.display())
}

/// A new cache directory, made whole under a temporary name and renamed into place.
fn prepare_cache_dir(
    dir: &std::path::Path,
    uid: u32,
    gid: u32,
    mode: u32,
) -> Result<(), ExecError> {
    let io = |op: &str, e: std::io::Error| {
        ExecError::new(ErrorKind::Internal, format!("{op} {}: {e}", dir.display()))
    };
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(|e| io("creating", e))?;
    let fresh = tempfile::Builder::new()
        .prefix(".new-")
        .tempdir_in(parent)
        .map_err(|e| io("creating a directory next to", e))?
        .keep();
    std::os::unix::fs::chown(&fresh, Some(uid), Some(gid))
        .map_err(|e| io("changing the owner of", e))?;
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io("changing the mode of", e))?;
    match std::fs::rename(&fresh, dir) {
        Ok(()) => Ok(()),
        // Another step made it meanwhile.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir(&fresh);
            Ok(())
        }
        Err(e) => Err(io("renaming a new cache directory to", e)),
    }
}

/// The actor of container `id`, through the name index.
async fn find(engine: &Engine, id: &str) -> Result<(String, actix::Addr<ContainerActor>), Error> {
    engine.names().send(Lookup(id.to_string())).await?
}
