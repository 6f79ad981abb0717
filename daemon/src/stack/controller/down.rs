//! `down`: the project's containers in reverse dependency order, then its networks, and on
//! request its volumes and images.

use super::{convert, ev, record_metrics, Outcome, Progress};
use crate::http::ApiError;
use crate::stack::ports::{Ports, Replica};
use berth_compose::Project;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
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
    // One-off `run` containers, running or not, go with --remove-orphans only (Compose's
    // down leaves them otherwise), and before the services they may depend on.
    if o.remove_orphans {
        let oneoffs = d.oneoffs(project).await;
        out.events
            .extend(remove_all(d, oneoffs, o.timeout, &o.progress).await?);
    }
    // Orphans first, then dependents before their dependencies: the planner's order.
    let order = berth_compose::down_order(p, observed.keys());
    for level in order {
        let level: Vec<_> = level
            .iter()
            .flat_map(|s| observed.get(s).cloned().unwrap_or_default())
            .collect();
        out.events
            .extend(remove_all(d, level, o.timeout, &o.progress).await?);
    }
    tracing::debug!(
        project,
        micros = started.elapsed().as_micros() as u64,
        "down: containers removed"
    );
    for n in d.project_networks(project).await {
        let t = Instant::now();
        if n.endpoints.is_empty() {
            o.progress.emit(ev("Network", &n.name, "Removing", t));
            d.remove_network(&n.id).await?;
            out.events
                .push(o.progress.emit(ev("Network", &n.name, "Removed", t)));
        } else {
            out.warnings.push(format!(
                "network {} is still in use by other containers",
                n.name
            ));
        }
    }
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
/// Compose's down; the Removed events, or the first failure.
pub(super) async fn remove_all<D: Ports>(
    d: &Arc<D>,
    containers: Vec<Replica<D::Handle>>,
    timeout: Option<u64>,
    progress: &Progress,
) -> Result<Vec<super::Event>, ApiError> {
    let mut tasks = Vec::new();
    for r in containers {
        let d = d.clone();
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            progress.emit(ev("Container", &r.name, "Stopping", t));
            d.stop_container(&r.handle, timeout).await?;
            progress.emit(ev("Container", &r.name, "Stopped", t));
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
