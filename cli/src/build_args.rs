//! Arguments of `berth build` (docker's legacy builder flags, plus
//! `--secret` and `--progress` from BuildKit's).

use clap::{Args, Subcommand};

use crate::options::parse_ram;

#[derive(Args, Debug, Default)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    pub file: Option<String>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from here)
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<std::path::PathBuf>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Type of progress output: auto, plain or tty
    #[arg(long, value_name = "TYPE", default_value = "auto", value_parser = ["auto", "plain", "tty"])]
    pub progress: String,
    /// Secret to expose to the build (id=ID,src=PATH or id=ID,env=VAR)
    #[arg(long, value_name = "id=ID,src=PATH")]
    pub secret: Vec<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_name = "IMAGE", value_delimiter = ',')]
    pub cache_from: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "MODE", default_value = "default")]
    pub network: String,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "PLATFORM", env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "BYTES", value_parser = parse_ram)]
    pub memory: Option<i64>,
    /// Size of "/dev/shm"
    #[arg(long = "shm-size", value_name = "BYTES", value_parser = parse_ram)]
    pub shm_size: Option<i64>,
    /// PATH | URL | -
    #[arg(value_name = "PATH | URL | -", allow_hyphen_values = true)]
    pub context: String,
}

#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    #[command(override_usage = "berth builder build [OPTIONS] PATH | URL | -")]
    Build(Box<BuildArgs>),
    /// Remove build cache
    #[command(override_usage = "berth builder prune [OPTIONS]")]
    Prune(BuilderPruneArgs),
    #[command(external_subcommand)]
    External(Vec<String>),
}

#[derive(Args, Debug, Default)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage", value_name = "BYTES", value_parser = parse_ram)]
    pub keep_storage: Option<i64>,
}
