//! The controller: desired state (the loaded project) against observed state (the daemon's
//! containers, netd's networks, the volume store), then an ordered set of actions. Services
//! start in dependency order, a level of independent services at a time in parallel; stop in
//! reverse. Only containers whose config hash changed are recreated: what to do with each
//! replica is berth-compose's planner's answer ([`replica_action`]), this module executes it.
//!
//! It acts only through the narrow traits of [`super::ports`] (containers, networks, volumes,
//! images), which the daemon implements and the tests fake: see `tests.rs`.
//!
//! Rooms: `resources` (networks and volumes), `waits` (depends_on conditions, `up --wait`),
//! `down`, `oneoff` (`berth run`); [`plan`] answers `up --dry-run`.

use super::convert;
use super::ports::{ContainerPort, Ports, Replica};
use crate::http::ApiError;
use berth_compose::loader::Project;
use berth_compose::{
    levels, replica_action, NetworkChanges, Observed, ObservedReplica, PlanError, ReplicaAction,
    ReplicaPolicy, Step, UpPlanOptions,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

mod down;
mod oneoff;
mod resources;
#[cfg(test)]
mod tests;
pub(super) mod waits;

pub use down::{down, DownOptions};
pub use oneoff::{create_oneoff, RunOptions};
use resources::{ensure_networks, ensure_volumes, resolve_volumes, resolve_volumes_from};
use waits::cancellable;

/// One line of Compose's progress display.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub kind: String,
    pub name: String,
    pub action: String,
    pub millis: u64,
}

/// Where progress events go the moment they happen: the `up`/`down` routes stream them to the
/// CLI's live display. Without a listener they only end up in the [`Outcome`].
#[derive(Debug, Clone, Default)]
pub struct Progress(Option<tokio::sync::mpsc::UnboundedSender<Event>>);

impl Progress {
    pub fn channel() -> (Progress, tokio::sync::mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Progress(Some(tx)), rx)
    }

    /// Sends `e` to the listener, if any, and hands it back for the outcome's list.
    pub fn emit(&self, e: Event) -> Event {
        if let Some(tx) = &self.0 {
            // A listener that went away (the CLI was interrupted) does not stop the work.
            let _ = tx.send(e.clone());
        }
        e
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UpOptions {
    pub services: Vec<String>,
    pub force_recreate: bool,
    /// `up -V`: recreate every container (as --force-recreate) with fresh anonymous
    /// volumes instead of its predecessor's.
    pub renew_anon_volumes: bool,
    /// Volumes whose definition changed that the person agreed to recreate (Compose's
    /// prompt, or `up -y`): made again, with the containers that mount them.
    pub recreate_volumes: Vec<String>,
    pub no_recreate: bool,
    pub remove_orphans: bool,
    pub no_start: bool,
    pub no_deps: bool,
    pub scale: BTreeMap<String, u32>,
    /// Return only once services are running/healthy (`up --wait`), within `wait_timeout` s.
    pub wait: bool,
    pub wait_timeout: Option<u64>,
    /// The reconcile loop's mode: a container that is stopped and unchanged stays stopped
    /// (it exited under its restart policy, or a person stopped it); only missing and changed
    /// containers are acted on.
    pub keep_stopped: bool,
    /// Services left alone entirely (stopped or removed by hand with `berth stop`/`rm`).
    pub skip: BTreeSet<String>,
    /// Act on the stack as it runs (the dependencies of a one-off `run`): networks that
    /// differ from their definition are left as they are, only missing ones are made.
    pub as_running: bool,
    /// Set to true to give up waiting for dependencies (the stack is going down).
    #[serde(skip)]
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
    /// Seconds to wait for a container to stop when it is recreated or removed (`up -t`);
    /// default: the service's stop_grace_period, else 10.
    pub timeout: Option<u64>,
    #[serde(skip)]
    pub progress: Progress,
}

#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub warnings: Vec<String>,
}

fn ev(kind: &str, name: &str, action: &str, t: Instant) -> Event {
    Event {
        kind: kind.into(),
        name: name.into(),
        action: action.into(),
        millis: t.elapsed().as_millis() as u64,
    }
}

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> ApiError {
        match e {
            PlanError::NotFound(m) => ApiError::not_found(m),
            PlanError::Invalid(m) => ApiError::bad_request(m),
        }
    }
}

fn selection(p: &Project, o: &UpOptions) -> Result<HashSet<String>, ApiError> {
    Ok(berth_compose::select_services(
        p,
        &o.services,
        o.no_deps,
        &o.skip,
    )?)
}

impl UpOptions {
    fn policy(&self) -> ReplicaPolicy {
        ReplicaPolicy {
            force_recreate: self.force_recreate || self.renew_anon_volumes,
            no_recreate: self.no_recreate,
            no_start: self.no_start,
            keep_stopped: self.keep_stopped,
        }
    }

    fn network_changes(&self) -> NetworkChanges {
        match self.as_running {
            true => NetworkChanges::CreateMissingOnly,
            false => NetworkChanges::Apply,
        }
    }
}

/// The project's replicas by service, each service's by number.
async fn replicas_by_service<D: ContainerPort>(
    d: &D,
    project: &str,
) -> HashMap<String, Vec<Replica<D::Handle>>> {
    let mut out: HashMap<String, Vec<Replica<D::Handle>>> = HashMap::new();
    for r in d.replicas(project).await {
        out.entry(r.service.clone()).or_default().push(r);
    }
    out
}

pub async fn up<D: Ports>(d: &Arc<D>, p: &Project, o: &UpOptions) -> Result<Outcome, ApiError> {
    let started = Instant::now();
    let mut out = Outcome::default();
    let selected = selection(p, o)?;
    // A missing image or a refused sysctl fails the whole `up` before anything is created.
    preflight(&**d, p, &selected).await?;
    let checked = started.elapsed();
    out.warnings.extend(convert::project_warnings(p));
    ensure_networks(&**d, p, &mut out, &o.progress, o.network_changes()).await?;
    resources::recreate_volumes(d, p, &o.recreate_volumes, &mut out, &o.progress).await?;
    ensure_volumes(&**d, p, &mut out, &o.progress).await?;
    let resources = started.elapsed();
    let mut observed = replicas_by_service(&**d, &p.name).await;

    let mut orphans: Vec<Replica<D::Handle>> = berth_compose::orphan_services(p, observed.keys())
        .iter()
        .flat_map(|s| observed[s].clone())
        .collect();
    // As Compose's isOrphaned: one-off `run` containers that ended are orphans too (at a
    // person's `up`; the stack's loop leaves them to `down --remove-orphans`).
    if !o.keep_stopped {
        for r in d.oneoffs(&p.name).await {
            if d.observe(&r.handle).await.1 == berth_compose::ReplicaState::Stopped {
                orphans.push(r);
            }
        }
    }
    if !orphans.is_empty() {
        if o.remove_orphans {
            let removed = down::remove_all(d, orphans, o.timeout, &o.progress, None).await?;
            out.events.extend(removed);
        } else {
            // Compose's words, with its `%s` of a Go slice: `[a b]`.
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            out.warnings.push(format!("Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", names.join(" ")));
        }
    }

    // Services whose containers this pass recreated: dependents with `restart: true` follow.
    let mut updated: HashSet<String> = HashSet::new();
    // One copy of the project shared by every service's task, not one each.
    let shared = Arc::new(p.clone());
    for level in levels(p, &selected) {
        // Dependencies first: wait for what the level's services need. `create` (no_start)
        // starts nothing, so there is nothing to wait for: a dependency that must complete
        // would never do so.
        for s in level.iter().filter(|_| !o.no_start) {
            out.warnings
                .extend(cancellable(o, d.wait_dependencies(p, s, &o.progress)).await?);
        }
        let mut tasks = Vec::new();
        for s in level {
            let restart_after = p.services[&s]
                .depends_on
                .iter()
                .any(|(dep, c)| c.restart == Some(true) && updated.contains(dep));
            let svc = p.services[&s].clone();
            let want = o
                .scale
                .get(&s)
                .copied()
                .unwrap_or_else(|| berth_compose::replicas(&svc));
            d.metrics().set_desired_replicas(&p.name, &s, want);
            let existing = observed.remove(&s).unwrap_or_default();
            let d = d.clone();
            let p = shared.clone();
            let o = o.clone();
            tasks.push(tokio::spawn(async move {
                let r = converge_service(&d, &p, &s, want, existing, &o, restart_after).await;
                (s, r)
            }));
        }
        for t in tasks {
            let (s, r) = t.await.map_err(|e| ApiError::internal(e.to_string()))?;
            let (events, warnings) = r?;
            if events
                .iter()
                .any(|e| matches!(e.action.as_str(), "Recreated" | "Restarted"))
            {
                updated.insert(s);
            }
            out.events.extend(events);
            out.warnings.extend(warnings);
        }
    }
    record_metrics(d.metrics(), &p.name, started, &out.events);
    let us = |d: std::time::Duration| d.as_micros() as u64;
    tracing::debug!(
        project = %p.name,
        preflight = us(checked),
        networks_volumes = us(resources - checked),
        containers = us(started.elapsed() - resources),
        "up phases (micros)"
    );
    if o.wait {
        let limit = std::time::Duration::from_secs(o.wait_timeout.unwrap_or(3600));
        tokio::time::timeout(limit, cancellable(o, d.wait_ready(p, &selected)))
            .await
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "timed out after {}s waiting for the services to be ready",
                    limit.as_secs()
                ))
            })??;
    }
    out.warnings.sort();
    out.warnings.dedup();
    Ok(out)
}

/// `up --dry-run`: the steps `up` would take, from what exists now; nothing is changed.
/// Errors `up` would stop at before acting (an unknown service, a missing external network
/// or volume, an unsupported network driver) are the plan's errors too. Images are neither
/// checked nor pulled.
pub async fn plan<D: Ports>(d: &Arc<D>, p: &Project, o: &UpOptions) -> Result<Vec<Step>, ApiError> {
    let d = &**d;
    let selected = selection(p, o)?;
    let mut seen = Observed::default();
    for (service, replicas) in replicas_by_service(d, &p.name).await {
        let current = match p.services.get(&service) {
            Some(svc) => d.image_id(&convert::image_name(p, &service, svc)).await,
            None => None,
        };
        let mut list = Vec::new();
        for r in replicas {
            let (config_hash, state, image_id) = d.observe(&r.handle).await;
            list.push(ObservedReplica {
                number: r.number,
                name: r.name,
                config_hash,
                state,
                image_changed: image_changed(current.as_deref(), &image_id),
            });
        }
        seen.containers.insert(service, list);
    }
    seen.networks = resources::observed_networks(d, p).await;
    seen.volumes = resources::observed_volumes(d, p).await?;
    let options = UpPlanOptions {
        selected,
        scale: o.scale.clone(),
        remove_orphans: o.remove_orphans,
        policy: o.policy(),
        network_changes: o.network_changes(),
    };
    Ok(berth_compose::plan_up(p, &options, &seen)?)
}

async fn converge_service<D: Ports>(
    d: &Arc<D>,
    p: &Project,
    s: &str,
    want: u32,
    existing: Vec<Replica<D::Handle>>,
    o: &UpOptions,
    restart_after_dependency: bool,
) -> Result<(Vec<Event>, Vec<String>), ApiError> {
    let d = &**d;
    let svc = &p.services[s];
    let hash = berth_compose::config_hash(svc);
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    let mut have: BTreeMap<u32, Replica<D::Handle>> =
        existing.into_iter().map(|r| (r.number, r)).collect();
    // The container's full config is built only for a container about to be made (and its
    // volumes resolved and filled only then): a pass that changes nothing stays cheap.
    let config = |n: u32| async move {
        let (mut cfg, _) =
            convert::container_config(p, s, svc, n).map_err(ApiError::bad_request)?;
        resolve_volumes(d, &mut cfg).await?;
        resolve_volumes_from(d, p, s, &mut cfg).await?;
        Ok::<_, ApiError>(cfg)
    };
    if !o.keep_stopped {
        // What berth does not act on is told at every `up`, as Compose warns.
        warnings = convert::container_config(p, s, svc, 1)
            .map_err(ApiError::bad_request)?
            .1;
    }
    let policy = o.policy();
    let current_image = d.image_id(&convert::image_name(p, s, svc)).await;
    for n in 1..=want {
        let t = Instant::now();
        let name = berth_compose::container_name(&p.name, s, svc, n);
        let emit = |action: &str| o.progress.emit(ev("Container", &name, action, t));
        let existing = have.remove(&n).map(|r| r.handle);
        let observed = match &existing {
            Some(c) => Some(d.observe(c).await),
            None => None,
        };
        let observed_ref = observed.as_ref().map(|(h, st, _)| (h.as_str(), *st));
        let stale = observed
            .as_ref()
            .is_some_and(|(_, _, id)| image_changed(current_image.as_deref(), id));
        let action = replica_action(&hash, observed_ref, policy, restart_after_dependency, stale);
        match (action, existing) {
            (ReplicaAction::Create { start }, _) => {
                let cfg = config(n).await?;
                emit("Creating");
                let c = d.create_container(cfg).await?;
                events.push(emit("Created"));
                if start {
                    emit("Starting");
                    d.start_container(&c).await?;
                    events.push(emit("Started"));
                }
            }
            (ReplicaAction::Recreate { start, .. }, Some(c)) => {
                emit("Recreate");
                // The old container's anonymous volumes carry over: the new one mounts the
                // same (per replica and target) volume, as Compose hands them on; with -V
                // they go with it, and the new one's are made (and filled) afresh.
                let (mut cfg, _) =
                    convert::container_config(p, s, svc, n).map_err(ApiError::bad_request)?;
                d.stop_container(&c, o.timeout.or(cfg.stop_timeout)).await?;
                if o.renew_anon_volumes {
                    d.remove_container_and_volumes(&c).await?;
                } else {
                    d.remove_container(&c).await?;
                }
                resolve_volumes(d, &mut cfg).await?;
                resolve_volumes_from(d, p, s, &mut cfg).await?;
                let c = d.create_container(cfg).await?;
                events.push(emit("Recreated"));
                if start {
                    emit("Starting");
                    d.start_container(&c).await?;
                    events.push(emit("Started"));
                }
            }
            (ReplicaAction::Start, Some(c)) => {
                emit("Starting");
                d.start_container(&c).await?;
                events.push(emit("Started"));
            }
            (ReplicaAction::Restart, Some(c)) => {
                emit("Restarting");
                d.stop_container(&c, o.timeout).await?;
                d.start_container(&c).await?;
                events.push(emit("Restarted"));
            }
            (ReplicaAction::LeaveStopped, _) => continue,
            // The planner acts on a container only when it saw one: (_, None) is Keep's.
            (ReplicaAction::Keep, _) | (_, None) => events.push(emit("Running")),
        }
    }
    // Scale down: the highest numbers go.
    for (_, c) in have.into_iter().rev() {
        let t = Instant::now();
        o.progress.emit(ev("Container", &c.name, "Stopping", t));
        d.stop_container(&c.handle, o.timeout).await?;
        d.remove_container(&c.handle).await?;
        events.push(o.progress.emit(ev("Container", &c.name, "Removed", t)));
    }
    Ok((events, warnings))
}

/// What would fail half-way, checked before anything is made: every selected service's image
/// must be in the store (berth does not pull or build yet) and its sysctls namespaced.
async fn preflight<D: Ports>(
    d: &D,
    p: &Project,
    selected: &HashSet<String>,
) -> Result<(), ApiError> {
    // Services mostly share images: each is looked up once.
    let mut present = HashSet::new();
    for (name, svc) in p.services.iter().filter(|(n, _)| selected.contains(*n)) {
        let mode = svc.network_mode.as_deref().unwrap_or("");
        for key in svc.sysctls.keys() {
            berth_engine::container::check_sysctl(key, mode)
                .map_err(|e| ApiError::bad_request(format!("service {name}: {e}")))?;
        }
        let image = convert::image_name(p, name, svc);
        if present.contains(&image) {
            continue;
        }
        if d.image_id(&image).await.is_some() {
            present.insert(image);
            continue;
        }
        return Err(ApiError::not_found(match &svc.build {
            Some(_) => format!("service {name}: image {image} has not been built (`berth build {name}` or `berth up --build` builds it)"),
            None => format!("service {name}: no such image: {image} (pull, import or load it first)"),
        }));
    }
    Ok(())
}

/// The container's image (`id`) is not the one the service's image name points at now
/// (`current`): rebuilt, pulled anew or retagged, which `up` recreates for, as Compose.
fn image_changed(current: Option<&str>, id: &str) -> bool {
    matches!(current, Some(c) if !id.is_empty() && c != id)
}

/// One reconcile's duration and its actions (events other than "already running"), by kind.
fn record_metrics(
    metrics: &crate::metrics::Metrics,
    project: &str,
    started: Instant,
    events: &[Event],
) {
    for e in events.iter().filter(|e| e.action != "Running") {
        let kind = format!("{}_{}", e.kind, e.action).to_lowercase();
        metrics.count_action(project, &kind);
    }
    metrics.observe_reconcile(project, started.elapsed());
}
