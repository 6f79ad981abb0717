//! A scrape's figures from the kernel: each live container's cgroup files and
//! `/proc/PID/net/dev`, held open between scrapes.
//!
//! The reads are most of a scrape: 100 containers are 800 preads into cgroupfs and procfs,
//! ~1.3 µs each back to back and 3-5 µs on a CPU that was idle, the kernel generating every
//! file anew; ~3.5 ms in all. So the scrape shares them with a helper thread, kept for the
//! next scrape, that may run anywhere but on the scrape's own CPU. Left to the scheduler, a
//! helper stayed queued on its parent's vCPU until the parent's time slice ran out (this
//! project's 2-core hosts pack a VM's threads onto few vCPUs), and two threads measured no
//! faster than one. The two take containers from one counter, so a helper that starts late
//! (its CPUs busy) only takes less; the scrape never waits for one that has not started.

use super::series::LabelSet;
use super::Seen;
use berth_engine::cgroups::{Cgroup, Stats, StatsReader};
use berth_engine::container::Status;
use berth_engine::runtime::procinfo;
use nix::sched::CpuSet;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Condvar, Mutex};

/// Below this many live containers the reads take well under a millisecond: not worth
/// waking a helper.
const MIN_FOR_HELPER: usize = 16;

/// The kernel's figures of one live container.
pub(super) struct Usage {
    pub(super) stats: Stats,
    pub(super) net: Vec<NetDev>,
}

/// Reads the figures of a scrape; one scrape reads at a time.
pub(super) struct Reader {
    cgroup_parent: Arc<str>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// What a scrape reads, held open by container id: opening a cgroup parses the mount
    /// table and walks long paths, a scrape should do neither.
    sources: HashMap<String, Source>,
    /// Started by the first scrape with enough containers.
    helper: Option<Helper>,
}

impl Reader {
    pub(super) fn new(cgroup_parent: &str) -> Reader {
        Reader {
            cgroup_parent: cgroup_parent.into(),
            state: Mutex::new(State::default()),
        }
    }

    /// The figures of each row that is running or paused (None for the others, and for a
    /// container whose cgroup is gone), in the order of `rows`. Blocking.
    pub(super) fn read(&self, rows: &[Seen]) -> Vec<Option<Usage>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State { sources, helper } = &mut *state;
        // Each live row becomes a job holding its kept source (and the source's key: a
        // scrape allocates as little as it can, the allocator's clean-up of many small frees
        // lands on the next request); the sources of containers not seen any more stay in
        // the old map and close with it.
        let mut kept = std::mem::replace(sources, HashMap::with_capacity(rows.len()));
        let jobs: Vec<Mutex<Job>> = rows
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.status, Status::Running | Status::Paused))
            .map(|(row, s)| {
                let (key, source) = kept.remove_entry(&s.labels.id).unzip();
                Mutex::new(Job {
                    row,
                    labels: s.labels.clone(),
                    pid: s.pid,
                    pid_start_time: s.pid_start_time,
                    key,
                    source,
                    usage: None,
                })
            })
            .collect();
        drop(kept);
        let batch = Arc::new(Batch {
            parent: self.cgroup_parent.clone(),
            jobs,
            next: AtomicUsize::new(0),
            done: Mutex::new(0),
            all_done: Condvar::new(),
        });
        if batch.jobs.len() >= MIN_FOR_HELPER {
            share(helper, &batch);
        }
        batch.work();
        batch.wait();
        let mut usage: Vec<Option<Usage>> = rows.iter().map(|_| None).collect();
        for job in &batch.jobs {
            let mut job = job.lock().unwrap_or_else(|e| e.into_inner());
            usage[job.row] = job.usage.take();
            if let Some(source) = job.source.take() {
                let key = job.key.take().unwrap_or_else(|| job.labels.id.clone());
                sources.insert(key, source);
            }
        }
        usage
    }
}

/// One scrape's reads, shared by the scrape and its helper.
struct Batch {
    parent: Arc<str>,
    jobs: Vec<Mutex<Job>>,
    /// The next job to take.
    next: AtomicUsize,
    /// Jobs finished; the scrape waits on `all_done` for the helper's last.
    done: Mutex<usize>,
    all_done: Condvar,
}

impl Batch {
    /// Takes jobs until none is left.
    fn work(&self) {
        loop {
            let Some(job) = self.jobs.get(self.next.fetch_add(1, Relaxed)) else {
                return;
            };
            // Counted even if the read panics, so that the scrape does not wait forever.
            let _finished = Finished(self);
            job.lock()
                .unwrap_or_else(|e| e.into_inner())
                .run(&self.parent);
        }
    }

    /// Until every job is finished (the helper may still be reading its last one).
    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while *done < self.jobs.len() {
            done = self.all_done.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

struct Finished<'a>(&'a Batch);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        let mut done = self.0.done.lock().unwrap_or_else(|e| e.into_inner());
        *done += 1;
        if *done == self.0.jobs.len() {
            self.0.all_done.notify_all();
        }
    }
}

/// Hands `batch` to the helper, started if there is none yet, after keeping it off this
/// thread's CPU; nothing if this thread may use no other CPU, or the helper cannot start.
fn share(helper: &mut Option<Helper>, batch: &Arc<Batch>) {
    let Some(elsewhere) = cpus_but_this_one() else {
        return;
    };
    if helper.is_none() {
        *helper = Helper::start();
    }
    let Some(h) = helper else { return };
    // Set before the wake-up, so that the helper wakes where it is to run; failing that, it
    // runs wherever the scheduler puts it: slower, never wrong.
    let _ = nix::sched::sched_setaffinity(h.tid, &elsewhere);
    if h.batches.send(batch.clone()).is_err() {
        *helper = None;
    }
}

/// A thread that takes jobs from the batches it is sent.
struct Helper {
    tid: Pid,
    batches: mpsc::Sender<Arc<Batch>>,
}

impl Helper {
    fn start() -> Option<Helper> {
        let (batches, incoming) = mpsc::channel::<Arc<Batch>>();
        let (tid_tx, tid_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("berth-metrics-read".into())
            .spawn(move || {
                let _ = tid_tx.send(nix::unistd::gettid());
                // Ends with the Reader, whose end drops the sender.
                for batch in incoming {
                    batch.work();
                }
            })
            .ok()?;
        Some(Helper {
            tid: tid_rx.recv().ok()?,
            batches,
        })
    }
}

/// The CPUs this thread may use except the one it is on; None if that leaves none.
fn cpus_but_this_one() -> Option<CpuSet> {
    let here = nix::sched::sched_getcpu().ok()?;
    let mut set = nix::sched::sched_getaffinity(Pid::from_raw(0)).ok()?;
    set.unset(here).ok()?;
    (0..CpuSet::count())
        .any(|cpu| set.is_set(cpu).unwrap_or(false))
        .then_some(set)
}

/// One live container's read: its source kept from the last scrape, if any, and the figures.
struct Job {
    row: usize,
    labels: Arc<LabelSet>,
    pid: i32,
    pid_start_time: u64,
    /// The kept source's key in the map, to put it back under.
    key: Option<String>,
    source: Option<Source>,
    usage: Option<Usage>,
}

impl Job {
    fn run(&mut self, parent: &str) {
        // A kept source can be stale (the container restarted: a new init, a new cgroup
        // directory); its reads then fail, and one fresh open is tried.
        if let Some(source) = self.source.take().filter(|s| s.pid == self.pid) {
            if let Some(usage) = source.usage() {
                self.usage = Some(usage);
                self.source = Some(source);
                return;
            }
        }
        let id = &self.labels.id;
        if let Some(source) = Source::open(parent, id, self.pid, self.pid_start_time) {
            self.usage = source.usage();
            if self.usage.is_some() {
                self.source = Some(source);
            }
        }
    }
}

/// One running container's cgroup files and /proc/PID/net/dev, held open.
struct Source {
    pid: i32,
    cgroup: StatsReader,
    /// /proc/PID/net/dev of the container's init, opened after checking its start time: the
    /// file stays bound to that process's network namespace even if the pid is reused, so
    /// no scrape can read another process's counters; read again from offset 0, it is
    /// generated anew.
    net_dev: Option<std::fs::File>,
}

impl Source {
    fn open(parent: &str, id: &str, pid: i32, pid_start_time: u64) -> Option<Source> {
        // The series have no block I/O: one file less per container and scrape.
        let cgroup = Cgroup::open(parent, id)
            .ok()?
            .stats_reader()
            .ok()?
            .without_block_io();
        let net_dev = std::fs::File::open(format!("/proc/{pid}/net/dev"))
            .ok()
            .filter(|_| procinfo::is_same_process(pid, pid_start_time));
        Some(Source {
            pid,
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
    use berth_engine::cgroups::Limits;

    /// Cgroups made for a test, destroyed with their parent when it ends, failed or not.
    struct TestCgroups {
        parent: String,
        names: Vec<String>,
    }

    impl Drop for TestCgroups {
        fn drop(&mut self) {
            for name in &self.names {
                if let Ok(cg) = Cgroup::open(&self.parent, name) {
                    let _ = cg.destroy();
                }
            }
            let _ = berth_engine::cgroups::remove_parent(&self.parent);
        }
    }

    /// Enough live containers for the helper thread, one exited among them, each cgroup with
    /// a memory limit of its own: every figure lands in its own row, read fresh and kept.
    #[test]
    fn reads_every_live_container_into_its_row_beside_a_helper() {
        if !nix::unistd::geteuid().is_root() || berth_engine::cgroups::detect().is_err() {
            eprintln!("skipped: needs root and a mounted cgroup filesystem");
            return;
        }
        let parent = format!("berth-test-{}", &berth_engine::fsutil::new_id()[..12]);
        let mut cgroups = TestCgroups {
            parent: parent.clone(),
            names: Vec::new(),
        };
        let pid = std::process::id() as i32;
        let pid_start_time = procinfo::start_time(pid).unwrap();
        let rows: Vec<Seen> = (0..MIN_FOR_HELPER as i64 + 8)
            .map(|i| {
                let id = format!("c{i:02}");
                let limits = Limits {
                    memory: Some((i + 1) << 20),
                    ..Default::default()
                };
                Cgroup::create(&parent, &id, &limits).unwrap();
                cgroups.names.push(id.clone());
                Seen {
                    labels: Arc::new(LabelSet::new(
                        &parent,
                        &id,
                        &id,
                        "bb:local",
                        (None, None),
                        false,
                    )),
                    status: if i == 5 {
                        Status::Exited
                    } else {
                        Status::Running
                    },
                    health: None,
                    restarts: 0,
                    started_at: None,
                    pid,
                    pid_start_time,
                }
            })
            .collect();
        let reader = Reader::new(&parent);
        for _ in 0..2 {
            let usage = reader.read(&rows);
            assert_eq!(usage.len(), rows.len());
            for (i, u) in usage.iter().enumerate() {
                match u {
                    None => assert_eq!(i, 5, "row {i} has no figures"),
                    Some(u) => assert_eq!(u.stats.memory_limit_bytes, Some((i as u64 + 1) << 20)),
                }
            }
        }
        // A container whose cgroup went has no figures; the others keep theirs.
        Cgroup::open(&parent, "c03").unwrap().destroy().unwrap();
        let usage = reader.read(&rows);
        assert!(usage[3].is_none());
        assert!(usage[4].is_some());
        assert_eq!(reader.state.lock().unwrap().sources.len(), rows.len() - 2);
    }

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
