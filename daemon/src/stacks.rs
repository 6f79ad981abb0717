//! The stack registry and its reconcile loops. Every stack brought up with `up` is recorded
//! under `$BERTH_ROOT/stacks` (how to load it, what `up` asked for, whether to watch its files,
//! which services a person parked) and gets one loop in the daemon that converges it again
//! on a stack-file edit, when one of its containers disappears, and periodically. The record
//! outlives the daemon: a restarted daemon re-registers every stack and resumes its loop.
//!
//! A loop's pass is `up` in reconcile mode: missing and changed containers are acted on,
//! stopped ones stay stopped (restart policies are the engine's business), parked services
//! are left alone. A file that no longer loads changes nothing; the error is kept for
//! `berth ls`/`ps`, published as a stack event and logged, until a later edit fixes it.

use super::http::ApiError;
use super::watch::{FileWatch, Wake};
use super::Daemon;
use crate::stack::controller::{self, UpOptions};
use berth_compose::StackLoad;
use berth_compose::LABEL_PROJECT;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// How often a loop reconciles when nothing woke it: a safety net only, since edits and lost
/// containers wake it at once and restart policies are the engine's.
const PERIOD: Duration = Duration::from_secs(30);

/// What the daemon keeps of a stack between restarts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackRecord {
    pub name: String,
    pub load: StackLoad,
    /// The last `up`'s options, without its one-time parts (--wait, --force-recreate).
    pub options: UpOptions,
    pub watch: bool,
    /// Services stopped or removed by hand: the loop leaves them alone until `up`/`start`.
    #[serde(default)]
    pub parked: BTreeSet<String>,
    /// `up --no-build`: the loop builds nothing either, even for a watched stack.
    #[serde(default)]
    pub no_build: bool,
}

/// A stack's state as `berth ls` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StackStatus {
    /// Whether the stack's files are watched (filled in by [`Stacks::status`]).
    pub watched: bool,
    /// Why the last pass failed: a file that does not load (with file:line) or an action
    /// that failed. None once a pass succeeds.
    pub error: Option<String>,
    pub last_reconcile: Option<String>,
}

struct Entry {
    record: StackRecord,
    wake: Arc<Wake>,
    cancel: watch::Sender<bool>,
    status: Arc<Mutex<StackStatus>>,
    watch: Option<FileWatch>,
}

pub struct Stacks {
    dir: PathBuf,
    entries: tokio::sync::Mutex<HashMap<String, Entry>>,
}

impl Stacks {
    pub fn new(root: &Path) -> Stacks {
        Stacks {
            dir: root.join("stacks"),
            entries: Default::default(),
        }
    }

    /// Re-registers every recorded stack after a daemon start; each loop reconciles at once.
    pub async fn restore(&self, d: &Arc<Daemon>) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in dir.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                // Leftover temp files of an interrupted write: the rename never happened.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            match berth_engine::fsutil::read_json::<StackRecord>(&path) {
                Ok(rec) => {
                    tracing::info!(stack = %rec.name, "re-registering stack");
                    self.start(d, rec, true).await;
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable stack record")
                }
            }
        }
    }

    /// Records the stack (replacing an earlier record of it) and makes sure its loop runs.
    /// `up` calls this before converging, so a stack whose first `up` failed is retried.
    pub async fn register(&self, d: &Arc<Daemon>, mut rec: StackRecord) -> Result<(), ApiError> {
        rec.options.wait = false;
        rec.options.wait_timeout = None;
        rec.options.force_recreate = false;
        rec.options.renew_anon_volumes = false;
        rec.options.recreate_volumes.clear();
        let mut entries = self.entries.lock().await;
        if let Some(old) = entries.get(&rec.name) {
            // `up SERVICE...` unparks what it names; a plain `up` unparks everything.
            rec.parked = old.record.parked.clone();
            if rec.options.services.is_empty() {
                rec.parked.clear();
            } else {
                rec.parked.retain(|s| !rec.options.services.contains(s));
            }
        }
        self.persist(&rec).await?;
        if let Some(e) = entries.get_mut(&rec.name) {
            let watch_changed = e.record.watch != rec.watch;
            e.record = rec;
            if watch_changed {
                e.watch = None;
            }
            return Ok(());
        }
        drop(entries);
        self.start(d, rec, false).await;
        Ok(())
    }

    /// Forgets the stack (`down`): its loop ends and any wait it was in is cut short.
    pub async fn deregister(&self, name: &str) {
        if let Some(e) = self.entries.lock().await.remove(name) {
            let _ = e.cancel.send(true);
            e.wake.poke();
        }
        let _ = std::fs::remove_file(self.record_path(name));
    }

    /// Parks (or unparks) services of a registered stack; all of them when `services` is empty.
    pub async fn park(
        &self,
        name: &str,
        services: &[String],
        parked: bool,
    ) -> Result<(), ApiError> {
        let mut names = services.to_vec();
        if names.is_empty() {
            // All services: read off the stack's files, outside the registry's lock.
            let Some(load) = self
                .entries
                .lock()
                .await
                .get(name)
                .map(|e| e.record.load.clone())
            else {
                return Ok(());
            };
            let project = tokio::task::spawn_blocking(move || load.load()).await;
            names = match project {
                Ok(Ok(p)) => p.services.keys().cloned().collect(),
                _ => Vec::new(),
            };
        }
        let mut entries = self.entries.lock().await;
        let Some(e) = entries.get_mut(name) else {
            return Ok(());
        };
        let mut rec = e.record.clone();
        for s in names {
            if parked {
                rec.parked.insert(s);
            } else {
                rec.parked.remove(&s);
            }
        }
        if !parked && services.is_empty() {
            // Taking everything back includes services the files no longer name.
            rec.parked.clear();
        }
        self.persist(&rec).await?;
        e.record = rec;
        // A service taken back converges now (a file edit may be waiting for it).
        if !parked {
            e.wake.poke();
        }
        Ok(())
    }

    /// Whether the stack's loop recreates a removed replica of `service`: the stack is
    /// registered, the service not parked, and among those its last `up` named (all when
    /// it named none).
    pub async fn brings_back(&self, project: &str, service: &str) -> bool {
        let entries = self.entries.lock().await;
        entries.get(project).is_some_and(|e| {
            let r = &e.record;
            !r.parked.contains(service)
                && (r.options.services.is_empty()
                    || r.options.services.iter().any(|s| s == service))
        })
    }

    /// How a registered stack is loaded (its files and environment as `up` recorded
    /// them); None when the stack is not registered.
    pub async fn load_of(&self, name: &str) -> Option<StackLoad> {
        let entries = self.entries.lock().await;
        entries.get(name).map(|e| e.record.load.clone())
    }

    /// An `up` through the API converged the stack: any earlier failure is over.
    pub async fn converged(&self, name: &str) {
        if let Some(e) = self.entries.lock().await.get(name) {
            e.status.lock().unwrap().error = None;
        }
    }

    pub async fn status(&self, name: &str) -> Option<StackStatus> {
        let entries = self.entries.lock().await;
        entries.get(name).map(|e| StackStatus {
            watched: e.watch.is_some(),
            ..e.status.lock().unwrap().clone()
        })
    }

    pub async fn names(&self) -> Vec<String> {
        self.entries.lock().await.keys().cloned().collect()
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The record's durable write, on a blocking thread: it waits for the disk, and `up`
    /// has other work to do meanwhile.
    async fn persist(&self, rec: &StackRecord) -> Result<(), ApiError> {
        let (dir, path, rec) = (self.dir.clone(), self.record_path(&rec.name), rec.clone());
        tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::DirBuilderExt;
            // The record holds the caller's environment: root's eyes only.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
            berth_engine::fsutil::write_json(&path, &rec)
                .map_err(|e| ApiError::internal(format!("recording stack {}: {e}", rec.name)))
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    }

    async fn start(&self, d: &Arc<Daemon>, rec: StackRecord, reconcile_now: bool) {
        let wake = Arc::new(Wake::default());
        let (cancel, cancelled) = watch::channel(false);
        let status = Arc::new(Mutex::new(StackStatus::default()));
        let name = rec.name.clone();
        self.entries.lock().await.insert(
            name.clone(),
            Entry {
                record: rec,
                wake: wake.clone(),
                cancel,
                status: status.clone(),
                watch: None,
            },
        );
        if reconcile_now {
            wake.poke();
        }
        tokio::spawn(run_loop(Arc::downgrade(d), name, wake, cancelled));
    }

    /// The record as the loop should act on it, or None once the stack is gone.
    pub async fn snapshot(&self, name: &str) -> Option<(StackRecord, Arc<Mutex<StackStatus>>)> {
        let entries = self.entries.lock().await;
        entries
            .get(name)
            .map(|e| (e.record.clone(), e.status.clone()))
    }

    /// Points the stack's watch (if it has one) at the files `p` was loaded from: every
    /// -f file, .env, env_file, include and extends file.
    pub async fn watch_project(&self, p: &berth_compose::loader::Project) {
        let mut files: Vec<PathBuf> = p.files_read().to_vec();
        // A .env that does not exist yet counts once it is created.
        files.push(p.working_dir.join(".env"));
        files.sort();
        files.dedup();
        let mut trees: Vec<PathBuf> = p
            .services
            .values()
            .filter_map(|s| s.build.as_ref()?.context.as_deref().map(PathBuf::from))
            .filter(|c| c.is_dir())
            .collect();
        trees.sort();
        trees.dedup();
        // A Dockerfile outside its context (`dockerfile: ../Dockerfile`) is watched as a file.
        for b in p.services.values().filter_map(|s| s.build.as_ref()) {
            if let (Some(context), Some(file)) = (&b.context, &b.dockerfile) {
                let path = lexical(&Path::new(context).join(file));
                if !trees.iter().any(|t| path.starts_with(t)) {
                    files.push(path);
                }
            }
        }
        files.sort();
        files.dedup();
        let mut entries = self.entries.lock().await;
        let Some(e) = entries.get_mut(&p.name) else {
            return;
        };
        if !e.record.watch {
            return;
        }
        if e.watch.as_ref().map(|w| w.watches()) == Some((files.as_slice(), trees.as_slice())) {
            return;
        }
        match FileWatch::new(files, trees, e.wake.clone()) {
            Ok(w) => e.watch = Some(w),
            Err(err) => {
                tracing::warn!(stack = %p.name, error = %err, "cannot watch the stack's files");
                e.watch = None;
            }
        }
    }
}

/// `path` with `.` and `..` folded away without asking the filesystem, as the watcher's
/// events name files (`ctx/../Dockerfile` is reported as `Dockerfile` in ctx's parent).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A pass's builds: missing images; and, for a watched stack, every service's (a cached
/// build runs nothing unless its Dockerfile or context changed, and a new image id makes
/// the controller recreate its containers). None after `up --no-build`.
async fn build_in_pass(
    d: &Arc<Daemon>,
    p: &berth_compose::loader::Project,
    rec: &StackRecord,
    cancelled: &watch::Receiver<bool>,
) -> Result<(), ApiError> {
    if rec.no_build || p.services.values().all(|s| s.build.is_none()) {
        return Ok(());
    }
    let watched = rec.watch;
    let stack = p.name.clone();
    let progress = berth_build::Progress::new(berth_build::ProgressMode::Plain, move |text| {
        tracing::debug!(stack = %stack, "build: {}", text.trim_end());
    });
    let when = match watched {
        true => crate::stack::build::When::Always,
        false => crate::stack::build::When::Missing,
    };
    crate::stack::build::ensure_built(d, p, &[], when, &progress, cancelled.clone())
        .await
        .map(drop)
        .map_err(|f| ApiError::bad_request(f.message))
}

async fn run_loop(
    d: Weak<Daemon>,
    name: String,
    wake: Arc<Wake>,
    cancelled: watch::Receiver<bool>,
) {
    let containers_gone = {
        let Some(d) = d.upgrade() else { return };
        d.containers.events.subscribe()
    };
    tokio::spawn(wake_on_destroy(
        containers_gone,
        name.clone(),
        wake.clone(),
        cancelled.clone(),
    ));
    loop {
        if tokio::time::timeout(PERIOD, wake.notified()).await.is_ok() {
            wake.settle().await;
        }
        if *cancelled.borrow() {
            return;
        }
        let Some(d) = d.upgrade() else { return };
        if !reconcile(&d, &name, &cancelled).await {
            return;
        }
        // A pass over a big stack allocates a few MiB and frees them; hand them back rather
        // than let a long-lived daemon keep its high-water mark.
        // SAFETY: malloc_trim only returns free memory to the kernel.
        #[cfg(target_env = "gnu")]
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// A container of the stack removed behind the controller's back comes back within a pass.
async fn wake_on_destroy(
    mut events: tokio::sync::broadcast::Receiver<super::events::Event>,
    name: String,
    wake: Arc<Wake>,
    mut cancelled: watch::Receiver<bool>,
) {
    loop {
        let e = tokio::select! {
            e = events.recv() => e,
            _ = cancelled.wait_for(|c| *c) => return,
        };
        match e {
            Ok(e) if e.action == "destroy" && e.labels.get(LABEL_PROJECT) == Some(&name) => {
                wake.poke()
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

/// One pass; false when the stack is no longer registered.
async fn reconcile(d: &Arc<Daemon>, name: &str, cancelled: &watch::Receiver<bool>) -> bool {
    let _guard = d.stack_lock(name).await;
    let Some((rec, status)) = d.stacks.snapshot(name).await else {
        return false;
    };
    let started = std::time::Instant::now();
    let loaded = tokio::task::spawn_blocking({
        let load = rec.load.clone();
        move || load.load().map_err(ApiError::from)
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(e.to_string())));
    let project = match loaded {
        Ok(p) if p.name != name => Err(ApiError::bad_request(format!(
            "the project's name changed to {:?}; run `berth down -p {name}` and `berth up` to move it",
            p.name
        ))),
        other => other,
    };
    d.metrics.set_stack_config_error(name, project.is_err());
    let result = match project {
        Err(e) => Err(e),
        Ok(p) => {
            d.stacks.watch_project(&p).await;
            let mut o = rec.options.clone();
            o.keep_stopped = true;
            // A watched file is the source of truth: a service deleted from it goes.
            o.remove_orphans |= rec.watch;
            o.skip = rec.parked.clone();
            o.cancel = Some(cancelled.clone());
            let log = super::api_registry::log_progress(name);
            match crate::stack::pull::ensure_images_in_pass(d, &p, log).await {
                Ok(()) => match build_in_pass(d, &p, &rec, cancelled).await {
                    Ok(()) => controller::up(d, &p, &o).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
    };
    let mut st = status.lock().unwrap();
    st.last_reconcile = Some(chrono::Utc::now().to_rfc3339());
    match result {
        Ok(out) => {
            let acted: Vec<_> = out
                .events
                .iter()
                .filter(|e| e.action != "Running")
                .map(|e| format!("{} {} {}", e.kind, e.name, e.action))
                .collect();
            let micros = started.elapsed().as_micros() as u64;
            if acted.is_empty() {
                tracing::debug!(stack = %name, micros, "reconciled: nothing to do");
            } else {
                tracing::info!(stack = %name, actions = ?acted, micros, "reconciled");
            }
            if st.error.take().is_some() {
                tracing::info!(stack = %name, "stack converges again");
                d.containers.events.emit_stack("reconciled", name, "");
            }
        }
        Err(e) if *cancelled.borrow() => {
            tracing::debug!(stack = %name, error = %e.message, "pass cut short: stack going down");
        }
        Err(e) => {
            if st.error.as_deref() != Some(e.message.as_str()) {
                tracing::warn!(stack = %name, error = %e.message, "stack does not converge; what runs stays as it is");
                d.containers.events.emit_stack("error", name, &e.message);
            }
            st.error = Some(e.message);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::lexical;
    use std::path::Path;

    #[test]
    fn lexical_folds_dots_as_the_watcher_names_files() {
        assert_eq!(
            lexical(Path::new("/p/app/../docker/./Dockerfile")),
            Path::new("/p/docker/Dockerfile")
        );
        assert_eq!(
            lexical(Path::new("/p/app/Dockerfile")),
            Path::new("/p/app/Dockerfile")
        );
    }
}
