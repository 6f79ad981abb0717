//! `berth exec`'s helper process: enters a running container's namespaces and cgroup and runs a
//! command there with the container's user, environment and capabilities.
//!
//! The CLI starts this helper from a sealed memfd copy of the binary, so the forked child that
//! becomes visible inside the container before its exec never exposes the host's binary
//! (CVE-2019-5736); the helper is also non-dumpable.

use super::init::{self, Failure};
use super::{caps, fork, procinfo, user};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{dup2, pipe2, setsid, ForkResult, Pid};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ExecRequest {
    pub pid: i32,
    pub pid_start_time: u64,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub cwd: String,
    pub capabilities: Vec<String>,
    pub cgroups: Vec<PathBuf>,
    pub tty: bool,
    pub privileged: bool,
    /// The container's ulimits: an exec'd process gets them too, as with Docker.
    #[serde(default)]
    pub rlimits: Vec<super::spec::Rlimit>,
}

/// Runs the request; returns the command's exit code (126/127 when it could not start).
pub fn run(req: &ExecRequest) -> i32 {
    let _ = nix::sys::prctl::set_dumpable(false);
    match enter_and_run(req) {
        Ok(code) => code,
        Err(Failure(code, msg)) => {
            eprintln!("berth: exec failed: {msg}");
            code
        }
    }
}

fn enter_and_run(req: &ExecRequest) -> Result<i32, Failure> {
    let pidfd = procinfo::pidfd_for(req.pid, req.pid_start_time)
        .map_err(|_| Failure(126, "container is not running".into()))?;
    // cgroup paths are host paths: join before entering the container's mount namespace. A v1
    // directory is joined by moving this (single) thread, the command's fork is born in the
    // cgroup2 one: neither waits for an RCU grace period (see fork.rs).
    let mut cgroup2 = None;
    for dir in &req.cgroups {
        let tasks = dir.join("tasks");
        if tasks.exists() {
            let _ = std::fs::write(tasks, "0");
        } else {
            cgroup2 = fork::open_dir(dir).ok();
        }
    }
    let flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWCGROUP;
    // One setns on a pidfd enters all of them atomically (Linux 5.8+); it also moves our root
    // and cwd to the container's root.
    setns(pidfd.as_fd(), flags).map_err(|e| format!("entering the container's namespaces: {e}"))?;
    let who = user::resolve(&req.user)?;
    let keep = caps::parse_set(&req.capabilities)?;
    let env_path = req
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(super::DEFAULT_PATH)
        .to_string();
    let program = init::find_program(&req.args, &env_path)?;
    let mut env = req.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", who.home));
    }
    let pty = if req.tty {
        Some(open_pty(who.uid)?)
    } else {
        None
    };
    let (report_rd, report_wr) =
        pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let mut forward = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGWINCH,
        Signal::SIGCHLD,
    ] {
        forward.add(s);
    }
    forward
        .thread_block()
        .map_err(|e| format!("blocking signals: {e}"))?;
    // SAFETY: the helper is single-threaded (no runtime was started in this process).
    let (forked, born_in_cgroup2) = unsafe { fork::fork_into(cgroup2.as_ref().map(|d| d.as_fd())) }
        .map_err(|e| format!("fork: {e}"))?;
    match forked {
        ForkResult::Child => {
            if let (Some(dir), false) = (&cgroup2, born_in_cgroup2) {
                join_cgroup2(dir);
            }
            drop(report_rd);
            let Failure(code, msg) =
                match child(req, &who, &keep, &program, &env, pty.as_ref().map(|p| &p.1)) {
                    Ok(never) => match never {},
                    Err(f) => f,
                };
            let mut w = File::from(report_wr);
            let _ = w.write_all(format!("{code} {msg}").as_bytes());
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            drop(report_wr);
            let mut msg = String::new();
            let _ = File::from(report_rd).read_to_string(&mut msg);
            if !msg.is_empty() {
                let _ = waitpid(child, None);
                let (code, text) = msg.split_once(' ').unwrap_or(("126", &msg));
                return Err(Failure(code.parse().unwrap_or(126), text.to_string()));
            }
            let master = pty.map(|(m, s)| {
                drop(s);
                m
            });
            Ok(supervise(child, master, &forward))
        }
    }
}

fn child(
    req: &ExecRequest,
    who: &user::ResolvedUser,
    keep: &caps::CapsSet,
    program: &str,
    env: &[String],
    slave: Option<&OwnedFd>,
) -> Result<init::Never, Failure> {
    setsid().map_err(|e| format!("setsid: {e}"))?;
    if let Some(slave) = slave {
        // SAFETY: TIOCSCTTY with an int argument on a terminal we opened.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
        for fd in 0..3 {
            let _ = dup2(slave.as_raw_fd(), fd);
        }
    }
    // Before dropping privileges: raising a hard limit needs CAP_SYS_RESOURCE.
    for l in &req.rlimits {
        init::set_rlimit(l)?;
    }
    init::drop_privileges(keep, who, !req.privileged)?;
    let cwd = if req.cwd.is_empty() {
        "/"
    } else {
        req.cwd.as_str()
    };
    nix::unistd::chdir(cwd)
        .map_err(|e| Failure(126, format!("chdir to cwd (\"{cwd}\") failed: {e}")))?;
    init::verify_cwd()?;
    init::close_inherited_fds();
    init::reset_signals();
    init::exec(program, &req.args, env)
}

/// Moves the calling process into the cgroup2 directory `dir` (kernels without
/// CLONE_INTO_CGROUP); by descriptor, as its path is not visible in the container.
fn join_cgroup2(dir: &OwnedFd) {
    use nix::fcntl::{openat, OFlag};
    if let Ok(fd) = openat(
        Some(dir.as_raw_fd()),
        "cgroup.procs",
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        // SAFETY: openat just returned this descriptor.
        let procs = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let _ = (&procs).write_all(b"0");
    }
}

fn open_pty(uid: u32) -> Result<(OwnedFd, OwnedFd), Failure> {
    use nix::fcntl::OFlag;
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| format!("opening /dev/ptmx: {e}"))?;
    grantpt(&master).map_err(|e| format!("grantpt: {e}"))?;
    unlockpt(&master).map_err(|e| format!("unlockpt: {e}"))?;
    let name = ptsname_r(&master).map_err(|e| format!("ptsname: {e}"))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| format!("opening {name}: {e}"))?;
    // SAFETY: open just returned this descriptor.
    let slave = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(slave) };
    let _ = nix::unistd::fchown(
        slave.as_raw_fd(),
        Some(nix::unistd::Uid::from_raw(uid)),
        None,
    );
    let master = unsafe {
        <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(
            master,
        ))
    };
    Ok((master, slave))
}

/// Relays the terminal (when there is one), forwards signals, and returns the exit code.
fn supervise(child: Pid, master: Option<OwnedFd>, signals: &SigSet) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let sfd = SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC).ok();
    let _raw = master
        .as_ref()
        .and_then(|_| super::terminal::RawMode::enable(0));
    if let Some(m) = &master {
        super::terminal::copy_size(1, m.as_raw_fd());
    }
    let mut stdin_open = master.is_some();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let mut fds = Vec::new();
        if let Some(s) = &sfd {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        let stdin = std::io::stdin();
        if let Some(m) = &master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let hit = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_hit, master_hit, stdin_hit) = (hit(0), hit(1), hit(2));
        if sig_hit {
            if let Some(Ok(Some(info))) = sfd.as_ref().map(|s| s.read_signal()) {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) => {}
                    Ok(Signal::SIGWINCH) => {
                        if let Some(m) = &master {
                            super::terminal::copy_size(1, m.as_raw_fd());
                        }
                    }
                    Ok(sig) => {
                        let _ = kill(child, sig);
                    }
                    Err(_) => {}
                }
            }
            match waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => return drain_then(master.as_ref(), code),
                Ok(WaitStatus::Signaled(_, s, _)) => {
                    return drain_then(master.as_ref(), 128 + s as i32)
                }
                _ => {}
            }
        }
        if let Some(m) = &master {
            if master_hit {
                match nix::unistd::read(m.as_raw_fd(), &mut buf) {
                    Ok(n) if n > 0 => {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&buf[..n]);
                        let _ = out.flush();
                    }
                    _ => {}
                }
            }
            if stdin_hit {
                match nix::unistd::read(0, &mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = nix::unistd::write(m, &buf[..n]);
                    }
                    _ => stdin_open = false,
                }
            }
        }
    }
}

fn drain_then(master: Option<&OwnedFd>, code: i32) -> i32 {
    if let Some(m) = master {
        let mut buf = [0u8; 16 * 1024];
        let _ = nix::fcntl::fcntl(
            m.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        while let Ok(n) = nix::unistd::read(m.as_raw_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            let _ = std::io::stdout().write_all(&buf[..n]);
        }
        let _ = std::io::stdout().flush();
    }
    code
}
