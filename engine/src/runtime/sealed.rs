//! A sealed in-memory copy of the berth binary, which shims (and so container inits before
//! their exec) run from. A process inside a container that reaches /proc/PID/exe of one of them
//! finds a memfd sealed against writes, never the host's binary (CVE-2019-5736: runc's fix
//! clones the binary the same way; doing it once per daemon keeps the page cache shared by
//! every shim).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

pub struct SealedExe {
    fd: OwnedFd,
}

impl SealedExe {
    pub fn create() -> io::Result<Self> {
        let name = c"berth";
        // SAFETY: a valid NUL-terminated name and flags; returns a new fd or -1.
        let raw = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create just returned this descriptor to us alone.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut src = File::open("/proc/self/exe")?;
        let mut dst = File::from(fd.try_clone()?);
        io::copy(&mut src, &mut dst)?;
        let seals =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        // SAFETY: fcntl on a descriptor we own with an integer argument.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SealedExe { fd })
    }

    /// A path that execs the sealed copy. The descriptor is close-on-exec, but execve resolves
    /// the path before it closes anything, so the child can exec through it.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.fd.as_raw_fd()
        ))
    }
}
