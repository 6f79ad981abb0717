//! Reaping what the daemon starts, whatever pid 1 does.
//!
//! A shim forks itself off (see `berth_engine::runtime::shim`): the process the daemon
//! spawns exits as soon as the container runs, so the long-lived shim loses its parent at
//! once. The kernel hands an orphan to its nearest living ancestor marked as a child
//! subreaper, else to pid 1 of its pid namespace (prctl(2), PR_SET_CHILD_SUBREAPER). Under
//! an init that reaps (systemd) that was enough; under one that does not (a container whose
//! pid 1 is an application, some VM agents), every exited shim stayed a zombie.
//!
//! So the daemon marks itself a subreaper: its shims become its children again, and it
//! reaps each one when the shim's pidfd reports the exit ([`reap_exited`]). Two other kinds
//! of orphan reach it the same way: a container's init whose shim was killed, and a process
//! `exec` started whose helper was killed (a health probe past its timeout). Both live in a
//! pid namespace below the daemon's, where no process the daemon spawns itself (through
//! tokio, which reaps those by pid) ever lives, so [`spawn_sweeper`] reaps exactly those
//! without stealing an exit status tokio waits for.
//!
//! What stays out of reach: shims that outlived a daemon killed outright are handed on to
//! the daemon's own nearest subreaper (or pid 1); a new daemon is not their ancestor and
//! cannot reap them. Run the daemon under an init that reaps (systemd, `docker run --init`).

use std::os::fd::BorrowedFd;
use std::time::Duration;

/// Marks the daemon as the child subreaper of everything it starts.
pub fn become_subreaper() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!(error = %e, "cannot become a child subreaper: exited shims are left to pid 1");
    }
}

/// Reaps the process behind `pidfd` once it has ended, if it is our child (a shim this
/// daemon started); a re-adopted shim is not, and is left alone (ECHILD).
pub fn reap_exited(pidfd: BorrowedFd<'_>) {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    match waitid(
        Id::PIDFd(pidfd),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG,
    ) {
        Ok(_) | Err(nix::errno::Errno::ECHILD) => {}
        Err(e) => tracing::debug!(error = %e, "reaping an exited shim"),
    }
}

/// Reaps, on every SIGCHLD and every few seconds, the daemon's zombie children that lived in
/// a container's pid namespace (see the module documentation).
pub fn spawn_sweeper() {
    tokio::spawn(async {
        let mut sigchld = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "no SIGCHLD stream: sweeping orphans every 5 s only");
                None
            }
        };
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            match sigchld.as_mut() {
                Some(s) => {
                    tokio::select! {
                        _ = s.recv() => {}
                        _ = tick.tick() => {}
                    }
                }
                None => {
                    tick.tick().await;
                }
            }
            // Reading /proc is blocking work (~350 stat files on a quiet host, a few ms of
            // CPU); one sweep at a time, at most one a second, is plenty. The wait comes
            // before it: a SIGCHLD is most often a shim's first process leaving while its
            // container starts, and a sweep then would take a CPU from that start. A burst
            // of exits is swept together.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = tokio::task::spawn_blocking(sweep).await;
        }
    });
}

fn sweep() {
    let me = std::process::id() as i32;
    let Some(my_depth) = pid_ns_depth(me) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
    {
        if is_orphaned_container_zombie(pid, me, my_depth) {
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            tracing::debug!(pid, "reaped an orphaned container process");
        }
    }
}

/// How many pid namespaces, from the one /proc shows down to the process's own, give `pid`
/// a number: the count on its `NSpid` line, which /proc keeps until a zombie is reaped.
fn pid_ns_depth(pid: i32) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    Some(nspid.split_whitespace().count())
}

/// A zombie whose parent is `me` and that lives in a pid namespace below ours (a deeper
/// `NSpid` line than the daemon's own, whatever namespace the daemon itself runs in).
fn is_orphaned_container_zombie(pid: i32, me: i32, my_depth: usize) -> bool {
    // State and parent from the short stat line first: most processes stop there.
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(after_comm) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let mut fields = after_comm.split_whitespace();
    if fields.next() != Some("Z") || fields.next().and_then(|p| p.parse().ok()) != Some(me) {
        return false;
    }
    pid_ns_depth(pid).is_some_and(|depth| depth > my_depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_zombies_of_ours_are_candidates() {
        let me = std::process::id() as i32;
        let depth = pid_ns_depth(me).expect("NSpid in /proc/self/status");
        assert!(depth >= 1);
        // A live process (this one) and a child that is not a zombie are never reaped.
        assert!(!is_orphaned_container_zombie(me, me, depth));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(!is_orphaned_container_zombie(child.id() as i32, me, depth));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
