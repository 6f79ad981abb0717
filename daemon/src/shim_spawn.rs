//! Starting a container's shim and reading its report.
//!
//! The shim (`berth_engine::runtime::shim`) is spawned first, before anything of the start is
//! ready, and waits (`shim::GO_ENV`): exec'ing and loading the 26 MB binary takes as long as
//! the daemon's own part of a start (cgroup, network, /etc files, spec), so the two overlap on
//! a second CPU. [`Pending::go`] then lets it on and reads its answer from the same socket,
//! its stdout: `ok ` and its [`ShimRecord`] once the container is ready, or `error ` and why
//! not, then end-of-file. Nothing more is waited for: the process spawned here only forks
//! the real shim off and exits, and is reaped in the background. Its stderr carries what a
//! shim says before it could fork (an unreadable spec).
//!
//! The spawn passes the container's shim lock as the shim's stdin (see
//! `shim_lock::StartLock::as_stdin`) and sets no hook in the child, so the standard library
//! spawns with vfork semantics instead of copying the daemon's address space with fork.

use berth_engine::runtime::shim::GO_ENV;
use berth_engine::runtime::shim_lock::{self, StartLock};
use berth_engine::runtime::spec::ShimRecord;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How a shim's start ended.
pub enum Outcome {
    /// The container runs (or waits for its attach client), held by this shim.
    Started(ShimRecord),
    /// It could not start: the shim's message.
    Failed(String),
}

/// A shim spawned and waiting for [`Pending::go`] (or [`Pending::cancel`]).
pub struct Pending {
    child: tokio::process::Child,
    chan: tokio::net::UnixStream,
}

/// Runs `exe shim bundle` with `lock` handed down; the shim waits until told to go.
pub fn spawn(exe: &Path, bundle: &Path, lock: &StartLock) -> std::io::Result<Pending> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let child = tokio::process::Command::new(exe)
        .arg("shim")
        .arg(bundle)
        .env(shim_lock::ENV, "0")
        .env(GO_ENV, "1")
        .stdin(lock.as_stdin()?)
        .stdout(Stdio::from(OwnedFd::from(theirs)))
        .stderr(Stdio::piped())
        .spawn()?;
    ours.set_nonblocking(true)?;
    Ok(Pending {
        child,
        chan: tokio::net::UnixStream::from_std(ours)?,
    })
}

impl Pending {
    /// Lets the shim read its spec and start the container; its report.
    pub async fn go(mut self) -> std::io::Result<Outcome> {
        // A shim gone already fails this write; what it said is read below all the same.
        let _ = self.chan.write_all(b"g").await;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut stderr = self.child.stderr.take().expect("piped");
        let (read_out, read_err) = tokio::join!(
            self.chan.read_to_end(&mut out),
            stderr.read_to_end(&mut err)
        );
        // Its status says only whether it forked; the report says how the start went.
        let mut child = self.child;
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        read_out?;
        read_err?;
        Ok(parse(&out, &err))
    }

    /// The start was given up before the shim was let on: it sees end-of-file and exits
    /// having done nothing. Waited for, so that its hold on the shim lock is gone when this
    /// returns (a start tried again at once finds the lock free).
    pub async fn cancel(mut self) {
        drop(self.chan);
        let _ = self.child.wait().await;
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
