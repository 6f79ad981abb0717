//! The stack's networks and volumes: made (or, for a network whose definition changed, made
//! again with its containers rewired) before any container, and each container's volumes
//! resolved to host directories when it is made.

use super::{ev, Outcome, Progress};
use crate::http::ApiError;
use crate::Daemon;
use berth_compose::{Project, LABEL_HASH, LABEL_NETWORK, LABEL_PROJECT, LABEL_VOLUME};
use berth_engine::container::ContainerConfig;
use std::collections::BTreeMap;
use std::time::Instant;

/// Whether a pass may make a changed network again: `up` and the reconcile loop may; a
/// one-off `run` acts on the stack as it runs and only creates what is missing (its caller's
/// environment may interpolate another subnet; the running containers must not move).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NetworkChanges {
    Apply,
    CreateMissingOnly,
}

pub(super) async fn ensure_networks(
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
pub(super) fn network_spec(
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

pub(super) async fn ensure_volumes(
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

/// Named and anonymous volumes become host directories, as for any container (see
/// `Volumes::resolve_mounts`); anonymous ones carry the project label, so `down -v` and
/// `rm -v` find them.
pub(super) async fn resolve_volumes(d: &Daemon, cfg: &mut ContainerConfig) -> Result<(), ApiError> {
    d.volumes.resolve_mounts(&d.images, cfg).await.map(drop)
}

/// `volumes_from`: the mounts (binds and volumes) of another container, read-only with `:ro`,
/// read-write with `:rw`, else as that container has them. The loader made the source service a
/// dependency, so its container exists by now. The service's own mounts win on a clash.
pub(super) async fn resolve_volumes_from(
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
