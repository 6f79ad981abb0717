//! Starting a container's shim and reading its report.
//!
//! The shim (`berth_engine::runtime::shim`) answers on its stdout: `ok ` and its
//! [`ShimRecord`] once the container is ready, or `error ` and why not, then lets go of the
//! pipe. The answer is read to end-of-file and nothing more is waited for: the process this
//! spawns only forks the real shim off and exits, and is reaped in the background. Its
//! stderr carries what a shim says before it could fork (an unreadable spec).
//!
//! The spawn passes the container's shim lock as the shim's stdin (see
//! `shim_lock::StartLock::as_stdin`) and sets no hook in the child, so the standard library
//! spawns with vfork semantics instead of copying the daemon's address space with fork.

use berth_engine::runtime::shim_lock::{self, StartLock};
use berth_engine::runtime::spec::ShimRecord;
use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncReadExt;

/// How a shim's start ended.
pub enum Outcome {
    /// The container runs (or waits for its attach client), held by this shim.
    Started(ShimRecord),
    /// It could not start: the shim's message.
    Failed(String),
}

/// Runs `exe shim bundle` with `lock` handed down, and reads its report.
pub async fn start(exe: &Path, bundle: &Path, lock: &StartLock) -> std::io::Result<Outcome> {
    let mut child = tokio::process::Command::new(exe)
        .arg("shim")
        .arg(bundle)
        .env(shim_lock::ENV, "0")
        .stdin(lock.as_stdin()?)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (read_out, read_err) = tokio::join!(
        stdout.read_to_end(&mut out),
        stderr.read_to_end(&mut err)
    );
    // Its status says only whether it forked; the report says how the start went.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    read_out?;
    read_err?;
    Ok(parse(&out, &err))
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
        assert_eq!(failed(b"error mount: no such file", b""), "mount: no such file");
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
