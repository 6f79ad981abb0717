//! The per-container series: cAdvisor's names and units (so existing dashboards work), berth's
//! own container and replica series, and how one scrape's rows are written, family after
//! family, into the exposition. Each container's label set is rendered once ([`LabelSet`])
//! and copied into its ~23 series.

use super::read::{NetDev, Usage};
use super::{Seen, PROM_PROJECT, PROM_SERVICE};
use crate::exposition::{push_label, Kind, Writer};
use berth_engine::cgroups::Stats;
use berth_engine::container::{HealthStatus, Status};
use std::collections::BTreeMap;

/// A container's labels as its series carry them, in this order: id, name, image, then the
/// Compose project and service where set. They change only when the container is renamed,
/// so the rendered text is kept between scrapes.
pub(super) struct LabelSet {
    /// The container's id: a scrape's rows are known by it.
    pub(super) id: String,
    pub(super) name: String,
    pub(super) project: Option<String>,
    pub(super) service: Option<String>,
    /// A replica of its Compose service: both labels set, and not a one-off `run`.
    pub(super) replica: bool,
    /// `id="/parent/ID",name="...",...`, escaped: what goes between a sample's braces.
    pub(super) text: String,
}

impl LabelSet {
    pub(super) fn new(
        cgroup_parent: &str,
        id: &str,
        name: &str,
        image: &str,
        (project, service): (Option<&str>, Option<&str>),
        one_off: bool,
    ) -> LabelSet {
        let mut text = String::new();
        push_label(&mut text, "id", &format!("/{cgroup_parent}/{id}"));
        push_label(&mut text, "name", name);
        push_label(&mut text, "image", image);
        if let Some(p) = project {
            push_label(&mut text, PROM_PROJECT, p);
        }
        if let Some(s) = service {
            push_label(&mut text, PROM_SERVICE, s);
        }
        LabelSet {
            id: id.to_string(),
            name: name.to_string(),
            project: project.map(str::to_string),
            service: service.map(str::to_string),
            replica: project.is_some() && service.is_some() && !one_off,
            text,
        }
    }
}

/// A family computed from one figure: name, help, and how to read its value.
type Series<T, V> = (&'static str, &'static str, fn(&T) -> V);

const STATES: [Status; 7] = [
    Status::Created,
    Status::Running,
    Status::Paused,
    Status::Restarting,
    Status::Removing,
    Status::Exited,
    Status::Dead,
];

const HEALTH: [HealthStatus; 3] = [
    HealthStatus::Starting,
    HealthStatus::Healthy,
    HealthStatus::Unhealthy,
];

/// Writes every per-container family and the replica families: `rows` (sorted by name) with
/// their figures (None for a container not running), the desired replicas by (project,
/// service), and the time of the reads.
pub(super) fn write(
    w: &mut Writer,
    rows: &[(Seen, Option<Usage>)],
    desired: &BTreeMap<(String, String), u32>,
    now: f64,
) {
    let live = || {
        rows.iter()
            .filter_map(|(s, u)| u.as_ref().map(|u| (s.labels.text.as_str(), &u.stats)))
    };
    let counters: [Series<Stats, f64>; 4] = [
        (
            "container_cpu_usage_seconds",
            "Cumulative CPU time consumed in seconds",
            |s| s.cpu_usage_ns as f64 / 1e9,
        ),
        (
            "container_cpu_user_seconds",
            "Cumulative user CPU time consumed in seconds",
            |s| s.cpu_user_ns as f64 / 1e9,
        ),
        (
            "container_cpu_system_seconds",
            "Cumulative system CPU time consumed in seconds",
            |s| s.cpu_system_ns as f64 / 1e9,
        ),
        (
            "container_oom_events",
            "Count of out-of-memory kills in the container's cgroup",
            |s| s.oom_kills as f64,
        ),
    ];
    for (name, help, get) in counters {
        w.family(name, help, Kind::Counter);
        for (labels, stats) in live() {
            w.sample(labels, None, get(stats));
        }
    }
    let gauges: [Series<Stats, f64>; 5] = [
        (
            "container_memory_usage_bytes",
            "Current memory usage in bytes, including all memory regardless of when it was accessed",
            |s| s.memory_usage_bytes as f64,
        ),
        (
            "container_memory_working_set_bytes",
            "Current working set in bytes (usage minus inactive file cache)",
            |s| s.memory_working_set_bytes as f64,
        ),
        (
            "container_memory_rss",
            "Size of RSS (anonymous memory) in bytes",
            |s| s.memory_rss_bytes as f64,
        ),
        (
            "container_spec_memory_limit_bytes",
            "Memory limit for the container in bytes; 0 when unlimited",
            |s| s.memory_limit_bytes.unwrap_or(0) as f64,
        ),
        (
            "container_processes",
            "Number of processes (tasks) running inside the container",
            |s| s.pids_current as f64,
        ),
    ];
    for (name, help, get) in gauges {
        w.family(name, help, Kind::Gauge);
        for (labels, stats) in live() {
            w.sample(labels, None, get(stats));
        }
    }
    let net: [Series<NetDev, u64>; 8] = [
        (
            "container_network_receive_bytes",
            "Cumulative count of bytes received",
            |n| n.rx_bytes,
        ),
        (
            "container_network_receive_packets",
            "Cumulative count of packets received",
            |n| n.rx_packets,
        ),
        (
            "container_network_receive_errors",
            "Cumulative count of errors encountered while receiving",
            |n| n.rx_errors,
        ),
        (
            "container_network_receive_packets_dropped",
            "Cumulative count of packets dropped while receiving",
            |n| n.rx_dropped,
        ),
        (
            "container_network_transmit_bytes",
            "Cumulative count of bytes transmitted",
            |n| n.tx_bytes,
        ),
        (
            "container_network_transmit_packets",
            "Cumulative count of packets transmitted",
            |n| n.tx_packets,
        ),
        (
            "container_network_transmit_errors",
            "Cumulative count of errors encountered while transmitting",
            |n| n.tx_errors,
        ),
        (
            "container_network_transmit_packets_dropped",
            "Cumulative count of packets dropped while transmitting",
            |n| n.tx_dropped,
        ),
    ];
    for (name, help, get) in net {
        w.family(name, help, Kind::Counter);
        for (s, u) in rows {
            for n in u.iter().flat_map(|u| &u.net) {
                w.sample(&s.labels.text, Some(("interface", &n.interface)), get(n));
            }
        }
    }
    w.family(
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds",
        Kind::Gauge,
    );
    for (s, _) in rows.iter().filter(|(_, u)| u.is_some()) {
        if let Some(t) = s.started_at {
            w.sample(&s.labels.text, None, t);
        }
    }
    w.family(
        "container_last_seen",
        "Last time the container was seen by the exporter, in seconds since unix epoch",
        Kind::Gauge,
    );
    for (labels, _) in live() {
        w.sample(labels, None, now);
    }
    w.family(
        "berth_container_restarts",
        "Times the restart policy restarted the container",
        Kind::Counter,
    );
    for (s, _) in rows {
        w.sample(&s.labels.text, None, u64::from(s.restarts));
    }
    w.family(
        "berth_container_state",
        "1 for the container's current state, 0 for the others",
        Kind::Gauge,
    );
    for (s, _) in rows {
        for st in STATES {
            let on = i64::from(st == s.status);
            w.sample(&s.labels.text, Some(("state", st.as_str())), on);
        }
    }
    w.family(
        "berth_container_health_status",
        "1 for the health check's current status, 0 for the others; only containers with a health check",
        Kind::Gauge,
    );
    for (s, _) in rows {
        let Some(health) = s.health else { continue };
        for st in HEALTH {
            let on = i64::from(st == health);
            w.sample(&s.labels.text, Some(("status", st.as_str())), on);
        }
    }
    write_replicas(w, rows, desired);
}

/// Desired and running replicas per (project, service): every service the controller wants
/// something of, and every service with a running replica.
fn write_replicas(
    w: &mut Writer,
    rows: &[(Seen, Option<Usage>)],
    desired: &BTreeMap<(String, String), u32>,
) {
    let mut running: BTreeMap<(&str, &str), i64> = desired
        .keys()
        .map(|(p, s)| ((p.as_str(), s.as_str()), 0))
        .collect();
    for (s, _) in rows.iter().filter(|(s, _)| s.status == Status::Running) {
        let set = &s.labels;
        if let (true, Some(p), Some(svc)) = (set.replica, &set.project, &set.service) {
            *running.entry((p, svc)).or_default() += 1;
        }
    }
    let stack = |p: &str, s: &str| {
        let mut labels = String::new();
        push_label(&mut labels, PROM_PROJECT, p);
        push_label(&mut labels, PROM_SERVICE, s);
        labels
    };
    w.family(
        "berth_service_desired_replicas",
        "Replicas the stack file (or --scale) asks for, per service",
        Kind::Gauge,
    );
    for ((p, s), n) in desired {
        w.sample(&stack(p, s), None, i64::from(*n));
    }
    w.family(
        "berth_service_running_replicas",
        "Running containers per service",
        Kind::Gauge,
    );
    for ((p, s), n) in running {
        w.sample(&stack(p, s), None, n);
    }
}
