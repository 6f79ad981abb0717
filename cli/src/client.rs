//! The CLI's side of the API: HTTP/1.1 over the daemon's unix socket, starting the daemon
//! first when nothing answers there.

use crate::cli::GlobalOpts;
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::UnixStream;

pub type Body = BoxBody<Bytes, std::io::Error>;

pub struct Client {
    sock: PathBuf,
    rt: tokio::runtime::Runtime,
    /// The connection of the last request whose answer was read whole, kept for the next
    /// (HTTP/1.1 keep-alive): a command's requests follow each other closely (`run`: ping,
    /// create, start, then the wait), and each new connection costs a connect, an accept and
    /// a connection task in the daemon. See [`Client::sender`].
    idle: std::sync::Mutex<Option<(SendRequest<Body>, Instant)>>,
}

/// How long a kept connection is reused: a daemon never closes one on its own, but one
/// restarted meanwhile has, and the request sent on it would be lost. Within a second of
/// its last answer it is known alive (the ping's guarantee, see [`Client::connect`]).
const KEEP_IDLE: Duration = Duration::from_secs(1);

/// Waits (up to `limit`) until no process holds the daemon's pid-file lock. A daemon killed a
/// moment ago holds it until its last thread has exited, which can be well after its main
/// thread shows as a zombie (a thread blocked in the kernel exits late); a daemon started
/// meanwhile would find the lock taken and give up.
fn wait_for_pid_lock(path: &std::path::Path, limit: Duration) {
    let Ok(f) = std::fs::File::open(path) else {
        return;
    };
    let deadline = Instant::now() + limit;
    loop {
        // SAFETY: flock on a descriptor we own; a shared lock conflicts with the daemon's
        // exclusive one only, and it is released when `f` is dropped.
        let rc = unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&f),
                libc::LOCK_SH | libc::LOCK_NB,
            )
        };
        if rc == 0 || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Client {
    /// Connects to the daemon of `g.run_dir`, starting one in the background if none answers.
    pub fn connect(g: &GlobalOpts) -> Result<Client> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let sock = berth_daemon::DaemonOptions::socket_path(&g.run_dir);
        let c = Client {
            sock,
            rt,
            idle: std::sync::Mutex::new(None),
        };
        // The ping's connection is kept for the command's first request. A failed connect
        // (no socket, nobody listening) is the one error of type io::Error here.
        let pinged = c.get_bytes("/_ping");
        let unreachable = pinged
            .as_ref()
            .is_err_and(|e| e.downcast_ref::<std::io::Error>().is_some());
        if unreachable {
            c.start_daemon(g)?;
        } else if pinged.is_err() {
            // A daemon killed a moment ago may still accept and then reset: wait for it to be
            // gone (its pid file lock is released with it), then start a new one.
            let pid = std::fs::read_to_string(g.run_dir.join("berth.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            if let Some(pid) = pid {
                for _ in 0..300 {
                    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            c.start_daemon(g)?;
        }
        Ok(c)
    }

    fn start_daemon(&self, g: &GlobalOpts) -> Result<()> {
        std::fs::create_dir_all(&g.run_dir)
            .with_context(|| format!("creating {}", g.run_dir.display()))?;
        wait_for_pid_lock(&g.run_dir.join("berth.pid"), Duration::from_secs(5));
        let log_path = g.run_dir.join("daemon.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let exe = std::env::current_exe()?;
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("--root")
            .arg(&g.root)
            .arg("--run-dir")
            .arg(&g.run_dir)
            .arg("daemon");
        cmd.stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Its own session: the daemon must outlive this command and its terminal.
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe and touches no memory.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = cmd.spawn().context("starting the berth daemon")?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.rt.block_on(UnixStream::connect(&self.sock)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let last = log
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                bail!("the berth daemon exited ({status}) at start: {last}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!(
            "the berth daemon did not answer on {} within 15 s (see {})",
            self.sock.display(),
            log_path.display()
        )
    }

    /// The kept connection if it is fresh and ready, else a new one.
    async fn sender(&self) -> Result<SendRequest<Body>> {
        let kept = self.idle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((mut sender, at)) = kept {
            // Its connection task runs only inside block_on: a turn lets it see a close.
            tokio::task::yield_now().await;
            if at.elapsed() < KEEP_IDLE && !sender.is_closed() && sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        let stream = UnixStream::connect(&self.sock).await.map_err(|e| {
            let kind = e.kind();
            anyhow::Error::new(std::io::Error::new(
                kind,
                format!("connecting to {}: {e}", self.sock.display()),
            ))
        })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(sender)
    }

    pub fn request(&self, method: Method, path: &str, body: Body) -> Result<Response<Incoming>> {
        Ok(self.exchange(method, path, body)?.0)
    }

    /// One request; the answer and the connection it came on (to keep once it is read).
    fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<(Response<Incoming>, SendRequest<Body>)> {
        self.rt.block_on(async {
            let mut sender = self.sender().await?;
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header("host", "berth")
                .body(body)?;
            let resp = sender.send_request(req).await?;
            if !resp.status().is_success() {
                let status = resp.status();
                let bytes = resp.into_body().collect().await?.to_bytes();
                let msg = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(String::from))
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
                return Err(anyhow!(ApiFailure {
                    status: status.as_u16(),
                    message: msg
                }));
            }
            Ok((resp, sender))
        })
    }

    /// A request whose answer is read whole; its connection is kept for the next one.
    fn whole(&self, method: Method, path: &str, body: Body) -> Result<Bytes> {
        let (resp, sender) = self.exchange(method, path, body)?;
        let bytes = self.rt.block_on(resp.into_body().collect())?.to_bytes();
        *self.idle.lock().unwrap_or_else(|e| e.into_inner()) = Some((sender, Instant::now()));
        Ok(bytes)
    }

    fn get_bytes(&self, path: &str) -> Result<Bytes> {
        self.whole(Method::GET, path, empty())
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        Ok(serde_json::from_slice(&self.get_bytes(path)?)?)
    }

    /// POST with an optional JSON body; returns the JSON answer (Null for 204).
    pub fn post(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        let b = match body {
            Some(v) => full(serde_json::to_vec(v)?),
            None => empty(),
        };
        let bytes = self.whole(Method::POST, path, b)?;
        Ok(if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        })
    }

    pub fn delete(&self, path: &str) -> Result<Value> {
        let bytes = self.whole(Method::DELETE, path, empty())?;
        Ok(if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        })
    }

    /// POSTs the bytes of `reader` as a streamed body.
    pub fn upload(&self, path: &str, reader: impl Read + Send + 'static) -> Result<Value> {
        let bytes = self.whole(Method::POST, path, streamed(reader))?;
        Ok(if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        })
    }

    /// POSTs `body` and hands each line of the streamed JSON-lines answer to `on_line` as it
    /// arrives (pull and push progress, a stack's progress events), and `None` every `tick`
    /// meanwhile when one is given (a live display redraws its clocks then).
    pub fn post_lines(
        &self,
        path: &str,
        body: Option<&Value>,
        tick: Option<Duration>,
        on_line: impl FnMut(Option<Value>) -> Result<()>,
    ) -> Result<()> {
        let b = match body {
            Some(v) => full(serde_json::to_vec(v)?),
            None => empty(),
        };
        self.post_body_lines(path, b, tick, on_line)
    }

    /// [`Client::post_lines`] with any body: raw bytes ([`full`]) or a stream ([`streamed`]).
    pub fn post_body_lines(
        &self,
        path: &str,
        body: Body,
        tick: Option<Duration>,
        mut on_line: impl FnMut(Option<Value>) -> Result<()>,
    ) -> Result<()> {
        let resp = self.request(Method::POST, path, body)?;
        self.rt.block_on(async {
            let mut body = resp.into_body();
            let mut pending: Vec<u8> = Vec::new();
            // Without a tick, an interval that never fires in practice.
            let mut ticker = tokio::time::interval(tick.unwrap_or(Duration::from_secs(86400)));
            ticker.tick().await;
            loop {
                let frame = tokio::select! {
                    f = body.frame() => f,
                    _ = ticker.tick() => {
                        on_line(None)?;
                        continue;
                    }
                };
                let Some(frame) = frame else { break };
                if let Some(d) = frame?.data_ref() {
                    pending.extend_from_slice(d);
                    while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=i).collect();
                        if line.iter().any(|b| !b.is_ascii_whitespace()) {
                            on_line(Some(serde_json::from_slice(&line)?))?;
                        }
                    }
                }
            }
            if pending.iter().any(|b| !b.is_ascii_whitespace()) {
                on_line(Some(serde_json::from_slice(&pending)?))?;
            }
            Ok(())
        })
    }

    /// Streams a GET's body into `out` chunk by chunk.
    pub fn download(&self, path: &str, out: &mut dyn Write) -> Result<()> {
        let resp = self.request(Method::GET, path, empty())?;
        self.rt.block_on(async {
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                if let Some(d) = frame?.data_ref() {
                    out.write_all(d)?;
                    out.flush()?;
                }
            }
            Ok(())
        })
    }
}

/// An error answer of the API, kept typed so commands can map it to exit codes.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiFailure {}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(v: Vec<u8>) -> Body {
    Full::new(Bytes::from(v))
        .map_err(|never| match never {})
        .boxed()
}

/// A request body streamed from `reader` (read on a thread of its own).
pub fn streamed(mut reader: impl Read + Send + 'static) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok(Frame::data(b)), rx))
    });
    StreamBody::new(stream).boxed()
}

/// Percent-encodes a query value (the daemon decodes `%XX`, and `+` as a space).
pub fn q(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`q`], for tests that read back what the client sends.
#[cfg(test)]
pub fn unq(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
