//! The daemon's container manager: create, start, stop, kill, remove; watching every shim's
//! exit through a pidfd; restart policies with Docker's backoff; re-adopting live shims when the
//! daemon starts again.
//!
//! Why one long file: create, start, stop, remove and restart share one record lock and one
//! shim protocol; their ordering rules are easier to check side by side than across files.

use super::http::ApiError;
use super::images::Images;
use super::networks::Networks;
use super::shim_spawn::Outcome;
use berth_engine::cgroups::{Cgroup, Hierarchies, Limits};
use berth_engine::container::{
    self as model, ContainerConfig, ContainerRecord, HealthStatus, ImageDefaults, Layout,
    RestartPolicy, SpecInputs, Status,
};
use berth_engine::fsutil::{new_id, read_json, replace_json, write_json};
use berth_engine::runtime::shim_lock::{self, LockState, ShimLockError, StartLock};
use berth_engine::runtime::spec::{CgroupRef, ExitRecord, Mount, MountKind, ShimRecord};
use berth_engine::runtime::{procinfo, shim::SPEC_FILE};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::sync::{watch, Mutex, RwLock};

/// One container the daemon knows.
pub struct Ctr {
    pub id: String,
    /// The container's name, apart from the record: lookups need no record lock, so they are
    /// safe while an operation holds one (e.g. `start` resolving `network_mode: container:X`).
    /// Only `rename` changes it (see [`Ctr::name`]).
    name: std::sync::RwLock<String>,
    /// The record; every state change happens under this lock and is persisted before release.
    pub rec: Mutex<ContainerRecord>,
    /// Status broadcasts for waiters (stop, wait, logs -f).
    pub status: watch::Sender<Status>,
    /// When the current run started, for the restart backoff's reset rule.
    started: std::sync::Mutex<Option<Instant>>,
    /// Health broadcasts for `depends_on: service_healthy` and `up --wait`.
    pub health: watch::Sender<Option<HealthStatus>>,
}

impl Ctr {
    /// The container's current name.
    pub fn name(&self) -> String {
        self.name.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn new(rec: ContainerRecord) -> Arc<Ctr> {
        Arc::new(Ctr {
            id: rec.id.clone(),
            name: std::sync::RwLock::new(rec.config.name.clone()),
            status: watch::channel(rec.state.status).0,
            health: watch::channel(rec.state.health.as_ref().map(|h| h.status)).0,
            rec: Mutex::new(rec),
            started: std::sync::Mutex::new(None),
        })
    }
}

pub struct Containers {
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub cgroup_parent: String,
    /// The binary shims are started from: a sealed copy of ourselves (see `sealed`).
    shim_exe: PathBuf,
    /// Forks the shims (see `shim_spawn`), from the same binary.
    shim_server: super::shim_spawn::ShimServer,
    images: Arc<Images>,
    pub nets: Arc<Networks>,
    /// For `--rm`: the anonymous volumes of an auto-removed container go with it.
    volumes: super::volumes::Volumes,
    map: RwLock<HashMap<String, Arc<Ctr>>>,
    /// Where removed containers' directories go to be deleted (see `remove`).
    trash: Arc<super::trash::Trash>,
    /// The daemon's event bus, for lifecycle events and every door's `GET /events` (see
    /// `super::events`).
    pub events: super::events::EventBus,
}

/// What `start` hands back: where to attach.
#[derive(Debug, Serialize)]
pub struct Started {
    pub attach_socket: String,
}

/// How long ago a container started, from its record's StartedAt (zero when unknown).
fn running_for(started_at: Option<&str>) -> Duration {
    started_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .unwrap_or_default()
}

/// Writes the container's record atomically; durably (fsync) unless the container is removed
/// when it exits: after a host crash such a container is removed by the next daemon whatever
/// its record says (see `readopt`; an unreadable record removes it as well), so syncing its
/// records would buy nothing and costs two journal commits a write. The same holds for a
/// build's RUN container (`ephemeral`), which the next daemon removes at start.
fn persist(layout: &Layout, rec: &ContainerRecord) -> Result<(), ApiError> {
    let written = match is_discarded(rec) {
        true => replace_json(&layout.record(), rec),
        false => write_json(&layout.record(), rec),
    };
    written.map_err(|e| ApiError::internal(format!("saving container {}: {e}", rec.id)))
}

/// Removed when it exits (`--rm`) or a build's RUN container: see [`persist`].
fn is_discarded(rec: &ContainerRecord) -> bool {
    rec.config.auto_remove || rec.config.ephemeral
}

/// [`persist`] on a blocking thread: a durable write waits for the disk (~1-3 ms here), and
/// the containers of a stack created, started or going down at once each make one; on the
/// runtime's two workers they went one after another, and nothing else ran meanwhile. A
/// write that is not synced is made here: the hop to another thread and back cost more.
async fn persist_off_runtime(layout: &Layout, rec: &ContainerRecord) -> Result<(), ApiError> {
    if is_discarded(rec) {
        return persist(layout, rec);
    }
    let (layout, rec) = (layout.clone(), rec.clone());
    tokio::task::spawn_blocking(move || persist(&layout, &rec))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
}

impl Containers {
    pub fn new(
        root: &Path,
        run_dir: &Path,
        cgroup_parent: &str,
        shim_exe: PathBuf,
        images: Arc<Images>,
        nets: Arc<Networks>,
        volumes: super::volumes::Volumes,
    ) -> Arc<Self> {
        Arc::new(Containers {
            root: root.to_path_buf(),
            run_dir: run_dir.to_path_buf(),
            cgroup_parent: cgroup_parent.to_string(),
            shim_server: super::shim_spawn::ShimServer::new(&shim_exe),
            shim_exe,
            images,
            volumes,
            map: RwLock::new(HashMap::new()),
            trash: Arc::new(super::trash::Trash::new(root.join("removed"))),
            // The daemon's one bus (made in `run`), which the networks already tell.
            events: nets.events.clone(),
            nets,
        })
    }

    pub fn layout(&self, id: &str) -> Layout {
        Layout::new(&self.root, &self.run_dir, id)
    }

    pub async fn all(&self) -> Vec<Arc<Ctr>> {
        self.map.read().await.values().cloned().collect()
    }

    /// The images containers use (by id): what a prune keeps.
    pub async fn image_ids(&self) -> std::collections::BTreeSet<String> {
        let mut ids = std::collections::BTreeSet::new();
        for c in self.all().await {
            ids.insert(c.rec.lock().await.image_id.clone());
        }
        ids
    }

    /// How many containers there are: (all, running or restarting, paused, the rest), as
    /// both doors' `info` report them.
    pub async fn tally(&self) -> (usize, usize, usize, usize) {
        let all = self.all().await;
        let (mut running, mut paused) = (0, 0);
        for c in &all {
            match c.rec.lock().await.state.status {
                Status::Running | Status::Restarting => running += 1,
                Status::Paused => paused += 1,
                _ => {}
            }
        }
        (all.len(), running, paused, all.len() - running - paused)
    }

    /// Finds a container by full id, unique id prefix or name (with or without a leading /).
    pub async fn get(&self, reference: &str) -> Result<Arc<Ctr>, ApiError> {
        let map = self.map.read().await;
        if let Some(c) = map.get(reference) {
            return Ok(c.clone());
        }
        let name = reference.trim_start_matches('/');
        for c in map.values() {
            if c.name() == name {
                return Ok(c.clone());
            }
        }
        let matches: Vec<&Arc<Ctr>> = if reference.len() >= 3 {
            map.values()
                .filter(|c| c.id.starts_with(reference))
                .collect()
        } else {
            Vec::new()
        };
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(ApiError::not_found(format!(
                "no such container: {reference}"
            ))),
            _ => Err(ApiError::bad_request(format!(
                "multiple containers match the prefix {reference}"
            ))),
        }
    }

    /// Loads every record and re-adopts what is still running (called once at daemon start).
    pub async fn restore(self: &Arc<Self>) {
        // Directories of containers removed just before a crash.
        let _ = std::fs::remove_dir_all(self.trash.dir());
        // Not the per-container run dirs (on a host whose /run is not a tmpfs): three small
        // files each are not worth a spread mkdir on every start (measured: an up of 100 the
        // same, a `run --rm` 0.3-0.5 ms faster). Cleared where an earlier daemon set it.
        for (dir, top) in [
            (self.root.join("containers"), true),
            (self.run_dir.join("c"), false),
        ] {
            if let Err(e) = berth_engine::fsutil::set_top_directory(&dir, top) {
                tracing::warn!(path = %dir.display(), error = %e, "preparing a containers directory");
            }
        }
        let dir = self.root.join("containers");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let layout = self.layout(&id);
            let mut rec: ContainerRecord = match read_json(&layout.record()) {
                Ok(r) => r,
                Err(e) => {
                    // A create that crashed before its first record: nothing to keep.
                    tracing::warn!(container = %id, error = %e, "removing a container directory without a readable record");
                    let _ = std::fs::remove_dir_all(entry.path());
                    continue;
                }
            };
            // A stopped container recorded healthy by an older daemon reads as Docker's.
            let stopped = matches!(rec.state.status, Status::Exited | Status::Dead);
            if let Some(h) = rec
                .state
                .health
                .as_mut()
                .filter(|h| stopped && h.status != HealthStatus::Unhealthy)
            {
                h.status = HealthStatus::Unhealthy;
                let _ = persist(&layout, &rec);
            }
            let ctr = Ctr::new(rec);
            self.map.write().await.insert(id.clone(), ctr.clone());
            self.readopt(ctr).await;
        }
    }

    async fn readopt(self: &Arc<Self>, ctr: Arc<Ctr>) {
        let (status, shim_pid, shim_start, healthcheck, running_for) = {
            let r = ctr.rec.lock().await;
            (
                r.state.status,
                r.state.shim_pid,
                r.state.shim_start_time,
                r.config.healthcheck.clone(),
                running_for(r.state.started_at.as_deref()),
            )
        };
        match status {
            Status::Running | Status::Paused if procinfo::is_same_process(shim_pid, shim_start) => {
                tracing::info!(container = %ctr.id, shim = shim_pid, "re-adopted a running container");
                *ctr.started.lock().unwrap() = Some(Instant::now());
                if let Some(hc) = healthcheck {
                    let begin = super::health::Begin::Resumed { running_for };
                    super::health::spawn(self.clone(), ctr.clone(), shim_pid, hc, begin);
                }
                self.spawn_exit_watcher(ctr, shim_pid, shim_start);
            }
            Status::Running | Status::Paused | Status::Restarting => {
                // It ended while no daemon was watching: record how, then apply the policy.
                self.on_exit(ctr, shim_pid).await;
            }
            Status::Created => self.recover_interrupted_start(ctr).await,
            _ => self.apply_daemon_start_policy(ctr).await,
        }
    }

    /// What a daemon start does with a container that is not running.
    async fn apply_daemon_start_policy(self: &Arc<Self>, ctr: Arc<Ctr>) {
        let (policy, manual, auto_remove) = {
            let r = ctr.rec.lock().await;
            (
                r.config.restart,
                r.state.manually_stopped,
                r.config.auto_remove,
            )
        };
        // A --rm container that is not running is removed, as Docker's daemon does on
        // start; this also covers one whose last record was lost with the host.
        if auto_remove {
            if let Err(e) = self.auto_remove(&ctr, false).await {
                tracing::warn!(container = %ctr.id, error = %e.message, "removing a stopped --rm container");
            }
        } else if policy.start_on_daemon_start(manual) {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.start(&ctr, false).await {
                    tracing::warn!(container = %ctr.id, error = %e.message, "restart on daemon start failed");
                }
            });
        }
    }

    /// A `created` record: the container never ran, or a daemon was killed during its start
    /// after the shim was spawned and before the record said `running`. A shim that holds the
    /// container's lock is adopted (at once when it has reported, else as soon as it does);
    /// otherwise what the interrupted start made (network, cgroup, run dir) is released.
    async fn recover_interrupted_start(self: &Arc<Self>, ctr: Arc<Ctr>) {
        let lock = self.layout(&ctr.id).shim_lock();
        match shim_lock::probe(&lock) {
            Ok(LockState::Held) => {
                if !self.try_adopt(&ctr).await {
                    // Still setting the container up: the daemon serves meanwhile, and a
                    // `start` in between is refused by the lock.
                    let this = self.clone();
                    tokio::spawn(async move { this.await_interrupted_start(ctr).await });
                }
            }
            Ok(LockState::Free | LockState::Absent) => {
                if self.settle_unstarted(&ctr).await {
                    self.apply_daemon_start_policy(ctr).await;
                }
            }
            Err(e) => {
                tracing::warn!(container = %ctr.id, error = %e, "cannot tell whether a shim runs the container");
            }
        }
    }

    /// Polls until the shim of an interrupted start reports (adopted) or ends (released).
    async fn await_interrupted_start(self: Arc<Self>, ctr: Arc<Ctr>) {
        let lock = self.layout(&ctr.id).shim_lock();
        let begun = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.try_adopt(&ctr).await {
                return;
            }
            if !matches!(shim_lock::probe(&lock), Ok(LockState::Held)) {
                // It ended without running the container (its exit record says why), or
                // ran and ended between the two looks: either way nothing runs now.
                if !self.try_adopt(&ctr).await && self.settle_unstarted(&ctr).await {
                    tracing::info!(container = %ctr.id, "the shim of an interrupted start ended before the container ran");
                    self.apply_daemon_start_policy(ctr).await;
                }
                return;
            }
            if begun.elapsed() > Duration::from_secs(60) {
                tracing::warn!(container = %ctr.id, path = %lock.display(), "the shim of an interrupted start neither reports nor ends; the container stays created");
                return;
            }
        }
    }

    /// Adopts the live shim a `created` container's run dir names. True when the container
    /// is no longer `created` (adopted here, or changed meanwhile by another operation).
    async fn try_adopt(self: &Arc<Self>, ctr: &Arc<Ctr>) -> bool {
        let layout = self.layout(&ctr.id);
        let Ok(shim) = read_json::<ShimRecord>(&layout.shim_record()) else {
            return false;
        };
        if !procinfo::is_same_process(shim.shim_pid, shim.shim_start_time)
            || procinfo::is_zombie(shim.shim_pid)
        {
            return false;
        }
        let rec = ctr.rec.lock().await;
        if rec.state.status != Status::Created {
            return true;
        }
        tracing::info!(container = %ctr.id, shim = shim.shim_pid, "adopted a container whose start a previous daemon did not record");
        if let Err(e) = self.mark_running(ctr, rec, &shim).await {
            tracing::warn!(container = %ctr.id, error = %e.message, "recording an adopted container");
        }
        true
    }

    /// Releases what an interrupted start of a still `created` container made, and records
    /// why the start failed when its shim said so. False when the container is no longer
    /// `created` (another operation got to it first).
    async fn settle_unstarted(&self, ctr: &Arc<Ctr>) -> bool {
        let layout = self.layout(&ctr.id);
        let mut rec = ctr.rec.lock().await;
        if rec.state.status != Status::Created {
            return false;
        }
        if let Ok(exit) = read_json::<ExitRecord>(&layout.exit_record()) {
            rec.state.exit_code = exit.exit_code;
            rec.state.error = exit.error.unwrap_or_default();
            if let Err(e) = persist(&layout, &rec) {
                tracing::warn!(container = %ctr.id, error = %e.message, "recording a failed start");
            }
        }
        self.release_unstarted(&rec.id).await;
        true
    }

    pub async fn create(
        self: &Arc<Self>,
        mut config: ContainerConfig,
    ) -> Result<Arc<Ctr>, ApiError> {
        let image = self.images.resolve(&config.image).await?;
        let defaults = image_defaults(&image.config);
        // As Docker, the image's STOPSIGNAL and HEALTHCHECK apply unless the container says
        // otherwise; the record keeps them, so inspect shows what runs.
        if config.stop_signal.is_none() {
            config.stop_signal = image
                .config
                .config()
                .as_ref()
                .and_then(|c| c.stop_signal().clone());
        }
        if config.healthcheck.is_none() && !config.no_healthcheck {
            config.healthcheck = berth_engine::container::HealthConfig::from_image(
                &image.raw_config["config"]["Healthcheck"],
            );
        }
        if config.name.is_empty() {
            config.name = self.unique_generated_name().await;
        } else {
            validate_name(&config.name)?;
        }
        for c in self.all().await {
            if c.name() == config.name {
                return Err(ApiError::conflict(format!(
                    "the container name \"/{}\" is already in use by container \"{}\": remove (or rename) that container to be able to reuse that name",
                    config.name, c.id
                )));
            }
        }
        model::RestartPolicy::parse(&config.restart.name()).map_err(ApiError::bad_request)?;
        if config.auto_remove && config.restart != RestartPolicy::No {
            return Err(ApiError::bad_request(
                "conflicting options: cannot specify both --restart and --rm",
            ));
        }
        let argv = model::resolve_command(&config, &defaults);
        if argv.is_empty() {
            return Err(ApiError::bad_request("no command specified"));
        }
        match config.network_mode.as_str() {
            "" | "none" | "host" => {}
            m if m.starts_with("container:") => {
                self.get(&m["container:".len()..]).await?;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid network mode {other}"
                )))
            }
        }
        for ep in &config.networks {
            if ep.name != super::networks::DEFAULT_NETWORK {
                self.nets
                    .netd
                    .brief(&ep.name, "")
                    .await
                    .map_err(|_| ApiError::not_found(format!("network {} not found", ep.name)))?;
            }
        }
        for l in &config.links {
            let target = l.split(':').next().unwrap_or("");
            self.get(target).await.map_err(|_| {
                ApiError::bad_request(format!("could not get container for {target}"))
            })?;
        }
        for key in config.sysctls.keys() {
            model::check_sysctl(key, &config.network_mode).map_err(ApiError::bad_request)?;
        }
        for p in &config.ports {
            berth_netd::PortSpec::parse(p)
                .map_err(|e| ApiError::bad_request(format!("invalid port {p}: {e}")))?;
        }
        // A bad option or profile is refused now, not at start; the compiled filter stays
        // cached for the start. The daemon is warmed with the default filter (see mod.rs).
        self.seccomp_for(&config).await?;
        let id = new_id();
        let layout = self.layout(&id);
        std::fs::create_dir_all(&layout.dir)?;
        let rec = ContainerRecord {
            id: id.clone(),
            created: berth_engine::runtime::logs::now_rfc3339(),
            config,
            image_id: image.id.clone(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            state: Default::default(),
        };
        persist_off_runtime(&layout, &rec).await?;
        self.events.emit("create", &rec);
        let ctr = Ctr::new(rec);
        self.map.write().await.insert(id, ctr.clone());
        Ok(ctr)
    }

    async fn unique_generated_name(&self) -> String {
        loop {
            let name = super::names::generate();
            let mut taken = false;
            for c in self.all().await {
                if c.name() == name {
                    taken = true;
                }
            }
            if !taken {
                return name;
            }
        }
    }

    /// Starts the container. With `attach`, the shim holds the process until a client attaches.
    pub async fn start(
        self: &Arc<Self>,
        ctr: &Arc<Ctr>,
        attach: bool,
    ) -> Result<Started, ApiError> {
        let layout = self.layout(&ctr.id);
        let mut rec = ctr.rec.lock().await;
        if matches!(rec.state.status, Status::Running | Status::Paused)
            && procinfo::is_same_process(rec.state.shim_pid, rec.state.shim_start_time)
        {
            return Ok(Started {
                attach_socket: layout.attach_socket().display().to_string(),
            });
        }
        std::fs::create_dir_all(&layout.run)
            .map_err(|e| ApiError::internal(format!("creating {}: {e}", layout.run.display())))?;
        // Held from here until the shim's last process ends, across a daemon crash (see
        // shim_lock); refused while a shim of an earlier start still runs.
        let lock = StartLock::acquire(&layout.shim_lock()).map_err(|e| match e {
            ShimLockError::Held { .. } => {
                ApiError::conflict(format!("cannot start container {}: {e}", short(&rec.id)))
            }
            ShimLockError::Io { .. } => ApiError::internal(e.to_string()),
        })?;
        let launched = self.launch(&layout, &mut rec, attach, &lock).await;
        drop(lock);
        let shim = match launched {
            Ok(shim) => shim,
            Err(e) => {
                if rec.state.status == Status::Created {
                    // Never started: nothing of this attempt stays (Docker's cleanup after a
                    // failed start). One that ran before keeps its namespace until removal.
                    self.release_unstarted(&rec.id).await;
                } else {
                    self.destroy_cgroup(&rec.id).await;
                }
                return Err(e);
            }
        };
        // Docker's order: the networks connect and the volumes mount before `start`.
        self.nets.tell_all("connect", &rec).await;
        self.volumes.tell_mounts("mount", &rec);
        self.mark_running(ctr, rec, &shim).await?;
        tracing::info!(container = %ctr.id, pid = shim.pid, "container started");
        Ok(Started {
            attach_socket: layout.attach_socket().display().to_string(),
        })
    }

    /// Everything of a start up to the shim's report: the shim spawned first (it inherits
    /// `lock` and waits), then the cgroup beside the network and /etc files, the spec, then
    /// the shim let on. A failure is recorded in `rec` when the shim ran. The debug log's
    /// times count from before the shim's spawn; its `shim` phase runs from the go-ahead to
    /// the report.
    async fn launch(
        &self,
        layout: &Layout,
        rec: &mut ContainerRecord,
        attach: bool,
        lock: &StartLock,
    ) -> Result<ShimRecord, ApiError> {
        // Phase timings for `BERTH_LOG=berth_daemon::containers=debug` (docs/performance.md).
        let began = Instant::now();
        // The cgroup's directories (one per v1 hierarchy, ~0.5 ms) are made on a blocking
        // thread from here, beside the shim's spawn and the network and files; only the spec
        // needs them. Never left running: a cgroup made after the caller's cleanup would leak.
        let (cg_name, limits) = (rec.id.clone(), limits_of(&rec.config));
        let parent = self.cgroup_parent.clone();
        let cgroup = tokio::task::spawn_blocking(move || {
            let hierarchies = berth_engine::cgroups::hierarchies()?;
            Cgroup::create_on(&hierarchies, &parent, &cg_name, &limits)?;
            Ok(hierarchies)
        });
        // The shim loads while the rest of the start is prepared, and waits for it.
        let shim = match super::shim_spawn::spawn(&self.shim_server, &layout.dir, lock) {
            Ok(shim) => shim,
            Err(e) => {
                let _ = cgroup.await;
                return Err(ApiError::internal(format!("starting the shim: {e}")));
            }
        };
        let prepared = self
            .prepare_launch(layout, rec, attach, cgroup, began)
            .await;
        let (cgroup_done, net_done, files_done) = match prepared {
            Ok(times) => times,
            Err(e) => {
                shim.cancel().await;
                return Err(e);
            }
        };
        let outcome = shim
            .go()
            .await
            .map_err(|e| ApiError::internal(format!("starting the shim: {e}")))?;
        let us = |d: Duration| d.as_micros() as u64;
        // Network and cgroup are made side by side: each is when it was ready.
        tracing::debug!(
            container = %short(&rec.id),
            network_at = us(net_done),
            cgroup_at = us(cgroup_done),
            files = us(files_done.saturating_sub(net_done.max(cgroup_done))),
            shim = us(began.elapsed() - files_done),
            "start phases (micros)"
        );
        match outcome {
            Outcome::Started(record) => Ok(record),
            Outcome::Failed(msg) => {
                let exit: Option<ExitRecord> = read_json(&layout.exit_record()).ok();
                rec.state.exit_code = exit.map(|e| e.exit_code).unwrap_or(128);
                rec.state.error = msg.clone();
                persist(layout, rec)?;
                Err(ApiError::bad_request(format!(
                    "failed to start container {}: {msg}",
                    short(&rec.id)
                )))
            }
        }
    }

    /// The daemon's part of a start, up to the spec the shim reads: cgroup, network, /etc
    /// files, seccomp filter, init layer. Returns when each phase was done (for the debug
    /// log of `launch`).
    async fn prepare_launch(
        &self,
        layout: &Layout,
        rec: &mut ContainerRecord,
        attach: bool,
        cgroup: tokio::task::JoinHandle<berth_engine::cgroups::Result<Hierarchies>>,
        began: Instant,
    ) -> Result<(Duration, Duration, Duration), ApiError> {
        let prepared = self.prepare_network_and_files(layout, rec, began).await;
        let hierarchies = cgroup
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::internal(format!("creating cgroup: {e}")))?;
        let cgroup_done = began.elapsed();
        // Failed after the cgroup was made: the caller removes it (see `start`).
        let p = prepared?;
        let mut layers = p.image.layers.clone();
        layers.push(layout.init_layer());
        let mut spec = model::build_spec(SpecInputs {
            record: rec,
            image: &p.defaults,
            layers,
            layout,
            netns: p.net.netns.clone(),
            cgroup: Some(CgroupRef {
                parent: self.cgroup_parent.clone(),
                name: rec.id.clone(),
                hierarchies: Some(hierarchies),
            }),
            etc_files: p.etc_files,
            wait_attach: attach,
            seccomp: p.seccomp,
        })
        .map_err(ApiError::bad_request)?;
        spec.mounts.iter_mut().for_each(|m| {
            if m.kind == MountKind::Bind && !m.source.is_absolute() {
                m.source = std::env::current_dir().unwrap_or_default().join(&m.source);
            }
        });
        // Rewritten before every start and read by the shim at once: atomic, not durable.
        replace_json(&layout.dir.join(SPEC_FILE), &spec)?;
        Ok((cgroup_done, p.net_done, began.elapsed()))
    }

    /// The part of [`Containers::prepare_launch`] beside the cgroup's creation: image,
    /// network, /etc files, seccomp filter, init layer.
    async fn prepare_network_and_files(
        &self,
        layout: &Layout,
        rec: &ContainerRecord,
        began: Instant,
    ) -> Result<Prepared, ApiError> {
        let image = self.images.resolve(&rec.image_id).await?;
        let defaults = image_defaults(&image.config);
        let shared_netns = match rec.config.network_mode.strip_prefix("container:") {
            Some(other) => Some(self.netns_of(other).await?),
            None => None,
        };
        let exposed = exposed_ports(&image.config);
        let keep = HashMap::new();
        let net = self
            .nets
            .prepare(rec, &exposed, shared_netns, &keep)
            .await?;
        let net_done = began.elapsed();
        let etc_files = write_etc_files(layout, rec, &net.hosts, &net.resolv)?;
        let seccomp = self.write_seccomp(&rec.config, layout).await?;
        let _ = std::fs::remove_file(layout.exit_record());
        let _ = std::fs::remove_file(layout.shim_record());
        berth_engine::runtime::rootfs::write_init_layer(&layout.init_layer())
            .map_err(|e| ApiError::internal(format!("writing the init layer: {e}")))?;
        Ok(Prepared {
            image,
            defaults,
            etc_files,
            seccomp,
            net,
            net_done,
        })
    }

    /// Records that `shim` runs the container and starts watching it (a fresh start, or a
    /// shim adopted after a crash).
    async fn mark_running(
        self: &Arc<Self>,
        ctr: &Arc<Ctr>,
        mut rec: tokio::sync::MutexGuard<'_, ContainerRecord>,
        shim: &ShimRecord,
    ) -> Result<(), ApiError> {
        let layout = self.layout(&ctr.id);
        let st = &mut rec.state;
        st.status = Status::Running;
        st.pid = shim.pid;
        st.pid_start_time = shim.pid_start_time;
        st.shim_pid = shim.shim_pid;
        st.shim_start_time = shim.shim_start_time;
        st.started_at = Some(berth_engine::runtime::logs::now_rfc3339());
        st.finished_at = None;
        st.exit_code = 0;
        st.error.clear();
        st.oom_killed = false;
        st.manually_stopped = false;
        let healthcheck = rec.config.healthcheck.clone();
        rec.state.health = healthcheck.as_ref().map(|_| Default::default());
        // A container removed when it exits keeps the record of its create: a daemon started
        // after a crash finds its shim by the start lock and adopts it from the shim's own
        // record (`recover_interrupted_start`), as it would with this write; one write fewer
        // on the way to `run --rm`'s output.
        if !is_discarded(&rec) {
            persist_off_runtime(&layout, &rec).await?;
        }
        self.events.emit("start", &rec);
        drop(rec);
        ctr.health
            .send_replace(healthcheck.as_ref().map(|_| HealthStatus::Starting));
        if let Some(hc) = healthcheck {
            let begin = super::health::Begin::Started;
            super::health::spawn(self.clone(), ctr.clone(), shim.shim_pid, hc, begin);
        }
        *ctr.started.lock().unwrap() = Some(Instant::now());
        let _ = ctr.status.send_replace(Status::Running);
        self.spawn_exit_watcher(ctr.clone(), shim.shim_pid, shim.shim_start_time);
        Ok(())
    }

    /// What a start that never ran leaves: its network (endpoints, published ports, the
    /// pinned namespace and with it the veths), cgroup and run dir.
    async fn release_unstarted(&self, id: &str) {
        self.nets.release(id).await;
        self.destroy_cgroup(id).await;
        let run = self.layout(id).run;
        if let Err(e) = std::fs::remove_dir_all(&run) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(container = %id, path = %run.display(), error = %e, "removing the run dir");
            }
        }
    }

    fn spawn_exit_watcher(self: &Arc<Self>, ctr: Arc<Ctr>, shim_pid: i32, shim_start: u64) {
        let this = self.clone();
        tokio::spawn(async move {
            wait_process_exit(shim_pid, shim_start).await;
            this.on_exit(ctr, shim_pid).await;
        });
    }

    /// A shim ended: record the exit, then apply the restart policy or auto-remove.
    async fn on_exit(self: &Arc<Self>, ctr: Arc<Ctr>, shim_pid: i32) {
        let layout = self.layout(&ctr.id);
        let mut rec = ctr.rec.lock().await;
        if rec.state.shim_pid != shim_pid
            || !matches!(
                rec.state.status,
                Status::Running | Status::Paused | Status::Restarting
            )
        {
            return;
        }
        let exit: Option<ExitRecord> = read_json(&layout.exit_record()).ok();
        // An --rm container's files go with its cgroup (it cannot restart: create refuses
        // --rm with a restart policy), in one hop; the record of its exit is then not needed.
        let discard = rec.config.auto_remove;
        let (oom, files) = self.teardown(&rec.id, discard).await;
        let files_gone = discard && files.is_ok();
        if !files_gone {
            let _ = std::fs::remove_file(layout.shim_record());
        }
        let st = &mut rec.state;
        st.status = Status::Exited;
        st.exit_code = exit.as_ref().map(|e| e.exit_code).unwrap_or(255);
        st.error = exit
            .as_ref()
            .and_then(|e| e.error.clone())
            .unwrap_or_default();
        st.finished_at = Some(
            exit.map(|e| e.finished_at)
                .unwrap_or_else(berth_engine::runtime::logs::now_rfc3339),
        );
        st.oom_killed = oom;
        st.pid = 0;
        st.shim_pid = 0;
        // A container that no longer runs is not healthy: Docker marks it unhealthy when its
        // probing stops (moby's Health.CloseMonitorChannel, "for compatibility reasons"); the
        // probes' log stays. The next start begins at "starting" again.
        let health = st.health.as_mut().map(|h| {
            h.status = HealthStatus::Unhealthy;
            h.status
        });
        let ran_for = ctr
            .started
            .lock()
            .unwrap()
            .take()
            .map(|t| t.elapsed())
            .unwrap_or_default();
        let restart = rec.config.restart.should_restart(
            rec.state.exit_code,
            rec.state.restart_count,
            rec.state.manually_stopped,
        );
        let delay = if restart {
            rec.state.status = Status::Restarting;
            Some(rec.state.backoff.next(ran_for))
        } else {
            None
        };
        let auto_remove = rec.config.auto_remove && !restart;
        if !auto_remove {
            // Atomic, not durable: what it records of the exit comes from the shim's exit
            // record, which is durable, and a daemon that finds this record still running
            // with a dead shim (a crash, even of the host) comes back here and derives it
            // again. One fsync fewer on every stop. A container about to be removed needs
            // no record of its exit at all.
            let _ = replace_json(&layout.record(), &*rec);
        }
        let status = rec.state.status;
        tracing::info!(container = %ctr.id, exit_code = rec.state.exit_code, oom, restart, "container exited");
        self.events.emit("die", &rec);
        // As dockerd, which leaves its networks and unmounts its volumes when it stops.
        self.nets.tell_all("disconnect", &rec).await;
        self.volumes.tell_mounts("unmount", &rec);
        drop(rec);
        if health.is_some() {
            ctr.health.send_replace(health);
        }
        let _ = ctr.status.send_replace(status);
        if let Some(delay) = delay {
            let this = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let still = {
                    let mut r = ctr.rec.lock().await;
                    let go = r.state.status == Status::Restarting && !r.state.manually_stopped;
                    if go {
                        r.state.restart_count += 1;
                    }
                    go
                };
                if still {
                    if let Err(e) = this.start(&ctr, false).await {
                        tracing::warn!(container = %ctr.id, error = %e.message, "restart failed");
                        let mut r = ctr.rec.lock().await;
                        r.state.status = Status::Exited;
                        let _ = persist(&this.layout(&ctr.id), &r);
                        drop(r);
                        let _ = ctr.status.send_replace(Status::Exited);
                    }
                }
            });
        } else if auto_remove {
            if let Err(e) = self.auto_remove(&ctr, files_gone).await {
                tracing::warn!(container = %ctr.id, error = %e.message, "removing an exited --rm container");
            }
        }
    }

    /// `--rm`: the container goes with its anonymous volumes, as Docker's daemon removes it
    /// (named volumes stay); `files_gone` as for [`Containers::remove_inner`].
    async fn auto_remove(&self, ctr: &Arc<Ctr>, files_gone: bool) -> Result<(), ApiError> {
        self.remove_inner(ctr, true, true, files_gone).await
    }

    /// The anonymous volumes among `mounts` (of a removed container) that no remaining
    /// container mounts: a stack's one-off `run` shares its service's replica-1 anonymous
    /// volumes, which must outlive it.
    async fn remove_anonymous_volumes(
        &self,
        mounts: Vec<berth_engine::container::MountConfig>,
    ) -> Result<(), ApiError> {
        let mut in_use = std::collections::HashSet::new();
        for c in self.all().await {
            let r = c.rec.lock().await;
            in_use.extend(
                r.config
                    .mounts
                    .iter()
                    .filter(|m| m.kind == "volume")
                    .map(|m| PathBuf::from(&m.source)),
            );
        }
        self.volumes.remove_anonymous(mounts, in_use).await
    }

    /// Removes the container's cgroup; returns whether the kernel OOM-killed in it (read
    /// before it goes, for State.OOMKilled).
    async fn destroy_cgroup(&self, id: &str) -> bool {
        self.teardown(id, false).await.0
    }

    /// Removes the container's cgroup (its OOM kill read first: the answer) and, with
    /// `files`, its files: run dir, then its directory, each leaving with one rename into the
    /// trash (as moby removes layers; see trash). One hop to a blocking thread for all of it,
    /// as each hop is a wake-up of another thread, which a loaded host makes slow.
    async fn teardown(&self, id: &str, files: bool) -> (bool, Result<(), ApiError>) {
        let (parent, id, layout) = (self.cgroup_parent.clone(), id.to_string(), self.layout(id));
        let trash = self.trash.clone();
        let done = tokio::task::spawn_blocking(move || {
            let oom = match Cgroup::open(&parent, &id) {
                Ok(cg) => {
                    let oom = cg.oom_killed().unwrap_or(false);
                    if let Err(e) = cg.destroy() {
                        tracing::warn!(container = %id, error = %e, "removing cgroup");
                    }
                    oom
                }
                Err(_) => false,
            };
            if !files {
                return (oom, Ok(()));
            }
            let _ = trash.discard(&layout.run, None, &format!("{id}.run"));
            (oom, trash.discard(&layout.dir, Some(&layout.record()), &id))
        })
        .await;
        match done {
            Ok((oom, files)) => (oom, files.map_err(ApiError::from)),
            Err(e) => (false, Err(ApiError::internal(e.to_string()))),
        }
    }

    /// Sends `signal`, with its `kill` event (told under the record's lock, so always before
    /// the `die` it causes); `Ok(false)` when the container is not running.
    async fn signal(&self, ctr: &Ctr, signal: i32, manual_stop: bool) -> Result<bool, ApiError> {
        let layout = self.layout(&ctr.id);
        let mut rec = ctr.rec.lock().await;
        // Durable before the signal (a restart policy must not bring back a container the
        // user stopped, whatever crashes next), and once: `stop`'s SIGKILL after its SIGTERM
        // changes nothing more.
        if manual_stop && !rec.state.manually_stopped {
            rec.state.manually_stopped = true;
            persist_off_runtime(&layout, &rec).await?;
        }
        if rec.state.status == Status::Restarting && manual_stop {
            rec.state.status = Status::Exited;
            persist(&layout, &rec)?;
            let _ = ctr.status.send_replace(Status::Exited);
            return Ok(false);
        }
        if !matches!(rec.state.status, Status::Running | Status::Paused) {
            return Ok(false);
        }
        if rec.state.status == Status::Paused {
            if let Ok(cg) = Cgroup::open(&self.cgroup_parent, &rec.id) {
                let _ = cg.thaw();
            }
        }
        let sent = procinfo::send_signal(rec.state.pid, rec.state.pid_start_time, signal).map_err(
            |e| ApiError::internal(format!("signalling container {}: {e}", short(&rec.id))),
        )?;
        if sent {
            self.events.emit_kill(&rec, signal);
        }
        Ok(sent)
    }

    /// Waits until the container is no longer running, or `limit` passes. True when it stopped.
    pub async fn wait_not_running(&self, ctr: &Ctr, limit: Duration) -> bool {
        let mut rx = ctr.status.subscribe();
        let done = |s: &Status| !matches!(s, Status::Running | Status::Paused);
        let stopped = tokio::time::timeout(limit, rx.wait_for(done)).await.is_ok();
        stopped
    }

    /// `signal` (default: the container's stop signal, else SIGTERM), then SIGKILL after the
    /// grace period (`timeout` seconds, default from config), as `docker stop --signal`.
    pub async fn stop(
        &self,
        ctr: &Arc<Ctr>,
        timeout: Option<u64>,
        signal: Option<&str>,
    ) -> Result<(), ApiError> {
        let (sig, grace) = {
            let r = ctr.rec.lock().await;
            let sig = signal
                .or(r.config.stop_signal.as_deref())
                .map(model::parse_signal_number)
                .transpose()
                .map_err(ApiError::bad_request)?;
            (
                sig.unwrap_or(libc::SIGTERM),
                timeout.or(r.config.stop_timeout).unwrap_or(10),
            )
        };
        if !self.signal(ctr, sig, true).await? {
            return Ok(());
        }
        if self.wait_not_running(ctr, Duration::from_secs(grace)).await {
            self.events.emit("stop", &*ctr.rec.lock().await);
            return Ok(());
        }
        tracing::info!(container = %ctr.id, grace, "grace period over, killing");
        self.signal(ctr, libc::SIGKILL, true).await?;
        if !self.wait_not_running(ctr, Duration::from_secs(10)).await {
            return Err(ApiError::internal(format!(
                "container {} did not stop after SIGKILL",
                short(&ctr.id)
            )));
        }
        self.events.emit("stop", &*ctr.rec.lock().await);
        Ok(())
    }

    pub async fn kill(&self, ctr: &Arc<Ctr>, signal: &str) -> Result<(), ApiError> {
        let sig = model::parse_signal_number(signal).map_err(ApiError::bad_request)?;
        let ends = matches!(sig, libc::SIGKILL | libc::SIGTERM);
        if !self.signal(ctr, sig, ends).await? {
            return Err(ApiError::conflict(format!(
                "cannot kill container: {}: container is not running",
                short(&ctr.id)
            )));
        }
        if sig == libc::SIGKILL {
            self.wait_not_running(ctr, Duration::from_secs(10)).await;
        }
        Ok(())
    }

    pub async fn pause(&self, ctr: &Arc<Ctr>, pause: bool) -> Result<(), ApiError> {
        let layout = self.layout(&ctr.id);
        let mut rec = ctr.rec.lock().await;
        let want = if pause {
            Status::Running
        } else {
            Status::Paused
        };
        if rec.state.status != want {
            return Err(ApiError::conflict(format!(
                "container {} is not {}",
                short(&rec.id),
                want.as_str()
            )));
        }
        let cg = Cgroup::open(&self.cgroup_parent, &rec.id)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        if pause { cg.freeze() } else { cg.thaw() }
            .map_err(|e| ApiError::internal(e.to_string()))?;
        rec.state.status = if pause {
            Status::Paused
        } else {
            Status::Running
        };
        persist(&layout, &rec)?;
        self.events
            .emit(if pause { "pause" } else { "unpause" }, &rec);
        let _ = ctr.status.send_replace(rec.state.status);
        Ok(())
    }

    /// `container rename`: a new unique name in the record and in every network's DNS (the
    /// hostname stays, as on Docker).
    pub async fn rename(&self, ctr: &Arc<Ctr>, new: &str) -> Result<(), ApiError> {
        let new = new.trim_start_matches('/');
        validate_name(new)?;
        let mut rec = ctr.rec.lock().await;
        let old = rec.config.name.clone();
        if old == new {
            return Err(ApiError::bad_request(
                "Renaming a container with the same name as its current name",
            ));
        }
        for c in self.all().await {
            if c.id != ctr.id && c.name() == new {
                return Err(ApiError::conflict(format!(
                    "the container name \"/{new}\" is already in use by container \"{}\": remove (or rename) that container to be able to reuse that name",
                    c.id
                )));
            }
        }
        rec.config.name = new.to_string();
        persist(&self.layout(&rec.id), &rec)?;
        *ctr.name.write().unwrap_or_else(|e| e.into_inner()) = new.to_string();
        self.nets.netd.rename_container(&rec.id, &old, new).await?;
        self.events.emit("rename", &rec);
        Ok(())
    }

    /// `container update`: the limits that are `Some` replace the record's and, while the
    /// container runs, its cgroup's (v1 and v2 alike, through [`Cgroup::update`]); a new
    /// restart policy applies from the next exit. The cgroup is written first, so a limit
    /// the kernel refuses (e.g. memory below what is in use) changes nothing.
    pub async fn update(
        &self,
        ctr: &Arc<Ctr>,
        res: model::Resources,
        restart: Option<RestartPolicy>,
    ) -> Result<Vec<String>, ApiError> {
        let mut warnings = Vec::new();
        let mut rec = ctr.rec.lock().await;
        if let Some(policy) = &restart {
            if rec.config.auto_remove && *policy != RestartPolicy::No {
                return Err(ApiError::bad_request(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                ));
            }
        }
        let mut res = res;
        let running = matches!(rec.state.status, Status::Running | Status::Paused);
        let cg = match running {
            true => Some(
                Cgroup::open(&self.cgroup_parent, &rec.id)
                    .map_err(|e| ApiError::internal(e.to_string()))?,
            ),
            false => None,
        };
        if res.blkio_weight.is_some() && cg.as_ref().is_some_and(|cg| !cg.supports_blkio_weight()) {
            // dockerd's words, and its choice: the weight is dropped (before its range is
            // checked), the rest applies.
            warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".to_string());
            res.blkio_weight = None;
        }
        let current = &rec.config.resources;
        // Docker's rules for swap against what the container has (daemon/update_linux.go).
        let memory = res.memory.or(current.memory).filter(|m| *m > 0);
        if res.memory_swap.is_some_and(|s| s > 0) && memory.is_none() {
            return Err(ApiError::bad_request(
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            ));
        }
        if let (Some(m), None, Some(swap)) = (res.memory, res.memory_swap, current.memory_swap) {
            if swap > 0 && m > swap {
                return Err(ApiError::bad_request(format!(
                    "Cannot update container {}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
                    rec.id
                )));
            }
            // The swap set before stays (berth's default of no swap only without one).
            res.memory_swap = Some(swap);
        }
        if let (Some(m), Some(swap)) = (memory, res.memory_swap.filter(|s| *s > 0)) {
            if swap < m {
                return Err(ApiError::bad_request(
                    "Minimum memoryswap limit should be larger than memory limit, see usage",
                ));
            }
        }
        let limits = res.limits();
        limits.validate().map_err(|e| match e {
            berth_engine::cgroups::CgroupError::InvalidLimit { reason, .. }
                if reason.starts_with(char::is_uppercase) =>
            {
                ApiError::bad_request(reason)
            }
            e => ApiError::bad_request(e.to_string()),
        })?;
        if let Some(cg) = cg {
            cg.update(&limits).map_err(|e| {
                ApiError::bad_request(format!("Cannot update container {}: {e}", rec.id))
            })?;
        }
        rec.config.resources = rec.config.resources.merged(&res);
        if let Some(policy) = restart {
            rec.config.restart = policy;
        }
        persist(&self.layout(&rec.id), &rec)?;
        self.events.emit("update", &rec);
        Ok(warnings)
    }

    /// Removes everything a container had: process (with `force`), cgroup, records, logs.
    pub async fn remove(&self, ctr: &Arc<Ctr>, force: bool) -> Result<(), ApiError> {
        self.remove_with(ctr, force, false).await
    }

    /// `remove`, with the container's anonymous volumes too when `volumes` (`rm -v`, `--rm`).
    /// They go before the container is reported gone, so a client waiting for the removal
    /// (`run --rm`) finds them gone as well.
    pub async fn remove_with(
        &self,
        ctr: &Arc<Ctr>,
        force: bool,
        volumes: bool,
    ) -> Result<(), ApiError> {
        self.remove_inner(ctr, force, volumes, false).await
    }

    /// [`Containers::remove_with`], for a container whose cgroup and files went already
    /// when `files_gone` (an --rm container's exit, see `on_exit`).
    async fn remove_inner(
        &self,
        ctr: &Arc<Ctr>,
        force: bool,
        volumes: bool,
        files_gone: bool,
    ) -> Result<(), ApiError> {
        let mounts = ctr.rec.lock().await.config.mounts.clone();
        let running = matches!(
            ctr.rec.lock().await.state.status,
            Status::Running | Status::Paused
        );
        if running && !force {
            return Err(ApiError::conflict(format!(
                "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                short(&ctr.id)
            )));
        }
        if running {
            self.signal(ctr, libc::SIGKILL, true).await?;
            self.wait_not_running(ctr, Duration::from_secs(10)).await;
        }
        {
            let mut rec = ctr.rec.lock().await;
            rec.state.manually_stopped = true;
            rec.state.status = Status::Removing;
        }
        let _ = ctr.status.send_replace(Status::Removing);
        self.nets.release(&ctr.id).await;
        if !files_gone {
            // The cgroup is gone already when the exit was handled (this covers a failed
            // attempt then); the files go here unless they went with it.
            self.teardown(&ctr.id, true).await.1?;
        }
        self.map.write().await.remove(&ctr.id);
        let volumes_gone = if volumes {
            self.remove_anonymous_volumes(mounts).await
        } else {
            Ok(())
        };
        // Last, as dockerd emits it: whoever acts on a `destroy` (a stack's loop bringing the
        // container back) finds the container gone, not still being removed.
        self.events.emit("destroy", &*ctr.rec.lock().await);
        let _ = ctr.status.send_replace(Status::Dead);
        tracing::info!(container = %ctr.id, "container removed");
        volumes_gone
    }

    /// Wires a container's networks again after a network it is on was recreated: address
    /// (the one in `keep` for that network when the new subnet has it free, else a new one),
    /// routes, DNS names and published ports, and /etc/hosts and resolv.conf rewritten in
    /// place (same inode, so the container's bind mounts see them). The container keeps
    /// running; one that is not running is wired at its next start.
    pub async fn rewire(
        &self,
        ctr: &Arc<Ctr>,
        keep: &HashMap<String, std::net::Ipv4Addr>,
    ) -> Result<(), ApiError> {
        let rec = ctr.rec.lock().await;
        let netns = berth_netd::netns_path(&self.run_dir, &rec.id);
        if !rec.config.network_mode.is_empty() || !netns.exists() {
            return Ok(());
        }
        let image = self.images.resolve(&rec.image_id).await?;
        let exposed = exposed_ports(&image.config);
        // Published ports point at the old address: prepare publishes them anew.
        self.nets.netd.unpublish(&rec.id).await?;
        let net = self.nets.prepare(&rec, &exposed, None, keep).await?;
        write_etc_files(&self.layout(&rec.id), &rec, &net.hosts, &net.resolv)?;
        Ok(())
    }

    pub async fn using_image(&self, image_id: &str) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.all().await {
            if c.rec.lock().await.image_id == image_id {
                out.push(c.id.clone());
            }
        }
        out
    }

    /// The containers that mount the volume whose data directory is `data` (a resolved
    /// volume mount's source is that directory).
    pub async fn using_volume(&self, data: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.all().await {
            let r = c.rec.lock().await;
            if r.config
                .mounts
                .iter()
                .any(|m| m.kind == "volume" && Path::new(&m.source) == data)
            {
                out.push(c.id.clone());
            }
        }
        out
    }

    /// The pinned network namespace of a running container (for `container:X` modes).
    pub async fn netns_of(&self, reference: &str) -> Result<PathBuf, ApiError> {
        let other = self.get(reference).await?;
        let r = other.rec.lock().await;
        if r.state.status != Status::Running {
            return Err(ApiError::conflict(format!(
                "cannot join the network of a non running container: {reference}"
            )));
        }
        let path = berth_netd::netns_path(&self.run_dir, &r.id);
        if !path.exists() {
            return Err(ApiError::conflict(format!(
                "container {reference} has no network namespace of its own to share"
            )));
        }
        Ok(path)
    }

    /// An exec into the running container `rec` with its environment, user, working directory,
    /// capabilities and cgroup (for `berth exec` and health probes).
    pub async fn exec_request(
        &self,
        rec: &ContainerRecord,
        args: Vec<String>,
    ) -> Result<berth_engine::runtime::exec::ExecRequest, ApiError> {
        if rec.state.status != Status::Running {
            return Err(ApiError::conflict(format!(
                "container {} is not running",
                short(&rec.id)
            )));
        }
        let image = match self.images.resolve(&rec.image_id).await {
            Ok(img) => image_defaults(&img.config),
            Err(_) => ImageDefaults::default(),
        };
        let cfg = &rec.config;
        let security = berth_engine::security_opt::SecurityOptions::parse(&cfg.security_opt)
            .map_err(ApiError::internal)?;
        Ok(berth_engine::runtime::exec::ExecRequest {
            interactive: false,
            pid: rec.state.pid,
            pid_start_time: rec.state.pid_start_time,
            args,
            env: model::merge_env(&image.env, &cfg.env, &model::hostname_of(rec)),
            user: cfg
                .user
                .clone()
                .filter(|u| !u.is_empty())
                .unwrap_or(image.user),
            cwd: cfg.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or(
                if image.working_dir.is_empty() {
                    "/".into()
                } else {
                    image.working_dir
                },
            ),
            capabilities: berth_engine::runtime::caps::effective_set(
                cfg.privileged,
                &cfg.cap_add,
                &cfg.cap_drop,
            )
            .map_err(ApiError::internal)?,
            cgroups: self
                .cgroup_of(&rec.id)
                .map(|c| c.paths())
                .unwrap_or_default(),
            rlimits: cfg.ulimits.clone(),
            tty: false,
            privileged: cfg.privileged,
            // The file the start wrote; the helper refuses to run if it is gone.
            seccomp: security
                .is_filtered(cfg.privileged)
                .then(|| self.layout(&rec.id).seccomp()),
            no_new_privileges: security.no_new_privileges,
        })
    }

    /// Writes the container's seccomp filter for its shim (and later execs) to read; None
    /// when it runs without one.
    async fn write_seccomp(
        &self,
        cfg: &model::ContainerConfig,
        layout: &model::Layout,
    ) -> Result<Option<PathBuf>, ApiError> {
        let Some(program) = self.seccomp_for(cfg).await? else {
            return Ok(None);
        };
        // Rewritten before every start like the spec: atomic, not durable.
        berth_engine::fsutil::replace_file(&layout.seccomp(), &program.to_bytes())?;
        Ok(Some(layout.seccomp()))
    }

    /// The seccomp filter of a container with `cfg`: from the engine's cache on this worker,
    /// compiled on a blocking thread only when not cached yet (a create and a start each
    /// asked a blocking thread for the cached copy, a hop there and back).
    async fn seccomp_for(
        &self,
        cfg: &model::ContainerConfig,
    ) -> Result<Option<berth_engine::seccomp::Program>, ApiError> {
        let filter = match model::cached_seccomp_filter(cfg) {
            Some(filter) => filter,
            None => {
                let cfg = cfg.clone();
                tokio::task::spawn_blocking(move || model::seccomp_filter(&cfg))
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?
            }
        };
        filter.map_err(ApiError::bad_request)
    }

    /// The binary exec helpers run from (the daemon's sealed copy).
    pub fn helper_exe(&self) -> &Path {
        &self.shim_exe
    }

    pub fn images(&self) -> &Images {
        &self.images
    }

    pub fn cgroup_of(&self, id: &str) -> Option<Cgroup> {
        Cgroup::open(&self.cgroup_parent, id).ok()
    }
}

pub fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    if berth_engine::fsutil::is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid container name \"{name}\", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

pub fn image_defaults(cfg: &oci_spec_config::ImageConfiguration) -> ImageDefaults {
    let c = cfg.config().clone().unwrap_or_default();
    ImageDefaults {
        cmd: c.cmd().clone().unwrap_or_default(),
        entrypoint: c.entrypoint().clone().unwrap_or_default(),
        env: c.env().clone().unwrap_or_default(),
        working_dir: c.working_dir().clone().unwrap_or_default(),
        user: c.user().clone().unwrap_or_default(),
    }
}

mod oci_spec_config {
    pub use oci_spec::image::ImageConfiguration;
}

fn limits_of(cfg: &ContainerConfig) -> Limits {
    cfg.resources.limits()
}

/// The image's EXPOSE list (`--publish-all` publishes these).
fn exposed_ports(cfg: &oci_spec_config::ImageConfiguration) -> Vec<String> {
    cfg.config()
        .as_ref()
        .and_then(|c| c.exposed_ports().clone())
        .unwrap_or_default()
}

/// /etc/hosts, /etc/hostname and /etc/resolv.conf are the engine's files, bind-mounted in.
fn write_etc_files(
    layout: &Layout,
    rec: &ContainerRecord,
    hosts: &str,
    resolv: &str,
) -> Result<Vec<Mount>, ApiError> {
    let hostname = model::hostname_of(rec);
    let mut mounts = Vec::new();
    for (name, content) in [
        ("hosts", hosts.to_string()),
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", resolv.to_string()),
    ] {
        let path = layout.dir.join(name);
        std::fs::write(&path, content)?;
        mounts.push(Mount {
            kind: MountKind::Bind,
            source: path,
            destination: format!("/etc/{name}"),
            readonly: false,
            size: None,
            mode: None,
        });
    }
    Ok(mounts)
}

/// Resolves when the process `pid` (started at `start`) has ended: a pidfd becomes readable
/// then, and works for processes that are not our children (re-adopted shims).
pub async fn wait_process_exit(pid: i32, start: u64) {
    let Ok(fd) = procinfo::pidfd_for(pid, start) else {
        return;
    };
    // The AsyncFd owns the pidfd outright, so the I/O-safety concern behind the deprecation
    // (a registered fd closed behind the reactor's back) cannot arise here.
    #[allow(deprecated)]
    let registered = AsyncFd::new(fd);
    let Ok(afd) = registered else {
        // Fall back to polling /proc.
        while procinfo::is_same_process(pid, start) && !procinfo::is_zombie(pid) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if procinfo::is_same_process(pid, start) {
            // Still there, so a zombie: reaped if it is our child (a zombie's pid is not
            // reused, so this is the same process).
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
        return;
    };
    let _ = afd.readable().await;
    // A shim this daemon started is its child (the daemon is a subreaper): reap it here, or
    // it stays a zombie (see `super::reaper`).
    super::reaper::reap_exited(std::os::fd::AsFd::as_fd(afd.get_ref()));
}

/// What a start prepares beside its cgroup (see `Containers::prepare_network_and_files`).
struct Prepared {
    image: berth_engine::image::ResolvedImage,
    defaults: berth_engine::container::ImageDefaults,
    etc_files: Vec<Mount>,
    seccomp: Option<PathBuf>,
    net: super::networks::NetSetup,
    /// When the network was ready (since the start began), for the debug log.
    net_done: Duration,
}
