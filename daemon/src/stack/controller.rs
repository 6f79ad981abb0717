//! The controller: desired state (the loaded project) against observed state (the daemon's
//! containers, netd's networks, the volume store), then an ordered set of actions. Services
//! start in dependency order, a level of independent services at a time in parallel; stop in
//! reverse. Only containers whose config hash changed are recreated.

use super::convert;
use crate::containers::Ctr;
use crate::http::ApiError;
use crate::Daemon;
use berth_compose::loader::Project;
use berth_compose::{
    levels, replica_action, Observed, ObservedReplica, ReplicaAction, ReplicaPolicy, ReplicaState,
    Step, UpPlanOptions, LABEL_HASH, LABEL_NETWORK, LABEL_NUMBER, LABEL_PROJECT, LABEL_SERVICE,
    LABEL_VOLUME,
};
use berth_engine::container::{ContainerConfig, Status};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

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

/// Containers of `project`, by service, as (number, container).
async fn observed(d: &Daemon, project: &str) -> HashMap<String, Vec<(u32, Arc<Ctr>)>> {
    let mut out: HashMap<String, Vec<(u32, Arc<Ctr>)>> = HashMap::new();
    for c in d.containers.all().await {
        let r = c.rec.lock().await;
        if r.config.labels.get(LABEL_PROJECT).map(String::as_str) != Some(project)
            || r.config
                .labels
                .get(berth_compose::LABEL_ONEOFF)
                .map(String::as_str)
                == Some("True")
        {
            continue;
        }
        let svc = r
            .config
            .labels
            .get(LABEL_SERVICE)
            .cloned()
            .unwrap_or_default();
        let n = r
            .config
            .labels
            .get(LABEL_NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        drop(r);
        out.entry(svc).or_default().push((n, c));
    }
    for v in out.values_mut() {
        v.sort_by_key(|(n, _)| *n);
    }
    out
}

fn selection(p: &Project, o: &UpOptions) -> Result<HashSet<String>, ApiError> {
    let mut sel = wanted(p, o)?;
    sel.retain(|s| !o.skip.contains(s));
    Ok(sel)
}

fn wanted(p: &Project, o: &UpOptions) -> Result<HashSet<String>, ApiError> {
    if o.services.is_empty() {
        return Ok(p.services.keys().cloned().collect());
    }
    let mut sel = HashSet::new();
    let mut todo: Vec<String> = o.services.clone();
    while let Some(s) = todo.pop() {
        let svc = p
            .services
            .get(&s)
            .ok_or_else(|| ApiError::bad_request(format!("no such service: {s}")))?;
        if sel.insert(s.clone()) && !o.no_deps {
            todo.extend(
                svc.depends_on
                    .iter()
                    .filter(|(_, d)| d.required)
                    .map(|(k, _)| k.clone()),
            );
        }
    }
    Ok(sel)
}

pub async fn up(d: &Arc<Daemon>, p: &Project, o: &UpOptions) -> Result<Outcome, ApiError> {
    let started = Instant::now();
    let mut out = Outcome::default();
    let selected = selection(p, o)?;
    // A missing image or a refused sysctl fails the whole `up` before anything is created.
    preflight(d, p, &selected).await?;
    out.warnings.extend(convert::project_warnings(p));
    let changes = match o.as_running {
        true => NetworkChanges::CreateMissingOnly,
        false => NetworkChanges::Apply,
    };
    ensure_networks(d, p, &mut out, &o.progress, changes).await?;
    ensure_volumes(d, p, &mut out, &o.progress).await?;
    let mut observed = observed(d, &p.name).await;

    let orphans: Vec<Arc<Ctr>> = observed
        .iter()
        .filter(|(s, _)| !p.services.contains_key(*s))
        .flat_map(|(_, v)| v.iter().map(|(_, c)| c.clone()))
        .collect();
    if !orphans.is_empty() {
        if o.remove_orphans {
            for c in orphans {
                let name = c.rec.lock().await.config.name.clone();
                let t = Instant::now();
                o.progress.emit(ev("Container", &name, "Stopping", t));
                d.containers.stop(&c, o.timeout).await?;
                d.containers.remove(&c, true).await?;
                out.events
                    .push(o.progress.emit(ev("Container", &name, "Removed", t)));
            }
        } else {
            out.warnings.push("Found orphan containers for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.".to_string());
        }
    }

    // Services whose containers this pass recreated: dependents with `restart: true` follow.
    let mut updated: HashSet<String> = HashSet::new();
    // One copy of the project shared by every service's task, not one each.
    let shared = Arc::new(p.clone());
    for level in levels(p, &selected) {
        // Dependencies first: wait for what the level's services need.
        for s in &level {
            out.warnings
                .extend(cancellable(o, wait_dependencies(d, p, s, &o.progress)).await?);
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
            d.metrics.set_desired_replicas(&p.name, &s, want);
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
    record_metrics(d, &p.name, started, &out.events);
    if o.wait {
        let limit = std::time::Duration::from_secs(o.wait_timeout.unwrap_or(3600));
        tokio::time::timeout(limit, cancellable(o, wait_ready(d, p, o)))
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
pub async fn plan(d: &Daemon, p: &Project, o: &UpOptions) -> Result<Vec<Step>, ApiError> {
    let selected = selection(p, o)?;
    let mut seen = Observed::default();
    for (service, replicas) in observed(d, &p.name).await {
        let mut list = Vec::new();
        for (number, c) in replicas {
            let r = c.rec.lock().await;
            list.push(ObservedReplica {
                number,
                name: r.config.name.clone(),
                config_hash: r.config.labels.get(LABEL_HASH).cloned().unwrap_or_default(),
                state: replica_state(r.state.status),
            });
        }
        seen.containers.insert(service, list);
    }
    for (key, net) in &p.networks {
        let name = berth_compose::network_name(p, key);
        let existing = d.nets.netd.inspect(&name).await.ok();
        if net.external == Some(true) {
            if existing.is_none() {
                return Err(ApiError::not_found(format!(
                    "network {name} declared as external, but could not be found"
                )));
            }
            continue;
        }
        let spec = network_spec(p, key, net, &name)?;
        let Some(info) = existing else { continue };
        seen.networks.insert(name.clone());
        // As ensure_networks decides: only a network of this stack with a recorded hash.
        let ours = info.labels.get(LABEL_PROJECT) == Some(&p.name);
        let recorded = info.labels.get(LABEL_HASH);
        if ours && recorded.is_some() && recorded != spec.labels.get(LABEL_HASH) && !o.as_running {
            seen.networks_changed.insert(name);
        }
    }
    for (key, vol) in &p.volumes {
        let name = berth_compose::volume_name(p, key);
        let n = name.clone();
        if d.volumes.with(move |v| Ok(v.get(&n).is_ok())).await? {
            seen.volumes.insert(name);
        } else if vol.external == Some(true) {
            return Err(ApiError::not_found(format!(
                "external volume \"{name}\" not found"
            )));
        }
    }
    let options = UpPlanOptions {
        selected,
        scale: o.scale.clone(),
        remove_orphans: o.remove_orphans,
        policy: ReplicaPolicy {
            force_recreate: o.force_recreate,
            no_recreate: o.no_recreate,
            no_start: o.no_start,
            keep_stopped: o.keep_stopped,
        },
    };
    Ok(berth_compose::plan_up(p, &options, &seen))
}

/// Runs a wait that a stack going down must be able to cut short.
async fn cancellable<T>(
    o: &UpOptions,
    wait: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let Some(mut cancel) = o.cancel.clone() else {
        return wait.await;
    };
    tokio::select! {
        r = wait => r,
        _ = cancel.wait_for(|c| *c) => Err(ApiError::conflict("the stack is going down")),
    }
}

/// Waits for `service_completed_successfully` and `service_healthy` dependencies (the others
/// only order the start). A dependency with `required: false` that fails is only a warning.
async fn wait_dependencies(
    d: &Daemon,
    p: &Project,
    s: &str,
    progress: &Progress,
) -> Result<Vec<String>, ApiError> {
    let mut warnings = Vec::new();
    for (dep, cond) in &p.services[s].depends_on {
        match wait_dependency(d, p, dep, &cond.condition, progress).await {
            Err(e) if !cond.required => warnings.push(format!(
                "service {s}: optional dependency {dep} failed: {}",
                e.message
            )),
            r => r?,
        }
    }
    Ok(warnings)
}

async fn wait_dependency(
    d: &Daemon,
    p: &Project,
    dep: &str,
    condition: &str,
    progress: &Progress,
) -> Result<(), ApiError> {
    let obs = observed(d, &p.name).await;
    let waited = match condition {
        "service_completed_successfully" | "service_healthy" => obs.get(dep),
        _ => None,
    };
    for (_, c) in waited.into_iter().flatten() {
        let t = Instant::now();
        let name = c.rec.lock().await.config.name.clone();
        progress.emit(ev("Container", &name, "Waiting", t));
        if condition == "service_healthy" {
            wait_healthy(c, dep).await?;
            progress.emit(ev("Container", &name, "Healthy", t));
            continue;
        }
        let mut rx = c.status.subscribe();
        let _ = rx
            .wait_for(|st| matches!(st, Status::Exited | Status::Dead))
            .await;
        let code = c.rec.lock().await.state.exit_code;
        if code != 0 {
            return Err(ApiError::bad_request(format!(
                "service {dep:?} didn't complete successfully: exit {code}"
            )));
        }
        progress.emit(ev("Container", &name, "Exited", t));
    }
    Ok(())
}

/// Waits until `c` reports healthy; an unhealthy or stopped container fails the dependency.
async fn wait_healthy(c: &Ctr, service: &str) -> Result<(), ApiError> {
    let name = c.rec.lock().await.config.name.clone();
    if c.rec.lock().await.config.healthcheck.is_none() {
        return Err(ApiError::bad_request(format!("dependency failed to start: container {name} has no healthcheck configured (service {service})")));
    }
    let mut health = c.health.subscribe();
    let mut status = c.status.subscribe();
    loop {
        let health_now = *health.borrow_and_update();
        match *status.borrow_and_update() {
            // Between two runs: the ended run left "unhealthy" (as Docker's), the next one
            // starts over at "starting".
            Status::Restarting => {}
            Status::Running | Status::Created => match health_now {
                Some(berth_engine::container::HealthStatus::Healthy) => return Ok(()),
                Some(berth_engine::container::HealthStatus::Unhealthy) => {
                    return Err(ApiError::bad_request(format!(
                        "dependency failed to start: container {name} is unhealthy"
                    )))
                }
                _ => {}
            },
            _ => {
                return Err(ApiError::bad_request(format!(
                    "dependency failed to start: container {name} exited"
                )))
            }
        }
        tokio::select! {
            _ = health.changed() => {}
            _ = status.changed() => {}
        }
    }
}

/// `up --wait`: every selected service running (and healthy when it has a check); one-shots
/// that exited 0 count as done.
pub async fn wait_ready(d: &Daemon, p: &Project, o: &UpOptions) -> Result<(), ApiError> {
    let selected = selection(p, o)?;
    let obs = observed(d, &p.name).await;
    for s in selected {
        for (_, c) in obs.get(&s).into_iter().flatten() {
            let (has_health, status, code, name) = {
                let r = c.rec.lock().await;
                (
                    r.config.healthcheck.is_some(),
                    r.state.status,
                    r.state.exit_code,
                    r.config.name.clone(),
                )
            };
            match status {
                Status::Exited if code == 0 => continue,
                Status::Exited | Status::Dead => {
                    return Err(ApiError::bad_request(format!(
                        "container {name} exited ({code})"
                    )))
                }
                _ if has_health => wait_healthy(c, &s).await?,
                _ => {}
            }
        }
    }
    Ok(())
}

/// The engine's status as the planner sees it.
fn replica_state(status: Status) -> ReplicaState {
    match status {
        Status::Running => ReplicaState::Running,
        Status::Paused => ReplicaState::Paused,
        Status::Restarting => ReplicaState::Restarting,
        _ => ReplicaState::Stopped,
    }
}

async fn converge_service(
    d: &Arc<Daemon>,
    p: &Project,
    s: &str,
    want: u32,
    existing: Vec<(u32, Arc<Ctr>)>,
    o: &UpOptions,
    restart_after_dependency: bool,
) -> Result<(Vec<Event>, Vec<String>), ApiError> {
    let svc = &p.services[s];
    let hash = berth_compose::config_hash(svc);
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    let mut have: BTreeMap<u32, Arc<Ctr>> = existing.into_iter().collect();
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
    let policy = ReplicaPolicy {
        force_recreate: o.force_recreate,
        no_recreate: o.no_recreate,
        no_start: o.no_start,
        keep_stopped: o.keep_stopped,
    };
    for n in 1..=want {
        let t = Instant::now();
        let name = berth_compose::container_name(&p.name, s, svc, n);
        let emit = |action: &str| o.progress.emit(ev("Container", &name, action, t));
        let existing = have.remove(&n);
        let observed = match &existing {
            Some(c) => {
                let r = c.rec.lock().await;
                let hash = r.config.labels.get(LABEL_HASH).cloned().unwrap_or_default();
                Some((hash, replica_state(r.state.status)))
            }
            None => None,
        };
        let observed_ref = observed.as_ref().map(|(h, st)| (h.as_str(), *st));
        let action = replica_action(&hash, observed_ref, policy, restart_after_dependency);
        match (action, existing) {
            (ReplicaAction::Create { start }, _) => {
                let cfg = config(n).await?;
                emit("Creating");
                let c = d.containers.create(cfg).await?;
                events.push(emit("Created"));
                if start {
                    emit("Starting");
                    d.containers.start(&c, false).await?;
                    events.push(emit("Started"));
                }
            }
            (ReplicaAction::Recreate { start, .. }, Some(c)) => {
                emit("Recreate");
                // The old container's anonymous volumes carry over: the new one mounts the
                // same (per replica and target) volume, as Compose hands them on.
                let cfg = config(n).await?;
                d.containers
                    .stop(&c, o.timeout.or(cfg.stop_timeout))
                    .await?;
                d.containers.remove(&c, true).await?;
                let c = d.containers.create(cfg).await?;
                events.push(emit("Recreated"));
                if start {
                    emit("Starting");
                    d.containers.start(&c, false).await?;
                    events.push(emit("Started"));
                }
            }
            (ReplicaAction::Start, Some(c)) => {
                emit("Starting");
                d.containers.start(&c, false).await?;
                events.push(emit("Started"));
            }
            (ReplicaAction::Restart, Some(c)) => {
                emit("Restarting");
                d.containers.stop(&c, o.timeout).await?;
                d.containers.start(&c, false).await?;
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
        let name = c.rec.lock().await.config.name.clone();
        o.progress.emit(ev("Container", &name, "Stopping", t));
        d.containers.stop(&c, o.timeout).await?;
        d.containers.remove(&c, true).await?;
        events.push(o.progress.emit(ev("Container", &name, "Removed", t)));
    }
    Ok((events, warnings))
}

/// Named and anonymous volumes become host directories (created with the container's first
/// use, filled from the image unless `nocopy`). Anonymous ones are labelled as Docker labels
/// them, with the project, so `down -v` and `rm -v` find them.
async fn resolve_volumes(d: &Daemon, cfg: &mut ContainerConfig) -> Result<(), ApiError> {
    let needs_layers = cfg
        .mounts
        .iter()
        .any(|m| m.kind.starts_with("volume") && !m.kind.ends_with("nocopy"));
    let layers = if needs_layers {
        d.images.resolve(&cfg.image).await?.layers
    } else {
        Vec::new()
    };
    let project = cfg.labels.get(LABEL_PROJECT).cloned().unwrap_or_default();
    for m in cfg
        .mounts
        .iter_mut()
        .filter(|m| m.kind.starts_with("volume"))
    {
        let copy = !m.kind.ends_with("nocopy");
        let name = m.source.clone();
        let mut labels = BTreeMap::new();
        if m.kind.starts_with(convert::ANONYMOUS_VOLUME) {
            labels.insert(LABEL_PROJECT.to_string(), project.clone());
            labels.insert(berth_compose::LABEL_ANONYMOUS.to_string(), String::new());
        }
        let target = m.target.clone();
        let layers = layers.clone();
        let path = d
            .volumes
            .with(move |v| {
                v.ensure(&name, &labels)?;
                if copy {
                    v.initialize_from(&name, &layers, &target)?;
                }
                v.data_path(&name)
            })
            .await?;
        m.kind = "volume".into();
        m.source = path.display().to_string();
    }
    Ok(())
}

/// `volumes_from`: the mounts (binds and volumes) of another container, read-only with `:ro`,
/// read-write with `:rw`, else as that container has them. The loader made the source service a
/// dependency, so its container exists by now. The service's own mounts win on a clash.
async fn resolve_volumes_from(
    d: &Daemon,
    p: &Project,
    service: &str,
    cfg: &mut ContainerConfig,
) -> Result<(), ApiError> {
    for spec in &p.services[service].volumes_from {
        let (kind, rest) = match spec.split_once(':') {
            Some(("service", r)) => ("service", r),
            Some(("container", r)) => ("container", r),
            _ => ("", spec.as_str()),
        };
        let (source, mode) = match rest.rsplit_once(':') {
            Some((s, m @ ("ro" | "rw"))) => (s, Some(m)),
            _ => (rest, None),
        };
        // A bare NAME is a service when the project has one by that name (Compose's rule).
        let by_service = kind == "service" || (kind.is_empty() && p.services.contains_key(source));
        let container = if by_service {
            let svc = p.services.get(source).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "service {service}: volumes_from refers to undefined service {source}"
                ))
            })?;
            berth_compose::container_name(&p.name, source, svc, 1)
        } else {
            source.to_string()
        };
        let other = d.containers.get(&container).await.map_err(|_| {
            ApiError::bad_request(format!(
                "service {service}: volumes_from: container {container} does not exist"
            ))
        })?;
        let mounts = other.rec.lock().await.config.mounts.clone();
        for mut m in mounts
            .into_iter()
            .filter(|m| m.kind == "bind" || m.kind == "volume")
        {
            if cfg.mounts.iter().any(|own| own.target == m.target) {
                continue;
            }
            match mode {
                Some("ro") => m.read_only = true,
                Some(_) => m.read_only = false,
                None => {}
            }
            cfg.mounts.push(m);
        }
    }
    Ok(())
}

/// What would fail half-way, checked before anything is made: every selected service's image
/// must be in the store (berth does not pull or build yet) and its sysctls namespaced.
async fn preflight(d: &Daemon, p: &Project, selected: &HashSet<String>) -> Result<(), ApiError> {
    for (name, svc) in p.services.iter().filter(|(n, _)| selected.contains(*n)) {
        let mode = svc.network_mode.as_deref().unwrap_or("");
        for key in svc.sysctls.keys() {
            berth_engine::container::check_sysctl(key, mode)
                .map_err(|e| ApiError::bad_request(format!("service {name}: {e}")))?;
        }
        let image = convert::image_name(p, name, svc);
        if d.images.resolve(&image).await.is_ok() {
            continue;
        }
        return Err(ApiError::not_found(match (&svc.image, &svc.build) {
            (None, Some(_)) => format!("service {name} has a build section: building images is not supported yet; build it elsewhere and import or load it as {image} (or set `image:`)"),
            _ => format!("service {name}: no such image: {image} (berth does not pull yet: import or load it first)"),
        }));
    }
    Ok(())
}

/// Whether a pass may make a changed network again: `up` and the reconcile loop may; a
/// one-off `run` acts on the stack as it runs and only creates what is missing (its caller's
/// environment may interpolate another subnet; the running containers must not move).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetworkChanges {
    Apply,
    CreateMissingOnly,
}

async fn ensure_networks(
    d: &Daemon,
    p: &Project,
    out: &mut Outcome,
    progress: &Progress,
    changes: NetworkChanges,
) -> Result<(), ApiError> {
    for (key, net) in &p.networks {
        let name = berth_compose::network_name(p, key);
        let t = Instant::now();
        let existing = d.nets.netd.inspect(&name).await.ok();
        if net.external == Some(true) {
            if existing.is_some() {
                continue;
            }
            return Err(ApiError::not_found(format!(
                "network {name} declared as external, but could not be found"
            )));
        }
        let spec = network_spec(p, key, net, &name)?;
        let Some(info) = existing else {
            progress.emit(ev("Network", &name, "Creating", t));
            d.nets.netd.create_network(spec).await?;
            out.events
                .push(progress.emit(ev("Network", &name, "Created", t)));
            continue;
        };
        // A network this stack made, whose definition changed since: made again, with its
        // containers rewired onto it (they keep running). Networks of an earlier berth that
        // carry no hash, and networks of other stacks, are left as they are.
        let ours = info.labels.get(LABEL_PROJECT) == Some(&p.name);
        let recorded = info.labels.get(LABEL_HASH);
        if !ours || recorded.is_none() || recorded == spec.labels.get(LABEL_HASH) {
            continue;
        }
        if changes == NetworkChanges::CreateMissingOnly {
            tracing::info!(network = %name, "network definition differs from the running one; left as it runs (apply it with up)");
            continue;
        }
        // Each container keeps its address where the new subnet has it (an MTU or label
        // change, a subnet grown around the old one): peers that resolved a name once, as
        // nginx does its upstreams, keep reaching the same container.
        let attached: Vec<(String, std::net::Ipv4Addr)> = info
            .endpoints
            .iter()
            .map(|e| (e.container_id.clone(), e.ip))
            .collect();
        progress.emit(ev("Network", &name, "Recreate", t));
        for (id, _) in &attached {
            d.nets.netd.detach(&info.id, id).await?;
        }
        d.nets.netd.remove_network(&info.id).await?;
        d.nets.netd.create_network(spec).await?;
        for (id, ip) in &attached {
            if let Ok(c) = d.containers.get(id).await {
                let keep = std::collections::HashMap::from([(name.clone(), *ip)]);
                d.containers.rewire(&c, &keep).await?;
            }
        }
        out.events
            .push(progress.emit(ev("Network", &name, "Recreated", t)));
    }
    Ok(())
}

/// What netd is asked to make of the stack's network `key`, with a hash of it as a label.
fn network_spec(
    p: &Project,
    key: &str,
    net: &berth_compose::loader::model::Network,
    name: &str,
) -> Result<berth_netd::NetworkSpec, ApiError> {
    {
        if let Some(driver) = net.driver.as_deref().filter(|d| *d != "bridge") {
            return Err(ApiError::bad_request(format!(
                "network {key}: driver {driver} is not supported (only bridge)"
            )));
        }
        let pool = net.ipam.config.first();
        let parse_net = |s: Option<&String>| {
            s.map(|x| x.parse())
                .transpose()
                .map_err(|_| ApiError::bad_request(format!("network {key}: invalid ipam address")))
        };
        let mut labels: BTreeMap<String, String> = net
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.insert(LABEL_PROJECT.into(), p.name.clone());
        labels.insert(LABEL_NETWORK.into(), key.to_string());
        let mtu = net
            .driver_opts
            .get("com.docker.network.driver.mtu")
            .or(net.driver_opts.get("mtu"))
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| s.parse().ok())
                    .or(v.as_u64().map(|n| n as u32))
            });
        let mut spec = berth_netd::NetworkSpec {
            name: name.to_string(),
            subnet: parse_net(pool.and_then(|c| c.subnet.as_ref()))?,
            gateway: pool
                .and_then(|c| c.gateway.as_ref())
                .map(|g| g.parse())
                .transpose()
                .map_err(|_| ApiError::bad_request(format!("network {key}: invalid gateway")))?,
            ip_range: parse_net(pool.and_then(|c| c.ip_range.as_ref()))?,
            internal: net.internal.unwrap_or(false),
            mtu,
            labels,
        };
        let hash = berth_compose::hash_of(&(
            &spec.subnet,
            &spec.gateway,
            &spec.ip_range,
            spec.internal,
            spec.mtu,
            &spec.labels,
        ));
        spec.labels.insert(LABEL_HASH.into(), hash);
        Ok(spec)
    }
}

async fn ensure_volumes(
    d: &Daemon,
    p: &Project,
    out: &mut Outcome,
    progress: &Progress,
) -> Result<(), ApiError> {
    for (key, vol) in &p.volumes {
        let name = berth_compose::volume_name(p, key);
        let t = Instant::now();
        let n = name.clone();
        let exists = d.volumes.with(move |v| Ok(v.get(&n).is_ok())).await?;
        if exists {
            continue;
        }
        if vol.external == Some(true) {
            return Err(ApiError::not_found(format!(
                "external volume \"{name}\" not found"
            )));
        }
        let mut labels: BTreeMap<String, String> = vol
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.insert(LABEL_PROJECT.into(), p.name.clone());
        labels.insert(LABEL_VOLUME.into(), key.clone());
        let n = name.clone();
        progress.emit(ev("Volume", &name, "Creating", t));
        d.volumes
            .with(move |v| v.ensure(&n, &labels).map(drop))
            .await?;
        out.events
            .push(progress.emit(ev("Volume", &name, "Created", t)));
    }
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
    pub timeout: Option<u64>,
    /// `--rmi local|all`: remove the images of services without `image:` (local) or of all
    /// services (all), unless a container still uses them.
    pub rmi: Option<String>,
    #[serde(skip)]
    pub progress: Progress,
}

/// Removes the project's containers (reverse dependency order), its networks, and with
/// `volumes` its named volumes. External networks and volumes are never touched.
pub async fn down(
    d: &Arc<Daemon>,
    project: &str,
    p: Option<&Project>,
    o: &DownOptions,
) -> Result<Outcome, ApiError> {
    let mut out = Outcome::default();
    let started = Instant::now();
    let observed = observed(d, project).await;
    let images = images_to_remove(project, p, &observed, o.rmi.as_deref()).await?;
    let order: Vec<Vec<String>> = match p {
        Some(p) => {
            let all: HashSet<String> = p.services.keys().cloned().collect();
            let mut l = levels(p, &all);
            l.reverse();
            // Containers of services no longer in the file come first (they are orphans).
            let orphans: Vec<String> = observed
                .keys()
                .filter(|s| !p.services.contains_key(*s))
                .cloned()
                .collect();
            std::iter::once(orphans).chain(l).collect()
        }
        None => vec![observed.keys().cloned().collect()],
    };
    for level in order {
        let mut tasks = Vec::new();
        for s in level {
            for (_, c) in observed.get(&s).cloned().unwrap_or_default() {
                let d = d.clone();
                let timeout = o.timeout;
                let progress = o.progress.clone();
                tasks.push(tokio::spawn(async move {
                    let t = Instant::now();
                    let name = c.rec.lock().await.config.name.clone();
                    progress.emit(ev("Container", &name, "Stopping", t));
                    d.containers.stop(&c, timeout).await?;
                    progress.emit(ev("Container", &name, "Stopped", t));
                    progress.emit(ev("Container", &name, "Removing", t));
                    d.containers.remove(&c, true).await?;
                    Ok::<_, ApiError>(progress.emit(ev("Container", &name, "Removed", t)))
                }));
            }
        }
        for t in tasks {
            out.events
                .push(t.await.map_err(|e| ApiError::internal(e.to_string()))??);
        }
    }
    tracing::debug!(
        project,
        micros = started.elapsed().as_micros() as u64,
        "down: containers removed"
    );
    for n in d.nets.netd.list().await {
        if n.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project) {
            let t = Instant::now();
            if n.endpoints.is_empty() {
                o.progress.emit(ev("Network", &n.name, "Removing", t));
                d.nets.netd.remove_network(&n.id).await?;
                out.events
                    .push(o.progress.emit(ev("Network", &n.name, "Removed", t)));
            } else {
                out.warnings.push(format!(
                    "network {} is still in use by other containers",
                    n.name
                ));
            }
        }
    }
    tracing::debug!(
        project,
        micros = started.elapsed().as_micros() as u64,
        "down: networks removed"
    );
    if o.volumes {
        let vols = d.volumes.with(|v| Ok(v.list())).await?;
        for v in vols
            .into_iter()
            .filter(|v| v.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project))
        {
            let t = Instant::now();
            let name = v.name.clone();
            o.progress.emit(ev("Volume", &v.name, "Removing", t));
            d.volumes.with(move |s| s.remove(&name)).await?;
            out.events
                .push(o.progress.emit(ev("Volume", &v.name, "Removed", t)));
        }
    }
    for image in images {
        let t = Instant::now();
        let Ok(resolved) = d.images.resolve(&image).await else {
            continue;
        };
        // Another stack's (or a plain) container still using it keeps it, as Docker refuses.
        if !d.containers.using_image(&resolved.id).await.is_empty() {
            out.warnings.push(format!(
                "image {image} is still in use by a container: kept"
            ));
            continue;
        }
        o.progress.emit(ev("Image", &image, "Removing", t));
        let name = image.clone();
        d.images.with(move |s| s.remove(&name, false)).await?;
        out.events
            .push(o.progress.emit(ev("Image", &image, "Removed", t)));
    }
    d.metrics.forget_stack(project);
    record_metrics(d, project, started, &out.events);
    Ok(out)
}

/// One reconcile's duration and its actions (events other than "already running"), by kind.
fn record_metrics(d: &Daemon, project: &str, started: Instant, events: &[Event]) {
    for e in events.iter().filter(|e| e.action != "Running") {
        let kind = format!("{}_{}", e.kind, e.action).to_lowercase();
        d.metrics.count_action(project, &kind);
    }
    d.metrics.observe_reconcile(project, started.elapsed());
}

/// The images `down --rmi` removes, as Compose picks them: `local` only the images of
/// services without `image:` (named `project-service`), `all` every service's image. Without
/// the files, the containers' images stand in for the services'.
async fn images_to_remove(
    project: &str,
    p: Option<&Project>,
    observed: &HashMap<String, Vec<(u32, Arc<Ctr>)>>,
    rmi: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let all = match rmi {
        None => return Ok(Vec::new()),
        Some("all") => true,
        Some("local") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid --rmi {other:?}: expected local or all"
            )))
        }
    };
    let mut images = std::collections::BTreeSet::new();
    match p {
        Some(p) => {
            for (name, svc) in &p.services {
                if all || svc.image.is_none() {
                    images.insert(convert::image_name(p, name, svc));
                }
            }
        }
        None => {
            for (service, ctrs) in observed {
                for (_, c) in ctrs {
                    let image = c.rec.lock().await.config.image.clone();
                    if all || image == format!("{project}-{service}") {
                        images.insert(image);
                    }
                }
            }
        }
    }
    Ok(images.into_iter().collect())
}

/// What `berth run` changes in the service's config for its one-off container.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOptions {
    pub name: Option<String>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub rm: bool,
    pub use_aliases: bool,
}

/// Creates (without starting) a one-off container of `service`, as `docker compose run`:
/// the service's config with the run's overrides, labelled oneoff, named
/// `project-service-run-<6 hex>`, on the service's networks but publishing no ports (Compose
/// only publishes them with --service-ports, which would clash with the service's own).
pub async fn create_oneoff(
    d: &Arc<Daemon>,
    p: &Project,
    service: &str,
    o: &RunOptions,
) -> Result<Arc<Ctr>, ApiError> {
    let svc = p
        .services
        .get(service)
        .ok_or_else(|| ApiError::not_found(format!("no such service: {service}")))?;
    let mut ignored = Outcome::default();
    let quiet = Progress::default();
    ensure_networks(
        d,
        p,
        &mut ignored,
        &quiet,
        NetworkChanges::CreateMissingOnly,
    )
    .await?;
    ensure_volumes(d, p, &mut ignored, &Progress::default()).await?;
    let (mut cfg, _) =
        convert::container_config(p, service, svc, 1).map_err(ApiError::bad_request)?;
    let suffix: [u8; 3] = rand_bytes();
    cfg.name = o
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{service}-run-{}", p.name, hex::encode(suffix)));
    cfg.labels
        .insert(berth_compose::LABEL_ONEOFF.into(), "True".into());
    cfg.labels.remove(LABEL_NUMBER);
    if o.command.is_some() {
        cfg.cmd = o.command.clone();
    }
    if o.entrypoint.is_some() {
        cfg.entrypoint = o.entrypoint.clone();
    }
    for e in &o.env {
        let key = e.split('=').next().unwrap_or("");
        cfg.env.retain(|x| x.split('=').next() != Some(key));
        cfg.env.push(e.clone());
    }
    if o.user.is_some() {
        cfg.user = o.user.clone();
    }
    if o.workdir.is_some() {
        cfg.working_dir = o.workdir.clone();
    }
    cfg.tty = o.tty;
    cfg.open_stdin = o.interactive;
    cfg.ports.clear();
    cfg.publish_all = false;
    // Without --use-aliases a one-off answers to its own name only: with the service's name
    // and aliases it would take a share of the traffic meant for the service.
    if !o.use_aliases {
        cfg.networks.iter_mut().for_each(|n| n.aliases.clear());
    }
    // A one-off runs once: Compose drops the restart policy (and --rm requires none).
    cfg.restart = berth_engine::container::RestartPolicy::No;
    cfg.auto_remove = o.rm;
    resolve_volumes(d, &mut cfg).await?;
    resolve_volumes_from(d, p, service, &mut cfg).await?;
    d.containers.create(cfg).await
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    b
}
