//! A scrape's figures from the kernel: each live container's cgroup files and
//! `/proc/PID/net/dev`, held open between scrapes.
//!
//! The reads are most of a scrape: 100 containers are 800 preads into cgroupfs and procfs,
//! ~1.3 µs each back to back and 3-4 µs on a CPU that was idle, the kernel generating every
//! file anew. They run on one thread: on this project's 2-core hosts a second thread started
//! for them stayed on its parent's core (the scheduler packs a VM's threads onto few vCPUs),
//! and two threads measured no faster.

use super::Seen;
use berth_engine::cgroups::{Cgroup, Stats, StatsReader};
use berth_engine::container::Status;
use berth_engine::runtime::procinfo;
use std::collections::HashMap;
use std::sync::Mutex;

/// The kernel's figures of one live container.
pub(super) struct Usage {
    pub(super) stats: Stats,
    pub(super) net: Vec<NetDev>,
}

/// What a scrape reads, held open by container id: opening a cgroup parses the mount table
/// and walks long paths, a scrape should do neither.
pub(super) struct Reader {
    cgroup_parent: String,
    sources: Mutex<Sources>,
}

#[derive(Default)]
struct Sources {
    by_id: HashMap<String, Source>,
    /// Counts scrapes; a source not used by the current one belongs to a container gone.
    scrape: u64,
}

impl Reader {
    pub(super) fn new(cgroup_parent: &str) -> Reader {
        Reader {
            cgroup_parent: cgroup_parent.to_string(),
            sources: Mutex::new(Sources::default()),
        }
    }

    /// The figures of each row that is running or paused (None for the others, and for a
    /// container whose cgroup is gone), in the order of `rows`. Blocking.
    pub(super) fn read(&self, rows: &[Seen]) -> Vec<Option<Usage>> {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let Sources { by_id, scrape } = &mut *sources;
        *scrape += 1;
        let usage = rows
            .iter()
            .map(|seen| {
                if !matches!(seen.status, Status::Running | Status::Paused) {
                    return None;
                }
                // A kept source can be stale (the container restarted: a new init, a new
                // cgroup directory); its reads then fail, and one fresh open is tried.
                let kept = by_id.get_mut(&seen.id).filter(|s| s.pid == seen.pid);
                if let Some(source) = kept {
                    if let Some(usage) = source.usage() {
                        source.scrape = *scrape;
                        return Some(usage);
                    }
                }
                let mut source = Source::open(&self.cgroup_parent, seen)?;
                let usage = source.usage()?;
                source.scrape = *scrape;
                by_id.insert(seen.id.clone(), source);
                Some(usage)
            })
            .collect();
        by_id.retain(|_, s| s.scrape == *scrape);
        usage
    }
}

/// One running container's cgroup files and /proc/PID/net/dev, held open.
struct Source {
    pid: i32,
    /// The last scrape that read it.
    scrape: u64,
    cgroup: StatsReader,
    /// /proc/PID/net/dev of the container's init, opened after checking its start time: the
    /// file stays bound to that process's network namespace even if the pid is reused, so
    /// no scrape can read another process's counters; read again from offset 0, it is
    /// generated anew.
    net_dev: Option<std::fs::File>,
}

impl Source {
    fn open(parent: &str, s: &Seen) -> Option<Source> {
        // The series have no block I/O: one file less per container and scrape.
        let cgroup = Cgroup::open(parent, &s.id)
            .ok()?
            .stats_reader()
            .ok()?
            .without_block_io();
        let net_dev = std::fs::File::open(format!("/proc/{}/net/dev", s.pid))
            .ok()
            .filter(|_| procinfo::is_same_process(s.pid, s.pid_start_time));
        Some(Source {
            pid: s.pid,
            scrape: 0,
            cgroup,
            net_dev,
        })
    }

    /// None when a file fails to read (the cgroup or the process is gone).
    fn usage(&self) -> Option<Usage> {
        let stats = self.cgroup.stats().ok()?;
        let net = match &self.net_dev {
            // /proc/PID/net/dev is one record per interface: read to the end.
            Some(f) => {
                let text = berth_engine::fsutil::read_whole_at(f).ok()?;
                parse_net_dev(std::str::from_utf8(&text).ok()?)
            }
            None => Vec::new(),
        };
        Some(Usage { stats, net })
    }
}

/// One interface's counters from /proc/PID/net/dev.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct NetDev {
    pub(crate) interface: String,
    pub(crate) rx_bytes: u64,
    pub(crate) rx_packets: u64,
    pub(crate) rx_errors: u64,
    pub(crate) rx_dropped: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) tx_packets: u64,
    pub(crate) tx_errors: u64,
    pub(crate) tx_dropped: u64,
}

/// Parses /proc/net/dev (proc(5)): two header lines, then `iface: 16 numbers`, receive first.
/// Loopback is left out, as cAdvisor does: traffic that never leaves the container.
pub(crate) fn parse_net_dev(text: &str) -> Vec<NetDev> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let mut n = [0u64; 16];
            let mut fields = rest.split_whitespace();
            for slot in &mut n {
                *slot = fields.next()?.parse().unwrap_or(0);
            }
            Some(NetDev {
                interface: name.to_string(),
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errors: n[2],
                rx_dropped: n[3],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errors: n[10],
                tx_dropped: n[11],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_skips_loopback_and_reads_both_directions() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    1500      12    1    2    0     0          0         0      900       9    3    4    0     0       0          0
  eth1:    1500      12    1    2    0     0          0
";
        assert_eq!(
            parse_net_dev(text),
            vec![NetDev {
                interface: "eth0".into(),
                rx_bytes: 1500,
                rx_packets: 12,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 900,
                tx_packets: 9,
                tx_errors: 3,
                tx_dropped: 4,
            }]
        );
    }
}
