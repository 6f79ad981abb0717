//! The shim server: one small process that forks the shims, so that a container's start does
//! not exec the 26 MB binary again. The daemon starts it once (`berth shim-server`, from the
//! same sealed copy it would exec a shim from) and hands it each start's descriptors; the
//! forked child goes on exactly as an exec'd shim would ([`super::shim::main`]). An exec of
//! the shim cost ~1.3-1.5 ms of CPU here (the kernel's exec and teardown, the dynamic
//! loader, glibc's CPU probes, which trap to the hypervisor in a VM, and the first touches
//! of a fresh image): ~130 ms of an `up` of 100 services on two cores.
//!
//! The protocol is one datagram per start on a SOCK_SEQPACKET socket (the server's stdin): the
//! bundle path, with three descriptors attached: the container's shim lock, the report
//! socket and the stderr pipe, which become the child's 0, 1 and 2 as they would be an
//! exec'd shim's. Nothing is answered: the daemon learns how the start went from the report
//! socket, as before. The server closes its copies right after the fork, the lock first, so
//! that the report socket's end-of-file (all its holders gone) still means the lock is free
//! too. End-of-file on its stdin (the daemon gone) ends the server.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `berth shim-server PAD`: the argument the daemon passes after the subcommand, only there
/// to leave room in the process's argument area for each shim's own command line.
pub const PAD_LEN: usize = 1024;

/// The largest request: a bundle path.
const MAX_REQUEST: usize = 4096;

/// The server's loop; returns its exit code.
pub fn serve() -> i32 {
    // Forked shims are reaped by the kernel: the server never waits for them.
    // SAFETY: setting a signal to be ignored has no preconditions.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGCHLD,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
    let mut buf = vec![0u8; MAX_REQUEST];
    loop {
        let (len, fds) = match receive(0, &mut buf) {
            Ok(Some(got)) => got,
            Ok(None) => return 0,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                eprintln!("berth shim-server: receiving a request: {e}");
                return 1;
            }
        };
        let [lock, report, stderr]: [OwnedFd; 3] = match fds.try_into() {
            Ok(three) => three,
            // A request without its three descriptors is not one: dropping them refuses it.
            Err(_) => continue,
        };
        let bundle = Path::new(OsStr::from_bytes(&buf[..len])).to_path_buf();
        // SAFETY: the server is single-threaded; the child only runs the shim.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                std::process::exit(become_shim(&bundle, lock, report, stderr))
            }
            Ok(nix::unistd::ForkResult::Parent { .. }) => {}
            Err(e) => {
                // What the daemon reads as the shim's last words (see shim_spawn::parse).
                let _ = super::write_all(&stderr, format!("fork: {e}\n").as_bytes());
            }
        }
        // The lock before the report socket: see the module's doc.
        drop(lock);
        drop(report);
        drop(stderr);
    }
}

/// In the forked child: the descriptors in the places an exec'd shim has them, the command
/// line an exec'd shim shows, then the shim itself.
fn become_shim(bundle: &Path, lock: OwnedFd, report: OwnedFd, stderr: OwnedFd) -> i32 {
    // SAFETY: restoring the default disposition has no preconditions; the shim waits for
    // its children and must not have them reaped behind its back.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGCHLD,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
    // fd 0 was the server's socket: replaced here, so the child holds no way to it.
    for (fd, target) in [(&lock, 0), (&report, 1), (&stderr, 2)] {
        if nix::unistd::dup2(fd.as_raw_fd(), target).is_err() {
            return 1;
        }
    }
    drop((lock, report, stderr));
    // Single-threaded: changing the environment races with nothing.
    std::env::set_var(super::shim_lock::ENV, "0");
    std::env::set_var(super::shim::GO_ENV, "1");
    retitle(bundle);
    super::shim::main_forked(bundle)
}

/// Rewrites the process's argument area to `EXE shim BUNDLE`, what `ps` and anything looking
/// for a container's shim by its command line find for an exec'd one. The area is the
/// server's own (`EXE shim-server PAD`), so the new line fits when the bundle path is no
/// longer than the padding; a longer one is cut (the line is only a label).
fn retitle(bundle: &Path) {
    let Some((start, end)) = argument_area() else {
        return;
    };
    if end <= start {
        return;
    }
    // SAFETY: [arg_start, arg_end) is this process's argument area, mapped and writable (the
    // initial stack); nothing else reads it concurrently (single-threaded), and Rust's own
    // copy of the arguments was made at startup.
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end - start) };
    // argv[0] (the executable) stays as it is.
    let Some(exe_end) = area.iter().position(|&b| b == 0) else {
        return;
    };
    let mut line = b"shim\0".to_vec();
    line.extend_from_slice(bundle.as_os_str().as_bytes());
    let rest = &mut area[exe_end + 1..];
    // Always NUL-terminated: the last byte stays 0.
    let n = line.len().min(rest.len().saturating_sub(1));
    rest[..n].copy_from_slice(&line[..n]);
    rest[n..].fill(0);
}

/// arg_start and arg_end of /proc/self/stat (its fields 48 and 49).
fn argument_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may hold spaces: the first is field 3.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<usize>().ok();
    Some((field(48)?, field(49)?))
}

/// One request: its bytes into `buf` and its descriptors (close-on-exec); None at
/// end-of-file.
fn receive(sock: RawFd, buf: &mut [u8]) -> nix::Result<Option<(usize, Vec<OwnedFd>)>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!([RawFd; 3]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = c {
            // SAFETY: descriptors the kernel just installed for us alone.
            fds.extend(
                received
                    .into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let len = msg.bytes;
    if len == 0 && fds.is_empty() {
        return Ok(None);
    }
    Ok(Some((len, fds)))
}

/// Sends one start's request (see the module's doc) on the daemon's end of the server's
/// socket, without waiting: a full socket answers EAGAIN. `fds`: the shim lock, the report
/// socket and the stderr pipe.
pub fn request(sock: RawFd, bundle: &Path, fds: [BorrowedFd<'_>; 3]) -> nix::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let bytes = bundle.as_os_str().as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_REQUEST {
        return Err(nix::errno::Errno::ENAMETOOLONG);
    }
    let iov = [std::io::IoSlice::new(bytes)];
    let raw = fds.map(|fd| fd.as_raw_fd());
    sendmsg::<()>(
        sock,
        &iov,
        &[ControlMessage::ScmRights(&raw)],
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(|_| ())
}
