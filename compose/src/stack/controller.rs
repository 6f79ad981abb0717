//! The controller: desired state (the loaded project) against observed state (the daemon's
//! containers, netd's networks, the volume store), then an ordered set of actions. Services
//! start in dependency order, a level of independent services at a time in parallel; stop in
//! reverse. Only containers whose config hash changed are recreated.

use super::convert::{
    self, LABEL_HASH, LABEL_NETWORK, LABEL_NUMBER, LABEL_PROJECT, LABEL_SERVICE, LABEL_VOLUME,
};
use crate::daemon::containers::Ctr;
use crate::daemon::http::ApiError;
use crate::daemon::Daemon;
use crate::loader::Project;
use berth_engine::container::{ContainerConfig, Status};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
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
                .get(convert::LABEL_ONEOFF)
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

/// Services grouped in dependency levels: level 0 depends on nothing selected.
pub fn levels(p: &Project, selected: &HashSet<String>) -> Vec<Vec<String>> {
    let mut depth: HashMap<String, usize> = HashMap::new();
    fn visit(p: &Project, s: &str, depth: &mut HashMap<String, usize>, guard: usize) -> usize {
        if let Some(d) = depth.get(s) {
            return *d;
        }
        let deps: Vec<String> = p
            .services
            .get(s)
            .map(|svc| svc.depends_on.keys().cloned().collect())
            .unwrap_or_default();
        // The loader rejects cycles; the guard only keeps a malformed project from recursing forever.
        let d = if guard > 1000 {
            0
        } else {
            deps.iter()
                .filter(|x| p.services.contains_key(*x))
                .map(|x| visit(p, x, depth, guard + 1) + 1)
                .max()
                .unwrap_or(0)
        };
        depth.insert(s.to_string(), d);
        d
    }
    let mut out: Vec<Vec<String>> = Vec::new();
    for s in p.services.keys() {
        if !selected.contains(s) {
            continue;
        }
        let d = visit(p, s, &mut depth, 0);
        if out.len() <= d {
            out.resize(d + 1, Vec::new());
        }
        out[d].push(s.clone());
    }
    out.retain(|l| !l.is_empty());
    out
}

fn selection(p: &Project, o: &UpOptions) -> Result<HashSet<String>, ApiError> {
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
    let mut out = Outcome::default();
    let selected = selection(p, o)?;
    ensure_networks(d, p, &mut out).await?;
    ensure_volumes(d, p, &mut out).await?;
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
                d.containers.stop(&c, None).await?;
                d.containers.remove(&c, true).await?;
                out.events.push(ev("Container", &name, "Removed", t));
            }
        } else {
            out.warnings.push(format!("Found orphan containers for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up."));
        }
    }

    for level in levels(p, &selected) {
        // Dependencies first: wait for what the level's services need.
        for s in &level {
            wait_dependencies(d, p, s).await?;
        }
        let mut tasks = Vec::new();
        for s in level {
            let svc = p.services[&s].clone();
            let want = o
                .scale
                .get(&s)
                .copied()
                .unwrap_or_else(|| convert::replicas(&svc));
            let existing = observed.remove(&s).unwrap_or_default();
            let d = d.clone();
            let p = p.clone();
            let o = o.clone();
            tasks.push(tokio::spawn(async move {
                converge_service(&d, &p, &s, want, existing, &o).await
            }));
        }
        for t in tasks {
            let (events, warnings) = t.await.map_err(|e| ApiError::internal(e.to_string()))??;
            out.events.extend(events);
            out.warnings.extend(warnings);
        }
    }
    if o.wait {
        let limit = std::time::Duration::from_secs(o.wait_timeout.unwrap_or(3600));
        tokio::time::timeout(limit, wait_ready(d, p, o))
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

/// Waits for `service_completed_successfully` dependencies (the others only order the start).
async fn wait_dependencies(d: &Daemon, p: &Project, s: &str) -> Result<(), ApiError> {
    let obs = observed(d, &p.name).await;
    for (dep, cond) in &p.services[s].depends_on {
        match cond.condition.as_str() {
            "service_completed_successfully" => {
                for (_, c) in obs.get(dep).into_iter().flatten() {
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
                }
            }
            "service_healthy" => {
                for (_, c) in obs.get(dep).into_iter().flatten() {
                    wait_healthy(c, dep).await?;
                }
            }

            _ => {}
        }
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
        match *health.borrow_and_update() {
            Some(berth_engine::container::HealthStatus::Healthy) => return Ok(()),
            Some(berth_engine::container::HealthStatus::Unhealthy) => {
                return Err(ApiError::bad_request(format!(
                    "dependency failed to start: container {name} is unhealthy"
                )))
            }
            _ => {}
        }
        if !matches!(
            *status.borrow_and_update(),
            Status::Running | Status::Restarting | Status::Created
        ) {
            return Err(ApiError::bad_request(format!(
                "dependency failed to start: container {name} exited"
            )));
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

async fn converge_service(
    d: &Arc<Daemon>,
    p: &Project,
    s: &str,
    want: u32,
    existing: Vec<(u32, Arc<Ctr>)>,
    o: &UpOptions,
) -> Result<(Vec<Event>, Vec<String>), ApiError> {
    let svc = &p.services[s];
    let hash = convert::config_hash(svc);
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    let mut have: BTreeMap<u32, Arc<Ctr>> = existing.into_iter().collect();
    for n in 1..=want {
        let t = Instant::now();
        let (mut cfg, w) =
            convert::container_config(p, s, svc, n).map_err(ApiError::bad_request)?;
        warnings.extend(w);
        resolve_volumes(d, &mut cfg).await?;
        let name = cfg.name.clone();
        if let Some(c) = have.remove(&n) {
            let (old_hash, status) = {
                let r = c.rec.lock().await;
                (
                    r.config.labels.get(LABEL_HASH).cloned().unwrap_or_default(),
                    r.state.status,
                )
            };
            let changed = old_hash != hash;
            if (changed || o.force_recreate) && !o.no_recreate {
                d.containers.stop(&c, cfg.stop_timeout).await?;
                d.containers.remove(&c, true).await?;
                let c = d.containers.create(cfg).await?;
                if !o.no_start {
                    d.containers.start(&c, false).await?;
                }
                events.push(ev("Container", &name, "Recreated", t));
            } else if !o.no_start
                && !matches!(
                    status,
                    Status::Running | Status::Paused | Status::Restarting
                )
            {
                d.containers.start(&c, false).await?;
                events.push(ev("Container", &name, "Started", t));
            } else {
                events.push(ev("Container", &name, "Running", t));
            }
        } else {
            let c = d.containers.create(cfg).await?;
            events.push(ev("Container", &name, "Created", t));
            if !o.no_start {
                d.containers.start(&c, false).await?;
                events.push(ev("Container", &name, "Started", t));
            }
        }
    }
    // Scale down: the highest numbers go.
    for (_, c) in have.into_iter().rev() {
        let t = Instant::now();
        let name = c.rec.lock().await.config.name.clone();
        d.containers.stop(&c, None).await?;
        d.containers.remove(&c, true).await?;
        events.push(ev("Container", &name, "Removed", t));
    }
    Ok((events, warnings))
}

/// Named volumes become host directories (created with the container's first use, filled
/// from the image unless `nocopy`).
async fn resolve_volumes(d: &Daemon, cfg: &mut ContainerConfig) -> Result<(), ApiError> {
    let needs_layers = cfg.mounts.iter().any(|m| m.kind == "volume");
    let layers = if needs_layers {
        d.images.resolve(&cfg.image).await?.layers
    } else {
        Vec::new()
    };
    for m in cfg
        .mounts
        .iter_mut()
        .filter(|m| m.kind == "volume" || m.kind == "volume-nocopy")
    {
        let copy = m.kind == "volume";
        let name = m.source.clone();
        let labels = BTreeMap::new();
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

async fn ensure_networks(d: &Daemon, p: &Project, out: &mut Outcome) -> Result<(), ApiError> {
    for (key, net) in &p.networks {
        let name = convert::network_name(p, key);
        let t = Instant::now();
        if d.nets.netd.inspect(&name).await.is_ok() {
            continue;
        }
        if net.external == Some(true) {
            return Err(ApiError::not_found(format!(
                "network {name} declared as external, but could not be found"
            )));
        }
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
        labels.insert(LABEL_NETWORK.into(), key.clone());
        let mtu = net
            .driver_opts
            .get("com.docker.network.driver.mtu")
            .or(net.driver_opts.get("mtu"))
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| s.parse().ok())
                    .or(v.as_u64().map(|n| n as u32))
            });
        let spec = berth_netd::NetworkSpec {
            name: name.clone(),
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
        d.nets.netd.create_network(spec).await?;
        out.events.push(ev("Network", &name, "Created", t));
    }
    Ok(())
}

async fn ensure_volumes(d: &Daemon, p: &Project, out: &mut Outcome) -> Result<(), ApiError> {
    for (key, vol) in &p.volumes {
        let name = convert::volume_name(p, key);
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
        d.volumes
            .with(move |v| v.ensure(&n, &labels).map(drop))
            .await?;
        out.events.push(ev("Volume", &name, "Created", t));
    }
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
    pub timeout: Option<u64>,
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
                tasks.push(tokio::spawn(async move {
                    let t = Instant::now();
                    let name = c.rec.lock().await.config.name.clone();
                    d.containers.stop(&c, timeout).await?;
                    d.containers.remove(&c, true).await?;
                    Ok::<_, ApiError>(ev("Container", &name, "Removed", t))
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
                d.nets.netd.remove_network(&n.id).await?;
                out.events.push(ev("Network", &n.name, "Removed", t));
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
            d.volumes.with(move |s| s.remove(&name)).await?;
            out.events.push(ev("Volume", &v.name, "Removed", t));
        }
    }
    Ok(out)
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
    ensure_networks(d, p, &mut ignored).await?;
    ensure_volumes(d, p, &mut ignored).await?;
    let (mut cfg, _) =
        convert::container_config(p, service, svc, 1).map_err(ApiError::bad_request)?;
    let suffix: [u8; 3] = rand_bytes();
    cfg.name = o
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{service}-run-{}", p.name, hex::encode(suffix)));
    cfg.labels
        .insert(convert::LABEL_ONEOFF.into(), "True".into());
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
    d.containers.create(cfg).await
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    b
}
