//! The stack's networks and volumes: made (or, for a network whose definition changed, made
//! again with its containers rewired) before any container, as berth-compose's planner
//! decides ([`plan_networks`], [`plan_volumes`]); and each container's volumes resolved to host
//! directories when it is made.

use super::{ev, Outcome, Progress};
use crate::http::ApiError;
use crate::stack::ports::{ContainerPort, NetworkPort, Ports, VolumePort};
use berth_compose::{plan_networks, plan_volumes, NetworkAction, NetworkChanges, Project};
use berth_engine::container::ContainerConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

/// The networks of the project that exist, by name, with their labels.
pub(super) async fn observed_networks<D: NetworkPort>(
    d: &D,
    p: &Project,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for key in p.networks.keys() {
        let name = berth_compose::network_name(p, key);
        if let Some(info) = d.inspect_network(&name).await {
            out.insert(name, info.labels);
        }
    }
    out
}

/// The volumes of the project that exist, by name.
pub(super) async fn observed_volumes<D: VolumePort>(
    d: &D,
    p: &Project,
) -> Result<BTreeSet<String>, ApiError> {
    let mut out = BTreeSet::new();
    for key in p.volumes.keys() {
        let name = berth_compose::volume_name(p, key);
        if d.volume_exists(&name).await? {
            out.insert(name);
        }
    }
    Ok(out)
}

pub(super) async fn ensure_networks<D: NetworkPort + ContainerPort>(
    d: &D,
    p: &Project,
    out: &mut Outcome,
    progress: &Progress,
    changes: NetworkChanges,
) -> Result<(), ApiError> {
    let existing = observed_networks(d, p).await;
    for (name, action) in plan_networks(p, &existing, changes)? {
        let t = Instant::now();
        match action {
            NetworkAction::Keep => {}
            NetworkAction::LeaveChanged => {
                tracing::info!(network = %name, "network definition differs from the running one; left as it runs (apply it with up)");
            }
            NetworkAction::Create(def) => {
                progress.emit(ev("Network", &name, "Creating", t));
                d.create_network(def).await?;
                out.events
                    .push(progress.emit(ev("Network", &name, "Created", t)));
            }
            NetworkAction::Recreate(def) => {
                // The network as it runs now (its id and endpoints).
                let Some(info) = d.inspect_network(&name).await else {
                    continue;
                };
                // Each container keeps its address where the new subnet has it (an MTU or
                // label change, a subnet grown around the old one): peers that resolved a
                // name once, as nginx does its upstreams, keep reaching the same container.
                let attached: Vec<(String, std::net::Ipv4Addr)> = info
                    .endpoints
                    .iter()
                    .map(|e| (e.container_id.clone(), e.ip))
                    .collect();
                progress.emit(ev("Network", &name, "Recreate", t));
                for (id, _) in &attached {
                    d.detach(&info.id, id).await?;
                }
                d.remove_network(&info.id, &Default::default()).await?;
                d.create_network(def).await?;
                for (id, ip) in &attached {
                    let keep = std::collections::HashMap::from([(name.clone(), *ip)]);
                    d.rewire(id, keep).await?;
                }
                out.events
                    .push(progress.emit(ev("Network", &name, "Recreated", t)));
            }
        }
    }
    Ok(())
}

pub(super) async fn ensure_volumes<D: VolumePort>(
    d: &D,
    p: &Project,
    out: &mut Outcome,
    progress: &Progress,
) -> Result<(), ApiError> {
    let existing = observed_volumes(d, p).await?;
    for (name, labels) in plan_volumes(p, &existing)? {
        let t = Instant::now();
        progress.emit(ev("Volume", &name, "Creating", t));
        d.create_volume(&name, labels).await?;
        out.events
            .push(progress.emit(ev("Volume", &name, "Created", t)));
    }
    Ok(())
}

/// `up` after the person said yes (or `-y`) to recreating `names`, volumes whose definition
/// changed: the project's containers that mount one are stopped and removed, then the
/// volume, as Compose does; `ensure_volumes` makes it again and the pass the containers.
pub(super) async fn recreate_volumes<D: Ports>(
    d: &Arc<D>,
    p: &Project,
    names: &[String],
    out: &mut Outcome,
    progress: &Progress,
) -> Result<(), ApiError> {
    if names.is_empty() {
        return Ok(());
    }
    let data = |n: &str| format!("/volumes/{n}/_data");
    let mut users = Vec::new();
    for r in d.replicas(&p.name).await {
        let mounts = d.mounts_of(&r.name).await.unwrap_or_default();
        if mounts
            .iter()
            .any(|m| names.iter().any(|n| m.source.ends_with(&data(n))))
        {
            users.push(r);
        }
    }
    out.events
        .extend(super::down::remove_all(d, users, None, progress, None).await?);
    for n in names {
        if d.volume_exists(n).await? {
            d.remove_volume(n).await?;
        }
    }
    Ok(())
}

/// Named and anonymous volumes become host directories, as for any container (see
/// `Volumes::resolve_mounts`); anonymous ones carry the project label, so `down -v` and
/// `rm -v` find them.
pub(super) async fn resolve_volumes<D: VolumePort>(
    d: &D,
    cfg: &mut ContainerConfig,
) -> Result<(), ApiError> {
    d.resolve_mounts(cfg).await
}

/// `volumes_from`: the mounts (binds and volumes) of another container, read-only with `:ro`,
/// read-write with `:rw`, else as that container has them. The loader made the source service a
/// dependency, so its container exists by now. The service's own mounts win on a clash.
pub(super) async fn resolve_volumes_from<D: ContainerPort>(
    d: &D,
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
        let mounts = d.mounts_of(&container).await.ok_or_else(|| {
            ApiError::bad_request(format!(
                "service {service}: volumes_from: container {container} does not exist"
            ))
        })?;
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
