//! berth: a Docker-compatible command line speaking the Docker Engine API to
//! berthd (or any Engine API daemon) over a unix socket.

mod args;
mod build_args;
mod client;
mod commands;
mod container_flags;
mod credentials;
mod docker_config;
mod error;
#[cfg(test)]
mod fake_daemon;
mod format;
mod image_build;
mod network_args;
mod options;
mod progress;
mod registry_args;
mod stream;
mod terminal;
mod timestamps;
mod usage;
mod volume_args;

use std::io::Write;

use clap::{CommandFactory, Parser};

use args::{
    BuilderCommand, Cli, Command, ContainerCommand, ImageCommand, NetworkCommand, SystemCommand,
    VolumeCommand,
};
use client::{Client, Host};
use commands::inspect::Kind;
use commands::{
    archive, attach, build, container, cp, events, exec, image_admin, images, inspect, logs, man,
    network, observe, port, prune, ps, registry, stats, system, unknown, update, volume,
};
use error::CliError;

fn main() {
    // Like any Unix filter, die quietly when the reader of our output goes
    // away (`berth logs x | head`) instead of reporting EPIPE.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread
    // exists has no memory-safety implications.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let argv: Vec<String> = std::env::args().collect();
    let code = match Cli::try_parse_from(&argv) {
        Ok(cli) => execute(cli),
        Err(e) => usage::report_parse_error(&e, &argv),
    };
    std::process::exit(code);
}

fn execute(cli: Cli) -> i32 {
    if cli.version {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    if let Some(flag) = cli.unsupported_global() {
        return report(CliError::Unsupported(format!("the global flag {flag}")));
    }
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return 0;
    };
    if let Command::Man { dir } = &command {
        return match man::write_pages(dir) {
            Ok(_) => 0,
            Err(e) => report(e),
        };
    }
    let host = match Host::resolve(cli.host.as_deref(), |name| std::env::var(name).ok()) {
        Ok(host) => host,
        Err(e) => return report(e.into()),
    };
    let debug = cli.debug || cli.log_level == "debug";
    let mut client = Client::new(host).with_debug(debug);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return report(CliError::io("starting the async runtime", e)),
    };
    match runtime.block_on(dispatch(&mut client, command, debug)) {
        Ok(()) => 0,
        Err(e) => report(e),
    }
}

/// Prints the failure as docker would (nothing for a container's own exit
/// status) and returns the exit status.
fn report(e: CliError) -> i32 {
    let message = match &e {
        CliError::Unsupported(_) => format!("berth: {e}"),
        _ => e.to_string(),
    };
    if !message.is_empty() {
        let _ = writeln!(std::io::stderr(), "{message}");
    }
    e.exit_code()
}

async fn dispatch(client: &mut Client, command: Command, debug: bool) -> Result<(), CliError> {
    match command {
        Command::Run(args) => container::run(client, args).await,
        Command::Create(args) => container::create(client, args).await,
        Command::Start(args) => container::start(client, args).await,
        Command::Stop(args) => container::stop(client, args).await,
        Command::Kill(args) => container::kill(client, args).await,
        Command::Rm(args) => container::rm(client, args).await,
        Command::Wait(args) => container::wait(client, args).await,
        Command::Restart(args) => container::restart(client, args).await,
        Command::Rename(args) => container::rename(client, args).await,
        Command::Inspect(args) => {
            let kind = Kind::from_flag(args.kind.as_deref());
            inspect::inspect(client, kind, &args.names, args.format.as_deref(), args.size).await
        }
        Command::Logs(args) => logs::logs(client, args).await,
        Command::Attach(args) => attach::attach(client, args).await,
        Command::Exec(args) => exec::exec(client, args).await,
        Command::Top(args) => observe::top(client, args).await,
        Command::Stats(args) => stats::stats(client, args).await,
        Command::Pause(args) => observe::pause(client, args).await,
        Command::Update(args) => update::update(client, args).await,
        Command::Unpause(args) => observe::unpause(client, args).await,
        Command::Events(args) => events::events(client, args).await,
        Command::Ps(args) => ps::ps(client, args).await,
        Command::Info(args) => system::info(client, args, debug).await,
        Command::Version(args) => system::version(client, args, debug).await,
        Command::Import(args) => images::import(client, args).await,
        Command::Images(args) => images::images(client, args).await,
        Command::Rmi(args) => images::rmi(client, args).await,
        Command::Tag(args) => images::tag(client, args).await,
        Command::Pull(args) => registry::pull(client, args).await,
        Command::Push(args) => registry::push(client, args).await,
        Command::Login(args) => registry::login(client, args).await,
        Command::Logout(args) => registry::logout(client, args).await,
        Command::Save(args) => archive::save(client, args).await,
        Command::Load(args) => archive::load(client, args).await,
        Command::History(args) => image_admin::history(client, args).await,
        Command::Export(args) => archive::export(client, args).await,
        Command::Commit(args) => image_admin::commit(client, args).await,
        Command::Diff(args) => archive::diff(client, args).await,
        Command::Cp(args) => cp::cp(client, args).await,
        Command::Port(args) => port::port(client, args).await,
        Command::Build(args) => build::build(client, args).await,
        Command::Builder(sub) => match sub {
            BuilderCommand::Build(args) => build::build(client, *args).await,
            BuilderCommand::Prune(args) => build::prune(client, args).await,
            BuilderCommand::External(argv) => Err(unknown::refuse("builder", &argv)),
        },
        Command::Network(sub) => match sub {
            NetworkCommand::Create(args) => network::create(client, args).await,
            NetworkCommand::Ls(args) => network::ls(client, args).await,
            NetworkCommand::Inspect(args) => {
                let kind = Kind::Network {
                    verbose: args.verbose,
                };
                inspect::inspect(client, kind, &args.names, args.format.as_deref(), false).await
            }
            NetworkCommand::Rm(args) => network::rm(client, args).await,
            NetworkCommand::Prune(args) => network::prune(client, args).await,
            NetworkCommand::Connect(args) => network::connect(client, args).await,
            NetworkCommand::Disconnect(args) => network::disconnect(client, args).await,
            NetworkCommand::External(argv) => Err(unknown::refuse("network", &argv)),
        },
        Command::Volume(sub) => match sub {
            VolumeCommand::Create(args) => volume::create(client, args).await,
            VolumeCommand::Ls(args) => volume::ls(client, args).await,
            VolumeCommand::Inspect(args) => {
                inspect::inspect(
                    client,
                    Kind::Volume { as_struct: true },
                    &args.names,
                    args.format.as_deref(),
                    false,
                )
                .await
            }
            VolumeCommand::Rm(args) => volume::rm(client, args).await,
            VolumeCommand::Prune(args) => volume::prune(client, args).await,
            VolumeCommand::External(argv) => Err(unknown::refuse("volume", &argv)),
        },
        Command::Container(sub) => match sub {
            ContainerCommand::Run(args) => container::run(client, args).await,
            ContainerCommand::Create(args) => container::create(client, args).await,
            ContainerCommand::Start(args) => container::start(client, args).await,
            ContainerCommand::Stop(args) => container::stop(client, args).await,
            ContainerCommand::Kill(args) => container::kill(client, args).await,
            ContainerCommand::Rm(args) => container::rm(client, args).await,
            ContainerCommand::Wait(args) => container::wait(client, args).await,
            ContainerCommand::Restart(args) => container::restart(client, args).await,
            ContainerCommand::Rename(args) => container::rename(client, args).await,
            ContainerCommand::Inspect(args) => {
                inspect::inspect(
                    client,
                    Kind::Container,
                    &args.names,
                    args.format.as_deref(),
                    args.size,
                )
                .await
            }
            ContainerCommand::Logs(args) => logs::logs(client, args).await,
            ContainerCommand::Attach(args) => attach::attach(client, args).await,
            ContainerCommand::Exec(args) => exec::exec(client, args).await,
            ContainerCommand::Top(args) => observe::top(client, args).await,
            ContainerCommand::Stats(args) => stats::stats(client, args).await,
            ContainerCommand::Pause(args) => observe::pause(client, args).await,
            ContainerCommand::Update(args) => update::update(client, args).await,
            ContainerCommand::Unpause(args) => observe::unpause(client, args).await,
            ContainerCommand::Ls(args) => ps::ps(client, args).await,
            ContainerCommand::Export(args) => archive::export(client, args).await,
            ContainerCommand::Commit(args) => image_admin::commit(client, args).await,
            ContainerCommand::Diff(args) => archive::diff(client, args).await,
            ContainerCommand::Cp(args) => cp::cp(client, args).await,
            ContainerCommand::Prune(args) => prune::containers(client, args).await,
            ContainerCommand::Port(args) => port::port(client, args).await,
            ContainerCommand::External(argv) => Err(unknown::refuse("container", &argv)),
        },
        Command::Image(sub) => match sub {
            ImageCommand::Ls(args) => images::images(client, args).await,
            ImageCommand::Rm(args) => images::rmi(client, args).await,
            ImageCommand::Tag(args) => images::tag(client, args).await,
            ImageCommand::Import(args) => images::import(client, args).await,
            ImageCommand::Pull(args) => registry::pull(client, args).await,
            ImageCommand::Push(args) => registry::push(client, args).await,
            ImageCommand::Save(args) => archive::save(client, args).await,
            ImageCommand::Load(args) => archive::load(client, args).await,
            ImageCommand::History(args) => image_admin::history(client, args).await,
            ImageCommand::Prune(args) => prune::images(client, args).await,
            ImageCommand::Build(args) => build::build(client, *args).await,
            ImageCommand::Inspect(args) => {
                inspect::inspect(
                    client,
                    Kind::Image,
                    &args.names,
                    args.format.as_deref(),
                    false,
                )
                .await
            }
            ImageCommand::External(argv) => Err(unknown::refuse("image", &argv)),
        },
        Command::System(sub) => match sub {
            SystemCommand::Info(args) => system::info(client, args, debug).await,
            SystemCommand::Events(args) => events::events(client, args).await,
            SystemCommand::Df(args) => image_admin::df(client, args).await,
            SystemCommand::Prune(args) => prune::system(client, args).await,
            SystemCommand::External(argv) => Err(unknown::refuse("system", &argv)),
        },
        Command::External(argv) => Err(unknown::refuse("", &argv)),
        Command::Man { .. } => unreachable!("handled before connecting"),
    }
}
