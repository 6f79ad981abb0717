//! The stack of issue 13 on a real Debian userland: postgres 15 as `user: postgres` on a
//! named volume, redis with a memory limit, a Flask app reaching both by name, nginx
//! proxying to it, `depends_on: service_healthy` everywhere. It must come up with no manual
//! fix, keep answering (names included) while the daemon is killed, read its limits under
//! /sys/fs/cgroup, shut postgres down cleanly and keep its data across down/up.
//!
//! The image (a ~500 MB tar) takes ~35 s to build from the Debian mirror, so the test is opt-in:
//! `scripts/real-stack` builds it (scripts/real-stack-image) and runs this test with
//! BERTH_REAL_STACK_TAR pointing at it.

use crate::stacks::{ok_in, progress_in};
use crate::support::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn get(b: &Berth) -> Option<String> {
    let out = b.host(&["curl", "-sS", "--max-time", "5", "http://127.0.0.1:8080/"]);
    out.status.success().then(|| text(&out.stdout))
}

/// `hits=N rows=M` -> (N, M).
fn counts(page: &str) -> (u64, u64) {
    let field = |k: &str| {
        page.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {page:?}"))
    };
    (field("hits="), field("rows="))
}

#[test]
#[ignore = "needs a Debian rootfs tar in BERTH_REAL_STACK_TAR; run scripts/real-stack"]
fn real_debian_stack_comes_up_and_survives_the_daemon() {
    let tar = std::env::var("BERTH_REAL_STACK_TAR")
        .expect("BERTH_REAL_STACK_TAR: a tar from scripts/real-stack-image");
    let b = Berth::new();
    b.ok(&["image", "import", &tar, "real-debian:12"]);
    let dir = b.dir.path().join("real");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/real_stack");
    for f in ["compose.yaml", "app/app.py", "conf/nginx.conf"] {
        let to = dir.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(f), &to).unwrap();
    }

    // Up with no manual fix: postgres creates its data directory in the fresh volume.
    let t = Instant::now();
    progress_in(&b, &dir, &["up", "-d", "--wait"]);
    eprintln!("up --wait: {:?}", t.elapsed());
    let first = get(&b).expect("nginx answers");
    assert_eq!(counts(&first), (1, 1), "{first}");
    let t = Instant::now();
    for _ in 0..20 {
        get(&b).unwrap();
    }
    eprintln!(
        "request through nginx, app, redis, postgres: {:?}",
        t.elapsed() / 20
    );

    // The limits, as the containers read them.
    let limit = b.ok(&[
        "container", "exec", "real-redis-1", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ]);
    assert_eq!(limit.trim(), "67108864");
    let owner = b.ok(&[
        "container",
        "exec",
        "real-db-1",
        "stat",
        "-c",
        "%U %a",
        "/var/lib/postgresql",
    ]);
    assert_eq!(owner.trim(), "postgres 755");

    // The daemon is killed: every request still resolves db (a new connection each time).
    b.kill_daemon();
    for _ in 0..10 {
        let page = get(&b).expect("answers while the daemon is down");
        assert!(page.starts_with("hits="), "{page}");
    }
    // The next daemon adopts everything: health checks run, `up --wait` returns.
    let t = Instant::now();
    progress_in(&b, &dir, &["up", "-d", "--wait"]);
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let (_, rows) = counts(&get(&b).unwrap());

    // postgres shuts down cleanly (SIGINT, fast shutdown), and its data survives down/up.
    ok_in(&b, &dir, &["stop", "db"]);
    // postgres logs to stderr, which `logs` replays on stderr.
    let logs = text(&b.run(&["container", "logs", "real-db-1"]).stderr);
    assert!(logs.contains("database system is shut down"), "{logs}");
    ok_in(&b, &dir, &["down"]);
    progress_in(&b, &dir, &["up", "-d", "--wait"]);
    let (_, after) = counts(&get(&b).unwrap());
    assert_eq!(after, rows + 1, "data kept across down/up");
    ok_in(&b, &dir, &["down", "-v", "-t", "5"]);
}
