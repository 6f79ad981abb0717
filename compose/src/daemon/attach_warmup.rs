//! Keeps the kernel ready to move a container's first process into its cgroup at once.
//!
//! Door: [`touch`], called when a container's cgroup has been made, just before its shim.
//!
//! Moving a task into a cgroup waits out an RCU grace period (10-25 ms here) unless another
//! move happened within about one grace period before (see
//! `berth_engine::cgroups::prepare_attach`). That wait sat on the critical path of every
//! container start, in the shim, between forking the container's init and letting it exec.
//! While containers are being created or started, one blocking thread repeats a no-op move of
//! the daemon into its own cgroup every few milliseconds: the first pays the grace period
//! while the daemon prepares the container, the rest keep the kernel in the state where the
//! shim's move does not wait. It stops by itself shortly after the last call.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long after the last [`touch`] the warm-up goes on: the shim's move follows within a
/// few milliseconds, the next container of a stack within tens.
const KEEP: Duration = Duration::from_millis(100);
/// Well under one grace period, so the kernel never falls back to the idle state.
const PERIOD: Duration = Duration::from_millis(3);

static RUNNING: AtomicBool = AtomicBool::new(false);
/// Microseconds after [`epoch`] until which the warm-up goes on.
static UNTIL: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

fn now_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// Starts the warm-up, or extends the one under way. Never blocks.
pub fn touch() {
    UNTIL.fetch_max(now_us() + KEEP.as_micros() as u64, Ordering::SeqCst);
    if RUNNING
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return;
    }
    drop(tokio::task::spawn_blocking(|| loop {
        berth_engine::cgroups::prepare_attach();
        std::thread::sleep(PERIOD);
        if now_us() >= UNTIL.load(Ordering::SeqCst) {
            RUNNING.store(false, Ordering::SeqCst);
            // A touch between the check and the store found RUNNING set and left: go on.
            if now_us() < UNTIL.load(Ordering::SeqCst)
                && RUNNING
                    .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                continue;
            }
            return;
        }
    }));
}
