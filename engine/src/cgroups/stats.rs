//! Resource usage read from a cgroup's control files, in the units cAdvisor reports.

use serde::{Deserialize, Serialize};

use super::error::Result;
use super::files::{self, ControlDir};

/// Usage of one container's cgroup. Counters are cumulative since the cgroup was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu_usage_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    pub memory_usage_bytes: u64,
    /// Usage minus inactive file cache, as cAdvisor's container_memory_working_set_bytes: the
    /// memory the kernel cannot reclaim cheaply, and what the OOM killer looks at.
    pub memory_working_set_bytes: u64,
    pub memory_rss_bytes: u64,
    /// None when the cgroup has no memory limit.
    pub memory_limit_bytes: Option<u64>,
    pub pids_current: u64,
    /// How many times the kernel OOM-killed a task of this cgroup.
    pub oom_kills: u64,
    /// Bytes read from and written to block devices by the cgroup's tasks, as `docker stats`
    /// counts BLOCK I/O (exited tasks included).
    #[serde(default)]
    pub block_read_bytes: u64,
    #[serde(default)]
    pub block_write_bytes: u64,
}

/// The CPU part of [`Stats`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CpuUsage {
    pub usage_ns: u64,
    pub user_ns: u64,
    pub system_ns: u64,
}

/// The memory part of [`Stats`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    pub usage_bytes: u64,
    pub working_set_bytes: u64,
    pub rss_bytes: u64,
    pub limit_bytes: Option<u64>,
    pub oom_kills: u64,
}

/// v1 blkio: the Read and Write lines of blkio.throttle.io_service_bytes_recursive
/// (`MAJ:MIN Op BYTES`) summed over devices, as Docker's CLI sums them. The throttle
/// counters are kept for every cgroup, whatever the I/O scheduler.
pub fn block_io_v1(dir: &(impl ControlDir + ?Sized)) -> Result<(u64, u64)> {
    let text = files::read(dir, "blkio.throttle.io_service_bytes_recursive")?;
    let (mut read, mut write) = (0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, bytes] = f[..] {
            let n: u64 = bytes.parse().unwrap_or(0);
            match op.to_ascii_lowercase().as_str() {
                "read" => read += n,
                "write" => write += n,
                _ => {}
            }
        }
    }
    Ok((read, write))
}

/// v2 io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N ...` per device.
pub fn block_io_v2(dir: &(impl ControlDir + ?Sized)) -> Result<(u64, u64)> {
    let text = files::read(dir, "io.stat")?;
    let (mut read, mut write) = (0, 0);
    for (k, v) in text.split_whitespace().filter_map(|kv| kv.split_once('=')) {
        let n: u64 = v.parse().unwrap_or(0);
        match k {
            "rbytes" => read += n,
            "wbytes" => write += n,
            _ => {}
        }
    }
    Ok((read, write))
}

/// v1 reports "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages);
/// anything this large is no limit on any page size.
const V1_UNLIMITED: u64 = 1 << 62;

/// v1 cpuacct: cpuacct.usage is in ns, cpuacct.stat in USER_HZ ticks (proc(5)).
pub fn cpu_v1(dir: &(impl ControlDir + ?Sized)) -> Result<CpuUsage> {
    let usage_ns = files::read_u64(dir, "cpuacct.usage")?;
    let ticks = files::read(dir, "cpuacct.stat")?;
    let ns_per_tick = 1_000_000_000 / user_hz();
    Ok(CpuUsage {
        usage_ns,
        user_ns: keyed(&ticks, "user") * ns_per_tick,
        system_ns: keyed(&ticks, "system") * ns_per_tick,
    })
}

/// v2 cpu.stat, in microseconds; present in every non-root cgroup even without the cpu
/// controller enabled.
pub fn cpu_v2(dir: &(impl ControlDir + ?Sized)) -> Result<CpuUsage> {
    let stat = files::read(dir, "cpu.stat")?;
    let ns = |key: &str| keyed(&stat, key) * 1_000;
    Ok(CpuUsage {
        usage_ns: ns("usage_usec"),
        user_ns: ns("user_usec"),
        system_ns: ns("system_usec"),
    })
}

/// v1 memory. memory.stat's total_* keys are hierarchical; the plain keys would miss
/// children. The oom_kill line of memory.oom_control exists since Linux 4.13.
pub fn memory_v1(dir: &(impl ControlDir + ?Sized)) -> Result<MemoryUsage> {
    let usage_bytes = files::read_u64(dir, "memory.usage_in_bytes")?;
    let stat = files::read(dir, "memory.stat")?;
    let inactive_file = keyed(&stat, "total_inactive_file");
    let limit = files::read_u64(dir, "memory.limit_in_bytes")?;
    let oom = files::read(dir, "memory.oom_control")?;
    Ok(MemoryUsage {
        usage_bytes,
        working_set_bytes: usage_bytes.saturating_sub(inactive_file),
        rss_bytes: keyed(&stat, "total_rss"),
        limit_bytes: (limit < V1_UNLIMITED).then_some(limit),
        oom_kills: keyed(&oom, "oom_kill"),
    })
}

/// v2 memory. memory.events (not .local) counts OOM kills of the whole subtree.
pub fn memory_v2(dir: &(impl ControlDir + ?Sized)) -> Result<MemoryUsage> {
    let usage_bytes = files::read_u64(dir, "memory.current")?;
    let stat = files::read(dir, "memory.stat")?;
    let inactive_file = keyed(&stat, "inactive_file");
    let events = files::read(dir, "memory.events")?;
    Ok(MemoryUsage {
        usage_bytes,
        working_set_bytes: usage_bytes.saturating_sub(inactive_file),
        rss_bytes: keyed(&stat, "anon"),
        limit_bytes: files::read_max(dir, "memory.max")?,
        oom_kills: keyed(&events, "oom_kill"),
    })
}

/// The kernel's count of OOM kills alone (the oom_kill line of v1 memory.oom_control, of v2
/// memory.events), for a question that needs no other figure: whether an exited container
/// was OOM-killed. Reading all of [`memory_v1`] renders memory.stat for nothing.
pub fn oom_kills(cgroup2: bool, dir: &(impl ControlDir + ?Sized)) -> Result<u64> {
    let file = match cgroup2 {
        false => "memory.oom_control",
        true => "memory.events",
    };
    Ok(files::read_keyed(dir, file)?
        .get("oom_kill")
        .copied()
        .unwrap_or(0))
}

/// pids.current has the same name and meaning in v1 and v2.
pub fn pids_current(dir: &(impl ControlDir + ?Sized)) -> Result<u64> {
    files::read_u64(dir, "pids.current")
}

/// A key of flat keyed text (memory.stat, cpu.stat, ...); a key the kernel does not show
/// counts zero.
fn keyed(text: &str, key: &str) -> u64 {
    files::keyed(text, key).unwrap_or(0)
}

/// The kernel's USER_HZ, the unit of cpuacct.stat; 100 on every mainstream architecture.
fn user_hz() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(hz)) if hz > 0 => hz as u64,
        _ => 100,
    }
}

/// [`Stats`] from the cpu, memory, pids and block I/O directories, each (is cgroup2,
/// directory).
pub(crate) fn read<D: files::ControlDir + ?Sized>(
    cpu: Option<(bool, &D)>,
    memory: Option<(bool, &D)>,
    pids: Option<(bool, &D)>,
    io: Option<(bool, &D)>,
) -> Result<Stats> {
    let mut s = Stats::default();
    let cpu = match cpu {
        Some((false, dir)) => Some(cpu_v1(dir)?),
        Some((true, dir)) => Some(cpu_v2(dir)?),
        None => None,
    };
    if let Some(cpu) = cpu {
        (s.cpu_usage_ns, s.cpu_user_ns, s.cpu_system_ns) =
            (cpu.usage_ns, cpu.user_ns, cpu.system_ns);
    }
    let memory = match memory {
        Some((false, dir)) => Some(memory_v1(dir)?),
        Some((true, dir)) => Some(memory_v2(dir)?),
        None => None,
    };
    if let Some(m) = memory {
        s.memory_usage_bytes = m.usage_bytes;
        s.memory_working_set_bytes = m.working_set_bytes;
        s.memory_rss_bytes = m.rss_bytes;
        s.memory_limit_bytes = m.limit_bytes;
        s.oom_kills = m.oom_kills;
    }
    if let Some((_, dir)) = pids {
        s.pids_current = pids_current(dir)?;
    }
    // A cgroup made before berth joined containers to blkio has no such directory: zero.
    let io = match io {
        Some((false, dir)) => block_io_v1(dir).ok(),
        Some((true, dir)) => block_io_v2(dir).ok(),
        None => None,
    };
    if let Some((read, write)) = io {
        (s.block_read_bytes, s.block_write_bytes) = (read, write);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn v1_cpu_converts_ticks() {
        let d = tree(&[
            ("cpuacct.usage", "123456789\n"),
            ("cpuacct.stat", "user 5\nsystem 7\n"),
        ]);
        let cpu = cpu_v1(d.path()).unwrap();
        let tick = 1_000_000_000 / user_hz();
        assert_eq!(
            cpu,
            CpuUsage {
                usage_ns: 123456789,
                user_ns: 5 * tick,
                system_ns: 7 * tick
            }
        );
    }

    #[test]
    fn block_io_sums_reads_and_writes_over_devices() {
        let d = tree(&[(
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\n\
             8:16 Read 1\n8:16 Write 2\nTotal 12291\n",
        )]);
        assert_eq!(block_io_v1(d.path()).unwrap(), (4097, 8194));
        let d = tree(&[(
            "io.stat",
            "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2\n",
        )]);
        assert_eq!(block_io_v2(d.path()).unwrap(), (101, 202));
    }

    #[test]
    fn v2_cpu_converts_usec() {
        let d = tree(&[(
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\nnr_throttled 0\n",
        )]);
        let cpu = cpu_v2(d.path()).unwrap();
        assert_eq!(
            cpu,
            CpuUsage {
                usage_ns: 1_500_000,
                user_ns: 1_000_000,
                system_ns: 500_000
            }
        );
    }

    #[test]
    fn v1_memory_working_set_and_limits() {
        let d = tree(&[
            ("memory.usage_in_bytes", "10000\n"),
            (
                "memory.stat",
                "cache 1\nrss 2\ntotal_cache 3000\ntotal_rss 6000\ntotal_inactive_file 2500\n",
            ),
            ("memory.limit_in_bytes", "33554432\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
            ),
        ]);
        let m = memory_v1(d.path()).unwrap();
        assert_eq!(
            m,
            MemoryUsage {
                usage_bytes: 10000,
                working_set_bytes: 7500,
                rss_bytes: 6000,
                limit_bytes: Some(33554432),
                oom_kills: 2
            }
        );
        fs::write(
            d.path().join("memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .unwrap();
        assert_eq!(memory_v1(d.path()).unwrap().limit_bytes, None);
    }

    #[test]
    fn v2_memory_reads_events_and_max() {
        let d = tree(&[
            ("memory.current", "8192\n"),
            ("memory.stat", "anon 4096\nfile 4096\ninactive_file 10000\n"),
            ("memory.max", "max\n"),
            (
                "memory.events",
                "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
            ),
        ]);
        let m = memory_v2(d.path()).unwrap();
        // inactive_file larger than usage (racy reads) must not underflow
        assert_eq!(m.working_set_bytes, 0);
        assert_eq!(m.rss_bytes, 4096);
        assert_eq!(m.limit_bytes, None);
        assert_eq!(m.oom_kills, 1);
    }

    #[test]
    fn oom_kills_alone_from_either_version() {
        let d = tree(&[
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
            ),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
        ]);
        assert_eq!(oom_kills(false, d.path()).unwrap(), 2);
        assert_eq!(oom_kills(true, d.path()).unwrap(), 1);
        // Kernels before 4.13 have no oom_kill line in v1: none counted.
        fs::write(d.path().join("memory.oom_control"), "under_oom 0\n").unwrap();
        assert_eq!(oom_kills(false, d.path()).unwrap(), 0);
    }

    #[test]
    fn missing_file_names_its_path() {
        let d = tree(&[]);
        let err = pids_current(d.path()).unwrap_err().to_string();
        assert!(err.contains("pids.current"), "{err}");
    }
}
