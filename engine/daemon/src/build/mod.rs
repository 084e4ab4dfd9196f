//! The builder's [`Executor`] in berthd: RUN steps are containers made and started through
//! the same path as `docker run`, each step's image is stored through the image store
//! like a `docker commit`, and images are pulled as `docker pull` pulls them.
//!
//! The build itself runs on a blocking thread; what must happen on the actor runtime
//! (creating, starting, removing containers, pulling) is sent there and waited for.

pub(crate) mod context;
pub(crate) mod remote;
pub mod rootfs;
pub(crate) mod run;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use crate::container::error::Error as ContainerError;
use crate::engine::Engine;
use crate::transfers::pull::{pull, PullRequest};
use actix_rt::ArbiterHandle;
use berth_builder::executor::{
    BaseImage, CommitSpec, ExecError, Executor, LayerWriter, Progress, RunOutcome, RunSpec,
};
use berth_builder::ErrorKind;
use berth_distribution::Credentials;
use berth_images::reference::Reference;

/// What one build's executor works with.
pub struct DaemonExecutor {
    pub engine: Engine,
    /// The actor runtime's arbiter: containers are created and driven there.
    pub arbiter: ArbiterHandle,
    /// This build's own scratch directory (mount points, layer tars).
    pub scratch: PathBuf,
    /// The network of RUN containers that ask for the default one (`networkmode`).
    pub network_mode: Option<String>,
    /// Registry credentials from `X-Registry-Config`, by registry host.
    pub credentials: HashMap<String, Credentials>,
}

/// How an error of the container path is reported to the builder.
pub fn from_container(err: ContainerError) -> ExecError {
    use crate::error::ErrorKind as Daemon;
    let kind = match err.kind() {
        Daemon::NotFound => ErrorKind::NotFound,
        Daemon::InvalidArgument | Daemon::Conflict => ErrorKind::InvalidArgument,
        Daemon::NotImplemented => ErrorKind::NotImplemented,
        Daemon::Unavailable | Daemon::Unauthorized | Daemon::Forbidden => ErrorKind::Unavailable,
        Daemon::NotModified | Daemon::Internal => ErrorKind::Internal,
    };
    ExecError::new(kind, err.to_string())
}

pub fn from_images(err: berth_images::Error) -> ExecError {
    let kind = match err.kind() {
        berth_images::ErrorKind::NotFound => ErrorKind::NotFound,
        berth_images::ErrorKind::InvalidArgument | berth_images::ErrorKind::Conflict => {
            ErrorKind::InvalidArgument
        }
        berth_images::ErrorKind::Internal => ErrorKind::Internal,
    };
    ExecError::new(kind, err.to_string())
}

fn digest(id: &str) -> Result<berth_images::Digest, ExecError> {
    berth_images::Digest::parse(id)
        .map_err(|e| ExecError::new(ErrorKind::Internal, format!("image ID {id}: {e}")))
}

impl DaemonExecutor {
    /// Runs the future `make` builds on the actor runtime and waits for its answer.
    fn on_actors<T, F, Fut>(&self, make: F) -> Result<T, ExecError>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let sent = self.arbiter.spawn_fn(move || {
            actix_rt::spawn(async move {
                let _ = tx.send(make().await);
            });
        });
        if !sent {
            return Err(ExecError::new(
                ErrorKind::Unavailable,
                "the daemon is shutting down",
            ));
        }
        rx.recv()
            .map_err(|_| ExecError::new(ErrorKind::Unavailable, "the daemon is shutting down"))
    }

    fn tmp(&self) -> PathBuf {
        self.engine.config.images_dir().join("tmp")
    }

    fn pull(&self, name: &str) -> Result<(), ExecError> {
        let mut reference = Reference::parse_normalized(name)
            .map_err(|e| ExecError::new(ErrorKind::InvalidArgument, e.to_string()))?;
        if reference.tag().is_none() && reference.digest().is_none() {
            reference = reference
                .with_tag("latest")
                .map_err(|e| ExecError::new(ErrorKind::InvalidArgument, e.to_string()))?;
        }
        let credentials = self.credentials.get(reference.domain()).cloned();
        let engine = self.engine.clone();
        let request = PullRequest {
            reference,
            platform: Default::default(),
            credentials,
        };
        self.on_actors(move || async move {
            // The pull's progress messages are not part of a build's stream.
            let (progress, _rx) = crate::transfers::progress::Progress::channel();
            pull(&engine.transfers, &engine.images, request, &progress)
                .await
                .map_err(|e| e.to_string())
        })?
        .map_err(|message| ExecError::new(ErrorKind::NotFound, message))
    }
}

impl Executor for DaemonExecutor {
    fn base_image(
        &self,
        name: &str,
        pull: bool,
        _progress: &dyn Progress,
    ) -> Result<BaseImage, ExecError> {
        if !pull {
            if let Ok(image) = self.engine.images.resolve(name) {
                return Ok(base(image));
            }
        }
        self.pull(name)?;
        let image = self.engine.images.resolve(name).map_err(from_images)?;
        Ok(base(image))
    }

    fn image_exists(&self, id: &str) -> bool {
        digest(id).is_ok_and(|d| self.engine.images.contains(&d))
    }

    fn with_rootfs(
        &self,
        image: &str,
        work: &mut (dyn FnMut(&Path) + Send),
    ) -> Result<(), ExecError> {
        let images = &self.engine.images;
        let record = images.resolve(image).map_err(from_images)?;
        // The layers stay on disk while they are read, even if the image is removed.
        let holder = format!("build-{}", crate::ids::new_container_id());
        let layers = images.lease_layers(&holder, &record).map_err(from_images)?;
        let mountpoint = tempfile::Builder::new()
            .prefix("rootfs-")
            .tempdir_in(&self.scratch)
            .map_err(|e| {
                ExecError::new(
                    ErrorKind::Internal,
                    format!("creating a mount point in {}: {e}", self.scratch.display()),
                )
            });
        let read = mountpoint.and_then(|mountpoint| {
            rootfs::with_layers(&layers, mountpoint.path(), work)
                .map_err(|e| ExecError::new(e.kind(), e.to_string()))
        });
        let released = images.release_layers(&holder).map_err(from_images);
        read.and(released)
    }

    fn run(
        &self,
        parent: Option<&str>,
        spec: &RunSpec,
        started: &mut dyn FnMut(&str),
        progress: &dyn Progress,
    ) -> Result<RunOutcome, ExecError> {
        run::run(self, parent, spec, started, progress)
    }

    fn commit(
        &self,
        parent: Option<&str>,
        layer: Option<&Path>,
        spec: &CommitSpec,
    ) -> Result<String, ExecError> {
        let parent = parent.map(digest).transpose()?;
        let started = std::time::Instant::now();
        let with_layer = layer.is_some();
        let layer = layer.map(|upper| berth_images::StepLayer::Upper { upper, skip: &[] });
        let image = self
            .engine
            .images
            .build_step(parent.as_ref(), layer, &self.tmp(), step(spec))
            .map_err(from_images)?;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            with_layer,
            "build step stored"
        );
        Ok(image.id.to_string())
    }

    fn commit_tar(
        &self,
        parent: Option<&str>,
        write: &mut LayerWriter<'_>,
        spec: &CommitSpec,
    ) -> Result<String, ExecError> {
        let parent = parent.map(digest).transpose()?;
        let started = std::time::Instant::now();
        let image = self
            .engine
            .images
            .build_step(
                parent.as_ref(),
                Some(berth_images::StepLayer::Tar(write)),
                &self.tmp(),
                step(spec),
            )
            .map_err(from_images)?;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "build step stored from a layer tar"
        );
        Ok(image.id.to_string())
    }

    fn fetch(&self, url: &str, dest: &Path) -> Result<(), ExecError> {
        let url = url.to_string();
        let dest = dest.to_path_buf();
        self.on_actors(move || async move {
            use tokio::io::AsyncWriteExt;
            let unavailable = |e: &dyn std::fmt::Display| {
                ExecError::new(ErrorKind::Unavailable, format!("failed to GET {url}: {e}"))
            };
            let mut response = reqwest::get(&url).await.map_err(|e| unavailable(&e))?;
            if !response.status().is_success() {
                return Err(ExecError::new(
                    ErrorKind::NotFound,
                    format!("failed to GET {url} with status {}", response.status()),
                ));
            }
            let written = |e: std::io::Error| {
                ExecError::new(
                    ErrorKind::Internal,
                    format!("writing {}: {e}", dest.display()),
                )
            };
            let mut file = tokio::fs::File::create(&dest).await.map_err(written)?;
            while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(&e))? {
                file.write_all(&chunk).await.map_err(written)?;
            }
            file.flush().await.map_err(written)
        })?
    }

    fn tag(&self, image: &str, reference: &str) -> Result<(), ExecError> {
        self.engine
            .images
            .tag(image, reference)
            .map_err(from_images)
    }
}

fn base(image: berth_images::ImageRecord) -> BaseImage {
    BaseImage {
        id: image.id.to_string(),
        config: image.config.config().clone().unwrap_or_default(),
        healthcheck: image.healthcheck,
        on_build: image.on_build,
    }
}

fn step(spec: &CommitSpec) -> berth_images::BuildStep {
    berth_images::BuildStep {
        config: spec.config.clone(),
        created_by: spec.created_by.clone(),
        author: spec.author.clone(),
        healthcheck: spec.healthcheck.clone(),
        on_build: spec.on_build.clone(),
    }
}
