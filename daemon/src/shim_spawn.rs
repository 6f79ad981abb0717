//! Starting a container's shim and reading its report.
//!
//! The shim (`berth_engine::runtime::shim`) is started first, before anything of the start is
//! ready, and waits (`shim::GO_ENV`): starting it takes as long as the daemon's own part of a
//! start (cgroup, network, /etc files, spec), so the two overlap on a second CPU.
//! [`Pending::go`] then lets it on and reads its answer from the same socket, its stdout:
//! `ok ` and its [`ShimRecord`] once the container is ready, or `error ` and why not, then
//! end-of-file. Nothing more is waited for: the shim's process is reaped by whoever is its
//! parent (an exec'd shim forks the real shim off and exits). Its stderr carries what a shim
//! says before it could start the container's init (an unreadable spec).
//!
//! A shim is forked by the daemon's [`ShimServer`] (`berth_engine::runtime::shim_server`),
//! which spares each start an exec of the 26 MB binary. When the server cannot take it (it
//! could not be started, or its socket is full), the shim is exec'd as before: the spawn
//! passes the container's shim lock as the shim's stdin (see
//! `shim_lock::StartLock::as_stdin`) and sets no hook in the child, so the standard library
//! spawns with vfork semantics instead of copying the daemon's address space with fork.

use berth_engine::runtime::shim::GO_ENV;
use berth_engine::runtime::shim_lock::{self, StartLock};
use berth_engine::runtime::shim_server;
use berth_engine::runtime::spec::ShimRecord;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// How a shim's start ended.
pub enum Outcome {
    /// The container runs (or waits for its attach client), held by this shim.
    Started(ShimRecord),
    /// It could not start: the shim's message.
    Failed(String),
}

/// The daemon's shim server: started at the first container start, and again when it is
/// found gone (its socket refuses a request).
pub struct ShimServer {
    exe: PathBuf,
    /// The daemon's end of the server's socket.
    conn: std::sync::Mutex<Option<OwnedFd>>,
}

impl ShimServer {
    pub fn new(exe: &Path) -> ShimServer {
        ShimServer {
            exe: exe.to_path_buf(),
            conn: Default::default(),
        }
    }

    /// Hands a start to the server; false when it could not be (the caller execs the shim).
    /// A server that dies after taking a request closes its copy of the report socket: that
    /// start fails as one whose shim ended early, and the next start finds the server gone.
    fn hand(&self, bundle: &Path, lock: &StartLock, report: &OwnedFd, stderr: &OwnedFd) -> bool {
        let mut conn = self.conn.lock().unwrap();
        for _ in 0..2 {
            if conn.is_none() {
                match self.launch() {
                    Ok(c) => *conn = Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "starting the shim server; shims are exec'd");
                        return false;
                    }
                }
            }
            let sock = conn.as_ref().expect("connected").as_raw_fd();
            let fds = [lock.as_fd(), report.as_fd(), stderr.as_fd()];
            match shim_server::request(sock, bundle, fds) {
                Ok(()) => return true,
                // Full: this one is exec'd, the server catches up.
                Err(nix::errno::Errno::EAGAIN) => return false,
                // Gone (killed, or failed): a new one.
                Err(e) => {
                    tracing::warn!(error = %e, "the shim server is gone; starting another");
                    *conn = None;
                }
            }
        }
        false
    }

    /// `exe shim-server PAD` on one end of a new socket pair; the other end is ours. It ends
    /// when that end closes (this daemon gone), and is reaped then.
    fn launch(&self) -> std::io::Result<OwnedFd> {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let mut child = tokio::process::Command::new(&self.exe)
            .arg("shim-server")
            .arg(" ".repeat(shim_server::PAD_LEN))
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .spawn()?;
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(ours)
    }
}

/// A shim started and waiting for [`Pending::go`] (or [`Pending::cancel`]).
pub struct Pending {
    /// The exec'd shim; None for one the server forked (the server reaps it).
    child: Option<tokio::process::Child>,
    chan: tokio::net::UnixStream,
    stderr: Pin<Box<dyn AsyncRead + Send>>,
}

/// Starts the shim of the container whose bundle is `bundle`, with `lock` handed down: forked
/// by `server`, else `EXE shim BUNDLE` exec'd from the server's binary. The shim waits until
/// told to go.
pub fn spawn(server: &ShimServer, bundle: &Path, lock: &StartLock) -> std::io::Result<Pending> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    let chan = tokio::net::UnixStream::from_std(ours)?;
    let theirs = OwnedFd::from(theirs);
    let (err_read, err_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    if server.hand(bundle, lock, &theirs, &err_write) {
        drop((theirs, err_write));
        let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(err_read)?;
        return Ok(Pending {
            child: None,
            chan,
            stderr: Box::pin(stderr),
        });
    }
    drop((err_read, err_write));
    let mut child = tokio::process::Command::new(&server.exe)
        .arg("shim")
        .arg(bundle)
        .env(shim_lock::ENV, "0")
        .env(GO_ENV, "1")
        .stdin(lock.as_stdin()?)
        .stdout(Stdio::from(theirs))
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped");
    Ok(Pending {
        child: Some(child),
        chan,
        stderr: Box::pin(stderr),
    })
}

impl Pending {
    /// Lets the shim read its spec and start the container; its report.
    pub async fn go(mut self) -> std::io::Result<Outcome> {
        // A shim gone already fails this write; what it said is read below all the same.
        let _ = self.chan.write_all(b"g").await;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (read_out, read_err) = tokio::join!(
            self.chan.read_to_end(&mut out),
            self.stderr.read_to_end(&mut err)
        );
        // Its status says only whether it forked; the report says how the start went.
        if let Some(mut child) = self.child {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        read_out?;
        read_err?;
        Ok(parse(&out, &err))
    }

    /// The start was given up before the shim was let on: it sees end-of-file and exits
    /// having done nothing. Waited for, so that its hold on the shim lock is gone when this
    /// returns (a start tried again at once finds the lock free).
    pub async fn cancel(mut self) {
        match self.child {
            Some(mut child) => {
                drop(self.chan);
                let _ = child.wait().await;
            }
            None => {
                // Our end stays open for reading: its end-of-file comes once every holder of
                // the shim's end is gone, the shim (whose lock goes with it) and the server's
                // copy (closed after its copy of the lock).
                let _ = self.chan.shutdown().await;
                let mut rest = Vec::new();
                let _ = self.chan.read_to_end(&mut rest).await;
            }
        }
    }
}

fn parse(out: &[u8], err: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(out);
    if let Some(record) = text.strip_prefix("ok ") {
        return match serde_json::from_str(record.trim()) {
            Ok(r) => Outcome::Started(r),
            Err(e) => Outcome::Failed(format!("reading the shim's report: {e}")),
        };
    }
    let msg = match text.strip_prefix("error ") {
        Some(m) => m.trim().to_string(),
        None => String::from_utf8_lossy(err).trim().to_string(),
    };
    Outcome::Failed(match msg.is_empty() {
        true => "the shim ended before the container started".into(),
        false => msg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_read_as_the_shim_writes_them() {
        let ok = br#"ok {"shim_pid":7,"shim_start_time":8,"pid":9,"pid_start_time":10}"#;
        match parse(ok, b"") {
            Outcome::Started(r) => assert_eq!((r.shim_pid, r.pid), (7, 9)),
            Outcome::Failed(m) => panic!("{m}"),
        }
        let failed = |out: &[u8], err: &[u8]| match parse(out, err) {
            Outcome::Failed(m) => m,
            Outcome::Started(_) => panic!("started"),
        };
        assert_eq!(
            failed(b"error mount: no such file", b""),
            "mount: no such file"
        );
        assert_eq!(
            failed(b"", b"reading /x/runtime.json: gone\n"),
            "reading /x/runtime.json: gone"
        );
        assert_eq!(
            failed(b"", b""),
            "the shim ended before the container started"
        );
    }
}
