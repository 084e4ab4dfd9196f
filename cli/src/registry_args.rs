//! Arguments of the registry and image-archive commands (pull, push, login, logout, save,
//! load, export, commit, history, image prune, system df).

use clap::Args;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Skip image verification (berth verifies digests only; accepted for docker's sake)
    #[arg(long = "disable-content-trust", default_value_t = true, hide = true)]
    pub disable_content_trust: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub image: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Push only this platform of a multi-platform image (not supported by berth yet)
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(long = "disable-content-trust", default_value_t = true, hide = true)]
    pub disable_content_trust: bool,
    #[arg(value_name = "NAME[:TAG]")]
    pub image: String,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long, value_name = "USERNAME")]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Save only this platform (not supported by berth yet)
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long, value_name = "FILE")]
    pub input: Option<std::path::PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Load only this platform (not supported by berth yet)
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long, value_name = "STRING")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "LIST")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long, value_name = "STRING")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true")]
    pub pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Format output using a custom template
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (berth supports none besides dangling)
    #[arg(long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>=<value>")
    #[arg(long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (not supported by berth yet)
    #[arg(long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Prune volumes (berth has no volumes yet)
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage (not supported by berth yet)
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, or a local SRC_PATH (`-` reads a tar from stdin)
    #[arg(value_name = "SRC")]
    pub source: String,
    /// A local DEST_PATH (`-` writes a tar to stdout), or CONTAINER:DEST_PATH
    #[arg(value_name = "DEST")]
    pub destination: String,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}
