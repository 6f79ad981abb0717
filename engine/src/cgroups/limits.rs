//! Resource limits as the daemon states them, and their translation into control-file values.

use serde::{Deserialize, Serialize};

use super::error::{CgroupError, Result};

/// The CFS period berth always uses (100 ms, Docker's and the kernel's default).
pub const CPU_PERIOD_US: u64 = 100_000;

/// The kernel refuses CFS quotas below 1 ms (kernel/sched/core.c, min_cfs_quota_period).
const MIN_CPU_QUOTA_US: u64 = 1_000;

/// Resource limits of one container. `None` leaves a setting as it is (the kernel default on
/// create, the current value on update). Values that mean "no limit": `memory`,
/// `memory_swap` and `pids` of -1, `cpus` of 0.0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Memory limit in bytes (compose `mem_limit`).
    pub memory: Option<i64>,
    /// Memory plus swap in bytes (compose `memswap_limit`). When only `memory` is set, swap is
    /// limited to zero so that `memory` is a real limit rather than a hint.
    pub memory_swap: Option<i64>,
    /// CPUs as a fraction (compose `cpus`): CFS quota = cpus * 100000 us per 100000 us period.
    pub cpus: Option<f64>,
    /// Relative CPU weight in v1 units (2..=262144, default 1024; compose `cpu_shares`).
    pub cpu_shares: Option<u64>,
    /// Maximum number of tasks (compose `pids_limit`).
    pub pids: Option<i64>,
    /// Allowed CPUs, kernel list syntax such as "0-2,4" (compose `cpuset`).
    pub cpuset_cpus: Option<String>,
    /// Allowed memory nodes, kernel list syntax.
    pub cpuset_mems: Option<String>,
    /// Soft memory limit in bytes (`--memory-reservation`): v1 memory.soft_limit_in_bytes,
    /// v2 memory.low; 0 or -1 for none.
    pub memory_reservation: Option<i64>,
    /// CFS period in microseconds (`--cpu-period`), 0 for the kernel default; not with `cpus`.
    pub cpu_period: Option<u64>,
    /// CFS quota in microseconds (`--cpu-quota`), 0 or -1 for none; not with `cpus`.
    pub cpu_quota: Option<i64>,
    /// Block I/O weight, 10..=1000 (`--blkio-weight`), 0 for the default.
    pub blkio_weight: Option<u16>,
}

/// The value to write for a memory limit: v1 wants -1 for "no limit", v2 wants "max".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bytes {
    Max,
    Exact(u64),
}

/// The memory and swap settings derived from [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemoryPlan {
    /// None leaves the memory limit as it is (only swap changes).
    pub memory: Option<Bytes>,
    /// Memory plus swap, as v1's memory.memsw.limit_in_bytes counts it.
    pub memory_swap: Bytes,
}

impl MemoryPlan {
    /// Swap alone, as v2's memory.swap.max counts it; `current_memory` is used when the plan
    /// leaves the memory limit unchanged.
    pub(crate) fn swap_only(&self, current_memory: Bytes) -> Bytes {
        match (self.memory.unwrap_or(current_memory), self.memory_swap) {
            (_, Bytes::Max) | (Bytes::Max, _) => self.memory_swap,
            (Bytes::Exact(m), Bytes::Exact(ms)) => Bytes::Exact(ms.saturating_sub(m)),
        }
    }
}

impl Limits {
    /// Checks every value before anything is written, so a bad limit never leaves a cgroup
    /// half configured.
    pub fn validate(&self) -> Result<()> {
        let invalid = |limit, reason: String| Err(CgroupError::InvalidLimit { limit, reason });
        for (limit, value) in [
            ("memory", self.memory),
            ("memory_swap", self.memory_swap),
            ("pids", self.pids),
        ] {
            if let Some(v) = value {
                if v < -1 {
                    return invalid(limit, format!("{v} is negative (use -1 for no limit)"));
                }
            }
        }
        if let (Some(m), Some(ms)) = (self.memory, self.memory_swap) {
            if m > 0 && ms > 0 && ms < m {
                return invalid(
                    "memory_swap",
                    format!("{ms} is smaller than the memory limit {m}"),
                );
            }
        }
        if let Some(cpus) = self.cpus {
            if !cpus.is_finite() || cpus < 0.0 {
                return invalid("cpus", format!("{cpus} is not a positive number"));
            }
            if cpus > 0.0 && cpu_quota_us(cpus) < MIN_CPU_QUOTA_US {
                return invalid(
                    "cpus",
                    format!("{cpus} is below the kernel's minimum of 0.01"),
                );
            }
        }
        // Docker's words (daemon/daemon_unix.go, verifyPlatformContainerResources).
        if self.cpus.is_some_and(|c| c > 0.0) {
            if self.cpu_quota.is_some_and(|q| q > 0) {
                return invalid(
                    "cpu_quota",
                    "Conflicting options: Nano CPUs and CPU Quota cannot both be set".into(),
                );
            }
            if self.cpu_period.is_some_and(|p| p > 0) {
                return invalid(
                    "cpu_period",
                    "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
                );
            }
        }
        if self
            .cpu_period
            .is_some_and(|p| p != 0 && !(1_000..=1_000_000).contains(&p))
        {
            return invalid(
                "cpu_period",
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into(),
            );
        }
        if self
            .cpu_quota
            .is_some_and(|q| q > 0 && (q as u64) < MIN_CPU_QUOTA_US)
        {
            return invalid(
                "cpu_quota",
                "CPU cfs quota can not be less than 1ms (i.e. 1000)".into(),
            );
        }
        if self
            .blkio_weight
            .is_some_and(|w| w != 0 && !(10..=1000).contains(&w))
        {
            return invalid(
                "blkio_weight",
                "Range of blkio weight is from 10 to 1000".into(),
            );
        }
        if let (Some(m), Some(r)) = (self.memory, self.memory_reservation) {
            if m > 0 && r > 0 && r > m {
                return invalid(
                    "memory_reservation",
                    "Minimum memory limit can not be less than memory reservation limit, see usage"
                        .into(),
                );
            }
        }
        if let Some(shares) = self.cpu_shares {
            if shares != 0 && !(2..=262_144).contains(&shares) {
                return invalid("cpu_shares", format!("{shares} is outside 2..=262144"));
            }
        }
        for (limit, value) in [
            ("cpuset_cpus", &self.cpuset_cpus),
            ("cpuset_mems", &self.cpuset_mems),
        ] {
            if let Some(list) = value {
                if !list
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ',' || c == '-')
                {
                    return invalid(limit, format!("{list:?} is not a list such as 0-2,4"));
                }
            }
        }
        Ok(())
    }

    /// The memory settings to write, or None when neither memory nor swap is to change.
    pub(crate) fn memory_plan(&self) -> Option<MemoryPlan> {
        let bytes = |v: i64| {
            if v <= 0 {
                Bytes::Max
            } else {
                Bytes::Exact(v as u64)
            }
        };
        match (self.memory, self.memory_swap) {
            (None, None) => None,
            // Swap alone: the memory limit stays as it is.
            (None, Some(ms)) => Some(MemoryPlan {
                memory: None,
                memory_swap: bytes(ms),
            }),
            // No explicit swap: memory+swap equals memory, i.e. no swap, so the container is
            // OOM-killed at its limit instead of being pushed into swap.
            (Some(m), None) => Some(MemoryPlan {
                memory: Some(bytes(m)),
                memory_swap: bytes(m),
            }),
            (Some(m), Some(ms)) => Some(MemoryPlan {
                memory: Some(bytes(m)),
                memory_swap: bytes(ms),
            }),
        }
    }

    /// The CFS quota in microseconds per [`CPU_PERIOD_US`], None for no limit.
    pub(crate) fn cpu_quota(&self) -> Option<Option<u64>> {
        self.cpus.map(|cpus| {
            if cpus <= 0.0 {
                None
            } else {
                Some(cpu_quota_us(cpus))
            }
        })
    }
}

/// What cpu.max / cfs_quota_us and cfs_period_us become: from `cpus` (quota over the fixed
/// period), else from an explicit `cpu_quota` and/or `cpu_period`, each None when unchanged.
/// A quota of None inside means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuMax {
    pub quota: Option<Option<u64>>,
    pub period: Option<u64>,
}

impl Limits {
    pub(crate) fn cpu_max(&self) -> CpuMax {
        if let Some(quota) = self.cpu_quota() {
            return CpuMax {
                quota: Some(quota),
                period: Some(CPU_PERIOD_US),
            };
        }
        CpuMax {
            quota: self.cpu_quota.map(|q| (q > 0).then_some(q as u64)),
            // 0 is the default period.
            period: self
                .cpu_period
                .map(|p| if p == 0 { CPU_PERIOD_US } else { p }),
        }
    }

    /// Whether anything of the cpu controller is to change.
    pub(crate) fn touches_cpu(&self) -> bool {
        self.cpus.is_some()
            || self.cpu_shares.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_period.is_some()
    }
}

fn cpu_quota_us(cpus: f64) -> u64 {
    (cpus * CPU_PERIOD_US as f64).round() as u64
}

/// Converts v1 cpu.shares to v2 cpu.weight with the quadratic-in-log2 curve runc (>= 1.3.2,
/// opencontainers/runc#4785) and crun (>= 1.23) use. Unlike the older linear formula, it maps
/// the minimum, the default and the maximum onto each other: 2 -> 1, 1024 -> 100 and
/// 262144 -> 10000, so a container with default shares keeps default weight.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    10f64.powf(exponent).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_keeps_fixed_points() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 100);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(512), 59);
        assert_eq!(cpu_shares_to_weight(2048), 174);
        // monotonic
        let mut last = 0;
        for s in (2..262_144).step_by(97) {
            let w = cpu_shares_to_weight(s);
            assert!(w >= last && (1..=10_000).contains(&w));
            last = w;
        }
    }

    #[test]
    fn memory_without_swap_is_a_hard_limit() {
        let l = Limits {
            memory: Some(32 << 20),
            ..Default::default()
        };
        let plan = l.memory_plan().unwrap();
        assert_eq!(plan.memory, Some(Bytes::Exact(32 << 20)));
        assert_eq!(plan.memory_swap, Bytes::Exact(32 << 20));
        assert_eq!(plan.swap_only(Bytes::Max), Bytes::Exact(0));
    }

    #[test]
    fn memory_with_swap_and_unlimited() {
        let l = Limits {
            memory: Some(100),
            memory_swap: Some(300),
            ..Default::default()
        };
        assert_eq!(
            l.memory_plan().unwrap().swap_only(Bytes::Max),
            Bytes::Exact(200)
        );
        let l = Limits {
            memory: Some(100),
            memory_swap: Some(-1),
            ..Default::default()
        };
        assert_eq!(l.memory_plan().unwrap().swap_only(Bytes::Max), Bytes::Max);
        let l = Limits {
            memory: Some(-1),
            ..Default::default()
        };
        assert_eq!(l.memory_plan().unwrap().memory, Some(Bytes::Max));
        let l = Limits {
            memory_swap: Some(300),
            ..Default::default()
        };
        assert_eq!(
            l.memory_plan().unwrap().swap_only(Bytes::Exact(100)),
            Bytes::Exact(200)
        );
        assert_eq!(Limits::default().memory_plan(), None);
    }

    #[test]
    fn cpu_quota_from_cpus() {
        let l = Limits {
            cpus: Some(1.5),
            ..Default::default()
        };
        assert_eq!(l.cpu_quota(), Some(Some(150_000)));
        let l = Limits {
            cpus: Some(0.0),
            ..Default::default()
        };
        assert_eq!(l.cpu_quota(), Some(None));
        assert_eq!(Limits::default().cpu_quota(), None);
    }

    #[test]
    fn validation_rejects_nonsense() {
        let bad = [
            Limits {
                memory: Some(-5),
                ..Default::default()
            },
            Limits {
                memory: Some(200),
                memory_swap: Some(100),
                ..Default::default()
            },
            Limits {
                cpus: Some(0.001),
                ..Default::default()
            },
            Limits {
                cpus: Some(f64::NAN),
                ..Default::default()
            },
            Limits {
                cpu_shares: Some(1),
                ..Default::default()
            },
            Limits {
                cpuset_cpus: Some("0;rm".into()),
                ..Default::default()
            },
        ];
        for l in bad {
            let err = l.validate().unwrap_err().to_string();
            assert!(err.starts_with("invalid limit"), "{err}");
        }
        Limits {
            memory: Some(1 << 20),
            cpus: Some(0.5),
            pids: Some(-1),
            ..Default::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn limits_round_trip_through_json() {
        let l = Limits {
            memory: Some(1),
            cpuset_cpus: Some("0-1".into()),
            ..Default::default()
        };
        let back: Limits = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l);
        let partial: Limits = serde_json::from_str(r#"{"pids": 10}"#).unwrap();
        assert_eq!(partial.pids, Some(10));
    }
}
