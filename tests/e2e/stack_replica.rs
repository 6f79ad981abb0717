//! Compose's `scale`, `cp`, `export`, `stats`, `wait` and `attach` on a stack's services.
//! Expected outputs from Docker Compose v2.40.3 on the same stack, side by side (container
//! ids and sizes aside).

use crate::stacks::{in_dir, ok_in, progress_in, stack_dir};
use crate::support::*;
use std::io::Write;
use std::process::Stdio;

const STACK: &str = r#"
name: ref
services:
  web:
    image: bb:local
    command: ["sh", "-c", "echo hello > /tmp/f; while true; do read -t 1 x && echo got $$x; done"]
    stdin_open: true
    init: true
  db:
    image: bb:local
    command: ["sleep", "1000"]
    init: true
  job:
    image: bb:local
    command: ["sh", "-c", "sleep 2; exit 3"]
"#;

/// The failed command's stderr (asserting exit 1).
fn fails_in(b: &Berth, dir: &std::path::Path, args: &[&str]) -> String {
    let out = in_dir(b, dir, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "berth {args:?}: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

fn names(b: &Berth, dir: &std::path::Path) -> String {
    ok_in(b, dir, &["ps", "--format", "{{.Name}} {{.State}}"])
}

#[test]
fn scale_cp_export_stats_wait_attach_as_compose() {
    let b = Berth::new();
    let dir = stack_dir(&b, STACK);
    ok_in(&b, &dir, &["up", "-d"]);

    // scale: up and down, --no-deps; what it sets stays (the stack's loop keeps it).
    let p = progress_in(&b, &dir, &["scale", "web=3"]);
    assert!(p.starts_with(" Container ref-web-1  Running\n"), "{p}");
    assert!(p.contains(" Container ref-web-3  Started\n"), "{p}");
    ok_in(&b, &dir, &["scale", "web=2", "db=2", "--no-deps"]);
    assert!(
        b.wait_for(std::time::Duration::from_secs(10), || names(&b, &dir)
            .starts_with("ref-db-1 running\nref-db-2 running\n")),
        "{}",
        names(&b, &dir)
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    let ps = names(&b, &dir);
    assert!(
        ps.starts_with("ref-db-1 running\nref-db-2 running\n")
            && ps.ends_with("ref-web-1 running\nref-web-2 running\n")
            && !ps.contains("web-3"),
        "{ps}"
    );
    assert_eq!(
        fails_in(&b, &dir, &["scale", "nosuch=2"]),
        "berth: no such service: nosuch\n"
    );
    assert_eq!(
        fails_in(&b, &dir, &["scale", "web"]),
        "berth: invalid scale specifier: web\n"
    );
    assert_eq!(
        fails_in(&b, &dir, &["scale", "web=x"]),
        "berth: invalid scale specifier: can't parse replica value as int: web=x\n"
    );

    // cp: out of the newest replica, into every one.
    let out = in_dir(&b, &dir, &["cp", "web:/tmp/f", "./f1"]);
    assert_eq!(
        text(&out.stderr),
        " ref-web-2 copy ref-web-2:/tmp/f to ./f1 Copying\n ref-web-2 copy ref-web-2:/tmp/f to ./f1 Copied\n"
    );
    assert_eq!(std::fs::read_to_string(dir.join("f1")).unwrap(), "hello\n");
    std::fs::write(dir.join("loc.txt"), "local\n").unwrap();
    let p = progress_in(&b, &dir, &["cp", "loc.txt", "web:/tmp/loc.txt"]);
    assert!(
        p.contains(" ref-web-1 copy loc.txt to ref-web-1:/tmp/loc.txt Copied\n")
            && p.contains(" ref-web-2 copy loc.txt to ref-web-2:/tmp/loc.txt Copied\n"),
        "{p}"
    );
    for i in ["1", "2"] {
        assert_eq!(
            ok_in(
                &b,
                &dir,
                &["exec", "--index", i, "web", "cat", "/tmp/loc.txt"]
            ),
            "local\n"
        );
    }
    let p = progress_in(
        &b,
        &dir,
        &["cp", "--index", "1", "web:/tmp/loc.txt", "./back"],
    );
    assert!(
        p.starts_with(" ref-web-1 copy ref-web-1:/tmp/loc.txt to ./back"),
        "{p}"
    );
    assert_eq!(
        fails_in(&b, &dir, &["cp", "nosuch:/x", "."]),
        "berth: no container found for service \"nosuch\"\n"
    );
    assert!(
        fails_in(&b, &dir, &["cp", "--index", "9", "web:/tmp/f", "."])
            .ends_with("berth: service \"web\" is not running container #9\n")
    );

    // export: the first replica, or --index.
    let out = in_dir(
        &b,
        &dir,
        &["export", "--index", "2", "web", "-o", "web2.tar"],
    );
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr),
        " ref-web-2 export ref-web-2 to web2.tar Exporting\n"
    );
    let list = b.host(&["tar", "tf", dir.join("web2.tar").to_str().unwrap()]);
    assert!(text(&list.stdout).lines().any(|l| l == "tmp/loc.txt"));
    assert_eq!(
        fails_in(&b, &dir, &["export", "nosuch", "-o", "x.tar"]),
        "berth: service \"nosuch\" is not running\n"
    );
    assert_eq!(
        fails_in(&b, &dir, &["export", "--index", "5", "web", "-o", "x.tar"]),
        "berth: service \"web\" is not running container #5\n"
    );

    // stats: the project's containers (a service's), Docker's table. The job has exited by
    // now (it sleeps 2 s), which the steps above need not have taken.
    let job_state = || {
        ok_in(
            &b,
            &dir,
            &["ps", "-a", "--format", "{{.Name}} {{.State}}", "job"],
        )
    };
    assert!(
        b.wait_for(std::time::Duration::from_secs(10), || job_state()
            == "ref-job-1 exited\n"),
        "{}",
        job_state()
    );
    let rows = ok_in(&b, &dir, &["stats", "--no-stream", "--format", "{{.Name}}"]);
    let mut rows: Vec<&str> = rows.lines().collect();
    rows.sort();
    assert_eq!(rows, ["ref-db-1", "ref-db-2", "ref-web-1", "ref-web-2"]);
    let t = ok_in(
        &b,
        &dir,
        &[
            "stats",
            "--no-stream",
            "web",
            "--format",
            "table {{.Name}}\t{{.PIDs}}",
        ],
    );
    assert!(t.starts_with("NAME        PIDS\nref-web-"), "{t}");
    assert_eq!(t.lines().count(), 3, "{t}");
    assert_eq!(
        ok_in(&b, &dir, &["stats", "--no-stream", "nosuch"]),
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS\n"
    );

    // wait: the exit of every running container of the services, and its code.
    ok_in(&b, &dir, &["restart", "job"]);
    let job = b.ok(&["container", "inspect", "-f", "{{.Id}}", "ref-job-1"]);
    let out = in_dir(&b, &dir, &["wait", "job"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout),
        format!("container \"{}\" exited with status code 3\n", job.trim())
    );
    let out = in_dir(&b, &dir, &["wait", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "berth: no containers for project \"ref\"\n"
    );

    // attach: input to the service's container, its output back.
    assert_eq!(
        fails_in(&b, &dir, &["attach", "--index", "5", "web"]),
        "berth: service \"web\" is not running container #5\n"
    );
    assert_eq!(
        fails_in(&b, &dir, &["attach", "nosuch"]),
        "berth: service \"nosuch\" is not running\n"
    );
    let mut child = b
        .cmd(&["attach", "--sig-proxy=false", "web"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    stdin.write_all(b"hello-attach\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2000));
    // Without --sig-proxy the signal ends the attach only: the container runs on.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(text(&out.stdout), "got hello-attach\n");
    assert!(names(&b, &dir).contains("ref-web-1 running"));

    // wait --down-project: once db exits, the project goes.
    let waiter = b
        .cmd(&["wait", "--down-project", "db"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    ok_in(&b, &dir, &["kill", "-s", "KILL", "db"]);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(137));
    assert_eq!(
        text(&out.stdout)
            .lines()
            .filter(|l| l.ends_with("exited with status code 137"))
            .count(),
        2
    );
    assert!(
        text(&out.stderr).contains(" Network ref_default  Removed\n"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(ok_in(&b, &dir, &["ps", "-a", "-q"]), "");
}

/// `logs -f` follows what starts after it began: a replica `scale` adds, a container
/// `up --force-recreate` makes anew, one `restart` starts again (from where it left off);
/// it ends once nothing runs (Compose v2.40 printed the same lines).
#[test]
fn logs_follow_takes_in_containers_started_later() {
    let b = Berth::new();
    let dir = stack_dir(
        &b,
        r#"
name: lf
services:
  web:
    image: bb:local
    command: ["sh", "-c", "echo started $$HOSTNAME; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
  db:
    image: bb:local
    command: ["sh", "-c", "echo db up; exec sleep 1000"]
    init: true
"#,
    );
    ok_in(&b, &dir, &["up", "-d"]);
    let mut follower = b
        .cmd(&["logs", "-f"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                lines.lock().unwrap().push(l);
            }
        })
    };
    let count = |prefix: &str| {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    };
    let secs = std::time::Duration::from_secs;
    assert!(b.wait_for(secs(10), || count("db-1") == 1 && count("web-1") == 1));
    ok_in(&b, &dir, &["scale", "web=2"]);
    assert!(
        b.wait_for(secs(10), || count("web-2  | started ") == 1),
        "{:?}",
        lines.lock().unwrap()
    );
    ok_in(&b, &dir, &["restart", "db"]);
    assert!(
        b.wait_for(secs(10), || count("db-1") == 2),
        "{:?}",
        lines.lock().unwrap()
    );
    ok_in(&b, &dir, &["up", "-d", "--force-recreate", "db"]);
    assert!(
        b.wait_for(secs(10), || count("db-1") == 3),
        "{:?}",
        lines.lock().unwrap()
    );
    // Nothing logged twice: the restarted container resumes where it ended.
    assert_eq!(count("web-1  | started "), 1);
    ok_in(&b, &dir, &["stop", "-t", "1"]);
    assert!(b.wait_for(secs(15), || follower.try_wait().unwrap().is_some()));
    reader.join().unwrap();
    // Each stop of a followed container is told, in Compose's words.
    let lines = lines.lock().unwrap();
    for l in [
        "db-1 exited with code 143",
        "web-1 exited with code 0",
        "web-2 exited with code 0",
    ] {
        assert!(lines.iter().any(|x| x == l), "{l} missing in {lines:?}");
    }
}
