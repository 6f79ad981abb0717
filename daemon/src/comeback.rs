//! A replica of a registered stack removed by hand comes back: the stack's files, not the
//! container, are the source of truth, and its reconcile loop recreates what is missing.
//! Someone used to Docker, where `rm -f` is final, would see a ghost; so the removal says
//! so at once: the removing client gets a notice naming the commands that park the service
//! (berth's `container rm` prints it), and berth's event stream a stack `recreate` event
//! (whichever door removed it: `docker rm` too).

use crate::containers::Ctr;
use crate::http::ApiError;
use crate::Daemon;
use berth_compose::{LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Removes the container (`rm`, either door; `force`, `volumes` as `rm -f -v`) and, when its
/// stack brings it back, announces it; what to tell the client, if anything.
pub async fn remove(
    d: &Daemon,
    ctr: &Arc<Ctr>,
    force: bool,
    volumes: bool,
) -> Result<Option<Comeback>, ApiError> {
    // Read, then asked of the registry with the container's lock released.
    let (name, labels) = {
        let r = ctr.rec.lock().await;
        (r.config.name.clone(), r.config.labels.clone())
    };
    let comeback = Comeback::of(d, &name, &labels).await;
    d.containers.remove_with(ctr, force, volumes).await?;
    if let Some(c) = &comeback {
        c.announce(d);
    }
    Ok(comeback)
}

/// A container that its stack will recreate once it is removed.
pub struct Comeback {
    project: String,
    service: String,
    container: String,
}

impl Comeback {
    /// Whether removing the container (`name`, `labels`) is undone by its stack: a replica
    /// (not a one-off `run`) of a registered stack's service that nobody parked.
    async fn of(d: &Daemon, name: &str, labels: &BTreeMap<String, String>) -> Option<Self> {
        if labels.get(LABEL_ONEOFF).map(String::as_str) == Some("True") {
            return None;
        }
        let project = labels.get(LABEL_PROJECT)?;
        let service = labels.get(LABEL_SERVICE)?;
        d.stacks
            .brings_back(project, service)
            .await
            .then(|| Comeback {
                project: project.clone(),
                service: service.clone(),
                container: name.to_string(),
            })
    }

    /// Publishes the stack `recreate` event; once the container is gone.
    fn announce(&self, d: &Daemon) {
        let reason = format!(
            "container {} of service {} was removed by hand; the stack recreates it",
            self.container, self.service
        );
        d.containers.events.emit_stack_with(
            "recreate",
            &self.project,
            [
                (LABEL_SERVICE, self.service.as_str()),
                ("container", self.container.as_str()),
                ("reason", reason.as_str()),
            ],
        );
    }

    /// What the client that removed it is told: that it comes back, and how to keep the
    /// service down instead.
    pub fn notice(&self) -> String {
        let (p, s) = (&self.project, &self.service);
        format!(
            "container {} belongs to service {s} of stack {p}, which berth keeps converged: it will be recreated. To keep the service down, use `berth -p {p} stop {s}` or `berth -p {p} rm -s -f {s}` (`berth -p {p} up` or `start {s}` takes it back)",
            self.container
        )
    }
}
