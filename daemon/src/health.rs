//! Health checks run by the daemon: the probe is an exec into the container (the same helper
//! `berth exec` uses), on Docker's schedule and rules: `start_interval` during the start
//! period, whose failures don't count; `retries` consecutive failures make it unhealthy; one
//! success makes it healthy.

use super::containers::{Containers, Ctr};
use berth_engine::container::{HealthConfig, HealthProbe, HealthStatus, Status};
use berth_engine::runtime::logs::now_rfc3339;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Docker keeps this much of a probe's output.
const MAX_OUTPUT: usize = 4096;
const KEEP_PROBES: usize = 5;

/// Where a run's probing begins.
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    /// The run just started: the first probe comes after one interval, as Docker's.
    Started,
    /// A new daemon re-adopted the running container, which has run this long: its status
    /// froze while no daemon probed (a service "starting" forever blocks `up --wait` and its
    /// dependents), so the first probe comes at once; the start period counts from the
    /// container's own start, as Docker's (moby compares a probe's start with StartedAt).
    Resumed { running_for: Duration },
}

/// Probes the container for as long as the run that started with `shim_pid` lasts.
pub fn spawn(cs: Arc<Containers>, ctr: Arc<Ctr>, shim_pid: i32, hc: HealthConfig, begin: Begin) {
    tokio::spawn(async move {
        let (started, mut at_once) = match begin {
            Begin::Started => (Instant::now(), false),
            Begin::Resumed { running_for } => (
                Instant::now()
                    .checked_sub(running_for)
                    .unwrap_or_else(Instant::now),
                true,
            ),
        };
        let start_period = Duration::from_millis(hc.start_period_ms);
        loop {
            let in_start_period = started.elapsed() < start_period;
            let wait = if std::mem::take(&mut at_once) {
                0
            } else if in_start_period && hc.start_interval_ms > 0 {
                hc.start_interval_ms
            } else {
                hc.interval_ms.max(1)
            };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let request = {
                let r = ctr.rec.lock().await;
                if r.state.shim_pid != shim_pid {
                    return;
                }
                match r.state.status {
                    Status::Running => {}
                    // A frozen container cannot answer; probing resumes once it is unpaused
                    // (the same run, so the same loop).
                    Status::Paused => continue,
                    _ => return,
                }
                match cs.exec_request(&r, hc.test.clone()).await {
                    Ok(req) => req,
                    Err(_) => return,
                }
            };
            let probe = run_probe(&cs, &request, Duration::from_millis(hc.timeout_ms.max(1))).await;
            let mut r = ctr.rec.lock().await;
            if r.state.shim_pid != shim_pid {
                return;
            }
            let health = r.state.health.get_or_insert_with(Default::default);
            if probe.exit_code == 0 {
                health.status = HealthStatus::Healthy;
                health.failing_streak = 0;
            } else if !in_start_period || health.status == HealthStatus::Healthy {
                health.failing_streak += 1;
                if health.failing_streak >= hc.retries.max(1) {
                    health.status = HealthStatus::Unhealthy;
                }
            }
            health.log.push(probe);
            let excess = health.log.len().saturating_sub(KEEP_PROBES);
            health.log.drain(..excess);
            let status = health.status;
            let _ = berth_engine::fsutil::write_json(&cs.layout(&r.id).record(), &*r);
            drop(r);
            if ctr.health.send_replace(Some(status)) != Some(status) {
                tracing::info!(container = %ctr.id, health = status.as_str(), "health changed");
            }
        }
    });
}

async fn run_probe(
    cs: &Containers,
    req: &berth_engine::runtime::exec::ExecRequest,
    timeout: Duration,
) -> HealthProbe {
    let start = now_rfc3339();
    let json = serde_json::to_string(req).unwrap_or_default();
    let child = tokio::process::Command::new(cs.helper_exe())
        .arg("exec-helper")
        .arg(json)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let (exit_code, output) = match child {
        Err(e) => (-1, format!("starting the probe: {e}")),
        Ok(child) => match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Err(_) => (
                -1,
                format!("Health check exceeded timeout ({}s)", timeout.as_secs_f64()),
            ),
            Ok(Err(e)) => (-1, e.to_string()),
            Ok(Ok(out)) => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                text.truncate(MAX_OUTPUT);
                (out.status.code().unwrap_or(-1), text)
            }
        },
    };
    HealthProbe {
        start,
        end: now_rfc3339(),
        exit_code,
        output,
    }
}
