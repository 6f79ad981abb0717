//! Container routes beyond the lifecycle: `top` with `ps -ef`'s columns, `stats` with network
//! and block I/O, `rename`, `update` (Docker's body), and where `attach` connects.

use super::containers::{Containers, Ctr};
use super::http::{self, ApiError, ApiResult, Query};
use berth_engine::container::{Resources, RestartPolicy, Status};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// `GET /containers/{id}/top`: what Docker's daemon gets from running `ps -ef` on the host
/// and keeping the container's pids: UID PID PPID C STIME TTY TIME CMD, read from /proc
/// (berth does not depend on procps). Rows in pid order, as ps prints them. Docker's
/// `top CONTAINER [ps OPTIONS]` takes other ps options; berth has the -ef columns only.
pub async fn top(cs: &Containers, ctr: &Ctr) -> ApiResult {
    if !matches!(
        ctr.rec.lock().await.state.status,
        Status::Running | Status::Paused
    ) {
        return Err(ApiError::conflict(format!(
            "container {} is not running",
            ctr.id
        )));
    }
    let mut pids = cs
        .cgroup_of(&ctr.id)
        .and_then(|c| c.procs().ok())
        .unwrap_or_default();
    pids.sort_unstable();
    let rows: Vec<Vec<String>> = tokio::task::spawn_blocking(move || {
        let host = HostClock::read();
        let users = passwd();
        pids.iter()
            .filter_map(|&pid| ps_ef_row(pid, &host, &users))
            .collect()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    http::json(&json!({
        "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "Processes": rows,
    }))
}

/// What ps needs from the host to turn /proc's ticks into times.
struct HostClock {
    hz: u64,
    boot: i64,
    uptime: f64,
}

impl HostClock {
    fn read() -> HostClock {
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|&h| h > 0)
            .unwrap_or(100) as u64;
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
            })
            .unwrap_or(0);
        let uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        HostClock { hz, boot, uptime }
    }
}

/// uid -> user name from the host's /etc/passwd, as ps resolves them.
fn passwd() -> std::collections::HashMap<u32, String> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, f.first()?.to_string()))
        })
        .collect()
}

fn ps_ef_row(
    pid: i32,
    host: &HostClock,
    users: &std::collections::HashMap<u32, String>,
) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let comm = stat
        .find('(')
        .zip(stat.rfind(')'))
        .map(|(a, b)| stat[a + 1..b].to_string())
        .unwrap_or_default();
    let after = stat.rfind(')').map(|i| &stat[i + 2..])?;
    let f: Vec<&str> = after.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let uid: u32 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:")?.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // ps shows `[comm]` for a process without arguments (a zombie, a kernel thread).
    let cmd = if args.is_empty() {
        format!("[{comm}]")
    } else {
        args.join(" ")
    };
    let ticks = num(11) + num(12);
    let start = num(19);
    Some(vec![
        users.get(&uid).cloned().unwrap_or_else(|| uid.to_string()),
        pid.to_string(),
        num(1).to_string(),
        pcpu(ticks, start, host).to_string(),
        stime(host.boot + (start / host.hz) as i64),
        tty_name(num(4)),
        cpu_time(ticks / host.hz),
        cmd,
    ])
}

/// ps' C: CPU use over the process's lifetime in whole percent, at most 99 (procps pr_c).
fn pcpu(ticks: u64, start: u64, host: &HostClock) -> u64 {
    let seconds = (host.uptime - start as f64 / host.hz as f64).max(0.0) as u64;
    if seconds == 0 {
        return 0;
    }
    ((ticks * 1000 / host.hz) / seconds / 10).min(99)
}

/// ps' STIME (procps pr_stime): HH:MM today, MonDD this year, the year before that; local
/// time.
fn stime(epoch: i64) -> String {
    use chrono::{Datelike, Local, TimeZone};
    let Some(t) = Local.timestamp_opt(epoch, 0).single() else {
        return "?".into();
    };
    let now = Local::now();
    if t.year() != now.year() {
        t.format("%Y").to_string()
    } else if t.ordinal() != now.ordinal() {
        t.format("%b%d").to_string()
    } else {
        t.format("%H:%M").to_string()
    }
}

/// ps' TTY from stat's tty_nr (major in bits 8-15 and 20-31, minor in 0-7 and 12-19).
fn tty_name(nr: u64) -> String {
    let major = (nr >> 8) & 0xfff;
    let minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
    match major {
        0 => "?".into(),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => "?".into(),
    }
}

/// ps' TIME: `[DD-]HH:MM:SS` of CPU time.
fn cpu_time(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// `GET /containers/{id}/stats`: the cgroup's counters, plus the network counters of the
/// container's namespace (no loopback, as Docker) and its block I/O. berth puts no container
/// in a v1 blkio cgroup, so block I/O is the sum of /proc/PID/io's read_bytes/write_bytes
/// of the container's live processes: Docker's cgroup counters also keep what exited
/// processes did.
pub async fn stats(cs: &Containers, ctr: &Ctr) -> ApiResult {
    let r = ctr.rec.lock().await;
    let running = matches!(r.state.status, Status::Running | Status::Paused);
    let cg = cs.cgroup_of(&ctr.id);
    let s = cg.as_ref().and_then(|c| c.stats().ok());
    let (mut rx, mut tx, mut read, mut write) = (0u64, 0u64, 0u64, 0u64);
    if running {
        // Host networking shares the host's counters, which Docker does not count either.
        if r.config.network_mode != "host" {
            let dev = std::fs::read_to_string(format!("/proc/{}/net/dev", r.state.pid))
                .unwrap_or_default();
            for line in dev.lines().skip(2) {
                let Some((name, rest)) = line.split_once(':') else {
                    continue;
                };
                let n: Vec<u64> = rest
                    .split_whitespace()
                    .map(|v| v.parse().unwrap_or(0))
                    .collect();
                if name.trim() != "lo" && n.len() >= 16 {
                    rx += n[0];
                    tx += n[8];
                }
            }
        }
        for pid in cg.and_then(|c| c.procs().ok()).unwrap_or_default() {
            let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
            for l in io.lines() {
                let v = |p: &str| l.strip_prefix(p).and_then(|v| v.trim().parse::<u64>().ok());
                read += v("read_bytes:").unwrap_or(0);
                write += v("write_bytes:").unwrap_or(0);
            }
        }
    }
    http::json(&json!({
        "Id": r.id,
        "Name": r.config.name,
        "Running": running,
        "Stats": s,
        "Network": { "RxBytes": rx, "TxBytes": tx },
        "BlockIO": { "Read": read, "Write": write },
    }))
}

/// `POST /containers/{id}/rename?name=NEW`, as Docker's.
pub async fn rename(cs: &Containers, ctr: &Arc<Ctr>, q: &Query) -> ApiResult {
    let name = q.get("name").unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::bad_request("Neither old nor new names may be empty"));
    }
    cs.rename(ctr, name).await?;
    http::empty()
}

/// The part of Docker's `POST /containers/{id}/update` body berth applies. Zero means
/// "unchanged", as in Docker's API; PidsLimit 0 or -1 is "unlimited".
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct UpdateBody {
    memory: i64,
    nano_cpus: i64,
    cpu_shares: u64,
    pids_limit: Option<i64>,
    cpuset_cpus: String,
    restart_policy: Option<RestartBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RestartBody {
    name: String,
    maximum_retry_count: u32,
}

/// Docker's smallest memory limit (daemon/daemon_unix.go, linuxMinMemory).
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

pub async fn update(cs: &Containers, ctr: &Arc<Ctr>, body: UpdateBody) -> ApiResult {
    if body.memory > 0 && body.memory < MIN_MEMORY {
        return Err(ApiError::bad_request(
            "Minimum memory limit allowed is 6MB",
        ));
    }
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    if body.nano_cpus < 0 || body.nano_cpus > ncpu as i64 * 1_000_000_000 {
        return Err(ApiError::bad_request(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    let res = Resources {
        memory: (body.memory != 0).then_some(body.memory),
        cpus: (body.nano_cpus != 0).then(|| body.nano_cpus as f64 / 1e9),
        cpu_shares: (body.cpu_shares != 0).then_some(body.cpu_shares),
        pids_limit: body.pids_limit.map(|p| if p <= 0 { -1 } else { p }),
        cpuset_cpus: (!body.cpuset_cpus.is_empty()).then_some(body.cpuset_cpus),
    };
    let restart = match body.restart_policy {
        Some(p) if !p.name.is_empty() => {
            let spec = match (p.name.as_str(), p.maximum_retry_count) {
                ("on-failure", n) if n > 0 => format!("on-failure:{n}"),
                (name, _) => name.to_string(),
            };
            Some(RestartPolicy::parse(&spec).map_err(ApiError::bad_request)?)
        }
        _ => None,
    };
    cs.update(ctr, res, restart).await?;
    http::json(&json!({ "Warnings": [] }))
}

/// `GET /containers/{id}/attach-info`: the shim's attach socket of a running container, and
/// what the client needs to attach as Docker's does.
pub async fn attach_info(cs: &Containers, ctr: &Ctr) -> ApiResult {
    let r = ctr.rec.lock().await;
    http::json(&json!({
        "Id": r.id,
        "Name": r.config.name,
        "Status": r.state.status.as_str(),
        "Tty": r.config.tty,
        "OpenStdin": r.config.open_stdin,
        "AttachSocket": cs.layout(&r.id).attach_socket(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_fields_as_procps_prints_them() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name(136 << 8 | 3), "pts/3");
        assert_eq!(tty_name(4 << 8 | 1), "tty1");
        assert_eq!(cpu_time(0), "00:00:00");
        assert_eq!(cpu_time(3725), "01:02:05");
        assert_eq!(cpu_time(90000), "1-01:00:00");
        let host = HostClock {
            hz: 100,
            boot: 0,
            uptime: 100.0,
        };
        // 5 s of CPU over the 50 s since it started: 10 %.
        assert_eq!(pcpu(500, 5000, &host), 10);
        assert_eq!(pcpu(1_000_000, 5000, &host), 99);
        assert_eq!(stime(chrono::Local::now().timestamp()).len(), 5);
    }
}
