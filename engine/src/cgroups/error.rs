//! The one error type of the cgroups module.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while managing a container's cgroup. Every variant that
/// touches the filesystem names the path, and writes also name the controller, so a failure
/// in a hybrid layout says which hierarchy refused.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("read mount table {path}: {source}")]
    MountTable { path: PathBuf, source: io::Error },

    #[error("no cgroup filesystem is mounted")]
    NotMounted,

    #[error("invalid cgroup name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },

    #[error("invalid limit {limit}: {reason}")]
    InvalidLimit { limit: &'static str, reason: String },

    #[error("{controller} controller is not available on this host")]
    ControllerMissing { controller: &'static str },

    #[error("create cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },

    #[error("cgroup {path} does not exist")]
    NotFound { path: PathBuf },

    #[error("write {value:?} to {path} ({controller} controller): {source}")]
    Write {
        controller: &'static str,
        path: PathBuf,
        value: String,
        source: io::Error,
    },

    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },

    #[error("parse {path}: {reason}")]
    Parse { path: PathBuf, reason: String },

    #[error("send SIGKILL to pid {pid} of cgroup {path}: {source}")]
    Kill {
        pid: i32,
        path: PathBuf,
        source: nix::errno::Errno,
    },

    #[error("cgroup {path} still has processes {pids:?} after {waited_ms} ms")]
    StillPopulated {
        path: PathBuf,
        pids: Vec<i32>,
        waited_ms: u64,
    },

    #[error("cgroup {path} did not reach state {state} after {waited_ms} ms")]
    FreezeTimeout {
        path: PathBuf,
        state: &'static str,
        waited_ms: u64,
    },

    #[error("remove cgroup {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
}

/// The cgroups module's result type.
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;
