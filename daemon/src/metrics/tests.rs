//! Tests of metrics.rs: the controller series, the container series, and the exposition
//! byte for byte against the golden files the prometheus-client encoder wrote.

use super::read::{NetDev, Usage};
use super::*;
use berth_engine::cgroups::Stats;

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

/// A row as the snapshot makes it; the image has a registry port, as real ones do.
#[allow(clippy::too_many_arguments)]
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
    let image = "registry.example:5000/team/app:1.2";
    let compose = (compose.map(|c| c.0), compose.map(|c| c.1));
    Seen {
        labels: Arc::new(LabelSet::new("berth", id, name, image, compose, !replica)),
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
fn scrape_encodes_container_and_replica_series() {
    let row = seen(
        "abc",
        "demo-web-1",
        Some(("demo", "web")),
        true,
        Status::Running,
        Some(HealthStatus::Healthy),
        3,
        Some(1_700_000_000.5),
    );
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
    let desired = [(("demo".to_string(), "web".to_string()), 2)].into();
    let mut out = String::new();
    let mut w = Writer::new(&mut out, Format::OpenMetrics);
    series::write(&mut w, &[(row, Some(usage))], &desired, 5.0);
    let labels = "id=\"/berth/abc\",name=\"demo-web-1\",image=\"registry.example:5000/team/app:1.2\",com_docker_compose_project=\"demo\",com_docker_compose_service=\"web\"";
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

/// The expositions the golden files hold: controller series with two stacks, and rows
/// of every kind (a replica with two interfaces and huge counters, a paused container
/// without Compose labels or network, an exited one-off, a starting health check, a
/// restarting replica), desired replicas with one service not running at all.
fn golden_exposition(format: Format) -> String {
    let m = Metrics::new("berth");
    m.observe_reconcile("demo", Duration::from_millis(30));
    m.observe_reconcile("demo", Duration::from_micros(2_345_678));
    m.count_action("demo", "container_created");
    m.count_action("demo", "container_created");
    m.count_action("other", "network_created");
    m.set_stack_config_error("demo", true);
    m.set_stack_config_error("other", false);
    m.set_desired_replicas("demo", "web", 2);
    m.set_desired_replicas("demo", "db", 1);
    m.set_desired_replicas("demo", "cache", 3);
    let (web, db) = (Some(("demo", "web")), Some(("demo", "db")));
    let rows = vec![
        (
            seen(
                "aaa",
                "demo-web-1",
                web,
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
                web,
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
                db,
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
                web,
                true,
                Status::Restarting,
                None,
                9,
                Some(1_700_000_000.25),
            ),
            None,
        ),
    ];
    m.exposition(&rows, 1_700_000_500.123_456, format)
}

/// The golden files were written by the prometheus-client encoder (and, for 0.0.4, the
/// conversion) that the container series went through before they were written by hand:
/// the exposition must not change by a byte.
#[test]
fn exposition_is_byte_for_byte_the_crates_encoding() {
    let version = |text: &str| {
        text.replace(
            "berth_build_info{version=\"0.1.0\"}",
            &format!(
                "berth_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            ),
        )
    };
    for (format, golden) in [
        (Format::OpenMetrics, include_str!("golden-openmetrics.txt")),
        (Format::Text004, include_str!("golden-text-0.0.4.txt")),
    ] {
        let out = controller_samples_sorted(&golden_exposition(format));
        let golden = controller_samples_sorted(&version(golden));
        if out != golden {
            let line = out
                .lines()
                .zip(golden.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(out.lines().count().min(golden.lines().count()));
            panic!(
                "{format:?} differs from the golden file at line {}:\n  got:  {:?}\n  want: {:?}",
                line + 1,
                out.lines().nth(line),
                golden.lines().nth(line)
            );
        }
    }
}

/// prometheus-client keeps a family's label sets in a HashMap: the controller families
/// with more than one series come in no fixed order. Their samples are sorted; every
/// other line stays where it is.
fn controller_samples_sorted(text: &str) -> String {
    let unordered = ["berth_stack_config_error", "berth_reconcile_actions"];
    let mut out = String::new();
    let mut run: Vec<&str> = Vec::new();
    let mut family = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            family = rest.split(' ').next().unwrap_or("");
        }
        let sample = !line.starts_with('#');
        if sample && unordered.iter().any(|f| family.starts_with(f)) {
            run.push(line);
            continue;
        }
        run.sort_unstable();
        for l in run.drain(..) {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    run.sort_unstable();
    for l in run {
        out.push_str(l);
        out.push('\n');
    }
    out
}
