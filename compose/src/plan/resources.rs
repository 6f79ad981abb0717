//! The project's networks and volumes: what each should be ([`network_definition`]), and what
//! `up` does about each given what exists ([`plan_networks`], [`plan_volumes`]).

use crate::{hash_of, network_name, volume_name, Project, LABEL_HASH, LABEL_NETWORK};
use crate::{LABEL_PROJECT, LABEL_VOLUME};
use ipnetwork::Ipv4Network;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// Why a plan cannot be made: what `up` would stop at before acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// An external network or volume that does not exist.
    NotFound(String),
    /// A definition berth cannot act on (an unsupported driver, an invalid address).
    Invalid(String),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::NotFound(m) | PlanError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PlanError {}

/// A bridge network as the project defines it, addresses parsed; its labels carry the
/// project's, and [`LABEL_HASH`] the hash of the whole definition (what tells a network whose
/// definition changed since it was made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkDefinition {
    pub name: String,
    pub subnet: Option<Ipv4Network>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Network>,
    pub internal: bool,
    pub mtu: Option<u32>,
    pub labels: BTreeMap<String, String>,
}

/// The definition of the project's network `key` (named `name` on the host).
pub fn network_definition(
    p: &Project,
    key: &str,
    net: &crate::loader::model::Network,
    name: &str,
) -> Result<NetworkDefinition, PlanError> {
    if let Some(driver) = net.driver.as_deref().filter(|d| *d != "bridge") {
        return Err(PlanError::Invalid(format!(
            "network {key}: driver {driver} is not supported (only bridge)"
        )));
    }
    let pool = net.ipam.config.first();
    let parse_net = |s: Option<&String>| {
        s.map(|x| x.parse())
            .transpose()
            .map_err(|_| PlanError::Invalid(format!("network {key}: invalid ipam address")))
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
    let mut def = NetworkDefinition {
        name: name.to_string(),
        subnet: parse_net(pool.and_then(|c| c.subnet.as_ref()))?,
        gateway: pool
            .and_then(|c| c.gateway.as_ref())
            .map(|g| g.parse())
            .transpose()
            .map_err(|_| PlanError::Invalid(format!("network {key}: invalid gateway")))?,
        ip_range: parse_net(pool.and_then(|c| c.ip_range.as_ref()))?,
        internal: net.internal.unwrap_or(false),
        mtu,
        labels,
    };
    let hash = hash_of(&(
        &def.subnet,
        &def.gateway,
        &def.ip_range,
        def.internal,
        def.mtu,
        &def.labels,
    ));
    def.labels.insert(LABEL_HASH.into(), hash);
    Ok(def)
}

/// Whether a pass may make a changed network again: `up` and the reconcile loop may; a
/// one-off `run` acts on the stack as it runs and only creates what is missing (its caller's
/// environment may interpolate another subnet; the running containers must not move).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkChanges {
    #[default]
    Apply,
    CreateMissingOnly,
}

/// What `up` does to one of the project's networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkAction {
    Create(NetworkDefinition),
    /// Its definition changed: made again, its containers rewired onto it (they keep their
    /// addresses where the new subnet has them).
    Recreate(NetworkDefinition),
    /// Its definition changed, but the pass leaves it as it runs ([`NetworkChanges`]).
    LeaveChanged,
    /// Up to date, external, or not this stack's to change.
    Keep,
}

/// The project's networks (non-external ones) in file order, each with what `up` does to it.
/// `existing` holds the labels of the networks that exist, by name. Only a network this
/// stack made and recorded a hash on is ever made again: networks of an earlier berth that
/// carry no hash, and networks of other stacks, are left as they are.
pub fn plan_networks(
    p: &Project,
    existing: &BTreeMap<String, BTreeMap<String, String>>,
    changes: NetworkChanges,
) -> Result<Vec<(String, NetworkAction)>, PlanError> {
    let mut out = Vec::new();
    for (key, net) in &p.networks {
        let name = network_name(p, key);
        let labels = existing.get(&name);
        if net.external == Some(true) {
            if labels.is_none() {
                return Err(PlanError::NotFound(format!(
                    "network {name} declared as external, but could not be found"
                )));
            }
            continue;
        }
        let def = network_definition(p, key, net, &name)?;
        let Some(labels) = labels else {
            out.push((name, NetworkAction::Create(def)));
            continue;
        };
        let ours = labels.get(LABEL_PROJECT) == Some(&p.name);
        let recorded = labels.get(LABEL_HASH);
        let action = if !ours || recorded.is_none() || recorded == def.labels.get(LABEL_HASH) {
            NetworkAction::Keep
        } else if changes == NetworkChanges::CreateMissingOnly {
            NetworkAction::LeaveChanged
        } else {
            NetworkAction::Recreate(def)
        };
        out.push((name, action));
    }
    Ok(out)
}

/// Labels, by key.
pub type Labels = BTreeMap<String, String>;

/// The volumes `up` creates: the project's non-external volumes that do not exist yet, in file
/// order, each with its labels. An external volume that does not exist fails the plan.
pub fn plan_volumes(
    p: &Project,
    existing: &BTreeSet<String>,
) -> Result<Vec<(String, Labels)>, PlanError> {
    let mut out = Vec::new();
    for (key, vol) in &p.volumes {
        let name = volume_name(p, key);
        if existing.contains(&name) {
            continue;
        }
        if vol.external == Some(true) {
            return Err(PlanError::NotFound(format!(
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
        labels.insert(LABEL_HASH.into(), hash_of(vol));
        out.push((name, labels));
    }
    Ok(out)
}

/// The project's volumes that exist (`existing`: name -> labels) but were made from another
/// definition than the file's now: their recorded hash differs. Compose asks before it
/// recreates one (`up -y` says yes); a volume without the label (made by hand, or before
/// berth recorded it) or an external one is never among them.
pub fn diverged_volumes(p: &Project, existing: &BTreeMap<String, Labels>) -> Vec<String> {
    p.volumes
        .iter()
        .filter(|(_, vol)| vol.external != Some(true))
        .filter_map(|(key, vol)| {
            let name = volume_name(p, key);
            let recorded = existing.get(&name)?.get(LABEL_HASH)?;
            (*recorded != hash_of(vol)).then_some(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(yaml: &str) -> Project {
        crate::load(&crate::LoadOptions {
            files: vec!["-".into()],
            stdin: Some(yaml.into()),
            cwd: Some(std::env::temp_dir()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_volume_diverges_when_its_recorded_hash_differs() {
        // (One-letter names would read as Windows drives: `d:/d`.)
        let p = project(
            "name: s\nservices:\n  a:\n    image: x\n    volumes: [\"dd:/d\", \"ee:/e\"]\nvolumes:\n  dd:\n    labels: {x: \"2\"}\n  ee:\n    external: true\n",
        );
        let made = plan_volumes(&p, &BTreeSet::from(["ee".to_string()])).unwrap();
        let (name, labels) = made[0].clone();
        assert_eq!(name, "s_dd");
        let mut existing = BTreeMap::from([(name.clone(), labels.clone())]);
        assert!(diverged_volumes(&p, &existing).is_empty());
        existing
            .get_mut(&name)
            .unwrap()
            .insert(LABEL_HASH.into(), "old".into());
        assert_eq!(diverged_volumes(&p, &existing), vec!["s_dd".to_string()]);
        // Made without the label (by hand, or by an older berth): never asked about.
        existing.get_mut(&name).unwrap().remove(LABEL_HASH);
        assert!(diverged_volumes(&p, &existing).is_empty());
    }

    #[test]
    fn only_a_changed_network_of_this_stack_with_a_hash_is_recreated() {
        let p = project("name: s\nservices: {a: {image: x, networks: [n]}}\nnetworks:\n  n: {ipam: {config: [{subnet: 10.9.0.0/24}]}}\n");
        let def = network_definition(&p, "n", &p.networks["n"], "s_n").unwrap();
        assert_eq!(def.subnet, Some("10.9.0.0/24".parse().unwrap()));
        let mut labels = def.labels.clone();
        let mut existing = BTreeMap::from([("s_n".to_string(), labels.clone())]);
        let keep = plan_networks(&p, &existing, NetworkChanges::Apply).unwrap();
        assert_eq!(keep, vec![("s_n".into(), NetworkAction::Keep)]);
        labels.insert(LABEL_HASH.into(), "old".into());
        existing.insert("s_n".into(), labels.clone());
        let changed = plan_networks(&p, &existing, NetworkChanges::Apply).unwrap();
        assert_eq!(changed, vec![("s_n".into(), NetworkAction::Recreate(def))]);
        let left = plan_networks(&p, &existing, NetworkChanges::CreateMissingOnly).unwrap();
        assert_eq!(left, vec![("s_n".into(), NetworkAction::LeaveChanged)]);
        labels.remove(LABEL_HASH);
        existing.insert("s_n".into(), labels);
        let old = plan_networks(&p, &existing, NetworkChanges::Apply).unwrap();
        assert_eq!(old, vec![("s_n".into(), NetworkAction::Keep)]);
    }

    #[test]
    fn missing_externals_and_other_drivers_fail_the_plan() {
        let p = project("name: s\nservices:\n  a:\n    image: x\n    networks: [e]\n    volumes:\n      - data:/data\nnetworks:\n  e: {external: true}\nvolumes:\n  data: {external: true}\n");
        let err = plan_networks(&p, &BTreeMap::new(), NetworkChanges::Apply).unwrap_err();
        assert!(matches!(err, PlanError::NotFound(_)), "{err}");
        let err = plan_volumes(&p, &BTreeSet::new()).unwrap_err();
        assert_eq!(err.to_string(), "external volume \"data\" not found");
        // Found by their keys, as Compose looks external objects up.
        assert_eq!(crate::network_name(&p, "e"), "e");
        assert_eq!(crate::volume_name(&p, "data"), "data");
        // ... and `config` shows that name, as Compose's does.
        assert_eq!(p.volumes["data"].name.as_deref(), Some("data"));
        assert_eq!(p.networks["e"].name.as_deref(), Some("e"));
        let p = project("name: s\nservices: {a: {image: x, networks: [o]}}\nnetworks:\n  o: {driver: overlay}\n");
        let err = plan_networks(&p, &BTreeMap::new(), NetworkChanges::Apply).unwrap_err();
        assert!(matches!(err, PlanError::Invalid(_)), "{err}");
    }
}
