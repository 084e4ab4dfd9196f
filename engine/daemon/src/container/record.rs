//! What berth remembers of a container: its configuration as created, and its state.
//! Written atomically to `<data-root>/containers/<id>/config.json` on every change.

use std::path::{Path, PathBuf};

use bollard_stubs::models::{ContainerConfig, HostConfig};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Docker's container states. `Removing` and `Dead` exist in the API but berth passes
/// through them without stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Whether the container has a live process (paused containers do).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Set by `stop` and `kill`, so that a restart policy does not bring the container back.
    pub stopped_by_user: bool,
    pub restart_count: i64,
    /// `State.Health`, for a container with a healthcheck that has started.
    #[serde(default)]
    pub health: Option<crate::health::Health>,
}

impl State {
    pub fn created() -> State {
        State {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: None,
            finished_at: None,
            stopped_by_user: false,
            restart_count: 0,
            health: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading slash that the API shows.
    pub name: String,
    pub created: DateTime<Utc>,
    /// The image ID (`sha256:…`) the container was created from.
    pub image_id: String,
    /// The container's configuration with the image's defaults merged in.
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// Extracted image layers, top-most first.
    pub layers: Vec<PathBuf>,
    /// Its binds and volumes, with their host directories (tmpfs mounts stay in
    /// `host_config`).
    #[serde(default)]
    pub mount_points: Vec<super::mount_points::MountPoint>,
    pub state: State,
    /// The networks the container joins and, while it runs, what it got on them.
    #[serde(default)]
    pub network: crate::network::ContainerNetwork,
}

impl ContainerRecord {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The command as Docker reports it: `Path` is the first word, `Args` the rest.
    pub fn command(&self) -> Vec<String> {
        let mut argv = self.config.entrypoint.clone().unwrap_or_default();
        argv.extend(self.config.cmd.clone().unwrap_or_default());
        argv
    }
}

/// The files of one container inside the data root.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    pub root: PathBuf,
}

impl ContainerDir {
    pub fn new(containers_dir: &Path, id: &str) -> ContainerDir {
        ContainerDir {
            root: containers_dir.join(id),
        }
    }
    pub fn record(&self) -> PathBuf {
        self.root.join("config.json")
    }
    pub fn log(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}-json.log"))
    }
    pub fn hostname(&self) -> PathBuf {
        self.root.join("hostname")
    }
    pub fn hosts(&self) -> PathBuf {
        self.root.join("hosts")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.root.join("resolv.conf")
    }
    pub fn upper(&self) -> PathBuf {
        self.root.join("rootfs/upper")
    }
    pub fn work(&self) -> PathBuf {
        self.root.join("rootfs/work")
    }
    /// Where the overlay is mounted: over the directory that holds its upper and work
    /// directories. The mount exists only inside the container's mount namespace, and one
    /// directory fewer per container is one inode fewer to allocate on the data root's disk.
    pub fn merged(&self) -> PathBuf {
        self.root.join("rootfs")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("writing container state {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading container state {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("decoding container state {path}: {source}")]
    Decode {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// How a record write survives the machine's crash. Either way the write is atomic (temp
/// file and rename), so a kill -9 never leaves a torn or lost record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Temp file, fsync, rename, fsync of the directory.
    Durable,
    /// Temp file and rename only: a power cut may bring the previous record back.
    Replace,
}

impl Durability {
    /// What every write of this record needs: durable, unless the container is removed when
    /// it stops (`--rm`). Such a container does not outlive a host crash anyway, since the
    /// next daemon removes every stopped one it finds (as Docker does), and the fsyncs would
    /// sit on the path of its create, start and exit.
    pub fn of(record: &ContainerRecord) -> Durability {
        if record.host_config.auto_remove == Some(true) {
            Durability::Replace
        } else {
            Durability::Durable
        }
    }
}

impl ContainerRecord {
    /// Writes the record atomically, as durably as [`Durability::of`] says it needs.
    pub fn save(&self, dir: &ContainerDir) -> Result<(), RecordError> {
        self.save_as(dir, Durability::of(self))
    }

    /// Writes the record atomically, with the fsyncs only for `Durability::Durable`.
    pub fn save_as(&self, dir: &ContainerDir, durability: Durability) -> Result<(), RecordError> {
        let path = dir.record();
        let bytes = serde_json::to_vec(self).map_err(|err| RecordError::Decode {
            path: path.clone(),
            source: err,
        })?;
        let written = match durability {
            Durability::Durable => fsdriver::atomic::write_atomic(&path, &bytes),
            Durability::Replace => fsdriver::atomic::write_replace(&path, &bytes),
        };
        written.map_err(|source| RecordError::Write { path, source })
    }

    pub fn load(dir: &ContainerDir) -> Result<ContainerRecord, RecordError> {
        let path = dir.record();
        let bytes = std::fs::read(&path).map_err(|source| RecordError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| RecordError::Decode { path, source })
    }
}
