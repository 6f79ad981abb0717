//! The runtime spec: everything the shim needs to create one container, fully resolved by the
//! daemon (image config merged with the user's options) and written next to the container's
//! records, so a shim never has to ask anyone anything.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Spec {
    pub id: String,
    pub hostname: String,
    #[serde(default)]
    pub domainname: String,
    pub rootfs: Rootfs,
    pub process: Process,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Pinned network namespace to join; `None` shares the host's network unless `new_netns`.
    pub netns: Option<PathBuf>,
    /// A fresh network namespace with only loopback (`--network none`).
    #[serde(default)]
    pub new_netns: bool,
    /// Files the engine owns and bind-mounts over /etc/hosts, /etc/hostname, /etc/resolv.conf.
    #[serde(default)]
    pub etc_files: Vec<Mount>,
    /// cgroup the container's processes are put in: (parent, name) for the cgroups module.
    pub cgroup: Option<CgroupRef>,
    #[serde(default)]
    pub privileged: bool,
    /// `systempaths=unconfined`: no masked or read-only paths.
    #[serde(default)]
    pub unconfined_paths: bool,
    /// Namespaced sysctls (net.*, kernel.shm*, ...), written inside the container's namespaces.
    #[serde(default)]
    pub sysctls: Vec<(String, String)>,
    /// Size of /dev/shm in bytes (Docker's default is 64 MiB).
    #[serde(default = "default_shm_size")]
    pub shm_size: u64,
    pub log: LogSpec,
    /// Where the shim listens for attach clients.
    pub attach_socket: PathBuf,
    /// Hold the container before exec until the first attach client connects, so an attached
    /// `run` never misses the first bytes of output.
    #[serde(default)]
    pub wait_attach: bool,
    /// Where the shim records its own pid and start time, and the container's exit.
    pub shim_record: PathBuf,
    pub exit_record: PathBuf,
    /// The container is removed when it exits (`--rm`): nothing of its writable layer or its
    /// exit status can be observed after a host crash (the next daemon removes it), so
    /// neither is synced to disk (overlay `volatile`, exit record without fsync).
    #[serde(default)]
    pub ephemeral: bool,
    /// The seccomp filter (a BPF program file) the init installs; None runs unfiltered.
    #[serde(default)]
    pub seccomp: Option<PathBuf>,
}

fn default_shm_size() -> u64 {
    64 << 20
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Rootfs {
    /// Image layer directories, bottom layer first.
    pub layers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// An empty directory on the host where the overlay is mounted, inside the container's own
    /// mount namespace only (the host never sees the mount, so it can never leak).
    pub mountpoint: PathBuf,
    #[serde(default)]
    pub readonly: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Process {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// `USER[:GROUP]` as given (names or numbers); resolved inside the container's /etc files.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub tty: bool,
    /// The terminal's size (rows, columns) when it is made, with `tty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u16; 2]>,
    /// Keep stdin open (`-i`).
    #[serde(default)]
    pub stdin: bool,
    /// Capability names (CAP_*) the process keeps.
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    /// Run a zombie-reaping, signal-forwarding init at pid 1 (`--init`).
    #[serde(default)]
    pub init: bool,
    /// Off by default, as Docker's (setuid programs such as su and sudo keep working).
    #[serde(default)]
    pub no_new_privileges: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rlimit {
    /// Lowercase name without the RLIMIT_ prefix: nofile, nproc, core, ...
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Tmpfs,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mount {
    pub kind: MountKind,
    /// Host path for binds; ignored for tmpfs.
    #[serde(default)]
    pub source: PathBuf,
    /// Path inside the container.
    pub destination: String,
    #[serde(default)]
    pub readonly: bool,
    /// tmpfs size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// tmpfs mode.
    #[serde(default)]
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CgroupRef {
    pub parent: String,
    pub name: String,
    /// The host's cgroup mounts as the daemon knows them, so the shim does not read and
    /// parse the mount table again on its way to the container; read by the shim when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hierarchies: Option<crate::cgroups::Hierarchies>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LogSpec {
    pub path: PathBuf,
    /// Rotate when the file reaches this size; 0 = never.
    #[serde(default)]
    pub max_size: u64,
    /// Files kept, the current one included (at least 1).
    #[serde(default = "one")]
    pub max_files: u32,
}

fn one() -> u32 {
    1
}

/// What the shim records about itself so any later daemon can find and verify it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShimRecord {
    pub shim_pid: i32,
    pub shim_start_time: u64,
    /// The container's pid 1, as seen from the host.
    pub pid: i32,
    pub pid_start_time: u64,
}

/// How the container ended, written by the shim before it exits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitRecord {
    /// Docker's convention: the exit status, or 128 + signal number.
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// RFC 3339 time of the exit.
    pub finished_at: String,
    /// Set when the container could not start (exec failed, bad working directory, ...).
    #[serde(default)]
    pub error: Option<String>,
}
