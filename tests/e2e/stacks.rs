//! Stacks through `berth up -d` / `down` / `ps` / `ls`: Compose names and labels, service
//! discovery by name and alias, published ports, config-hash recreation, one-shot
//! dependencies, scaling, volumes that outlive `down`, and clear errors.

use crate::support::*;
use std::path::{Path, PathBuf};

const STACK: &str = r#"
name: demo
services:
  seed:
    image: bb:local
    command: ["sh", "-c", "echo seeded > /data/index.html"]
    volumes: [content:/data]
  api:
    image: bb:local
    command: ["httpd", "-f", "-p", "8000", "-h", "/var/www"]
    init: true
    environment:
      MODE: one
    networks:
      default:
        aliases: [backend]
  web:
    image: bb:local
    command: ["httpd", "-f", "-p", "80", "-h", "/data"]
    init: true
    ports: ["8080:80"]
    volumes: [content:/data]
    depends_on:
      seed: {condition: service_completed_successfully}
      api: {condition: service_started}
volumes:
  content:
"#;

pub(crate) fn stack_dir(b: &Berth, text: &str) -> PathBuf {
    let dir = b.dir.path().join("stack");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), text).unwrap();
    dir
}

/// `berth ARGS` run in the stack's directory (project discovery as Compose).
pub(crate) fn in_dir(b: &Berth, dir: &Path, args: &[&str]) -> std::process::Output {
    b.cmd(args).current_dir(dir).output().unwrap()
}

/// Runs and asserts success; returns stderr, where the progress display goes (as Compose's).
pub(crate) fn progress_in(b: &Berth, dir: &Path, args: &[&str]) -> String {
    text(&succeeded_in(b, dir, args).stderr)
}

pub(crate) fn ok_in(b: &Berth, dir: &Path, args: &[&str]) -> String {
    text(&succeeded_in(b, dir, args).stdout)
}

fn succeeded_in(b: &Berth, dir: &Path, args: &[&str]) -> std::process::Output {
    let out = in_dir(b, dir, args);
    assert!(
        out.status.success(),
        "berth {args:?}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn id_of(b: &Berth, name: &str) -> String {
    b.inspect(name)["Id"].as_str().unwrap().to_string()
}

#[test]
fn up_down_names_discovery_ports_and_recreation() {
    let b = Berth::new();
    let dir = stack_dir(&b, STACK);
    // Not watched: the edits below are for `up` to find, not the file watcher (tests/e2e/reconcile.rs).
    let out = progress_in(&b, &dir, &["up", "-d", "--no-watch"]);
    for line in [
        "Network demo_default",
        "Volume demo_content",
        "Container demo-web-1",
    ] {
        assert!(out.contains(line), "{out}");
    }
    let web = b.inspect("demo-web-1");
    assert_eq!(web["State"]["Status"], "running");
    assert_eq!(
        web["Config"]["Labels"]["com.docker.compose.project"],
        "demo"
    );
    assert_eq!(web["Config"]["Labels"]["com.docker.compose.service"], "web");
    assert_eq!(
        web["Config"]["Labels"]["com.docker.compose.container-number"],
        "1"
    );
    assert_eq!(
        b.inspect("demo-seed-1")["State"]["ExitCode"],
        0,
        "the one-shot ran before web"
    );
    // Service discovery: by service name and by alias, on the project's default network.
    assert_eq!(
        b.ok(&[
            "container",
            "exec",
            "demo-web-1",
            "wget",
            "-qO-",
            "http://api:8000/"
        ]),
        "hello from berth\n"
    );
    assert_eq!(
        b.ok(&[
            "container",
            "exec",
            "demo-web-1",
            "wget",
            "-qO-",
            "http://backend:8000/"
        ]),
        "hello from berth\n"
    );
    // The published port, from the host; the page comes from the volume the seed filled.
    assert!(b.wait_for(std::time::Duration::from_secs(5), || text(
        &b.host(&["busybox", "wget", "-qO-", "http://127.0.0.1:8080/"])
            .stdout
    ) == "seeded\n"));
    let ps = ok_in(&b, &dir, &["ps"]);
    assert!(
        ps.contains("demo-web-1") && ps.contains("0.0.0.0:8080->80/tcp"),
        "{ps}"
    );
    assert!(ok_in(&b, &dir, &["ls"]).contains("demo"));

    // A second up changes nothing; an edit recreates only the edited service.
    let (web_id, api_id) = (id_of(&b, "demo-web-1"), id_of(&b, "demo-api-1"));
    let again = progress_in(&b, &dir, &["up", "-d", "--no-watch"]);
    assert!(
        again.contains("demo-web-1  Running") && again.contains("demo-api-1  Running"),
        "{again}"
    );
    assert_eq!(id_of(&b, "demo-web-1"), web_id);
    std::fs::write(
        dir.join("compose.yaml"),
        STACK.replace("MODE: one", "MODE: two"),
    )
    .unwrap();
    let edited = progress_in(&b, &dir, &["up", "-d"]);
    assert!(edited.contains("demo-api-1  Recreated"), "{edited}");
    assert_ne!(id_of(&b, "demo-api-1"), api_id);
    assert_eq!(
        id_of(&b, "demo-web-1"),
        web_id,
        "untouched services keep their containers"
    );
    assert!(b
        .ok(&["container", "exec", "demo-api-1", "env"])
        .contains("MODE=two"));

    // down: containers and network go, the named volume stays; down -v removes it.
    let down = progress_in(&b, &dir, &["down"]);
    assert!(down.contains("Network demo_default  Removed"), "{down}");
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
    assert!(
        b.root
            .join("volumes/demo_content/_data/index.html")
            .exists(),
        "the volume's data survives down"
    );
    ok_in(&b, &dir, &["up", "-d"]);
    assert_eq!(
        b.ok(&["container", "exec", "demo-web-1", "cat", "/data/index.html"]),
        "seeded\n"
    );
    ok_in(&b, &dir, &["down", "-v"]);
    assert!(!b.root.join("volumes/demo_content").exists());
    let links = text(&b.host(&["ip", "-o", "link"]).stdout);
    assert!(!links.contains("br-") && !links.contains("veth"), "{links}");
    let rules = text(&b.host(&["iptables-save"]).stdout);
    assert!(
        !rules
            .lines()
            .any(|l| l.starts_with("-A") && l.contains("BERTH") && l.contains("8080")),
        "no DNAT left: {rules}"
    );
}

#[test]
fn scale_and_orphans() {
    let b = Berth::new();
    let stack = "name: sc\nservices:\n  w:\n    image: bb:local\n    command: [sleep, '100']\n    init: true\n    deploy: {replicas: 3}\n  x:\n    image: bb:local\n    command: [sleep, '100']\n    init: true\n";
    let dir = stack_dir(&b, stack);
    ok_in(&b, &dir, &["up", "-d", "--no-watch"]);
    for n in 1..=3 {
        assert_eq!(b.status(&format!("sc-w-{n}")), "running");
    }
    ok_in(&b, &dir, &["up", "-d", "--no-watch", "--scale", "w=1"]);
    assert_eq!(b.status("sc-w-1"), "running");
    assert!(!b.run(&["container", "inspect", "sc-w-3"]).status.success());
    // x leaves the file: an orphan, removed only on request (a watched stack's daemon would
    // remove it at once: the file is its source of truth).
    std::fs::write(
        dir.join("compose.yaml"),
        stack.split("  x:").next().unwrap(),
    )
    .unwrap();
    let out = in_dir(&b, &dir, &["up", "-d", "--no-watch"]);
    assert!(
        text(&out.stderr).contains("orphan"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(b.status("sc-x-1"), "running");
    ok_in(&b, &dir, &["up", "-d", "--no-watch", "--remove-orphans"]);
    assert!(!b.run(&["container", "inspect", "sc-x-1"]).status.success());
    ok_in(&b, &dir, &["down"]);
}

#[test]
fn bad_files_and_unsupported_keys_are_reported() {
    let b = Berth::new();
    let dir = stack_dir(
        &b,
        "services:\n  web:\n    image: bb:local\n    comand: [true]\n",
    );
    let out = in_dir(&b, &dir, &["up", "-d"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("compose.yaml") && err.contains("command"),
        "names the file and suggests the key: {err}"
    );
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "", "nothing was created");
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  web:\n    build: .\n",
    )
    .unwrap();
    // A build without its Dockerfile fails as Compose's, naming the file, and makes nothing.
    let out = in_dir(&b, &dir, &["up", "-d"]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("service \"web\": failed to read dockerfile")
            && err.contains("Dockerfile: no such file or directory"),
        "{err}"
    );
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "", "nothing was created");
    std::fs::write(dir.join("compose.yaml"), "services:\n  web:\n    image: bb:local\n    command: [sleep, '30']\n    init: true\n    ipc: host\n").unwrap();
    let out = in_dir(&b, &dir, &["up", "-d"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("`ipc` is not supported yet"),
        "{}",
        text(&out.stderr)
    );
    ok_in(&b, &dir, &["down"]);
}

#[test]
fn health_checks_gate_dependents_and_show_in_ps() {
    let b = Berth::new();
    // db becomes healthy only once /tmp/ready exists (after ~1 s); app waits for it.
    let stack = r#"
name: hc
services:
  db:
    image: bb:local
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 100"]
    init: true
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 200ms
      timeout: 2s
      retries: 3
      start_period: 5s
      start_interval: 200ms
  app:
    image: bb:local
    command: ["sleep", "100"]
    init: true
    depends_on:
      db: {condition: service_healthy}
"#;
    let dir = stack_dir(&b, stack);
    ok_in(&b, &dir, &["up", "-d", "--wait"]);
    let db = b.inspect("hc-db-1");
    assert_eq!(db["State"]["Health"]["Status"], "healthy", "{db}");
    let app_started = b.inspect("hc-app-1")["State"]["StartedAt"]
        .as_str()
        .unwrap()
        .to_string();
    let healthy_at = db["State"]["Health"]["Log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ExitCode"] == 0)
        .unwrap()["End"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        app_started >= healthy_at,
        "app started ({app_started}) only after db was healthy ({healthy_at})"
    );
    assert!(ok_in(&b, &dir, &["ps"]).contains("(healthy)"));
    // A check that starts failing turns the container unhealthy after `retries` probes.
    b.ok(&["container", "exec", "hc-db-1", "rm", "/tmp/ready"]);
    assert!(
        b.wait_for(std::time::Duration::from_secs(5), || b.inspect("hc-db-1")
            ["State"]["Health"]["Status"]
            == "unhealthy")
    );
    ok_in(&b, &dir, &["down", "-t", "1"]);
    // A dependency that never becomes healthy fails `up` with a clear message.
    let never = stack
        .replace("test -f /tmp/ready", "false")
        .replace("retries: 3", "retries: 1")
        .replace("start_period: 5s", "start_period: 0s");
    std::fs::write(dir.join("compose.yaml"), never).unwrap();
    let out = in_dir(&b, &dir, &["up", "-d"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("is unhealthy"),
        "{}",
        text(&out.stderr)
    );
    ok_in(&b, &dir, &["down", "-t", "1"]);
}

#[test]
fn compose_links_give_a_private_alias() {
    let b = Berth::new();
    let stack = "name: lk\nservices:\n  db:\n    image: bb:local\n    command: [sleep, '60']\n    init: true\n  app:\n    image: bb:local\n    command: [sleep, '60']\n    init: true\n    links: ['db:database']\n";
    let dir = stack_dir(&b, stack);
    let out = in_dir(&b, &dir, &["up", "-d"]);
    assert!(
        out.status.success() && !text(&out.stderr).contains("links"),
        "no warning for links: {}",
        text(&out.stderr)
    );
    let ip = b.inspect("lk-db-1")["NetworkSettings"]["Networks"]["lk_default"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(b
        .ok(&["container", "exec", "lk-app-1", "nslookup", "database"])
        .contains(&ip));
    ok_in(&b, &dir, &["down", "-t", "1"]);
}

/// A stack brought up and down 100 times leaves the host exactly as before (links, rules,
/// mounts, cgroups, processes), and its named volume's data survives every plain `down`.
#[test]
fn up_down_100_times_leaves_nothing() {
    let b = Berth::new();
    let stack = "name: cyc\nservices:\n  web:\n    image: bb:local\n    command: [httpd, -f, -p, '80', -h, /data]\n    init: true\n    ports: ['8080:80']\n    volumes: [keep:/data]\n  api:\n    image: bb:local\n    command: [sleep, '100']\n    init: true\nvolumes:\n  keep:\n";
    let dir = stack_dir(&b, stack);
    let snapshot = |b: &Berth| {
        let links = text(&b.host(&["ip", "-o", "link"]).stdout)
            .lines()
            .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            .collect::<Vec<_>>();
        let rules = text(&b.host(&["iptables-save"]).stdout)
            .lines()
            .filter(|l| l.starts_with('-') || l.starts_with(':'))
            .map(String::from)
            .collect::<Vec<_>>();
        let mounts = host_mounts_with(b.dir.path().to_str().unwrap()).len();
        (links, rules, mounts)
    };
    ok_in(&b, &dir, &["up", "-d"]);
    b.ok(&[
        "container",
        "exec",
        "cyc-web-1",
        "sh",
        "-c",
        "echo kept > /data/index.html",
    ]);
    ok_in(&b, &dir, &["down"]);
    let before = snapshot(&b);
    for i in 0..100 {
        ok_in(&b, &dir, &["up", "-d"]);
        if i % 25 == 0 {
            assert!(
                b.wait_for(std::time::Duration::from_secs(5), || text(
                    &b.host(&["busybox", "wget", "-qO-", "http://127.0.0.1:8080/"])
                        .stdout
                ) == "kept\n"),
                "round {i}"
            );
        }
        ok_in(&b, &dir, &["down"]);
    }
    // A removed container's veth pair goes with its namespace, which the kernel tears down
    // from one ordered work queue shared by the whole host: after 200 namespaces in half a
    // minute, with the rest of the suite making and removing namespaces in parallel, that
    // queue ran more than 30 s behind (2 of ~15 full-suite runs). A leak never settles; a
    // backlog does, so the host gets two minutes.
    assert!(
        b.wait_for(std::time::Duration::from_secs(120), || snapshot(&b)
            == before),
        "the host differs after 100 rounds: {:?} vs {:?}\nwho holds network namespaces:\n{}",
        snapshot(&b),
        before,
        // A veth outlives its container only while something keeps the peer's namespace:
        // name the holders (processes, pins, open descriptors) for whoever reads the failure.
        text(
            &b.host(&[
                "sh",
                "-c",
                "ip -d -o link; lsns -t net -o NS,NPROCS,PID,NSFS,COMMAND; \
                 ls -l /proc/[0-9]*/fd 2>/dev/null | grep -o 'net:\\[[0-9]*\\]' | sort | uniq -c"
            ])
            .stdout
        )
    );
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
    let cg_children = ["memory", "pids", "cpu", "unified"]
        .iter()
        .filter_map(|h| {
            std::fs::read_dir(
                std::path::Path::new("/sys/fs/cgroup")
                    .join(h)
                    .join(&b.cgroup_parent),
            )
            .ok()
        })
        .flat_map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .collect::<Vec<_>>()
        })
        .count();
    assert_eq!(cg_children, 0, "no container cgroup left");
    assert_eq!(
        std::fs::read_to_string(b.root.join("volumes/cyc_keep/_data/index.html")).unwrap(),
        "kept\n"
    );
}
