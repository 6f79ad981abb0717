//! Container routes beyond the lifecycle: `stats` with network and block I/O, `rename`,
//! `update` (Docker's body), and where `attach` connects. (`top` is in api_top.rs.)

use super::containers::{Containers, Ctr};
use super::http::{self, ApiError, ApiResult, Query};
use berth_engine::container::{Resources, RestartPolicy, Status};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// `GET /containers/{id}/stats`: the cgroup's counters (CPU, memory, pids, block I/O), and
/// the network counters of the container's namespace, loopback left out as Docker does.
pub async fn stats(cs: &Containers, ctr: &Ctr) -> ApiResult {
    let r = ctr.rec.lock().await;
    let running = matches!(r.state.status, Status::Running | Status::Paused);
    let s = cs.cgroup_of(&ctr.id).and_then(|c| c.stats().ok());
    // Host networking shares the host's counters, which Docker does not count either.
    let net = if running && r.config.network_mode != "host" {
        std::fs::read_to_string(format!("/proc/{}/net/dev", r.state.pid))
            .map(|t| super::metrics::parse_net_dev(&t))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    http::json(&json!({
        "Id": r.id,
        "Name": r.config.name,
        "Running": running,
        "Stats": s,
        "Network": {
            "RxBytes": net.iter().map(|n| n.rx_bytes).sum::<u64>(),
            "TxBytes": net.iter().map(|n| n.tx_bytes).sum::<u64>(),
        },
    }))
}

/// `POST /containers/{id}/rename?name=NEW`, as Docker's.
pub async fn rename(cs: &Containers, ctr: &Arc<Ctr>, q: &Query) -> ApiResult {
    let name = q.get("name").unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "Neither old nor new names may be empty",
        ));
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
    memory_swap: i64,
    memory_reservation: i64,
    cpu_period: i64,
    cpu_quota: i64,
    cpuset_mems: String,
    blkio_weight: u16,
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
        return Err(ApiError::bad_request("Minimum memory limit allowed is 6MB"));
    }
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    if body.nano_cpus < 0 || body.nano_cpus > ncpu as i64 * 1_000_000_000 {
        return Err(ApiError::bad_request(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if body.cpu_period < 0 {
        return Err(ApiError::bad_request(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if !body.cpuset_mems.is_empty() {
        check_memory_nodes(&body.cpuset_mems)?;
    }
    let res = Resources {
        memory: (body.memory != 0).then_some(body.memory),
        cpus: (body.nano_cpus != 0).then(|| body.nano_cpus as f64 / 1e9),
        cpu_shares: (body.cpu_shares != 0).then_some(body.cpu_shares),
        pids_limit: body.pids_limit.map(|p| if p <= 0 { -1 } else { p }),
        cpuset_cpus: (!body.cpuset_cpus.is_empty()).then_some(body.cpuset_cpus),
        memory_swap: (body.memory_swap != 0).then_some(body.memory_swap),
        memory_reservation: (body.memory_reservation != 0).then_some(body.memory_reservation),
        cpu_period: (body.cpu_period != 0).then_some(body.cpu_period as u64),
        cpu_quota: (body.cpu_quota != 0).then_some(body.cpu_quota),
        cpuset_mems: (!body.cpuset_mems.is_empty()).then_some(body.cpuset_mems),
        blkio_weight: (body.blkio_weight != 0).then_some(body.blkio_weight),
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
    let warnings = cs.update(ctr, res, restart).await?;
    http::json(&json!({ "Warnings": warnings }))
}

/// The kernel list syntax ("0-1,3") as numbers.
fn node_list(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<u32>().ok()?..=b.parse::<u32>().ok()?),
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// `--cpuset-mems` must name memory nodes the host has, as dockerd checks (sysinfo).
fn check_memory_nodes(requested: &str) -> Result<(), ApiError> {
    let online =
        std::fs::read_to_string("/sys/devices/system/node/online").unwrap_or_else(|_| "0".into());
    let have = node_list(&online).unwrap_or_default();
    let wanted = node_list(requested).ok_or_else(|| {
        ApiError::bad_request(format!("Invalid value {requested} for cpuset mems"))
    })?;
    if wanted.iter().any(|n| !have.contains(n)) {
        return Err(ApiError::bad_request(format!(
            "Requested memory nodes are not available - requested {requested}, available: {}",
            online.trim()
        )));
    }
    Ok(())
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
