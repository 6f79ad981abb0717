//! The service-level stack commands, as Compose's: logs (prefixes, -f), exec by service and
//! index, one-off `run`, the lifecycle commands on a service, port, top, images, events, and
//! attached `up` ending on a container's exit or Ctrl-C.

use crate::stacks::{in_dir, ok_in, stack_dir};
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

const STACK: &str = r#"
name: cmds
services:
  db:
    image: bb:local
    command: ["sh", "-c", "echo pong > /var/www/ping; echo db ready; exec httpd -f -p 8000 -h /var/www"]
    init: true
  web:
    image: bb:local
    command: ["sh", "-c", "echo hello from web; exec httpd -f -p 80 -h /var/www"]
    init: true
    ports: ["8080:80"]
    depends_on: [db]
  worker:
    image: bb:local
    command: ["sleep", "600"]
    init: true
    deploy:
      replicas: 2
    depends_on: [db]
"#;

fn spawn_in(b: &Berth, dir: &Path, args: &[&str]) -> Child {
    b.cmd(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` to end on its own within `limit` (killing it and failing otherwise).
fn finish(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!(
        "{what} did not end within {limit:?}:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `name   | text` -> `name | text` (Compose's padding depends on who printed first).
fn unpadded(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| match l.split_once(" | ") {
            Some((name, rest)) => format!("{} | {rest}", name.trim_end()),
            None => l.to_string(),
        })
        .collect()
}

fn up(b: &Berth) -> PathBuf {
    let dir = stack_dir(b, STACK);
    ok_in(b, &dir, &["up", "-d"]);
    dir
}

#[test]
fn logs_prefix_each_line_with_the_container_name() {
    let b = Berth::new();
    let dir = up(&b);
    let logs = || ok_in(&b, &dir, &["logs"]);
    assert!(
        b.wait_for(Duration::from_secs(10), || logs()
            .contains("hello from web")
            && logs().contains("db ready")),
        "{}",
        logs()
    );
    let out = logs();
    // Compose's `SERVICE-N |`, padded to the longest name printed so far; no colour when
    // stdout is a pipe.
    let lines = unpadded(&out);
    assert!(
        lines.contains(&"web-1 | hello from web".to_string()),
        "{out}"
    );
    assert!(lines.contains(&"db-1 | db ready".to_string()), "{out}");
    assert!(!out.contains('\x1b'), "{out:?}");
    let only_web = ok_in(&b, &dir, &["logs", "--no-log-prefix", "web"]);
    assert_eq!(only_web, "hello from web\n");
    let stamped = ok_in(
        &b,
        &dir,
        &["logs", "-t", "--tail", "1", "--no-log-prefix", "web"],
    );
    let (time, line) = stamped.split_once(' ').unwrap();
    assert!(time.starts_with("20") && time.ends_with('Z'), "{stamped}");
    assert_eq!(line, "hello from web\n");
    let err = in_dir(&b, &dir, &["logs", "nope"]);
    assert!(!err.status.success());
    assert!(text(&err.stderr).contains("no such service: nope"));
}

#[test]
fn logs_follow_ends_when_every_container_has_exited() {
    let b = Berth::new();
    let dir = stack_dir(
        &b,
        r#"
name: follow
services:
  a:
    image: bb:local
    command: ["sh", "-c", "echo a-first; sleep 1; echo a-last"]
  b:
    image: bb:local
    command: ["sh", "-c", "sleep 2; echo b-last"]
"#,
    );
    ok_in(&b, &dir, &["up", "-d"]);
    let child = spawn_in(&b, &dir, &["logs", "-f"]);
    let out = finish(child, Duration::from_secs(20), "logs -f");
    let stdout = unpadded(&text(&out.stdout)).join("\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    for line in ["a-1 | a-first", "a-1 | a-last", "b-1 | b-last"] {
        assert!(stdout.contains(line), "{line} missing in {stdout}");
    }
}

#[test]
fn exec_runs_in_the_service_container_chosen_by_index() {
    let b = Berth::new();
    let dir = up(&b);
    let out = ok_in(
        &b,
        &dir,
        &[
            "exec",
            "-T",
            "-e",
            "GREETING=hi",
            "web",
            "sh",
            "-c",
            "echo $GREETING; ps",
        ],
    );
    assert!(out.starts_with("hi\n"), "{out}");
    assert!(out.contains("httpd"), "{out}");
    let second = ok_in(
        &b,
        &dir,
        &["exec", "-T", "--index", "2", "worker", "hostname"],
    );
    assert_eq!(
        second.trim(),
        b.inspect("cmds-worker-2")["Config"]["Hostname"]
            .as_str()
            .unwrap()
    );
    assert_ne!(
        second.trim(),
        b.inspect("cmds-worker-1")["Config"]["Hostname"]
            .as_str()
            .unwrap()
    );
    let code = in_dir(&b, &dir, &["exec", "-T", "web", "sh", "-c", "exit 5"]);
    assert_eq!(code.status.code(), Some(5));
    let missing = in_dir(&b, &dir, &["exec", "-T", "--index", "9", "worker", "true"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no container number 9"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn run_starts_dependencies_and_propagates_the_exit_code() {
    let b = Berth::new();
    let dir = stack_dir(&b, STACK);
    // Nothing is up: `run` starts db (worker's dependency) first, then reaches it by name.
    let out = in_dir(
        &b,
        &dir,
        &[
            "run",
            "--rm",
            "-T",
            "worker",
            "sh",
            "-c",
            "wget -q -O- http://db:8000/ping && exit 7",
        ],
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pong"), "{}", text(&out.stdout));
    assert_eq!(b.status("cmds-db-1"), "running");
    // --rm left nothing; the service's own containers were not created by run.
    let all = b.ok(&["container", "ls", "-a"]);
    assert!(!all.contains("-run-"), "{all}");
    assert!(!all.contains("cmds-worker-1"), "{all}");

    let name = ok_in(
        &b,
        &dir,
        &[
            "run",
            "-d",
            "--no-deps",
            "-e",
            "X=1",
            "worker",
            "sleep",
            "60",
        ],
    );
    // Compose prints the full id, and names it `PROJECT-SERVICE-run-<12 hex>`.
    let id = name.trim();
    assert!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    let v = b.inspect(id);
    let name = v["Name"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    let name = name.as_str();
    let (prefix, suffix) = name.split_at("cmds-worker-run-".len());
    assert_eq!(prefix, "cmds-worker-run-");
    assert!(
        suffix.len() == 12 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    let labels = &v["Config"]["Labels"];
    assert_eq!(labels["com.docker.compose.oneoff"], "True");
    assert_eq!(labels["com.docker.compose.project"], "cmds");
    assert_eq!(labels["com.docker.compose.service"], "worker");
    assert!(v["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "X=1"));
    // A one-off is not a replica: `ps` of the service does not list it, and the service's
    // name does not lead to it (only its own does).
    assert!(!ok_in(&b, &dir, &["ps", "worker"]).contains(name));
    let lookup = |host: &str| in_dir(&b, &dir, &["exec", "-T", "db", "nslookup", host]);
    assert!(lookup(name).status.success());
    assert!(!lookup("worker").status.success());
}

#[test]
fn lifecycle_commands_act_on_one_service() {
    let b = Berth::new();
    let dir = up(&b);
    ok_in(&b, &dir, &["stop", "-t", "2", "web"]);
    assert_eq!(b.status("cmds-web-1"), "exited");
    assert_eq!(b.status("cmds-db-1"), "running");
    ok_in(&b, &dir, &["start", "web"]);
    assert_eq!(b.status("cmds-web-1"), "running");

    let started = |n: &str| {
        b.inspect(n)["State"]["StartedAt"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = started("cmds-db-1");
    ok_in(&b, &dir, &["restart", "db"]);
    assert_eq!(b.status("cmds-db-1"), "running");
    assert_ne!(started("cmds-db-1"), before);

    ok_in(&b, &dir, &["pause", "worker"]);
    assert_eq!(b.status("cmds-worker-1"), "paused");
    assert_eq!(b.status("cmds-worker-2"), "paused");
    ok_in(&b, &dir, &["unpause", "worker"]);
    assert_eq!(b.status("cmds-worker-2"), "running");

    ok_in(&b, &dir, &["kill", "-s", "SIGKILL", "web"]);
    assert!(b.wait_for(Duration::from_secs(5), || b.status("cmds-web-1")
        == "exited"));
    assert_eq!(b.inspect("cmds-web-1")["State"]["ExitCode"], 137);

    // Without -f, rm asks; no answer (stdin is empty) removes nothing.
    let asked = in_dir(&b, &dir, &["rm", "web"]);
    assert!(
        text(&asked.stderr).contains("Going to remove cmds-web-1"),
        "{}",
        text(&asked.stderr)
    );
    assert_eq!(b.status("cmds-web-1"), "exited");
    // rm takes stopped containers only; -s stops first.
    ok_in(&b, &dir, &["rm", "-f", "web", "db"]);
    assert!(!b
        .run(&["container", "inspect", "cmds-web-1"])
        .status
        .success());
    assert_eq!(b.status("cmds-db-1"), "running");
    ok_in(&b, &dir, &["rm", "-f", "-s", "worker"]);
    let left = b.ok(&["container", "ls", "-a"]);
    assert!(!left.contains("cmds-worker"), "{left}");

    // create makes the containers without starting them; start (all services) runs them.
    ok_in(&b, &dir, &["create", "web"]);
    assert_eq!(b.status("cmds-web-1"), "created");
    ok_in(&b, &dir, &["start"]);
    assert_eq!(b.status("cmds-web-1"), "running");

    // stop with no service stops everything.
    ok_in(&b, &dir, &["stop", "-t", "2"]);
    assert_eq!(b.status("cmds-web-1"), "exited");
    assert_eq!(b.status("cmds-db-1"), "exited");
}

#[test]
fn port_top_and_images_describe_the_services() {
    let b = Berth::new();
    let dir = up(&b);
    assert_eq!(
        ok_in(&b, &dir, &["port", "web", "80"]).trim(),
        "0.0.0.0:8080"
    );
    let none = in_dir(&b, &dir, &["port", "--protocol", "udp", "web", "80"]);
    assert!(!none.status.success());

    // Compose's one table: SERVICE and # first, CMD last (tabwriter padding 2, least 4).
    let top = ok_in(&b, &dir, &["top", "web"]);
    let mut lines = top.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        ["SERVICE", "#", "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "{top}"
    );
    assert!(top.starts_with("SERVICE  #   UID "), "{top}");
    let rows: Vec<&str> = lines.collect();
    assert!(
        rows.iter().all(|r| r.starts_with("web      1   root")),
        "{top}"
    );
    assert!(
        rows.iter()
            .any(|r| r.ends_with("httpd -f -p 80 -h /var/www")),
        "{top}"
    );
    let everything = ok_in(&b, &dir, &["top"]);
    assert!(
        everything.lines().any(|r| r.starts_with("worker   2 ")),
        "{everything}"
    );

    let images = ok_in(&b, &dir, &["images"]);
    let image_id = b.inspect("cmds-web-1")["Image"]
        .as_str()
        .unwrap()
        .to_string();
    let short = &image_id.trim_start_matches("sha256:")[..12];
    let web_row = images
        .lines()
        .find(|l| l.starts_with("cmds-web-1 "))
        .unwrap_or_else(|| panic!("{images}"));
    // Compose's columns, each at least 20 wide.
    assert!(
        images.starts_with(
            "CONTAINER           REPOSITORY          TAG                 PLATFORM            IMAGE ID            SIZE                CREATED\n"
        ),
        "{images}"
    );
    let cols: Vec<&str> = web_row.split_whitespace().collect();
    assert_eq!(
        cols[..5],
        ["cmds-web-1", "bb", "local", "linux/amd64", short],
        "{images}"
    );
    assert!(cols[5].ends_with("B"), "{images}");
    assert!(web_row.ends_with(" ago"), "{images}");
    assert_eq!(images.lines().count(), 5, "{images}"); // header, db, web, 2 workers
    let json: serde_json::Value =
        serde_json::from_str(&ok_in(&b, &dir, &["images", "--format", "json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 4, "{json}");
    assert_eq!(json[0]["ContainerName"], "cmds-db-1");
    assert_eq!(json[0]["Platform"], "linux/amd64");
    assert_eq!(
        ok_in(&b, &dir, &["images", "-q"]).trim(),
        image_id.trim_start_matches("sha256:")
    );
}

#[test]
fn events_stream_the_project_container_lifecycle() {
    let b = Berth::new();
    let dir = up(&b);
    let child = spawn_in(&b, &dir, &["events", "--json"]);
    std::thread::sleep(Duration::from_millis(500));
    ok_in(&b, &dir, &["stop", "-t", "2", "web"]);
    ok_in(&b, &dir, &["start", "web"]);
    std::thread::sleep(Duration::from_millis(300));
    let mut child = child;
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .inspect(|e| {
            assert_eq!(e["service"], "web", "{e}");
            assert_eq!(e["type"], "container");
            assert_eq!(e["attributes"]["name"], "cmds-web-1");
            assert_eq!(e["attributes"]["image"], "bb:local");
        })
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    let pos = |a: &str| {
        actions
            .iter()
            .position(|x| *x == a)
            .unwrap_or_else(|| panic!("{a} not in {actions:?}"))
    };
    assert!(pos("die") < pos("start"), "{actions:?}");
    assert!(pos("stop") < pos("start"), "{actions:?}");
}

const ATTACHED: &str = r#"
name: att
services:
  srv:
    image: bb:local
    command: ["httpd", "-f", "-p", "8000", "-h", "/var/www"]
    init: true
  job:
    image: bb:local
    command: ["sh", "-c", "sleep 1; echo job done; exit 3"]
    depends_on: [srv]
"#;

#[test]
fn attached_up_exits_with_the_code_of_exit_code_from() {
    let b = Berth::new();
    let dir = stack_dir(&b, ATTACHED);
    let child = spawn_in(&b, &dir, &["up", "--exit-code-from", "job"]);
    let out = finish(child, Duration::from_secs(30), "up --exit-code-from");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = unpadded(&text(&out.stdout)).join("\n");
    assert!(stdout.contains("job-1 | job done"), "{stdout}");
    assert!(
        text(&out.stderr).contains("Aborting on container exit"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(b.status("att-srv-1"), "exited");
}

#[test]
fn attached_up_aborts_on_container_exit_and_stops_on_ctrl_c() {
    let b = Berth::new();
    let dir = stack_dir(&b, ATTACHED);
    let child = spawn_in(&b, &dir, &["up", "--abort-on-container-exit"]);
    let out = finish(
        child,
        Duration::from_secs(30),
        "up --abort-on-container-exit",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(b.status("att-srv-1"), "exited");

    // Ctrl-C: only the long-running service, stopped gracefully.
    let child = spawn_in(&b, &dir, &["up", "srv", "--no-log-prefix"]);
    assert!(b.wait_for(Duration::from_secs(10), || b.status("att-srv-1")
        == "running"));
    std::thread::sleep(Duration::from_millis(500));
    sh(&["kill", "-INT", &child.id().to_string()]);
    let out = finish(child, Duration::from_secs(20), "up after SIGINT");
    assert!(
        text(&out.stderr).contains("Gracefully stopping..."),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(b.status("att-srv-1"), "exited");
}

#[test]
fn version_prints_as_compose_version_does() {
    let run = |args: &[&str]| {
        text(
            &std::process::Command::new(BERTH)
                .args(args)
                .output()
                .unwrap()
                .stdout,
        )
    };
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(run(&["version"]), format!("berth version v{v}\n"));
    assert_eq!(run(&["version", "--short"]), format!("{v}\n"));
    let json: serde_json::Value =
        serde_json::from_str(&run(&["version", "--format", "json"])).unwrap();
    assert_eq!(json["version"], format!("v{v}"));
}

/// `stop` acts on a dependency level's containers at once, as Compose: each of three
/// containers that ignore SIGTERM is asked to stop before any has stopped; the one they all
/// depend on stops after them.
#[test]
fn stop_stops_a_level_in_parallel_after_its_dependents() {
    let b = Berth::new();
    let stubborn = r#"[sh, -c, "trap '' TERM; while true; do sleep 0.2; done"]"#;
    let dir = stack_dir(
        &b,
        &format!(
            "name: par\nservices:\n  base:\n    image: bb:local\n    command: {stubborn}\n  a:\n    image: bb:local\n    command: {stubborn}\n    depends_on: [base]\n  b:\n    image: bb:local\n    command: {stubborn}\n    depends_on: [base]\n  c:\n    image: bb:local\n    command: {stubborn}\n    depends_on: [base]\n"
        ),
    );
    ok_in(&b, &dir, &["up", "-d", "--no-watch"]);
    let err = crate::stacks::progress_in(&b, &dir, &["stop", "-t", "1"]);
    let at = |what: &str| {
        err.find(what)
            .unwrap_or_else(|| panic!("{what} missing in\n{err}"))
    };
    let first_stopped = ["a", "b", "c"]
        .iter()
        .map(|s| at(&format!("par-{s}-1  Stopped")))
        .min()
        .unwrap();
    for s in ["a", "b", "c"] {
        assert!(at(&format!("par-{s}-1  Stopping")) < first_stopped, "{err}");
    }
    assert!(at("par-base-1  Stopping") > first_stopped, "{err}");
    for s in ["base", "a", "b", "c"] {
        assert_eq!(b.status(&format!("par-{s}-1")), "exited");
    }
    ok_in(&b, &dir, &["down", "-t", "0"]);
}

/// `start` waits for depends_on conditions as `up` does: app starts only once db is healthy
/// again (db's check passes ~1 s after each start), and a dependency that must complete
/// successfully but fails stops `start` with Compose's message.
#[test]
fn start_waits_for_healthy_and_completed_dependencies() {
    let b = Berth::new();
    let stack = r#"
name: st
services:
  db:
    image: bb:local
    command: ["sh", "-c", "rm -f /tmp/ready; sleep 1; touch /tmp/ready; exec sleep 100"]
    init: true
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 200ms
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
    ok_in(&b, &dir, &["up", "-d", "--wait", "--no-watch"]);
    ok_in(&b, &dir, &["stop", "-t", "0"]);
    let err = crate::stacks::progress_in(&b, &dir, &["start"]);
    let at = |what: &str| {
        err.find(what)
            .unwrap_or_else(|| panic!("{what} missing in\n{err}"))
    };
    assert!(at("st-db-1  Healthy") < at("st-app-1  Started"), "{err}");
    assert_eq!(b.inspect("st-db-1")["State"]["Health"]["Status"], "healthy");
    ok_in(&b, &dir, &["down", "-t", "0"]);

    // A one-shot that must complete successfully but exits 3: app is not started.
    let oneshot = "name: st\nservices:\n  init:\n    image: bb:local\n    command: [sh, -c, 'exit 3']\n  app:\n    image: bb:local\n    command: [sleep, '100']\n    init: true\n    depends_on:\n      init: {condition: service_completed_successfully}\n";
    std::fs::write(dir.join("compose.yaml"), oneshot).unwrap();
    ok_in(&b, &dir, &["create"]);
    let out = in_dir(&b, &dir, &["start"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("service \"init\" didn't complete successfully: exit 3"),
        "{err}"
    );
    assert_eq!(b.status("st-app-1"), "created");
    ok_in(&b, &dir, &["down", "-t", "0"]);
}

/// `config` prints what Docker Compose v2.40.3 printed for this file (run once side by side;
/// `DIR` stands for the stack's directory): key order, quoting, empty fields left out, paths.
#[test]
fn config_prints_what_compose_prints() {
    let b = Berth::new();
    let dir = stack_dir(&b, CONFIG_STACK);
    let dir_text = dir.to_string_lossy().into_owned();
    let yaml = ok_in(&b, &dir, &["config"]).replace(&dir_text, "DIR");
    assert_eq!(yaml, CONFIG_YAML);
    let json = ok_in(&b, &dir, &["config", "--format", "json"]).replace(&dir_text, "DIR");
    assert_eq!(json, CONFIG_JSON);
}

const CONFIG_STACK: &str = r#"name: cfg
services:
  web:
    image: nginx
    command: sh -c 'echo "a && b"; exit 0'
    environment:
      B: "3"
      a10: 1
      a9: yes
    ports: ["127.0.0.1:8080:80"]
    volumes:
      - ./data/:/data/
      - /abs//dir/:/z//
      - db:/db
    healthcheck:
      test: ["CMD", "true"]
      interval: 90s
    depends_on: [db]
    ulimits:
      nofile: {soft: 10, hard: 20}
  db:
    image: busybox
    x-note: |
      two
      lines
volumes:
  db: {}
"#;

const CONFIG_YAML: &str = r#"name: cfg
services:
  db:
    image: busybox
    networks:
      default: null
    x-note: |
      two
      lines
  web:
    command:
      - sh
      - -c
      - echo "a && b"; exit 0
    depends_on:
      db:
        condition: service_started
        required: true
    environment:
      B: "3"
      a9: "yes"
      a10: "1"
    healthcheck:
      test:
        - CMD
        - "true"
      interval: 1m30s
    image: nginx
    networks:
      default: null
    ports:
      - mode: ingress
        host_ip: 127.0.0.1
        target: 80
        published: "8080"
        protocol: tcp
    ulimits:
      nofile:
        soft: 10
        hard: 20
    volumes:
      - type: bind
        source: DIR/data
        target: /data
        bind:
          create_host_path: true
      - type: bind
        source: /abs//dir/
        target: /z
        bind:
          create_host_path: true
      - type: volume
        source: db
        target: /db
        volume: {}
networks:
  default:
    name: cfg_default
volumes:
  db:
    name: cfg_db
"#;

const CONFIG_JSON: &str = r#"{
  "name": "cfg",
  "networks": {
    "default": {
      "name": "cfg_default",
      "ipam": {}
    }
  },
  "services": {
    "db": {
      "command": null,
      "entrypoint": null,
      "image": "busybox",
      "networks": {
        "default": null
      }
    },
    "web": {
      "command": [
        "sh",
        "-c",
        "echo \"a \u0026\u0026 b\"; exit 0"
      ],
      "depends_on": {
        "db": {
          "condition": "service_started",
          "required": true
        }
      },
      "entrypoint": null,
      "environment": {
        "B": "3",
        "a10": "1",
        "a9": "yes"
      },
      "healthcheck": {
        "test": [
          "CMD",
          "true"
        ],
        "interval": "1m30s"
      },
      "image": "nginx",
      "networks": {
        "default": null
      },
      "ports": [
        {
          "mode": "ingress",
          "host_ip": "127.0.0.1",
          "target": 80,
          "published": "8080",
          "protocol": "tcp"
        }
      ],
      "ulimits": {
        "nofile": {
          "soft": 10,
          "hard": 20
        }
      },
      "volumes": [
        {
          "type": "bind",
          "source": "DIR/data",
          "target": "/data",
          "bind": {
            "create_host_path": true
          }
        },
        {
          "type": "bind",
          "source": "/abs//dir/",
          "target": "/z",
          "bind": {
            "create_host_path": true
          }
        },
        {
          "type": "volume",
          "source": "db",
          "target": "/db",
          "volume": {}
        }
      ]
    }
  },
  "volumes": {
    "db": {
      "name": "cfg_db"
    }
  }
}"#;
