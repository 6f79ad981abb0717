//! The `berth` command line. Each command group lives in its own module.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod attach;
mod build;
mod commit;
mod config;
pub mod container;
mod container_ops;
mod copy;
mod exec;
mod image;
mod kube;
mod listing;
mod log_follow;
mod log_window;
mod mounts;
mod network;
mod progress;
mod registry;
mod stack;
mod stack_attach;
mod stack_exec;
mod stack_info;
mod stack_lifecycle;
mod stack_logs;
mod stack_replica;
mod stack_select;
mod stats;
mod system;
mod system_df;
mod volume;
mod watch;

/// Options every command shares: where state lives, and which stack files make the project.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalOpts {
    /// Storage root for images, containers and volumes
    #[arg(
        long,
        env = "BERTH_ROOT",
        default_value = berth_daemon::DaemonOptions::DEFAULT_ROOT,
        global = true
    )]
    pub root: PathBuf,
    /// Runtime directory: API socket, pid file, pinned namespaces
    #[arg(
        long,
        env = "BERTH_RUN_DIR",
        default_value = "/run/berth",
        global = true
    )]
    pub run_dir: PathBuf,
    /// Compose configuration files (repeatable; `-` reads standard input)
    #[arg(short = 'f', long = "file")]
    pub files: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first file)
    #[arg(long)]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files
    #[arg(long = "env-file")]
    pub env_files: Vec<PathBuf>,
    /// Profiles to enable (repeatable)
    #[arg(long = "profile")]
    pub profiles: Vec<String>,
}

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "Compose stacks over a built-in container engine"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

// One value per process, parsed once: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
// Each subcommand's arguments are built only when that subcommand runs (`defer`, as in
// every subcommand enum): building all of them took a third of the CLI's start (~140 page
// faults and 0.4 ms of CPU of `berth --version`). A flattened struct's doc comment would
// then override the about text of the command it is flattened into: such structs carry
// plain comments.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Parse, resolve and render the Compose file in canonical format
    Config(config::ConfigArgs),
    /// Run the berth daemon in the foreground (or `daemon stop`)
    Daemon(system::DaemonArgs),
    /// Show system-wide information
    Info {
        #[arg(long)]
        format: Option<String>,
    },
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage the build cache
    Builder(build::BuilderArgs),
    /// Manage images
    Image(image::ImageArgs),
    /// Pull images from a registry, or the stack's images
    Pull(registry::PullArgs),
    /// Push an image to its registry
    Push(registry::PushArgs),
    /// Log in to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Manage single containers
    Container(container::ContainerArgs),
    /// Manage networks
    Network(network::NetworkArgs),
    /// Manage volumes
    Volume(volume::VolumeArgs),
    /// Create and start the stack's containers (with networks and volumes)
    Up(stack::UpArgs),
    /// Stop and remove the stack's containers and networks
    Down(stack::DownArgs),
    /// List the stack's containers
    Ps(stack::PsArgs),
    /// List running stacks
    Ls {
        #[arg(long)]
        format: Option<String>,
    },
    /// View output from the stack's containers
    Logs(stack_logs::LogsArgs),
    /// Execute a command in a running service container
    Exec(stack_exec::StackExecArgs),
    /// Run a one-off command on a service
    Run(stack_exec::StackRunArgs),
    #[command(flatten)]
    Lifecycle(stack_lifecycle::Lifecycle),
    /// Display the running processes of the stack's containers
    Top { services: Vec<String> },
    /// Copy files/folders between a service container and the local filesystem
    Cp(stack_replica::CpArgs),
    /// Export a service container's filesystem as a tar archive
    Export(stack_replica::ExportArgs),
    /// Display a live stream of the stack's container resource usage statistics
    Stats(stack_replica::StatsArgs),
    /// Block until containers of all (or specified) services stop
    Wait(stack_replica::WaitArgs),
    /// Attach local standard input, output, and error streams to a service's running
    /// container
    Attach(stack_replica::AttachArgs),
    /// Scale services
    Scale(stack::ScaleArgs),
    /// Print the public port for a port binding
    Port(stack_info::PortArgs),
    /// List images used by the created containers
    Images(stack_info::ImagesArgs),
    /// Receive real time events from the stack's containers
    Events(stack_info::EventsArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(watch::WatchArgs),
    /// Run the stack on Kubernetes: generate manifests, apply them, take them down
    Kube(kube::KubeArgs),
    /// Manage berth: disk usage, prune, info
    System(system_df::SystemArgs),
    /// Show the berth version information
    Version(VersionArgs),
    /// Internal: the per-container shim the daemon starts
    #[command(hide = true)]
    Shim { bundle: PathBuf },
    /// Internal: enters a container for `exec`
    #[command(hide = true)]
    ExecHelper { request: String },
}

static GLOBAL: std::sync::OnceLock<GlobalOpts> = std::sync::OnceLock::new();

/// The global options this process was started with.
pub fn current_global() -> GlobalOpts {
    GLOBAL.get().cloned().unwrap_or_default()
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    // The shim and the exec helper must stay single-threaded and lean: dispatch them before
    // anything else runs.
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("shim") if args.len() == 3 => {
            return berth_engine::runtime::shim::main(std::path::Path::new(&args[2]))
        }
        // The daemon's fork server for shims; its last argument is only padding.
        Some("shim-server") if args.len() == 3 => {
            return berth_engine::runtime::shim_server::serve()
        }
        Some("exec-helper") if args.len() == 3 => {
            return match serde_json::from_str(&args[2]) {
                Ok(req) => berth_engine::runtime::exec::run(&req),
                Err(e) => {
                    eprintln!("berth: invalid exec request: {e}");
                    126
                }
            };
        }
        // A network's DNS server, started by the daemon and outliving it.
        Some("dns-server") if args.len() == 3 => return berth_netd::dns_server_main(&args[2]),
        Some("fs-helper") if args.len() == 3 => {
            return match serde_json::from_str(&args[2]) {
                Ok(req) => berth_engine::runtime::fscopy::run(&req),
                Err(e) => {
                    eprintln!("berth: invalid copy request: {e}");
                    1
                }
            };
        }
        _ => {}
    }
    let cli = Cli::parse();
    let _ = GLOBAL.set(cli.global.clone());
    let result = match cli.command {
        Command::Config(args) => config::run(&cli.global, &args),
        Command::Daemon(args) => system::daemon(&cli.global, &args),
        Command::Info { format } => system::info(&cli.global, format.as_deref()),
        Command::Build(args) => build::run(&cli.global, &args),
        Command::Builder(args) => build::builder(&cli.global, &args),
        Command::Image(args) => image::run(&cli.global, &args),
        Command::Pull(args) => registry::pull(&cli.global, &args),
        Command::Push(args) => registry::push(&cli.global, &args),
        Command::Login(args) => registry::login(&cli.global, &args),
        Command::Logout(args) => registry::logout(&cli.global, &args),
        Command::Container(args) => container::run(&cli.global, &args),
        Command::Network(args) => network::run(&cli.global, &args),
        Command::Volume(args) => volume::run(&cli.global, &args),
        Command::Up(args) => stack::up(&cli.global, &args),
        Command::Down(args) => stack::down(&cli.global, &args),
        Command::Ps(args) => stack::ps(&cli.global, &args),
        Command::Ls { format } => stack::ls(&cli.global, format.as_deref()),
        Command::Logs(args) => stack_logs::logs(&cli.global, &args),
        Command::Exec(args) => stack_exec::exec(&cli.global, &args),
        Command::Run(args) => stack_exec::run(&cli.global, &args),
        Command::Lifecycle(cmd) => stack_lifecycle::run(&cli.global, &cmd),
        Command::Top { services } => stack_info::top(&cli.global, &services),
        Command::Cp(args) => stack_replica::cp(&cli.global, &args),
        Command::Export(args) => stack_replica::export(&cli.global, &args),
        Command::Stats(args) => stack_replica::stats(&cli.global, &args),
        Command::Wait(args) => stack_replica::wait(&cli.global, &args),
        Command::Attach(args) => stack_replica::attach(&cli.global, &args),
        Command::Scale(args) => stack::scale(&cli.global, &args),
        Command::Port(args) => stack_info::port(&cli.global, &args),
        Command::Images(args) => stack_info::images(&cli.global, &args),
        Command::Events(args) => stack_info::events(&cli.global, &args),
        Command::Kube(args) => kube::run(&cli.global, &args),
        Command::Watch(args) => watch::watch(&cli.global, &args),
        Command::System(args) => system_df::run(&cli.global, &args),
        Command::Version(args) => version(&args),
        Command::Shim { bundle } => return berth_engine::runtime::shim::main(&bundle),
        Command::ExecHelper { .. } => unreachable!("dispatched above"),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e:#}");
            1
        }
    }
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Format the output. Values: [pretty | json]
    #[arg(short, long, default_value = "pretty")]
    format: String,
    /// Shows only berth's version number
    #[arg(long)]
    short: bool,
}

/// As `docker compose version`: `berth version v0.1.0`, `--short`, `--format json`.
fn version(a: &VersionArgs) -> anyhow::Result<i32> {
    let v = env!("CARGO_PKG_VERSION");
    match (a.short, a.format.as_str()) {
        (true, _) => println!("{v}"),
        (false, "json") => println!("{}", serde_json::json!({ "version": format!("v{v}") })),
        (false, "pretty") => println!("berth version v{v}"),
        (false, other) => anyhow::bail!("unsupported format type: {other:?}"),
    }
    Ok(0)
}

/// Asks on stderr and reads one line of stdin, without its line end.
pub(crate) fn prompt(label: &str) -> anyhow::Result<String> {
    use std::io::Write;
    eprint!("{label}");
    std::io::stderr().flush()?;
    let mut s = String::new();
    std::io::stdin().read_line(&mut s)?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// A yes/no question; only y, Y or yes is a yes.
pub(crate) fn confirm(question: &str) -> anyhow::Result<bool> {
    Ok(matches!(prompt(question)?.trim(), "y" | "Y" | "yes"))
}
