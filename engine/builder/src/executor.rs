//! The seam between the build logic and what touches containers and the image store.
//!
//! The daemon implements [`Executor`] with its own container path (create, start, wait,
//! commit); tests implement it with a fake that records what it was asked.

use std::path::Path;

use oci_spec::image::Config;

use crate::ErrorKind;

/// What writes a layer tar for [`Executor::commit_tar`].
pub type LayerWriter<'a> = dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()> + Send + 'a;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{message}")]
pub struct ExecError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ExecError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ExecError {
            kind,
            message: message.into(),
        }
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// An image a stage starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseImage {
    /// `sha256:…`
    pub id: String,
    pub config: Config,
    /// Docker's `config.Healthcheck`, which `Config` has no field for.
    pub healthcheck: Option<serde_json::Value>,
    /// Docker's `config.OnBuild`: triggers a stage built on it runs first.
    pub on_build: Vec<String>,
}

/// What a new image records besides its layer.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitSpec {
    pub config: Config,
    /// The history entry's `created_by`.
    pub created_by: String,
    /// The image's author (`MAINTAINER`), if any.
    pub author: Option<String>,
    /// Docker's `config.Healthcheck` and `config.OnBuild`, beside `config`.
    pub healthcheck: Option<serde_json::Value>,
    pub on_build: Vec<String>,
}

/// Where a RUN step's network comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// What a container gets by default (or `networkmode` of the request).
    Default,
    None,
    Host,
}

/// One RUN: a container of the parent image running `argv`, whose changes become a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub argv: Vec<String>,
    /// The whole environment: the image's, then the build arguments in scope.
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub network: Network,
    /// `--mount`s, sources resolved.
    pub mounts: Vec<crate::mounts::RunMount>,
    /// What the committed image records.
    pub commit: CommitSpec,
}

/// How a RUN ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// It exited 0; its changes are the image `id`.
    Committed { id: String },
    /// It exited non-zero; nothing was committed.
    Failed { code: i64 },
}

/// Where a build's messages go: Docker's `{"stream": …}` lines, in order.
pub trait Progress: Sync {
    fn stream(&self, text: &str);
    /// Output of a RUN's process, as it comes.
    fn output(&self, bytes: &[u8]) {
        self.stream(&String::from_utf8_lossy(bytes));
    }
    /// The build's image exists (before `Successfully built`): the API sends its `aux` ID.
    fn built(&self, _image: &str) {}
    /// Whether the client is gone: the build stops at the next step.
    fn cancelled(&self) -> bool {
        false
    }
}

pub trait Executor: Sync {
    /// The image a `FROM` names, pulled first if `pull` or if it is not stored.
    fn base_image(
        &self,
        name: &str,
        pull: bool,
        progress: &dyn Progress,
    ) -> Result<BaseImage, ExecError>;

    /// Whether the image `id` is still stored (a cache record may outlive it).
    fn image_exists(&self, id: &str) -> bool;

    /// Calls `work` with a read-only view of the image's files (its layers merged).
    fn with_rootfs(
        &self,
        image: &str,
        work: &mut (dyn FnMut(&Path) + Send),
    ) -> Result<(), ExecError>;

    /// Runs `spec` in a new container of `parent` (`None`: an empty root). `started` is told
    /// the container's ID once it exists; the process's output goes to `progress`.
    fn run(
        &self,
        parent: Option<&str>,
        spec: &RunSpec,
        started: &mut dyn FnMut(&str),
        progress: &dyn Progress,
    ) -> Result<RunOutcome, ExecError>;

    /// A new image: `parent` (or nothing) plus the directory `layer` as a layer laid out
    /// like an overlay upper directory (`None`: a configuration change, no layer).
    fn commit(
        &self,
        parent: Option<&str>,
        layer: Option<&Path>,
        spec: &CommitSpec,
    ) -> Result<String, ExecError>;

    /// A new image: `parent` (or nothing) plus the plain layer tar that `write` writes
    /// (a COPY's, straight from the context). It may be called on another thread, and its
    /// tar read as it is written; nothing is stored if it fails.
    fn commit_tar(
        &self,
        parent: Option<&str>,
        write: &mut LayerWriter<'_>,
        spec: &CommitSpec,
    ) -> Result<String, ExecError>;

    /// Downloads `url` (ADD) into the new file `dest`.
    fn fetch(&self, url: &str, dest: &Path) -> Result<(), ExecError>;

    /// Points `reference` at `image`.
    fn tag(&self, image: &str, reference: &str) -> Result<(), ExecError>;
}
