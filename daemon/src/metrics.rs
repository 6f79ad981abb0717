//! Prometheus metrics: cAdvisor's per-container series (same names and units, so existing
//! dashboards work) and berth's own controller series, served at `/metrics` on the metrics
//! address (127.0.0.1:9323 by default, as dockerd's `--metrics-addr`).
//!
//! Container series are collected at scrape time, not sampled in the background: an idle
//! daemon does no work between scrapes. A scrape, on the metrics thread ([`serve`]),
//! snapshots the records, reads each running container's cgroup files and
//! `/proc/PID/net/dev` (read.rs, with no process spawned) and writes the exposition in the
//! format the scraper asked for: the controller series through prometheus-client, the
//! container series by hand (series.rs, exposition.rs).

mod read;
mod series;

pub(crate) use read::parse_net_dev;

use super::containers::Containers;
use super::exposition::{self, Format, Writer};
use berth_engine::container::{ContainerRecord, HealthStatus, Status};
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use series::LabelSet;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
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
    /// Each container's label set by id, rendered when it is first scraped or renamed.
    label_sets: Mutex<HashMap<String, Arc<LabelSet>>>,
    /// The files a scrape reads, held open between scrapes.
    reader: read::Reader,
    /// Size of the last exposition: the next one is about as large (hundreds of KB with
    /// a hundred containers), so its buffer is allocated once.
    last_size: AtomicUsize,
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
            label_sets: Mutex::new(HashMap::new()),
            reader: read::Reader::new(cgroup_parent),
            last_size: AtomicUsize::new(0),
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

    /// The whole exposition in `format`: a snapshot of the records, then the kernel's figures
    /// for the running containers, and the text. The reads block (~3 ms for 100 containers):
    /// [`serve`] calls this on the metrics thread, where nothing else waits for them.
    pub async fn render(&self, containers: &Containers, format: Format) -> String {
        let seen = self.snapshot(containers).await;
        let usage = self.reader.read(&seen);
        let rows: Vec<(Seen, Option<read::Usage>)> = seen.into_iter().zip(usage).collect();
        self.exposition(&rows, unix_now(), format)
    }

    /// The controller series, then the container series of `rows` read at `now`.
    fn exposition(&self, rows: &[(Seen, Option<read::Usage>)], now: f64, format: Format) -> String {
        let mut out = String::with_capacity(self.last_size.load(Relaxed) + 4096);
        let mut controller = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut controller, &self.registry);
        match format {
            Format::OpenMetrics => out.push_str(&controller),
            Format::Text004 => out.push_str(&exposition::to_text_004(&controller)),
        }
        let desired = self.desired.lock().unwrap();
        series::write(&mut Writer::new(&mut out, format), rows, &desired, now);
        drop(desired);
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        self.last_size.store(out.len(), Relaxed);
        out
    }

    async fn snapshot(&self, containers: &Containers) -> Vec<Seen> {
        let mut seen = Vec::new();
        for ctr in containers.all().await {
            // Uncontended, as nearly always: no timer for the wait.
            let rec = match ctr.rec.try_lock() {
                Ok(rec) => rec,
                Err(_) => match tokio::time::timeout(RECORD_LOCK_WAIT, ctr.rec.lock()).await {
                    Ok(rec) => rec,
                    Err(_) => continue,
                },
            };
            seen.push(Seen {
                labels: self.label_set(&rec),
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
        let mut sets = self.label_sets.lock().unwrap();
        if sets.len() > seen.len() {
            // Containers were removed: their sets go.
            let ids: HashSet<&str> = seen.iter().map(|s| s.labels.id.as_str()).collect();
            sets.retain(|id, _| ids.contains(id.as_str()));
        }
        drop(sets);
        seen.sort_by(|a, b| a.labels.name.cmp(&b.labels.name));
        seen
    }

    /// The container's label set: the one rendered before, unless the container was renamed.
    /// (A record's image and labels are set when it is created; an id is never reused.)
    fn label_set(&self, rec: &ContainerRecord) -> Arc<LabelSet> {
        let mut sets = self.label_sets.lock().unwrap();
        if let Some(set) = sets.get(&rec.id).filter(|s| s.name == rec.config.name) {
            return set.clone();
        }
        let label = |k: &str| {
            rec.config
                .labels
                .get(k)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        let set = Arc::new(LabelSet::new(
            &self.cgroup_parent,
            &rec.id,
            &rec.config.name,
            &rec.config.image,
            (label(LABEL_PROJECT), label(LABEL_SERVICE)),
            label(LABEL_ONEOFF) == Some("True"),
        ));
        sets.insert(rec.id.clone(), set.clone());
        set
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// What a scrape needs of one container record.
struct Seen {
    /// The container's id, name and labels.
    labels: Arc<LabelSet>,
    status: Status,
    health: Option<HealthStatus>,
    restarts: u32,
    started_at: Option<f64>,
    pid: i32,
    pid_start_time: u64,
}

/// Binds the metrics address now (so a taken port fails the daemon's start with a clear
/// error) and serves `/metrics` from a thread of its own, on a runtime of its own.
///
/// Why a thread: a scrape's reads are blocking syscalls, most of its time. Handed to the
/// daemon's blocking pool, they waited for a pool thread to wake, often on the core that
/// had been idle, slower to start than the one that took the request: 0.6 ms when a scrape
/// took 5 ms. On this thread they run where the request was read, and hold up no API
/// worker. Concurrent scrapes take turns (their reads would anyway: one at a time).
pub fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    containers: Arc<Containers>,
) -> anyhow::Result<()> {
    let bound = std::net::TcpListener::bind(addr).and_then(|l| {
        l.set_nonblocking(true)?;
        Ok(l)
    });
    let listener = bound.map_err(|e| {
        anyhow::anyhow!(
            "binding the metrics address {addr}: {e} (choose another with --metrics-addr or BERTH_METRICS_ADDR, or `none` to disable)"
        )
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tracing::info!(address = %addr, "metrics listening");
    std::thread::Builder::new()
        .name("berth-metrics".into())
        .spawn(move || runtime.block_on(accept(listener, metrics, containers)))?;
    Ok(())
}

async fn accept(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
    containers: Arc<Containers>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "metrics are off: the listener cannot be polled");
            return;
        }
    };
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
}

async fn reply(
    m: &Metrics,
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
            let format = Format::for_accept(accept);
            let body = m.render(c, format).await;
            Response::builder()
                .header("content-type", format.content_type())
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
mod tests;
