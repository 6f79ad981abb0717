//! The stack file as the source of truth: a watched stack converges on every saved edit
//! (in place, temp file + rename, delete + create), an invalid edit changes nothing and is
//! reported, a stack survives kill -9 of the daemon and keeps converging, and services a
//! person stopped stay stopped.

use crate::stacks::{ok_in, stack_dir};
use crate::support::*;
use std::path::Path;
use std::time::Duration;

fn stack(env_b: &str, extra: &str) -> String {
    format!(
        r#"
name: watched
services:
  a:
    image: bb:local
    command: ["sleep", "1000"]
    init: true
  b:
    image: bb:local
    command: ["sleep", "1000"]
    init: true
    environment:
      VALUE: "{env_b}"
    volumes: [data:/data]
  c:
    image: bb:local
    command: ["httpd", "-f", "-p", "80"]
    init: true
    depends_on:
      b: {{condition: service_started, restart: true}}
{extra}
volumes:
  data:
"#
    )
}

struct Snapshot {
    id: String,
    started: String,
}

fn snap(b: &Berth, name: &str) -> Snapshot {
    let v = inspect(b, name);
    Snapshot {
        id: v["Id"].as_str().unwrap_or("").to_string(),
        started: v["State"]["StartedAt"].as_str().unwrap_or("").to_string(),
    }
}

fn env_of(b: &Berth, name: &str) -> Vec<String> {
    let v = inspect(b, name);
    v["Config"]["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `container inspect` of `name`, Null while it does not exist (a recreate is under way).
fn inspect(b: &Berth, name: &str) -> serde_json::Value {
    let out = b.run(&["container", "inspect", name]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v[0].clone()
}

/// The container's state, or "" while it does not exist.
fn state(b: &Berth, name: &str) -> String {
    inspect(b, name)["State"]["Status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn ls_json(b: &Berth) -> serde_json::Value {
    let out = b.ok(&["ls", "--format", "json"]);
    serde_json::from_str::<serde_json::Value>(&out).unwrap()
}

fn stack_entry(b: &Berth, name: &str) -> serde_json::Value {
    ls_json(b)
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Name"] == name)
        .cloned()
        .unwrap_or_default()
}

/// `berth events --json` of the stack, read on a thread.
struct EventStream {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl EventStream {
    fn start(b: &Berth, dir: &Path) -> EventStream {
        let mut child = b
            .cmd(&["events", "--json"])
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        // Subscribed before anything it should see happens.
        std::thread::sleep(Duration::from_millis(300));
        EventStream { child, lines }
    }

    /// The first event matching `f` within 5 s.
    fn first(&self, f: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(e) if f(&e) => return e,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no such event within 5 s");
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `berth_stack_config_error{com_docker_compose_project="watched"}` off the daemon's /metrics.
fn config_error_metric(b: &Berth) -> Option<f64> {
    let out = b.host(&["curl", "-sS", "-m", "10", "http://127.0.0.1:9323/metrics"]);
    text(&out.stdout)
        .lines()
        .find(|l| {
            l.starts_with("berth_stack_config_error{")
                && l.contains("com_docker_compose_project=\"watched\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Saves `text` the way an editor that writes a temp file and renames it does (vim, VS Code).
fn save_by_rename(file: &Path, text: &str) {
    let tmp = file.with_file_name(".compose.yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

#[test]
fn edits_converge_and_invalid_edits_change_nothing() {
    let b = Berth::new();
    let dir = stack_dir(&b, &stack("one", ""));
    let file = dir.join("compose.yaml");
    ok_in(&b, &dir, &["up", "-d"]);
    let entry = stack_entry(&b, "watched");
    assert_eq!(entry["Watched"], true, "{entry}");
    let ls = b.ok(&["ls"]);
    assert!(ls.contains("WATCHED") && ls.contains("yes"), "{ls}");
    let (a0, b0, c0) = (
        snap(&b, "watched-a-1"),
        snap(&b, "watched-b-1"),
        snap(&b, "watched-c-1"),
    );

    // 1. In place: b is recreated with the new value; c restarts (depends_on restart: true)
    //    but keeps its id; a is not touched.
    std::fs::write(&file, stack("two", "")).unwrap();
    assert!(
        b.wait_for(Duration::from_secs(5), || env_of(&b, "watched-b-1")
            .contains(&"VALUE=two".to_string())),
        "the edit was not applied: {:?}",
        env_of(&b, "watched-b-1")
    );
    let b1 = snap(&b, "watched-b-1");
    assert_ne!(b1.id, b0.id, "b was recreated");
    assert!(
        b.wait_for(Duration::from_secs(5), || snap(&b, "watched-c-1").started
            != c0.started)
    );
    let c1 = snap(&b, "watched-c-1");
    assert_eq!(c1.id, c0.id, "c was restarted, not recreated");
    let a1 = snap(&b, "watched-a-1");
    assert_eq!(
        (a1.id.as_str(), a1.started.as_str()),
        (a0.id.as_str(), a0.started.as_str())
    );
    assert_eq!(state(&b, "watched-b-1"), "running");

    // 2. Temp file + rename: a new service appears, and a scale change applies.
    let extra = "  d:\n    image: bb:local\n    command: [\"sleep\", \"1000\"]\n    init: true\n    scale: 2\n";
    save_by_rename(&file, &stack("two", extra));
    assert!(
        b.wait_for(Duration::from_secs(5), || state(&b, "watched-d-2")
            == "running"),
        "the added service did not come up"
    );
    assert_eq!(
        snap(&b, "watched-b-1").id,
        b1.id,
        "b untouched by an unrelated edit"
    );

    // 3. Invalid YAML: nothing stops, the error names the file and line, and `berth events`
    //    carries it.
    let events = EventStream::start(&b, &dir);
    std::fs::write(&file, "services:\n  a:\n    image: [unclosed\n").unwrap();
    assert!(
        b.wait_for(Duration::from_secs(5), || stack_entry(&b, "watched")
            ["Error"]
            .as_str()
            .is_some_and(|e| e.contains("compose.yaml:"))),
        "no error reported: {}",
        stack_entry(&b, "watched")
    );
    std::thread::sleep(Duration::from_millis(500));
    for c in [
        "watched-a-1",
        "watched-b-1",
        "watched-c-1",
        "watched-d-1",
        "watched-d-2",
    ] {
        assert_eq!(state(&b, c), "running", "{c} stopped after an invalid edit");
    }
    assert_eq!(snap(&b, "watched-b-1").id, b1.id);
    let ls = b.ok(&["ls"]);
    assert!(ls.contains("error") && ls.contains("compose.yaml:"), "{ls}");
    assert_eq!(
        config_error_metric(&b),
        Some(1.0),
        "the error is a metric too"
    );
    let event = events.first(|e| e["type"] == "stack" && e["action"] == "error");
    assert!(
        event["attributes"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("compose.yaml:")),
        "{event}"
    );
    // ps still shows the stack (found through the daemon) and says why it does not converge.
    let ps = b.cmd(&["ps"]).current_dir(&dir).output().unwrap();
    assert!(ps.status.success(), "{}", text(&ps.stderr));
    assert!(
        text(&ps.stdout).contains("watched-a-1"),
        "{}",
        text(&ps.stdout)
    );
    assert!(
        text(&ps.stderr).contains("compose.yaml:"),
        "{}",
        text(&ps.stderr)
    );

    // 4. Deleted, then created again without d and with a changed a: d goes, a is new.
    std::fs::remove_file(&file).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        state(&b, "watched-a-1"),
        "running",
        "a vanished file stops nothing"
    );
    let mut fixed = stack("two", "");
    fixed = fixed.replace(
        "[\"sleep\", \"1000\"]\n    init: true\n  b:",
        "[\"sleep\", \"1001\"]\n    init: true\n  b:",
    );
    std::fs::write(&file, &fixed).unwrap();
    assert!(
        b.wait_for(Duration::from_secs(5), || snap(&b, "watched-a-1").id
            != a0.id),
        "a was not recreated after the file came back"
    );
    assert!(
        b.wait_for(Duration::from_secs(5), || state(&b, "watched-d-1")
            .is_empty())
    );
    assert!(
        b.wait_for(Duration::from_secs(5), || stack_entry(&b, "watched")
            ["Error"]
            .is_null())
    );
    assert_eq!(config_error_metric(&b), Some(0.0));
    assert_eq!(snap(&b, "watched-b-1").id, b1.id);

    ok_in(&b, &dir, &["down", "-v"]);
    assert!(
        ls_json(&b).as_array().unwrap().is_empty(),
        "down forgets the stack"
    );
}

#[test]
fn no_watch_opts_out_and_stopped_services_stay_stopped() {
    let b = Berth::new();
    let dir = stack_dir(&b, &stack("one", ""));
    let file = dir.join("compose.yaml");
    ok_in(&b, &dir, &["up", "-d", "--no-watch"]);
    assert_eq!(stack_entry(&b, "watched")["Watched"], false);
    let b0 = snap(&b, "watched-b-1");
    std::fs::write(&file, stack("two", "")).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        snap(&b, "watched-b-1").id,
        b0.id,
        "an unwatched stack ignores edits"
    );

    // Watched again; a service stopped by hand is left alone by edits until started.
    ok_in(&b, &dir, &["up", "-d"]);
    let b1 = snap(&b, "watched-b-1");
    assert_ne!(b1.id, b0.id);
    ok_in(&b, &dir, &["stop", "b"]);
    std::fs::write(&file, stack("three", "")).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        snap(&b, "watched-b-1").id,
        b1.id,
        "a stopped service is parked"
    );
    assert_eq!(state(&b, "watched-b-1"), "exited");
    ok_in(&b, &dir, &["start", "b"]);
    assert!(
        b.wait_for(Duration::from_secs(5), || env_of(&b, "watched-b-1")
            .contains(&"VALUE=three".to_string())
            && state(&b, "watched-b-1") == "running"),
        "start takes the service back and the pending edit applies"
    );
    ok_in(&b, &dir, &["down", "-v"]);
}

#[test]
fn stacks_survive_kill_9_of_the_daemon() {
    let b = Berth::new();
    let dir = stack_dir(&b, &stack("one", ""));
    let file = dir.join("compose.yaml");
    ok_in(&b, &dir, &["up", "-d"]);
    b.ok(&[
        "container",
        "exec",
        "watched-b-1",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let ids: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|s| snap(&b, &format!("watched-{s}-1")).id)
        .collect();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(b.daemon_pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    // The next command starts a daemon, which re-registers the stack: same containers, no
    // duplicates, still watched.
    assert!(
        b.wait_for(Duration::from_secs(5), || stack_entry(&b, "watched")
            ["Watched"]
            == true),
        "{}",
        stack_entry(&b, "watched")
    );
    let all = b.ok(&["container", "ls", "-a", "-q"]);
    assert_eq!(all.lines().count(), 3, "no duplicate container: {all}");
    for (s, id) in ["a", "b", "c"].iter().zip(&ids) {
        assert_eq!(&snap(&b, &format!("watched-{s}-1")).id, id);
    }

    // Reconciling resumes: a container removed behind its back comes back, and edits apply.
    b.ok(&["container", "rm", "-f", "watched-a-1"]);
    assert!(
        b.wait_for(Duration::from_secs(5), || state(&b, "watched-a-1")
            == "running"),
        "the removed container was not brought back"
    );
    std::fs::write(&file, stack("after-restart", "")).unwrap();
    assert!(
        b.wait_for(Duration::from_secs(5), || env_of(&b, "watched-b-1")
            .contains(&"VALUE=after-restart".to_string()))
    );
    assert_eq!(
        b.ok(&["container", "exec", "watched-b-1", "cat", "/data/f"])
            .trim(),
        "kept",
        "the volume's data survives"
    );
    ok_in(&b, &dir, &["down", "-v"]);
}

#[test]
fn a_changed_network_is_recreated_and_its_containers_rewired() {
    let b = Berth::new();
    let net = |subnet: &str| {
        format!(
            r#"
name: renet
services:
  api:
    image: bb:local
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
    init: true
    networks:
      back: {{aliases: [backend]}}
  probe:
    image: bb:local
    command: ["sleep", "1000"]
    init: true
    networks: [back]
networks:
  back:
    ipam:
      config: [{{subnet: {subnet}}}]
"#
        )
    };
    let dir = stack_dir(&b, &net("10.231.1.0/24"));
    ok_in(&b, &dir, &["up", "-d"]);
    let ip = |c: &str| {
        inspect(&b, c)["NetworkSettings"]["Networks"]["renet_back"]["IPAddress"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(ip("renet-api-1").starts_with("10.231.1."));
    let (api0, probe0) = (snap(&b, "renet-api-1"), snap(&b, "renet-probe-1"));
    std::fs::write(dir.join("compose.yaml"), net("10.231.2.0/24")).unwrap();
    assert!(
        b.wait_for(Duration::from_secs(5), || ip("renet-api-1")
            .starts_with("10.231.2.")),
        "the network was not recreated: {}",
        ip("renet-api-1")
    );
    assert!(b.wait_for(Duration::from_secs(5), || ip("renet-probe-1")
        .starts_with("10.231.2.")));
    let (api1, probe1) = (snap(&b, "renet-api-1"), snap(&b, "renet-probe-1"));
    assert_eq!(
        (api1.id, api1.started),
        (api0.id, api0.started),
        "api kept running"
    );
    assert_eq!(probe1.id, probe0.id);
    // Reconnected for real: the alias resolves through the new gateway and answers.
    let out = b.ok(&[
        "container",
        "exec",
        "renet-probe-1",
        "wget",
        "-qO-",
        "http://backend/",
    ]);
    assert!(out.contains("hello from berth"), "{out}");
    ok_in(&b, &dir, &["down"]);
}

#[test]
fn restarting_a_dependency_restarts_services_marked_restart_true() {
    let b = Berth::new();
    let dir = stack_dir(&b, &stack("one", ""));
    ok_in(&b, &dir, &["up", "-d", "--no-watch"]);
    let (a0, c0) = (snap(&b, "watched-a-1"), snap(&b, "watched-c-1"));
    // StartedAt has second resolution in places; make sure a restart shows.
    std::thread::sleep(Duration::from_millis(1100));
    let out = ok_in(&b, &dir, &["restart", "b"]);
    let c1 = snap(&b, "watched-c-1");
    assert_ne!(
        c1.started, c0.started,
        "c (restart: true on b) restarted: {out}"
    );
    assert_eq!(c1.id, c0.id);
    assert_eq!(snap(&b, "watched-a-1").started, a0.started, "a untouched");
    ok_in(&b, &dir, &["down", "-v"]);
}

#[test]
fn env_files_dotenv_and_included_files_are_watched() {
    let b = Berth::new();
    let dir = stack_dir(
        &b,
        r#"
name: parts
include: [extra.yaml]
services:
  app:
    image: bb:local
    command: ["sleep", "1000"]
    init: true
    env_file: [app.env]
    environment:
      FROM_DOTENV: ${SETTING:-unset}
"#,
    );
    std::fs::write(dir.join("app.env"), "FROM_ENV_FILE=one\n").unwrap();
    std::fs::write(
        dir.join("extra.yaml"),
        "services:\n  side:\n    image: bb:local\n    command: [\"sleep\", \"1000\"]\n    init: true\n    environment: {N: \"1\"}\n",
    )
    .unwrap();
    ok_in(&b, &dir, &["up", "-d"]);
    let has = |c: &str, kv: &str| env_of(&b, c).iter().any(|e| e == kv);
    assert!(has("parts-app-1", "FROM_ENV_FILE=one") && has("parts-app-1", "FROM_DOTENV=unset"));

    std::fs::write(dir.join("app.env"), "FROM_ENV_FILE=two\n").unwrap();
    assert!(b.wait_for(Duration::from_secs(5), || has(
        "parts-app-1",
        "FROM_ENV_FILE=two"
    )));
    // .env did not exist at `up`: creating it counts.
    std::fs::write(dir.join(".env"), "SETTING=dotenv\n").unwrap();
    assert!(b.wait_for(Duration::from_secs(5), || has(
        "parts-app-1",
        "FROM_DOTENV=dotenv"
    )));
    let side = snap(&b, "parts-side-1");
    std::fs::write(
        dir.join("extra.yaml"),
        "services:\n  side:\n    image: bb:local\n    command: [\"sleep\", \"1000\"]\n    init: true\n    environment: {N: \"2\"}\n",
    )
    .unwrap();
    assert!(b.wait_for(Duration::from_secs(5), || has("parts-side-1", "N=2")));
    assert_ne!(snap(&b, "parts-side-1").id, side.id);
    ok_in(&b, &dir, &["down"]);
}
