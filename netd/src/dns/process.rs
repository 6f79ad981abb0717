//! One network's DNS server as a process of its own, `berth dns-server CONFIG`, so that
//! containers keep resolving each other's names while the daemon is down (killed, upgraded,
//! restarted), as netavark runs aardvark-dns apart from itself.
//!
//! Lifecycle, modelled on the container shims: the daemon execs the server and waits for
//! its first process to exit. That process binds the DNS sockets and the control socket
//! (so a bind error reaches the daemon as the start's error), forks, records the child's pid
//! and start time (`ServerRecord`, atomically) and exits; the child starts a session of its
//! own, answers queries until it is sent SIGTERM, and is nobody's child once the first
//! process is gone. A later daemon finds the record, checks the pid AND its start time (a
//! bare pid may have been recycled), and adopts the server; a server that died is started
//! again by the next resync.
//!
//! The daemon pushes each new name table through the control socket (`ServerProcess::
//! set_records`: one JSON document, answered `ok` once the table is in use), so a container
//! started right after its attach already resolves. Nothing is pushed when the table did not
//! change.

use super::{DnsError, Records, Shared};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long a push of the name table may take before the daemon gives up on the server
/// (a stopped or wedged server must not stall the daemon's network operations).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest name table a server accepts (a few hundred bytes per container).
const MAX_TABLE: u64 = 64 << 20;

/// Everything a server needs, handed over as its one JSON argument.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerConfig {
    pub network: String,
    pub listen: SocketAddr,
    pub upstream: Vec<SocketAddr>,
    /// The unix socket name tables are pushed through.
    pub control: PathBuf,
    /// Where the first process records the server for the daemons that adopt it.
    pub record: PathBuf,
}

/// What a daemon needs to find, verify and stop a running server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServerRecord {
    pub pid: i32,
    /// Start time of `pid` in clock ticks after boot (/proc/PID/stat field 22).
    pub start_time: u64,
    pub listen: SocketAddr,
    pub upstream: Vec<SocketAddr>,
    pub control: PathBuf,
}

/// Entry point of `berth dns-server CONFIG`; returns the first process's exit code.
pub fn main(config: &str) -> i32 {
    let cfg: ServerConfig = match serde_json::from_str(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth dns-server: invalid configuration: {e}");
            return 2;
        }
    };
    let (udp, tcp) = match bind(cfg.listen) {
        Ok(s) => s,
        Err((proto, e)) => {
            eprintln!("bind dns {proto} {}: {e}", cfg.listen);
            return 1;
        }
    };
    let _ = std::fs::remove_file(&cfg.control);
    let control = match UnixListener::bind(&cfg.control) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind {}: {e}", cfg.control.display());
            return 1;
        }
    };
    // The names of every container: root's only, as the daemon's socket.
    let _ = std::fs::set_permissions(&cfg.control, std::fs::Permissions::from_mode(0o600));
    // SAFETY: this process is single-threaded here (no runtime, no thread started), so the
    // child may run any code.
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            eprintln!("fork: {e}");
            1
        }
        Ok(nix::unistd::ForkResult::Child) => {
            detach();
            serve(cfg, udp, tcp, control)
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            let pid = child.as_raw();
            let record = ServerRecord {
                pid,
                start_time: start_time(pid).unwrap_or(0),
                listen: cfg.listen,
                upstream: cfg.upstream.clone(),
                control: cfg.control.clone(),
            };
            match write_record(&cfg.record, &record) {
                Ok(()) => {
                    println!("{}", serde_json::to_string(&record).unwrap_or_default());
                    0
                }
                Err(e) => {
                    // Unrecorded, no daemon could ever find and stop it.
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    eprintln!("writing {}: {e}", cfg.record.display());
                    1
                }
            }
        }
    }
}

/// Binds UDP and TCP on `addr`, retrying briefly while the address is in use: the server this
/// one replaces (killed a moment ago) may not have released it yet.
fn bind(
    addr: SocketAddr,
) -> Result<(std::net::UdpSocket, std::net::TcpListener), (&'static str, std::io::Error)> {
    let mut tries = 0;
    loop {
        let res = std::net::UdpSocket::bind(addr)
            .map_err(|e| ("udp", e))
            .and_then(|u| {
                Ok((
                    u,
                    std::net::TcpListener::bind(addr).map_err(|e| ("tcp", e))?,
                ))
            });
        match res {
            Err((_, e)) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// The server's own session, away from the daemon's terminal and pipes: the daemon reads
/// the first process's stdout to end-of-file, which must not wait for this one.
fn detach() {
    let _ = nix::unistd::setsid();
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
    // SAFETY: setting signal dispositions to SIG_IGN has no preconditions. A client gone
    // mid-answer must not kill the server; SIGHUP of a session leader's terminal neither.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        );
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGHUP,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
}

/// The long-lived server: the DNS loops and the control socket, on one thread.
fn serve(
    cfg: ServerConfig,
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
    control: UnixListener,
) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return 1,
    };
    rt.block_on(async move {
        let sockets = (|| {
            udp.set_nonblocking(true)?;
            tcp.set_nonblocking(true)?;
            control.set_nonblocking(true)?;
            Ok::<_, std::io::Error>((
                tokio::net::UdpSocket::from_std(udp)?,
                tokio::net::TcpListener::from_std(tcp)?,
                tokio::net::UnixListener::from_std(control)?,
            ))
        })();
        let Ok((udp, tcp, control)) = sockets else {
            return 1;
        };
        let shared = Shared::new(cfg.upstream);
        let _tasks = shared.serve(udp, tcp);
        loop {
            let Ok((conn, _)) = control.accept().await else {
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = control_conn(conn, &shared).await;
            });
        }
    })
}

/// One push: a JSON name table to end-of-file, answered `ok` once it is in use.
async fn control_conn(mut conn: tokio::net::UnixStream, shared: &Shared) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    tokio::time::timeout(
        CONTROL_TIMEOUT,
        (&mut conn).take(MAX_TABLE).read_to_end(&mut buf),
    )
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    match serde_json::from_slice::<Records>(&buf) {
        Ok(records) => {
            shared.set_records(records);
            conn.write_all(b"ok\n").await
        }
        Err(e) => conn.write_all(format!("error {e}\n").as_bytes()).await,
    }
}

/// A server process the daemon started or adopted. Dropping it leaves the process running
/// (a daemon that exits keeps its networks' names served); [`ServerProcess::stop`] ends it.
pub(crate) struct ServerProcess {
    network: String,
    record: ServerRecord,
    record_path: PathBuf,
    /// The newest table staged for the server, numbered (see [`ServerProcess::stage`]).
    staged: Mutex<(u64, Option<Records>)>,
    /// The number of the table the server has; held while pushing.
    pushed: Mutex<u64>,
}

impl ServerProcess {
    /// Starts `exe dns-server` for `cfg` and waits for its first process to report.
    pub async fn start(exe: &Path, cfg: ServerConfig) -> Result<ServerProcess, DnsError> {
        let json = serde_json::to_string(&cfg).unwrap_or_default();
        let out = tokio::process::Command::new(exe)
            .arg("dns-server")
            .arg(json)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|source| DnsError::Spawn {
                network: cfg.network.clone(),
                exe: exe.to_path_buf(),
                source,
            })?;
        let record: Option<ServerRecord> = serde_json::from_slice(&out.stdout).ok();
        match record {
            Some(record) if out.status.success() => {
                tracing::info!(network = %cfg.network, pid = record.pid, listen = %cfg.listen, "dns server started");
                Ok(ServerProcess {
                    network: cfg.network,
                    record,
                    record_path: cfg.record,
                    staged: Default::default(),
                    pushed: Default::default(),
                })
            }
            _ => Err(DnsError::Start {
                network: cfg.network,
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            }),
        }
    }

    /// The server recorded at `record_path` when it still runs and serves what `cfg` asks
    /// for. A live server for another address or upstream is stopped (the caller starts the
    /// right one); a dead one's files are removed.
    pub fn adopt(cfg: &ServerConfig) -> Option<ServerProcess> {
        let record: ServerRecord = std::fs::read(&cfg.record)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())?;
        let server = ServerProcess {
            network: cfg.network.clone(),
            record,
            record_path: cfg.record.clone(),
            // Unknown: whatever it serves is replaced by the first push.
            staged: Default::default(),
            pushed: Default::default(),
        };
        if server.is_running()
            && server.record.listen == cfg.listen
            && server.record.upstream == cfg.upstream
        {
            tracing::info!(network = %cfg.network, pid = server.record.pid, "re-adopted the dns server");
            return Some(server);
        }
        server.stop();
        None
    }

    /// The server recorded at `record_path`, whatever it serves (to stop it).
    pub fn recorded(network: &str, record_path: &Path) -> Option<ServerProcess> {
        let record: ServerRecord = std::fs::read(record_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())?;
        Some(ServerProcess {
            network: network.to_string(),
            record,
            record_path: record_path.to_path_buf(),
            staged: Default::default(),
            pushed: Default::default(),
        })
    }

    /// Whether the server runs and can be reached (its control socket is there).
    pub fn is_running(&self) -> bool {
        self.is_alive() && self.record.control.exists()
    }

    /// Whether the recorded process is still the server (pid and start time).
    fn is_alive(&self) -> bool {
        self.record.pid > 0 && start_time(self.record.pid) == Some(self.record.start_time)
    }

    /// Stages `records` as the server's next table and returns its number for
    /// [`ServerProcess::push`]. Staged under netd's state lock, so tables are numbered in the
    /// order of the changes they capture; pushed after it, so the ten attaches of a stack
    /// starting together wait out one round trip to the server process, not ten in a row.
    pub fn stage(&self, records: Records) -> u64 {
        let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        if staged.1.as_ref() != Some(&records) {
            staged.0 += 1;
            staged.1 = Some(records);
        }
        staged.0
    }

    /// Returns once the server uses table `gen` or a newer one, pushing the newest staged
    /// table itself if it does not yet.
    pub fn push(&self, gen: u64) -> Result<(), DnsError> {
        let mut pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner());
        if *pushed >= gen {
            return Ok(());
        }
        let (newest, records) = {
            let staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
            (staged.0, staged.1.clone().unwrap_or_default())
        };
        let io = |source| DnsError::Io {
            network: self.network.clone(),
            path: self.record.control.clone(),
            source,
        };
        let mut conn = UnixStream::connect(&self.record.control).map_err(io)?;
        conn.set_write_timeout(Some(CONTROL_TIMEOUT)).map_err(io)?;
        conn.set_read_timeout(Some(CONTROL_TIMEOUT)).map_err(io)?;
        let json = serde_json::to_vec(&records).map_err(|e| io(std::io::Error::other(e)))?;
        conn.write_all(&json).map_err(io)?;
        conn.shutdown(std::net::Shutdown::Write).map_err(io)?;
        let mut reply = String::new();
        conn.read_to_string(&mut reply).map_err(io)?;
        if reply.trim() != "ok" {
            return Err(io(std::io::Error::other(format!(
                "the server answered {:?}",
                reply.trim()
            ))));
        }
        *pushed = newest;
        Ok(())
    }

    /// Ends the server (SIGTERM, only if the recorded process is still the server) and
    /// removes its record and control socket.
    pub fn stop(&self) {
        if self.is_alive() {
            let pid = nix::unistd::Pid::from_raw(self.record.pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            tracing::info!(network = %self.network, pid = self.record.pid, "dns server stopped");
        }
        self.reap();
        let _ = std::fs::remove_file(&self.record.control);
        let _ = std::fs::remove_file(&self.record_path);
    }

    /// Collects the ended server's exit status when it is our child. Its first process
    /// exits at once, so the server is an orphan, handed to the nearest child subreaper: a
    /// daemon that is one (berth's is, for its shims) would otherwise keep every stopped or
    /// crashed server as a zombie. Only the recorded process is waited for (pid and start
    /// time, zombie or not), never another child that reused its pid; a server that is not
    /// ours (adopted from an earlier daemon) answers ECHILD.
    fn reap(&self) {
        let (pid, start) = (self.record.pid, self.record.start_time);
        if pid <= 0 {
            return;
        }
        std::thread::spawn(move || {
            use nix::sys::wait::{waitpid, WaitPidFlag};
            let pid_t = nix::unistd::Pid::from_raw(pid);
            // SIGTERM ends it within moments; a server that ignores it is left to its reaper.
            for _ in 0..200 {
                match stat(pid) {
                    Some((zombie, st)) if st == start => {
                        if zombie {
                            let _ = waitpid(pid_t, Some(WaitPidFlag::WNOHANG));
                            return;
                        }
                    }
                    _ => return,
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
    }
}

/// Writes the record atomically (temp file and rename): a reader sees all of it or nothing.
/// It describes a live process, meaningless after a host crash, so it is not fsynced.
fn write_record(path: &Path, record: &ServerRecord) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(record).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path)
}

/// Start time of `pid` in clock ticks since boot: field 22 of /proc/PID/stat, read after
/// the command name (which may hold spaces and parentheses). None once the process is gone
/// or a zombie.
/// The start time of a live (not zombie) process.
fn start_time(pid: i32) -> Option<u64> {
    stat(pid)
        .filter(|(zombie, _)| !zombie)
        .map(|(_, start)| start)
}

/// (is a zombie, start time) of `pid`, from /proc/PID/stat.
fn stat(pid: i32) -> Option<(bool, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    // Field 3 (state) is the first after the name; 22 is then the 20th.
    let zombie = fields.next()? == "Z";
    Some((zombie, fields.nth(18)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_self_and_gone() {
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some_and(|t| t > 0));
        assert_eq!(start_time(i32::MAX), None);
    }
}
