//! `down`: the project's containers in reverse dependency order, then its networks, and on
//! request its volumes and images.

use super::{convert, ev, record_metrics, Outcome, Progress};
use crate::containers::Ctr;
use crate::http::ApiError;
use crate::stack::ports::project_containers as observed;
use crate::Daemon;
use berth_compose::{Project, LABEL_PROJECT};
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
    // Orphans first, then dependents before their dependencies: the planner's order.
    let order = berth_compose::down_order(p, observed.keys());
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
    record_metrics(&d.metrics, project, started, &out.events);
    Ok(out)
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
