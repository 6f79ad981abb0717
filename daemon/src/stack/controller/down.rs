//! `down`: the project's containers in reverse dependency order, then its networks, and on
//! request its volumes and images.

use super::{convert, ev, record_metrics, Outcome, Progress};
use crate::http::ApiError;
use crate::stack::ports::{Ports, Replica};
use berth_compose::Project;
use berth_netd::NetworkInfo;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
pub async fn down<D: Ports>(
    d: &Arc<D>,
    project: &str,
    p: Option<&Project>,
    o: &DownOptions,
) -> Result<Outcome, ApiError> {
    let mut out = Outcome::default();
    let started = Instant::now();
    let mut observed: HashMap<String, Vec<Replica<D::Handle>>> = HashMap::new();
    for r in d.replicas(project).await {
        observed.entry(r.service.clone()).or_default().push(r);
    }
    let images = images_to_remove(&**d, project, p, &observed, o.rmi.as_deref()).await?;
    let oneoffs = match o.remove_orphans {
        true => d.oneoffs(project).await,
        false => Vec::new(),
    };
    let leaving: HashSet<String> = (oneoffs.iter())
        .chain(observed.values().flatten())
        .map(|r| d.id(&r.handle))
        .collect();
    let networks = EarlyNetworks::new(d, d.project_networks(project).await, leaving, &o.progress);
    // One-off `run` containers, running or not, go with --remove-orphans only (Compose's
    // down leaves them otherwise), and before the services they may depend on.
    out.events
        .extend(remove_all(d, oneoffs, o.timeout, &o.progress, Some(&networks)).await?);
    // Orphans first, then dependents before their dependencies: the planner's order.
    let order = berth_compose::down_order(p, observed.keys());
    for level in order {
        let level: Vec<_> = level
            .iter()
            .flat_map(|s| observed.get(s).cloned().unwrap_or_default())
            .collect();
        out.events
            .extend(remove_all(d, level, o.timeout, &o.progress, Some(&networks)).await?);
    }
    tracing::debug!(
        project,
        micros = started.elapsed().as_micros() as u64,
        "down: containers removed"
    );
    networks.finish(&mut out).await?;
    tracing::debug!(
        project,
        micros = started.elapsed().as_micros() as u64,
        "down: networks removed"
    );
    if o.volumes {
        for name in d.project_volumes(project).await? {
            let t = Instant::now();
            o.progress.emit(ev("Volume", &name, "Removing", t));
            d.remove_volume(&name).await?;
            out.events
                .push(o.progress.emit(ev("Volume", &name, "Removed", t)));
        }
    }
    for image in images {
        let t = Instant::now();
        let Some(id) = d.image_id(&image).await else {
            continue;
        };
        // Another stack's (or a plain) container still using it keeps it, as Docker refuses.
        if d.image_in_use(&id).await {
            out.warnings.push(format!(
                "image {image} is still in use by a container: kept"
            ));
            continue;
        }
        o.progress.emit(ev("Image", &image, "Removing", t));
        d.remove_image(&image).await?;
        out.events
            .push(o.progress.emit(ev("Image", &image, "Removed", t)));
    }
    d.metrics().forget_stack(project);
    record_metrics(d.metrics(), project, started, &out.events);
    Ok(out)
}

/// Stops and removes `containers` in parallel (one level of the dependency order), as
/// Compose's down; the Removed events, or the first failure. `networks` is told of each
/// container done with its networks (see [`EarlyNetworks::done_with`]).
pub(super) async fn remove_all<D: Ports>(
    d: &Arc<D>,
    containers: Vec<Replica<D::Handle>>,
    timeout: Option<u64>,
    progress: &Progress,
    networks: Option<&Arc<EarlyNetworks<D>>>,
) -> Result<Vec<super::Event>, ApiError> {
    let mut tasks = Vec::new();
    for r in containers {
        let d = d.clone();
        let progress = progress.clone();
        let networks = networks.cloned();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let done_with_networks = || {
                if let Some(networks) = &networks {
                    networks.done_with(&d.id(&r.handle));
                }
            };
            progress.emit(ev("Container", &r.name, "Stopping", t));
            // Without a grace period the stop kills it at once: it has no more use for them.
            let kills = timeout == Some(0);
            if kills {
                done_with_networks();
            }
            d.stop_container(&r.handle, timeout).await?;
            progress.emit(ev("Container", &r.name, "Stopped", t));
            if !kills {
                done_with_networks();
            }
            progress.emit(ev("Container", &r.name, "Removing", t));
            d.remove_container(&r.handle).await?;
            Ok::<_, ApiError>(progress.emit(ev("Container", &r.name, "Removed", t)))
        }));
    }
    let mut events = Vec::new();
    for t in tasks {
        events.push(t.await.map_err(|e| ApiError::internal(e.to_string()))??);
    }
    Ok(events)
}

/// The project's networks during a `down`. One whose every container is among those the
/// `down` removes goes as soon as they are all done with it, beside the rest of their
/// removal: a network's removal is a `down`'s longest single wait (its bridge's deletion
/// waits out kernel RCU grace periods, 40-50 ms here), and a container is done with its
/// networks once stopped, or once being stopped with no grace period (`-t 0`: SIGKILL
/// follows at once). One that other containers use is left, with a warning, as Compose
/// leaves it.
pub(super) struct EarlyNetworks<D: Ports> {
    d: Arc<D>,
    /// The containers the `down` removes.
    leaving: HashSet<String>,
    progress: Progress,
    state: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    /// Networks some containers are not done with yet, with those containers.
    networks: Vec<(NetworkInfo, HashSet<String>)>,
    /// Removals under way, in the order they began.
    removals: Vec<tokio::task::JoinHandle<Result<super::Event, ApiError>>>,
    /// Networks other containers are on.
    in_use: Vec<String>,
}

impl<D: Ports> EarlyNetworks<D> {
    fn new(
        d: &Arc<D>,
        networks: Vec<NetworkInfo>,
        leaving: HashSet<String>,
        progress: &Progress,
    ) -> Arc<Self> {
        let this = Arc::new(EarlyNetworks {
            d: d.clone(),
            leaving,
            progress: progress.clone(),
            state: Mutex::new(Waiting::default()),
        });
        let mut ready = Vec::new();
        {
            let mut w = this.state.lock().unwrap();
            for n in networks {
                let on: HashSet<String> =
                    n.endpoints.iter().map(|e| e.container_id.clone()).collect();
                if !on.is_subset(&this.leaving) {
                    w.in_use.push(n.name);
                } else if on.is_empty() {
                    ready.push(n);
                } else {
                    w.networks.push((n, on));
                }
            }
        }
        for n in ready {
            this.remove(n);
        }
        this
    }

    /// Container `id` is done with its networks: those it was the last user of go now.
    fn done_with(self: &Arc<Self>, id: &str) {
        let mut ready = Vec::new();
        self.state
            .lock()
            .unwrap()
            .networks
            .retain_mut(|(n, running)| {
                running.remove(id);
                let all_stopped = running.is_empty();
                if all_stopped {
                    ready.push(n.clone());
                }
                !all_stopped
            });
        for n in ready {
            self.remove(n);
        }
    }

    fn remove(self: &Arc<Self>, n: NetworkInfo) {
        let this = self.clone();
        let removal = tokio::spawn(async move {
            let t = Instant::now();
            this.progress.emit(ev("Network", &n.name, "Removing", t));
            this.d.remove_network(&n.id, &this.leaving).await?;
            Ok(this.progress.emit(ev("Network", &n.name, "Removed", t)))
        });
        self.state.lock().unwrap().removals.push(removal);
    }

    /// Once every container has been removed: waits for the removals (their events go to
    /// `out`), and warns of the networks left in use.
    async fn finish(&self, out: &mut Outcome) -> Result<(), ApiError> {
        let (removals, in_use, waiting) = {
            let mut w = self.state.lock().unwrap();
            let waiting: Vec<String> = w.networks.drain(..).map(|(n, _)| n.name).collect();
            (
                std::mem::take(&mut w.removals),
                std::mem::take(&mut w.in_use),
                waiting,
            )
        };
        for removal in removals {
            match removal
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
            {
                Ok(event) => out.events.push(event),
                // A container joined it meanwhile.
                Err(e) if e.status == hyper::StatusCode::CONFLICT => out.warnings.push(e.message),
                Err(e) => return Err(e),
            }
        }
        for name in in_use.into_iter().chain(waiting) {
            out.warnings.push(format!(
                "network {name} is still in use by other containers"
            ));
        }
        Ok(())
    }
}

/// The images `down --rmi` removes, as Compose picks them: `local` only the images of
/// services without `image:` (named `project-service`), `all` every service's image. Without
/// the files, the containers' images stand in for the services'.
async fn images_to_remove<D: Ports>(
    d: &D,
    project: &str,
    p: Option<&Project>,
    observed: &HashMap<String, Vec<Replica<D::Handle>>>,
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
            for (service, replicas) in observed {
                for r in replicas {
                    let image = d.image_ref(&r.handle).await;
                    if all || image == format!("{project}-{service}") {
                        images.insert(image);
                    }
                }
            }
        }
    }
    Ok(images.into_iter().collect())
}
