//! Running single containers: output, exit codes, isolation defaults, limits, exec.
//! Long: one test per single-container behaviour; they share nothing but support.rs.

use crate::support::*;

#[test]
fn run_prints_output_and_propagates_exit_codes() {
    let b = Berth::new();
    assert_eq!(
        b.ok(&["container", "run", "--rm", "bb:local", "echo", "hi"]),
        "hi\n"
    );
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "bb:local",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    let out = b.run(&["container", "run", "--rm", "bb:local", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains("executable file not found"),
        "{}",
        text(&out.stderr)
    );
    // --rm removed all three.
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
}

/// The root line of /proc/self/mountinfo inside a container: its overlay and options.
fn root_mount(b: &Berth, extra: &[&str]) -> String {
    let mut args = vec!["container", "run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["bb:local", "cat", "/proc/self/mountinfo"]);
    let out = b.ok(&args);
    out.lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no root mount in {out}"))
        .to_string()
}

#[test]
fn only_removed_containers_skip_syncing_their_writable_layer() {
    let b = Berth::new();
    // A --rm container's writable layer goes when it exits: nothing to sync (overlay
    // volatile), so its exit does not wait for a journal commit.
    let rm = root_mount(&b, &["--rm"]);
    assert!(rm.contains(" overlay ") && rm.contains("volatile"), "{rm}");
    // Any other container keeps a durable writable layer: fsync inside it means it.
    let kept = root_mount(&b, &["--name", "kept"]);
    assert!(
        kept.contains(" overlay ") && !kept.contains("volatile"),
        "{kept}"
    );
    // And it can be started again on the same layer.
    b.ok(&["container", "start", "kept"]);
    b.ok(&["container", "rm", "-f", "kept"]);
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
}

#[test]
fn isolation_defaults_match_docker() {
    let b = Berth::new();
    let script = "hostname; echo pid=$$; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr '\\n' ' '; echo; \
                  cat /proc/timer_list /proc/keys 2>&1 | wc -c; ls /proc/acpi 2>&1 | wc -l; \
                  (echo 1 > /proc/sys/kernel/domainname) 2>&1 | grep -c 'Read-only'; \
                  (echo x > /sys/kernel/uevent_helper) 2>&1 | grep -c 'Read-only'; \
                  ls /dev | tr '\\n' ' '";
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "--hostname",
        "box1",
        "bb:local",
        "sh",
        "-c",
        script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "box1");
    assert_eq!(lines[1], "pid=1");
    // Docker's: its 14 capabilities, no_new_privs off (setuid su and sudo work), and its
    // seccomp filter (mode 2).
    assert_eq!(
        lines[2].trim(),
        "CapEff:\t00000000a80425fb NoNewPrivs:\t0 Seccomp:\t2"
    );
    let lines: Vec<&str> = std::iter::once("").chain(out.lines()).collect();
    assert_eq!(
        lines[4].trim(),
        "0",
        "/proc/timer_list and /proc/keys are masked"
    );
    assert_eq!(lines[5].trim(), "0", "/proc/acpi is an empty tmpfs");
    assert_eq!(lines[6].trim(), "1", "/proc/sys is read-only");
    assert_eq!(lines[7].trim(), "1", "/sys is read-only");
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue",
    ] {
        assert!(
            lines[8].split_whitespace().any(|d| d == dev),
            "/dev/{dev} missing: {}",
            lines[8]
        );
    }
    // A device node made with CAP_MKNOD is useless: the root filesystem is nodev.
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "bb:local",
        "sh",
        "-c",
        "mknod /tmp/mem c 1 1 && head -c1 /tmp/mem",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Permission denied")
            || text(&out.stderr).contains("not permitted"),
        "{}",
        text(&out.stderr)
    );
    // --privileged gets every capability and no masks.
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "--privileged",
        "bb:local",
        "sh",
        "-c",
        "grep CapEff /proc/self/status",
    ]);
    assert_ne!(out.trim(), "CapEff:\t00000000a80425fb");
}

#[test]
fn capabilities_user_env_workdir() {
    let b = Berth::new();
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_ADMIN",
        "bb:local",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(out.trim(), "CapEff:\t0000000000001000");
    let id = b.ok(&["container", "run", "--rm", "-u", "web", "bb:local", "id"]);
    assert!(
        id.starts_with("uid=1000(web) gid=1000(web) groups=") && id.contains("10(wheel)"),
        "{id}"
    );
    assert_eq!(
        b.ok(&[
            "container",
            "run",
            "--rm",
            "-u",
            "nobody",
            "bb:local",
            "grep",
            "CapEff",
            "/proc/self/status"
        ])
        .trim(),
        "CapEff:\t0000000000000000"
    );
    assert!(b
        .ok(&[
            "container",
            "run",
            "--rm",
            "-u",
            "4242:4343",
            "bb:local",
            "id"
        ])
        .starts_with("uid=4242 gid=4343"));
    let out = b.run(&["container", "run", "--rm", "-u", "ghost", "bb:local", "id"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("unable to find user ghost"),
        "{}",
        text(&out.stderr)
    );
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "-e",
        "A=1",
        "-w",
        "/made/here",
        "bb:local",
        "sh",
        "-c",
        "echo $A $PWD $HOME",
    ]);
    assert_eq!(out.trim(), "1 /made/here /root");
    let env_file = b.dir.path().join("env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=yes\n").unwrap();
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "--env-file",
        env_file.to_str().unwrap(),
        "bb:local",
        "sh",
        "-c",
        "echo $FROM_FILE",
    ]);
    assert_eq!(out.trim(), "yes");
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "bb:local",
        "from",
        "entrypoint",
    ]);
    assert_eq!(out.trim(), "from entrypoint");
}

#[test]
fn filesystems_read_only_tmpfs_and_binds() {
    let b = Berth::new();
    let host = b.dir.path().join("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in.txt"), "from host\n").unwrap();
    let vol = format!("{}:/data", host.display());
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "-v",
        &vol,
        "bb:local",
        "sh",
        "-c",
        "cat /data/in.txt; echo back > /data/out.txt",
    ]);
    assert_eq!(out, "from host\n");
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "back\n"
    );
    let vol_ro = format!("{}:/data:ro", host.display());
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "-v",
        &vol_ro,
        "bb:local",
        "sh",
        "-c",
        "echo x > /data/nope",
    ]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("Read-only"),
        "{}",
        text(&out.stderr)
    );
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch:size=1m",
        "bb:local",
        "sh",
        "-c",
        "echo ok > /scratch/f && cat /scratch/f && echo x > /etc/f",
    ]);
    assert_eq!(text(&out.stdout), "ok\n");
    assert!(
        text(&out.stderr).contains("Read-only"),
        "{}",
        text(&out.stderr)
    );
    // The image's files are untouched by a container's writes.
    b.ok(&[
        "container",
        "run",
        "--rm",
        "bb:local",
        "sh",
        "-c",
        "rm /var/www/index.html",
    ]);
    assert_eq!(
        b.ok(&[
            "container",
            "run",
            "--rm",
            "bb:local",
            "cat",
            "/var/www/index.html"
        ]),
        "hello from berth\n"
    );
}

#[test]
fn memory_limit_oom_kills_and_pids_limit_stops_forks() {
    let b = Berth::new();
    let out = b.run(&[
        "container",
        "run",
        "--name",
        "hog",
        "-m",
        "16m",
        "bb:local",
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "stderr: {}",
        text(&out.stderr)
    );
    let st = b.inspect("hog");
    assert_eq!(st["State"]["OOMKilled"], true);
    assert_eq!(st["State"]["ExitCode"], 137);
    assert_eq!(st["HostConfig"]["Memory"], 16 << 20);
    b.ok(&["container", "rm", "hog"]);
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "--pids-limit",
        "4",
        "bb:local",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6; do sleep 2 & done; wait",
    ]);
    assert!(
        text(&out.stderr).contains("fork"),
        "expected a failed fork: {}",
        text(&out.stderr)
    );
}

#[test]
fn cpu_quota_and_shares_reach_the_cgroup() {
    let b = Berth::new();
    let id = b
        .ok(&[
            "container",
            "run",
            "-d",
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "bb:local",
            "sleep",
            "30",
        ])
        .trim()
        .to_string();
    let cg = berth_engine::cgroups::Cgroup::open(&b.cgroup_parent, &id).expect("container cgroup");
    let files: Vec<String> = cg
        .paths()
        .iter()
        .flat_map(|p| {
            ["cpu.cfs_quota_us", "cpu.max", "cpu.shares", "cpu.weight"].map(|f| p.join(f))
        })
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    let all = files.join(" ");
    assert!(all.contains("50000"), "CFS quota of half a CPU: {all}");
    assert!(
        all.contains("512") || all.contains("59"),
        "cpu shares or weight: {all}"
    );
    let out = b.ok(&["container", "stats", "--no-stream", &id]);
    assert!(out.contains(&id[..12]), "{out}");
    b.ok(&["container", "rm", "-f", &id]);
    assert!(
        berth_engine::cgroups::Cgroup::open(&b.cgroup_parent, &id).is_err(),
        "cgroup removed with the container"
    );
}

/// The container's init joins its cgroup by itself (v1) and is born in it (cgroup2), and an
/// exec'd process likewise: every hierarchy must list both, or limits and stats miss them.
#[test]
fn container_and_exec_processes_are_in_every_hierarchy_of_the_cgroup() {
    let b = Berth::new();
    let id = b
        .ok(&["container", "run", "-d", "bb:local", "sleep", "60"])
        .trim()
        .to_string();
    let pid = b.inspect(&id)["State"]["Pid"].as_i64().unwrap().to_string();
    let mut exec = b
        .cmd(&["container", "exec", &id, "sleep", "30"])
        .spawn()
        .unwrap();
    let cg = berth_engine::cgroups::Cgroup::open(&b.cgroup_parent, &id).expect("container cgroup");
    let procs = |dir: &std::path::Path| {
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let everywhere = b.wait_for(std::time::Duration::from_secs(10), || {
        cg.paths().iter().all(|d| procs(d).len() >= 2)
    });
    let listing: Vec<String> = cg
        .paths()
        .iter()
        .map(|d| format!("{}: {:?}", d.display(), procs(d)))
        .collect();
    assert!(
        everywhere,
        "init and exec'd process in every hierarchy: {listing:#?}"
    );
    for d in cg.paths() {
        assert!(procs(&d).contains(&pid), "init {pid} in {}", d.display());
    }
    b.ok(&["container", "rm", "-f", &id]);
    let _ = exec.wait();
}

#[test]
fn exec_runs_inside_with_user_env_and_exit_code() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "box",
        "-e",
        "FROM_RUN=1",
        "bb:local",
        "sleep",
        "60",
    ]);
    assert_eq!(
        b.ok(&["container", "exec", "box", "hostname"]).trim(),
        &b.inspect("box")["Id"].as_str().unwrap()[..12]
    );
    assert_eq!(
        b.ok(&[
            "container",
            "exec",
            "-e",
            "X=2",
            "box",
            "sh",
            "-c",
            "echo $FROM_RUN$X"
        ])
        .trim(),
        "12"
    );
    assert_eq!(
        b.ok(&["container", "exec", "-u", "nobody", "box", "id", "-u"])
            .trim(),
        "65534"
    );
    assert_eq!(
        b.ok(&["container", "exec", "-w", "/tmp", "box", "pwd"])
            .trim(),
        "/tmp"
    );
    // The exec'd process sees the container's pid namespace: sleep is pid 1.
    assert!(b
        .ok(&["container", "exec", "box", "ps"])
        .lines()
        .any(|l| l.trim_start().starts_with("1 ") && l.contains("sleep")));
    assert_eq!(
        b.run(&["container", "exec", "box", "sh", "-c", "exit 5"])
            .status
            .code(),
        Some(5)
    );
    assert_eq!(
        b.run(&["container", "exec", "box", "nope"]).status.code(),
        Some(127)
    );
    // -t gives the process a terminal from the container's own devpts.
    assert_eq!(
        b.ok(&["container", "exec", "-t", "box", "tty"]).trim(),
        "/dev/pts/0"
    );
    let top = b.ok(&["container", "top", "box"]);
    assert!(top.contains("sleep 60"), "{top}");
}

#[test]
fn tty_and_interactive_stdin() {
    let b = Berth::new();
    assert_eq!(
        b.ok(&["container", "run", "--rm", "-t", "bb:local", "tty"])
            .trim(),
        "/dev/pts/0"
    );
    let mut child = b
        .cmd(&[
            "container",
            "run",
            "--rm",
            "-i",
            "bb:local",
            "sh",
            "-c",
            "read line; echo got $line",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout).trim(), "got hello");
}

#[test]
fn host_binary_is_never_writable_from_a_container() {
    // CVE-2019-5736: a container must not reach the berth binary through /proc/PID/exe.
    let b = Berth::new();
    let before = std::fs::read(BERTH).unwrap();
    // Privileged with --init: pid 1 stays berth's own code, and CAP_SYS_PTRACE lets the container
    // open its /proc/1/exe: it must find a sealed copy, never the host file.
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "--privileged",
        "--init",
        "bb:local",
        "sh",
        "-c",
        "echo pwned > /proc/1/exe; echo pwned >> /proc/1/exe; readlink /proc/1/exe",
    ]);
    assert!(
        text(&out.stdout).contains("memfd:berth"),
        "pid 1 runs from the sealed copy: {}",
        text(&out.stdout)
    );
    // Unprivileged: pid 1 is not dumpable, so /proc/1/exe can't even be opened.
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "ex",
        "--init",
        "bb:local",
        "sleep",
        "30",
    ]);
    let out = b.run(&[
        "container",
        "exec",
        "ex",
        "sh",
        "-c",
        "cat /proc/1/exe > /dev/null",
    ]);
    assert!(!out.status.success(), "reading /proc/1/exe must fail");
    assert_eq!(
        std::fs::read(BERTH).unwrap(),
        before,
        "the host binary is unchanged"
    );
}

#[test]
fn logs_tail_follow_and_timestamps() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "talker",
        "bb:local",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line $i; done; echo oops >&2; sleep 1; echo late",
    ]);
    assert!(b.wait_for(std::time::Duration::from_secs(5), || b
        .ok(&["container", "logs", "talker"])
        .contains("line 3")));
    assert_eq!(
        text(
            &b.run(&["container", "logs", "--tail", "1", "talker"])
                .stderr
        ),
        "oops\n"
    );
    let follow = b.run(&["container", "logs", "-f", "talker"]);
    assert_eq!(
        text(&follow.stdout),
        "line 1\nline 2\nline 3\nlate\n",
        "-f follows until the container exits"
    );
    let ts = b.ok(&["container", "logs", "-t", "--tail", "1", "talker"]);
    assert!(ts.starts_with("20") && ts.contains("Z late"), "{ts}");
}

#[test]
fn cp_both_ways_and_export_without_escaping() {
    let b = Berth::new();
    let host = b.dir.path().join("cp");
    std::fs::create_dir(&host).unwrap();
    b.ok(&["container", "run", "-d", "--name", "box", "bb:local", "sh", "-c", "mkdir -p /data/sub && echo inside > /data/sub/f && ln -s / /data/root && ln -s /etc/passwd /data/pw && sleep 60"]);
    assert!(b.wait_for(std::time::Duration::from_secs(5), || b
        .run(&["container", "exec", "box", "test", "-L", "/data/pw"])
        .status
        .success()));
    // Out: a directory with symlinks comes out as symlinks, never followed to the host.
    b.ok(&["container", "cp", "box:/data", host.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(host.join("data/sub/f")).unwrap(),
        "inside\n"
    );
    assert!(std::fs::symlink_metadata(host.join("data/root"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_link(host.join("data/pw")).unwrap(),
        std::path::Path::new("/etc/passwd")
    );
    // A path through a container symlink resolves inside the container: /data/root/etc/hostname
    // is the container's hostname file, not the host's.
    let got = host.join("hn");
    b.ok(&[
        "container",
        "cp",
        "box:/data/root/etc/hostname",
        got.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&got).unwrap().trim(),
        &b.inspect("box")["Id"].as_str().unwrap()[..12]
    );
    // In: a file and a directory; writing through the container's symlink to / stays inside.
    std::fs::write(host.join("new.txt"), "from host\n").unwrap();
    b.ok(&[
        "container",
        "cp",
        host.join("new.txt").to_str().unwrap(),
        "box:/tmp/",
    ]);
    assert_eq!(
        b.ok(&["container", "exec", "box", "cat", "/tmp/new.txt"]),
        "from host\n"
    );
    b.ok(&[
        "container",
        "cp",
        host.join("new.txt").to_str().unwrap(),
        "box:/data/root/tmp/renamed.txt",
    ]);
    assert_eq!(
        b.ok(&["container", "exec", "box", "cat", "/tmp/renamed.txt"]),
        "from host\n"
    );
    assert!(
        !std::path::Path::new("/tmp/renamed.txt").exists(),
        "never written on the host"
    );
    // Stopped containers too.
    b.ok(&["container", "stop", "-t", "1", "box"]);
    let back = host.join("back.txt");
    b.ok(&[
        "container",
        "cp",
        "box:/tmp/new.txt",
        back.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "from host\n");
    // Export: the container's own files (its writes included), not /proc or /sys contents.
    let tarball = host.join("export.tar");
    b.ok(&[
        "container",
        "export",
        "-o",
        tarball.to_str().unwrap(),
        "box",
    ]);
    let mut names = Vec::new();
    for e in tar::Archive::new(std::fs::File::open(&tarball).unwrap())
        .entries()
        .unwrap()
    {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(names.iter().any(|n| n == "tmp/new.txt"));
    assert!(!names.iter().any(|n| n.starts_with("proc/") && n.len() > 5));
    assert!(host_overlays_with(b.root.to_str().unwrap()).is_empty());
}

#[test]
fn health_cmd_flags_probe_the_container() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "bb:local",
        "sleep",
        "60",
    ]);
    assert!(
        b.wait_for(std::time::Duration::from_secs(5), || b.inspect("hc")
            ["State"]["Health"]["Status"]
            == "unhealthy")
    );
    b.ok(&["container", "exec", "hc", "touch", "/tmp/ok"]);
    assert!(
        b.wait_for(std::time::Duration::from_secs(5), || b.inspect("hc")
            ["State"]["Health"]["Status"]
            == "healthy")
    );
    assert!(b.ok(&["container", "ls"]).contains("(healthy)"));
    let log = b.inspect("hc")["State"]["Health"]["Log"].clone();
    assert!(
        log.as_array().unwrap().len() <= 5
            && log.as_array().unwrap().iter().any(|p| p["ExitCode"] == 1)
    );
}
