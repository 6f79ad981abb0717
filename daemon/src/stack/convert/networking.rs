//! Where a service's containers are attached: `network_mode`, or its networks with the
//! service's name as an alias on each.

use berth_compose::loader::model::Service;
use berth_compose::loader::Project;
use berth_compose::{container_name, network_name};
use berth_engine::container::NetworkEndpoint;

/// The network mode (empty: the service's networks) and the networks, highest priority first.
pub(super) fn attachments(
    p: &Project,
    name: &str,
    svc: &Service,
) -> Result<(String, Vec<NetworkEndpoint>), String> {
    let mut networks = Vec::new();
    let mut network_mode = String::new();
    match svc.network_mode.as_deref() {
        Some(m @ ("host" | "none")) => network_mode = m.into(),
        Some(m) if m.starts_with("service:") => {
            let other = &m["service:".len()..];
            let osvc = p.services.get(other).ok_or_else(|| {
                format!("service {name}: network_mode refers to undefined service {other}")
            })?;
            network_mode = format!("container:{}", container_name(&p.name, other, osvc, 1));
        }
        Some(m) if m.starts_with("container:") => network_mode = m.into(),
        Some(m) => return Err(format!("service {name}: unsupported network_mode {m}")),
        None => {
            for (key, ep) in &svc.networks {
                let ep = ep.clone().unwrap_or_default();
                // Compose makes the service name an alias on every network: that is how
                // services find each other.
                let mut aliases = vec![name.to_string()];
                aliases.extend(ep.aliases.iter().cloned());
                networks.push(NetworkEndpoint {
                    name: network_name(p, key),
                    aliases,
                    ipv4_address: ep.ipv4_address.clone(),
                    priority: ep.priority.unwrap_or(0) as i32,
                });
            }
            networks.sort_by_key(|n| std::cmp::Reverse(n.priority));
        }
    }
    Ok((network_mode, networks))
}

/// `links:`: `service[:alias]` names a service; the link targets its first container.
pub(super) fn links(p: &Project, svc: &Service) -> Vec<String> {
    svc.links
        .iter()
        .map(|l| {
            let (target, alias) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
            let name = p
                .services
                .get(target)
                .map(|t| container_name(&p.name, target, t, 1))
                .unwrap_or_else(|| target.to_string());
            format!("{name}:{alias}")
        })
        .collect()
}
