//! `GET /containers/{id}/stats`: the container's cgroup figures (berth_engine::cgroups, the
//! same reads as the metrics server) and its network counters in Docker's stats JSON, one
//! sample a second while streaming, or one answer (`stream=false`: two samples half a second
//! apart, so clients can compute a CPU percentage; `one-shot`: one sample).

use super::super::containers::Ctr;
use super::super::http::{self, ApiResult, Query};
use super::Door;
use berth_engine::container::Status;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// The host's total CPU time in nanoseconds, from /proc/stat's first line (USER_HZ ticks).
fn system_cpu_ns() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let ticks: u64 = s
        .lines()
        .next()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|x| x.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

struct Sample {
    read: String,
    cpu: u64,
    user: u64,
    system: u64,
    system_total: u64,
    mem: u64,
    mem_limit: u64,
    working_set: u64,
    rss: u64,
    pids: u64,
    net: Map<String, Value>,
}

async fn sample(door: &Door, ctr: &Ctr) -> Option<Sample> {
    let (running, pid) = {
        let r = ctr.rec.lock().await;
        (
            matches!(r.state.status, Status::Running | Status::Paused),
            r.state.pid,
        )
    };
    if !running {
        return None;
    }
    let cg = door.d.containers.cgroup_of(&ctr.id)?;
    tokio::task::spawn_blocking(move || {
        let s = cg.stats().ok()?;
        let mut net = Map::new();
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/dev")) {
            for n in super::super::metrics::parse_net_dev(&text) {
                net.insert(
                    n.interface.clone(),
                    json!({ "rx_bytes": n.rx_bytes, "rx_packets": n.rx_packets, "rx_errors": n.rx_errors, "rx_dropped": n.rx_dropped,
                            "tx_bytes": n.tx_bytes, "tx_packets": n.tx_packets, "tx_errors": n.tx_errors, "tx_dropped": n.tx_dropped }),
                );
            }
        }
        let host_mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024;
        Some(Sample {
            read: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            cpu: s.cpu_usage_ns,
            user: s.cpu_user_ns,
            system: s.cpu_system_ns,
            system_total: system_cpu_ns(),
            mem: s.memory_usage_bytes,
            mem_limit: s.memory_limit_bytes.unwrap_or(host_mem),
            working_set: s.memory_working_set_bytes,
            rss: s.memory_rss_bytes,
            pids: s.pids_current,
            net,
        })
    })
    .await
    .ok()
    .flatten()
}

fn cpu_json(s: Option<&Sample>, cpus: usize) -> Value {
    match s {
        Some(s) => json!({
            "cpu_usage": { "total_usage": s.cpu, "usage_in_kernelmode": s.system, "usage_in_usermode": s.user },
            "system_cpu_usage": s.system_total,
            "online_cpus": cpus,
            "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
        }),
        None => {
            json!({ "cpu_usage": { "total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0 },
                        "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 } })
        }
    }
}

fn render(name: &str, id: &str, now: Option<&Sample>, pre: Option<&Sample>) -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let zero = "0001-01-01T00:00:00Z".to_string();
    let mut v = json!({
        "read": now.map(|s| s.read.clone()).unwrap_or_else(|| zero.clone()),
        "preread": pre.map(|s| s.read.clone()).unwrap_or(zero),
        "pids_stats": now.map(|s| json!({ "current": s.pids })).unwrap_or(json!({})),
        "blkio_stats": { "io_service_bytes_recursive": null, "io_serviced_recursive": null, "io_queue_recursive": null,
                         "io_service_time_recursive": null, "io_wait_time_recursive": null, "io_merged_recursive": null,
                         "io_time_recursive": null, "sectors_recursive": null },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(now, cpus),
        "precpu_stats": cpu_json(pre, cpus),
        "memory_stats": now.map(|s| json!({
            "usage": s.mem, "limit": s.mem_limit,
            // `docker stats` shows usage less inactive file pages: berth's working set.
            "stats": { "inactive_file": s.mem.saturating_sub(s.working_set), "total_inactive_file": s.mem.saturating_sub(s.working_set), "rss": s.rss },
        })).unwrap_or(json!({})),
        "name": format!("/{name}"),
        "id": id,
    });
    if let Some(s) = now.filter(|s| !s.net.is_empty()) {
        v["networks"] = Value::Object(s.net.clone());
    }
    v
}

pub async fn stats(door: &Arc<Door>, ctr: &Arc<Ctr>, q: &Query) -> ApiResult {
    let stream = !matches!(q.get("stream"), Some("0" | "false" | "False"));
    let one_shot = super::flag(q, "one-shot");
    let name = ctr.name();
    if !stream {
        let first = sample(door, ctr).await;
        let (now, pre) = if one_shot || first.is_none() {
            (first, None)
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            (sample(door, ctr).await, first)
        };
        return http::json(&render(&name, &ctr.id, now.as_ref(), pre.as_ref()));
    }
    let (tx, reply) = http::channel("application/json");
    let (door, ctr) = (door.clone(), ctr.clone());
    tokio::spawn(async move {
        let mut pre: Option<Sample> = None;
        loop {
            let now = sample(&door, &ctr).await;
            let line = render(&name, &ctr.id, now.as_ref(), pre.as_ref()).to_string() + "\n";
            if tx.send(Bytes::from(line)).await.is_err() || *ctr.status.borrow() == Status::Dead {
                return;
            }
            pre = now;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(reply)
}
