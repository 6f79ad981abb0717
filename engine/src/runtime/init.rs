//! What the shim's forked child does to become the container: it runs in a fresh pid namespace
//! (the shim unshared it) and never returns — it execs the container's process or exits.

use super::spec::Spec;
use super::sync::{Channel, Message, CGROUP_JOINED, ERROR, GO, READY};
use super::{caps, rootfs, user};
use crate::cgroups::Cgroup;
use crate::seccomp::Program;
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{
    chdir, execve, fork, setgid, setgroups, sethostname, setsid, setuid, ForkResult, Gid, Pid, Uid,
};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Exit codes Docker uses when the process cannot be started.
const EXIT_NOT_FOUND: i32 = 127;
const EXIT_CANNOT_RUN: i32 = 126;

/// A failure before exec: the exit code Docker would report and the message.
pub(crate) struct Failure(pub i32, pub String);

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure(EXIT_CANNOT_RUN, s)
    }
}

/// The container child's entry point.
pub(crate) fn run(spec: &Spec, chan: Channel, cgroup: Option<&Cgroup>) -> ! {
    let Failure(code, msg) = match setup_and_exec(spec, &chan, cgroup) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    let _ = chan.send(ERROR, &format!("{code} {msg}"));
    std::process::exit(code);
}

pub(crate) enum Never {}

fn setup_and_exec(spec: &Spec, chan: &Channel, cgroup: Option<&Cgroup>) -> Result<Never, Failure> {
    // First, while the host's cgroup mounts are in view and before anything of the container
    // runs (the cgroup2 part was done at fork).
    if let Some(cg) = cgroup {
        cg.join_v1_self()
            .map_err(|e| format!("joining cgroup: {e}"))?;
    }
    // Read while the host's paths are in view; a filter that cannot be read stops the start
    // (never run unfiltered by accident).
    let seccomp = match &spec.seccomp {
        Some(path) => Some(Program::read(path).map_err(|e| e.to_string())?),
        None => None,
    };
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC)
        .map_err(|e| format!("unsharing namespaces: {e}"))?;
    if let Some(netns) = &spec.netns {
        let f = File::open(netns)
            .map_err(|e| format!("opening network namespace {}: {e}", netns.display()))?;
        setns(&f, CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("joining network namespace {}: {e}", netns.display()))?;
    } else if spec.new_netns {
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("unsharing the network namespace: {e}"))?;
        loopback_up()?;
    }
    let view = cgroup.map(Cgroup::view);
    rootfs::prepare(spec, view.as_ref())?;
    sethostname(&spec.hostname).map_err(|e| format!("setting hostname: {e}"))?;
    if !spec.domainname.is_empty() {
        // SAFETY: a valid pointer/length pair to a live buffer.
        let rc =
            unsafe { libc::setdomainname(spec.domainname.as_ptr().cast(), spec.domainname.len()) };
        if rc != 0 {
            return Err(format!("setting domainname: {}", std::io::Error::last_os_error()).into());
        }
    }
    rootfs::finish(spec)?;
    wait_for(chan, CGROUP_JOINED)?;
    // The cgroup namespace is rooted where we stand now, i.e. in the container's cgroup.
    // Kernels without cgroup namespaces still run containers.
    let _ = unshare(CloneFlags::CLONE_NEWCGROUP);

    let proc = &spec.process;
    let who = user::resolve(&proc.user)?;
    let cwd = if proc.cwd.is_empty() {
        "/".to_string()
    } else {
        proc.cwd.clone()
    };
    // Docker creates a missing working directory (owned by root) rather than failing.
    let _ = std::fs::create_dir_all(&cwd);
    if proc.tty {
        super::tty::make_controlling_pty(chan, who.uid, proc.console_size)?;
    }
    let keep = caps::parse_set(&proc.capabilities)?;
    let mut env = proc.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", who.home));
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(super::DEFAULT_PATH)
        .to_string();
    let program = find_program(&proc.args, &path_var)?;

    chan.send(READY, "")
        .map_err(|e| format!("reporting readiness: {e}"))?;
    // The daemon answers its client and the client attaches now: the rest of the setup runs
    // meanwhile, so that after GO only exec is left. A failure from here is read by the shim
    // when it gives GO (see shim::go), as one after GO would be.
    for l in &proc.rlimits {
        set_rlimit(l)?;
    }
    drop_privileges_filtered(&keep, &who, proc.no_new_privileges, seccomp.as_ref())?;
    chdir(Path::new(&cwd)).map_err(|e| {
        Failure(
            EXIT_CANNOT_RUN,
            format!("chdir to cwd (\"{cwd}\") set in config.json failed: {e}"),
        )
    })?;
    verify_cwd()?;
    close_inherited_fds();
    reset_signals();
    // Under the container's seccomp filter and identity by now: read(2), which no usable
    // profile denies, rather than recvmsg.
    match chan.recv_plain() {
        Ok(GO) => {}
        Ok(_) => {
            return Err(
                String::from("unexpected message from the shim while waiting for GO").into(),
            )
        }
        Err(e) => return Err(format!("waiting for the shim: {e}").into()),
    }
    if proc.init {
        run_with_init(&program, &proc.args, &env, chan)
    } else {
        exec(&program, &proc.args, &env)
    }
}

/// A new network namespace's loopback starts down; containers expect it up.
fn loopback_up() -> Result<(), Failure> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("socket: {e}"))?;
    // SAFETY: ifreq is plain data; the ioctls read and write it in place.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(format!(
                "reading loopback flags: {}",
                std::io::Error::last_os_error()
            )
            .into());
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) != 0 {
            return Err(
                format!("bringing loopback up: {}", std::io::Error::last_os_error()).into(),
            );
        }
    }
    Ok(())
}

/// `drop_privileges` with the seccomp filter installed where runc installs it: without
/// no_new_privs, loading a filter needs CAP_SYS_ADMIN, so it goes first (the profile allows
/// what dropping privileges calls); with no_new_privs, as late as possible, so as few calls
/// as possible run under it before exec.
pub(crate) fn drop_privileges_filtered(
    keep: &caps::CapsSet,
    who: &user::ResolvedUser,
    no_new_privileges: bool,
    seccomp: Option<&Program>,
) -> Result<(), Failure> {
    let install = |p: &Program| p.install().map_err(|e| Failure::from(e.to_string()));
    if let (Some(p), false) = (seccomp, no_new_privileges) {
        install(p)?;
    }
    drop_privileges(keep, who, no_new_privileges)?;
    if let (Some(p), true) = (seccomp, no_new_privileges) {
        install(p)?;
    }
    Ok(())
}

/// Bounding set, uid/gid switch, remaining capabilities, no_new_privs: the order matters, as
/// the bounding set can only shrink while CAP_SETPCAP is held (before the uid change).
pub(crate) fn drop_privileges(
    keep: &caps::CapsSet,
    who: &user::ResolvedUser,
    no_new_privileges: bool,
) -> Result<(), Failure> {
    caps::limit_bounding(keep)?;
    // Keep permitted capabilities across the uid change; apply_after_setuid trims them.
    nix::sys::prctl::set_keepcaps(true).map_err(|e| format!("keepcaps: {e}"))?;
    let groups: Vec<Gid> = who
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    setgroups(&groups).map_err(|e| format!("setgroups: {e}"))?;
    setgid(Gid::from_raw(who.gid)).map_err(|e| format!("setgid {}: {e}", who.gid))?;
    setuid(Uid::from_raw(who.uid)).map_err(|e| format!("setuid {}: {e}", who.uid))?;
    caps::apply_after_setuid(keep, who.uid)?;
    if no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    }
    Ok(())
}

fn wait_for(chan: &Channel, kind: u8) -> Result<(), Failure> {
    match chan.recv() {
        Ok(Message::Kind(k, _)) if k == kind => Ok(()),
        Ok(_) => Err(format!(
            "unexpected message from the shim while waiting for {}",
            kind as char
        )
        .into()),
        Err(e) => Err(format!("waiting for the shim: {e}").into()),
    }
}

pub(crate) fn set_rlimit(l: &super::spec::Rlimit) -> Result<(), Failure> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let res = match l.name.as_str() {
        "nofile" => Resource::RLIMIT_NOFILE,
        "nproc" => Resource::RLIMIT_NPROC,
        "core" => Resource::RLIMIT_CORE,
        "cpu" => Resource::RLIMIT_CPU,
        "data" => Resource::RLIMIT_DATA,
        "fsize" => Resource::RLIMIT_FSIZE,
        "locks" => Resource::RLIMIT_LOCKS,
        "memlock" => Resource::RLIMIT_MEMLOCK,
        "msgqueue" => Resource::RLIMIT_MSGQUEUE,
        "nice" => Resource::RLIMIT_NICE,
        "rss" => Resource::RLIMIT_RSS,
        "rtprio" => Resource::RLIMIT_RTPRIO,
        "rttime" => Resource::RLIMIT_RTTIME,
        "sigpending" => Resource::RLIMIT_SIGPENDING,
        "stack" => Resource::RLIMIT_STACK,
        "as" => Resource::RLIMIT_AS,
        other => return Err(format!("unknown ulimit {other}").into()),
    };
    // Without CAP_SYS_RESOURCE a hard limit can't be raised: clamp to what the host allows
    // rather than failing the container.
    let (_, host_hard) = getrlimit(res).map_err(|e| format!("getrlimit {}: {e}", l.name))?;
    let hard = l.hard.min(host_hard);
    let soft = l.soft.min(hard);
    setrlimit(res, soft, hard).map_err(|e| format!("setrlimit {}: {e}", l.name).into())
}

/// After chdir the kernel must see the directory under the container's root: a cwd reached
/// through a leaked host descriptor shows as "(unreachable)" (CVE-2024-21626).
pub(crate) fn verify_cwd() -> Result<(), Failure> {
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() && !p.to_string_lossy().starts_with("(unreachable)") => Ok(()),
        Ok(p) => Err(format!(
            "current working directory {} is outside the container",
            p.display()
        )
        .into()),
        Err(e) => Err(format!("current working directory is outside the container: {e}").into()),
    }
}

/// Every descriptor past stdio is marked close-on-exec, so the container inherits none of the
/// shim's (the channel included: its closing tells the shim the exec succeeded).
pub(crate) fn close_inherited_fds() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc != 0 {
        for fd in 3..1024 {
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
    }
}

/// The shim blocks signals it reads through a signalfd; execve keeps the mask, so undo it.
pub(crate) fn reset_signals() {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            // SAFETY: resetting to the default disposition has no preconditions.
            let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
        }
    }
}

pub(crate) fn find_program(args: &[String], path_var: &str) -> Result<String, Failure> {
    let Some(name) = args.first() else {
        return Err(Failure(EXIT_CANNOT_RUN, "no command specified".into()));
    };
    if name.contains('/') {
        return if Path::new(name).exists() {
            Ok(name.clone())
        } else {
            Err(Failure(
                EXIT_NOT_FOUND,
                format!("exec: \"{name}\": stat {name}: no such file or directory"),
            ))
        };
    }
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = format!("{dir}/{name}");
        if let Ok(md) = std::fs::metadata(&candidate) {
            if md.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Failure(
        EXIT_NOT_FOUND,
        format!("exec: \"{name}\": executable file not found in $PATH"),
    ))
}

fn cstrings(v: &[String]) -> Result<Vec<CString>, Failure> {
    v.iter()
        .map(|s| {
            CString::new(s.as_bytes()).map_err(|_| {
                Failure(
                    EXIT_CANNOT_RUN,
                    format!("argument contains a NUL byte: {s:?}"),
                )
            })
        })
        .collect()
}

pub(crate) fn exec(program: &str, args: &[String], env: &[String]) -> Result<Never, Failure> {
    let prog = CString::new(program)
        .map_err(|_| Failure(EXIT_CANNOT_RUN, "program path contains a NUL byte".into()))?;
    let e = execve(&prog, &cstrings(args)?, &cstrings(env)?).unwrap_err();
    let code = if e == nix::errno::Errno::ENOENT {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_RUN
    };
    Err(Failure(
        code,
        format!("exec: \"{program}\": {}", e.desc().to_lowercase()),
    ))
}

/// `--init`: pid 1 stays berth's, reaping orphans and forwarding signals to the real process,
/// so a main process that ignores SIGTERM as pid 1 still stops at once.
fn run_with_init(
    program: &str,
    args: &[String],
    env: &[String],
    chan: &Channel,
) -> Result<Never, Failure> {
    let all = SigSet::all();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None)
        .map_err(|e| format!("blocking signals: {e}"))?;
    // SAFETY: this process is single-threaded (the shim never starts threads).
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let _ = setsid();
            reset_signals();
            exec(program, args, env)
        }
        ForkResult::Parent { child } => {
            // Our copy of the channel must close for the shim to see the child's exec succeed.
            let _ = nix::unistd::close(chan.0.as_raw_fd());
            init_loop(child, &all)
        }
    }
}

fn init_loop(child: Pid, all: &SigSet) -> ! {
    loop {
        let Ok(sig) = all.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = kill(child, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => std::process::exit(code),
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => {
                    std::process::exit(128 + s as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
