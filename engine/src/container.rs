//! The container model the daemon keeps: what the user asked for ([`ContainerConfig`]), what
//! is true now ([`ContainerState`]), the restart policy's rules, and the translation of config
//! plus image defaults into the shim's runtime [`Spec`].
//!
//! Why one long file: the model and its translation into a runtime spec change together (a new
//! config field is read where the spec is built). Tests at the end.

use crate::runtime::spec::{CgroupRef, LogSpec, Mount, MountKind, Process, Rlimit, Rootfs, Spec};
use crate::runtime::{caps, DEFAULT_PATH};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct ContainerConfig {
    pub name: String,
    pub image: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    /// The client's terminal (rows, columns) at create, for `tty` (Docker's
    /// `HostConfig.ConsoleSize`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u16; 2]>,
    pub open_stdin: bool,
    pub mounts: Vec<MountConfig>,
    pub read_only: bool,
    pub privileged: bool,
    pub init: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub resources: Resources,
    pub ulimits: Vec<Rlimit>,
    pub stop_signal: Option<String>,
    /// Seconds between the stop signal and SIGKILL (default 10).
    pub stop_timeout: Option<u64>,
    pub restart: RestartPolicy,
    /// `none`, `host`, `container:NAME`; empty means the networks below (or the default one).
    pub network_mode: String,
    /// Networks to join, in order of preference for the default route.
    pub networks: Vec<NetworkEndpoint>,
    /// Published ports in Docker's `-p` syntax.
    pub ports: Vec<String>,
    /// Publish every exposed port to a free host port (`-P`).
    pub publish_all: bool,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    /// `NAME:IP` entries for /etc/hosts.
    pub extra_hosts: Vec<String>,
    /// Legacy links `NAME[:ALIAS]`: names only this container resolves.
    pub links: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub shm_size: Option<u64>,
    pub log_max_size: Option<u64>,
    pub log_max_files: Option<u32>,
    pub auto_remove: bool,
    pub exposed_ports: Vec<String>,
    pub healthcheck: Option<HealthConfig>,
    /// `--no-healthcheck` / `healthcheck: disable`: not even the image's HEALTHCHECK runs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_healthcheck: bool,
    /// `--security-opt` / `security_opt` as given (a seccomp profile inline, as Docker's CLI
    /// sends it); see [`crate::security_opt`].
    pub security_opt: Vec<String>,
    /// The writable layer is read once and the container removed (a build's RUN step): as
    /// with `auto_remove`, nothing of it is synced to disk (see `Spec::ephemeral`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ephemeral: bool,
}

/// A health check, as Docker's HEALTHCHECK / Compose's `healthcheck`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HealthConfig {
    /// The probe's argv (CMD form; CMD-SHELL becomes `/bin/sh -c`).
    pub test: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
    pub start_interval_ms: u64,
}

impl Default for HealthConfig {
    /// Docker's defaults: every 30 s, 30 s timeout, 3 retries, no start period, 5 s start interval.
    fn default() -> Self {
        HealthConfig {
            test: Vec::new(),
            interval_ms: 30_000,
            timeout_ms: 30_000,
            retries: 3,
            start_period_ms: 0,
            start_interval_ms: 5_000,
        }
    }
}

impl HealthConfig {
    /// An image config's Healthcheck (Docker's JSON: Test, durations in nanoseconds, zero
    /// for the default); None when it has none or it is `["NONE"]`.
    pub fn from_image(v: &serde_json::Value) -> Option<HealthConfig> {
        let test: Vec<String> = v["Test"]
            .as_array()?
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        let test = Self::test_argv(&test)?;
        let d = HealthConfig::default();
        let ms = |key: &str, default: u64| match v[key].as_u64() {
            Some(ns) if ns > 0 => ns / 1_000_000,
            _ => default,
        };
        Some(HealthConfig {
            test,
            interval_ms: ms("Interval", d.interval_ms),
            timeout_ms: ms("Timeout", d.timeout_ms),
            retries: v["Retries"]
                .as_u64()
                .filter(|r| *r > 0)
                .map_or(d.retries, |r| r as u32),
            start_period_ms: ms("StartPeriod", d.start_period_ms),
            start_interval_ms: ms("StartInterval", d.start_interval_ms),
        })
    }

    /// From a Compose/Docker test: `["CMD", ...]`, `["CMD-SHELL", "cmd"]`, a plain string
    /// (shell form), or `["NONE"]` (disabled: `None`).
    pub fn test_argv(test: &[String]) -> Option<Vec<String>> {
        match test.first().map(String::as_str) {
            None | Some("NONE") => None,
            Some("CMD") => Some(test[1..].to_vec()).filter(|v| !v.is_empty()),
            Some("CMD-SHELL") => Some(vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")]),
            Some(_) => Some(vec!["/bin/sh".into(), "-c".into(), test.join(" ")]),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result, as `docker inspect` shows under State.Health.Log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct HealthProbe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    /// The last five probes.
    pub log: Vec<HealthProbe>,
}

/// One network a container joins.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct NetworkEndpoint {
    pub name: String,
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub priority: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Resources {
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
    pub cpuset_cpus: Option<String>,
    /// Memory plus swap in bytes (-1: unlimited swap); without it, swap is limited to zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset_mems: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_weight: Option<u16>,
}

impl Resources {
    /// The cgroup limits these resources set.
    pub fn limits(&self) -> crate::cgroups::Limits {
        crate::cgroups::Limits {
            memory: self.memory,
            memory_swap: self.memory_swap,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            pids: self.pids_limit,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            memory_reservation: self.memory_reservation,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            blkio_weight: self.blkio_weight,
        }
    }

    /// `self` with every setting `update` has replaced (an update names only what changes).
    pub fn merged(&self, update: &Resources) -> Resources {
        let r = self.clone();
        Resources {
            memory: update.memory.or(r.memory),
            cpus: update.cpus.or(r.cpus),
            cpu_shares: update.cpu_shares.or(r.cpu_shares),
            pids_limit: update.pids_limit.or(r.pids_limit),
            cpuset_cpus: update.cpuset_cpus.clone().or(r.cpuset_cpus),
            memory_swap: update.memory_swap.or(r.memory_swap),
            memory_reservation: update.memory_reservation.or(r.memory_reservation),
            cpu_period: update.cpu_period.or(r.cpu_period),
            cpu_quota: update.cpu_quota.or(r.cpu_quota),
            cpuset_mems: update.cpuset_mems.clone().or(r.cpuset_mems),
            blkio_weight: update.blkio_weight.or(r.blkio_weight),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MountConfig {
    /// bind, volume or tmpfs
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub mode: Option<u32>,
}

impl MountConfig {
    /// A tmpfs as `--tmpfs` and Compose's `tmpfs:` write it: `PATH[:OPTIONS]` with Docker's
    /// `size=` and `mode=` options and `ro`; options the engine does not act on land in
    /// `ignored` for the caller to warn about.
    pub fn parse_tmpfs(entry: &str, ignored: &mut Vec<String>) -> Result<MountConfig, String> {
        let (path, opts) = entry.split_once(':').unwrap_or((entry, ""));
        let mut m = MountConfig {
            kind: "tmpfs".into(),
            source: String::new(),
            target: path.into(),
            read_only: false,
            size: None,
            mode: None,
        };
        for opt in opts.split(',').filter(|o| !o.is_empty()) {
            let bad = || format!("invalid tmpfs option {opt:?} in {entry:?}");
            match opt.split_once('=') {
                Some(("size", v)) => m.size = Some(parse_bytes(v).map_err(|_| bad())? as u64),
                Some(("mode", v)) => m.mode = Some(u32::from_str_radix(v, 8).map_err(|_| bad())?),
                Some(_) => return Err(bad()),
                None if opt == "ro" => m.read_only = true,
                // What the engine does on every tmpfs anyway: read-write, nosuid, nodev.
                None if ["rw", "nosuid", "nodev", "exec"].contains(&opt) => {}
                None => ignored.push(opt.to_string()),
            }
        }
        Ok(m)
    }
}

/// Docker's restart policies.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    OnFailure {
        #[serde(default)]
        max_retries: u32,
    },
    UnlessStopped,
}

impl RestartPolicy {
    /// Parses `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "no" || s.is_empty() => Ok(Self::No),
            None if s == "always" => Ok(Self::Always),
            None if s == "unless-stopped" => Ok(Self::UnlessStopped),
            None if s == "on-failure" => Ok(Self::OnFailure { max_retries: 0 }),
            Some(("on-failure", n)) => {
                n.parse().map(|max_retries| Self::OnFailure { max_retries }).map_err(|_| format!("invalid restart policy: maximum retry count must be a number: {s}"))
            }
            Some((p, _)) if ["always", "unless-stopped", "no"].contains(&p) => Err(format!("invalid restart policy: maximum retry count can only be used with 'on-failure': {s}")),
            _ => Err(format!("invalid restart policy '{s}'")),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Self::No => "no".into(),
            Self::Always => "always".into(),
            Self::UnlessStopped => "unless-stopped".into(),
            Self::OnFailure { .. } => "on-failure".into(),
        }
    }

    /// Whether a container that just exited with `exit_code` is started again.
    /// `manually_stopped`: the user stopped it (stop, kill), which no policy overrides.
    pub fn should_restart(
        &self,
        exit_code: i32,
        restart_count: u32,
        manually_stopped: bool,
    ) -> bool {
        if manually_stopped {
            return false;
        }
        match self {
            Self::No => false,
            Self::Always | Self::UnlessStopped => true,
            Self::OnFailure { max_retries } => {
                exit_code != 0 && (*max_retries == 0 || restart_count < *max_retries)
            }
        }
    }

    /// Whether the daemon starts the container again when it itself starts.
    pub fn start_on_daemon_start(&self, manually_stopped: bool) -> bool {
        match self {
            Self::Always => true,
            Self::UnlessStopped => !manually_stopped,
            _ => false,
        }
    }
}

/// Docker's restart backoff: 100 ms doubling up to a minute, reset once a run lasted 10 s.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct Backoff {
    pub delay_ms: u64,
}

impl Backoff {
    pub const MIN: Duration = Duration::from_millis(100);
    pub const MAX: Duration = Duration::from_secs(60);
    pub const RESET_AFTER: Duration = Duration::from_secs(10);

    /// The delay before the next start, given how long the last run lasted.
    pub fn next(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= Self::RESET_AFTER || self.delay_ms == 0 {
            self.delay_ms = Self::MIN.as_millis() as u64;
        } else {
            self.delay_ms = (self.delay_ms * 2).min(Self::MAX.as_millis() as u64);
        }
        Duration::from_millis(self.delay_ms)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct ContainerState {
    pub status: Status,
    pub pid: i32,
    pub pid_start_time: u64,
    pub shim_pid: i32,
    pub shim_start_time: u64,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub restart_count: u32,
    /// Set by stop/kill, cleared by start: restart policies never override a manual stop, and
    /// unless-stopped remembers it across daemon restarts.
    pub manually_stopped: bool,
    pub backoff: Backoff,
    /// Present while a container with a health check runs.
    pub health: Option<Health>,
}

/// Everything the daemon persists about a container, in ROOT/containers/ID/container.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerRecord {
    pub id: String,
    pub created: String,
    pub config: ContainerConfig,
    /// The image's id (config digest) at create time, and the resolved command.
    pub image_id: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
}

/// An image's defaults, as far as a container needs them.
#[derive(Debug, Clone, Default)]
pub struct ImageDefaults {
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

/// The process's argv from image and user settings, with Docker's rules: a user entrypoint
/// replaces the image's and discards the image's cmd; a user cmd replaces the image's cmd.
pub fn resolve_command(cfg: &ContainerConfig, image: &ImageDefaults) -> Vec<String> {
    let (entrypoint, cmd) = match (&cfg.entrypoint, &cfg.cmd) {
        (Some(ep), Some(cmd)) => (ep.clone(), cmd.clone()),
        (Some(ep), None) => (ep.clone(), Vec::new()),
        (None, Some(cmd)) => (image.entrypoint.clone(), cmd.clone()),
        (None, None) => (image.entrypoint.clone(), image.cmd.clone()),
    };
    entrypoint.into_iter().chain(cmd).collect()
}

/// Image env overlaid with the user's (later keys win), PATH and HOSTNAME ensured.
pub fn merge_env(image: &[String], user: &[String], hostname: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let key = |e: &str| {
        e.split_once('=')
            .map(|(k, _)| k.to_string())
            .unwrap_or_else(|| e.to_string())
    };
    for e in image.iter().chain(user.iter()) {
        let k = key(e);
        out.retain(|x| key(x) != k);
        out.push(e.clone());
    }
    if !out.iter().any(|e| e.starts_with("PATH=")) {
        out.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !out.iter().any(|e| e.starts_with("HOSTNAME=")) {
        out.insert(1.min(out.len()), format!("HOSTNAME={hostname}"));
    }
    out
}

/// Paths of a container's files under the state root and the run dir.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    pub run: PathBuf,
    /// The init layer every container shares (see [`Layout::init_layer`]).
    init: PathBuf,
}

impl Layout {
    pub fn new(root: &Path, run_dir: &Path, id: &str) -> Self {
        Layout {
            dir: root.join("containers").join(id),
            init: root.join("init-layer"),
            run: run_dir.join("c").join(&id[..12.min(id.len())]),
        }
    }
    pub fn record(&self) -> PathBuf {
        self.dir.join("container.json")
    }
    pub fn log(&self) -> PathBuf {
        let id = self
            .dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.dir.join(format!("{id}-json.log"))
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("fs/upper")
    }
    /// The mount points every container needs (see [`crate::runtime::rootfs::write_init_layer`]),
    /// a lower layer above the image's so they stay out of the writable layer. The same for
    /// every container, so made once and shared: read-only to overlayfs as any lower layer.
    pub fn init_layer(&self) -> PathBuf {
        self.init.clone()
    }
    pub fn attach_socket(&self) -> PathBuf {
        self.run.join("attach.sock")
    }
    pub fn shim_record(&self) -> PathBuf {
        self.run.join("shim.json")
    }
    /// Held by the container's shim for its whole life (see `runtime::shim_lock`).
    pub fn shim_lock(&self) -> PathBuf {
        self.run.join("shim.lock")
    }
    pub fn exit_record(&self) -> PathBuf {
        self.dir.join("exit.json")
    }
    /// The container's compiled seccomp filter, written at every start.
    pub fn seccomp(&self) -> PathBuf {
        self.dir.join("seccomp.bpf")
    }
}

/// The seccomp filter of a container with `cfg` (None: privileged or unconfined).
/// Compiled programs are cached, so asking again for a running container is cheap.
pub fn seccomp_filter(cfg: &ContainerConfig) -> Result<Option<crate::seccomp::Program>, String> {
    let (security, capabilities) = seccomp_inputs(cfg)?;
    security
        .seccomp_program(cfg.privileged, &capabilities)
        .map_err(|e| e.to_string())
}

/// [`seccomp_filter`] when it needs no compile (cheap enough for an async worker): None
/// when the program has yet to be compiled.
pub fn cached_seccomp_filter(
    cfg: &ContainerConfig,
) -> Option<Result<Option<crate::seccomp::Program>, String>> {
    match seccomp_inputs(cfg) {
        Ok((security, capabilities)) => security
            .cached_seccomp_program(cfg.privileged, &capabilities)
            .map(Ok),
        Err(e) => Some(Err(e)),
    }
}

/// What selects a container's filter: its security options and its capabilities.
fn seccomp_inputs(
    cfg: &ContainerConfig,
) -> Result<(crate::security_opt::SecurityOptions, Vec<String>), String> {
    Ok((
        crate::security_opt::SecurityOptions::parse(&cfg.security_opt)?,
        caps::effective_set(cfg.privileged, &cfg.cap_add, &cfg.cap_drop)?,
    ))
}

/// Inputs to [`build_spec`] the daemon gathers at start time.
pub struct SpecInputs<'a> {
    pub record: &'a ContainerRecord,
    pub image: &'a ImageDefaults,
    pub layers: Vec<PathBuf>,
    pub layout: &'a Layout,
    pub netns: Option<PathBuf>,
    pub cgroup: Option<CgroupRef>,
    pub etc_files: Vec<Mount>,
    pub wait_attach: bool,
    /// The compiled seccomp filter's file, if the container has one.
    pub seccomp: Option<PathBuf>,
}

/// Turns a container record into the shim's runtime spec.
pub fn build_spec(inp: SpecInputs) -> Result<Spec, String> {
    let security = crate::security_opt::SecurityOptions::parse(&inp.record.config.security_opt)?;
    let cfg = &inp.record.config;
    let hostname = hostname_of(inp.record);
    let mut args = vec![inp.record.path.clone()];
    args.extend(inp.record.args.iter().cloned());
    if inp.record.path.is_empty() {
        return Err("no command specified".into());
    }
    let env = merge_env(&inp.image.env, &cfg.env, &hostname);
    let cwd = cfg
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| inp.image.working_dir.clone());
    let user = cfg
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| inp.image.user.clone());
    let capabilities = caps::effective_set(cfg.privileged, &cfg.cap_add, &cfg.cap_drop)?;
    let mut mounts = Vec::new();
    for m in &cfg.mounts {
        mounts.push(match m.kind.as_str() {
            "bind" | "volume" => Mount {
                kind: MountKind::Bind,
                source: PathBuf::from(&m.source),
                destination: m.target.clone(),
                readonly: m.read_only,
                size: None,
                mode: None,
            },
            "tmpfs" => Mount {
                kind: MountKind::Tmpfs,
                source: PathBuf::new(),
                destination: m.target.clone(),
                readonly: m.read_only,
                size: m.size,
                mode: m.mode,
            },
            other => return Err(format!("unsupported mount type {other}")),
        });
    }
    Ok(Spec {
        id: inp.record.id.clone(),
        hostname,
        domainname: cfg.domainname.clone().unwrap_or_default(),
        rootfs: Rootfs {
            layers: inp.layers,
            upper: inp.layout.upper(),
            work: inp.layout.dir.join("fs/work"),
            mountpoint: inp.layout.dir.join("fs/rootfs"),
            readonly: cfg.read_only,
        },
        process: Process {
            args,
            env,
            cwd: if cwd.is_empty() { "/".into() } else { cwd },
            user,
            tty: cfg.tty,
            console_size: cfg.console_size.filter(|_| cfg.tty),
            stdin: cfg.open_stdin,
            capabilities,
            rlimits: cfg.ulimits.clone(),
            init: cfg.init,
            no_new_privileges: security.no_new_privileges,
        },
        mounts,
        new_netns: inp.netns.is_none() && cfg.network_mode == "none",
        netns: inp.netns,
        etc_files: inp.etc_files,
        cgroup: inp.cgroup,
        privileged: cfg.privileged,
        unconfined_paths: security.unconfined_paths,
        sysctls: cfg
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        shm_size: cfg.shm_size.unwrap_or(64 << 20),
        log: LogSpec {
            path: inp.layout.log(),
            max_size: cfg.log_max_size.unwrap_or(0),
            max_files: cfg.log_max_files.unwrap_or(1).max(1),
        },
        attach_socket: inp.layout.attach_socket(),
        wait_attach: inp.wait_attach,
        shim_record: inp.layout.shim_record(),
        exit_record: inp.layout.exit_record(),
        ephemeral: cfg.auto_remove || cfg.ephemeral,
        seccomp: inp.seccomp,
    })
}

/// The container's hostname: as configured, else the first 12 hex digits of its id.
pub fn hostname_of(rec: &ContainerRecord) -> String {
    rec.config
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| rec.id[..12.min(rec.id.len())].to_string())
}

/// Parses `--ulimit name=soft[:hard]`.
pub fn parse_ulimit(s: &str) -> Result<Rlimit, String> {
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a, b),
        None => (vals, vals),
    };
    let num = |v: &str| -> Result<u64, String> {
        if v == "-1" || v == "unlimited" {
            Ok(u64::MAX)
        } else {
            v.parse()
                .map_err(|_| format!("invalid ulimit value in {s}"))
        }
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(Rlimit {
        name: name.to_ascii_lowercase(),
        soft,
        hard,
    })
}

/// Refuses a sysctl the container's namespaces do not isolate: writing it from inside would
/// change the host (the kernel keeps one value for the whole machine). Docker's list: IPC
/// (`kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`) and, with its own network
/// namespace, `net.*`.
pub fn check_sysctl(key: &str, network_mode: &str) -> Result<(), String> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return Ok(());
    }
    if key.starts_with("net.") {
        if network_mode == "host" {
            return Err(format!(
                "sysctl {key} is not allowed with the host's network namespace"
            ));
        }
        return Ok(());
    }
    Err(format!(
        "sysctl {key} is not namespaced: it would change the host (allowed: net.*, fs.mqueue.*, kernel.msg*, kernel.sem, kernel.shm*)"
    ))
}

/// Parses a byte size as Docker does: `512`, `64k`, `100m`, `1g`, `1.5GiB`...
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size: '{s}'"))?;
    if v < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    Ok((v * mult as f64) as i64)
}

/// Parses a signal name or number (`TERM`, `SIGTERM`, `15`).
pub fn parse_signal(s: &str) -> Result<nix::sys::signal::Signal, String> {
    use std::str::FromStr;
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).map_err(|_| format!("invalid signal: {s}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    nix::sys::signal::Signal::from_str(&name).map_err(|_| format!("invalid signal: {s}"))
}

/// Any signal's number, as `docker kill -s` and `docker stop -s` take it: what
/// [`parse_signal`] knows, plus 1 to 64 by number and the real-time signals (`RTMIN`,
/// `SIGRTMIN+3`, `RTMAX-1`: signal(7)), which nix's `Signal` cannot name.
pub fn parse_signal_number(s: &str) -> Result<i32, String> {
    if let Ok(sig) = parse_signal(s) {
        return Ok(sig as i32);
    }
    let bad = || format!("invalid signal: {s}");
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if let Ok(n) = s.parse::<i32>() {
        return (1..=max).contains(&n).then_some(n).ok_or_else(bad);
    }
    let up = s.to_ascii_uppercase();
    let up = up.strip_prefix("SIG").unwrap_or(&up);
    let (base, rest) = if let Some(r) = up.strip_prefix("RTMIN") {
        (min, r)
    } else if let Some(r) = up.strip_prefix("RTMAX") {
        (max, r)
    } else {
        return Err(bad());
    };
    let n = match rest.chars().next() {
        None => base,
        Some('+') => base + rest[1..].parse::<i32>().map_err(|_| bad())?,
        Some('-') => base - rest[1..].parse::<i32>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    (min..=max).contains(&n).then_some(n).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_sysctls_pass() {
        for ok in [
            "net.core.somaxconn",
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "kernel.sem",
        ] {
            assert!(check_sysctl(ok, "").is_ok(), "{ok}");
        }
        for bad in [
            "vm.swappiness",
            "kernel.hostname",
            "fs.file-max",
            "kernel.shmem",
        ] {
            assert!(check_sysctl(bad, "").is_err(), "{bad}");
        }
        assert!(check_sysctl("net.ipv4.ip_forward", "host").is_err());
    }

    #[test]
    fn command_rules_follow_docker() {
        let img = ImageDefaults {
            cmd: vec!["sh".into()],
            entrypoint: vec!["/init".into()],
            ..Default::default()
        };
        let mut cfg = ContainerConfig::default();
        assert_eq!(resolve_command(&cfg, &img), vec!["/init", "sh"]);
        cfg.cmd = Some(vec!["echo".into(), "hi".into()]);
        assert_eq!(resolve_command(&cfg, &img), vec!["/init", "echo", "hi"]);
        cfg.entrypoint = Some(vec!["env".into()]);
        cfg.cmd = None;
        assert_eq!(resolve_command(&cfg, &img), vec!["env"]);
    }

    #[test]
    fn env_merge() {
        let env = merge_env(
            &["PATH=/x".into(), "A=1".into()],
            &["A=2".into(), "B=3".into()],
            "h",
        );
        assert_eq!(env, vec!["PATH=/x", "HOSTNAME=h", "A=2", "B=3"]);
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            RestartPolicy::OnFailure { max_retries: 3 }
        );
        assert!(RestartPolicy::parse("always:3").is_err());
        assert!(RestartPolicy::parse("sometimes").is_err());
        let p = RestartPolicy::OnFailure { max_retries: 2 };
        assert!(p.should_restart(1, 1, false));
        assert!(!p.should_restart(1, 2, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(RestartPolicy::Always.should_restart(0, 100, false));
        assert!(!RestartPolicy::Always.should_restart(1, 0, true));
        assert!(RestartPolicy::Always.start_on_daemon_start(true));
        assert!(!RestartPolicy::UnlessStopped.start_on_daemon_start(true));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(10);
        let delays: Vec<u64> = (0..12).map(|_| b.next(short).as_millis() as u64).collect();
        assert_eq!(&delays[..4], &[100, 200, 400, 800]);
        assert_eq!(*delays.last().unwrap(), 60_000);
        assert_eq!(b.next(Duration::from_secs(11)).as_millis(), 100);
    }

    #[test]
    fn sizes_ulimits_signals() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(
            parse_ulimit("nofile=1024:2048").unwrap(),
            Rlimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            }
        );
        assert!(parse_ulimit("nofile=10:5").is_err());
        assert_eq!(
            parse_signal("TERM").unwrap(),
            nix::sys::signal::Signal::SIGTERM
        );
        assert_eq!(
            parse_signal("9").unwrap(),
            nix::sys::signal::Signal::SIGKILL
        );
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(parse_signal_number("usr1"), Ok(libc::SIGUSR1));
        assert_eq!(parse_signal_number("SIGRTMIN+3"), Ok(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal_number("RTMAX-1"), Ok(libc::SIGRTMAX() - 1));
        assert_eq!(parse_signal_number("40"), Ok(40));
        assert!(parse_signal_number("65").is_err());
        assert!(parse_signal_number("RTMAX+1").is_err());
    }
}
