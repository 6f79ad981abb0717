//! A terminal for `-t`: opened from the container's own devpts instance (so `tty` inside shows
//! /dev/pts/0 and the host's ptys stay invisible), its master handed to the shim over the sync
//! channel, the slave made the process's controlling terminal.

use super::sync::Channel;
use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::unistd::{dup2, setsid, Uid};
use std::os::fd::{AsRawFd, IntoRawFd};

/// `size` (rows, columns) is the client's terminal at create (Docker's
/// `HostConfig.ConsoleSize`): set before the process runs, so it never sees 0x0 while the
/// client's first resize is on its way.
pub(crate) fn make_controlling_pty(
    chan: &Channel,
    uid: u32,
    size: Option<[u16; 2]>,
) -> Result<(), String> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| format!("opening /dev/ptmx: {e}"))?;
    if let Some([rows, cols]) = size {
        super::terminal::set_size(master.as_raw_fd(), rows, cols);
    }
    grantpt(&master).map_err(|e| format!("grantpt: {e}"))?;
    unlockpt(&master).map_err(|e| format!("unlockpt: {e}"))?;
    let name = ptsname_r(&master).map_err(|e| format!("ptsname: {e}"))?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .map_err(|e| format!("opening {name}: {e}"))?;
    // The process's user must own its terminal, as login does.
    let _ = nix::unistd::fchown(slave.as_raw_fd(), Some(Uid::from_raw(uid)), None);
    chan.send_fd(master.as_raw_fd())
        .map_err(|e| format!("handing the terminal to the shim: {e}"))?;
    drop(master);
    setsid().map_err(|e| format!("setsid: {e}"))?;
    // SAFETY: TIOCSCTTY takes an int argument; the fd is a terminal we just opened.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(format!(
            "making {name} the controlling terminal: {}",
            std::io::Error::last_os_error()
        ));
    }
    for target in 0..3 {
        dup2(slave.as_raw_fd(), target).map_err(|e| format!("dup2 terminal: {e}"))?;
    }
    let _ = slave.into_raw_fd();
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;
