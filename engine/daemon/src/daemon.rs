//! Start-up and shutdown: the data-root lock, the supervisor, re-adopting containers a
//! previous daemon left behind, and the API socket.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use actix::prelude::*;
use anyhow::{Context as _, Result};
use berth_supervisor::ExitRecord;

use crate::api;
use crate::config::{DaemonConfig, Host};
use crate::container::actor::{Adopt, AdoptedIo, ContainerActor, Exited, FlushHealth, Remove};
use crate::container::names::{All, Names, Register, Reserve};
use crate::container::process::unknown_exit;
use crate::container::record::{ContainerDir, ContainerRecord, RecordError, Status};
use crate::engine::{Engine, Services};
use crate::events::EventBus;
use crate::stats::Sampler;
use crate::supervision::LiveSupervisor;
use crate::supervisor::Supervisor;

/// How deep below the data root state files are written (`image/blobs/leases/<holder>`).
const STATE_DEPTH: usize = 4;
/// Directories of the data root that hold file trees rather than state: containers' and
/// volumes' files, and the stores that clean their own temporary files when opened.
const NOT_STATE: &[&str] = &["rootfs", "_data", "layers", "sha256", "ingest"];

pub fn run(config: DaemonConfig) -> Result<()> {
    // Before the actix system and its threads start.
    crate::heap::use_one_arena();
    // Both roots are held before anything in them is read or written: a second daemon on
    // either would otherwise take over this one's supervisor or records.
    let _exec_lock = crate::root_lock::lock_root(&config.exec_root, "exec root")?;
    let _data_lock = crate::root_lock::lock_root(&config.data_root, "data root")?;
    std::fs::create_dir_all(config.containers_dir())
        .with_context(|| format!("creating {}", config.containers_dir().display()))?;

    let system = System::new();
    system.block_on(serve(config))
}

async fn serve(config: DaemonConfig) -> Result<()> {
    let cgroups = match berth_cgroups::detect() {
        Ok(hierarchy) => Some(hierarchy),
        Err(err) => {
            tracing::warn!("no usable cgroup hierarchy, containers will run without limits: {err}");
            None
        }
    };
    // The temporary files of state writes a killed daemon never finished: nobody will
    // finish them, and they would pile up with every crash.
    let data_root = config.data_root.clone();
    let stale = actix_rt::task::spawn_blocking(move || {
        fsdriver::atomic::remove_stale_temps(&data_root, STATE_DEPTH, NOT_STATE)
    })
    .await?;
    for path in stale {
        tracing::info!(
            "removed {}, a write a previous daemon never finished",
            path.display()
        );
    }
    let containers_dir = config.containers_dir();
    let records = actix_rt::task::spawn_blocking(move || load_records(&containers_dir)).await??;
    let leases = records.leases();
    let images_dir = config.images_dir();
    let images = actix_rt::task::spawn_blocking(move || {
        berth_images::ImageStore::open_with_leases(&images_dir, leases)
    })
    .await?
    .with_context(|| {
        format!(
            "opening the image store in {}",
            config.images_dir().display()
        )
    })?;

    // Before the supervisor starts, so that it and, should it die, its containers are
    // berthd's children (see `supervision`).
    crate::supervision::become_subreaper()?;
    let (supervisor, exits) = LiveSupervisor::start(&config.exec_root)
        .await
        .context("starting the supervisor")?;

    let dns = berth_dns::DnsServer::new(
        berth_dns::DnsConfig::default(),
        tokio::runtime::Handle::current(),
    )
    .context("starting the embedded DNS server")?;
    let network_config = config.clone();
    let network = actix_rt::task::spawn_blocking(move || {
        crate::network::NetworkService::open(&network_config, Some(Arc::new(dns)))
    })
    .await?
    .context("setting up networking")?;

    let names = Names::default().start();
    let images = Arc::new(images);
    let stats = Sampler::new(cgroups.clone()).start();
    let trash = crate::container::trash::Trash::open(&config.containers_dir())
        .context("opening the trash of removed containers")?;
    for dir in &records.interrupted {
        trash
            .discard(&dir.root)
            .context("discarding an interrupted create")?;
    }
    let volumes_dir = config.volumes_dir();
    let volumes = actix_rt::task::spawn_blocking(move || {
        berth_volumes::Store::open(&volumes_dir, Box::new(berth_volumes::LinuxMounter))
    })
    .await?
    .with_context(|| format!("opening the volumes in {}", config.volumes_dir().display()))?;
    crate::container::volumes::restore_users(&volumes, &records.loaded);
    let services = Arc::new(Services {
        supervisor: Arc::new(supervisor.clone()),
        names: names.clone(),
        images: images.clone(),
        cgroups,
        cgroup_parent: config.cgroup_parent.clone(),
        execs: Default::default(),
        events: EventBus::default().start(),
        stats,
        trash,
        network: Arc::new(network),
        volumes: Arc::new(volumes),
        health: crate::health::monitor::HealthMonitor::default().start(),
    });
    let transfers =
        crate::transfers::Transfers::new(&config).context("setting up registry access")?;
    let engine = Engine {
        config: Arc::new(config.clone()),
        images,
        transfers: Arc::new(transfers),
        services: services.clone(),
    };

    restore(&engine, records.loaded).await?;

    // Exits reported by the supervisor go to the container's own actor. They are read only
    // once every container is registered: an exit reported during the restore would find no
    // actor and be lost (it stays queued until then). A supervisor that dies is replaced.
    actix_rt::spawn(supervisor.clone().keep_alive(exits, names.clone()));

    let mut listeners = Vec::new();
    for host in &config.hosts {
        let listener = match host {
            Host::Unix(path) => api::bind(path).map(api::Listener::Unix),
            Host::Tcp(addr) => {
                // As dockerd warns: the unencrypted API is root on this host for whoever
                // reaches it (loopback only, so: every local user and process).
                tracing::warn!(
                    "the API is served on {host} without encryption: anyone who can connect to it has root on this host"
                );
                api::bind_tcp(*addr).map(api::Listener::Tcp)
            }
        }
        .with_context(|| format!("listening on {host}"))?;
        tracing::info!("berthd is listening on {host}");
        listeners.push(listener);
    }
    if let Some(addr) = config.distribution.registry_addr {
        crate::api::registry_server::start(&engine, &config.distribution, addr).await?;
    }
    let servers: Vec<_> = listeners
        .into_iter()
        .map(|listener| actix_rt::spawn(api::serve(listener, engine.clone())))
        .collect();

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
    }
    for server in servers {
        server.abort();
    }
    for host in &config.hosts {
        if let Host::Unix(path) = host {
            let _ = std::fs::remove_file(path);
        }
    }
    flush_health(&engine).await;
    // Running containers stay with the supervisor (live restore is the default); the next
    // berthd adopts them.
    System::current().stop();
    Ok(())
}

/// Writes the healthcheck results that are only in memory, so a plain stop loses none of the
/// log (a kill -9 loses at most its last 30 s: see `health::write_for`). Bounded, so that a
/// stuck disk cannot hold the stop.
async fn flush_health(engine: &Engine) {
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);
    let Ok(actors) = engine.names().send(All).await else {
        return;
    };
    let flushes = actors.iter().map(|addr| addr.send(FlushHealth));
    if tokio::time::timeout(PATIENCE, futures_util::future::join_all(flushes))
        .await
        .is_err()
    {
        tracing::warn!("healthcheck logs not all written within {PATIENCE:?} of the stop");
    }
}

/// The records of the containers a previous daemon created.
struct Records {
    loaded: Vec<(ContainerDir, ContainerRecord)>,
    /// Some container's record could not be read.
    unreadable: bool,
    /// Directories of creates that never wrote their record (the record is written once,
    /// atomically, before a create answers): nobody was told of these containers.
    interrupted: Vec<ContainerDir>,
}

impl Records {
    /// What the containers lease from the image store: the layers their records name.
    fn leases(&self) -> berth_images::LayerLeases {
        let mut leases = berth_images::LayerLeases::new();
        for (_, record) in &self.loaded {
            leases.hold(&record.id, record.layers.clone());
        }
        if self.unreadable {
            leases.mark_incomplete();
        }
        leases
    }
}

fn load_records(containers_dir: &Path) -> Result<Records> {
    let mut records = Records {
        loaded: Vec::new(),
        unreadable: false,
        interrupted: Vec::new(),
    };
    let entries = std::fs::read_dir(containers_dir)
        .with_context(|| format!("reading {}", containers_dir.display()))?;
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        if id == crate::container::trash::TRASH_NAME {
            continue;
        }
        let dir = ContainerDir::new(containers_dir, &id);
        match ContainerRecord::load(&dir) {
            Ok(record) => records.loaded.push((dir, record)),
            Err(RecordError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                records.interrupted.push(dir);
            }
            Err(err) => {
                tracing::warn!("skipping container {id}: {err}");
                records.unreadable = true;
            }
        }
    }
    Ok(records)
}

/// Brings back every container a previous daemon created and reconciles it with what the
/// supervisor knows: still running → adopted; exited while we were away → its real exit
/// code.
async fn restore(engine: &Engine, records: Vec<(ContainerDir, ContainerRecord)>) -> Result<()> {
    let mut known: HashMap<String, berth_supervisor::KnownContainer> = engine
        .services
        .supervisor
        .list()
        .await
        .context("asking the supervisor for its containers")?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let running: std::collections::HashSet<String> = known
        .values()
        .filter(|k| k.running)
        .map(|k| k.id.clone())
        .collect();
    for (dir, mut record) in records {
        let id = record.id.clone();
        // A start answers before its record is written: a record still saying "created"
        // of a container the supervisor knows was started all the same.
        let mut was_live = record.state.status.is_live()
            || (record.state.status == Status::Created && known.contains_key(&record.id));
        let auto_remove = record.host_config.auto_remove == Some(true);
        let tty = record.config.tty == Some(true);
        let reserved = engine
            .names()
            .send(Reserve {
                id: record.id.clone(),
                name: record.name.clone(),
            })
            .await?;
        if let Err(err) = reserved {
            tracing::warn!("skipping container {id}: {}", err);
            continue;
        }
        let managed = known.get(&id).is_some_and(|c| c.running);
        let killed = if managed { 0 } else { sweep(engine, &id).await };
        if killed > 0 && !was_live {
            // Processes in its cgroup mean it was started, though its record, written after
            // the start answered, still says created (both daemon and supervisor were killed
            // in between): it ran, and is reported exited below rather than never started.
            // When it started is lost with the record write, so StartedAt stays unset.
            record.state.status = Status::Running;
            was_live = true;
        }
        let actor = ContainerActor::new(record, dir.clone(), engine.services.clone());
        let view = actor.published();
        let addr = actor.start();
        engine.names().do_send(Register {
            id: id.clone(),
            addr: addr.clone(),
            view,
        });
        match known.remove(&id) {
            Some(live) if live.running => {
                let pid = live.pid;
                match adopted_io(tty, live) {
                    Some(io) => addr.do_send(Adopt { pid, io }),
                    None => tracing::warn!("container {id} is running but its stdio is lost"),
                }
            }
            Some(mut gone) => {
                let exit = gone
                    .exit
                    .take()
                    .or_else(|| berth_supervisor::read_exit_record(&dir.root));
                if was_live {
                    // What it wrote while no daemon was reading still sits in its pipes: drain
                    // it into the log first. The actor records the exit once that is done, and
                    // releases the container in the supervisor.
                    let pid = gone.pid;
                    if let Some(io) = adopted_io(tty, gone) {
                        addr.do_send(Adopt { pid, io });
                    }
                    addr.do_send(Exited {
                        pid,
                        exit: exit.unwrap_or_else(unknown_exit),
                    });
                } else {
                    release(&*engine.services.supervisor, &id).await;
                }
            }
            None if was_live => {
                // Its supervisor died: if it still ran, berthd killed it just now.
                let exit = if killed > 0 {
                    Some(ExitRecord::killed(libc::SIGKILL, chrono::Utc::now()))
                } else {
                    berth_supervisor::read_exit_record(&dir.root)
                };
                addr.do_send(Exited {
                    pid: 0,
                    exit: exit.unwrap_or_else(unknown_exit),
                });
            }
            None => {}
        }
        // As Docker does: a `--rm` container that is not running is removed at start. (One
        // that was running is removed by its exit above.) This is also what makes skipping
        // fsyncs of such containers' records safe.
        if auto_remove && !was_live {
            addr.do_send(Remove {
                force: false,
                volumes: true,
            });
        }
    }
    // Namespaces left by starts the previous daemon did not finish, by containers that
    // exited or were removed while no daemon was there to take their networking down.
    let net = engine.services.network.clone();
    actix_rt::task::spawn_blocking(move || {
        for id in net.plane.sandboxes() {
            if !running.contains(&id) {
                if let Err(err) = net.plane.remove_sandbox(&id) {
                    tracing::warn!("removing the stale network namespace of {id}: {err}");
                }
            }
        }
    })
    .await?;
    // What the supervisor still holds for containers that no longer exist (removed while
    // an exit was in flight): stop it and let it go.
    for (id, orphan) in known {
        if orphan.running {
            tracing::warn!("killing container {id}: it has no record in the data root");
            let _ = engine.services.supervisor.signal(&id, libc::SIGKILL).await;
        } else {
            release(&*engine.services.supervisor, &id).await;
        }
    }
    Ok(())
}

/// What the supervisor kept of a container's stdio, as the actor takes it back: the master
/// of its terminal, or its output pipes and the writer of its stdin.
fn adopted_io(tty: bool, known: berth_supervisor::KnownContainer) -> Option<AdoptedIo> {
    let mut fds = known.kept.into_iter();
    match (tty, known.terminal, fds.next(), fds.next()) {
        (true, Some(master), _, _) => Some(AdoptedIo::Terminal(master)),
        (false, _, Some(stdout), Some(stderr)) => Some(AdoptedIo::Pipes {
            stdout,
            stderr,
            stdin_writer: known.stdin_writer,
        }),
        _ => None,
    }
}

/// Kills what runs in the cgroup of container `id` though no supervisor manages it; how
/// many processes that was (see `container::sweep`).
async fn sweep(engine: &Engine, id: &str) -> usize {
    let Some(hierarchy) = engine.services.cgroups.clone() else {
        return 0;
    };
    let path = crate::container::spec::cgroup_path(&engine.services.cgroup_parent, id);
    let swept = actix_rt::task::spawn_blocking(move || {
        berth_cgroups::manager(&hierarchy, &path)
            .map(|cgroup| crate::container::sweep::kill_unmanaged(cgroup.as_ref()))
    })
    .await;
    match swept {
        Ok(Ok(killed)) => killed,
        Ok(Err(err)) => {
            tracing::warn!("cgroup of {id}: {err}");
            0
        }
        Err(err) => {
            tracing::warn!("sweeping the cgroup of {id}: {err}");
            0
        }
    }
}

async fn release(supervisor: &dyn Supervisor, id: &str) {
    if let Err(err) = supervisor.release(id).await {
        tracing::warn!("releasing {id} in the supervisor: {err}");
    }
}
