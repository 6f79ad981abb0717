//! The shim lock: proof that a container's shim is alive, held from before the shim exists.
//!
//! The daemon takes an exclusive flock(2) on `shim.lock` in the container's run dir before it
//! spawns the shim, and hands the locked descriptor down (as the shim's stdin, its number in
//! [`ENV`]). A flock
//! belongs to the open file description, which fork and exec share (flock(2)): the lock stays
//! held while any process of the shim holds that descriptor — after the daemon closed its
//! copy, after the daemon died — and goes with the last of them. So a daemon started after a crash tells a
//! shim that is still setting its container up (no shim record yet) from one that never ran
//! or has ended, without a pid: [`probe`]. And no second shim can start beside a live one.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

/// The shim's environment names the inherited lock descriptor's number here.
pub const ENV: &str = "BERTH_SHIM_LOCK_FD";

#[derive(Debug, thiserror::Error)]
pub enum ShimLockError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("a shim of this container is still running (it holds {})", path.display())]
    Held { path: PathBuf },
}

/// Whether a shim holds a container's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// No lock file: no shim was ever started for the container's current run dir.
    Absent,
    /// The file exists and nobody holds it: whatever shim there was has ended.
    Free,
    /// A shim (or the daemon about to spawn one) holds it.
    Held,
}

/// The lock as the daemon holds it while it spawns the shim.
pub struct StartLock {
    file: File,
}

impl StartLock {
    /// Creates and locks `path`; fails with [`ShimLockError::Held`] when a shim holds it.
    pub fn acquire(path: &Path) -> Result<StartLock, ShimLockError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| ShimLockError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        match try_lock(&file) {
            Ok(true) => Ok(StartLock { file }),
            Ok(false) => Err(ShimLockError::Held {
                path: path.to_path_buf(),
            }),
            Err(source) => Err(ShimLockError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// A duplicate of the locked descriptor (same open file description, so same lock) to
    /// become the shim's stdin: the spawn puts it on descriptor 0, the one kind of
    /// descriptor a spawn passes on without a hook in the child (a `pre_exec` hook makes the
    /// daemon fork its whole address space instead of vfork-spawning, ~0.5 ms a start). Its
    /// number goes in [`ENV`] as 0. The daemon's own copies are close-on-exec, so no other
    /// child of the multi-threaded daemon inherits the lock.
    pub fn as_stdin(&self) -> io::Result<std::process::Stdio> {
        Ok(self.file.try_clone()?.into())
    }
}

/// The locked descriptor itself, to hand to the shim server (which passes on a copy of the
/// same open file description, so the same lock).
impl std::os::fd::AsFd for StartLock {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Whether a shim holds the lock at `path`. Probing takes and drops the lock at once when it
/// is free.
pub fn probe(path: &Path) -> Result<LockState, ShimLockError> {
    let file = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LockState::Absent),
        Err(source) => {
            return Err(ShimLockError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    match try_lock(&file) {
        // Closing the file releases the lock.
        Ok(true) => Ok(LockState::Free),
        Ok(false) => Ok(LockState::Held),
        Err(source) => Err(ShimLockError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(e),
    }
}

/// In the shim: keeps the inherited lock for the shim's whole life (it is never closed), but
/// marks it close-on-exec so that no container process inherits it past its exec. One
/// handed down as a standard descriptor (stdin, see [`StartLock::as_stdin`]) is moved above
/// them first: the shim points its stdio at /dev/null once it runs on its own.
pub(crate) fn keep_inherited() {
    let Some(fd) = std::env::var(ENV)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok())
    else {
        return;
    };
    // The shim is single-threaded: changing its environment races with nothing.
    std::env::remove_var(ENV);
    if fd <= 2 {
        // SAFETY: fcntl on a descriptor number; the duplicate is deliberately never closed.
        unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        return;
    }
    // SAFETY: fcntl on a descriptor number; an invalid one only fails with EBADF.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_while_a_descriptor_of_the_lock_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shim.lock");
        assert_eq!(probe(&path).unwrap(), LockState::Absent);
        let lock = StartLock::acquire(&path).unwrap();
        assert_eq!(probe(&path).unwrap(), LockState::Held);
        assert!(matches!(
            StartLock::acquire(&path),
            Err(ShimLockError::Held { .. })
        ));
        // A duplicate (what the shim inherits) keeps it held after the original goes.
        // SAFETY: dup of a descriptor we own; the result is owned by the File below.
        let dup = unsafe {
            <File as std::os::fd::FromRawFd>::from_raw_fd(libc::dup(lock.file.as_raw_fd()))
        };
        drop(lock);
        assert_eq!(probe(&path).unwrap(), LockState::Held);
        drop(dup);
        assert_eq!(probe(&path).unwrap(), LockState::Free);
    }
}
