//! `berth container ...`: the single-container commands a Docker user expects.
//!
//! Why one long file: one clap struct and one short function per `berth container` command.

use super::attach;
use super::GlobalOpts;
use crate::client::{q, Client};
use anyhow::{bail, Context};
use berth_engine::container::{self as model, ContainerConfig, Resources, RestartPolicy};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::io::Write;

#[derive(Args, Debug)]
pub struct ContainerArgs {
    #[command(subcommand)]
    pub cmd: ContainerCmd,
}

// Options shared by `run` and `create`.
// (Not a doc comment: flattened into commands built on demand, it would become their
// help text; see `Command` in cli/mod.rs.)
#[derive(Args, Debug, Default, Clone)]
pub struct CreateOpts {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(long)]
    pub hostname: Option<String>,
    /// Bind mount a host path or mount a named volume ([HOST-PATH|NAME:]CONTAINER-PATH[:ro])
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Attach a filesystem mount (type=volume|bind|tmpfs,source=,target=[,readonly])
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (PATH[:size=N,mode=M])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    #[command(flatten)]
    pub resources: ResourceFlags,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add Linux capabilities
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options (seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false],
    /// systempaths=unconfined; label and apparmor are accepted and ignored)
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    pub stop_timeout: Option<u64>,
    /// Restart policy (no, always, on-failure[:N], unless-stopped)
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Connect to a network (repeatable), or none, host, container:NAME
    #[arg(long = "network", alias = "net")]
    pub network: Vec<String>,
    /// IPv4 address on the first network
    #[arg(long)]
    pub ip: Option<String>,
    /// Network-scoped alias for the container
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// Publish a container's port(s) to the host ([IP:][HOST[-HOST]:]CTR[-CTR][/udp])
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to free host ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port without publishing it
    #[arg(long)]
    pub expose: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// Command to run to check health (shell form)
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between running the check (e.g. 30s)
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long)]
    pub health_retries: Option<u32>,
    /// Start period during which failures don't count
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK (the image's)
    #[arg(long, conflicts_with = "health_cmd")]
    pub no_healthcheck: bool,
    /// Add a link to another container (NAME[:ALIAS])
    #[arg(long)]
    pub link: Vec<String>,
    /// Add a custom host-to-IP mapping (NAME:IP)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Size of /dev/shm
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Container domain name
    #[arg(long)]
    pub domainname: Option<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub opts: CreateOpts,
    /// IMAGE [COMMAND] [ARG...]: everything after the image belongs to the command
    #[arg(
        trailing_var_arg = true,
        required = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub image_and_command: Vec<String>,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ContainerCmd {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create {
        #[command(flatten)]
        opts: CreateOpts,
        #[arg(
            trailing_var_arg = true,
            required = true,
            value_name = "IMAGE [COMMAND] [ARG...]"
        )]
        image_and_command: Vec<String>,
    },
    /// Start one or more stopped containers
    Start {
        /// Attach STDOUT/STDERR and forward signals
        #[arg(short, long)]
        attach: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop one or more running containers
    Stop {
        #[arg(short = 't', long = "time")]
        time: Option<u64>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Restart one or more containers
    Restart {
        #[arg(short = 't', long = "time")]
        time: Option<u64>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Kill one or more running containers
    Kill {
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm {
        #[arg(short, long)]
        force: bool,
        /// Remove anonymous volumes associated with the container
        #[arg(short = 'v', long = "volumes")]
        volumes: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List containers
    #[command(alias = "ps", alias = "list")]
    Ls {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        quiet: bool,
        /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go
        /// template
        #[arg(long)]
        format: Option<String>,
        /// Don't truncate output
        #[arg(long)]
        no_trunc: bool,
    },
    /// Fetch the logs of a container
    Logs {
        /// Follow log output
        #[arg(short, long)]
        follow: bool,
        /// Number of lines to show from the end of the logs
        #[arg(short = 'n', long, default_value = "all")]
        tail: String,
        /// Show timestamps
        #[arg(short, long)]
        timestamps: bool,
        /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m"
        /// for 42 minutes)
        #[arg(long, allow_hyphen_values = true)]
        since: Option<String>,
        /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g.
        /// "42m" for 42 minutes)
        #[arg(long, allow_hyphen_values = true)]
        until: Option<String>,
        container: String,
    },
    /// Display detailed information on containers
    Inspect {
        /// Format output using a custom template: 'json' or a Go template
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Display the running processes of a container
    Top {
        container: String,
        /// ps options (default -ef)
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ps OPTIONS"
        )]
        ps_args: Vec<String>,
    },
    /// Attach local standard input, output, and error streams to a running container
    Attach(super::container_ops::AttachArgs),
    /// Rename a container
    Rename { container: String, new_name: String },
    /// Update configuration of one or more containers
    Update(super::container_ops::UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(super::stats::StatsArgs),
    /// Pause all processes within containers
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Unpause all processes within containers
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Block until containers stop, then print their exit codes
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Execute a command in a running container
    Exec(super::exec::ExecArgs),
    /// List port mappings of a container
    Port { container: String },
    /// Copy files between a container and the host (CONTAINER:SRC DEST, SRC CONTAINER:DEST)
    Cp { source: String, destination: String },
    /// Export a container's filesystem as a tar archive
    Export {
        #[arg(short, long)]
        output: Option<String>,
        container: String,
    },
    /// Create a new image from a container's changes
    Commit(super::commit::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff { container: String },
}

/// Builds the create request from flags (shared with compose's `run` later).
pub fn build_config(
    opts: &CreateOpts,
    image: &str,
    command: &[String],
) -> anyhow::Result<ContainerConfig> {
    let mut env = Vec::new();
    for f in &opts.env_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("open {f}"))?;
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            env.push(expand_env(l));
        }
    }
    env.extend(opts.env.iter().map(|e| expand_env(e)));
    let mut mounts = Vec::new();
    for v in &opts.volumes {
        mounts.push(super::mounts::volume_flag(v)?);
    }
    for m in &opts.mount {
        mounts.push(super::mounts::mount_flag(m)?);
    }
    for t in &opts.tmpfs {
        let mut ignored = Vec::new();
        mounts.push(
            berth_engine::container::MountConfig::parse_tmpfs(t, &mut ignored)
                .map_err(anyhow::Error::msg)?,
        );
        for opt in ignored {
            eprintln!("WARNING: tmpfs option {opt} of {t} is not supported yet and is ignored");
        }
    }
    let mut labels = std::collections::BTreeMap::new();
    for l in &opts.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut sysctls = std::collections::BTreeMap::new();
    for s in &opts.sysctl {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("invalid sysctl {s}: expected KEY=VALUE"))?;
        sysctls.insert(k.to_string(), v.to_string());
    }
    let ulimits = opts
        .ulimit
        .iter()
        .map(|u| model::parse_ulimit(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    if let Some(s) = &opts.stop_signal {
        model::parse_signal(s).map_err(anyhow::Error::msg)?;
    }
    let (network_mode, networks) = network_choice(opts)?;
    for p in &opts.publish {
        berth_netd::PortSpec::parse(p)
            .map_err(|e| anyhow::anyhow!("invalid publish spec {p}: {e}"))?;
    }
    for h in &opts.add_host {
        let ok = h
            .split_once(':')
            .is_some_and(|(n, ip)| !n.is_empty() && ip.parse::<std::net::IpAddr>().is_ok());
        anyhow::ensure!(
            ok,
            "invalid argument \"{h}\" for \"--add-host\" flag: expected NAME:IP"
        );
    }
    Ok(ContainerConfig {
        name: opts.name.clone().unwrap_or_default(),
        image: image.to_string(),
        cmd: if command.is_empty() {
            None
        } else {
            Some(command.to_vec())
        },
        entrypoint: opts.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                Vec::new()
            } else {
                vec![e.clone()]
            }
        }),
        env,
        working_dir: opts.workdir.clone(),
        user: opts.user.clone(),
        hostname: opts.hostname.clone(),
        domainname: opts.domainname.clone(),
        labels,
        tty: opts.tty,
        open_stdin: opts.interactive,
        mounts,
        read_only: opts.read_only,
        privileged: opts.privileged,
        init: opts.init,
        cap_add: opts.cap_add.clone(),
        cap_drop: opts.cap_drop.clone(),
        security_opt: security_opts(&opts.security_opt)?,
        resources: opts.resources.to_resources()?,
        ulimits,
        stop_signal: opts.stop_signal.clone(),
        stop_timeout: opts.stop_timeout,
        restart: RestartPolicy::parse(&opts.restart).map_err(anyhow::Error::msg)?,
        network_mode,
        networks,
        ports: opts.publish.clone(),
        publish_all: opts.publish_all,
        exposed_ports: opts.expose.clone(),
        dns: opts.dns.clone(),
        dns_search: opts.dns_search.clone(),
        extra_hosts: opts.add_host.clone(),
        healthcheck: health_flags(opts)?,
        no_healthcheck: opts.no_healthcheck,
        links: opts.link.clone(),
        sysctls,
        shm_size: opts
            .shm_size
            .as_deref()
            .map(model::parse_bytes)
            .transpose()
            .map_err(anyhow::Error::msg)?
            .map(|v| v as u64),
        auto_remove: opts.rm,
        ..Default::default()
    })
}

/// `--network` values: one mode (none, host, container:X) or any number of networks; `--ip`
/// and `--network-alias` apply to the first network, as Docker's.
fn network_choice(
    opts: &CreateOpts,
) -> anyhow::Result<(String, Vec<berth_engine::container::NetworkEndpoint>)> {
    let modes: Vec<&String> = opts
        .network
        .iter()
        .filter(|n| *n == "none" || *n == "host" || n.starts_with("container:"))
        .collect();
    if let Some(mode) = modes.first() {
        anyhow::ensure!(
            opts.network.len() == 1,
            "conflicting options: {mode} cannot be combined with other networks"
        );
        anyhow::ensure!(
            opts.publish.is_empty() || *mode != "none",
            "conflicting options: port publishing and the container type network mode"
        );
        return Ok((mode.to_string(), Vec::new()));
    }
    let mut eps: Vec<berth_engine::container::NetworkEndpoint> = opts
        .network
        .iter()
        .map(|n| berth_engine::container::NetworkEndpoint {
            name: if n == "default" {
                "bridge".into()
            } else {
                n.clone()
            },
            ..Default::default()
        })
        .collect();
    if eps.is_empty() && (opts.ip.is_some() || !opts.network_alias.is_empty()) {
        anyhow::bail!("--ip and --network-alias need a user-defined network (--network NAME)");
    }
    if let Some(first) = eps.first_mut() {
        first.ipv4_address = opts.ip.clone();
        first.aliases = opts.network_alias.clone();
    }
    Ok((String::new(), eps))
}

/// `--health-*` flags, with Docker's defaults for those not given.
fn health_flags(
    opts: &CreateOpts,
) -> anyhow::Result<Option<berth_engine::container::HealthConfig>> {
    let Some(cmd) = &opts.health_cmd else {
        return Ok(None);
    };
    let ms = |v: &Option<String>, default: u64| -> anyhow::Result<u64> {
        match v {
            None => Ok(default),
            Some(s) => berth_compose::parse_duration_secs(s)
                .map(|x| (x * 1000.0) as u64)
                .ok_or_else(|| anyhow::anyhow!("invalid duration {s}")),
        }
    };
    let d = berth_engine::container::HealthConfig::default();
    Ok(Some(berth_engine::container::HealthConfig {
        test: vec!["/bin/sh".into(), "-c".into(), cmd.clone()],
        interval_ms: ms(&opts.health_interval, d.interval_ms)?,
        timeout_ms: ms(&opts.health_timeout, d.timeout_ms)?,
        retries: opts.health_retries.unwrap_or(d.retries),
        start_period_ms: ms(&opts.health_start_period, d.start_period_ms)?,
        start_interval_ms: d.start_interval_ms,
    }))
}

/// `-e NAME` without a value takes it from the caller's environment, as Docker does.
fn expand_env(e: &str) -> String {
    if e.contains('=') {
        e.to_string()
    } else {
        std::env::var(e)
            .map(|v| format!("{e}={v}"))
            .unwrap_or_else(|_| e.to_string())
    }
}

/// How the start of a created-and-started container went, from the create's answer: `None`
/// when the daemon did not start it (one that does not know `start=1`).
fn started_with(created: &Value) -> Option<anyhow::Result<()>> {
    if created["Started"].as_bool() == Some(true) {
        return Some(Ok(()));
    }
    let e = created.get("StartError")?;
    Some(Err(anyhow::anyhow!(crate::client::ApiFailure {
        status: e["status"].as_u64().unwrap_or(500) as u16,
        message: e["message"].as_str().unwrap_or("").to_string(),
    })))
}

/// Exit code for a failed `run`, as Docker: 125 for the daemon's refusals.
fn run_failure(e: anyhow::Error) -> anyhow::Result<i32> {
    eprintln!("berth: {e:#}");
    Ok(125)
}

/// A container that could not start exits as Docker's do: 127 when the command is missing,
/// 126 when it cannot run, 125 otherwise; with --rm it is removed.
pub(super) fn start_failure(
    c: &Client,
    id: &str,
    e: anyhow::Error,
    auto_remove: bool,
) -> anyhow::Result<i32> {
    eprintln!("berth: {e:#}");
    let code = c
        .get::<Value>(&format!("/containers/{id}/json"))
        .ok()
        .and_then(|v| v["State"]["ExitCode"].as_i64())
        .unwrap_or(125) as i32;
    if auto_remove {
        let _ = c.delete(&format!("/containers/{id}?force=1&v=1"));
    }
    Ok(if code == 126 || code == 127 {
        code
    } else {
        125
    })
}

pub fn run(g: &GlobalOpts, args: &ContainerArgs) -> anyhow::Result<i32> {
    let c = Client::connect(g)?;
    match &args.cmd {
        ContainerCmd::Run(r) => {
            let cfg =
                match build_config(&r.opts, &r.image_and_command[0], &r.image_and_command[1..]) {
                    Ok(cfg) => cfg,
                    Err(e) => return run_failure(e),
                };
            let auto_remove = cfg.auto_remove;
            // Created and started in one request (see the daemon's create_and_start).
            let attach_flag = if r.detach { "0" } else { "1" };
            let created = match c.post(
                &format!("/containers?start=1&attach={attach_flag}"),
                Some(&serde_json::to_value(&cfg)?),
            ) {
                Ok(v) => v,
                Err(e) => return run_failure(e),
            };
            let id = created["Id"].as_str().unwrap_or("").to_string();
            let started = match started_with(&created) {
                Some(Ok(())) => created,
                Some(Err(e)) => return start_failure(&c, &id, e, auto_remove),
                // A daemon from before the one-request run: start on its own.
                None => match c.post(
                    &format!("/containers/{id}/start?attach={attach_flag}"),
                    None,
                ) {
                    Ok(v) => v,
                    Err(e) => return start_failure(&c, &id, e, auto_remove),
                },
            };
            if r.detach {
                println!("{id}");
                return Ok(0);
            }
            let sock = started["attach_socket"].as_str().unwrap_or("").to_string();
            let code = attach::attach(&c, &id, &sock, r.opts.interactive, r.opts.tty)?;
            if auto_remove {
                let _ = c.post(&format!("/containers/{id}/wait?condition=removed"), None);
            }
            Ok(code)
        }
        ContainerCmd::Create {
            opts,
            image_and_command,
        } => {
            let cfg = match build_config(opts, &image_and_command[0], &image_and_command[1..]) {
                Ok(cfg) => cfg,
                Err(e) => return run_failure(e),
            };
            match c.post("/containers", Some(&serde_json::to_value(&cfg)?)) {
                Ok(v) => println!("{}", v["Id"].as_str().unwrap_or("")),
                Err(e) => return run_failure(e),
            }
            Ok(0)
        }
        ContainerCmd::Start {
            attach: att,
            containers,
        } => {
            if *att {
                let [one] = containers.as_slice() else {
                    bail!("you cannot start and attach multiple containers at once")
                };
                let v: Value = c.get(&format!("/containers/{}/json", q(one)))?;
                let id = v["Id"].as_str().unwrap_or("").to_string();
                let started = c.post(&format!("/containers/{id}/start?attach=1"), None)?;
                let (tty, stdin) = (
                    v["Config"]["Tty"].as_bool().unwrap_or(false),
                    v["Config"]["OpenStdin"].as_bool().unwrap_or(false),
                );
                return attach::attach(
                    &c,
                    &id,
                    started["attach_socket"].as_str().unwrap_or(""),
                    stdin,
                    tty,
                );
            }
            each(containers, |x| {
                c.post(&format!("/containers/{}/start", q(x)), None)
                    .map(drop)
            })
        }
        ContainerCmd::Stop { time, containers } => {
            let t = time.map(|t| format!("?t={t}")).unwrap_or_default();
            each(containers, |x| {
                c.post(&format!("/containers/{}/stop{t}", q(x)), None)
                    .map(drop)
            })
        }
        ContainerCmd::Restart { time, containers } => {
            let t = time.map(|t| format!("?t={t}")).unwrap_or_default();
            each(containers, |x| {
                c.post(&format!("/containers/{}/restart{t}", q(x)), None)
                    .map(drop)
            })
        }
        ContainerCmd::Kill { signal, containers } => each(containers, |x| {
            c.post(
                &format!("/containers/{}/kill?signal={}", q(x), q(signal)),
                None,
            )
            .map(drop)
        }),
        ContainerCmd::Rm {
            force,
            volumes,
            containers,
        } => each(containers, |x| {
            let answer = c.delete(&format!(
                "/containers/{}?force={}&v={}",
                q(x),
                *force as u8,
                *volumes as u8
            ))?;
            // A stack's replica comes back (the daemon says so, and how to keep it down).
            if let Some(notice) = answer["notice"].as_str() {
                eprintln!("WARN[0000] {notice}");
            }
            Ok(())
        }),
        ContainerCmd::Pause { containers } => each(containers, |x| {
            c.post(&format!("/containers/{}/pause", q(x)), None)
                .map(drop)
        }),
        ContainerCmd::Unpause { containers } => each(containers, |x| {
            c.post(&format!("/containers/{}/unpause", q(x)), None)
                .map(drop)
        }),
        ContainerCmd::Wait { containers } => {
            let mut code = 0;
            for x in containers {
                match c.post(&format!("/containers/{}/wait", q(x)), None) {
                    Ok(v) => println!("{}", v["StatusCode"]),
                    Err(e) => {
                        eprintln!("berth: {e}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        ContainerCmd::Ls {
            all,
            quiet,
            format,
            no_trunc,
        } => {
            let list: Vec<Value> = c.get(&format!("/containers?all={}", *all as u8))?;
            // As docker ps: -q prints IDs (a --format wins over it, as Docker's does).
            let format = match (quiet, format.as_deref()) {
                (true, None) => Some("{{.ID}}"),
                (_, f) => f,
            };
            let f = crate::format::Formatter::new(format, super::listing::CONTAINER_TABLE)?;
            let rows: Vec<_> = list
                .iter()
                .map(|x| super::listing::container(x, !no_trunc))
                .collect();
            f.print(&rows, &super::listing::container_header())?;
            Ok(0)
        }
        ContainerCmd::Logs {
            follow,
            tail,
            timestamps,
            since,
            until,
            container,
        } => {
            let window =
                super::log_window::LogWindow::new(tail, since.as_deref(), until.as_deref())?;
            let path = format!(
                "/containers/{}/logs?{}",
                q(container),
                window.query(*follow)
            );
            let mut printer = LogPrinter {
                timestamps: *timestamps,
                pending: Vec::new(),
            };
            c.download(&path, &mut printer)?;
            Ok(0)
        }
        ContainerCmd::Inspect { format, containers } => {
            let mut out = Vec::new();
            let mut code = 0;
            for x in containers {
                match c.get::<Value>(&format!("/containers/{}/json", q(x))) {
                    Ok(v) => out.push(v),
                    Err(e) => {
                        eprintln!("berth: {e}");
                        code = 1;
                    }
                }
            }
            if let Some(f) = format.as_deref().filter(|f| *f != "json") {
                return super::listing::print_inspect(f, &out, code != 0);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(code)
        }
        ContainerCmd::Top { container, ps_args } => {
            super::container_ops::top(&c, container, ps_args)
        }
        ContainerCmd::Attach(a) => super::container_ops::attach(&c, a),
        ContainerCmd::Rename {
            container,
            new_name,
        } => super::container_ops::rename(&c, container, new_name),
        ContainerCmd::Update(a) => super::container_ops::update(&c, a),
        ContainerCmd::Stats(a) => super::stats::show(&c, a),
        ContainerCmd::Exec(e) => super::exec::run(&c, e),
        ContainerCmd::Cp {
            source,
            destination,
        } => super::copy::cp(&c, source, destination),
        ContainerCmd::Export { output, container } => {
            super::copy::export(&c, container, output.as_deref())
        }
        ContainerCmd::Commit(a) => super::commit::commit(&c, a),
        ContainerCmd::Diff { container } => super::commit::diff(&c, container),
        ContainerCmd::Port { container } => {
            let ports: Vec<Value> = c.get(&format!("/containers/{}/port", q(container)))?;
            for p in ports {
                let proto = p["protocol"].as_str().unwrap_or("tcp").to_lowercase();
                println!(
                    "{}/{} -> {}:{}",
                    p["container_port"],
                    proto,
                    p["host_ip"].as_str().unwrap_or(""),
                    p["host_port"]
                );
            }
            Ok(0)
        }
    }
}

/// Runs `f` for each container, printing each name as Docker does and the errors after.
fn each(
    containers: &[String],
    mut f: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<i32> {
    let mut code = 0;
    for x in containers {
        match f(x) {
            Ok(()) => println!("{x}"),
            Err(e) => {
                eprintln!("berth: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// Turns the daemon's JSON log lines back into the container's output streams.
struct LogPrinter {
    timestamps: bool,
    pending: Vec<u8>,
}

impl Write for LogPrinter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let Ok(e) = serde_json::from_slice::<berth_engine::runtime::logs::LogEntry>(&line)
            else {
                continue;
            };
            let text = if self.timestamps {
                format!("{} {}", e.time, e.log)
            } else {
                e.log
            };
            if e.stream == "stderr" {
                std::io::stderr().write_all(text.as_bytes())?;
            } else {
                std::io::stdout().write_all(text.as_bytes())?;
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

/// `--security-opt` as Docker's CLI sends it: a profile file's content inline; the options
/// berth accepts without acting on them are warned about here.
fn security_opts(opts: &[String]) -> anyhow::Result<Vec<String>> {
    let inlined = berth_engine::security_opt::inline_profiles(opts, &std::env::current_dir()?)
        .map_err(anyhow::Error::msg)?;
    let parsed =
        berth_engine::security_opt::SecurityOptions::parse(&inlined).map_err(anyhow::Error::msg)?;
    for w in parsed.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(inlined)
}

// The resource flags `container run` and `container update` share, as Docker's.
// (Not a doc comment: flattened into commands built on demand, it would become their
// help text; see `Command` in cli/mod.rs.)
#[derive(Args, Debug, Clone, Default)]
pub struct ResourceFlags {
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long)]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
}

impl ResourceFlags {
    /// The limits as the engine takes them (a memory size parsed as Docker parses it).
    pub fn to_resources(&self) -> anyhow::Result<Resources> {
        let bytes = |v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    if s == "-1" {
                        Ok(-1)
                    } else {
                        model::parse_bytes(s)
                    }
                })
                .transpose()
                .map_err(anyhow::Error::msg)
        };
        if self.cpu_period.is_some_and(|p| p < 0) {
            anyhow::bail!("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
        }
        Ok(Resources {
            memory: bytes(&self.memory)?,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            cpuset_cpus: self.cpuset_cpus.clone(),
            memory_swap: bytes(&self.memory_swap)?,
            memory_reservation: bytes(&self.memory_reservation)?,
            cpu_period: self.cpu_period.map(|p| p as u64),
            cpu_quota: self.cpu_quota,
            cpuset_mems: self.cpuset_mems.clone(),
            blkio_weight: self.blkio_weight,
        })
    }
}
