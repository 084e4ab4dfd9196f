//! The command line: docker's command names, flags and short options.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

pub use crate::build_args::{BuildArgs, BuilderCommand};
pub use crate::container_flags::{HealthFlags, IsolationFlags, ResourceFlags};
pub use crate::network_args::*;
use crate::options::{parse_cpus, parse_ram};
pub use crate::registry_args::*;
pub use crate::volume_args::*;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "berth: run containers through the Docker Engine API",
    override_usage = "berth [OPTIONS] COMMAND",
    disable_version_flag = true,
    allow_external_subcommands = true,
    after_help = "Run 'berth COMMAND --help' for more information on a command."
)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path)
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal")
    #[arg(short = 'l', long = "log-level", value_name = "LEVEL", default_value = "info",
          value_parser = ["debug", "info", "warn", "error", "fatal"])]
    pub log_level: String,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// docker's --config; berth has no client config directory
    #[arg(long, hide = true, value_name = "DIR")]
    pub config: Option<String>,
    /// docker's -c/--context; berth has no contexts
    #[arg(short = 'c', long, hide = true, value_name = "CONTEXT")]
    pub context: Option<String>,
    #[arg(long, hide = true)]
    pub tls: bool,
    #[arg(long, hide = true)]
    pub tlsverify: bool,
    #[arg(long, hide = true, value_name = "FILE")]
    pub tlscacert: Option<String>,
    #[arg(long, hide = true, value_name = "FILE")]
    pub tlscert: Option<String>,
    #[arg(long, hide = true, value_name = "FILE")]
    pub tlskey: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The docker global flags berth accepts on the command line only to
    /// refuse them by name.
    pub fn unsupported_global(&self) -> Option<&'static str> {
        if self.config.is_some() {
            Some("--config")
        } else if self.context.is_some() {
            Some("--context")
        } else if self.tls
            || self.tlsverify
            || self.tlscacert.is_some()
            || self.tlscert.is_some()
            || self.tlskey.is_some()
        {
            Some("--tls")
        } else {
            None
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container from an image and run it
    #[command(
        override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
        disable_help_flag = true
    )]
    Run(RunArgs),
    /// Create a container without starting it
    #[command(
        override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]",
        disable_help_flag = true
    )]
    Create(CreateArgs),
    /// Start one or more stopped containers
    #[command(override_usage = "berth start [OPTIONS] CONTAINER [CONTAINER...]")]
    Start(StartArgs),
    /// Stop one or more running containers
    #[command(override_usage = "berth stop [OPTIONS] CONTAINER [CONTAINER...]")]
    Stop(StopArgs),
    /// Send a signal to one or more running containers
    #[command(override_usage = "berth kill [OPTIONS] CONTAINER [CONTAINER...]")]
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(override_usage = "berth rm [OPTIONS] CONTAINER [CONTAINER...]")]
    Rm(RmArgs),
    /// Block until containers stop, then print their exit codes
    #[command(override_usage = "berth wait CONTAINER [CONTAINER...]")]
    Wait(WaitArgs),
    /// Restart one or more containers
    #[command(override_usage = "berth restart [OPTIONS] CONTAINER [CONTAINER...]")]
    Restart(StopArgs),
    /// Give a container a new name
    #[command(override_usage = "berth rename CONTAINER NEW_NAME")]
    Rename(RenameArgs),
    /// Show low-level information on containers or images
    #[command(override_usage = "berth inspect [OPTIONS] NAME|ID [NAME|ID...]")]
    Inspect(InspectArgs),
    /// Show a container's logs
    #[command(override_usage = "berth logs [OPTIONS] CONTAINER")]
    Logs(LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    #[command(override_usage = "berth attach [OPTIONS] CONTAINER")]
    Attach(AttachArgs),
    /// Execute a command in a running container
    #[command(override_usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(ExecArgs),
    /// Display the running processes of a container
    #[command(override_usage = "berth top CONTAINER [ps OPTIONS]")]
    Top(TopArgs),
    /// Display a live stream of container resource usage statistics
    #[command(override_usage = "berth stats [OPTIONS] [CONTAINER...]")]
    Stats(StatsArgs),
    /// Pause all processes within one or more containers
    #[command(override_usage = "berth pause CONTAINER [CONTAINER...]")]
    Pause(ContainersArgs),
    /// Update configuration of one or more containers
    #[command(override_usage = "berth update [OPTIONS] CONTAINER [CONTAINER...]")]
    Update(UpdateArgs),
    /// Unpause all processes within one or more containers
    #[command(override_usage = "berth unpause CONTAINER [CONTAINER...]")]
    Unpause(ContainersArgs),
    /// Get real time events from the server
    #[command(override_usage = "berth events [OPTIONS]")]
    Events(EventsArgs),
    /// List containers
    #[command(override_usage = "berth ps [OPTIONS]")]
    Ps(PsArgs),
    /// Show system-wide information
    #[command(override_usage = "berth info [OPTIONS]")]
    Info(FormatOnly),
    /// Show the berth client and daemon versions
    #[command(override_usage = "berth version [OPTIONS]")]
    Version(FormatOnly),
    /// Create an image from a filesystem tarball
    #[command(override_usage = "berth import [OPTIONS] file|- [REPOSITORY[:TAG]]")]
    Import(ImportArgs),
    /// List images
    #[command(override_usage = "berth images [OPTIONS] [REPOSITORY[:TAG]]")]
    Images(ImagesArgs),
    /// Remove one or more images
    #[command(override_usage = "berth rmi [OPTIONS] IMAGE [IMAGE...]")]
    Rmi(RmiArgs),
    /// Give an image another name (a tag)
    #[command(override_usage = "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")]
    Tag(TagArgs),
    /// Download an image from a registry
    #[command(override_usage = "berth pull [OPTIONS] NAME[:TAG|@DIGEST]")]
    Pull(PullArgs),
    /// Upload an image to a registry
    #[command(override_usage = "berth push [OPTIONS] NAME[:TAG]")]
    Push(PushArgs),
    /// Authenticate to a registry
    #[command(override_usage = "berth login [OPTIONS] [SERVER]")]
    Login(LoginArgs),
    /// Log out from a registry
    #[command(override_usage = "berth logout [SERVER]")]
    Logout(LogoutArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    #[command(override_usage = "berth save [OPTIONS] IMAGE [IMAGE...]")]
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    #[command(override_usage = "berth load [OPTIONS]")]
    Load(LoadArgs),
    /// Show the history of an image
    #[command(override_usage = "berth history [OPTIONS] IMAGE")]
    History(HistoryArgs),
    /// Export a container's filesystem as a tar archive
    #[command(override_usage = "berth export [OPTIONS] CONTAINER")]
    Export(ExportArgs),
    /// Create a new image from a container's changes
    #[command(override_usage = "berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")]
    Commit(CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    #[command(override_usage = "berth diff CONTAINER")]
    Diff(DiffArgs),
    /// Copy files/folders between a container and the local filesystem
    #[command(
        override_usage = "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
    )]
    Cp(CpArgs),
    /// Manage containers
    #[command(
        subcommand,
        override_usage = "berth container COMMAND",
        arg_required_else_help = true
    )]
    Container(ContainerCommand),
    /// Manage images
    #[command(
        subcommand,
        override_usage = "berth image COMMAND",
        arg_required_else_help = true
    )]
    Image(ImageCommand),
    /// Build an image from a Dockerfile
    #[command(override_usage = "berth build [OPTIONS] PATH | URL | -")]
    Build(BuildArgs),
    /// List port mappings or a specific mapping for the container
    #[command(override_usage = "berth port CONTAINER [PRIVATE_PORT[/PROTO]]")]
    Port(PortArgs),
    /// Manage builds
    #[command(
        subcommand,
        override_usage = "berth builder COMMAND",
        arg_required_else_help = true
    )]
    Builder(BuilderCommand),
    /// Manage networks
    #[command(
        subcommand,
        override_usage = "berth network COMMAND",
        arg_required_else_help = true
    )]
    Network(NetworkCommand),
    /// Manage volumes
    #[command(
        subcommand,
        override_usage = "berth volume COMMAND",
        arg_required_else_help = true
    )]
    Volume(VolumeCommand),
    /// Manage berth
    #[command(
        subcommand,
        override_usage = "berth system COMMAND",
        arg_required_else_help = true
    )]
    System(SystemCommand),
    /// Write the man pages (berth.1, berth-<command>.1) into DIR
    #[command(name = "__man", hide = true)]
    Man { dir: PathBuf },
    #[command(external_subcommand)]
    External(Vec<String>),
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create a container from an image and run it
    #[command(
        override_usage = "berth container run [OPTIONS] IMAGE [COMMAND] [ARG...]",
        disable_help_flag = true
    )]
    Run(RunArgs),
    /// Create a container without starting it
    #[command(
        override_usage = "berth container create [OPTIONS] IMAGE [COMMAND] [ARG...]",
        disable_help_flag = true
    )]
    Create(CreateArgs),
    /// Start one or more stopped containers
    #[command(override_usage = "berth container start [OPTIONS] CONTAINER [CONTAINER...]")]
    Start(StartArgs),
    /// Stop one or more running containers
    #[command(override_usage = "berth container stop [OPTIONS] CONTAINER [CONTAINER...]")]
    Stop(StopArgs),
    /// Send a signal to one or more running containers
    #[command(override_usage = "berth container kill [OPTIONS] CONTAINER [CONTAINER...]")]
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(
        visible_alias = "remove",
        override_usage = "berth container rm [OPTIONS] CONTAINER [CONTAINER...]"
    )]
    Rm(RmArgs),
    /// Block until containers stop, then print their exit codes
    #[command(override_usage = "berth container wait CONTAINER [CONTAINER...]")]
    Wait(WaitArgs),
    /// Restart one or more containers
    #[command(override_usage = "berth container restart [OPTIONS] CONTAINER [CONTAINER...]")]
    Restart(StopArgs),
    /// Give a container a new name
    #[command(override_usage = "berth container rename CONTAINER NEW_NAME")]
    Rename(RenameArgs),
    /// Show low-level information on containers
    #[command(override_usage = "berth container inspect [OPTIONS] CONTAINER [CONTAINER...]")]
    Inspect(ObjectInspectArgs),
    /// Show a container's logs
    #[command(override_usage = "berth container logs [OPTIONS] CONTAINER")]
    Logs(LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    #[command(override_usage = "berth container attach [OPTIONS] CONTAINER")]
    Attach(AttachArgs),
    /// Execute a command in a running container
    #[command(override_usage = "berth container exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(ExecArgs),
    /// Display the running processes of a container
    #[command(override_usage = "berth container top CONTAINER [ps OPTIONS]")]
    Top(TopArgs),
    /// Display a live stream of container resource usage statistics
    #[command(override_usage = "berth container stats [OPTIONS] [CONTAINER...]")]
    Stats(StatsArgs),
    /// Pause all processes within one or more containers
    #[command(override_usage = "berth container pause CONTAINER [CONTAINER...]")]
    Pause(ContainersArgs),
    /// Update configuration of one or more containers
    #[command(override_usage = "berth container update [OPTIONS] CONTAINER [CONTAINER...]")]
    Update(UpdateArgs),
    /// Unpause all processes within one or more containers
    #[command(override_usage = "berth container unpause CONTAINER [CONTAINER...]")]
    Unpause(ContainersArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"], override_usage = "berth container ls [OPTIONS]")]
    Ls(PsArgs),
    /// Export a container's filesystem as a tar archive
    #[command(override_usage = "berth container export [OPTIONS] CONTAINER")]
    Export(ExportArgs),
    /// Create a new image from a container's changes
    #[command(override_usage = "berth container commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")]
    Commit(CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    #[command(override_usage = "berth container diff CONTAINER")]
    Diff(DiffArgs),
    /// Copy files/folders between a container and the local filesystem
    #[command(
        override_usage = "berth container cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth container cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
    )]
    Cp(CpArgs),
    /// Remove all stopped containers
    #[command(override_usage = "berth container prune [OPTIONS]")]
    Prune(ContainerPruneArgs),
    /// List port mappings or a specific mapping for the container
    #[command(override_usage = "berth container port CONTAINER [PRIVATE_PORT[/PROTO]]")]
    Port(PortArgs),
    #[command(external_subcommand)]
    External(Vec<String>),
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images
    #[command(
        visible_alias = "list",
        override_usage = "berth image ls [OPTIONS] [REPOSITORY[:TAG]]"
    )]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(
        visible_alias = "remove",
        override_usage = "berth image rm [OPTIONS] IMAGE [IMAGE...]"
    )]
    Rm(RmiArgs),
    /// Give an image another name (a tag)
    #[command(override_usage = "berth image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")]
    Tag(TagArgs),
    /// Create an image from a filesystem tarball
    #[command(override_usage = "berth image import [OPTIONS] file|- [REPOSITORY[:TAG]]")]
    Import(ImportArgs),
    /// Download an image from a registry
    #[command(override_usage = "berth image pull [OPTIONS] NAME[:TAG|@DIGEST]")]
    Pull(PullArgs),
    /// Upload an image to a registry
    #[command(override_usage = "berth image push [OPTIONS] NAME[:TAG]")]
    Push(PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    #[command(override_usage = "berth image save [OPTIONS] IMAGE [IMAGE...]")]
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    #[command(override_usage = "berth image load [OPTIONS]")]
    Load(LoadArgs),
    /// Show the history of an image
    #[command(override_usage = "berth image history [OPTIONS] IMAGE")]
    History(HistoryArgs),
    /// Build an image from a Dockerfile
    #[command(override_usage = "berth image build [OPTIONS] PATH | URL | -")]
    Build(Box<BuildArgs>),
    /// Remove unused images
    #[command(override_usage = "berth image prune [OPTIONS]")]
    Prune(ImagePruneArgs),
    /// Show low-level information on images
    #[command(override_usage = "berth image inspect [OPTIONS] IMAGE [IMAGE...]")]
    Inspect(ObjectInspectArgs),
    #[command(external_subcommand)]
    External(Vec<String>),
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show system-wide information
    #[command(override_usage = "berth system info [OPTIONS]")]
    Info(FormatOnly),
    /// Get real time events from the server
    #[command(override_usage = "berth system events [OPTIONS]")]
    Events(EventsArgs),
    /// Show docker disk usage
    #[command(override_usage = "berth system df [OPTIONS]")]
    Df(DfArgs),
    /// Remove unused data
    #[command(override_usage = "berth system prune [OPTIONS]")]
    Prune(SystemPruneArgs),
    #[command(external_subcommand)]
    External(Vec<String>),
}

/// The options `run` and `create` share; they become the create request's
/// Config and HostConfig.
#[derive(Args, Debug, Default, Clone)]
pub struct ContainerOptions {
    /// Assign a name to the container
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Remove the container (and its anonymous volumes) when it exits
    #[arg(long)]
    pub rm: bool,
    /// Attach to STDIN, STDOUT or STDERR (instead of the default STDOUT and STDERR)
    #[arg(short = 'a', long, value_name = "STREAM", value_parser = crate::options::parse_stream)]
    pub attach: Vec<String>,
    /// Skip image verification (default true; berth has no content trust to turn on)
    #[arg(long = "disable-content-trust", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_content_trust: Option<bool>,
    /// Write the container ID to the file
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User to run as (name|uid[:group|gid])
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Host name of the container
    #[arg(short = 'h', long = "hostname", value_name = "NAME")]
    pub hostname: Option<String>,
    /// Replace the image's ENTRYPOINT
    #[arg(long, value_name = "COMMAND", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Set a label on the container (KEY=VALUE)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Read labels from a line-delimited file
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<PathBuf>,
    /// Bind mount a host path (HOST:CONTAINER[:ro])
    #[arg(short = 'v', long = "volume", value_name = "HOST:CONTAINER[:OPTIONS]")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount (type=bind|tmpfs,source=…,target=…)
    #[arg(long, value_name = "SPEC")]
    pub mount: Vec<String>,
    /// Mount a tmpfs (PATH[:OPTIONS])
    #[arg(long, value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// Mount the root filesystem read-only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Memory limit (bytes, or with a b/k/m/g unit)
    #[arg(short = 'm', long, value_name = "BYTES", value_parser = parse_ram)]
    pub memory: Option<i64>,
    /// Number of CPUs (may be fractional)
    #[arg(long, value_name = "DECIMAL", value_parser = parse_cpus)]
    pub cpus: Option<i64>,
    /// Limit the number of processes (-1 for unlimited)
    #[arg(long = "pids-limit", value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(
        long = "oom-score-adj",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub oom_score_adj: Option<i64>,
    #[command(flatten)]
    pub resources: ResourceFlags,
    #[command(flatten)]
    pub health: HealthFlags,
    #[command(flatten)]
    pub isolation: IsolationFlags,
    #[command(flatten)]
    pub net: NetworkFlags,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give the container all capabilities and devices
    #[arg(long)]
    pub privileged: bool,
    /// Security options (no-new-privileges, seccomp=unconfined|FILE, …)
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Restart policy: no, on-failure[:N], always, unless-stopped
    #[arg(long, value_name = "POLICY", default_value = "no")]
    pub restart: String,
    /// Run an init as PID 1 that forwards signals and reaps zombies
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub init: Option<bool>,
    /// Signal that stops the container
    #[arg(long = "stop-signal", value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Seconds to wait after the stop signal before killing
    #[arg(
        long = "stop-timeout",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub stop_timeout: Option<i64>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// When to pull the image: missing or never (berth cannot pull yet)
    #[arg(long, value_name = "POLICY", default_value = "missing", value_parser = ["always", "missing", "never"])]
    pub pull: String,
    /// Suppress pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(value_name = "IMAGE", required = true, num_args = 1.., trailing_var_arg = true)]
    pub image_and_command: Vec<String>,
}

impl ContainerOptions {
    pub fn image(&self) -> &str {
        &self.image_and_command[0]
    }

    pub fn command(&self) -> &[String] {
        &self.image_and_command[1..]
    }
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Run in the background and print the container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Forward signals berth receives to the container
    #[arg(long = "sig-proxy", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub container: ContainerOptions,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    #[command(flatten)]
    pub container: ContainerOptions,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach to the container's output and wait for it to exit
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true")]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(value_name = "CONTAINER", required = true, num_args = 2.., trailing_var_arg = true)]
    pub container_and_command: Vec<String>,
}

/// The arguments of `stop` and of `restart`, which docker gives the same flags.
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send (default: the container's stop signal)
    #[arg(short = 's', long, value_name = "SIGNAL")]
    pub signal: Option<String>,
    /// Seconds to wait before killing
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send
    #[arg(short = 's', long, value_name = "SIGNAL")]
    pub signal: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Kill and remove a running container
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Also remove the container's anonymous volumes
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// docker's `update` flags; each one left out leaves that setting as it is.
#[derive(Args, Debug, Default)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub resources: ResourceFlags,
    /// Number of CPUs
    #[arg(long, value_name = "DECIMAL", value_parser = parse_cpus)]
    pub cpus: Option<i64>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "BYTES", value_parser = parse_ram)]
    pub memory: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output with a Go template (or "json")
    #[arg(short = 'f', long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Only look for objects of this type
    #[arg(long = "type", value_name = "TYPE", value_parser = ["container", "image", "network", "volume"])]
    pub kind: Option<String>,
    /// Include container sizes
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ObjectInspectArgs {
    /// Format the output with a Go template (or "json")
    #[arg(short = 'f', long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Include container sizes
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Keep streaming new output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only logs since a timestamp or a relative time (e.g. 42m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only logs before a timestamp or a relative time (e.g. 42m)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Number of lines from the end ("all" for everything)
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    pub tail: String,
    /// Prefix each line with its timestamp
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show extra details (not supported by berth yet)
    #[arg(long)]
    pub details: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug, Default)]
pub struct PsArgs {
    /// Show all containers, not only running ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter (name=, status=, label=, id=, …)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Format the output with a Go template, "table …" or "json"
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Show the N most recently created containers (all states)
    #[arg(short = 'n', long = "last", value_name = "N", default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Show the most recently created container (all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only print container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

#[derive(Args, Debug)]
pub struct FormatOnly {
    /// Format the output with a Go template (or "json")
    #[arg(short = 'f', long, value_name = "TEMPLATE")]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction to the image (CMD, ENV, …)
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub change: Vec<String>,
    /// Commit message for the imported image
    #[arg(short = 'm', long, value_name = "MESSAGE")]
    pub message: Option<String>,
    /// Platform of the image (not supported by berth yet)
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// A tar file, or - for standard input
    #[arg(value_name = "file|-", allow_hyphen_values = true)]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Args, Debug, Default)]
pub struct ImagesArgs {
    /// Show all images (intermediate ones too)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter (reference=, dangling=, label=, …)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Format the output with a Go template, "table …" or "json"
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only print image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show images as a tree (not supported by berth yet)
    #[arg(long)]
    pub tree: bool,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Remove the image even if it is tagged more than once
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Keep untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options for ps (default: -ef)
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format the output with a Go template, "table …" or "json"
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ContainersArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct EventsArgs {
    /// Filter output based on conditions provided (container=, event=, type=, …)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Format the output with a Go template (or "json")
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Show all events created since a timestamp or a relative time (e.g. 42m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Stream events until a timestamp or a relative time (e.g. 42m)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}
