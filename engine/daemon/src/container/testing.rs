//! Fakes of what the container actors meet outside the daemon (the supervisor, the image
//! store), so that their state machine is unit-tested without root and without processes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix::Actor;
use berth_runtime::{ProcessIo, Spawned, StartFailure, Started};
use berth_supervisor::{ClientError, ContainerIo, ExecRequest, KnownContainer, SpawnRequest};
use oci_spec::image::{ConfigBuilder, ImageConfiguration, ImageConfigurationBuilder};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::names::Names;
use super::trash::Trash;
use crate::engine::Services;
use crate::events::EventBus;
use crate::image_leases::{ImageLeases, LeasedImage};
use crate::stats::Sampler;
use crate::supervisor::{Answer, Supervisor};

/// What the fake supervisor answers the next spawn with.
pub enum SpawnPlan {
    /// The container runs, with this PID 1.
    Run(i32),
    /// The runtime refuses it.
    Refuse(StartFailure),
    /// The answer waits until the sender is used (or dropped: the supervisor disappears).
    Hold(oneshot::Receiver<SpawnPlan>),
}

/// A supervisor that answers as told and records what it was asked.
#[derive(Default)]
pub struct FakeSupervisor {
    plans: Mutex<Vec<SpawnPlan>>,
    pub calls: Mutex<Vec<String>>,
}

impl FakeSupervisor {
    /// Queues the answers of the next spawns, in order; with none queued a spawn runs
    /// with PID 4242.
    pub fn plan(&self, plan: SpawnPlan) {
        self.plans.lock().push(plan);
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().clone()
    }

    fn record(&self, call: String) {
        self.calls.lock().push(call);
    }
}

fn answer(plan: SpawnPlan) -> Answer<Result<Started, StartFailure>> {
    Box::pin(async move {
        let mut plan = plan;
        loop {
            return match plan {
                SpawnPlan::Run(pid) => Ok(Ok(Started {
                    spawned: Spawned { pid },
                    terminal: None,
                })),
                SpawnPlan::Refuse(failure) => Ok(Err(failure)),
                SpawnPlan::Hold(release) => match release.await {
                    Ok(next) => {
                        plan = next;
                        continue;
                    }
                    Err(_) => Err(ClientError::Disconnected),
                },
            };
        }
    })
}

impl Supervisor for FakeSupervisor {
    fn spawn(
        &self,
        request: SpawnRequest,
        io: ContainerIo,
    ) -> Answer<Result<Started, StartFailure>> {
        self.record(format!("spawn {}", request.state_dir.display()));
        // The process "closes" its output at once: the daemon's pump sees end-of-file.
        drop(io);
        let plan = {
            let mut plans = self.plans.lock();
            if plans.is_empty() {
                SpawnPlan::Run(4242)
            } else {
                plans.remove(0)
            }
        };
        answer(plan)
    }

    fn exec(&self, _: ExecRequest, _: ProcessIo) -> Answer<Result<Started, StartFailure>> {
        self.record("exec".into());
        Box::pin(async { Err(ClientError::Disconnected) })
    }

    fn signal(&self, id: &str, signal: i32) -> Answer<bool> {
        self.record(format!("signal {id} {signal}"));
        Box::pin(async { Ok(true) })
    }

    fn close_stdin(&self, id: &str) -> Answer<()> {
        self.record(format!("close_stdin {id}"));
        Box::pin(async { Ok(()) })
    }

    fn list(&self) -> Answer<Vec<KnownContainer>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn release(&self, id: &str) -> Answer<()> {
        self.record(format!("release {id}"));
        Box::pin(async { Ok(()) })
    }

    fn pid(&self) -> i32 {
        0
    }
}

/// An image store with one image, `busybox`, whose command is `sh`.
#[derive(Default)]
pub struct FakeImages {
    pub leased: Mutex<Vec<String>>,
    pub released: Mutex<Vec<String>>,
}

pub fn image_config(cmd: Option<&str>) -> ImageConfiguration {
    let mut config = ConfigBuilder::default();
    if let Some(cmd) = cmd {
        config = config.cmd(vec![cmd.to_string()]);
    }
    ImageConfigurationBuilder::default()
        .config(config.env(vec!["PATH=/bin".to_string()]).build().unwrap())
        .build()
        .unwrap()
}

impl ImageLeases for FakeImages {
    fn lease(&self, name: &str, holder: &str) -> Result<LeasedImage, berth_images::Error> {
        let cmd = match name {
            "busybox" => Some("sh"),
            "no-cmd" => None,
            _ => return Err(berth_images::Error::NotFound(name.to_string())),
        };
        self.leased.lock().push(holder.to_string());
        Ok(LeasedImage {
            id: format!("sha256:{}", "b".repeat(64)),
            config: image_config(cmd),
            healthcheck: None,
            layers: vec![PathBuf::from("/nonexistent/layer")],
        })
    }

    fn release(&self, holder: &str) -> Result<(), berth_images::Error> {
        self.released.lock().push(holder.to_string());
        Ok(())
    }
}

/// The services of a daemon whose containers live under `containers_dir`.
pub fn services(
    containers_dir: &Path,
    supervisor: Arc<FakeSupervisor>,
    images: Arc<FakeImages>,
) -> Arc<Services> {
    std::fs::create_dir_all(containers_dir).unwrap();
    Arc::new(Services {
        supervisor,
        names: Names::default().start(),
        images,
        cgroups: None,
        cgroup_parent: crate::config::DEFAULT_CGROUP_PARENT.to_string(),
        execs: Default::default(),
        events: EventBus::default().start(),
        stats: Sampler::new(None).start(),
        trash: Trash::open(containers_dir).unwrap(),
        network: Arc::new(no_default_network(containers_dir)),
        health: crate::health::monitor::HealthMonitor::default().start(),
        volumes: Arc::new(
            berth_volumes::Store::open(
                &containers_dir.with_file_name("volumes"),
                Box::new(berth_volumes::LinuxMounter),
            )
            .unwrap(),
        ),
    })
}

/// Networking as with `berthd --bridge none`: nothing is made on the host until a network
/// is created, so the actor's tests need no root (their containers get `--network none`).
fn no_default_network(containers_dir: &Path) -> crate::network::NetworkService {
    let root = containers_dir.with_extension("network");
    let mut config = crate::config::DaemonConfig::new(
        root.join("data"),
        root.join("exec"),
        &["unix:///unused".to_string()],
    )
    .unwrap();
    config.network.bridge = None;
    crate::network::NetworkService::open(&config, None).unwrap()
}
