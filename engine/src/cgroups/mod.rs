//! cgroups v1, v2 and hybrid layouts behind one interface.
//!
//! Every container gets its own cgroup, `<parent>/<name>`, in every hierarchy that carries a
//! controller berth uses; the daemon's parent is `berth`, tests use a unique one. Where each
//! controller lives is read from /proc/self/mountinfo, never guessed, so these all work:
//!
//! - v2: one directory under the cgroup2 mount; controllers are enabled for it through
//!   cgroup.subtree_control on every level above it.
//! - v1: one directory per hierarchy (memory, cpu, cpuacct, cpuset, pids, freezer, devices,
//!   blkio),
//!   whether cpu and cpuacct are co-mounted or not. New cpuset levels get their parent's
//!   cpus and mems; the devices list is cut down to Docker's defaults.
//! - hybrid: the v1 directories, plus one in the cgroup2 hierarchy (normally
//!   /sys/fs/cgroup/unified) so that cgroup.kill reaches every task and the container is
//!   visible to v2 tools; a controller that lives only on cgroup2 is used from there.
//!
//! # API
//!
//! - [`detect`] `() -> Result<Layout>`; [`Layout`] `V1 | V2 | Hybrid`, displayed as
//!   "v1", "v2", "hybrid".
//! - [`Limits`]: memory, memory_swap, cpus, cpu_shares, pids, cpuset_cpus, cpuset_mems, all
//!   optional (`None` = leave as is). Memory alone also caps swap at zero.
//! - [`Cgroup::create`] / [`Cgroup::open`] `(parent, name)` (or [`Cgroup::open_on`] the
//!   [`Hierarchies`] another process read with [`hierarchies`]), then [`Cgroup::add_pid`],
//!   [`Cgroup::update`], [`Cgroup::procs`], [`Cgroup::freeze`] / [`Cgroup::thaw`],
//!   [`Cgroup::kill_all`], [`Cgroup::destroy`], [`Cgroup::stats`] ([`Stats`]),
//!   [`Cgroup::oom_killed`], [`Cgroup::paths`] (the directories an exec helper joins).
//! - Joining without the ~10 ms RCU wait a pid written to cgroup.procs costs: the process
//!   moves itself into the v1 directories ([`Cgroup::join_v1_self`]) and is forked into the
//!   cgroup2 one ([`Cgroup::cgroup2_dir`], else [`Cgroup::add_pid_cgroup2`]).
//! - [`remove_parent`] removes an emptied parent (tests).
//! - [`cpu_shares_to_weight`]: v1 shares to v2 weight, as runc and crun convert.
//! - Every failure is a [`CgroupError`] naming the file and, for writes, the controller.
//!
//! ```no_run
//! use berth_engine::cgroups::{Cgroup, Limits};
//! let limits = Limits { memory: Some(64 << 20), cpus: Some(0.5), ..Default::default() };
//! let cgroup = Cgroup::create("berth", "web-1", &limits)?;
//! cgroup.add_pid(1234)?;
//! let stats = cgroup.stats()?;
//! cgroup.destroy()?;
//! # Ok::<(), berth_engine::cgroups::CgroupError>(())
//! ```
//!
//! All calls are synchronous and touch only small control files; none needs a thread of its
//! own, though freeze and kill_all poll for up to a few seconds.

mod error;
mod files;
mod limits;
mod mounts;
mod names;
mod stats;
mod v1;
mod v2;
mod view;

#[cfg(test)]
mod fake_tree_tests;
#[cfg(test)]
mod host_tests;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub use error::{CgroupError, Result};
pub use limits::{cpu_shares_to_weight, Limits, CPU_PERIOD_US};
pub use mounts::Layout;
pub use stats::Stats;
pub use view::{View, ViewMount, CGROUP_ROOT};

use mounts::{MountTable, V1_CONTROLLERS, V2_CONTROLLERS};
use names::{validate_parent, validate_segment};

/// The host's cgroup mounts as one process read them, for another that starts on the same
/// host and mount namespace and must not spend its start reading them again: the daemon
/// hands them to a container's shim in its spec (see [`Cgroup::open_on`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Hierarchies(MountTable);

/// The host's cgroup mounts (read again only after the mount table changed).
pub fn hierarchies() -> Result<Hierarchies> {
    MountTable::host().map(Hierarchies)
}

/// Detects the host's layout from /proc/self/mountinfo.
pub fn detect() -> Result<Layout> {
    MountTable::host()?.layout()
}

/// Removes the (empty) parent cgroup `parent` from every hierarchy. The daemon leaves its
/// parent in place; tests call this to clean up their unique parent. Fails with EBUSY if a
/// container cgroup is still inside.
pub fn remove_parent(parent: &str) -> Result<()> {
    remove_parent_in(&MountTable::host()?, parent)
}

fn remove_parent_in(table: &MountTable, parent: &str) -> Result<()> {
    validate_parent(parent)?;
    // Every hierarchy is tried even after a failure, so one busy directory does not leave
    // the others behind.
    let mut first_error = None;
    for root in hierarchy_roots(table) {
        if let Err(e) = files::remove_dir(&root.join(parent)) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// How long kill_all waits for a cgroup to empty before giving up.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// One container's cgroup: its directory in each hierarchy.
#[derive(Debug, Clone)]
pub struct Cgroup {
    parent: String,
    name: String,
    layout: Layout,
    /// Every directory of this cgroup, once each (co-mounted v1 controllers share one), with
    /// the controller name used in error messages.
    dirs: Vec<(&'static str, PathBuf)>,
    /// v1 directories by controller.
    v1: Vec<(&'static str, PathBuf)>,
    /// The directory in the cgroup2 hierarchy, when one is mounted.
    unified: Option<PathBuf>,
    /// Controllers served by the cgroup2 hierarchy (all of them on v2, few or none on hybrid).
    v2_controllers: Vec<&'static str>,
    /// Each hierarchy this cgroup has a directory in: (mount point, directory), for the
    /// container's view of it (see `view`).
    hierarchies: Vec<(PathBuf, PathBuf)>,
}

/// Where one resource is controlled: a v1 directory or the cgroup2 directory.
enum Place<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Cgroup {
    /// Creates `<parent>/<name>` in every hierarchy (and the parent where missing) and applies
    /// `limits`. An existing directory is reused, so a daemon that crashed mid-create can
    /// create again. On error the cgroup's own directories are removed again; the parent
    /// stays, as it is shared.
    pub fn create(parent: &str, name: &str, limits: &Limits) -> Result<Cgroup> {
        Cgroup::create_in(&MountTable::host()?, parent, name, limits)
    }

    /// [`Cgroup::create`] on hierarchies read before (the daemon reads them once a start,
    /// for the shim too).
    pub fn create_on(
        hierarchies: &Hierarchies,
        parent: &str,
        name: &str,
        limits: &Limits,
    ) -> Result<Cgroup> {
        Cgroup::create_in(&hierarchies.0, parent, name, limits)
    }

    /// Re-opens an existing cgroup, e.g. after a daemon restart. Fails with
    /// [`CgroupError::NotFound`] when it exists in no hierarchy.
    pub fn open(parent: &str, name: &str) -> Result<Cgroup> {
        Cgroup::open_in(&MountTable::host()?, parent, name)
    }

    /// [`Cgroup::open`] on hierarchies read before (by the daemon, for a shim).
    pub fn open_on(hierarchies: &Hierarchies, parent: &str, name: &str) -> Result<Cgroup> {
        Cgroup::open_in(&hierarchies.0, parent, name)
    }

    fn create_in(table: &MountTable, parent: &str, name: &str, limits: &Limits) -> Result<Cgroup> {
        limits.validate()?;
        let cgroup = Cgroup::locate(table, parent, name)?;
        let made = cgroup.make_dirs(table).and_then(|()| {
            if let Some(dir) = cgroup.v1_dir("devices") {
                // A reused cgroup that already runs tasks keeps the rules it has.
                if files::read_pids(dir)?.is_empty() {
                    v1::restrict_devices(dir)?;
                }
            }
            cgroup.update(limits)
        });
        if let Err(e) = made {
            // Best effort: the creation error is the one worth reporting.
            let _ = cgroup.remove_dirs();
            return Err(e);
        }
        Ok(cgroup)
    }

    fn open_in(table: &MountTable, parent: &str, name: &str) -> Result<Cgroup> {
        let cgroup = Cgroup::locate(table, parent, name)?;
        if !cgroup.dirs.iter().any(|(_, d)| d.is_dir()) {
            return Err(CgroupError::NotFound {
                path: cgroup.dirs[0].1.clone(),
            });
        }
        Ok(cgroup)
    }

    /// Computes the directories without touching them.
    fn locate(table: &MountTable, parent: &str, name: &str) -> Result<Cgroup> {
        validate_parent(parent)?;
        validate_segment(name)?;
        let layout = table.layout()?;
        let mut dirs: Vec<(&'static str, PathBuf)> = Vec::new();
        let mut hierarchies = Vec::new();
        let mut v1 = Vec::new();
        for controller in V1_CONTROLLERS {
            if let Some(mount) = table.v1_mount(controller) {
                let dir = files::join(mount, parent, name);
                if !dirs.iter().any(|(_, d)| *d == dir) {
                    dirs.push((controller, dir.clone()));
                    hierarchies.push((mount.to_path_buf(), dir.clone()));
                }
                v1.push((controller, dir));
            }
        }
        let unified = table
            .v2
            .as_ref()
            .map(|mount| files::join(mount, parent, name));
        if let (Some(mount), Some(dir)) = (&table.v2, &unified) {
            dirs.push(("cgroup2", dir.clone()));
            hierarchies.push((mount.clone(), dir.clone()));
        }
        let v2_controllers = V2_CONTROLLERS
            .into_iter()
            .filter(|c| table.on_v2(c))
            .collect();
        Ok(Cgroup {
            parent: parent.to_string(),
            name: name.to_string(),
            layout,
            dirs,
            v1,
            unified,
            v2_controllers,
            hierarchies,
        })
    }

    /// Creates every level from the hierarchy root down, preparing each as its kind needs.
    fn make_dirs(&self, table: &MountTable) -> Result<()> {
        for hierarchy in &table.v1 {
            let leaf = files::join(&hierarchy.mount_point, &self.parent, &self.name);
            if !self.dirs.iter().any(|(_, d)| *d == leaf) {
                continue; // a hierarchy berth does not use (blkio, name=systemd, ...)
            }
            let has_cpuset = hierarchy.controllers.iter().any(|c| c == "cpuset");
            // The parent is there from the first container on: the leaf alone is made, and
            // the levels above only when it is missing (or the leaf is reused, or the
            // parent's cpuset is empty).
            let made_leaf = match files::make_dir(&leaf) {
                Ok(made) => made,
                Err(CgroupError::Create { source, .. })
                    if source.kind() == io::ErrorKind::NotFound =>
                {
                    false
                }
                Err(e) => return Err(e),
            };
            if made_leaf && (!has_cpuset || v1::inherit_cpuset(&leaf)?) {
                continue;
            }
            for level in levels(&hierarchy.mount_point, &leaf) {
                let made = files::make_dir(&level)?;
                if has_cpuset {
                    v1::inherit_cpuset(&level)?;
                    if made && level != leaf {
                        v1::clone_cpuset_to_children(&level)?;
                    }
                }
            }
        }
        if let (Some(mount), Some(leaf)) = (&table.v2, &self.unified) {
            // With controllers to enable, every level above is seen to (its subtree_control).
            if self.v2_controllers.is_empty() && matches!(files::make_dir(leaf), Ok(true)) {
                return Ok(());
            }
            for level in levels(mount, leaf) {
                if !self.v2_controllers.is_empty() {
                    v2::enable_controllers(
                        level.parent().expect("below the mount"),
                        &self.v2_controllers,
                    )?;
                }
                files::make_dir(&level)?;
            }
        }
        Ok(())
    }

    fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|(c, _)| *c == controller)
            .map(|(_, d)| d.as_path())
    }

    /// Where `controller` is served: its v1 hierarchy, else cgroup2 if it offers it there.
    fn place(&self, controller: &'static str) -> Option<Place<'_>> {
        if let Some(dir) = self.v1_dir(controller) {
            return Some(Place::V1(dir));
        }
        let unified = self.unified.as_deref()?;
        let core = matches!(controller, "freezer" | "cpuacct");
        // v1's blkio is v2's io.
        let v2_name = match controller {
            "cpuacct" => "cpu",
            "blkio" => "io",
            _ => controller,
        };
        (core || self.v2_controllers.contains(&v2_name)).then_some(Place::V2(unified))
    }

    fn require(&self, controller: &'static str) -> Result<Place<'_>> {
        self.place(controller)
            .ok_or(CgroupError::ControllerMissing { controller })
    }

    /// Applies `limits`; settings that are `None` stay as they are. A limit whose controller
    /// the host lacks is an error rather than silently ignored.
    pub fn update(&self, limits: &Limits) -> Result<()> {
        limits.validate()?;
        if let Some(plan) = limits.memory_plan() {
            match self.require("memory")? {
                Place::V1(dir) => v1::apply_memory(dir, &plan)?,
                Place::V2(dir) => v2::apply_memory(dir, &plan)?,
            }
        }
        if let Some(r) = limits.memory_reservation {
            match self.require("memory")? {
                Place::V1(dir) => v1::apply_memory_reservation(dir, r)?,
                Place::V2(dir) => v2::apply_memory_reservation(dir, r)?,
            }
        }
        if let Some(w) = limits.blkio_weight.filter(|w| *w > 0) {
            // A host without a weight file was warned about by the caller (Docker discards
            // the weight then); nothing to write.
            match self.place("blkio") {
                Some(Place::V1(dir)) => {
                    if let Some(f) = v1::blkio_weight_file(dir) {
                        files::write("blkio", dir, f, &w.to_string())?;
                    }
                }
                Some(Place::V2(dir)) => {
                    if let Some((f, v)) = v2::io_weight(dir, w) {
                        files::write("blkio", dir, f, &v.to_string())?;
                    }
                }
                None => {}
            }
        }
        if limits.touches_cpu() {
            match self.require("cpu")? {
                Place::V1(dir) => v1::apply_cpu(dir, limits)?,
                Place::V2(dir) => v2::apply_cpu(dir, limits)?,
            }
        }
        if let Some(pids) = limits.pids {
            let (Place::V1(dir) | Place::V2(dir)) = self.require("pids")?;
            v1::apply_pids(dir, pids)?;
        }
        if limits.cpuset_cpus.is_some() || limits.cpuset_mems.is_some() {
            let (Place::V1(dir) | Place::V2(dir)) = self.require("cpuset")?;
            v1::apply_cpuset(dir, limits)?;
        }
        Ok(())
    }

    /// Whether a block I/O weight can be set here (blkio.weight or BFQ's on v1, io.weight or
    /// io.bfq.weight on v2): dockerd's sysinfo.BlkioWeight.
    pub fn supports_blkio_weight(&self) -> bool {
        match self.place("blkio") {
            Some(Place::V1(dir)) => v1::blkio_weight_file(dir).is_some(),
            Some(Place::V2(dir)) => v2::io_weight(dir, 500).is_some(),
            None => false,
        }
    }

    /// Moves process `pid` (and, on v1, only that thread group) into this cgroup in every
    /// hierarchy. Its future children are born inside.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for (controller, dir) in &self.dirs {
            files::write(controller, dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Moves the calling thread into this cgroup's v1 directories by writing "0" to their
    /// `tasks` files; for the single thread of a container's init that is the whole process.
    /// Moving oneself alone is the one move the kernel makes without taking its global
    /// threadgroup lock, which a pid written to cgroup.procs takes and which waits out an RCU
    /// grace period (~10 ms, the largest cost of a container start on v1). The cgroup2
    /// directory is joined at fork instead (see [`Cgroup::cgroup2_dir`]).
    pub fn join_v1_self(&self) -> Result<()> {
        for (controller, dir) in &self.v1_dirs() {
            files::write(controller, dir, "tasks", "0")?;
        }
        Ok(())
    }

    fn v1_dirs(&self) -> Vec<(&'static str, &Path)> {
        self.dirs
            .iter()
            .filter(|(_, d)| Some(d) != self.unified.as_ref())
            .map(|(c, d)| (*c, d.as_path()))
            .collect()
    }

    /// The directory in the cgroup2 hierarchy (v2, and hybrid's unified mount), where a child
    /// can be born with clone3's CLONE_INTO_CGROUP rather than moved by
    /// [`Cgroup::add_pid_cgroup2`].
    pub fn cgroup2_dir(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// Moves process `pid` into the cgroup2 directory only, for kernels without
    /// CLONE_INTO_CGROUP.
    pub fn add_pid_cgroup2(&self, pid: i32) -> Result<()> {
        match &self.unified {
            Some(dir) => files::write("cgroup2", dir, "cgroup.procs", &pid.to_string()),
            None => Ok(()),
        }
    }

    /// The pids in this cgroup, sorted: the union over every hierarchy, so a process that
    /// joined only some of them is still found.
    pub fn procs(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        for (_, dir) in &self.dirs {
            match files::read_pids(dir) {
                Ok(found) => pids.extend(found),
                Err(CgroupError::Read { source, .. })
                    if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Stops every task (docker pause): v1 freezer.state, v2 cgroup.freeze. Returns once the
    /// kernel reports the cgroup frozen.
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Resumes every task (docker unpause).
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        match self.require("freezer")? {
            Place::V1(dir) => v1::set_frozen(dir, frozen),
            Place::V2(dir) => v2::set_frozen(dir, frozen),
        }
    }

    /// SIGKILLs every task and waits until the cgroup is empty.
    ///
    /// cgroup.kill (Linux 5.14) kills the whole v2 subtree atomically, racing with no fork.
    /// Without it, tasks are listed and signalled one by one inside a freeze: frozen tasks can
    /// neither fork new ones nor exit, so no listed pid is recycled before it is signalled.
    /// The loop repeats until cgroup.procs is empty in every hierarchy.
    pub fn kill_all(&self) -> Result<()> {
        if let Some(dir) = &self.unified {
            if dir.join("cgroup.kill").exists() {
                files::write("cgroup2", dir, "cgroup.kill", "1")?;
            }
        }
        let start = Instant::now();
        let mut first_round = true;
        loop {
            let pids = self.procs()?;
            if pids.is_empty() {
                return Ok(());
            }
            if start.elapsed() > KILL_TIMEOUT {
                return Err(CgroupError::StillPopulated {
                    path: self.dirs[0].1.clone(),
                    pids,
                    waited_ms: KILL_TIMEOUT.as_millis() as u64,
                });
            }
            // Freezing guards against fork races but is not essential, so its failure (no
            // freezer, a task stuck in D state) is not fatal. Only the first round freezes;
            // later rounds mop up stragglers.
            if first_round {
                let _ = self.freeze();
            }
            let signalled = self.signal_all(&pids);
            if first_round {
                // v1-frozen tasks act on SIGKILL only once thawed. This also thaws a
                // container that was paused before the call, or a freeze that timed out.
                let _ = self.thaw();
            }
            signalled?;
            first_round = false;
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal_all(&self, pids: &[i32]) -> Result<()> {
        for &pid in pids {
            match kill(Pid::from_raw(pid), Signal::SIGKILL) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(source) => {
                    return Err(CgroupError::Kill {
                        pid,
                        path: self.dirs[0].1.clone(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// Kills every task and removes the cgroup's directory from every hierarchy; the parent
    /// stays. Safe to call again after a partial failure.
    pub fn destroy(&self) -> Result<()> {
        // Mostly asked once the tasks are gone (the container exited): removing the
        // directories is then all there is to do, without reading every task list first.
        // One that is still busy (or any other failure) takes the whole way.
        let removed = |dir: &PathBuf| match fs::remove_dir(dir) {
            Ok(()) => true,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        };
        if self.dirs.iter().all(|(_, d)| removed(d)) {
            return Ok(());
        }
        self.kill_all()?;
        self.remove_dirs()
    }

    fn remove_dirs(&self) -> Result<()> {
        let mut first_error = None;
        for (_, dir) in &self.dirs {
            if let Err(e) = files::remove_dir(dir) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Resource usage; parts whose controller the host lacks stay zero.
    pub fn stats(&self) -> Result<Stats> {
        let at = |controller| {
            self.place(controller).map(|p| match p {
                Place::V1(dir) => (false, dir),
                Place::V2(dir) => (true, dir),
            })
        };
        stats::read(at("cpuacct"), at("memory"), at("pids"), at("blkio"))
    }

    /// The stats directories opened once, for reading [`Stats`] again and again (metrics).
    pub fn stats_reader(&self) -> Result<StatsReader> {
        let open = |controller| -> Result<Option<(bool, files::OpenDir)>> {
            match self.place(controller) {
                Some(Place::V1(dir)) => Ok(Some((false, files::OpenDir::open(dir)?))),
                Some(Place::V2(dir)) => Ok(Some((true, files::OpenDir::open(dir)?))),
                None => Ok(None),
            }
        };
        Ok(StatsReader {
            cpu: open("cpuacct")?,
            memory: open("memory")?,
            pids: open("pids")?,
            // Containers made before berth joined them to blkio have none: no block I/O.
            io: open("blkio").ok().flatten(),
        })
    }

    /// Whether the kernel OOM-killed a task of this cgroup; the daemon sets State.OOMKilled
    /// from it when the container exits.
    pub fn oom_killed(&self) -> Result<bool> {
        let kills = match self.place("memory") {
            Some(Place::V1(dir)) => stats::oom_kills(false, dir)?,
            Some(Place::V2(dir)) => stats::oom_kills(true, dir)?,
            None => 0,
        };
        Ok(kills > 0)
    }

    /// Every directory of this cgroup, once each. A process joins the cgroup by writing its
    /// pid to `cgroup.procs` in each of them (exec does this before entering the container).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, d)| d.clone()).collect()
    }

    /// The parent this cgroup was created under.
    pub fn parent(&self) -> &str {
        &self.parent
    }

    /// The cgroup's own name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The layout the cgroup was created under.
    pub fn layout(&self) -> Layout {
        self.layout
    }
}

/// A cgroup's stats directories, held open (see [`Cgroup::stats_reader`]). Reads fail once
/// the cgroup is removed.
#[derive(Debug)]
pub struct StatsReader {
    cpu: Option<(bool, files::OpenDir)>,
    memory: Option<(bool, files::OpenDir)>,
    pids: Option<(bool, files::OpenDir)>,
    io: Option<(bool, files::OpenDir)>,
}

impl StatsReader {
    /// Leaves block I/O out: its counters stay zero, and a reader that has no use for them
    /// (the metrics scrape's) reads one file less per cgroup and read.
    pub fn without_block_io(mut self) -> StatsReader {
        self.io = None;
        self
    }

    pub fn stats(&self) -> Result<Stats> {
        fn at(d: &Option<(bool, files::OpenDir)>) -> Option<(bool, &files::OpenDir)> {
            d.as_ref().map(|(v2, dir)| (*v2, dir))
        }
        stats::read(
            at(&self.cpu),
            at(&self.memory),
            at(&self.pids),
            at(&self.io),
        )
    }
}

/// The directories from just below `root` down to `leaf`, top first.
fn levels(root: &Path, leaf: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = leaf
        .ancestors()
        .take_while(|p| *p != root)
        .map(Path::to_path_buf)
        .collect();
    out.reverse();
    out
}

/// The root of every hierarchy (each v1 mount once, plus cgroup2).
fn hierarchy_roots(table: &MountTable) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for mount in V1_CONTROLLERS.iter().filter_map(|c| table.v1_mount(c)) {
        if !roots.iter().any(|r| r == mount) {
            roots.push(mount.to_path_buf());
        }
    }
    roots.extend(table.v2.clone());
    roots
}
