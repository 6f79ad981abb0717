//! One-off containers of `berth run`: the service's config with the run's overrides.

use super::resources::{ensure_networks, ensure_volumes, resolve_volumes, resolve_volumes_from};
use super::{convert, Outcome, Progress};
use crate::http::ApiError;
use crate::stack::ports::Ports;
use berth_compose::{NetworkChanges, Project, LABEL_NUMBER};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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
/// `project-service-run-<12 hex>`, on the service's networks but publishing no ports (Compose
/// only publishes them with --service-ports, which would clash with the service's own).
pub async fn create_oneoff<D: Ports>(
    d: &Arc<D>,
    p: &Project,
    service: &str,
    o: &RunOptions,
) -> Result<D::Handle, ApiError> {
    let svc = p
        .services
        .get(service)
        .ok_or_else(|| ApiError::not_found(format!("no such service: {service}")))?;
    let mut ignored = Outcome::default();
    let quiet = Progress::default();
    ensure_networks(
        &**d,
        p,
        &mut ignored,
        &quiet,
        NetworkChanges::CreateMissingOnly,
    )
    .await?;
    ensure_volumes(&**d, p, &mut ignored, &Progress::default()).await?;
    let (mut cfg, _) =
        convert::container_config(p, service, svc, 1).map_err(ApiError::bad_request)?;
    let suffix: [u8; 6] = rand_bytes();
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
    resolve_volumes(&**d, &mut cfg).await?;
    resolve_volumes_from(&**d, p, service, &mut cfg).await?;
    d.create_container(cfg).await
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    b
}
