//! The `berth` command line. Each command group lives in its own module.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod config;

/// Options every command shares: where state lives, and which stack files make the project.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalOpts {
    /// Storage root for images, containers and volumes
    #[arg(
        long,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth",
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
    #[arg(short = 'f', long = "file", global = true)]
    pub files: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name", global = true)]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first file)
    #[arg(long, global = true)]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files
    #[arg(long = "env-file", global = true)]
    pub env_files: Vec<PathBuf>,
    /// Profiles to enable (repeatable)
    #[arg(long = "profile", global = true)]
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

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse, resolve and render the Compose file in canonical format
    Config(config::ConfigArgs),
    /// Internal: the per-container shim the daemon starts
    #[command(hide = true)]
    Shim { bundle: PathBuf },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Config(args) => config::run(&cli.global, &args),
        Command::Shim { bundle } => return berth_engine::runtime::shim::main(&bundle),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e:#}");
            1
        }
    }
}
