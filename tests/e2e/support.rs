//! Test support: a private berth (own state root, run dir, socket and cgroup parent) per test,
//! a busybox image built from the host's busybox-static, and a cleanup that leaves nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");
pub const BUSYBOX: &str = "/bin/busybox";

pub struct Berth {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub cgroup_parent: String,
    /// The network namespace this berth's daemon lives in (`/run/netns/NAME`): its bridges,
    /// veths and iptables rules never touch the host's.
    pub netns: String,
    /// The state root is a tmpfs of its own (a small disk), unmounted on drop.
    tmpfs_root: bool,
    /// Whether this berth made `netns` (and deletes it when dropped).
    owns_netns: bool,
}

fn unique(prefix: &str) -> String {
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .unwrap();
    format!("{prefix}{:08x}", u32::from_le_bytes(b))
}

impl Berth {
    /// A fresh berth with the busybox image imported as `bb:local`.
    pub fn new() -> Berth {
        Self::create(true)
    }

    /// A berth whose daemon runs in the host's own network namespace (one test proves that
    /// it leaves the host clean).
    pub fn on_host_namespace() -> Berth {
        Self::create(false)
    }

    /// A berth whose state root is a tmpfs of `size` bytes: a disk that fills up.
    pub fn with_root_on_tmpfs(size: u64) -> Berth {
        Self::create_in(true, String::new(), Some(size))
    }

    /// A second berth (own root, run dir, cgroup parent) whose daemon lives in `other`'s
    /// network namespace: two daemons on one "host". Drop it before `other`.
    pub fn sharing_netns_with(other: &Berth) -> Berth {
        assert!(!other.netns.is_empty(), "share a berth's own namespace");
        Self::create_in(false, other.netns.clone(), None)
    }

    fn create(own_netns: bool) -> Berth {
        Self::create_in(own_netns, String::new(), None)
    }

    /// With `own_netns`, a fresh namespace; else `shared` (the host's when empty). With
    /// `tmpfs_root`, the state root is a tmpfs of that many bytes.
    fn create_in(own_netns: bool, shared: String, tmpfs_root: Option<u64>) -> Berth {
        crate::programs::require_all();
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .unwrap();
        let name = unique("berth-e2e-");
        let b = Berth {
            root: dir.path().join("root"),
            run_dir: dir.path().join("run"),
            cgroup_parent: name.clone(),
            netns: if own_netns { name.clone() } else { shared },
            owns_netns: own_netns,
            dir,
            tmpfs_root: tmpfs_root.is_some(),
        };
        if let Some(size) = tmpfs_root {
            std::fs::create_dir(&b.root).unwrap();
            nix::mount::mount(
                Some("tmpfs"),
                &b.root,
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
                Some(format!("size={size},mode=0700").as_str()),
            )
            .unwrap();
        }
        if own_netns {
            sh(&["ip", "netns", "add", &name]);
            b.host(&["ip", "link", "set", "lo", "up"]);
        }
        let tar = b.busybox_tar();
        b.ok(&[
            "image",
            "import",
            "-c",
            "CMD [\"sh\"]",
            tar.to_str().unwrap(),
            "bb:local",
        ]);
        b
    }

    /// A `berth` command run inside this berth's network namespace (so a daemon it starts
    /// lives there too).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.in_netns(BERTH);
        c.args(args)
            .env("BERTH_DNS_UPSTREAM", "127.0.0.1:5399")
            .env("BERTH_ROOT", &self.root)
            .env("BERTH_RUN_DIR", &self.run_dir)
            .env("BERTH_CGROUP_PARENT", &self.cgroup_parent)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs a host command inside this berth's network namespace ("the host" of its containers).
    pub fn host(&self, args: &[&str]) -> Output {
        crate::programs::found(args[0], self.in_netns(args[0]).args(&args[1..]).output())
    }

    /// `program` run in this berth's network namespace (the host's when it has none).
    fn in_netns(&self, program: &str) -> Command {
        if self.netns.is_empty() {
            let mut c = Command::new(program);
            // The host's 127.0.0.1:9323 is shared with every other daemon on the machine.
            c.env("BERTH_METRICS_ADDR", "none");
            return c;
        }
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns))
            .arg(program);
        if !self.owns_netns {
            // 127.0.0.1:9323 of a shared namespace belongs to its owner's daemon.
            c.env("BERTH_METRICS_ADDR", "none");
        }
        c
    }

    pub fn inspect(&self, c: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["container", "inspect", c])).unwrap();
        v[0].clone()
    }

    pub fn status(&self, c: &str) -> String {
        self.inspect(c)["State"]["Status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Polls `f` every 50 ms until it is true or `limit` passes.
    pub fn wait_for(&self, limit: Duration, mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        f()
    }

    /// The prefix of this berth's iptables chains (its daemon's, derived from its root).
    pub fn chain_prefix(&self) -> String {
        berth_daemon::chain_prefix(&self.root)
    }

    pub fn daemon_pid(&self) -> i32 {
        std::fs::read_to_string(self.run_dir.join("berth.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// SIGKILLs the daemon and waits until it is gone (or a zombie): the kill is asynchronous,
    /// and a dying daemon still accepts connections it then resets.
    pub fn kill_daemon(&self) {
        let pid = self.daemon_pid();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let dead = self.wait_for(Duration::from_secs(5), || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        });
        assert!(dead, "daemon {pid} survived SIGKILL");
    }

    /// Writes a rootfs tar of busybox-static with its applets and minimal /etc files.
    pub fn busybox_tar(&self) -> PathBuf {
        self.busybox_tar_with("busybox.tar", &[])
    }

    /// [`Berth::busybox_tar`] plus the directories `extra` (path, uid, gid, mode), written
    /// to `name` in the test's directory.
    pub fn busybox_tar_with(&self, name: &str, extra: &[(&str, u64, u64, u32)]) -> PathBuf {
        let path = self.dir.path().join(name);
        let mut t = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let dir = |t: &mut tar::Builder<std::fs::File>, p: &str, mode: u32| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(mode);
            h.set_size(0);
            t.append_data(&mut h, p, std::io::empty()).unwrap();
        };
        for d in ["bin", "etc", "tmp", "root", "home", "var", "var/www"] {
            dir(&mut t, d, if d == "tmp" { 0o1777 } else { 0o755 });
        }
        let mut f = std::fs::File::open(BUSYBOX).unwrap();
        t.append_file("bin/busybox", &mut f).unwrap();
        let applets = Command::new(BUSYBOX).arg("--list").output().unwrap();
        for a in text(&applets.stdout).lines().filter(|a| *a != "busybox") {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            t.append_link(&mut h, format!("bin/{a}"), "busybox")
                .unwrap();
        }
        let file = |t: &mut tar::Builder<std::fs::File>, p: &str, content: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            t.append_data(&mut h, p, content.as_bytes()).unwrap();
        };
        file(&mut t, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nweb:x:1000:1000::/var/www:/bin/sh\n");
        file(
            &mut t,
            "etc/group",
            "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\nwheel:x:10:web\n",
        );
        file(&mut t, "var/www/index.html", "hello from berth\n");
        for (p, uid, gid, mode) in extra {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(*mode);
            h.set_uid(*uid);
            h.set_gid(*gid);
            h.set_size(0);
            t.append_data(&mut h, p, std::io::empty()).unwrap();
        }
        t.finish().unwrap();
        path
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        // Everything this berth made goes: containers (with their shims and cgroups), the
        // daemon, the cgroup parent, the state directories.
        // A test that ended with the daemon stopped still has containers: the next command
        // starts a daemon that re-adopts them, so they go the regular way.
        let has_containers = std::fs::read_dir(self.root.join("containers"))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if self.run_dir.join("berth.sock").exists() || has_containers {
            // Stacks first: their reconcile loops would bring removed containers back.
            let stacks = self.run(&["ls", "--format", "json"]);
            let stacks: serde_json::Value =
                serde_json::from_slice(&stacks.stdout).unwrap_or_default();
            for s in stacks.as_array().into_iter().flatten() {
                if let Some(name) = s["Name"].as_str() {
                    let _ = self.run(&["-p", name, "down", "-v", "-t", "1"]);
                }
            }
            let ids = self.run(&["container", "ls", "-aq"]);
            for id in text(&ids.stdout).lines() {
                let _ = self.run(&["container", "rm", "-f", id]);
            }
            let _ = self.run(&["daemon", "stop"]);
        }
        kill_dns_servers(&self.run_dir);
        kill_cgroup_tasks(&self.cgroup_parent);
        let _ = berth_engine::cgroups::remove_parent(&self.cgroup_parent);
        // Pinned container namespaces of a daemon that died half-way.
        if let Ok(pins) = std::fs::read_dir(self.run_dir.join("netns")) {
            for p in pins.flatten() {
                let _ = nix::mount::umount2(&p.path(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        // Deleting the namespace takes its bridges, veths and firewall rules with it.
        if self.owns_netns {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.netns])
                .output();
        }
        if self.tmpfs_root {
            let _ = nix::mount::umount2(&self.root, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// A helper process of a test (a host server, a port holder), ended even when the test fails.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn sh(args: &[&str]) -> Output {
    let out = crate::programs::found(args[0], Command::new(args[0]).args(&args[1..]).output());
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    out
}

/// The DNS server processes of a berth's networks (run_dir/dns/*.json: pid and start time),
/// alive or not. They outlive the daemon by design.
pub fn dns_servers(run_dir: &Path) -> Vec<(i32, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(run_dir.join("dns"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.path().extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let Ok(v) = std::fs::read(e.path())
            .map_err(|_| ())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|_| ()))
        else {
            continue;
        };
        if let (Some(pid), Some(start)) = (v["pid"].as_i64(), v["start_time"].as_u64()) {
            out.push((pid as i32, start));
        }
    }
    out
}

/// Start time of a live (non-zombie) process, /proc/PID/stat field 22.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut f = stat.rsplit_once(')')?.1.split_whitespace();
    if f.next()? == "Z" {
        return None;
    }
    f.nth(18)?.parse().ok()
}

/// Ends the DNS servers a berth's networks still have (its networks were not all removed,
/// or a test failed half-way), and waits until they are gone, so its namespace can go.
fn kill_dns_servers(run_dir: &Path) {
    let servers = dns_servers(run_dir);
    for &(pid, start) in &servers {
        if start_time(pid) == Some(start) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while servers.iter().any(|&(p, s)| start_time(p) == Some(s)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills whatever still runs in cgroups under `parent` (a test that failed half-way).
fn kill_cgroup_tasks(parent: &str) {
    for hier in cgroup_hierarchies() {
        let base = hier.join(parent);
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(procs) = std::fs::read_to_string(e.path().join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    // The containers' own cgroups, so the parent can go too.
    for hier in cgroup_hierarchies() {
        let base = hier.join(parent);
        for e in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
}

/// Where a cgroup parent may live: /sys/fs/cgroup itself (a v2 host) and each directory in
/// it (the v1 hierarchies and a hybrid host's v2 tree; on a v2 host these are cgroups whose
/// PARENT subdirectory simply does not exist).
fn cgroup_hierarchies() -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut out = vec![root.to_path_buf()];
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.push(e.path());
        }
    }
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Mount points on the host whose source or target mentions `needle`.
pub fn host_mounts_with(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// Overlay mounts on the host whose line mentions `needle`.
pub fn host_overlays_with(needle: &str) -> Vec<String> {
    host_mounts_with(needle)
        .into_iter()
        .filter(|l| l.contains(" - overlay "))
        .collect()
}

/// Makes this test process the child subreaper of everything it starts, for as long as it
/// lives: a daemon the test kills (and the shims that daemon leaves) come back to it instead
/// of to pid 1, which need not reap. Its drop reaps them (after the berths it outlives).
/// Only for tests that run alone in their process (nextest runs each test in its own).
pub struct Subreaper(());

impl Subreaper {
    pub fn new() -> Subreaper {
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        Subreaper(())
    }

    /// Pids of this process's children that are zombies now (none is reaped).
    pub fn zombie_children(&self) -> Vec<i32> {
        zombie_children(std::process::id() as i32)
    }
}

/// A process as /proc/PID/stat shows it.
pub struct ProcEntry {
    pub pid: i32,
    /// The state letter (R, S, D, Z, ...).
    pub state: char,
    pub parent: i32,
}

/// Every process /proc lists now (one that ends while it is read is left out).
pub fn processes() -> Vec<ProcEntry> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces and parentheses: fields follow the last ')'.
            let mut f = stat[stat.rfind(')')? + 1..].split_whitespace();
            let state = f.next()?.chars().next()?;
            let parent = f.next()?.parse().ok()?;
            Some(ProcEntry { pid, state, parent })
        })
        .collect()
}

/// Pids of `parent`'s children that ended and were not reaped.
pub fn zombie_children(parent: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.state == 'Z' && p.parent == parent)
        .map(|p| p.pid)
        .collect()
}

impl Drop for Subreaper {
    fn drop(&mut self) {
        // Children still alive (shims whose containers were just removed) end within moments.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = nix::sys::prctl::set_child_subreaper(false);
    }
}

/// A container doing nothing on `net` (a network, or `none`), to exec into or stop.
pub fn idle(b: &Berth, name: &str, net: &str) {
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        name,
        "--network",
        net,
        "bb:local",
        "sleep",
        "1000",
    ]);
}
