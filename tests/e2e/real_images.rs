//! What real images (postgres, nginx, Python apps) need of berth (issue 13): a fresh volume
//! owned as the image directory it is mounted over, the container's own cgroup visible
//! read-only under /sys/fs/cgroup, Docker's /dev, health checks that outlive a daemon
//! restart, one-off runs that leave the running stack alone, name resolution while the
//! daemon is down, and two daemons on one host.
//! Long: one scenario per real-image need, sharing fixtures.

use crate::stacks::{ok_in, stack_dir};
use crate::support::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// postgres runs as `user: postgres` over a named volume at /var/lib/postgresql, a directory
/// its image owns: initdb creates `data` in it. A fresh volume takes the owner and mode of
/// the image directory it is mounted over, also when that directory is empty (Docker's
/// copy-up), so a non-root service can write into it.
#[test]
fn fresh_volume_takes_the_owner_and_mode_of_the_image_directory() {
    let b = Berth::new();
    let tar = b.busybox_tar_with(
        "pgish.tar",
        &[
            ("var/lib/pg", 1000, 1000, 0o700),
            ("var/lib/pg/seed", 1000, 1000, 0o755),
            ("srv/empty", 1000, 10, 0o2770),
        ],
    );
    b.ok(&["image", "import", tar.to_str().unwrap(), "pgish:1"]);
    let stack = r#"
name: own
services:
  db:
    image: pgish:1
    user: web
    init: true
    command: ["sh", "-c", "mkdir /var/lib/pg/data && touch /srv/empty/x && exec sleep 100"]
    volumes: [pgdata:/var/lib/pg, empty:/srv/empty]
volumes:
  pgdata:
  empty:
"#;
    let dir = stack_dir(&b, stack);
    ok_in(&b, &dir, &["up", "-d"]);
    let stat = |path: &str| {
        b.ok(&[
            "container",
            "exec",
            "own-db-1",
            "stat",
            "-c",
            "%u:%g %a",
            path,
        ])
    };
    assert!(
        b.wait_for(Duration::from_secs(5), || {
            b.run(&[
                "container",
                "exec",
                "own-db-1",
                "test",
                "-f",
                "/srv/empty/x",
            ])
            .status
            .success()
        }),
        "the non-root service could not write into its volumes: {}",
        b.ok(&["container", "logs", "own-db-1"])
    );
    assert_eq!(stat("/var/lib/pg"), "1000:1000 700\n");
    assert_eq!(stat("/srv/empty"), "1000:10 2770\n");
    assert_eq!(stat("/var/lib/pg/data"), "1000:1000 755\n");
    assert_eq!(stat("/var/lib/pg/seed"), "1000:1000 755\n");
    assert_eq!(b.status("own-db-1"), "running");
    // On the host too: the volume's directory itself, not only what the container sees.
    let md = std::fs::metadata(b.root.join("volumes/own_pgdata/_data")).unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (1000, 1000, 0o700)
    );
    ok_in(&b, &dir, &["down", "-v", "-t", "0"]);
}

/// A default container's /dev lists as a Docker (runc) container's: the same nodes and
/// links; /dev/core only when the kernel has a /proc/kcore, as runc and crun make it, and
/// then it reads nothing (/proc/kcore is masked).
#[test]
fn dev_lists_as_in_docker_and_core_reads_nothing() {
    let b = Berth::new();
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "bb:local",
        "sh",
        "-c",
        "ls -A /dev | sort | tr '\\n' ' '; echo; readlink /dev/core || echo none; cat /dev/core 2>/dev/null | wc -c",
    ]);
    let mut lines = out.lines();
    let mut want = vec![
        "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ];
    let kcore = std::path::Path::new("/proc/kcore").exists();
    if kcore {
        want.push("core");
    }
    want.sort();
    assert_eq!(lines.next().unwrap().trim_end(), want.join(" "), "{out}");
    if kcore {
        assert_eq!(lines.next(), Some("/proc/kcore"), "{out}");
    } else {
        // runc links it only when the kernel has /proc/kcore (CONFIG_PROC_KCORE): no
        // dangling link, as on this machine's kernel.
        assert_eq!(lines.next(), Some("none"), "{out}");
    }
    assert_eq!(lines.next().map(str::trim), Some("0"), "{out}");
}

const HEALTHY_STACK: &str = r#"
name: hc
services:
  db:
    image: bb:local
    init: true
    command: [sleep, "1000"]
    volumes: ["./ctl:/ctl"]
    healthcheck:
      test: ["CMD", "test", "-f", "/ctl/ready"]
      interval: 300ms
      timeout: 5s
      retries: 2
      start_period: 60s
  web:
    image: bb:local
    init: true
    command: [sleep, "1000"]
    depends_on:
      db: {condition: service_healthy}
"#;

fn health(b: &Berth, c: &str) -> String {
    b.inspect(c)["State"]["Health"]["Status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Health checks outlive the daemon: a container re-adopted after `kill -9` (or `daemon
/// stop`) is probed again at once, so a service left "starting" becomes healthy, `up
/// --wait` returns and its dependents start; a stopped container reads unhealthy, as
/// Docker's.
#[test]
fn health_checks_resume_after_a_daemon_restart() {
    let b = Berth::new();
    let dir = stack_dir(&b, HEALTHY_STACK);
    let ctl = dir.join("ctl");
    std::fs::create_dir_all(&ctl).unwrap();
    // db alone first: its dependent would wait for it inside `up`.
    ok_in(&b, &dir, &["up", "-d", "db"]);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(health(&b, "hc-db-1"), "starting");

    // The daemon dies while db is starting; db becomes ready while no daemon probes.
    b.kill_daemon();
    std::fs::write(ctl.join("ready"), "").unwrap();
    // The next command starts a daemon, which re-adopts db and probes it at once.
    let t = std::time::Instant::now();
    let mut wait = b.cmd(&["up", "-d", "--wait"]);
    let out = wait.current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let waited = t.elapsed();
    assert!(
        waited < Duration::from_secs(10),
        "up --wait took {waited:?}"
    );
    assert_eq!(health(&b, "hc-db-1"), "healthy");
    assert_eq!(b.status("hc-web-1"), "running", "the dependent started");

    // After `daemon stop` too: the new daemon's probes see db fail (failures count once it
    // was healthy, start period or not).
    b.ok(&["daemon", "stop"]);
    std::fs::remove_file(ctl.join("ready")).unwrap();
    assert_eq!(b.status("hc-db-1"), "running");
    assert!(
        b.wait_for(Duration::from_secs(10), || health(&b, "hc-db-1")
            == "unhealthy"),
        "{}",
        b.inspect("hc-db-1")["State"]
    );
    std::fs::write(ctl.join("ready"), "").unwrap();
    assert!(b.wait_for(Duration::from_secs(10), || health(&b, "hc-db-1")
        == "healthy"));

    // Stopped: unhealthy, never the last run's "healthy"; the probes' log stays. Across a
    // daemon restart too, and a start begins at "starting" again.
    ok_in(&b, &dir, &["stop", "-t", "1", "db"]);
    let state = b.inspect("hc-db-1")["State"].clone();
    assert_eq!(state["Health"]["Status"], "unhealthy", "{state}");
    assert!(!state["Health"]["Log"].as_array().unwrap().is_empty());
    b.kill_daemon();
    assert_eq!(health(&b, "hc-db-1"), "unhealthy");
    ok_in(&b, &dir, &["start", "db"]);
    assert!(b.wait_for(Duration::from_secs(10), || health(&b, "hc-db-1")
        == "healthy"));

    // Paused, the probes wait; unpaused, they go on (a failure shows again).
    ok_in(&b, &dir, &["pause", "db"]);
    std::thread::sleep(Duration::from_millis(800));
    ok_in(&b, &dir, &["unpause", "db"]);
    std::fs::remove_file(ctl.join("ready")).unwrap();
    assert!(b.wait_for(Duration::from_secs(10), || health(&b, "hc-db-1")
        == "unhealthy"));
    ok_in(&b, &dir, &["down", "-t", "0"]);
}

/// The container's own cgroup under /sys/fs/cgroup, as Docker shows it: the limits of
/// --memory, --cpus and --pids-limit read back as set and cannot be written (read-only),
/// /proc/self/cgroup and the mounts say "/" (a cgroup namespace rooted at the container's
/// cgroup), nothing of the host's tree shows; --privileged may write.
#[test]
fn own_cgroup_is_visible_read_only_under_sys_fs_cgroup() {
    use berth_engine::cgroups::Layout;
    let b = Berth::new();
    let layout = berth_engine::cgroups::detect().unwrap();
    // (file, expected) for each limit, where this host keeps it.
    let (memory, cpu, pids) = match layout {
        Layout::V2 => (
            ("/sys/fs/cgroup/memory.max", "67108864"),
            ("/sys/fs/cgroup/cpu.max", "50000 100000"),
            ("/sys/fs/cgroup/pids.max", "50"),
        ),
        Layout::V1 | Layout::Hybrid => (
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "67108864"),
            ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "50000"),
            ("/sys/fs/cgroup/pids/pids.max", "50"),
        ),
    };
    let script = format!(
        "for f in {m} {c} {p}; do cat $f; done; \
         echo 33554432 > {m} && echo wrote-memory; \
         echo max > {p} && echo wrote-pids; \
         [ -n \"$PRIV\" ] || {{ mkdir /sys/fs/cgroup/x 2>/dev/null && echo made-dir; }}; \
         grep -c ' /sys/fs/cgroup' /proc/self/mountinfo; \
         grep -v ':/$' /proc/self/cgroup | grep -E 'memory|pids|^0::' || echo all-rooted; \
         cat $(dirname {p})/cgroup.procs | wc -l",
        m = memory.0,
        c = cpu.0,
        p = pids.0,
    );
    let run = |extra: &[&str]| {
        let mut args = vec![
            "container",
            "run",
            "--rm",
            "--memory",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["bb:local", "sh", "-c", &script]);
        let out = b.run(&args);
        (text(&out.stdout), text(&out.stderr))
    };
    let (out, err) = run(&[]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..3],
        &[memory.1, cpu.1, pids.1],
        "limits read back: {out}\n{err}"
    );
    assert!(
        !out.contains("wrote-") && !out.contains("made-dir"),
        "{out}"
    );
    assert!(err.contains("Read-only file system"), "{err}");
    let mounts: usize = lines[3].parse().unwrap();
    match layout {
        Layout::V2 => assert_eq!(mounts, 1, "{out}"),
        // A tmpfs, and the memory, cpu(acct), cpuset, pids, freezer, devices hierarchies
        // (+ unified on hybrid) that the container has a directory in.
        _ => assert!(mounts >= 6, "{out}"),
    }
    assert_eq!(lines[4], "all-rooted", "{out}");
    // The container's own processes: sh, and the cat of the pipeline at least.
    assert!(lines[5].parse::<u32>().unwrap() >= 1, "{out}");
    if layout == Layout::Hybrid {
        let ls = b.ok(&[
            "container",
            "run",
            "--rm",
            "bb:local",
            "sh",
            "-c",
            "ls /sys/fs/cgroup; cat /sys/fs/cgroup/unified/cgroup.procs | wc -l",
        ]);
        assert!(ls.contains("unified") && ls.contains("memory"), "{ls}");
    }

    // --privileged: read-write, as Docker's (it makes no sub-cgroup, which would outlive
    // the container).
    let (out, err) = run(&["--privileged", "-e", "PRIV=1"]);
    assert!(
        out.contains("wrote-memory") && out.contains("wrote-pids"),
        "{out}\n{err}"
    );
}

/// The lines of `iptables-save` (in `b`'s namespace) that name one of the chains of
/// `prefix`, counters dropped.
fn chain_lines(b: &Berth, prefix: &str) -> Vec<String> {
    let save = text(&b.host(&["iptables-save"]).stdout);
    save.lines()
        .filter(|l| l.contains(&format!("{prefix}-")))
        .map(|l| l.split(" [").next().unwrap_or(l).to_string())
        .collect()
}

/// The chain prefix of `b`'s daemon, as its FORWARD jump shows it.
fn prefix_of(b: &Berth, others: &[&str]) -> String {
    let save = text(&b.host(&["iptables-save", "-t", "filter"]).stdout);
    save.lines()
        .filter_map(|l| l.strip_prefix("-A FORWARD -j "))
        .map(|c| c.trim_end_matches("-FORWARD").to_string())
        .find(|p| !others.contains(&p.as_str()))
        .unwrap_or_default()
}

/// Two daemons with different roots on one host (here one network namespace): each root
/// has its own chains, so neither rewrites the other's rules; both daemons' published
/// ports answer through the other's restart and teardown.
#[test]
fn two_daemons_on_one_host_keep_their_own_chains() {
    let a = Berth::new();
    let b = Berth::sharing_netns_with(&a);
    let curl = |port: &str| {
        let out = a.host(&[
            "curl",
            "-sS",
            "--max-time",
            "3",
            &format!("http://127.0.0.1:{port}/"),
        ]);
        text(&out.stdout)
    };
    let web = |x: &Berth, port: &str| {
        x.ok(&["network", "create", "front"]);
        x.ok(&[
            "container",
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "front",
            "-p",
            &format!("{port}:80"),
            "bb:local",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/var/www",
        ]);
    };
    web(&a, "8081");
    let pa = prefix_of(&a, &[]);
    web(&b, "8082");
    let pb = prefix_of(&b, &[&pa]);
    assert!(
        pa.starts_with("BERTH-") && pb.starts_with("BERTH-") && pa != pb,
        "{pa} {pb}"
    );
    let wait_answer = |port: &str| {
        a.wait_for(Duration::from_secs(5), || {
            curl(port) == "hello from berth\n"
        })
    };
    assert!(wait_answer("8081") && wait_answer("8082"));
    let a_rules = chain_lines(&a, &pa);
    assert!(a_rules.iter().any(|l| l.contains("DNAT")), "{a_rules:?}");

    // b's daemon dies and a new one rebuilds b's chains whole: a's stay as they were.
    b.kill_daemon();
    assert_eq!(b.status("web"), "running");
    assert!(wait_answer("8081") && wait_answer("8082"));
    assert_eq!(chain_lines(&a, &pa), a_rules);
    // a's periodic resync (5 s) finds its rules as it wrote them, and b's do not move either.
    let b_rules = chain_lines(&b, &pb);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(chain_lines(&a, &pa), a_rules);
    assert_eq!(chain_lines(&b, &pb), b_rules);
    for x in [&a, &b] {
        let log = std::fs::read_to_string(x.run_dir.join("daemon.log")).unwrap_or_default();
        assert!(
            !log.contains("iptables-restore") && !log.contains("network resync"),
            "{log}"
        );
    }

    // b goes away entirely: its chains and jumps go, a's stay and answer.
    b.ok(&["container", "rm", "-f", "web"]);
    b.ok(&["network", "rm", "front"]);
    assert!(
        chain_lines(&b, &pb).is_empty(),
        "{:?}",
        chain_lines(&b, &pb)
    );
    assert_eq!(chain_lines(&a, &pa), a_rules);
    assert!(wait_answer("8081"));
    drop(b);
    a.ok(&["container", "rm", "-f", "web"]);
}

const ONEOFF_STACK: &str = r#"
name: oneoff
services:
  db:
    image: bb:local
    init: true
    command: [sleep, "1000"]
  app:
    image: bb:local
    init: true
    command: [sleep, "1000"]
    depends_on: [db]
networks:
  default:
    ipam:
      config:
        - subnet: ${SUBNET:-10.213.0.0/24}
"#;

/// Each container's id and address on the stack's network.
fn addresses(b: &Berth, names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| {
            let c = b.inspect(n);
            let ip = c["NetworkSettings"]["Networks"]["oneoff_default"]["IPAddress"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (c["Id"].as_str().unwrap().to_string(), ip)
        })
        .collect()
}

/// `berth ARGS` in the stack's directory with SUBNET set as a shell would have it.
fn with_subnet(b: &Berth, dir: &std::path::Path, subnet: &str, args: &[&str]) -> String {
    let out = b
        .cmd(args)
        .current_dir(dir)
        .env("SUBNET", subnet)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A one-off `run` from a shell whose environment interpolates another subnet acts on the
/// stack as it runs: the network is not made again, no container moves or is recreated, the
/// stack's record keeps its own environment. When `up` does make the network again, each
/// container keeps its address where the new subnet has it.
#[test]
fn run_leaves_the_running_stack_as_it_is() {
    let b = Berth::new();
    let dir = stack_dir(&b, ONEOFF_STACK);
    ok_in(&b, &dir, &["up", "-d"]);
    let names = ["oneoff-db-1", "oneoff-app-1"];
    let before = addresses(&b, &names);
    assert!(
        before.iter().all(|(_, ip)| ip.starts_with("10.213.0.")),
        "{before:?}"
    );
    let net_id = || {
        let v: serde_json::Value =
            serde_json::from_str(&b.ok(&["network", "inspect", "oneoff_default"])).unwrap();
        v[0]["id"].as_str().unwrap().to_string()
    };
    let net = net_id();

    // With its dependencies (db runs already), and without.
    let out = with_subnet(
        &b,
        &dir,
        "10.214.0.0/24",
        &[
            "run",
            "--rm",
            "-T",
            "app",
            "sh",
            "-c",
            "ip -4 -o addr show eth0",
        ],
    );
    assert!(
        out.contains("10.213.0."),
        "the one-off joins the network as it runs: {out}"
    );
    with_subnet(
        &b,
        &dir,
        "10.214.0.0/24",
        &["run", "--rm", "-T", "--no-deps", "app", "true"],
    );
    // With db stopped: run starts it again, as it was.
    ok_in(&b, &dir, &["stop", "-t", "0", "db"]);
    with_subnet(
        &b,
        &dir,
        "10.214.0.0/24",
        &["run", "--rm", "-T", "app", "true"],
    );
    assert_eq!(b.status("oneoff-db-1"), "running");
    assert_eq!(net_id(), net, "the network was not made again");
    assert_eq!(
        addresses(&b, &names),
        before,
        "nothing recreated, nothing moved"
    );
    let record = std::fs::read_to_string(b.root.join("stacks/oneoff.json")).unwrap();
    assert!(!record.contains("10.214.0.0/24"), "{record}");
    // ps, logs and exec from that shell change nothing either.
    with_subnet(&b, &dir, "10.214.0.0/24", &["ps"]);
    with_subnet(&b, &dir, "10.214.0.0/24", &["logs", "app"]);
    with_subnet(&b, &dir, "10.214.0.0/24", &["exec", "-T", "app", "true"]);
    // The reconcile loop still converges on the stack's own environment.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(net_id(), net);
    assert_eq!(addresses(&b, &names), before);

    // `up` applies a new subnet: made again, each container keeps its address where the
    // new subnet has it (a /16 around the old /24), or gets one of the new subnet.
    with_subnet(&b, &dir, "10.213.0.0/16", &["up", "-d"]);
    assert_ne!(net_id(), net);
    assert_eq!(
        addresses(&b, &names),
        before,
        "same containers, same addresses"
    );
    with_subnet(&b, &dir, "10.215.0.0/24", &["up", "-d"]);
    let moved = addresses(&b, &names);
    assert!(
        moved.iter().all(|(_, ip)| ip.starts_with("10.215.0.")),
        "{moved:?}"
    );
    assert_eq!(
        moved.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        before.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    with_subnet(&b, &dir, "10.215.0.0/24", &["down", "-t", "0"]);
}

const DNS_STACK: &str = r#"
name: dnsup
services:
  db:
    image: bb:local
    init: true
    command: [sleep, "1000"]
  app:
    image: bb:local
    init: true
    command: [sleep, "1000"]
"#;

/// `nslookup NAME` run inside container `c` (its network and mount namespaces, so its own
/// resolv.conf), with no daemon involved: works while the daemon is down.
fn lookup(b: &Berth, pid: i64, name: &str) -> Option<String> {
    let out = b.host(&[
        "nsenter",
        "-t",
        &pid.to_string(),
        "-n",
        "-m",
        "timeout",
        "3",
        "nslookup",
        name,
    ]);
    out.status.success().then(|| text(&out.stdout))
}

/// The address `name` resolves to in an nslookup answer (the line after "Name:").
fn resolved(answer: &str) -> Option<String> {
    answer
        .lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .find_map(|l| {
            l.strip_prefix("Address:")
                .or_else(|| l.strip_prefix("Address 1:"))
        })
        .map(|a| a.trim().to_string())
}

/// Containers resolve each other's names while the daemon is down: each network's names are
/// served by a process of its own, which the next daemon re-adopts (same process) and keeps
/// up to date; a server that dies is started again by the daemon; `down` ends it.
#[test]
fn names_resolve_while_the_daemon_is_down() {
    let b = Berth::new();
    let dir = stack_dir(&b, DNS_STACK);
    ok_in(&b, &dir, &["up", "-d"]);
    let pid = b.inspect("dnsup-app-1")["State"]["Pid"].as_i64().unwrap();
    let db_ip = b.inspect("dnsup-db-1")["NetworkSettings"]["Networks"]["dnsup_default"]
        ["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let resolves = |name: &str| lookup(&b, pid, name).and_then(|a| resolved(&a));
    assert_eq!(resolves("db").as_deref(), Some(db_ip.as_str()));
    let servers = dns_servers(&b.run_dir);
    assert_eq!(servers.len(), 1, "one server for the stack's one network");
    let (server, server_start) = servers[0];

    // kill -9: every lookup during the outage answers, by service and container name.
    b.kill_daemon();
    let t = std::time::Instant::now();
    let mut lookups = 0;
    while t.elapsed() < Duration::from_secs(2) {
        for name in ["db", "dnsup-db-1", "DB"] {
            assert_eq!(
                resolves(name).as_deref(),
                Some(db_ip.as_str()),
                "{name} during the outage"
            );
            lookups += 1;
        }
    }
    assert!(lookups >= 6, "{lookups}");
    let ms = t.elapsed().as_millis() as u64 / lookups;
    eprintln!("{lookups} lookups while the daemon was down, {ms} ms each (nsenter included)");

    // The next daemon adopts the same server and keeps it current: a new container's name
    // resolves at once.
    ok_in(&b, &dir, &["up", "-d", "--scale", "db=2"]);
    assert_eq!(
        dns_servers(&b.run_dir),
        vec![(server, server_start)],
        "re-adopted"
    );
    assert_eq!(start_time(server), Some(server_start));
    let db2 = b.inspect("dnsup-db-2")["NetworkSettings"]["Networks"]["dnsup_default"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(resolves("dnsup-db-2").as_deref(), Some(db2.as_str()));

    // After `daemon stop` too.
    b.ok(&["daemon", "stop"]);
    assert_eq!(resolves("dnsup-db-2").as_deref(), Some(db2.as_str()));

    // A server that dies is started again by the daemon (its periodic resync) with the
    // current names.
    b.ok(&["container", "ls"]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        b.wait_for(Duration::from_secs(15), || resolves("dnsup-db-2")
            .as_deref()
            == Some(db2.as_str())),
        "the server was not restarted: {}",
        std::fs::read_to_string(b.run_dir.join("daemon.log")).unwrap_or_default()
    );
    let restarted = dns_servers(&b.run_dir);
    assert!(
        restarted.len() == 1 && restarted[0].0 != server,
        "{restarted:?}"
    );

    // down ends it, record and all; the daemon (the server's subreaper) reaps it.
    ok_in(&b, &dir, &["down", "-t", "0"]);
    assert!(
        start_time(restarted[0].0).is_none(),
        "the server outlived its network"
    );
    assert!(dns_servers(&b.run_dir).is_empty());
    let daemon = b.daemon_pid();
    assert!(
        b.wait_for(Duration::from_secs(3), || zombie_children(daemon)
            .is_empty()),
        "zombies under the daemon: {:?}",
        zombie_children(daemon)
    );
}
