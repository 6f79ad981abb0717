//! `berth daemon`, `berth daemon stop`, `berth info`.

use super::GlobalOpts;
use crate::client::Client;
use berth_daemon::{self as daemon, DaemonOptions};
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Args, Debug)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub action: Option<DaemonAction>,
    /// cgroup parent for containers
    #[arg(long, env = "BERTH_CGROUP_PARENT", default_value = "berth")]
    pub cgroup_parent: String,
    /// Address (IP:PORT) to serve Prometheus metrics on at /metrics, or `none`
    /// [default: 127.0.0.1:9323, skipped with a warning when busy]
    #[arg(long, env = "BERTH_METRICS_ADDR")]
    pub metrics_addr: Option<daemon::MetricsAddr>,
    /// Registry (host or host:port) to reach over plain HTTP (repeatable; loopback always is)
    #[arg(
        long = "insecure-registry",
        env = "BERTH_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
    /// Where to serve the Docker Engine API (for the docker CLI, Compose, SDKs), or `none`
    /// [default: RUN_DIR/docker.sock]
    #[arg(long, env = "BERTH_DOCKER_SOCKET")]
    pub docker_socket: Option<daemon::DockerSocket>,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum DaemonAction {
    /// Stop the daemon; containers keep running
    Stop,
}

pub fn daemon(g: &GlobalOpts, args: &DaemonArgs) -> anyhow::Result<i32> {
    match args.action {
        Some(DaemonAction::Stop) => {
            let sock = DaemonOptions::socket_path(&g.run_dir);
            if !sock.exists() {
                eprintln!("berth: no daemon is running on {}", sock.display());
                return Ok(0);
            }
            let pid = std::fs::read_to_string(g.run_dir.join("berth.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            Client::connect(g)?.post("/shutdown", None)?;
            // Return once it is really gone, so a following command starts a fresh one.
            if let Some(pid) = pid {
                for _ in 0..500 {
                    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
            Ok(0)
        }
        None => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                        .unwrap_or_else(|_| "info,netlink_packet_route=error".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            daemon::run(DaemonOptions {
                root: g.root.clone(),
                run_dir: g.run_dir.clone(),
                cgroup_parent: args.cgroup_parent.clone(),
                metrics_addr: args
                    .metrics_addr
                    .map_or(Some(DaemonOptions::DEFAULT_METRICS_ADDR), |a| a.0),
                metrics_addr_required: args.metrics_addr.is_some(),
                insecure_registries: args.insecure_registries.clone(),
                docker_socket: match &args.docker_socket {
                    Some(s) => s.0.clone(),
                    None => Some(DaemonOptions::docker_socket_path(&g.run_dir)),
                },
            })?;
            Ok(0)
        }
    }
}

pub fn info(g: &GlobalOpts, format: Option<&str>) -> anyhow::Result<i32> {
    let v: Value = Client::connect(g)?.get("/info")?;
    if format == Some("json") {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("Server Version: {}", v["Version"].as_str().unwrap_or(""));
    println!(
        "Cgroup Layout: {}",
        v["CgroupLayout"].as_str().unwrap_or("")
    );
    println!("Storage Root: {}", v["StorageRoot"].as_str().unwrap_or(""));
    println!("Run Dir: {}", v["RunDir"].as_str().unwrap_or(""));
    println!("Containers: {}", v["Containers"]);
    println!(" Running: {}", v["ContainersRunning"]);
    println!(" Paused: {}", v["ContainersPaused"]);
    println!(" Stopped: {}", v["ContainersStopped"]);
    println!("Images: {}", v["Images"]);
    Ok(0)
}
