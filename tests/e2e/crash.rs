//! Crash consistency: a daemon killed with SIGKILL at any point of `container run -d` leaves
//! nothing that the next daemon does not reconcile, and shims are reaped whatever pid 1 does.

use crate::support::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// One berth as the host shows it, next to what its daemon says.
#[derive(Debug, Default)]
struct Observed {
    /// Ids `container ls -a` reports, and those it says are running or created.
    listed: BTreeSet<String>,
    running: BTreeSet<String>,
    created: BTreeSet<String>,
    /// Container directories under the state root.
    records: BTreeSet<String>,
    /// Ids of containers a live shim process serves.
    shims: BTreeSet<String>,
    /// Pinned network namespaces under the run dir.
    pins: BTreeSet<String>,
    /// Per-container run dirs (named by short id).
    run_dirs: BTreeSet<String>,
    /// Host ends of veth pairs in the berth's network namespace.
    veths: usize,
}

impl Observed {
    fn of(b: &Berth) -> Observed {
        let mut o = Observed::default();
        for line in b
            .ok(&["container", "ls", "-a", "--no-trunc", "--format", "json"])
            .lines()
        {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = v["ID"].as_str().unwrap().to_string();
            match v["State"].as_str().unwrap() {
                "running" => o.running.insert(id.clone()),
                "created" => o.created.insert(id.clone()),
                _ => false,
            };
            o.listed.insert(id);
        }
        let names = |dir: &Path| -> BTreeSet<String> {
            std::fs::read_dir(dir)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        o.records = names(&b.root.join("containers"));
        o.pins = names(&b.run_dir.join("netns"));
        o.run_dirs = names(&b.run_dir.join("c"));
        o.shims = live_shims(b).into_iter().map(|(id, _)| id).collect();
        let links = b.host(&["ip", "-o", "link", "show", "type", "veth"]);
        o.veths = text(&links.stdout).lines().count();
        o
    }

    /// Every container ls does not show, or shows in a state the host contradicts.
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.shims != self.running {
            p.push("live shims are not exactly the running containers".into());
        }
        if self.records != self.listed {
            p.push("container records on disk that ls does not show".into());
        }
        // Every container here has a network of its own: a namespace while it runs, none
        // once a start was given up.
        if self.pins != self.running {
            p.push("pinned namespaces are not exactly the running containers".into());
        }
        if self.veths != self.running.len() {
            p.push("veths are not one per running container".into());
        }
        let short: BTreeSet<String> = self.running.iter().map(|i| i[..12].to_string()).collect();
        if self.run_dirs != short {
            p.push("run dirs are not exactly the running containers'".into());
        }
        p
    }
}

/// (container id, shim pid) of every live (not zombie) shim process of this berth.
fn live_shims(b: &Berth) -> Vec<(String, i32)> {
    let prefix = format!("{}/", b.root.join("containers").display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|c| *c == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.len() < 3 || args[1] != "shim" || is_zombie(pid) {
            continue;
        }
        if let Some(id) = args[2].strip_prefix(&prefix) {
            out.push((id.to_string(), pid));
        }
    }
    out
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'))
        .unwrap_or(false)
}

fn random_below(limit: Duration) -> Duration {
    let mut b = [0u8; 8];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut b).unwrap();
    let micros = limit.as_micros().max(1) as u64;
    Duration::from_micros(u64::from_le_bytes(b) % micros)
}

fn kill9(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn a_daemon_killed_during_run_leaves_nothing_the_next_one_does_not_reconcile() {
    // Killed daemons and the shims they leave come back to this process, which reaps them.
    // Declared first, so it outlives (and reaps after) the berth.
    let reaper = Subreaper::new();
    let b = Berth::new();
    // How long one `run -d` takes here (the first one also makes the default network): the
    // kills land anywhere in it, and a little after.
    let mut took = Duration::ZERO;
    for warmup in ["warmup1", "warmup2"] {
        let t = Instant::now();
        b.ok(&[
            "container",
            "run",
            "-d",
            "--name",
            warmup,
            "bb:local",
            "sleep",
            "1000",
        ]);
        took = t.elapsed();
    }
    let window = took * 9 / 8;
    let (mut ran, mut created, mut absent) = (0, 0, 0);
    for round in 0..32 {
        let daemon = b.daemon_pid();
        let name = format!("c{round}");
        let mut cli = b
            .cmd(&[
                "container",
                "run",
                "-d",
                "--name",
                &name,
                "bb:local",
                "sleep",
                "1000",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = random_below(window);
        std::thread::sleep(delay);
        kill9(daemon);
        cli.wait().unwrap();
        // The daemon was orphaned to this process when the command that started it ended.
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(daemon), None);
        // The next command starts a daemon, which must reconcile records with the host.
        let mut seen = Observed::default();
        let settled = b.wait_for(Duration::from_secs(10), || {
            seen = Observed::of(&b);
            seen.problems().is_empty()
        });
        assert!(
            settled,
            "round {round}, killed {delay:?} into `run -d`: {:?}\n{seen:#?}\n{}",
            seen.problems(),
            std::fs::read_to_string(b.run_dir.join("daemon.log")).unwrap_or_default()
        );
        match b.run(&["container", "inspect", &name]) {
            out if !out.status.success() => absent += 1,
            _ if b.status(&name) == "running" => ran += 1,
            _ => created += 1,
        }
    }
    let log = std::fs::read_to_string(b.run_dir.join("daemon.log")).unwrap_or_default();
    let adopted = log
        .lines()
        .filter(|l| l.contains("adopted a container whose start a previous daemon did not record"))
        .count();
    eprintln!(
        "32 kills within {window:?} of `run -d`: {ran} running ({adopted} of them adopted by \
         the next daemon), {created} created, {absent} never recorded"
    );
    // Every one still works: the created ones start, all go.
    for c in Observed::of(&b).created {
        b.ok(&["container", "start", &c]);
    }
    let o = Observed::of(&b);
    assert!(o.problems().is_empty(), "{:?}\n{o:#?}", o.problems());
    drop(b);
    drop(reaper);
}

#[test]
fn exited_shims_and_orphaned_container_processes_are_reaped() {
    // Nothing above the daemon reaps: orphans that get past it reach this process, which
    // reaps nothing until the end, as a pid 1 that never reaps.
    let reaper = Subreaper::new();
    let b = Berth::new();
    let daemon = b.daemon_pid();

    // A shim forks itself off at start, so its first parent is gone at once.
    let id = b
        .ok(&[
            "container",
            "run",
            "-d",
            "--network",
            "none",
            "bb:local",
            "sleep",
            "1",
        ])
        .trim()
        .to_string();
    let shim = live_shims(&b)
        .into_iter()
        .find(|(c, _)| *c == id)
        .expect("a shim runs the container")
        .1;
    assert!(b.wait_for(Duration::from_secs(10), || b.status(&id) == "exited"));
    assert!(
        b.wait_for(Duration::from_secs(3), || !Path::new(&format!(
            "/proc/{shim}"
        ))
        .exists()),
        "the exited shim {shim} is left a zombie"
    );

    // A container whose shim is killed: its init is orphaned, killed with its cgroup, reaped.
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "orphan",
        "--network",
        "none",
        "bb:local",
        "sleep",
        "100",
    ]);
    let init = b.inspect("orphan")["State"]["Pid"].as_i64().unwrap() as i32;
    let orphan_id = b.inspect("orphan")["Id"].as_str().unwrap().to_string();
    let shim = live_shims(&b)
        .into_iter()
        .find(|(c, _)| *c == orphan_id)
        .unwrap()
        .1;
    kill9(shim);
    assert!(b.wait_for(Duration::from_secs(10), || b.status("orphan") == "exited"));
    assert!(
        b.wait_for(Duration::from_secs(5), || !Path::new(&format!(
            "/proc/{init}"
        ))
        .exists()),
        "the orphaned container init {init} is left a zombie"
    );
    assert_eq!(
        zombie_children(daemon),
        Vec::<i32>::new(),
        "zombies of the daemon"
    );
    assert_eq!(
        reaper.zombie_children(),
        Vec::<i32>::new(),
        "orphans got past the daemon"
    );
    drop(b);
    drop(reaper);
}

#[test]
fn the_shim_holds_its_lock_for_its_whole_life_with_or_without_a_daemon() {
    let reaper = Subreaper::new();
    let b = Berth::new();
    let id = b
        .ok(&[
            "container",
            "run",
            "-d",
            "--network",
            "none",
            "bb:local",
            "sleep",
            "100",
        ])
        .trim()
        .to_string();
    let lock = b.run_dir.join("c").join(&id[..12]).join("shim.lock");
    let free = || {
        std::process::Command::new("flock")
            .args(["-n", "-x", lock.to_str().unwrap(), "true"])
            .status()
            .unwrap()
            .success()
    };
    assert!(!free(), "held while the container runs");
    let daemon = b.daemon_pid();
    kill9(daemon);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(daemon), None);
    assert!(!free(), "still held with no daemon");
    // The next daemon re-adopts it: starting it again is a no-op, stopping it frees the lock.
    let out = b.run(&["container", "start", &id]);
    assert!(
        out.status.success(),
        "a running container starts as a no-op"
    );
    b.ok(&["container", "stop", "-t", "1", &id]);
    assert!(
        b.wait_for(Duration::from_secs(5), free),
        "released with the shim"
    );
    drop(b);
    drop(reaper);
}

/// Pids of live shim servers (see berth_engine::runtime::shim_server) whose parent is `daemon`.
fn shim_servers(daemon: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.parent == daemon && p.state != 'Z')
        .map(|p| p.pid)
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmdline.split(|c| *c == 0).nth(1) == Some(b"shim-server".as_slice())
        })
        .collect()
}

#[test]
fn a_killed_shim_server_is_replaced_and_reaped() {
    let b = Berth::new();
    let daemon = b.daemon_pid();
    let run = |name: &str| {
        idle(&b, name, "none");
        assert_eq!(b.status(name), "running");
    };
    run("first");
    let servers = shim_servers(daemon);
    assert_eq!(servers.len(), 1, "one shim server forks the shims");
    kill9(servers[0]);
    // Reaped by the daemon, not left a zombie; the running container is not its business.
    assert!(
        b.wait_for(Duration::from_secs(5), || !Path::new(&format!(
            "/proc/{}",
            servers[0]
        ))
        .exists()),
        "the killed shim server is left a zombie"
    );
    assert_eq!(b.status("first"), "running");
    run("second");
    let now = shim_servers(daemon);
    assert_eq!(now.len(), 1, "a new shim server took over");
    assert_ne!(now[0], servers[0]);
    let shims: BTreeSet<String> = live_shims(&b).into_iter().map(|(id, _)| id).collect();
    for name in ["first", "second"] {
        let id = b.inspect(name)["Id"].as_str().unwrap().to_string();
        assert!(
            shims.contains(&id),
            "{name}'s shim is found by its command line"
        );
    }
}
