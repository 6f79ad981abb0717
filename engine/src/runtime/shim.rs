//! `berth shim BUNDLE`: one per container, single-threaded, no async runtime.
//!
//! The daemon execs the shim, lets it go on once the container's files are ready (see
//! [`GO_ENV`]) and reads its stdout to end-of-file: one line, `ok ` and a
//! [`ShimRecord`], or `error ` and why the container could not start. The process the daemon
//! started forks the real shim off at once (in its own session, so it survives the daemon and
//! its terminal; the daemon, a child subreaper, becomes its parent again and reaps it) and
//! exits. The real shim creates the container, writes that line and lets go of the socket,
//! so the daemon goes on the moment the container is ready, not when a process it waits for
//! has ended. The shim then holds the container's stdio: it writes the JSON log, serves attach
//! clients on a unix socket, and records the exit status on disk before it exits. It holds
//! the container's shim lock (`shim_lock`) all along.

use super::attach;
use super::fork;
use super::init;
use super::logs::{now_rfc3339, LogWriter};
use super::procinfo;
use super::spec::{ExitRecord, ShimRecord, Spec};
use super::sync::{self, Channel, Message, CGROUP_JOINED, ERROR, GO, READY};
use crate::fsutil::{read_json, replace_json, write_json};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{dup2, fork, pipe2, setsid, ForkResult, Pid};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// The spec file's name inside a container's bundle directory.
pub const SPEC_FILE: &str = "runtime.json";

/// With this in its environment the shim waits, before it reads its spec, for one byte on
/// its stdout (then a socket of the daemon's, which also carries the report back): the
/// daemon spawns the shim first and prepares the container's cgroup, network and files
/// while the shim's binary loads. End-of-file instead of the byte means the start was given
/// up: the shim exits having done nothing.
pub const GO_ENV: &str = "BERTH_SHIM_GO";

/// Entry point of `berth shim BUNDLE`; returns the exit code of the first process, which
/// says only whether the real shim was forked (the outcome is the line on stdout).
pub fn main(bundle: &Path) -> i32 {
    let Some(spec) = ready(bundle) else {
        return 1;
    };
    // SAFETY: the shim is single-threaded at this point (no runtime, no threads started).
    match unsafe { fork() } {
        Err(e) => {
            eprintln!("fork: {e}");
            1
        }
        Ok(ForkResult::Parent { .. }) => 0,
        Ok(ForkResult::Child) => std::process::exit(run_detached(spec)),
    }
}

/// The shim as the shim server's child (see shim_server): already a process of its own
/// whose parent reaps it, so it is the real shim itself, without forking one off.
pub(crate) fn main_forked(bundle: &Path) -> i32 {
    match ready(bundle) {
        Some(spec) => run_detached(spec),
        None => 1,
    }
}

/// Everything before the real shim: the inherited lock kept, the daemon's go-ahead awaited,
/// the spec read. None when the start was given up or the spec cannot be read.
fn ready(bundle: &Path) -> Option<Spec> {
    // Before anything else: the lock the daemon handed down proves we are alive until the
    // last of our processes ends.
    super::shim_lock::keep_inherited();
    if std::env::var_os(GO_ENV).is_some() {
        // Single-threaded: changing the environment races with nothing.
        std::env::remove_var(GO_ENV);
        if !wait_for_go() {
            return None;
        }
    }
    match read_json(&bundle.join(SPEC_FILE)) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("reading {}: {e}", bundle.join(SPEC_FILE).display());
            None
        }
    }
}

/// The real shim, in a session of its own; its exit code.
fn run_detached(spec: Spec) -> i32 {
    let _ = setsid();
    // The outcome goes to the daemon's socket (our stdout) through a descriptor of its
    // own: stdio itself is let go of at once (see detach_stdio).
    let report = match nix::fcntl::fcntl(1, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3)) {
        // SAFETY: a fresh descriptor that nothing else owns.
        Ok(fd) => unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) },
        Err(_) => return 1,
    };
    Shim::run(spec, report)
}

/// Reads the daemon's go-ahead (see [`GO_ENV`]); false at end-of-file or on an error.
fn wait_for_go() -> bool {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(1, &mut byte) {
            Ok(1) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return false,
        }
    }
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    /// A write to it failed: it gets no more output, but what it sent before hanging up
    /// (a resize, its last input) is still read.
    deaf: bool,
    /// It hung up: dropped at the end of the loop's turn, never in the middle, where the
    /// indices of the clients poll found ready are still in use.
    gone: bool,
}

struct Shim {
    spec: Spec,
    log: LogWriter,
    /// Container output: stdout and stderr pipes, or the terminal master.
    outputs: Vec<(u8, OwnedFd)>,
    /// Where client input goes: the stdin pipe or the terminal master.
    stdin: Option<OwnedFd>,
    tty_master: Option<OwnedFd>,
    clients: Vec<Client>,
    listener: UnixListener,
}

impl Shim {
    fn run(spec: Spec, report: File) -> i32 {
        detach_stdio();
        // No process in a container may read this one's memory or /proc/PID/exe.
        let _ = nix::sys::prctl::set_dumpable(false);
        let _ = std::env::set_current_dir("/");
        let mut report = Some(report);
        match Shim::start(spec, &mut report) {
            Ok((shim, child, chan)) => shim.serve(child, chan),
            Err(e) => {
                if let Some(mut r) = report {
                    let _ = r.write_all(format!("error {e}").as_bytes());
                }
                1
            }
        }
    }

    /// Creates the container up to the point where it waits for GO.
    /// `report` is taken (written and closed) once the caller may go on: the first shim
    /// process reads it to end-of-file, so it must close as soon as the outcome is known.
    fn start(spec: Spec, report: &mut Option<File>) -> Result<(Shim, Pid, Channel), String> {
        // SIGPIPE from a vanished attach client must not kill the shim.
        // SAFETY: setting a signal to be ignored has no preconditions.
        let _ = unsafe {
            nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn)
        };
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block().map_err(e("blocking SIGCHLD"))?;

        let log = LogWriter::open(&spec.log)
            .map_err(|err| format!("opening log {}: {err}", spec.log.path.display()))?;
        let _ = std::fs::remove_file(&spec.attach_socket);
        if let Some(dir) = spec.attach_socket.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let listener = UnixListener::bind(&spec.attach_socket)
            .map_err(|err| format!("binding {}: {err}", spec.attach_socket.display()))?;
        let _ =
            std::fs::set_permissions(&spec.attach_socket, std::fs::Permissions::from_mode(0o600));
        listener
            .set_nonblocking(true)
            .map_err(|err| format!("attach socket: {err}"))?;

        let flags = nix::fcntl::OFlag::O_CLOEXEC;
        let mut outputs = Vec::new();
        let mut child_stdio: Vec<Option<OwnedFd>> = vec![None, None, None];
        let mut stdin = None;
        if !spec.process.tty {
            for stream in [attach::STDOUT, attach::STDERR] {
                let (r, w) = pipe2(flags).map_err(e("pipe"))?;
                outputs.push((stream, r));
                child_stdio[stream as usize] = Some(w);
            }
            if spec.process.stdin {
                let (r, w) = pipe2(flags).map_err(e("pipe"))?;
                child_stdio[0] = Some(r);
                stdin = Some(w);
            }
        }
        let (mine, theirs) = sync::pair().map_err(e("socketpair"))?;
        let cgroup = match &spec.cgroup {
            Some(cg) => Some(
                match &cg.hierarchies {
                    Some(h) => crate::cgroups::Cgroup::open_on(h, &cg.parent, &cg.name),
                    None => crate::cgroups::Cgroup::open(&cg.parent, &cg.name),
                }
                .map_err(|err| format!("opening cgroup {}/{}: {err}", cg.parent, cg.name))?,
            ),
            None => None,
        };
        let cgroup2 = match cgroup.as_ref().and_then(|c| c.cgroup2_dir()) {
            Some(dir) => Some(
                fork::open_dir(dir).map_err(|err| format!("opening {}: {err}", dir.display()))?,
            ),
            None => None,
        };

        // The child becomes pid 1 of a new pid namespace; the shim stays outside it. It is
        // born in the cgroup2 directory and moves itself into the v1 ones (init::run), the two
        // ways of joining a cgroup that wait for no RCU grace period.
        unshare(CloneFlags::CLONE_NEWPID).map_err(e("unsharing the pid namespace"))?;
        // SAFETY: single-threaded; the child only runs the init code and then execs or exits.
        let (forked, born_in_cgroup2) =
            unsafe { fork::fork_into(cgroup2.as_ref().map(|d| d.as_fd())) }.map_err(e("fork"))?;
        let child = match forked {
            ForkResult::Child => {
                // The report pipe must close when the shim says so, not when this child execs.
                drop(report.take());
                drop(mine);
                drop(listener);
                let devnull = File::open("/dev/null").ok().map(OwnedFd::from);
                for (target, fd) in child_stdio.iter().enumerate() {
                    if let Some(src) = fd.as_ref().or(devnull.as_ref()) {
                        let _ = dup2(src.as_raw_fd(), target as i32);
                    }
                }
                drop(child_stdio);
                for (_, fd) in outputs {
                    drop(fd);
                }
                drop(stdin);
                drop(cgroup2);
                init::run(&spec, theirs, cgroup.as_ref())
            }
            ForkResult::Parent { child } => child,
        };
        drop(theirs);
        drop(child_stdio);

        let fail = |msg: String| {
            let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
            let _ = std::fs::remove_file(&spec.attach_socket);
            msg
        };
        drop(cgroup2);
        if let (Some(cg), false) = (&cgroup, born_in_cgroup2) {
            if let Err(err) = cg.add_pid_cgroup2(child.as_raw()) {
                return Err(fail(format!(
                    "joining cgroup {}/{}: {err}",
                    cg.parent(),
                    cg.name()
                )));
            }
        }
        // A child that already failed has closed its end; its error is read just below.
        let _ = mine.send(CGROUP_JOINED, "");
        let mut tty_master = None;
        loop {
            match mine.recv() {
                Ok(Message::Fd(fd)) => tty_master = Some(fd),
                Ok(Message::Kind(READY, _)) => break,
                Ok(Message::Kind(ERROR, msg)) => return Err(fail(start_error(&spec, &msg))),
                Ok(_) => return Err(fail("unexpected message from the container init".into())),
                Err(err) => return Err(fail(format!("sync: {err}"))),
            }
        }
        if let Some(master) = &tty_master {
            outputs.push((
                attach::STDOUT,
                master
                    .try_clone()
                    .map_err(|err| fail(format!("dup: {err}")))?,
            ));
            stdin = Some(
                master
                    .try_clone()
                    .map_err(|err| fail(format!("dup: {err}")))?,
            );
        }
        let record = ShimRecord {
            shim_pid: std::process::id() as i32,
            shim_start_time: procinfo::start_time(std::process::id() as i32).unwrap_or(0),
            pid: child.as_raw(),
            pid_start_time: procinfo::start_time(child.as_raw()).unwrap_or(0),
        };
        // Pids and start times of live processes mean nothing after a host crash: atomic
        // is enough, durable is not needed (see fsutil::replace_file).
        replace_json(&spec.shim_record, &record)
            .map_err(|err| fail(format!("writing {}: {err}", spec.shim_record.display())))?;
        let record_json = serde_json::to_string(&record).unwrap_or_default();
        let mut shim = Shim {
            spec,
            log,
            outputs,
            stdin,
            tty_master,
            clients: Vec::new(),
            listener,
        };

        if shim.spec.wait_attach {
            // The caller attaches next; exec errors then reach it through the attach socket.
            send_report(report, &record_json);
            shim.wait_first_client(Duration::from_secs(60));
        }
        if let Err(msg) = go(&mine) {
            let code = exit_code_of(&msg);
            let text = msg
                .split_once(' ')
                .map(|(_, t)| t)
                .unwrap_or(&msg)
                .to_string();
            shim.broadcast(attach::ERROR, msg.as_bytes());
            let _ = waitpid(child, None);
            shim.record_exit(code, None, Some(text.clone()));
            let _ = std::fs::remove_file(&shim.spec.attach_socket);
            return Err(text);
        }
        send_report(report, &record_json);
        Ok((shim, child, mine))
    }

    fn wait_first_client(&mut self, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while self.clients.is_empty() && std::time::Instant::now() < deadline {
            let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(100u16));
            self.accept();
        }
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            let _ = stream.set_nonblocking(false);
            // A stalled client may hold up output for a moment, never forever.
            let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
            self.clients.push(Client {
                stream,
                inbuf: Vec::new(),
                deaf: false,
                gone: false,
            });
        }
    }

    /// Sends a frame to every client; one that cannot take it gets no more (see `Client`).
    fn broadcast(&mut self, kind: u8, payload: &[u8]) {
        let frame = attach::encode(kind, payload);
        for c in self.clients.iter_mut().filter(|c| !c.deaf) {
            if c.stream.write_all(&frame).is_err() {
                c.deaf = true;
            }
        }
    }

    fn record_exit(&mut self, code: i32, signal: Option<i32>, error: Option<String>) {
        self.log.flush();
        let rec = ExitRecord {
            exit_code: code,
            signal,
            finished_at: now_rfc3339(),
            error,
        };
        let written = match self.spec.ephemeral {
            true => replace_json(&self.spec.exit_record, &rec),
            false => write_json(&self.spec.exit_record, &rec),
        };
        if let Err(e) = written {
            tracing::error!(path = %self.spec.exit_record.display(), error = %e, "cannot record the exit status");
        }
    }

    /// The main loop: output to log and clients, client input to the container, until exit.
    fn serve(mut self, child: Pid, chan: Channel) -> i32 {
        drop(chan);
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        let Ok(sfd) = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        else {
            return 1;
        };
        let mut status = None;
        let mut exited_at: Option<std::time::Instant> = None;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            if status.is_none() {
                status = reap(child);
                if status.is_some() {
                    exited_at = Some(std::time::Instant::now());
                }
            }
            // After the exit, keep draining output until every writer closed it (pid 1's end
            // kills the rest of the namespace, so that is quick), for at most a second.
            if let Some(t) = exited_at {
                if self.outputs.is_empty() || t.elapsed() > Duration::from_secs(1) {
                    break;
                }
            }
            let (ready_outputs, ready_clients, listener_ready) = {
                let mut fds: Vec<PollFd> = Vec::new();
                fds.push(PollFd::new(sfd.as_fd(), PollFlags::POLLIN));
                fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
                for (_, fd) in &self.outputs {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                }
                for c in &self.clients {
                    fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
                }
                let timeout = if exited_at.is_some() {
                    PollTimeout::from(50u16)
                } else {
                    PollTimeout::NONE
                };
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => break,
                }
                let hit = |f: &PollFd| f.revents().map(|r| !r.is_empty()).unwrap_or(false);
                let n_out = self.outputs.len();
                let outs: Vec<usize> = (0..n_out).filter(|i| hit(&fds[2 + i])).collect();
                let cls: Vec<usize> = (0..self.clients.len())
                    .filter(|i| hit(&fds[2 + n_out + i]))
                    .collect();
                if hit(&fds[0]) {
                    while let Ok(Some(_)) = sfd.read_signal() {}
                }
                (outs, cls, hit(&fds[1]))
            };
            let mut closed = Vec::new();
            for i in ready_outputs {
                let (stream, fd) = &self.outputs[i];
                let stream = *stream;
                match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
                    Ok(0) | Err(nix::errno::Errno::EIO) => closed.push(i),
                    Ok(n) => {
                        let data = buf[..n].to_vec();
                        self.log.write(stream, &data);
                        self.broadcast(stream, &data);
                    }
                    Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                    Err(_) => closed.push(i),
                }
            }
            for i in closed.into_iter().rev() {
                self.outputs.remove(i);
            }
            if listener_ready {
                self.accept();
            }
            // Indices from this turn's poll: no client was removed since (see `Client`).
            for i in ready_clients {
                if self.clients[i].gone {
                    continue;
                }
                match self.clients[i].stream.read(&mut buf) {
                    Ok(0) | Err(_) => self.clients[i].gone = true,
                    Ok(n) => {
                        self.clients[i].inbuf.extend_from_slice(&buf[..n]);
                        let frames = attach::split_frames(&mut self.clients[i].inbuf);
                        for (kind, payload) in frames {
                            self.client_input(kind, &payload);
                        }
                    }
                }
            }
            self.clients.retain(|c| !c.gone);
        }
        let status = status.unwrap_or(WaitStatus::Exited(child, 255));
        let (code, signal) = match status {
            WaitStatus::Exited(_, c) => (c, None),
            WaitStatus::Signaled(_, s, _) => (128 + s as i32, Some(s as i32)),
            _ => (255, None),
        };
        self.record_exit(code, signal, None);
        self.broadcast(attach::EXIT, code.to_string().as_bytes());
        let _ = std::fs::remove_file(&self.spec.attach_socket);
        0
    }

    fn client_input(&mut self, kind: u8, payload: &[u8]) {
        match kind {
            attach::STDIN => {
                if let Some(fd) = &self.stdin {
                    let _ = super::write_all(fd, payload);
                }
            }
            attach::CLOSE_STDIN if self.tty_master.is_none() => self.stdin = None,
            attach::RESIZE if payload.len() == 4 => {
                if let Some(master) = &self.tty_master {
                    super::terminal::set_size(
                        master.as_raw_fd(),
                        u16::from_be_bytes([payload[0], payload[1]]),
                        u16::from_be_bytes([payload[2], payload[3]]),
                    );
                }
            }
            _ => {}
        }
    }
}

fn send_report(report: &mut Option<File>, record_json: &str) {
    if let Some(mut r) = report.take() {
        let _ = r.write_all(format!("ok {record_json}").as_bytes());
    }
}

fn e(what: &'static str) -> impl Fn(nix::Error) -> String {
    move |err| format!("{what}: {err}")
}

/// Sends GO and waits for the exec: end-of-file on the channel means it happened.
fn go(chan: &Channel) -> Result<(), String> {
    // An init that failed before GO has sent its error and gone: the send fails, and the
    // error is still there to read.
    let sent = chan.send(GO, "");
    match chan.recv() {
        Ok(Message::Kind(ERROR, msg)) => Err(msg),
        Ok(Message::Closed) => sent.map_err(|e| format!("126 sync: {e}")),
        Ok(_) => Err("126 unexpected message from the container init".into()),
        Err(e) => Err(format!("126 sync: {e}")),
    }
}

fn exit_code_of(msg: &str) -> i32 {
    msg.split_once(' ')
        .and_then(|(c, _)| c.parse().ok())
        .unwrap_or(126)
}

/// A setup failure becomes Docker's wording: the runtime's message, with the exit code kept in
/// the exit record by the caller.
fn start_error(spec: &Spec, msg: &str) -> String {
    let text = msg.split_once(' ').map(|(_, t)| t).unwrap_or(msg);
    let _ = write_json(
        &spec.exit_record,
        &ExitRecord {
            exit_code: exit_code_of(msg),
            signal: None,
            finished_at: now_rfc3339(),
            error: Some(text.to_string()),
        },
    );
    text.to_string()
}

fn reap(child: Pid) -> Option<WaitStatus> {
    match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => None,
        Ok(s @ WaitStatus::Exited(..)) | Ok(s @ WaitStatus::Signaled(..)) => Some(s),
        Ok(_) => None,
        Err(_) => Some(WaitStatus::Exited(child, 255)),
    }
}

/// The daemon reads our stdout (its socket) and stderr until end-of-file; the long-lived
/// shim must not keep them open (its report goes through a descriptor of its own).
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            let _ = dup2(null.as_raw_fd(), fd);
        }
    }
}
