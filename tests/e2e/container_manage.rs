//! Acting on a container that runs, as the docker CLI does: `top` (ps -ef's columns, other
//! ps options), `stats` (NET I/O, BLOCK I/O, Docker's units), `attach` (output, input,
//! ctrl-p ctrl-q, --no-stdin, --sig-proxy), `rename` (ps and DNS follow), `update` (the
//! cgroup's limits for real, the restart policy). Expected outputs from a side-by-side run
//! with docker 20.10.

use crate::support::*;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cells of a line Go's tabwriter aligned with a padding of 3: runs of 3+ spaces split.
fn columns(line: &str) -> Vec<String> {
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

/// A size as go-units prints it: `0B`, `832KiB`, `1.48kB`, `23.54GiB`.
fn is_size(s: &str, binary: bool) -> bool {
    let units: &[&str] = if binary {
        &["B", "KiB", "MiB", "GiB", "TiB"]
    } else {
        &["B", "kB", "MB", "GB", "TB"]
    };
    units.iter().any(|u| {
        s.strip_suffix(u)
            .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok())
    })
}

#[test]
fn top_prints_ps_ef_columns_and_takes_ps_options() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "tp",
        "bb:local",
        "sh",
        "-c",
        "sleep 600 & exec sleep 601",
    ]);
    let top = b.ok(&["container", "top", "tp"]);
    let mut lines = top.lines();
    // Docker's tabwriter: columns at least 20 wide, CMD last and unpadded.
    let head = lines.next().unwrap();
    assert_eq!(
        head,
        format!(
            "{:<20}{:<20}{:<20}{:<20}{:<20}{:<20}{:<20}CMD",
            "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME"
        )
    );
    let rows: Vec<Vec<String>> = lines.map(columns).collect();
    assert_eq!(rows.len(), 2, "{top}");
    assert_eq!(rows[0][0], "root");
    assert_eq!(rows[0][7], "sleep 601", "{top}");
    assert_eq!(rows[1][7], "sleep 600", "{top}");
    // The second is the first's child: PPID is PID 1's host pid.
    assert_eq!(rows[1][2], rows[0][1], "{top}");
    assert_eq!(rows[0][6], "00:00:00");

    let custom = b.ok(&["container", "top", "tp", "-o", "pid,comm"]);
    let custom: Vec<Vec<String>> = custom.lines().map(columns).collect();
    assert_eq!(custom[0], ["PID", "COMMAND"]);
    assert_eq!(custom[1], [rows[0][1].clone(), "sleep".to_string()]);

    let refused = b.run(&["container", "top", "tp", "-o", "user=PID"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("specifying \"user=PID\" is not allowed"));
    b.ok(&["container", "stop", "-t", "0", "tp"]);
    let stopped = b.run(&["container", "top", "tp"]);
    assert_eq!(stopped.status.code(), Some(1));
    assert!(text(&stopped.stderr).contains("is not running"));
}

#[test]
fn stats_show_network_and_block_io_in_dockers_units() {
    let b = Berth::new();
    b.ok(&["network", "create", "statnet"]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "st",
        "--network",
        "statnet",
        "-m",
        "64m",
        "bb:local",
        "sh",
        "-c",
        "ping -c 2 -W 1 $(ip route | awk '/default/ {print $3}'); exec sleep 600",
    ]);
    b.ok(&["container", "create", "--name", "idle", "bb:local", "true"]);
    std::thread::sleep(Duration::from_secs(2));
    let out = b.ok(&["container", "stats", "--no-stream", "st"]);
    let lines: Vec<Vec<String>> = out.lines().map(columns).collect();
    assert_eq!(
        lines[0],
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ]
    );
    let row = &lines[1];
    let id = b.inspect("st")["Id"].as_str().unwrap().to_string();
    assert_eq!(row[0], id[..12]);
    assert_eq!(row[1], "st");
    assert!(row[2].ends_with('%') && row[2].contains('.'), "{out}");
    let (usage, limit) = row[3].split_once(" / ").unwrap();
    assert!(is_size(usage, true) && usage != "0B", "{out}");
    assert_eq!(limit, "64MiB", "{out}");
    assert!(row[4].ends_with('%'), "{out}");
    let (rx, tx) = row[5].split_once(" / ").unwrap();
    // The pings went out and came back.
    assert!(is_size(rx, false) && rx != "0B", "{out}");
    assert!(is_size(tx, false) && tx != "0B", "{out}");
    let (read, write) = row[6].split_once(" / ").unwrap();
    assert!(is_size(read, false) && is_size(write, false), "{out}");
    assert_eq!(row[7], "1", "{out}");

    // -a adds the container that never ran, with Docker's zeros.
    let all = b.ok(&["container", "stats", "--no-stream", "-a"]);
    let idle = all
        .lines()
        .map(columns)
        .find(|r| r[1] == "idle")
        .unwrap_or_else(|| panic!("{all}"));
    assert_eq!(
        idle[2..],
        ["0.00%", "0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0"]
    );

    let custom = b.ok(&[
        "container",
        "stats",
        "--no-stream",
        "--format",
        "{{.Container}}: {{.NetIO}}",
        "st",
    ]);
    assert!(
        custom.starts_with("st: ") && !custom.contains("0B / 0B"),
        "{custom}"
    );
    let json: serde_json::Value = serde_json::from_str(&b.ok(&[
        "container",
        "stats",
        "--no-stream",
        "--format",
        "json",
        "st",
    ]))
    .unwrap();
    assert_eq!(json["Name"], "st");
    assert_eq!(json["PIDs"], "1");
    let missing = b.run(&["container", "stats", "--no-stream", "nosuch"]);
    assert_eq!(missing.status.code(), Some(1));
}

/// A command whose stdin, stdout and stderr are the slave side of a new terminal; what it
/// prints is collected from the master side.
struct OnTerminal {
    child: Child,
    master: std::fs::File,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl OnTerminal {
    fn spawn(mut cmd: std::process::Command) -> OnTerminal {
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave: OwnedFd = pty.slave;
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        let child = cmd.spawn().unwrap();
        let master = std::fs::File::from(pty.master);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut r, s) = (master.try_clone().unwrap(), seen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the last slave fd closes.
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        OnTerminal {
            child,
            master,
            seen,
        }
    }

    fn output(&self) -> String {
        text(&self.seen.lock().unwrap())
    }

    fn wait_for_output(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.output().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{needle} not in {:?}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still attached: {:?}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn attach_takes_input_and_detaches_on_ctrl_p_ctrl_q() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-dit",
        "--name",
        "shell",
        "bb:local",
        "sh",
        "-c",
        "while read line; do echo got-$line; done",
    ]);
    let mut t = OnTerminal::spawn(b.cmd(&["container", "attach", "shell"]));
    std::thread::sleep(Duration::from_millis(500));
    t.master.write_all(b"hello\r").unwrap();
    t.wait_for_output("got-hello");
    // ctrl-p ctrl-q: Docker's message, exit 1, the container runs on.
    t.master.write_all(&[0x10, 0x11]).unwrap();
    assert_eq!(t.exit_code(), Some(1));
    t.wait_for_output("read escape sequence");
    assert_eq!(b.status("shell"), "running");

    // A ctrl-p that is not followed by ctrl-q is input; other keys can be chosen.
    let mut t =
        OnTerminal::spawn(b.cmd(&["container", "attach", "--detach-keys", "ctrl-a,x", "shell"]));
    std::thread::sleep(Duration::from_millis(500));
    t.master.write_all(&[0x10]).unwrap();
    t.master.write_all(b"again\r").unwrap();
    t.wait_for_output("got-\u{10}again");
    t.master.write_all(&[0x01, b'x']).unwrap();
    assert_eq!(t.exit_code(), Some(1));
    assert_eq!(b.status("shell"), "running");

    // A terminal container wants a terminal on our side, as Docker's CheckTty.
    let piped = b.run(&["container", "attach", "shell"]);
    assert_eq!(piped.status.code(), Some(1));
    assert!(text(&piped.stderr).contains("the input device is not a TTY"));
    // ...unless stdin stays out of it.
    let mut quiet = b
        .cmd(&["container", "attach", "--no-stdin", "shell"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    b.ok(&["container", "stop", "-t", "1", "shell"]);
    let status = quiet.wait().unwrap();
    // sh ignores SIGTERM as pid 1: killed after the grace period.
    assert_eq!(status.code(), Some(137));

    // `run -it` detaches on the same keys, quietly and with 0, as Docker's.
    let mut t = OnTerminal::spawn(b.cmd(&[
        "container",
        "run",
        "-it",
        "--name",
        "fg",
        "bb:local",
        "sh",
        "-c",
        "echo ready; exec sleep 600",
    ]));
    t.wait_for_output("ready");
    t.master.write_all(&[0x10, 0x11]).unwrap();
    assert_eq!(t.exit_code(), Some(0));
    assert!(!t.output().contains("escape"), "{:?}", t.output());
    assert_eq!(b.status("fg"), "running");

    let stopped = b.run(&["container", "attach", "shell"]);
    assert_eq!(stopped.status.code(), Some(1));
    assert!(
        text(&stopped.stderr).contains("You cannot attach to a stopped container, start it first")
    );
}

#[test]
fn attach_proxies_signals_unless_told_not_to() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-di",
        "--name",
        "trap",
        "bb:local",
        "sh",
        "-c",
        "trap 'echo got INT; exit 3' INT; while true; do echo tick; sleep 0.2; done",
    ]);
    let attach = |extra: &[&str]| {
        let mut args = vec!["container", "attach"];
        args.extend_from_slice(extra);
        args.push("trap");
        let mut child = b
            .cmd(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 5];
        out.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"tick\n");
        (child, out)
    };
    // --sig-proxy=false: Ctrl-C ends the client only.
    let (mut child, _out) = attach(&["--sig-proxy=false"]);
    sh(&["kill", "-INT", &child.id().to_string()]);
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(2)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.status("trap"), "running");
    // The default proxies it: the container's trap runs, attach ends with its code.
    let (mut child, mut out) = attach(&[]);
    sh(&["kill", "-INT", &child.id().to_string()]);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(3));
    assert!(rest.contains("got INT"), "{rest}");
    assert!(b.wait_for(Duration::from_secs(5), || b.status("trap") == "exited"));
}

#[test]
fn rename_shows_in_ps_and_in_dns() {
    let b = Berth::new();
    b.ok(&["network", "create", "rn"]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "old",
        "--network",
        "rn",
        "bb:local",
        "sleep",
        "600",
    ]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "other",
        "bb:local",
        "sleep",
        "600",
    ]);
    assert_eq!(b.ok(&["container", "rename", "old", "new"]), "");
    let names = b.ok(&["container", "ls", "--format", "{{.Names}}"]);
    assert!(names.lines().any(|n| n == "new"), "{names}");
    assert!(!names.lines().any(|n| n == "old"), "{names}");
    assert_eq!(b.inspect("new")["Name"], "/new");
    // A peer resolves the new name, and the old one no more.
    let ip = b.inspect("new")["NetworkSettings"]["Networks"]["rn"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let resolved = b.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "rn",
        "bb:local",
        "nslookup",
        "new",
    ]);
    assert!(resolved.contains(&ip), "{resolved}");
    let gone = b.run(&[
        "container",
        "run",
        "--rm",
        "--network",
        "rn",
        "bb:local",
        "nslookup",
        "old",
    ]);
    assert!(!gone.status.success(), "{}", text(&gone.stdout));
    // The name is free again; a taken or invalid name is refused.
    b.ok(&["container", "create", "--name", "old", "bb:local", "true"]);
    for (to, message) in [
        ("other", "is already in use"),
        (
            "new",
            "Renaming a container with the same name as its current name",
        ),
        ("bad name", "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
    ] {
        let out = b.run(&["container", "rename", "new", to]);
        assert_eq!(out.status.code(), Some(1), "{to}");
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
    }
}

/// The limit files of the container's cgroup, read on the host.
fn cgroup_file(b: &Berth, id: &str, names: &[&str]) -> String {
    cgroup_file_opt(b, id, names).unwrap_or_else(|| panic!("none of {names:?}"))
}

#[test]
fn update_changes_the_cgroup_limits_and_the_restart_policy() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "container",
            "run",
            "-d",
            "--name",
            "up",
            "bb:local",
            "sleep",
            "600",
        ])
        .trim()
        .to_string();
    let out = b.ok(&[
        "container",
        "update",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "--restart",
        "on-failure:2",
        "up",
    ]);
    assert_eq!(out, "up\n");
    let memory = cgroup_file(&b, &id, &["memory.limit_in_bytes", "memory.max"]);
    assert_eq!(memory, "67108864");
    let quota = cgroup_file(&b, &id, &["cpu.cfs_quota_us", "cpu.max"]);
    assert!(quota == "50000" || quota == "50000 100000", "{quota}");
    assert_eq!(cgroup_file(&b, &id, &["pids.max"]), "50");
    let host = &b.inspect("up")["HostConfig"];
    assert_eq!(host["Memory"], 67108864);
    assert_eq!(host["NanoCpus"], 500000000);
    assert_eq!(host["PidsLimit"], 50);
    assert_eq!(host["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(host["RestartPolicy"]["MaximumRetryCount"], 2);

    // Raising and lifting limits works too (memory+swap moves with memory).
    b.ok(&[
        "container",
        "update",
        "--memory",
        "128m",
        "--pids-limit",
        "-1",
        "up",
    ]);
    assert_eq!(
        cgroup_file(&b, &id, &["memory.limit_in_bytes", "memory.max"]),
        "134217728"
    );
    assert_eq!(cgroup_file(&b, &id, &["pids.max"]), "max");

    // The new policy applies at the next exit: on-failure restarts a failing process.
    b.ok(&["container", "update", "--restart", "always", "up"]);
    sh(&["kill", "-9", &b.inspect("up")["State"]["Pid"].to_string()]);
    assert!(b.wait_for(Duration::from_secs(10), || {
        let s = b.inspect("up");
        s["RestartCount"].as_u64().unwrap_or(0) >= 1 && s["State"]["Status"] == "running"
    }));

    for (args, message) in [
        (
            &["container", "update", "up"][..],
            "you must provide one or more flags",
        ),
        (
            &["container", "update", "-m", "1m", "up"][..],
            "Minimum memory limit allowed is 6MB",
        ),
        (
            &["container", "update", "--restart", "bogus", "up"][..],
            "invalid restart policy 'bogus'",
        ),
    ] {
        let out = b.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
    }
    b.ok(&[
        "container",
        "run",
        "-d",
        "--rm",
        "--name",
        "gone",
        "bb:local",
        "sleep",
        "600",
    ]);
    let out = b.run(&["container", "update", "--restart", "always", "gone"]);
    assert!(
        text(&out.stderr).contains("AutoRemove is enabled"),
        "{}",
        text(&out.stderr)
    );
}

/// A limit file of the container's cgroup, or None when the host has none of `names` (swap
/// accounting, a blkio weight).
fn cgroup_file_opt(b: &Berth, id: &str, names: &[&str]) -> Option<String> {
    let cg = berth_engine::cgroups::Cgroup::open(&b.cgroup_parent, id).expect("cgroup");
    cg.paths()
        .iter()
        .flat_map(|p| names.iter().map(move |f| p.join(f)))
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
}

/// `update --memory-swap --memory-reservation --cpu-period --cpu-quota --cpuset-mems
/// --blkio-weight` on a running container: written to its cgroup (v1 or v2 files), shown by
/// inspect, refused in dockerd's words (Docker 28.2 answered the same on this host).
#[test]
fn update_sets_swap_reservation_cfs_cpuset_mems_and_blkio_weight() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "container",
            "run",
            "-d",
            "--name",
            "up1",
            "-m",
            "64m",
            "bb:local",
            "sleep",
            "600",
        ])
        .trim()
        .to_string();
    assert_eq!(
        b.ok(&["container", "update", "--memory-swap", "128m", "up1"]),
        "up1\n"
    );
    // v1 counts memory plus swap, v2 swap alone.
    match cgroup_file_opt(&b, &id, &["memory.memsw.limit_in_bytes"]) {
        Some(v) => assert_eq!(v, "134217728"),
        None => {
            if let Some(v) = cgroup_file_opt(&b, &id, &["memory.swap.max"]) {
                assert_eq!(v, "67108864");
            }
        }
    }
    let out = b.run(&[
        "container",
        "update",
        "--memory-reservation",
        "32m",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        "--cpuset-mems",
        "0",
        "--blkio-weight",
        "300",
        "up1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "up1\n");
    let weight = cgroup_file_opt(
        &b,
        &id,
        &[
            "blkio.weight",
            "blkio.bfq.weight",
            "io.bfq.weight",
            "io.weight",
        ],
    );
    match &weight {
        // As dockerd on a kernel without a weight: warned about, dropped.
        None => assert_eq!(
            text(&out.stderr),
            "WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.\n"
        ),
        Some(w) => assert!(w.contains("300") || w.contains("2930"), "{w}"),
    }
    assert_eq!(
        cgroup_file(&b, &id, &["memory.soft_limit_in_bytes", "memory.low"]),
        "33554432"
    );
    let quota = cgroup_file(&b, &id, &["cpu.cfs_quota_us", "cpu.max"]);
    assert!(quota == "50000" || quota == "50000 100000", "{quota}");
    assert_eq!(cgroup_file(&b, &id, &["cpuset.mems"]), "0");
    let format = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} {{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpusetMems}} {{.HostConfig.BlkioWeight}}";
    let shown = b.ok(&["container", "inspect", "-f", format, "up1"]);
    let w = if weight.is_some() { "300" } else { "0" };
    assert_eq!(
        shown,
        format!("67108864 134217728 33554432 100000 50000 0 {w}\n")
    );
    // The period alone: the quota stays.
    b.ok(&["container", "update", "--cpu-period", "200000", "up1"]);
    let period = cgroup_file(&b, &id, &["cpu.cfs_period_us", "cpu.max"]);
    assert!(period == "200000" || period == "50000 200000", "{period}");
    assert_eq!(
        cgroup_file(&b, &id, &["cpu.cfs_quota_us", "cpu.max"])
            .split(' ')
            .next(),
        Some("50000")
    );

    for (args, message) in [
        (&["-m", "256m"][..], format!("berth: Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time\n")),
        (&["--memory-swap", "32m"][..], "berth: Minimum memoryswap limit should be larger than memory limit, see usage\n".into()),
        (&["--cpu-quota", "500"][..], "berth: CPU cfs quota can not be less than 1ms (i.e. 1000)\n".into()),
        (&["--cpu-period", "500"][..], "berth: CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)\n".into()),
        (&["--cpuset-mems", "77"][..], format!("berth: Requested memory nodes are not available - requested 77, available: {}\n", std::fs::read_to_string("/sys/devices/system/node/online").unwrap_or("0".into()).trim())),
        (&["--cpus", "0.5", "--cpu-quota", "50000"][..], "berth: Conflicting options: Nano CPUs and CPU Quota cannot both be set\n".into()),
    ] {
        let mut all = vec!["container", "update"];
        all.extend_from_slice(args);
        all.push("up1");
        let out = b.run(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&out.stderr), message, "{args:?}");
    }
    if weight.is_some() {
        let out = b.run(&["container", "update", "--blkio-weight", "5", "up1"]);
        assert_eq!(
            text(&out.stderr),
            "berth: Range of blkio weight is from 10 to 1000\n"
        );
    }
    // Unlimited swap; and swap without a memory limit is refused before the kernel is asked.
    b.ok(&["container", "update", "--memory-swap", "-1", "up1"]);
    assert_eq!(
        b.ok(&[
            "container",
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
            "up1"
        ]),
        "67108864 -1\n"
    );
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "up2",
        "bb:local",
        "sleep",
        "600",
    ]);
    let out = b.run(&["container", "update", "--memory-swap", "128m", "up2"]);
    assert_eq!(
        text(&out.stderr),
        "berth: You should always set the Memory limit when using Memoryswap limit, see usage\n"
    );
    b.ok(&["container", "rm", "-f", "up1", "up2"]);
}
