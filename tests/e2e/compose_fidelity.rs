//! Issue 17's last points, driven as a Compose user would and checked against what Docker
//! Compose v2.40.3 printed on the same stacks (quoted where it matters): one-off `run`
//! containers (a command that cannot start, `down --remove-orphans`), the notice when a
//! watched stack's container is removed by hand, and `up`'s `--attach`, `--timestamps`,
//! `-V` and `-y`.

use crate::stacks::{in_dir, ok_in, progress_in, stack_dir};
use crate::support::*;
use std::time::Duration;

const ONEOFF: &str = r#"
name: oneoff
services:
  app:
    image: bb:local
    command: ["sleep", "600"]
    init: true
"#;

/// The names of every container of this berth, stopped ones too.
fn all_names(b: &Berth) -> String {
    b.ok(&[
        "container",
        "ls",
        "-a",
        "--format",
        "{{.Names}} {{.Status}}",
    ])
}

#[test]
fn run_that_cannot_start_leaves_nothing_and_down_remove_orphans_takes_one_offs() {
    let b = Berth::new();
    let dir = stack_dir(&b, ONEOFF);
    // Compose: `docker compose run --rm app nosuchbin` prints the daemon's error
    // (`... exec: "nosuchbin": executable file not found in $PATH`), exits 1 and leaves no
    // container; without --rm the `Created` one stays.
    let out = in_dir(&b, &dir, &["run", "--rm", "-T", "app", "nosuchbin"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("nosuchbin"),
        "{}",
        text(&out.stderr)
    );
    assert!(!all_names(&b).contains("-run-"), "{}", all_names(&b));
    let out = in_dir(&b, &dir, &["run", "-d", "--rm", "app", "nosuchbin"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!all_names(&b).contains("-run-"), "{}", all_names(&b));
    let out = in_dir(&b, &dir, &["run", "-T", "app", "nosuchbin"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(all_names(&b).contains("Created"), "{}", all_names(&b));

    // `down` leaves one-offs (running, exited or created) alone; `down --remove-orphans`
    // stops and removes them all, with Compose's progress lines.
    ok_in(&b, &dir, &["up", "-d"]);
    let id = ok_in(&b, &dir, &["run", "-d", "app", "sleep", "600"]);
    let running = b.inspect(id.trim())["Name"].as_str().unwrap().to_string();
    let running = running.trim_start_matches('/');
    ok_in(&b, &dir, &["run", "-T", "app", "true"]);
    // Compose's `up` names the one-offs that ended (not the running one) as orphans:
    // `Found orphan containers ([p1-app-run-9066ef5ad263]) for this project. ...`.
    let warned = progress_in(&b, &dir, &["up", "-d"]);
    let line = warned
        .lines()
        .find(|l| l.contains("Found orphan containers ([oneoff-app-run-"))
        .unwrap_or_else(|| panic!("no orphan warning in {warned}"));
    assert!(!line.contains(running), "{line}");
    progress_in(&b, &dir, &["down"]);
    let left = all_names(&b);
    assert_eq!(left.matches("oneoff-app-run-").count(), 3, "{left}");
    assert!(!left.contains("oneoff-app-1"), "{left}");
    let progress = progress_in(&b, &dir, &["down", "--remove-orphans"]);
    for action in ["Stopping", "Stopped", "Removing", "Removed"] {
        assert!(
            progress.contains(&format!("Container {running}  {action}")),
            "{progress}"
        );
    }
    let left = all_names(&b);
    assert!(!left.contains("oneoff-"), "{left}");
}

#[test]
fn a_watched_replica_removed_by_hand_comes_back_and_says_so() {
    let b = Berth::new();
    let dir = stack_dir(&b, &ONEOFF.replace("name: oneoff", "name: kept"));
    ok_in(&b, &dir, &["up", "-d"]);
    let first = b.inspect("kept-app-1")["Id"].as_str().unwrap().to_string();
    let mut events = b
        .cmd(&["events", "--json"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // Docker's `rm -f` is final; here the stack brings the replica back, and says so.
    let out = b.run(&["container", "rm", "-f", "kept-app-1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "kept-app-1\n");
    let notice = text(&out.stderr);
    for words in [
        "container kept-app-1 belongs to service app of stack kept",
        "it will be recreated",
        "`berth -p kept stop app`",
        "`berth -p kept rm -s -f app`",
    ] {
        assert!(notice.contains(words), "{words:?} not in {notice}");
    }
    let back = b.wait_for(Duration::from_secs(20), || {
        let out = b.run(&["container", "inspect", "kept-app-1"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v[0]["State"]["Status"] == "running" && v[0]["Id"] != first.as_str()
    });
    assert!(back, "{}", all_names(&b));
    std::thread::sleep(Duration::from_millis(300));
    events.kill().unwrap();
    let out = events.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let recreate = lines
        .iter()
        .position(|e| e["type"] == "stack" && e["action"] == "recreate")
        .unwrap_or_else(|| panic!("no recreate event in {lines:?}"));
    let e = &lines[recreate];
    assert_eq!(e["attributes"]["name"], "kept", "{e}");
    assert_eq!(e["attributes"]["service"], "app", "{e}");
    assert_eq!(e["attributes"]["container"], "kept-app-1", "{e}");
    // The new replica's start follows the announcement.
    assert!(
        lines[recreate..]
            .iter()
            .any(|e| e["type"] == "container" && e["action"] == "start"),
        "{lines:?}"
    );

    // A parked service is left alone: no notice, and it stays removed.
    ok_in(&b, &dir, &["stop", "-t", "1", "app"]);
    let out = b.run(&["container", "rm", "kept-app-1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!all_names(&b).contains("kept-app-1"), "{}", all_names(&b));
    ok_in(&b, &dir, &["down"]);
}

const ATTACH: &str = r#"
name: att
services:
  a:
    image: bb:local
    command: ["sh", "-c", "echo from-a; sleep 1; echo a-done"]
  b:
    image: bb:local
    command: ["sh", "-c", "echo from-b; exec sleep 600"]
    init: true
"#;

#[test]
fn up_attach_and_timestamps_follow_only_the_named_services() {
    let b = Berth::new();
    let dir = stack_dir(&b, ATTACH);
    // Compose, `up --attach nosuch`: `cannot attach to services not included in up: nosuch`,
    // exit 1, nothing made; with -d: its own error.
    let out = in_dir(&b, &dir, &["up", "--attach", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot attach to services not included in up: nosuch"),
        "{}",
        text(&out.stderr)
    );
    let out = in_dir(&b, &dir, &["up", "-d", "--attach", "a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--detach cannot be combined with"),
        "{}",
        text(&out.stderr)
    );
    assert!(!all_names(&b).contains("att-"), "{}", all_names(&b));
    // Compose, `up --attach a --timestamps`: `Attaching to a-1`, `a-1  | 2026-...Z from-a`,
    // `a-1 exited with code 0`, and it returns while b-1 runs on.
    let started = std::time::Instant::now();
    let out = in_dir(&b, &dir, &["up", "--attach", "a", "--timestamps"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(30));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("Attaching to a-1\n"), "{stdout}");
    assert!(!stdout.contains("b-1"), "{stdout}");
    assert!(stdout.contains("a-1 exited with code 0"), "{stdout}");
    let stamped: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("a-1  | "))
        .collect();
    assert_eq!(stamped.len(), 2, "{stdout}");
    for (line, said) in stamped.iter().zip(["from-a", "a-done"]) {
        let (stamp, rest) = line.split_once(' ').unwrap();
        assert_eq!(rest, said, "{stdout}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok() && stamp.ends_with('Z'),
            "{stamp}"
        );
    }
    assert_eq!(b.status("att-b-1"), "running");
    ok_in(&b, &dir, &["down", "-t", "1"]);
}

const ANON: &str = r#"
name: anon
services:
  app:
    image: bb:local
    command: ["sleep", "600"]
    init: true
    volumes: [/data]
"#;

#[test]
fn up_renew_anon_volumes_recreates_with_fresh_anonymous_volumes() {
    let b = Berth::new();
    let dir = stack_dir(&b, ANON);
    ok_in(&b, &dir, &["up", "-d"]);
    ok_in(
        &b,
        &dir,
        &["exec", "-T", "app", "sh", "-c", "echo x > /data/f"],
    );
    let id = |b: &Berth| b.inspect("anon-app-1")["Id"].as_str().unwrap().to_string();
    let first = id(&b);
    // Without -V the data carries over (nothing changed: the container stays).
    let progress = progress_in(&b, &dir, &["up", "-d"]);
    assert!(
        progress.contains("Container anon-app-1  Running"),
        "{progress}"
    );
    // Compose, `up -d -V`: `Recreate`, `Recreated`, `Starting`, `Started`, and /data empty.
    let progress = progress_in(&b, &dir, &["up", "-d", "-V"]);
    for action in ["Recreate", "Recreated", "Starting", "Started"] {
        assert!(
            progress.contains(&format!("Container anon-app-1  {action}\n")),
            "{progress}"
        );
    }
    let second = id(&b);
    assert_ne!(first, second);
    let ls = ok_in(&b, &dir, &["exec", "-T", "app", "ls", "-A", "/data"]);
    assert_eq!(ls, "", "the renewed volume still holds {ls}");
    // -V is for that `up` only: the stack's loop does not recreate it again.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(id(&b), second);
    let out = in_dir(&b, &dir, &["up", "-d", "-V", "--no-recreate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--no-recreate and --renew-anon-volumes are incompatible"),
        "{}",
        text(&out.stderr)
    );
    ok_in(&b, &dir, &["down", "-v", "-t", "1"]);
    let vols = b.ok(&["volume", "ls", "-q"]);
    assert_eq!(vols, "", "{vols}");
}

const DEVELOP: &str = r#"
name: dev
services:
  app:
    image: bb:local
    command: ["sleep", "600"]
    init: true
    develop:
      watch:
        - action: sync
          path: ./src
          target: /app
          ignore: ["*.tmp", "cache/"]
        - action: sync+restart
          path: ./conf
          target: /etc/conf
  web:
    build: ./web
    command: ["sleep", "600"]
    init: true
    develop:
      watch:
        - action: rebuild
          path: ./web
"#;

/// A long-running `berth` command (`watch`, `up --watch`) whose stdout the test waits on.
struct Running {
    child: std::process::Child,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    fn start(b: &Berth, dir: &std::path::Path, args: &[&str]) -> Running {
        let mut child = b
            .cmd(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let s = seen.clone();
        std::thread::spawn(move || {
            for l in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok) {
                let mut s = s.lock().unwrap();
                s.push_str(&l);
                s.push('\n');
            }
        });
        Running { child, seen }
    }

    /// Waits until it has printed `what`.
    fn said(&self, b: &Berth, what: &str) {
        let ok = b.wait_for(Duration::from_secs(60), || {
            self.seen.lock().unwrap().contains(what)
        });
        assert!(ok, "{what:?} not in {}", self.seen());
    }

    fn seen(&self) -> String {
        self.seen.lock().unwrap().clone()
    }
}

#[test]
fn watch_syncs_restarts_and_rebuilds_as_develop_watch_says() {
    let b = Berth::new();
    // Compose without a develop section: `none of the selected services is configured for
    // watch, consider setting a 'develop' section`, exit 1.
    let plain = stack_dir(&b, ONEOFF);
    let out = in_dir(&b, &plain, &["watch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            "none of the selected services is configured for watch, consider setting a 'develop' section"
        ),
        "{}",
        text(&out.stderr)
    );
    let dir = stack_dir(&b, DEVELOP);
    for d in ["src/cache", "conf", "web"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(
        dir.join("web/Dockerfile"),
        "FROM bb:local\nCOPY version /version\n",
    )
    .unwrap();
    std::fs::write(dir.join("web/version"), "1\n").unwrap();

    let mut watch = Running::start(&b, &dir, &["watch"]);
    watch.said(&b, "Watch enabled\n");
    assert_eq!(b.status("dev-app-1"), "running");
    let cat = |ctr: &str, path: &str| {
        let out = b.run(&["container", "exec", ctr, "cat", path]);
        out.status.success().then(|| text(&out.stdout))
    };

    // sync: a new file (in a new directory too), with ignored ones left out.
    std::fs::create_dir_all(dir.join("src/lib")).unwrap();
    std::fs::write(dir.join("src/lib/a.txt"), "one\n").unwrap();
    std::fs::write(dir.join("src/x.tmp"), "no\n").unwrap();
    std::fs::write(dir.join("src/cache/c"), "no\n").unwrap();
    watch.said(&b, "Syncing service \"app\" after");
    let synced = b.wait_for(Duration::from_secs(10), || {
        cat("dev-app-1", "/app/lib/a.txt").as_deref() == Some("one\n")
    });
    assert!(synced, "{}", watch.seen());
    assert_eq!(cat("dev-app-1", "/app/x.tmp"), None);
    assert_eq!(cat("dev-app-1", "/app/cache/c"), None);
    // A deleted file goes from the container too.
    std::fs::remove_file(dir.join("src/lib/a.txt")).unwrap();
    let gone = b.wait_for(Duration::from_secs(10), || {
        cat("dev-app-1", "/app/lib/a.txt").is_none()
    });
    assert!(gone, "{}", watch.seen());

    // sync+restart: copied, then the container restarted (same container, new start).
    let started = b.inspect("dev-app-1")["State"]["StartedAt"].clone();
    std::fs::write(dir.join("conf/app.conf"), "x=1\n").unwrap();
    let restarted = b.wait_for(Duration::from_secs(20), || {
        b.inspect("dev-app-1")["State"]["StartedAt"] != started
            && b.status("dev-app-1") == "running"
    });
    assert!(restarted, "{}", watch.seen());
    assert_eq!(
        cat("dev-app-1", "/etc/conf/app.conf").as_deref(),
        Some("x=1\n")
    );

    // rebuild: the image is built again and the service recreated from it.
    assert_eq!(cat("dev-web-1", "/version").as_deref(), Some("1\n"));
    std::fs::write(dir.join("web/version"), "2\n").unwrap();
    watch.said(
        &b,
        "Rebuilding service(s) [\"web\"] after changes were detected...",
    );
    let rebuilt = b.wait_for(Duration::from_secs(60), || {
        cat("dev-web-1", "/version").as_deref() == Some("2\n")
    });
    assert!(rebuilt, "{}", watch.seen());

    watch.child.kill().unwrap();
    let _ = watch.child.wait();

    // `up --watch`: attached, with the same watch; Ctrl-C stops both.
    let mut up = Running::start(&b, &dir, &["up", "--watch", "app"]);
    up.said(&b, "Attaching to app-1\n");
    up.said(&b, "Watch enabled\n");
    std::fs::write(dir.join("src/b.txt"), "two\n").unwrap();
    let synced = b.wait_for(Duration::from_secs(10), || {
        cat("dev-app-1", "/app/b.txt").as_deref() == Some("two\n")
    });
    assert!(synced, "{}", up.seen());
    sh(&["kill", "-INT", &up.child.id().to_string()]);
    let stopped = b.wait_for(Duration::from_secs(20), || {
        up.child.try_wait().unwrap().is_some()
    });
    assert!(stopped, "up --watch did not end on SIGINT");
    assert_eq!(b.status("dev-app-1"), "exited");
    ok_in(&b, &dir, &["down", "-t", "1", "--rmi", "local"]);
}

const VOLUME: &str = r#"
name: vol
services:
  app:
    image: bb:local
    command: ["sleep", "600"]
    init: true
    volumes: [data:/data, shared:/shared]
volumes:
  data:
    labels: {x: "1"}
  shared:
    external: true
"#;

#[test]
fn up_asks_before_recreating_a_changed_volume_and_y_says_yes() {
    let b = Berth::new();
    let dir = stack_dir(&b, VOLUME);
    // An external volume is found by its key, as Compose finds it (not as `vol_shared`).
    b.ok(&["volume", "create", "shared"]);
    ok_in(&b, &dir, &["up", "-d"]);
    ok_in(&b, &dir, &["exec", "-T", "app", "touch", "/shared/seen"]);
    assert!(!b.ok(&["volume", "ls", "-q"]).contains("vol_shared"));
    ok_in(
        &b,
        &dir,
        &["exec", "-T", "app", "sh", "-c", "echo kept > /data/f"],
    );
    std::fs::write(
        dir.join("compose.yaml"),
        VOLUME.replace("x: \"1\"", "x: \"2\""),
    )
    .unwrap();
    // Compose: `Volume "vol_data" exists but doesn't match configuration in compose file.
    // Recreate (data will be lost)?`; no answer is a no: the volume and its data stay.
    let out = in_dir(&b, &dir, &["up", "-d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Volume \"vol_data\" exists but doesn't match configuration in compose file. Recreate (data will be lost)? "),
        "{}",
        text(&out.stderr)
    );
    let f = ok_in(&b, &dir, &["exec", "-T", "app", "cat", "/data/f"]);
    assert_eq!(f, "kept\n");
    // -y: the container goes, the volume is made again (with the new labels), then the
    // container, as Compose's progress shows.
    let progress = progress_in(&b, &dir, &["up", "-d", "-y"]);
    assert!(
        !progress.contains("Recreate (data will be lost)"),
        "{progress}"
    );
    for line in [
        "Container vol-app-1  Stopping",
        "Container vol-app-1  Removed",
        "Volume vol_data  Creating",
        "Volume vol_data  Created",
        "Container vol-app-1  Created",
        "Container vol-app-1  Started",
    ] {
        assert!(progress.contains(line), "{line:?} not in {progress}");
    }
    let out = in_dir(&b, &dir, &["exec", "-T", "app", "ls", "-A", "/data"]);
    assert_eq!(
        text(&out.stdout),
        "",
        "the recreated volume still holds data"
    );
    let labels = b.ok(&["volume", "inspect", "-f", "{{json .Labels}}", "vol_data"]);
    assert!(labels.contains("\"x\":\"2\""), "{labels}");
    // Converged: nothing more to ask.
    let out = in_dir(&b, &dir, &["create", "-y"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("Recreate"),
        "{}",
        text(&out.stderr)
    );
    ok_in(&b, &dir, &["down", "-v", "-t", "1"]);
    // `down -v` leaves an external volume alone.
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "shared\n");
    b.ok(&["volume", "rm", "shared"]);
}
