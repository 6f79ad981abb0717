//! Named volumes -> PersistentVolumeClaims.

use crate::generate::Ctx;
use crate::options::SIZE_LABEL;
use crate::workload::{split_labels, Kind};
use crate::{names, Error};
use berth_compose::volume_name;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Volume,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::{BTreeMap, HashMap};

/// The claim of a Compose volume: named as Compose names the volume (`project_key`, or its
/// `name:`; an external one is its `name:` or its key), made a DNS name.
pub(crate) fn claim_name(cx: &Ctx, key: &str) -> String {
    let n = compose_name(cx, key);
    names::subdomain(&n).unwrap_or(n)
}

fn compose_name(cx: &Ctx, key: &str) -> String {
    match cx.p.volumes.get(key) {
        Some(v) if v.external == Some(true) => v.name.clone().unwrap_or_else(|| key.to_string()),
        _ => volume_name(cx.p, key),
    }
}

pub(super) fn volume(cx: &Ctx, key: &str) -> Volume {
    Volume {
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim_name(cx, key),
            read_only: None,
        }),
        ..Volume::default()
    }
}

/// Named volume -> the selected services that mount it, directly or through volumes_from.
fn users(cx: &Ctx) -> HashMap<String, Vec<String>> {
    let named = |s: &str| -> Vec<String> {
        cx.p.services
            .get(s)
            .into_iter()
            .flat_map(|svc| {
                svc.volumes
                    .iter()
                    .filter(|v| v.kind == "volume")
                    .filter_map(|v| v.source.clone())
            })
            .collect()
    };
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for s in &cx.selected {
        let mut keys = named(s);
        for f in &cx.p.services[s].volumes_from {
            let o = f.strip_prefix("service:").unwrap_or(f);
            keys.extend(named(o.split(':').next().unwrap_or_default()));
        }
        keys.sort();
        keys.dedup();
        for k in keys {
            out.entry(k).or_default().push(s.clone());
        }
    }
    out
}

/// Is `q` a Kubernetes quantity (a number with an optional SI or binary suffix)?
fn is_quantity(q: &str) -> bool {
    let n = q.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &q[n.len()..];
    !n.is_empty()
        && n.parse::<f64>().is_ok_and(|x| x > 0.0)
        && [
            "", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ]
        .contains(&unit)
}

pub(super) fn export(cx: &mut Ctx) -> Result<(), Error> {
    if !is_quantity(&cx.o.volume_size) {
        return Err(Error::Invalid(format!(
            "volume size {:?} is not a quantity such as 1Gi or 500Mi",
            cx.o.volume_size
        )));
    }
    let mut all_users = users(cx);
    for (key, vol) in cx.p.volumes.clone() {
        let Some(users) = all_users.remove(&key) else {
            continue;
        };
        let name = claim_name(cx, &key);
        if vol.external == Some(true) {
            if name != compose_name(cx, &key) {
                cx.w.push(
                    format!("volume {key}"),
                    "name",
                    format!("the external volume is taken to be the claim {name}"),
                );
            }
            continue; // an existing claim: nothing to make
        }
        let size = match vol.labels.get(SIZE_LABEL) {
            Some(s) if is_quantity(s) => s.clone(),
            Some(s) => {
                return Err(Error::Invalid(format!(
                    "volume {key}: label {SIZE_LABEL}={s:?} is not a quantity such as 1Gi or 500Mi"
                )))
            }
            None => cx.o.volume_size.clone(),
        };
        // Compose volumes are shared by every container that mounts them: more than one pod
        // needs a claim they can all mount at once.
        let shared = users.len() > 1
            || users
                .iter()
                .any(|u| cx.p.services[u].replicas() > 1 || cx.kinds[u] == Kind::DaemonSet);
        let mode = if shared {
            "ReadWriteMany"
        } else {
            "ReadWriteOnce"
        };
        let mut meta = cx.meta(&name, None);
        let (labels, annotations) = split_labels(&vol.labels);
        meta.labels.get_or_insert_with(BTreeMap::new).extend(labels);
        if !annotations.is_empty() {
            meta.annotations = Some(annotations);
        }
        cx.push(PersistentVolumeClaim {
            metadata: meta,
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec![mode.into()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([("storage".to_string(), Quantity(size))])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        });
    }
    Ok(())
}
