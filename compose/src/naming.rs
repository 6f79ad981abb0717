//! Compose's names and the config hash: what the containers, networks and volumes of a
//! project are called, how many replicas a service wants, and the digest that decides
//! whether a container is recreated. Compose and `docker ps` see the same names.

use crate::loader::{Project, Service};
use sha2::{Digest, Sha256};

/// The service's config hash: what decides whether its containers are recreated. As
/// Compose's, it leaves out `build` and `pull_policy`: they change how the image is made, and
/// a changed image recreates through its id (the planner compares it), not through this.
pub fn config_hash(svc: &Service) -> String {
    if svc.build.is_none() && svc.pull_policy.is_none() {
        return hash_of(svc);
    }
    let mut run_config = svc.clone();
    run_config.build = None;
    run_config.pull_policy = None;
    hash_of(&run_config)
}

/// A stable digest of anything serializable (its JSON form).
pub fn hash_of(v: &impl serde::Serialize) -> String {
    let json = serde_json::to_vec(v).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

/// Compose's container name: `container_name`, else `project-service-N`.
pub fn container_name(project: &str, service: &str, svc: &Service, number: u32) -> String {
    svc.container_name
        .clone()
        .unwrap_or_else(|| format!("{project}-{service}-{number}"))
}

/// How many containers the service wants.
pub fn replicas(svc: &Service) -> u32 {
    svc.scale
        .or(svc.deploy.as_ref().and_then(|d| d.replicas))
        .unwrap_or(1)
        .max(0) as u32
}

/// The real name of a project network: `name:`, else the key itself for an external one
/// (Compose looks `external: true` objects up by their key), else `project_key`.
pub fn network_name(p: &Project, key: &str) -> String {
    let n = p.networks.get(key);
    real_name(
        p,
        key,
        n.and_then(|n| n.name.clone()),
        n.and_then(|n| n.external),
    )
}

/// The real name of a project volume, as [`network_name`].
pub fn volume_name(p: &Project, key: &str) -> String {
    let v = p.volumes.get(key);
    real_name(
        p,
        key,
        v.and_then(|v| v.name.clone()),
        v.and_then(|v| v.external),
    )
}

fn real_name(p: &Project, key: &str, name: Option<String>, external: Option<bool>) -> String {
    match (name, external) {
        (Some(n), _) => n,
        (None, Some(true)) => key.to_string(),
        (None, _) => format!("{}_{key}", p.name),
    }
}
