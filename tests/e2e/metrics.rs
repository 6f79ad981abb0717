//! Prometheus metrics: the /metrics exposition itself (names, labels, HELP/TYPE, the default
//! bind and `none`), and a real Prometheus server scraping the daemon and answering queries.

use crate::stacks::{ok_in, stack_dir};
use crate::support::*;
use serde_json::Value;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const METRICS: &str = "http://127.0.0.1:9323/metrics";

/// One sample of the exposition: family-qualified name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// GET `url` from inside the berth's network namespace: (status line and headers, body).
fn get(b: &Berth, url: &str) -> Option<(String, String)> {
    let out = b.host(&["curl", "-sS", "-m", "10", "-D", "-", url]);
    if !out.status.success() {
        return None;
    }
    let all = text(&out.stdout);
    let (head, body) = all.split_once("\r\n\r\n")?;
    Some((head.to_string(), body.to_string()))
}

/// Parses the text exposition; label values hold no quotes or commas in these tests.
fn samples(body: &str) -> Vec<Sample> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap();
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

fn find<'a>(all: &'a [Sample], name: &str, label: &str, value: &str) -> Vec<&'a Sample> {
    all.iter()
        .filter(|s| s.name == name && s.labels.get(label).map(String::as_str) == Some(value))
        .collect()
}

/// Sockets listening on TCP `port` in the berth's namespace, as "ADDR:PORT" in /proc's hex.
fn listeners(b: &Berth, port: u16) -> Vec<String> {
    let tcp = text(&b.host(&["cat", "/proc/net/tcp", "/proc/net/tcp6"]).stdout);
    tcp.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Field 3 is the state; 0A is LISTEN.
            (f.len() > 3 && f[3] == "0A" && f[1].ends_with(&format!(":{port:04X}")))
                .then(|| f[1].to_string())
        })
        .collect()
}

const STACK: &str = r#"
name: mx
services:
  web:
    image: bb:local
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
    init: true
    mem_limit: 64m
  worker:
    image: bb:local
    command: ["sleep", "1000"]
    init: true
"#;

#[test]
fn metrics_endpoint_names_labels_and_bind() {
    let b = Berth::new();
    let dir = stack_dir(&b, STACK);
    ok_in(&b, &dir, &["up", "-d"]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "solo",
        "bb:local",
        "sleep",
        "1000",
    ]);

    let (head, body) = get(&b, METRICS).expect("the default metrics address answers");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");

    // Every family has HELP and TYPE, counters' samples end in _total, units are base units.
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped = Vec::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.push(rest.split(' ').next().unwrap().to_string());
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(
                helped.last().map(String::as_str),
                Some(name),
                "HELP before TYPE of {name}"
            );
            types.insert(name.to_string(), kind.to_string());
        }
    }
    let all = samples(&body);
    for s in &all {
        let family = types
            .keys()
            .filter(|f| s.name.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("{} has no TYPE", s.name));
        if types[family] == "counter" {
            assert!(s.name.ends_with("_total"), "counter sample {}", s.name);
        }
    }
    for name in [
        "container_cpu_usage_seconds_total",
        "container_cpu_user_seconds_total",
        "container_cpu_system_seconds_total",
        "container_memory_usage_bytes",
        "container_memory_working_set_bytes",
        "container_memory_rss",
        "container_spec_memory_limit_bytes",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total",
        "container_processes",
        "container_start_time_seconds",
        "container_last_seen",
        "container_oom_events_total",
        "berth_container_restarts_total",
        "berth_container_state",
        "berth_service_desired_replicas",
        "berth_service_running_replicas",
        "berth_reconcile_duration_seconds_count",
        "berth_reconcile_actions_total",
        "berth_build_info",
    ] {
        assert!(
            all.iter().any(|s| s.name == name),
            "{name} missing:\n{body}"
        );
    }
    assert!(body.contains("# HELP berth_container_health_status "));
    assert!(body.contains("# HELP berth_stack_config_error "));

    // Each container's memory, with its name, image, id and (for stacks) Compose labels.
    for name in ["mx-web-1", "mx-worker-1", "solo"] {
        let mem = find(&all, "container_memory_usage_bytes", "name", name);
        assert_eq!(mem.len(), 1, "{name}: {mem:?}");
        assert!(mem[0].value > 0.0, "{name}: {mem:?}");
        assert_eq!(mem[0].labels["image"], "bb:local");
        let id = b.inspect(name)["Id"].as_str().unwrap().to_string();
        assert!(mem[0].labels["id"].ends_with(&id), "{mem:?}");
    }
    let web = &find(&all, "container_memory_usage_bytes", "name", "mx-web-1")[0];
    assert_eq!(web.labels["com_docker_compose_project"], "mx");
    assert_eq!(web.labels["com_docker_compose_service"], "web");
    let solo = &find(&all, "container_memory_usage_bytes", "name", "solo")[0];
    assert!(!solo.labels.contains_key("com_docker_compose_project"));
    let limit = find(
        &all,
        "container_spec_memory_limit_bytes",
        "name",
        "mx-web-1",
    );
    assert_eq!(limit[0].value, 64.0 * 1024.0 * 1024.0);
    let procs = find(&all, "container_processes", "name", "mx-web-1");
    assert_eq!(procs[0].value, 2.0, "init and httpd: {procs:?}");
    let rx = find(
        &all,
        "container_network_receive_bytes_total",
        "name",
        "mx-web-1",
    );
    assert_eq!(rx.len(), 1, "one interface besides lo: {rx:?}");
    assert_eq!(rx[0].labels["interface"], "eth0");
    let state = find(&all, "berth_container_state", "name", "solo");
    let running: Vec<_> = state.iter().filter(|s| s.value == 1.0).collect();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].labels["state"], "running");
    let desired = find(
        &all,
        "berth_service_desired_replicas",
        "com_docker_compose_service",
        "web",
    );
    assert_eq!(desired[0].value, 1.0);
    let actions = find(
        &all,
        "berth_reconcile_actions_total",
        "kind",
        "container_created",
    );
    assert_eq!(actions[0].value, 2.0, "{actions:?}");

    // Bound to loopback only: 127.0.0.1:9323 (0100007F:246B in /proc/net/tcp) listens, nothing else.
    assert_eq!(listeners(&b, 9323), vec!["0100007F:246B".to_string()]);
    // And a stopped container leaves the resource series (its cgroup is gone) but keeps its state.
    b.ok(&["container", "stop", "-t", "1", "solo"]);
    let (_, body) = get(&b, METRICS).unwrap();
    let all = samples(&body);
    assert!(find(&all, "container_memory_usage_bytes", "name", "solo").is_empty());
    let exited = find(&all, "berth_container_state", "name", "solo");
    assert!(
        exited
            .iter()
            .any(|s| s.labels["state"] == "exited" && s.value == 1.0),
        "{exited:?}"
    );

    // `none` disables the server; another address moves it.
    b.ok(&["daemon", "stop"]);
    let out = b
        .cmd(&["ps"])
        .current_dir(&dir)
        .env("BERTH_METRICS_ADDR", "none")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(listeners(&b, 9323).is_empty());
    assert!(get(&b, METRICS).is_none());
    b.ok(&["daemon", "stop"]);
    let out = b
        .cmd(&["ps"])
        .current_dir(&dir)
        .env("BERTH_METRICS_ADDR", "127.0.0.1:19323")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, body) = get(&b, "http://127.0.0.1:19323/metrics").expect("moved");
    // The re-adopted containers are measured by the new daemon.
    assert_eq!(
        find(
            &samples(&body),
            "container_memory_usage_bytes",
            "name",
            "mx-web-1"
        )
        .len(),
        1
    );
    b.ok(&["daemon", "stop"]);

    // A bad address is a clear error and starts nothing.
    let out = b
        .cmd(&["daemon", "--metrics-addr", "localhost"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("invalid metrics address") && err.contains("IP:PORT"),
        "{err}"
    );
    assert!(!b.run_dir.join("berth.sock").exists());
}

/// A Prometheus server in the berth's network namespace, killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Prometheus {
    fn start(b: &Berth) -> Prometheus {
        crate::programs::require(&["prometheus"]);
        let dir = b.dir.path().join("prometheus");
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: berth\n    static_configs:\n      - targets: ['127.0.0.1:9323']\n",
        )
        .unwrap();
        // The namespace is this test's own, so a fixed port cannot clash with anyone.
        let port = 9090;
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", b.netns))
            .arg("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Prometheus { child, port };
        assert!(
            b.wait_for(Duration::from_secs(30), || get(b, &p.url("/-/ready"))
                .is_some_and(|(h, _)| h.starts_with("HTTP/1.1 200"))),
            "prometheus did not get ready: {}",
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        p
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// An instant query: (labels, value) per series.
    fn query(&self, b: &Berth, promql: &str) -> Vec<(Value, f64)> {
        let out = b.host(&[
            "curl",
            "-sS",
            "-m",
            "10",
            "-G",
            "--data-urlencode",
            &format!("query={promql}"),
            &self.url("/api/v1/query"),
        ]);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{promql}: {e}: {}", text(&out.stdout)));
        assert_eq!(v["status"], "success", "{promql}: {v}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["metric"].clone(),
                    r["value"][1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }

    /// The single series' value, when exactly one series answers.
    fn value(&self, b: &Berth, promql: &str) -> Option<f64> {
        match self.query(b, promql).as_slice() {
            [(_, v)] => Some(*v),
            _ => None,
        }
    }

    /// Polls until the single series' value satisfies `f`; returns it.
    fn until(&self, b: &Berth, promql: &str, limit: Duration, f: impl Fn(f64) -> bool) -> f64 {
        let mut last = None;
        let ok = b.wait_for(limit, || {
            last = self.value(b, promql);
            last.is_some_and(&f)
        });
        assert!(
            ok,
            "{promql}: last value {last:?}; targets: {}",
            self.targets(b)
        );
        last.unwrap()
    }

    fn targets(&self, b: &Berth) -> String {
        get(b, &self.url("/api/v1/targets"))
            .map(|(_, body)| body)
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MONITORED: &str = r#"
name: mon
services:
  web:
    image: bb:local
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
    init: true
  busy:
    image: bb:local
    command: ["sh", "-c", "while :; do :; done"]
  crash:
    image: bb:local
    command: ["sh", "-c", "exit 1"]
    restart: always
"#;

#[test]
fn prometheus_scrapes_containers_restarts_cpu_and_replicas() {
    let b = Berth::new();
    let dir = stack_dir(&b, MONITORED);
    ok_in(&b, &dir, &["up", "-d"]);
    let prom = Prometheus::start(&b);
    let wait = Duration::from_secs(30);

    // The scrape itself works: Prometheus parsed the exposition.
    prom.until(&b, "up{job=\"berth\"}", wait, |v| v == 1.0);

    // Memory of a running container, by its name.
    prom.until(
        &b,
        "container_memory_usage_bytes{name=\"mon-web-1\"}",
        wait,
        |v| v > 0.0,
    );

    // The crash-looping container's restart counter climbs.
    let q =
        "berth_container_restarts_total{name=\"mon-crash-1\",com_docker_compose_service=\"crash\"}";
    let first = prom.until(&b, q, wait, |_| true);
    prom.until(&b, q, wait, |v| v > first);

    // CPU seconds of the busy container rise.
    let q = "container_cpu_usage_seconds_total{name=\"mon-busy-1\"}";
    let first = prom.until(&b, q, wait, |_| true);
    prom.until(&b, q, wait, |v| v >= first + 0.5);

    // Replicas follow a scale edit of the watched stack file (no command run).
    let desired = "berth_service_desired_replicas{com_docker_compose_project=\"mon\",com_docker_compose_service=\"web\"}";
    let running = "berth_service_running_replicas{com_docker_compose_project=\"mon\",com_docker_compose_service=\"web\"}";
    prom.until(&b, desired, wait, |v| v == 1.0);
    prom.until(&b, running, wait, |v| v == 1.0);
    let edited = MONITORED.replace(
        "    init: true\n  busy:",
        "    init: true\n    scale: 3\n  busy:",
    );
    assert_ne!(edited, MONITORED);
    std::fs::write(dir.join("compose.yaml"), edited).unwrap();
    prom.until(&b, desired, wait, |v| v == 3.0);
    prom.until(&b, running, wait, |v| v == 3.0);
    let per_container = prom.query(
        &b,
        "container_memory_usage_bytes{com_docker_compose_service=\"web\"}",
    );
    assert_eq!(per_container.len(), 3, "{per_container:?}");

    // The reconciles themselves were measured.
    prom.until(
        &b,
        "berth_reconcile_duration_seconds_count{com_docker_compose_project=\"mon\"}",
        wait,
        |v| v >= 2.0,
    );
    prom.until(
        &b,
        "berth_reconcile_actions_total{com_docker_compose_project=\"mon\",kind=\"container_created\"}",
        wait,
        |v| v == 5.0,
    );
    drop(prom);
    ok_in(&b, &dir, &["down", "-t", "1"]);
}
