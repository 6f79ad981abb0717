//! Network namespaces: pinned files under the run dir, and work done inside one.
//!
//! Door: [`create`], [`remove`], [`run_in`]. The daemon is multi-threaded, so it must never
//! fork (DESIGN "Processes"); a namespace is entered by a short-lived std::thread instead,
//! because the network namespace is a per-thread attribute (setns(2), unshare(2) with
//! CLONE_NEWNET act on the calling thread only) and dies with nothing once the thread exits.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("create netns {path}: {op}: {source}")]
    Create {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("remove netns {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("enter netns {path}: {source}")]
    Enter {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("netns worker thread for {path} panicked")]
    Panicked { path: PathBuf },
}

fn io(e: nix::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// Creates a new network namespace pinned at `pin` (a bind mount of the namespace file, as
/// `ip netns add` does, so it outlives every process in it).
pub(crate) fn create(pin: &Path) -> Result<(), NetnsError> {
    let err = |op, source| NetnsError::Create {
        path: pin.to_path_buf(),
        op,
        source,
    };
    if let Some(dir) = pin.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err("mkdir", e))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(pin)
        .map_err(|e| err("create pin file", e))?;
    let p = pin.to_path_buf();
    let res = std::thread::spawn(move || -> Result<(), (&'static str, std::io::Error)> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| ("unshare", io(e)))?;
        // Here, while this thread is in it: a netlink connection opened for it later would
        // cost a thread of its own and a round trip more.
        crate::ifioctl::loopback_up().map_err(|e| ("bring up lo", e))?;
        // thread-self, not self: /proc/self/ns/net names the thread-group leader's namespace,
        // which is still the host's.
        mount(
            Some("/proc/thread-self/ns/net"),
            &p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| ("bind mount", io(e)))
    })
    .join()
    .map_err(|_| NetnsError::Panicked {
        path: pin.to_path_buf(),
    })?;
    if let Err((op, e)) = res {
        let _ = std::fs::remove_file(pin);
        return Err(err(op, e));
    }
    Ok(())
}

/// Unmounts and unlinks a pin; a missing pin is not an error (idempotent for gc).
pub(crate) fn remove(pin: &Path) -> Result<(), NetnsError> {
    // MNT_DETACH: a copy of this mount may be busy in a container's mount namespace; the
    // namespace itself is freed when its last reference goes.
    match umount2(pin, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => {
            return Err(NetnsError::Remove {
                path: pin.into(),
                source: io(e),
            })
        }
    }
    match std::fs::remove_file(pin) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(NetnsError::Remove {
            path: pin.into(),
            source,
        }),
    }
}

/// Runs `f` on a fresh thread that has joined the namespace at `path`. `f` must not spawn
/// long-lived work that expects to stay there beyond its sockets (sockets keep the namespace
/// they were created in, which is what callers rely on).
pub(crate) fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NetnsError> {
    let file = std::fs::File::open(path).map_err(|source| NetnsError::Enter {
        path: path.into(),
        source,
    })?;
    let p = path.to_path_buf();
    std::thread::spawn(move || -> Result<T, NetnsError> {
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Enter {
            path: p,
            source: io(e),
        })?;
        Ok(f())
    })
    .join()
    .map_err(|_| NetnsError::Panicked {
        path: path.to_path_buf(),
    })?
}
