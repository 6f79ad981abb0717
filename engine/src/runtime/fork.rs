//! fork(2) with the child born in a cgroup2 directory (clone3 with CLONE_INTO_CGROUP, Linux
//! 5.7): nothing has to move it there afterwards. Moving a process by writing its pid to
//! cgroup.procs takes the kernel's global threadgroup lock, and taking it waits out an RCU
//! grace period (~10 ms); a child born inside takes only the read side.

use nix::errno::Errno;
use nix::unistd::{fork, ForkResult, Pid};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// The kernel's `struct clone_args` (include/uapi/linux/sched.h), up to the `cgroup` field
/// (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Forks; with `cgroup2` (an open cgroup2 directory) the child starts in it. Returns whether it
/// did: where clone3 or CLONE_INTO_CGROUP is missing or refused this is a plain fork, and the
/// caller moves the child itself (which also reports the real problem, if there is one).
///
/// # Safety
/// As for fork: the caller is single-threaded, and the child only runs code that is sound
/// after a fork. The child of clone3 also skips glibc's fork bookkeeping, which matters only
/// to pthread calls that read the cached thread id (pthread_kill, raise); the container init
/// makes none.
pub(crate) unsafe fn fork_into(cgroup2: Option<BorrowedFd>) -> nix::Result<(ForkResult, bool)> {
    if let Some(dir) = cgroup2 {
        let args = CloneArgs {
            flags: CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: dir.as_raw_fd() as u64,
            ..Default::default()
        };
        // SAFETY: `args` is a valid clone_args of the size passed; without CLONE_VM the child
        // gets a copy of this address space, as with fork.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        match rc {
            0 => return Ok((ForkResult::Child, true)),
            pid if pid > 0 => {
                let child = Pid::from_raw(pid as i32);
                return Ok((ForkResult::Parent { child }, true));
            }
            _ if matches!(Errno::last(), Errno::EAGAIN | Errno::ENOMEM) => {
                return Err(Errno::last())
            }
            _ => {}
        }
    }
    // SAFETY: the caller's guarantees are fork's.
    Ok((unsafe { fork() }?, false))
}

/// Opens a directory (a cgroup2 one, for [`fork_into`]) as a close-on-exec descriptor.
pub(crate) fn open_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map(OwnedFd::from)
}
