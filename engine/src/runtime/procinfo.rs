//! Process identity: a pid alone can be reused, so every process berth tracks is named by its
//! pid AND its start time (field 22 of /proc/PID/stat, clock ticks since boot).

use std::fs;

/// The start time of `pid`, or `None` when no such process exists.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the
    // last ')'. Field 3 is the first one after it, so start time (22) is the 20th there.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// True when `pid` is alive and is the very process that started at `start`.
pub fn is_same_process(pid: i32, start: u64) -> bool {
    pid > 0 && start_time(pid) == Some(start)
}

/// Whether the process is a zombie (ended, not yet reaped).
pub fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// A pidfd for `pid`, checked to be the process that started at `start`: once open, the fd
/// names that process for good, whatever later happens to the number.
pub fn pidfd_for(pid: i32, start: u64) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the syscall just returned this descriptor to us alone.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    if !is_same_process(pid, start) {
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(fd)
}

/// Sends `signal` to the process `pid` started at `start`. `Ok(false)` when it is gone.
pub fn send_signal(pid: i32, start: u64, signal: i32) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let fd = match pidfd_for(pid, start) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(false),
        Err(e) => return Err(e),
    };
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_stable() {
        let me = std::process::id() as i32;
        let t = start_time(me).expect("own stat");
        assert!(is_same_process(me, t));
        assert!(!is_same_process(me, t + 1));
        assert_eq!(start_time(i32::MAX), None);
    }
}
