//! Prometheus metrics: cAdvisor's per-container series (same names and units, so existing
//! dashboards work) and berth's own controller series, served at `/metrics` on the metrics
//! address (127.0.0.1:9323 by default, as dockerd's `--metrics-addr`).
//!
//! Container series are collected at scrape time, not sampled in the background: an idle
//! daemon does no work between scrapes. A scrape snapshots the records, then reads each
//! running container's cgroup files and `/proc/PID/net/dev` in one blocking task, with no
//! process spawned.
//!
//! Why one long file: the series (names, units, labels) and the one scrape that fills them must
//! agree; the exposition format lives in exposition.rs. Tests at the end.

use super::containers::Containers;
use super::exposition;
use berth_engine::cgroups::{Cgroup, Stats, StatsReader};
use berth_engine::container::{HealthStatus, Status};
use berth_engine::runtime::procinfo;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const LABEL_PROJECT: &str = berth_compose::LABEL_PROJECT;
const LABEL_SERVICE: &str = berth_compose::LABEL_SERVICE;
const LABEL_ONEOFF: &str = berth_compose::LABEL_ONEOFF;

/// Compose's labels as Prometheus label names: cAdvisor-style dashboards group by these.
const PROM_PROJECT: &str = "com_docker_compose_project";
const PROM_SERVICE: &str = "com_docker_compose_service";

/// A record that stays locked longer than this (a container being started) is left out of one
/// scrape rather than stalling it.
const RECORD_LOCK_WAIT: Duration = Duration::from_millis(500);

type StackLabels = [(&'static str, String); 1];
type ActionLabels = [(&'static str, String); 2];

/// The daemon's metrics: the controller's series live here between scrapes; container series
/// are read from the kernel on each scrape.
pub struct Metrics {
    /// Series the daemon updates as things happen (reconciles, config errors, build info).
    registry: Registry,
    config_error: Family<StackLabels, Gauge>,
    reconcile: Family<StackLabels, Histogram, fn() -> Histogram>,
    actions: Family<ActionLabels, Counter>,
    /// Desired replicas by (project, service), as the controller last computed them.
    desired: Mutex<BTreeMap<(String, String), u32>>,
    cgroup_parent: String,
    /// What a scrape reads, held open by container id: opening a cgroup parses the mount
    /// table and walks long paths, a scrape should do neither.
    sources: Mutex<HashMap<String, Source>>,
    /// Size of the last exposition: the next one is about as large (hundreds of KB with
    /// a hundred containers), so its buffer is allocated once.
    last_size: std::sync::atomic::AtomicUsize,
}

fn reconcile_histogram() -> Histogram {
    // 5 ms to ~82 s: a no-op reconcile of a small stack up to a slow image-heavy one.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

impl Metrics {
    pub fn new(cgroup_parent: &str) -> Metrics {
        let mut registry = Registry::default();
        let config_error = Family::<StackLabels, Gauge>::default();
        let reconcile = Family::<StackLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            reconcile_histogram,
        );
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "berth_build",
            "berth's version; the value is always 1",
            Info::new([("version", env!("CARGO_PKG_VERSION").to_string())]),
        );
        registry.register(
            "berth_stack_config_error",
            "1 while a watched stack's files fail to load (the last good state keeps running)",
            config_error.clone(),
        );
        registry.register(
            "berth_reconcile_duration_seconds",
            "Time one reconcile (up or down) of a stack took",
            reconcile.clone(),
        );
        registry.register(
            "berth_reconcile_actions",
            "Actions reconciles took, by kind (container_created, container_removed, ...)",
            actions.clone(),
        );
        Metrics {
            registry,
            config_error,
            reconcile,
            actions,
            desired: Mutex::new(BTreeMap::new()),
            cgroup_parent: cgroup_parent.to_string(),
            sources: Mutex::new(HashMap::new()),
            last_size: Default::default(),
        }
    }

    /// Whether `project`'s files currently fail to load (set by the stack-file watcher).
    pub fn set_stack_config_error(&self, project: &str, error: bool) {
        self.config_error
            .get_or_create(&[(PROM_PROJECT, project.to_string())])
            .set(i64::from(error));
    }

    pub fn observe_reconcile(&self, project: &str, took: Duration) {
        self.reconcile
            .get_or_create(&[(PROM_PROJECT, project.to_string())])
            .observe(took.as_secs_f64());
    }

    pub fn count_action(&self, project: &str, kind: &str) {
        self.actions
            .get_or_create(&[
                (PROM_PROJECT, project.to_string()),
                ("kind", kind.to_string()),
            ])
            .inc();
    }

    pub fn set_desired_replicas(&self, project: &str, service: &str, n: u32) {
        self.desired
            .lock()
            .unwrap()
            .insert((project.to_string(), service.to_string()), n);
    }

    /// A stack that went down wants nothing any more; its counters and histograms stay (they
    /// are cumulative), its gauges go.
    pub fn forget_stack(&self, project: &str) {
        self.desired
            .lock()
            .unwrap()
            .retain(|(p, _), _| p != project);
        self.config_error
            .remove(&[(PROM_PROJECT, project.to_string())]);
    }

    /// The whole exposition: a snapshot of the records, then the kernel's figures for the
    /// running containers, read off the async workers.
    pub async fn render(self: &Arc<Self>, containers: &Containers) -> String {
        let seen = self.snapshot(containers).await;
        let this = self.clone();
        let scrape = tokio::task::spawn_blocking(move || this.measure(seen))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "metrics collection failed");
                Scrape::default()
            });
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = String::with_capacity(self.last_size.load(Relaxed) + 4096);
        let mut per_scrape = Registry::default();
        per_scrape.register_collector(Box::new(scrape));
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        let _ = prometheus_client::encoding::text::encode(&mut out, &per_scrape);
        self.last_size.store(out.len(), Relaxed);
        out
    }

    async fn snapshot(&self, containers: &Containers) -> Vec<Seen> {
        let mut seen = Vec::new();
        for ctr in containers.all().await {
            let Ok(rec) = tokio::time::timeout(RECORD_LOCK_WAIT, ctr.rec.lock()).await else {
                continue;
            };
            let label = |k: &str| rec.config.labels.get(k).filter(|v| !v.is_empty()).cloned();
            let mut labels = vec![
                ("id", format!("/{}/{}", self.cgroup_parent, rec.id)),
                ("name", rec.config.name.clone()),
                ("image", rec.config.image.clone()),
            ];
            let project = label(LABEL_PROJECT);
            let service = label(LABEL_SERVICE);
            if let Some(p) = &project {
                labels.push((PROM_PROJECT, p.clone()));
            }
            if let Some(s) = &service {
                labels.push((PROM_SERVICE, s.clone()));
            }
            let replica = match (project, service) {
                (Some(p), Some(s)) if label(LABEL_ONEOFF).as_deref() != Some("True") => {
                    Some((p, s))
                }
                _ => None,
            };
            seen.push(Seen {
                id: rec.id.clone(),
                labels,
                replica,
                status: rec.state.status,
                health: rec.state.health.as_ref().map(|h| h.status),
                restarts: rec.state.restart_count,
                started_at: rec
                    .state
                    .started_at
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.timestamp_millis() as f64 / 1000.0),
                pid: rec.state.pid,
                pid_start_time: rec.state.pid_start_time,
            });
        }
        seen.sort_by(|a, b| a.labels[1].1.cmp(&b.labels[1].1));
        seen
    }

    /// Blocking: cgroup files and /proc of every running container.
    fn measure(&self, seen: Vec<Seen>) -> Scrape {
        let mut cache = self.sources.lock().unwrap();
        cache.retain(|id, _| seen.iter().any(|s| &s.id == id));
        let mut running: BTreeMap<(String, String), u64> = self
            .desired
            .lock()
            .unwrap()
            .keys()
            .map(|k| (k.clone(), 0))
            .collect();
        let mut rows = Vec::with_capacity(seen.len());
        for s in seen {
            let live = matches!(s.status, Status::Running | Status::Paused);
            if let (true, Some(key)) = (s.status == Status::Running, &s.replica) {
                *running.entry(key.clone()).or_default() += 1;
            }
            let usage = if live {
                self.usage(&mut cache, &s)
            } else {
                None
            };
            rows.push((s, usage));
        }
        let desired = self.desired.lock().unwrap().clone();
        Scrape {
            rows,
            desired,
            running,
            now: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
        }
    }

    fn usage(&self, cache: &mut HashMap<String, Source>, s: &Seen) -> Option<Usage> {
        // A cached source can be stale (the container restarted: a new init, a new cgroup
        // directory); its reads then fail, and one fresh open is tried.
        for fresh in [false, true] {
            if fresh || cache.get(&s.id).is_some_and(|src| src.pid != s.pid) {
                cache.remove(&s.id);
            }
            if !cache.contains_key(&s.id) {
                cache.insert(s.id.clone(), Source::open(&self.cgroup_parent, s)?);
            }
            let src = &cache[&s.id];
            let Ok(stats) = src.cgroup.stats() else {
                continue;
            };
            let net = match &src.net_dev {
                Some(f) => match berth_engine::fsutil::read_whole_at(f).map(String::from_utf8) {
                    Ok(Ok(text)) => parse_net_dev(&text),
                    _ => continue,
                },
                None => Vec::new(),
            };
            return Some(Usage { stats, net });
        }
        cache.remove(&s.id);
        None
    }
}

/// One running container's cgroup directories and /proc/PID/net/dev, held open.
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
    fn open(parent: &str, s: &Seen) -> Option<Source> {
        let cgroup = Cgroup::open(parent, &s.id).ok()?.stats_reader().ok()?;
        let net_dev = std::fs::File::open(format!("/proc/{}/net/dev", s.pid))
            .ok()
            .filter(|_| procinfo::is_same_process(s.pid, s.pid_start_time));
        Some(Source {
            pid: s.pid,
            cgroup,
            net_dev,
        })
    }
}

/// What a scrape needs of one container record.
struct Seen {
    id: String,
    /// id, name, image, then the Compose project and service where set; `name` is second.
    labels: Vec<(&'static str, String)>,
    /// (project, service) for a service's replica (not a one-off `run`).
    replica: Option<(String, String)>,
    status: Status,
    health: Option<HealthStatus>,
    restarts: u32,
    started_at: Option<f64>,
    pid: i32,
    pid_start_time: u64,
}

struct Usage {
    stats: Stats,
    net: Vec<NetDev>,
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
            let n: Vec<u64> = rest
                .split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            if n.len() < 16 {
                return None;
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

/// One scrape's figures, encoded once by the per-scrape registry.
#[derive(Default)]
struct Scrape {
    rows: Vec<(Seen, Option<Usage>)>,
    desired: BTreeMap<(String, String), u32>,
    running: BTreeMap<(String, String), u64>,
    now: f64,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape")
            .field("containers", &self.rows.len())
            .finish()
    }
}

/// One metric family: its descriptor, then one sample per row.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, M)>,
) -> std::fmt::Result {
    // The registry ends every HELP with a period; these match it.
    let mut metric = enc.encode_descriptor(name, &format!("{help}."), None, kind)?;
    for (labels, value) in samples {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The container's labels plus one more (interface, state, status).
fn with(
    labels: &[(&'static str, String)],
    key: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    let mut l = labels.to_vec();
    l.push((key, value.to_string()));
    l
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

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let live = || {
            self.rows
                .iter()
                .filter_map(|(s, u)| u.as_ref().map(|u| (s.labels.as_slice(), &u.stats)))
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
            family(
                &mut enc,
                name,
                help,
                MetricType::Counter,
                live().map(|(l, s)| (l, ConstCounter::new(get(s)))),
            )?;
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
            family(
                &mut enc,
                name,
                help,
                MetricType::Gauge,
                live().map(|(l, s)| (l, ConstGauge::new(get(s)))),
            )?;
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
            family(
                &mut enc,
                name,
                help,
                MetricType::Counter,
                self.rows.iter().flat_map(|(s, u)| {
                    u.iter().flat_map(move |u| {
                        u.net.iter().map(move |n| {
                            (
                                with(&s.labels, "interface", &n.interface),
                                ConstCounter::new(get(n)),
                            )
                        })
                    })
                }),
            )?;
        }
        family(
            &mut enc,
            "container_start_time_seconds",
            "Start time of the container since unix epoch in seconds",
            MetricType::Gauge,
            self.rows
                .iter()
                .filter(|(_, u)| u.is_some())
                .filter_map(|(s, _)| {
                    s.started_at
                        .map(|t| (s.labels.as_slice(), ConstGauge::new(t)))
                }),
        )?;
        family(
            &mut enc,
            "container_last_seen",
            "Last time the container was seen by the exporter, in seconds since unix epoch",
            MetricType::Gauge,
            live().map(|(l, _)| (l, ConstGauge::new(self.now))),
        )?;
        family(
            &mut enc,
            "berth_container_restarts",
            "Times the restart policy restarted the container",
            MetricType::Counter,
            self.rows.iter().map(|(s, _)| {
                (
                    s.labels.as_slice(),
                    ConstCounter::new(u64::from(s.restarts)),
                )
            }),
        )?;
        family(
            &mut enc,
            "berth_container_state",
            "1 for the container's current state, 0 for the others",
            MetricType::Gauge,
            self.rows.iter().flat_map(|(s, _)| {
                STATES.iter().map(move |st| {
                    (
                        with(&s.labels, "state", st.as_str()),
                        ConstGauge::new(i64::from(*st == s.status)),
                    )
                })
            }),
        )?;
        family(
            &mut enc,
            "berth_container_health_status",
            "1 for the health check's current status, 0 for the others; only containers with a health check",
            MetricType::Gauge,
            self.rows.iter().flat_map(|(s, _)| {
                s.health.into_iter().flat_map(move |h| {
                    HEALTH.iter().map(move |st| {
                        (
                            with(&s.labels, "status", st.as_str()),
                            ConstGauge::new(i64::from(*st == h)),
                        )
                    })
                })
            }),
        )?;
        let stack =
            |(p, s): &(String, String)| [(PROM_PROJECT, p.clone()), (PROM_SERVICE, s.clone())];
        family(
            &mut enc,
            "berth_service_desired_replicas",
            "Replicas the stack file (or --scale) asks for, per service",
            MetricType::Gauge,
            self.desired
                .iter()
                .map(|(k, n)| (stack(k), ConstGauge::new(i64::from(*n)))),
        )?;
        family(
            &mut enc,
            "berth_service_running_replicas",
            "Running containers per service",
            MetricType::Gauge,
            self.running
                .iter()
                .map(|(k, n)| (stack(k), ConstGauge::new(*n as i64))),
        )?;
        Ok(())
    }
}

/// Binds the metrics address now (so a taken port fails the daemon's start with a clear
/// error) and serves `/metrics` from a background task.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    containers: Arc<Containers>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "binding the metrics address {addr}: {e} (choose another with --metrics-addr or BERTH_METRICS_ADDR, or `none` to disable)"
        )
    })?;
    tracing::info!(address = %addr, "metrics listening");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (m, c) = (metrics.clone(), containers.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (m, c) = (m.clone(), c.clone());
                    async move { Ok::<_, std::convert::Infallible>(reply(&m, &c, req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}

async fn reply(
    m: &Arc<Metrics>,
    c: &Containers,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body)))
            .expect("valid response")
    };
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            let accept = req
                .headers()
                .get(hyper::header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let (content_type, body) = if exposition::wants_openmetrics(accept) {
                (exposition::OPENMETRICS, m.render(c).await)
            } else {
                (
                    exposition::TEXT_004,
                    exposition::to_text_004(&m.render(c).await),
                )
            };
            Response::builder()
                .header("content-type", content_type)
                .body(Full::new(Bytes::from(body)))
                .expect("valid response")
        }
        (&Method::GET, "/") => text(StatusCode::OK, "berth metrics: see /metrics\n".to_string()),
        (_, path) => {
            let mut msg = String::new();
            let _ = writeln!(msg, "not found: {path} (metrics are at /metrics)");
            text(StatusCode::NOT_FOUND, msg)
        }
    }
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

    #[test]
    fn controller_series_have_help_type_and_total() {
        let m = Metrics::new("berth");
        m.observe_reconcile("demo", Duration::from_millis(30));
        m.count_action("demo", "container_created");
        m.set_stack_config_error("demo", true);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        for needle in [
            "# TYPE berth_build info",
            "berth_build_info{version=\"",
            "# HELP berth_reconcile_duration_seconds ",
            "# TYPE berth_reconcile_duration_seconds histogram",
            "berth_reconcile_duration_seconds_count{com_docker_compose_project=\"demo\"} 1",
            "# TYPE berth_reconcile_actions counter",
            "berth_reconcile_actions_total{com_docker_compose_project=\"demo\",kind=\"container_created\"} 1",
            "berth_stack_config_error{com_docker_compose_project=\"demo\"} 1",
        ] {
            assert!(out.contains(needle), "{needle} missing in:\n{out}");
        }
        m.forget_stack("demo");
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        assert!(!out.contains("berth_stack_config_error{"), "{out}");
    }

    #[test]
    fn scrape_encodes_container_and_replica_series() {
        let seen = Seen {
            id: "abc".into(),
            labels: vec![
                ("id", "/berth/abc".into()),
                ("name", "demo-web-1".into()),
                ("image", "bb:local".into()),
                (PROM_PROJECT, "demo".into()),
                (PROM_SERVICE, "web".into()),
            ],
            replica: Some(("demo".into(), "web".into())),
            status: Status::Running,
            health: Some(HealthStatus::Healthy),
            restarts: 3,
            started_at: Some(1_700_000_000.5),
            pid: 1,
            pid_start_time: 0,
        };
        let usage = Usage {
            stats: Stats {
                cpu_usage_ns: 1_500_000_000,
                memory_usage_bytes: 4096,
                ..Default::default()
            },
            net: vec![NetDev {
                interface: "eth0".into(),
                rx_bytes: 10,
                ..Default::default()
            }],
        };
        let key = ("demo".to_string(), "web".to_string());
        let scrape = Scrape {
            rows: vec![(seen, Some(usage))],
            desired: [(key.clone(), 2)].into(),
            running: [(key, 1)].into(),
            now: 5.0,
        };
        let mut reg = Registry::default();
        reg.register_collector(Box::new(scrape));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        let labels = "id=\"/berth/abc\",name=\"demo-web-1\",image=\"bb:local\",com_docker_compose_project=\"demo\",com_docker_compose_service=\"web\"";
        for needle in [
            format!("container_cpu_usage_seconds_total{{{labels}}} 1.5"),
            format!("container_memory_usage_bytes{{{labels}}} 4096"),
            format!("container_network_receive_bytes_total{{{labels},interface=\"eth0\"}} 10"),
            format!("berth_container_restarts_total{{{labels}}} 3"),
            format!("berth_container_state{{{labels},state=\"running\"}} 1"),
            format!("berth_container_state{{{labels},state=\"exited\"}} 0"),
            format!("berth_container_health_status{{{labels},status=\"healthy\"}} 1"),
            format!("container_start_time_seconds{{{labels}}} 1700000000.5"),
            "berth_service_desired_replicas{com_docker_compose_project=\"demo\",com_docker_compose_service=\"web\"} 2".to_string(),
            "berth_service_running_replicas{com_docker_compose_project=\"demo\",com_docker_compose_service=\"web\"} 1".to_string(),
        ] {
            assert!(out.contains(&needle), "{needle} missing in:\n{out}");
        }
        // Every family has its HELP and TYPE.
        let types = out.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let helps = out.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(types, helps);
        assert_eq!(types, 24, "one HELP and TYPE per family");
    }
}

#[cfg(test)]
mod golden_gen {
    use super::*;

    fn seen(
        id: &str,
        name: &str,
        compose: Option<(&str, &str)>,
        replica: bool,
        status: Status,
        health: Option<HealthStatus>,
        restarts: u32,
        started_at: Option<f64>,
    ) -> Seen {
        let mut labels = vec![
            ("id", format!("/berth/{id}")),
            ("name", name.to_string()),
            ("image", "registry.example:5000/team/app:1.2".to_string()),
        ];
        if let Some((p, s)) = compose {
            labels.push((PROM_PROJECT, p.to_string()));
            labels.push((PROM_SERVICE, s.to_string()));
        }
        Seen {
            id: id.into(),
            labels,
            replica: compose
                .filter(|_| replica)
                .map(|(p, s)| (p.to_string(), s.to_string())),
            status,
            health,
            restarts,
            started_at,
            pid: 1,
            pid_start_time: 0,
        }
    }

    fn net(name: &str, base: u64) -> NetDev {
        NetDev {
            interface: name.into(),
            rx_bytes: base,
            rx_packets: base + 1,
            rx_errors: base + 2,
            rx_dropped: base + 3,
            tx_bytes: base + 4,
            tx_packets: base + 5,
            tx_errors: base + 6,
            tx_dropped: base + 7,
        }
    }

    #[test]
    #[ignore]
    fn write_golden() {
        let m = Metrics::new("berth");
        m.observe_reconcile("demo", Duration::from_millis(30));
        m.observe_reconcile("demo", Duration::from_micros(2_345_678));
        m.count_action("demo", "container_created");
        m.count_action("demo", "container_created");
        m.count_action("other", "network_created");
        m.set_stack_config_error("demo", true);
        m.set_stack_config_error("other", false);
        let rows = vec![
            (
                seen(
                    "aaa",
                    "demo-web-1",
                    Some(("demo", "web")),
                    true,
                    Status::Running,
                    Some(HealthStatus::Healthy),
                    3,
                    Some(1_700_000_000.5),
                ),
                Some(Usage {
                    stats: Stats {
                        cpu_usage_ns: 1_500_000_000,
                        cpu_user_ns: 1_000_000_001,
                        cpu_system_ns: 123,
                        memory_usage_bytes: 123_456_789_012_345_678,
                        memory_working_set_bytes: 4096,
                        memory_rss_bytes: 0,
                        memory_limit_bytes: Some(64 << 20),
                        pids_current: 7,
                        oom_kills: 2,
                        ..Default::default()
                    },
                    net: vec![net("eth0", 10), net("eth1", 18_446_744_073_709_551_000)],
                }),
            ),
            (
                seen("bbb", "solo", None, false, Status::Paused, None, 0, None),
                Some(Usage {
                    stats: Stats {
                        cpu_usage_ns: 18_446_744_073_709_551_615,
                        memory_usage_bytes: 1,
                        memory_limit_bytes: None,
                        ..Default::default()
                    },
                    net: vec![],
                }),
            ),
            (
                seen(
                    "ccc",
                    "demo-run-abc",
                    Some(("demo", "web")),
                    false,
                    Status::Exited,
                    Some(HealthStatus::Unhealthy),
                    1,
                    Some(1_699_999_999.001),
                ),
                None,
            ),
            (
                seen(
                    "ddd",
                    "demo-db-1",
                    Some(("demo", "db")),
                    true,
                    Status::Running,
                    Some(HealthStatus::Starting),
                    0,
                    Some(1_700_000_123.0),
                ),
                Some(Usage {
                    stats: Stats {
                        cpu_usage_ns: 999,
                        memory_usage_bytes: 1 << 40,
                        pids_current: 1,
                        ..Default::default()
                    },
                    net: vec![net("eth0", 0)],
                }),
            ),
            (
                seen(
                    "eee",
                    "demo-web-2",
                    Some(("demo", "web")),
                    true,
                    Status::Restarting,
                    None,
                    9,
                    Some(1_700_000_000.25),
                ),
                None,
            ),
        ];
        let desired: BTreeMap<(String, String), u32> = [
            (("demo".to_string(), "web".to_string()), 2),
            (("demo".to_string(), "db".to_string()), 1),
            (("demo".to_string(), "cache".to_string()), 3),
        ]
        .into();
        let running: BTreeMap<(String, String), u64> = [
            (("demo".to_string(), "web".to_string()), 1),
            (("demo".to_string(), "db".to_string()), 1),
            (("demo".to_string(), "cache".to_string()), 0),
        ]
        .into();
        let scrape = Scrape {
            rows,
            desired,
            running,
            now: 1_700_000_500.123_456,
        };
        let mut out = String::new();
        let mut per_scrape = Registry::default();
        per_scrape.register_collector(Box::new(scrape));
        prometheus_client::encoding::text::encode_registry(&mut out, &m.registry).unwrap();
        prometheus_client::encoding::text::encode(&mut out, &per_scrape).unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics");
        std::fs::write(format!("{dir}/golden-openmetrics.txt"), &out).unwrap();
        std::fs::write(
            format!("{dir}/golden-text-0.0.4.txt"),
            exposition::to_text_004(&out),
        )
        .unwrap();
    }
}
