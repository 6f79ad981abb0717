//! The container runtime: the shim process and what its forked child does to become a
//! container (namespaces, overlay root, pivot_root, /proc /sys /dev, capabilities, user, exec).

pub mod attach;
pub mod caps;
pub mod exec;
mod fork;
pub mod fscopy;
mod init;
pub mod logs;
pub mod procinfo;
pub mod rootfs;
pub mod sealed;
pub mod shim;
pub mod shim_lock;
pub mod shim_server;
pub mod spec;
mod sync;
pub mod terminal;
mod tty;
pub mod user;

/// The PATH a container gets when neither its image nor the user sets one (Docker's).
/// write(2) until all of `data` is written (a pipe or terminal takes it in pieces).
pub(crate) fn write_all(fd: impl std::os::fd::AsFd, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd.as_fd(), data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
