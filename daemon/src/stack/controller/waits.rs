//! Waiting: for `depends_on` conditions (healthy, completed successfully) before a level
//! starts, and for `up --wait`; every wait can be cut short by a stack going down.

use super::{ev, Progress, UpOptions};
use crate::containers::Ctr;
use crate::http::ApiError;
use crate::stack::ports::project_containers as observed;
use crate::Daemon;
use berth_compose::Project;
use berth_engine::container::Status;
use std::collections::HashSet;
use std::time::Instant;

/// Runs a wait that a stack going down must be able to cut short.
pub(super) async fn cancellable<T>(
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
pub(crate) async fn wait_dependencies(
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
pub(crate) async fn wait_ready(
    d: &Daemon,
    p: &Project,
    selected: &HashSet<String>,
) -> Result<(), ApiError> {
    let obs = observed(d, &p.name).await;
    for s in selected {
        for (_, c) in obs.get(s).into_iter().flatten() {
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
                _ if has_health => wait_healthy(c, s).await?,
                _ => {}
            }
        }
    }
    Ok(())
}
