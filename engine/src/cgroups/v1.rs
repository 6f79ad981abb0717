//! Limits and freezing for v1 hierarchies: one directory per hierarchy, controller-specific
//! file names (Documentation/admin-guide/cgroup-v1/).

use std::path::Path;
use std::time::{Duration, Instant};

use super::error::{CgroupError, Result};
use super::files;
use super::limits::{Bytes, Limits, MemoryPlan};

/// A new v1 cpuset cgroup starts with empty cpuset.cpus and cpuset.mems and refuses tasks
/// (ENOSPC) until both are set (cgroup-v1/cpusets.rst), so every level berth creates gets
/// its parent's sets, unless clone_children already copied them. False when the parent had
/// none to give (a parent made by someone else, left empty): its own parent must fill it.
pub fn inherit_cpuset(dir: &Path) -> Result<bool> {
    let parent = dir.parent().expect("a created cgroup has a parent");
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if files::read(dir, file)?.trim().is_empty() {
            let inherited = files::read(parent, file)?;
            if inherited.trim().is_empty() {
                return Ok(false);
            }
            files::write("cpuset", dir, file, inherited.trim())?;
        }
    }
    Ok(true)
}

/// Has the children made from here on get this cgroup's cpuset.cpus and cpuset.mems at
/// creation (`cgroup.clone_children`), so a container's cgroup needs no writes for them.
pub fn clone_cpuset_to_children(dir: &Path) -> Result<()> {
    files::write("cpuset", dir, "cgroup.clone_children", "1")
}

/// The devices a container may use, as Docker and runc allow by default: mknod of any node
/// (creating one is harmless; opening it is what the rules guard), then read/write/mknod of
/// the nodes the runtime puts in /dev. Without these rules a v1 container holding
/// CAP_MKNOD (one of Docker's default capabilities) could create and open the host's disks.
const DEFAULT_DEVICE_RULES: [&str; 10] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",   // null
    "c 1:5 rwm",   // zero
    "c 1:7 rwm",   // full
    "c 1:8 rwm",   // random
    "c 1:9 rwm",   // urandom
    "c 5:0 rwm",   // tty
    "c 5:2 rwm",   // ptmx
    "c 136:* rwm", // pts/*
];

/// Replaces the inherited allow-everything device list with [`DEFAULT_DEVICE_RULES`]. The
/// deny-all comes first because devices.allow can only add to the list
/// (cgroup-v1/devices.rst). Applied while the cgroup has no tasks, so nothing running sees
/// the short moment in which everything is denied.
pub fn restrict_devices(dir: &Path) -> Result<()> {
    files::write("devices", dir, "devices.deny", "a")?;
    files::write_each("devices", dir, "devices.allow", &DEFAULT_DEVICE_RULES)
}

/// The rules [`restrict_devices`] leaves, as devices.list prints them.
#[cfg(test)]
pub fn default_device_rules() -> &'static [&'static str] {
    &DEFAULT_DEVICE_RULES
}

fn bytes_value(b: Bytes) -> String {
    match b {
        Bytes::Max => "-1".to_string(),
        Bytes::Exact(n) => n.to_string(),
    }
}

/// Writes memory.limit_in_bytes and, where swap accounting exists, memory.memsw.limit_in_bytes.
/// The kernel requires memory <= memsw at every moment, so raising needs memsw first and
/// lowering needs memory first; rather than read and compare, try one order and then the other.
pub fn apply_memory(dir: &Path, plan: &MemoryPlan) -> Result<()> {
    let has_memsw = dir.join("memory.memsw.limit_in_bytes").exists();
    let memsw = bytes_value(plan.memory_swap);
    match plan.memory.map(bytes_value) {
        None if has_memsw => files::write("memory", dir, "memory.memsw.limit_in_bytes", &memsw)?,
        None => {}
        Some(memory) if !has_memsw => {
            files::write("memory", dir, "memory.limit_in_bytes", &memory)?
        }
        Some(memory) => {
            let memory_first = files::write("memory", dir, "memory.limit_in_bytes", &memory)
                .and_then(|()| files::write("memory", dir, "memory.memsw.limit_in_bytes", &memsw));
            if let Err(first_error) = memory_first {
                files::write("memory", dir, "memory.memsw.limit_in_bytes", &memsw)
                    .and_then(|()| files::write("memory", dir, "memory.limit_in_bytes", &memory))
                    .map_err(|_| first_error)?;
            }
        }
    }
    // oom_kill_disable is inherited from the parent at creation (mm/memcontrol-v1.c); with it
    // set, a task over its limit sleeps forever instead of being killed. Containers must die.
    files::write("memory", dir, "memory.oom_control", "0")
}

/// cpu.cfs_period_us/cfs_quota_us (-1 = no limit) and cpu.shares.
pub fn apply_cpu(dir: &Path, limits: &Limits) -> Result<()> {
    let max = limits.cpu_max();
    if let Some(period) = max.period {
        files::write("cpu", dir, "cpu.cfs_period_us", &period.to_string())?;
    }
    if let Some(quota) = max.quota {
        let quota = quota.map_or_else(|| "-1".to_string(), |q| q.to_string());
        files::write("cpu", dir, "cpu.cfs_quota_us", &quota)?;
    }
    if let Some(shares) = limits.cpu_shares {
        // 0 means "unset": the kernel default of 1024.
        let shares = if shares == 0 { 1024 } else { shares };
        files::write("cpu", dir, "cpu.shares", &shares.to_string())?;
    }
    Ok(())
}

/// pids.max; v1 and v2 share the file and its "max" keyword.
pub fn apply_pids(controller_dir: &Path, pids: i64) -> Result<()> {
    let value = if pids <= 0 {
        "max".to_string()
    } else {
        pids.to_string()
    };
    files::write("pids", controller_dir, "pids.max", &value)
}

/// cpuset.cpus and cpuset.mems; the same file names in v1 and v2.
pub fn apply_cpuset(dir: &Path, limits: &Limits) -> Result<()> {
    if let Some(cpus) = &limits.cpuset_cpus {
        files::write("cpuset", dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = &limits.cpuset_mems {
        files::write("cpuset", dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// Sets freezer.state and waits until the kernel reports it. Freezing can stay in FREEZING
/// while a task is in an uninterruptible sleep, so the request is repeated, as runc does.
pub fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    let state = if frozen { "FROZEN" } else { "THAWED" };
    let timeout = Duration::from_secs(2);
    let start = Instant::now();
    loop {
        files::write("freezer", dir, "freezer.state", state)?;
        if files::read(dir, "freezer.state")?.trim() == state {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(CgroupError::FreezeTimeout {
                path: dir.to_path_buf(),
                state,
                waited_ms: timeout.as_millis() as u64,
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// memory.soft_limit_in_bytes (-1: none).
pub fn apply_memory_reservation(dir: &Path, bytes: i64) -> Result<()> {
    let v = if bytes <= 0 {
        "-1".to_string()
    } else {
        bytes.to_string()
    };
    files::write("memory", dir, "memory.soft_limit_in_bytes", &v)
}

/// blkio.weight, or blkio.bfq.weight where only BFQ offers one (as runc); the file written,
/// None when the host has neither (Docker then warns and discards the weight).
pub fn blkio_weight_file(dir: &Path) -> Option<&'static str> {
    ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| dir.join(f).exists())
}
