//! Limits and freezing for the cgroup2 hierarchy (Documentation/admin-guide/cgroup-v2.rst).

use std::path::Path;
use std::time::{Duration, Instant};

use super::error::{CgroupError, Result};
use super::files;
use super::limits::{cpu_shares_to_weight, Bytes, Limits, MemoryPlan, CPU_PERIOD_US};

/// Enables `wanted` controllers for the children of `dir` through cgroup.subtree_control.
/// v2 only lets a child use a controller its parent enabled for it, so this runs on every
/// level above a container. Controllers `dir` does not offer are skipped (a delegated subtree
/// may lack some); the caller finds out when it writes a limit file that is not there.
pub fn enable_controllers(dir: &Path, wanted: &[&str]) -> Result<()> {
    let available = files::read(dir, "cgroup.controllers")?;
    let enabled = files::read(dir, "cgroup.subtree_control")?;
    for controller in wanted {
        let offered = available.split_whitespace().any(|c| c == *controller);
        let on = enabled.split_whitespace().any(|c| c == *controller);
        if offered && !on {
            // One write per controller, so an error names the controller that was refused.
            files::write(
                controller_name(controller),
                dir,
                "cgroup.subtree_control",
                &format!("+{controller}"),
            )?;
        }
    }
    Ok(())
}

/// The static name of a controller, for error context.
fn controller_name(controller: &str) -> &'static str {
    match controller {
        "cpu" => "cpu",
        "cpuset" => "cpuset",
        "memory" => "memory",
        "pids" => "pids",
        _ => "cgroup",
    }
}

fn bytes_value(b: Bytes) -> String {
    match b {
        Bytes::Max => "max".to_string(),
        Bytes::Exact(n) => n.to_string(),
    }
}

/// memory.max and, where swap accounting exists, memory.swap.max. v2 counts swap separately
/// from memory, so the OCI-style memory+swap total is converted.
pub fn apply_memory(dir: &Path, plan: &MemoryPlan) -> Result<()> {
    if let Some(memory) = plan.memory {
        files::write("memory", dir, "memory.max", &bytes_value(memory))?;
    }
    if dir.join("memory.swap.max").exists() {
        let current = match files::read_max(dir, "memory.max")? {
            None => Bytes::Max,
            Some(n) => Bytes::Exact(n),
        };
        files::write(
            "memory",
            dir,
            "memory.swap.max",
            &bytes_value(plan.swap_only(current)),
        )?;
    }
    Ok(())
}

/// cpu.max ("quota period" or "max period") and cpu.weight.
pub fn apply_cpu(dir: &Path, limits: &Limits) -> Result<()> {
    let max = limits.cpu_max();
    if max.quota.is_some() || max.period.is_some() {
        // One file holds both: what is not changing is kept as it is.
        let current = files::read(dir, "cpu.max").unwrap_or_default();
        let mut parts = current.split_whitespace();
        let (cur_quota, cur_period) = (parts.next().unwrap_or("max"), parts.next());
        let quota = match max.quota {
            Some(q) => q.map_or_else(|| "max".to_string(), |q| q.to_string()),
            None => cur_quota.to_string(),
        };
        let period = max
            .period
            .map(|p| p.to_string())
            .or(cur_period.map(String::from))
            .unwrap_or_else(|| CPU_PERIOD_US.to_string());
        files::write("cpu", dir, "cpu.max", &format!("{quota} {period}"))?;
    }
    if let Some(shares) = limits.cpu_shares {
        // 0 means "unset": the default weight.
        let weight = match cpu_shares_to_weight(shares) {
            0 => 100,
            w => w,
        };
        files::write("cpu", dir, "cpu.weight", &weight.to_string())?;
    }
    Ok(())
}

/// Sets cgroup.freeze and waits for cgroup.events to report the state: the write only starts
/// freezing, "frozen 1" says every task has stopped.
pub fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    files::write(
        "freezer",
        dir,
        "cgroup.freeze",
        if frozen { "1" } else { "0" },
    )?;
    let want = u64::from(frozen);
    let timeout = Duration::from_secs(2);
    let start = Instant::now();
    loop {
        let events = files::read_keyed(dir, "cgroup.events")?;
        if events.get("frozen").copied().unwrap_or(want) == want {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(CgroupError::FreezeTimeout {
                path: dir.to_path_buf(),
                state: if frozen { "frozen" } else { "thawed" },
                waited_ms: timeout.as_millis() as u64,
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// memory.low (0: none), cgroup v2's counterpart of v1's soft limit (as runc maps it).
pub fn apply_memory_reservation(dir: &Path, bytes: i64) -> Result<()> {
    files::write("memory", dir, "memory.low", &bytes.max(0).to_string())
}

/// io.bfq.weight where BFQ offers it (the same 10..=1000 scale), else io.weight with the
/// weight mapped onto its 1..=10000 scale as runc maps it; None when neither exists.
pub fn io_weight(dir: &Path, weight: u16) -> Option<(&'static str, u64)> {
    if dir.join("io.bfq.weight").exists() {
        return Some(("io.bfq.weight", weight as u64));
    }
    dir.join("io.weight").exists().then(|| {
        (
            "io.weight",
            1 + (weight as u64).saturating_sub(10) * 9999 / 990,
        )
    })
}
