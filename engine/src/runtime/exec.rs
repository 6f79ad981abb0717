//! `berth exec`'s helper process: enters a running container's namespaces and cgroup and runs a
//! command there with the container's user, environment and capabilities.
//!
//! The CLI starts this helper from a sealed memfd copy of the binary, so the forked child that
//! becomes visible inside the container before its exec never exposes the host's binary
//! (CVE-2019-5736); the helper is also non-dumpable.
//!
//! The command never gets the helper's own stdin, stdout or stderr: those are the caller's
//! terminal or files, and a process left behind in the container could keep reading what the
//! operator types into the host shell long after exec returned. It gets pipes (or a terminal
//! opened in the container's own /dev/pts) that the helper makes and relays, as `docker exec`.

use super::init::{self, Failure};
use super::{caps, fork, procinfo, user};
use crate::seccomp::Program;
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
    /// Relay the caller's stdin to the command (`exec -i`); without it the command reads EOF.
    #[serde(default)]
    pub interactive: bool,
    pub privileged: bool,
    /// The container's seccomp filter (its BPF file): exec'd processes run under it too.
    #[serde(default)]
    pub seccomp: Option<PathBuf>,
    /// As the container's: an exec'd process gets no_new_privs only when the container has it.
    #[serde(default)]
    pub no_new_privileges: bool,
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
    // A host path: read before entering the container's mount namespace.
    let seccomp = match &req.seccomp {
        Some(path) => Some(Program::read(path).map_err(|e| e.to_string())?),
        None => None,
    };
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
    let stdio = if req.tty {
        let (master, slave) = open_pty(who.uid)?;
        Stdio::Terminal { master, slave }
    } else {
        Stdio::pipes()?
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
                match child(req, &who, &keep, &program, &env, &stdio, seccomp.as_ref()) {
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
            Ok(supervise(
                child,
                stdio.into_relay(req.interactive),
                &forward,
            ))
        }
    }
}

fn child(
    req: &ExecRequest,
    who: &user::ResolvedUser,
    keep: &caps::CapsSet,
    program: &str,
    env: &[String],
    stdio: &Stdio,
    seccomp: Option<&Program>,
) -> Result<init::Never, Failure> {
    setsid().map_err(|e| format!("setsid: {e}"))?;
    stdio.install()?;
    // Before dropping privileges: raising a hard limit needs CAP_SYS_RESOURCE.
    for l in &req.rlimits {
        init::set_rlimit(l)?;
    }
    init::drop_privileges_filtered(keep, who, req.no_new_privileges, seccomp)?;
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

/// The command's standard streams, made by the helper: a terminal opened in the container's
/// /dev/pts, or three pipes. Each pair is (read end, write end), all close-on-exec.
enum Stdio {
    Terminal {
        master: OwnedFd,
        slave: OwnedFd,
    },
    Pipes {
        stdin: (OwnedFd, OwnedFd),
        stdout: (OwnedFd, OwnedFd),
        stderr: (OwnedFd, OwnedFd),
    },
}

impl Stdio {
    fn pipes() -> Result<Stdio, Failure> {
        let pipe = || pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"));
        Ok(Stdio::Pipes {
            stdin: pipe()?,
            stdout: pipe()?,
            stderr: pipe()?,
        })
    }

    /// In the command's process: its ends become 0, 1 and 2 (dup2 clears close-on-exec on
    /// the copies; the originals close at exec).
    fn install(&self) -> Result<(), Failure> {
        let ends = match self {
            Stdio::Terminal { slave, .. } => {
                // SAFETY: TIOCSCTTY with an int argument on a terminal we opened.
                unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
                [slave, slave, slave]
            }
            Stdio::Pipes {
                stdin,
                stdout,
                stderr,
            } => [&stdin.0, &stdout.1, &stderr.1],
        };
        for (target, end) in ends.into_iter().enumerate() {
            dup2(end.as_raw_fd(), target as i32).map_err(|e| format!("dup2: {e}"))?;
        }
        Ok(())
    }

    /// In the helper, once the command runs: keeps the helper's ends and closes the command's,
    /// so each stream ends when the command (and whatever it left behind) closes it.
    fn into_relay(self, interactive: bool) -> Relay {
        match self {
            Stdio::Terminal { master, slave } => {
                drop(slave);
                let input = master.try_clone().ok();
                Relay {
                    terminal: Some(master.as_raw_fd()),
                    input,
                    // Without -i the caller's stdin is /dev/null: it reads EOF at once and
                    // the terminal simply gets no input.
                    outputs: vec![(master, 1)],
                }
            }
            Stdio::Pipes {
                stdin,
                stdout,
                stderr,
            } => Relay {
                terminal: None,
                // Dropping the write end now gives the command EOF on its first read.
                input: interactive.then_some(stdin.1),
                outputs: vec![(stdout.0, 1), (stderr.0, 2)],
            },
        }
    }
}

/// The helper's side: the caller's stdin goes to `input`, each output to the caller's fd.
struct Relay {
    input: Option<OwnedFd>,
    outputs: Vec<(OwnedFd, i32)>,
    /// The terminal master, whose size follows the caller's terminal.
    terminal: Option<std::os::fd::RawFd>,
}

impl Relay {
    /// Copies what `source` has to `target`; false at end of stream (EIO on a terminal
    /// master whose last slave closed).
    fn pump(source: &OwnedFd, target: i32, buf: &mut [u8]) -> bool {
        match nix::unistd::read(source.as_raw_fd(), buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                // SAFETY: fd 1 and 2 stay open for the helper's whole life.
                let out = unsafe { std::os::fd::BorrowedFd::borrow_raw(target) };
                let _ = super::write_all(out, &buf[..n]);
                true
            }
        }
    }

    /// After the command exited: what it wrote is still in the pipes. Copies until every
    /// stream ends, or until none has had anything for a moment — a background process the
    /// command left may hold a stream open for ever, and exec returns when the command does.
    fn drain(&mut self, buf: &mut [u8]) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        while !self.outputs.is_empty() {
            let mut fds: Vec<PollFd> = self
                .outputs
                .iter()
                .map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::from(50u8)) {
                Ok(0) => return,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
                Ok(_) => {}
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            self.pump_ready(&ready, buf);
        }
    }

    /// Copies from each output whose entry in `ready` is set; drops the ones that ended.
    fn pump_ready(&mut self, ready: &[bool], buf: &mut [u8]) {
        let mut ready = ready.iter();
        self.outputs.retain(|(fd, target)| {
            !ready.next().copied().unwrap_or(false) || Self::pump(fd, *target, buf)
        });
    }
}

/// Relays the command's streams, forwards signals, and returns the exit code.
fn supervise(child: Pid, mut relay: Relay, signals: &SigSet) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let sfd = SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC).ok();
    let _raw = relay
        .terminal
        .and_then(|_| super::terminal::RawMode::enable(0));
    if let Some(m) = relay.terminal {
        super::terminal::copy_size(1, m);
    }
    let stdin = std::io::stdin();
    let mut stdin_open = relay.input.is_some();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Order: signals, then each output, then the caller's stdin.
        let mut fds = Vec::new();
        if let Some(s) = &sfd {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        for (fd, _) in &relay.outputs {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut ready = ready.into_iter();
        if sfd.is_some() && ready.next() == Some(true) {
            if let Some(Ok(Some(info))) = sfd.as_ref().map(|s| s.read_signal()) {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) => {}
                    Ok(Signal::SIGWINCH) => {
                        if let Some(m) = relay.terminal {
                            super::terminal::copy_size(1, m);
                        }
                    }
                    Ok(sig) => {
                        let _ = kill(child, sig);
                    }
                    Err(_) => {}
                }
            }
            let code = match waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => Some(code),
                Ok(WaitStatus::Signaled(_, s, _)) => Some(128 + s as i32),
                _ => None,
            };
            if let Some(code) = code {
                relay.drain(&mut buf);
                return code;
            }
        }
        let outputs_ready: Vec<bool> = relay
            .outputs
            .iter()
            .map(|_| ready.next() == Some(true))
            .collect();
        relay.pump_ready(&outputs_ready, &mut buf);
        if stdin_open && ready.next() == Some(true) {
            let forwarded = match (nix::unistd::read(0, &mut buf), &relay.input) {
                (Ok(n), Some(input)) if n > 0 => super::write_all(input.as_fd(), &buf[..n]).is_ok(),
                _ => false,
            };
            if !forwarded {
                // EOF from the caller: the command reads EOF too (a terminal stays open).
                stdin_open = false;
                if relay.terminal.is_none() {
                    relay.input = None;
                }
            }
        }
    }
}
