//! The stacks in examples/ load (`config -q`) and run as their READMEs say, with the busybox
//! image `bb:local` the quickstart imports. Each runs from a copy, so a bind mount's source
//! is never created inside the repository.

use crate::stacks::{in_dir, ok_in};
use crate::support::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// A copy of examples/NAME in the test's own directory.
fn example(b: &Berth, name: &str) -> PathBuf {
    let to = b.dir.path().join("examples");
    std::fs::create_dir_all(&to).unwrap();
    sh(&[
        "cp",
        "-r",
        examples_dir().join(name).to_str().unwrap(),
        to.to_str().unwrap(),
    ]);
    to.join(name)
}

fn exec(b: &Berth, c: &str, cmd: &str) -> std::process::Output {
    b.run(&["container", "exec", c, "sh", "-c", cmd])
}

#[test]
fn every_example_loads_and_has_a_readme() {
    let b = Berth::new();
    let mut seen = 0;
    for e in std::fs::read_dir(examples_dir()).unwrap().flatten() {
        let dir = e.path();
        if !dir.join("compose.yaml").exists() {
            continue;
        }
        seen += 1;
        let out = in_dir(&b, &dir, &["config", "-q"]);
        assert!(
            out.status.success(),
            "{}: {}",
            dir.display(),
            text(&out.stderr)
        );
        assert!(
            dir.join("README.md").exists(),
            "{} has no README",
            dir.display()
        );
    }
    assert!(seen >= 10, "only {seen} examples");
}

#[test]
fn examples_healthcheck_migration_profiles() {
    let b = Berth::new();
    let dir = example(&b, "healthcheck");
    ok_in(&b, &dir, &["up", "-d", "--wait"]);
    let ps = ok_in(&b, &dir, &["ps"]);
    assert!(ps.contains("(healthy)"), "{ps}");
    assert_eq!(b.status("healthcheck-app-1"), "running");
    ok_in(&b, &dir, &["down", "-t", "0"]);

    let dir = example(&b, "migration");
    ok_in(&b, &dir, &["up", "-d", "--wait"]);
    assert_eq!(b.inspect("migration-migrate-1")["State"]["ExitCode"], 0);
    assert!(ok_in(&b, &dir, &["logs", "app"]).contains("schema v2"));
    ok_in(&b, &dir, &["down", "-t", "0", "-v"]);
    assert!(!b.root.join("volumes/migration_appdata").exists());

    let dir = example(&b, "profiles");
    ok_in(&b, &dir, &["up", "-d", "--wait"]);
    assert_eq!(ok_in(&b, &dir, &["ps", "--services"]), "web\n");
    ok_in(&b, &dir, &["--profile", "debug", "up", "-d", "--wait"]);
    assert_eq!(ok_in(&b, &dir, &["ps", "--services"]), "debug\nweb\n");
    ok_in(&b, &dir, &["--profile", "debug", "down", "-t", "0"]);
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
}

#[test]
fn examples_replicas_internal_network_ports() {
    let b = Berth::new();
    let dir = example(&b, "replicas");
    ok_in(&b, &dir, &["up", "-d", "--wait"]);
    let answer = text(&exec(&b, "replicas-client-1", "nslookup echo").stdout);
    // One "Name:"/"Address:" pair per replica after the server's lines.
    assert_eq!(answer.matches("Name:").count(), 3, "{answer}");
    // The answers rotate: the first address differs from query to query.
    let mut firsts = HashSet::new();
    for _ in 0..6 {
        let answer = text(&exec(&b, "replicas-client-1", "nslookup echo").stdout);
        let after = answer.split("Name:").nth(1).unwrap_or("").to_string();
        firsts.insert(after.lines().nth(1).unwrap_or("").to_string());
    }
    assert!(
        firsts.len() >= 2,
        "round robin over the replicas: {firsts:?}"
    );
    let hello = exec(&b, "replicas-client-1", "wget -qO- http://echo/");
    assert!(text(&hello.stdout).len() == 13, "a replica's hostname");
    ok_in(&b, &dir, &["down", "-t", "0"]);

    let dir = example(&b, "internal-network");
    ok_in(&b, &dir, &["up", "-d", "--wait"]);
    // (Debian's busybox-static wget crashes on -T: `timeout` bounds it instead.)
    let api = exec(&b, "internal-api-1", "timeout 3 wget -qO- http://db:5432/");
    assert!(api.status.success(), "{}", text(&api.stderr));
    assert!(
        !exec(&b, "internal-web-1", "timeout 2 wget -qO- http://db:5432/")
            .status
            .success()
    );
    assert!(b.wait_for(Duration::from_secs(5), || text(
        &b.host(&["busybox", "wget", "-qO-", "http://127.0.0.1:8091/"])
            .stdout
    )
    .contains("hello from berth")));
    ok_in(&b, &dir, &["down", "-t", "0"]);

    let dir = example(&b, "ports");
    ok_in(&b, &dir, &["up", "-d", "--wait"]);
    for port in ["8181", "8182", "8183", "8190"] {
        assert!(
            b.wait_for(Duration::from_secs(5), || text(
                &b.host(&[
                    "busybox",
                    "wget",
                    "-qO-",
                    &format!("http://127.0.0.1:{port}/")
                ])
                .stdout
            )
            .contains("hello from berth")),
            "port {port}"
        );
    }
    let picked = ok_in(&b, &dir, &["port", "web", "80"]);
    assert!(picked.starts_with("0.0.0.0:"), "{picked}");
    ok_in(&b, &dir, &["down", "-t", "0"]);
}

#[test]
fn examples_volumes_resources_restart() {
    let b = Berth::new();
    let dir = example(&b, "volumes");
    ok_in(&b, &dir, &["up", "-d", "--wait"]);
    assert_eq!(
        text(&exec(&b, "volumes-app-1", "cat /etc/app/app.conf").stdout),
        "level=info\n"
    );
    assert!(text(&exec(&b, "volumes-app-1", "df -k /run/app").stdout).contains(" 8192 "));
    assert!(b.wait_for(Duration::from_secs(5), || exec(
        &b,
        "volumes-backup-1",
        "test -s /data/starts && test -s /cache/now"
    )
    .status
    .success()));
    assert!(!exec(&b, "volumes-backup-1", "touch /data/x")
        .status
        .success());
    assert!(!exec(&b, "volumes-app-1", "test -e /var/www/index.html")
        .status
        .success());
    ok_in(&b, &dir, &["up", "-d", "--force-recreate", "app"]);
    assert!(b.wait_for(Duration::from_secs(5), || text(
        &exec(&b, "volumes-app-1", "cat /data/starts").stdout
    )
    .lines()
    .count()
        == 2));
    ok_in(&b, &dir, &["down", "-t", "0", "-v"]);
    let left: Vec<_> = std::fs::read_dir(b.root.join("volumes"))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "down -v leaves no volume: {left:?}");

    let dir = example(&b, "resources");
    ok_in(&b, &dir, &["up", "-d", "--wait"]);
    let limited = b.inspect("resources-limited-1");
    assert_eq!(limited["HostConfig"]["Memory"], 64 << 20);
    let legacy = exec(&b, "resources-legacy-1", "ulimit -n; df -k /dev/shm");
    let legacy = text(&legacy.stdout);
    assert!(
        legacy.starts_with("1024\n") && legacy.contains(" 16384 "),
        "{legacy}"
    );
    ok_in(&b, &dir, &["down", "-t", "0"]);

    let dir = example(&b, "restart");
    ok_in(&b, &dir, &["up", "-d"]);
    let restarts = |c: &str| b.inspect(c)["RestartCount"].as_u64().unwrap_or(0);
    assert!(
        b.wait_for(Duration::from_secs(20), || b.status("restart-flaky-1")
            == "exited"
            && restarts("restart-flaky-1") == 3),
        "flaky: {}",
        b.inspect("restart-flaky-1")
    );
    assert!(restarts("restart-always-1") >= 1);
    assert_eq!(restarts("restart-once-1"), 0);
    ok_in(&b, &dir, &["down", "-t", "0"]);
}

#[test]
fn example_build_serves_its_multi_stage_app() {
    let b = Berth::new();
    let dir = example(&b, "build");
    let page = |path: &str| {
        let url = format!("http://127.0.0.1:8088/{path}");
        text(&b.host(&["busybox", "wget", "-qO-", &url]).stdout)
    };
    let err = text(&in_dir(&b, &dir, &["up", "-d", "--wait"]).stderr);
    assert!(
        err.contains("naming to docker.io/library/build-web:latest done"),
        "{err}"
    );
    // --wait waited for the image's own HEALTHCHECK.
    assert!(ok_in(&b, &dir, &["ps"]).contains("(healthy)"));
    let index = page("");
    assert!(
        index.contains("<h1>built by berth</h1>")
            && index.contains("<p>Hello from a multi-stage build.</p>"),
        "{index}"
    );
    assert!(page("about.html").contains("Only the rendered pages"));
    assert_eq!(
        page("wip.draft.html"),
        "",
        ".dockerignore kept the draft out"
    );
    // The final stage holds the rendered site only, owned by and served as `web`.
    let files = exec(
        &b,
        "build-web-1",
        "id -un; ls /srv/www; stat -c %U /srv/www/index.html; ls /src 2>&1",
    );
    assert_eq!(
        text(&files.stdout),
        "web\nabout.html\nhealthz\nindex.html\nweb\nls: /src: No such file or directory\n"
    );

    // A saved page: the watching daemon rebuilds and recreates web.
    let source = dir.join("app/pages/index.txt");
    let mut text_now = std::fs::read_to_string(&source).unwrap();
    text_now.push_str("Edited.\n");
    std::fs::write(&source, text_now).unwrap();
    assert!(
        b.wait_for(Duration::from_secs(10), || page("")
            .contains("<p>Edited.</p>")),
        "not rebuilt: {}",
        page("")
    );
    ok_in(&b, &dir, &["down", "-t", "0", "--rmi", "local"]);
    assert!(!b.run(&["image", "inspect", "build-web"]).status.success());
}
