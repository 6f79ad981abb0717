//! `GET /containers/{id}/top`, as Docker's daemon answers it (daemon/top_unix.go): the
//! processes of the container's cgroup, with `ps -ef`'s columns by default, or the columns
//! of `ps PS_ARGS` run on the host when `ps_args` is given.
//!
//! The default is read from /proc, so berth needs no procps for it; other ps options need
//! the host's `ps`, as Docker does.

use super::containers::{Containers, Ctr};
use super::http::{self, ApiError, ApiResult, Query};
use berth_engine::container::Status;
use serde_json::json;

/// The container's processes: with no `ps_args` (or `-ef`), `ps -ef`'s columns read from
/// /proc, rows in pid order as ps prints them; otherwise the host's `ps` with those
/// options, keeping the container's rows.
pub async fn top(cs: &Containers, ctr: &Ctr, q: &Query) -> ApiResult {
    if !matches!(
        ctr.rec.lock().await.state.status,
        Status::Running | Status::Paused
    ) {
        return Err(ApiError::conflict(format!(
            "container {} is not running",
            ctr.id
        )));
    }
    let ps_args = q.get("ps_args").unwrap_or("").trim().to_string();
    validate_ps_args(&ps_args)?;
    let mut pids = cs
        .cgroup_of(&ctr.id)
        .and_then(|c| c.procs().ok())
        .unwrap_or_default();
    pids.sort_unstable();
    let (titles, rows) = tokio::task::spawn_blocking(move || {
        if ps_args.is_empty() || ps_args == "-ef" {
            let host = HostClock::read();
            let users = passwd();
            let rows = pids
                .iter()
                .filter_map(|&pid| ps_ef_row(pid, &host, &users))
                .collect();
            let titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];
            return Ok((titles.map(String::from).to_vec(), rows));
        }
        let out = std::process::Command::new("ps")
            .args(ps_args.split(' '))
            .output()
            .map_err(|e| ApiError::internal(format!("Error running ps: {e}")))?;
        if !out.status.success() {
            return Err(ApiError::internal(format!(
                "Error running ps: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps_output(&String::from_utf8_lossy(&out.stdout), &pids)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    http::json(&json!({ "Titles": titles, "Processes": rows }))
}

/// Docker refuses ps options that rename the PID column (`-o pid=PROCESS`): it is how the
/// container's rows are found.
fn validate_ps_args(args: &str) -> Result<(), ApiError> {
    for word in args.split_whitespace() {
        // `-o user=NAME,pid=PID...`: any `KEY=PID...` other than `pid=` is refused.
        for part in word.split(',') {
            if let Some((k, v)) = part.split_once('=') {
                if v.starts_with("PID") && k != "pid" && !k.is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "specifying \"{k}={v}\" is not allowed"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Docker's parsePSOutput: the titles of ps' first line; the rows whose PID is the
/// container's (and the thread lines `-` that follow them, for `ps m`), with the columns
/// past the last title joined into it (a command with spaces).
fn parse_ps_output(
    output: &str,
    pids: &[i32],
) -> Result<(Vec<String>, Vec<Vec<String>>), ApiError> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_index = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ApiError::internal("Couldn't find PID field in ps output"))?;
    let mut rows = Vec::new();
    let mut in_container = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_index) else {
            continue;
        };
        if *pid == "-" {
            if in_container {
                rows.push(merge_overhang(&fields, titles.len()));
            }
            continue;
        }
        let pid: i32 = pid
            .parse()
            .map_err(|e| ApiError::internal(format!("Unexpected pid '{pid}': {e}")))?;
        in_container = pids.contains(&pid);
        if in_container {
            rows.push(merge_overhang(&fields, titles.len()));
        }
    }
    Ok((titles, rows))
}

fn merge_overhang(fields: &[&str], titles: usize) -> Vec<String> {
    let cut = titles.saturating_sub(1).min(fields.len());
    let mut row: Vec<String> = fields[..cut].iter().map(|f| f.to_string()).collect();
    row.push(fields[cut..].join(" "));
    row
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
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
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

    #[test]
    fn ps_output_keeps_the_container_rows_and_joins_long_commands() {
        let out =
            "USER PID %CPU COMMAND\nroot 1 0.0 /sbin/init splash\nroot 42 0.1 sh -c sleep 9\n\
                   root - 0.0 -\nroot 43 0.0 other\nroot - 0.0 -\n";
        let (titles, rows) = parse_ps_output(out, &[42]).unwrap();
        assert_eq!(titles, ["USER", "PID", "%CPU", "COMMAND"]);
        assert_eq!(
            rows,
            [
                vec!["root", "42", "0.1", "sh -c sleep 9"],
                vec!["root", "-", "0.0", "-"]
            ]
        );
        assert!(parse_ps_output("USER COMMAND\n", &[1]).is_err());
        assert!(validate_ps_args("-o user=PID").is_err());
        assert!(validate_ps_args("-o pid=PID,comm").is_ok());
        assert!(validate_ps_args("aux").is_ok());
    }
}
