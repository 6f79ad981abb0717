//! The daemon and container lifecycle: create/start/stop/kill/rm, restart policies, grace
//! periods, and live-restore across a killed daemon.

use crate::support::*;
use std::time::{Duration, Instant};

fn pid_alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn daemon_socket_is_root_only_and_info_reports_layout() {
    use std::os::unix::fs::PermissionsExt;
    let b = Berth::new();
    let mode = std::fs::metadata(b.run_dir.join("berth.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(b.daemon_pid() > 0);
    let info: serde_json::Value =
        serde_json::from_str(&b.ok(&["info", "--format", "json"])).unwrap();
    let layout = info["CgroupLayout"].as_str().unwrap();
    assert!(["v1", "v2", "hybrid"].contains(&layout), "{layout}");
    assert_eq!(info["Images"], 1);
    assert_eq!(
        info["StorageRoot"].as_str().unwrap(),
        b.root.to_str().unwrap()
    );
    // A second daemon on the same run dir refuses to start.
    let out = b.run(&["daemon"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("another berth daemon"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn killed_daemon_leaves_containers_running_and_readopts_them() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "long",
        "bb:local",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.2; done",
    ]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "short",
        "bb:local",
        "sh",
        "-c",
        "sleep 1; exit 42",
    ]);
    let long_id = b.inspect("long")["Id"].as_str().unwrap().to_string();
    let pid = b.inspect("long")["State"]["Pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(b.daemon_pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(pid_alive(pid), "the container outlives its daemon");
    let log = b
        .root
        .join("containers")
        .join(&long_id)
        .join(format!("{long_id}-json.log"));
    let before = std::fs::read_to_string(&log).unwrap().lines().count();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        std::fs::read_to_string(&log).unwrap().lines().count() > before,
        "it keeps logging without a daemon"
    );
    // The next command starts a new daemon, which re-adopts both.
    let ls = b.ok(&["container", "ls", "-a"]);
    assert!(ls.contains("long") && ls.contains("short"), "{ls}");
    let long = b.inspect("long");
    assert_eq!(long["State"]["Status"], "running");
    assert_eq!(long["Id"].as_str().unwrap(), long_id, "same id");
    assert_eq!(long["State"]["Pid"].as_i64().unwrap(), pid);
    let short = b.inspect("short");
    assert_eq!(short["State"]["Status"], "exited");
    assert_eq!(
        short["State"]["ExitCode"], 42,
        "the exit that happened meanwhile is recorded"
    );
    // And it still watches the re-adopted one.
    b.ok(&["container", "stop", "-t", "1", "long"]);
    assert_eq!(b.status("long"), "exited");
    assert!(!pid_alive(pid));
}

#[test]
fn stop_uses_the_grace_period_and_init_stops_at_once() {
    let b = Berth::new();
    // sh as pid 1 ignores SIGTERM: stop waits out the grace period, then kills.
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "stubborn",
        "bb:local",
        "sh",
        "-c",
        "sleep 100",
    ]);
    let t = Instant::now();
    b.ok(&["container", "stop", "-t", "2", "stubborn"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(b.inspect("stubborn")["State"]["ExitCode"], 137);
    // With --init, pid 1 forwards SIGTERM to sh's child... sh itself now gets it as a non-init.
    b.ok(&[
        "container",
        "run",
        "-d",
        "--init",
        "--name",
        "polite",
        "bb:local",
        "sh",
        "-c",
        "sleep 100",
    ]);
    let t = Instant::now();
    b.ok(&["container", "stop", "-t", "10", "polite"]);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stopped at once: {:?}",
        t.elapsed()
    );
    assert_eq!(b.inspect("polite")["State"]["ExitCode"], 143);
    // A custom stop signal.
    b.ok(&[
        "container",
        "run",
        "-d",
        "--init",
        "--stop-signal",
        "USR1",
        "--name",
        "usr",
        "bb:local",
        "sh",
        "-c",
        "trap 'exit 9' USR1; while true; do sleep 0.1; done",
    ]);
    b.ok(&["container", "stop", "usr"]);
    assert_eq!(b.inspect("usr")["State"]["ExitCode"], 9);
}

#[test]
fn restart_policies_follow_docker() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "bb:local",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert!(
        b.wait_for(Duration::from_secs(10), || {
            let s = b.inspect("flaky");
            s["State"]["Status"] == "exited" && s["RestartCount"] == 2
        }),
        "on-failure:2 restarts twice: {}",
        b.inspect("flaky")
    );
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure",
        "bb:local",
        "true",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        b.inspect("fine")["RestartCount"],
        0,
        "a clean exit is not a failure"
    );
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        "bb:local",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    assert!(b.wait_for(Duration::from_secs(10), || b.inspect("loop")
        ["RestartCount"]
        .as_u64()
        .unwrap_or(0)
        >= 3));
    // A manual stop wins over the policy.
    b.ok(&["container", "stop", "loop"]);
    let count = b.inspect("loop")["RestartCount"].clone();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(b.status("loop"), "exited");
    assert_eq!(b.inspect("loop")["RestartCount"], count);
}

#[test]
fn a_daemon_start_removes_rm_containers_that_are_not_running() {
    let b = Berth::new();
    // Docker's daemon does the same on start; it is also what makes the records of --rm
    // containers safe to write without fsync (a host crash can only lead to this removal).
    b.ok(&[
        "container",
        "create",
        "--rm",
        "--name",
        "gone",
        "bb:local",
        "true",
    ]);
    b.ok(&["container", "create", "--name", "kept", "bb:local", "true"]);
    b.ok(&["daemon", "stop"]);
    assert_eq!(b.status("kept"), "created");
    let gone = b.run(&["container", "inspect", "gone"]);
    assert!(!gone.status.success(), "the --rm container was removed");
    b.ok(&["container", "rm", "kept"]);
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
}

#[test]
fn unless_stopped_remembers_a_manual_stop_across_daemon_restarts() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "us",
        "--restart",
        "unless-stopped",
        "bb:local",
        "sleep",
        "100",
    ]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "al",
        "--restart",
        "always",
        "bb:local",
        "sleep",
        "100",
    ]);
    b.ok(&["container", "stop", "-t", "1", "us"]);
    b.ok(&["container", "stop", "-t", "1", "al"]);
    b.ok(&["daemon", "stop"]);
    // A new daemon: `always` comes back, `unless-stopped` stays stopped.
    assert!(b.wait_for(Duration::from_secs(10), || b.status("al") == "running"));
    assert_eq!(b.status("us"), "exited");
}

#[test]
fn restart_after_the_container_was_killed_outside_berth_never_runs_two_copies() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "one",
        "--restart",
        "always",
        "bb:local",
        "sleep",
        "100",
    ]);
    let pid = b.inspect("one")["State"]["Pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(b.wait_for(Duration::from_secs(5), || {
        let s = b.inspect("one");
        s["State"]["Status"] == "running" && s["State"]["Pid"].as_i64() != Some(pid)
    }));
    let cg = berth_engine::cgroups::Cgroup::open(
        &b.cgroup_parent,
        b.inspect("one")["Id"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(cg.procs().unwrap().len(), 1, "exactly one process runs");
}

#[test]
fn many_containers_through_their_whole_life_leave_nothing() {
    let b = Berth::new();
    for i in 0..12 {
        let name = format!("c{i}");
        b.ok(&[
            "container",
            "create",
            "--name",
            &name,
            "-m",
            "32m",
            "bb:local",
            "sleep",
            "100",
        ]);
        b.ok(&["container", "start", &name]);
        if i % 2 == 0 {
            b.ok(&["container", "kill", &name]);
            b.ok(&["container", "rm", &name]);
        } else {
            b.ok(&["container", "rm", "-f", &name]);
        }
    }
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
    assert_eq!(
        std::fs::read_dir(b.root.join("containers"))
            .unwrap()
            .count(),
        0,
        "no container records"
    );
    let run_c = b.run_dir.join("c");
    assert_eq!(
        std::fs::read_dir(&run_c).map(|d| d.count()).unwrap_or(0),
        0,
        "no runtime dirs"
    );
    for hier in ["memory", "pids", "cpu", "unified", ""] {
        let dir = std::path::Path::new("/sys/fs/cgroup")
            .join(hier)
            .join(&b.cgroup_parent);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            assert_eq!(
                entries.flatten().filter(|e| e.path().is_dir()).count(),
                0,
                "no container cgroups left in {}",
                dir.display()
            );
        }
    }
    assert!(
        host_mounts_with(b.root.to_str().unwrap()).is_empty(),
        "the host never sees container mounts"
    );
    let shims = std::process::Command::new("pgrep")
        .args(["-f", &format!("shim {}", b.root.display())])
        .output()
        .unwrap();
    assert!(text(&shims.stdout).trim().is_empty(), "no shim left");
    assert!(
        host_mounts_with(b.run_dir.to_str().unwrap()).is_empty(),
        "no pinned network namespace left"
    );
}

#[test]
fn run_detached_exec_and_force_remove_leave_no_overlay_mount() {
    let b = Berth::new();
    let id = b
        .ok(&["container", "run", "-d", "bb:local", "sleep", "100"])
        .trim()
        .to_string();
    b.ok(&["container", "exec", &id, "true"]);
    assert!(
        host_overlays_with(&id).is_empty(),
        "the overlay lives in the container's mount namespace only"
    );
    b.ok(&["container", "pause", &id]);
    assert_eq!(b.status(&id), "paused");
    b.ok(&["container", "unpause", &id]);
    b.ok(&["container", "restart", "-t", "1", &id]);
    assert_eq!(b.status(&id), "running");
    b.ok(&["container", "rm", "-f", &id]);
    assert!(host_overlays_with(&id).is_empty());
    let out = b.run(&["container", "inspect", &id]);
    assert!(!out.status.success() && text(&out.stderr).contains("no such container"));
}

#[test]
fn names_are_unique_and_errors_are_clear() {
    let b = Berth::new();
    b.ok(&["container", "create", "--name", "dup", "bb:local"]);
    let out = b.run(&["container", "create", "--name", "dup", "bb:local"]);
    assert!(
        text(&out.stderr).contains("already in use"),
        "{}",
        text(&out.stderr)
    );
    let out = b.run(&["container", "run", "--rm", "no-such-image:1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("no such image"),
        "{}",
        text(&out.stderr)
    );
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "--restart",
        "sometimes",
        "bb:local",
    ]);
    assert!(
        text(&out.stderr).contains("invalid restart policy"),
        "{}",
        text(&out.stderr)
    );
    let out = b.run(&["container", "rm", "nobody-here"]);
    assert!(!out.status.success() && text(&out.stderr).contains("no such container"));
}
