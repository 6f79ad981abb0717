//! Top-level configs and secrets -> ConfigMaps and Secrets, and the services' mounts of them.

use super::binds::config_map;
use super::Mounts;
use crate::generate::Ctx;
use crate::{names, Error};
use berth_compose::loader::model::{FileObject, FileReference};
use berth_compose::loader::Service;
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, KeyToPath, Secret, SecretVolumeSource, Volume,
};
use k8s_openapi::ByteString;
use std::collections::BTreeMap;
use std::path::Path;

/// The object name of a config or secret: its Compose name (`project_key`), a DNS name.
fn object_name(cx: &Ctx, key: &str, o: &FileObject) -> String {
    let n = o
        .name
        .clone()
        .unwrap_or_else(|| format!("{}_{key}", cx.p.name));
    names::subdomain(&n).unwrap_or(n)
}

fn used(cx: &Ctx, key: &str, secrets: bool) -> bool {
    cx.selected.iter().any(|s| {
        let svc = &cx.p.services[s];
        let refs = if secrets { &svc.secrets } else { &svc.configs };
        refs.iter().any(|r| r.source == key)
    })
}

/// The content of a config or secret: its file, its inline content, or a variable.
fn content(cx: &Ctx, what: &str, o: &FileObject) -> Result<Option<Vec<u8>>, Error> {
    if let Some(f) = &o.file {
        let p = cx.p.working_dir.join(Path::new(f));
        return std::fs::read(&p).map(Some).map_err(|error| Error::Read {
            what: what.to_string(),
            path: p,
            error,
        });
    }
    if let Some(c) = &o.content {
        return Ok(Some(c.clone().into_bytes()));
    }
    if let Some(var) = &o.environment {
        return match cx.p.environment.get(var) {
            Some(v) => Ok(Some(v.clone().into_bytes())),
            None => Err(Error::Invalid(format!("{what}: variable {var} is not set"))),
        };
    }
    Ok(None)
}

pub(super) fn export(cx: &mut Ctx) -> Result<(), Error> {
    for secrets in [false, true] {
        let all = if secrets {
            cx.p.secrets.clone()
        } else {
            cx.p.configs.clone()
        };
        let noun = if secrets { "secret" } else { "config" };
        for (key, o) in all {
            if !used(cx, &key, secrets) || o.external == Some(true) {
                continue; // an external one exists in the cluster already
            }
            for k in o.extra.keys() {
                cx.w.push(
                    format!("{noun} {key}"),
                    k.clone(),
                    "has no Kubernetes equivalent and is left out",
                );
            }
            let what = format!("{noun} {key}");
            let Some(data) = content(cx, &what, &o)? else {
                return Err(Error::Invalid(format!(
                    "{what}: no file, content or environment"
                )));
            };
            let name = object_name(cx, &key, &o);
            let dkey = names::data_key(&key);
            let mut meta_labels = BTreeMap::new();
            let (labels, _) = crate::workload::split_labels(&o.labels);
            meta_labels.extend(labels);
            if secrets {
                if data.len() > super::binds::CONFIGMAP_MAX {
                    return Err(Error::Invalid(format!(
                        "{what}: {} bytes do not fit a Secret (1 MiB at most)",
                        data.len()
                    )));
                }
                let mut meta = cx.meta(&name, None);
                meta.labels
                    .get_or_insert_with(BTreeMap::new)
                    .extend(meta_labels);
                cx.push(Secret {
                    metadata: meta,
                    data: Some(BTreeMap::from([(dkey, ByteString(data))])),
                    type_: Some("Opaque".into()),
                    ..Secret::default()
                });
            } else {
                let mut cm = config_map(cx, &name, None, vec![(dkey, data)], &what)?;
                cm.metadata
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .extend(meta_labels);
                cx.push(cm);
            }
        }
    }
    Ok(())
}

/// Octal file mode ("0440") as the number Kubernetes takes.
fn mode(cx: &mut Ctx, s: &str, key: &str, r: &FileReference) -> Option<i32> {
    let m = r.mode.as_deref()?;
    match i32::from_str_radix(m.trim_start_matches("0o"), 8) {
        Ok(n) if (0..=0o777).contains(&n) => Some(n),
        _ => {
            cx.w.service(
                s,
                format!("{key}.mode"),
                format!("{m:?} is not a file mode and is left out"),
            );
            None
        }
    }
}

pub(super) fn mounts(cx: &mut Ctx, s: &str, svc: &Service, m: &mut Mounts) -> Result<(), Error> {
    for secrets in [false, true] {
        let refs = if secrets { &svc.secrets } else { &svc.configs };
        let noun = if secrets { "secrets" } else { "configs" };
        for (i, r) in refs.iter().enumerate() {
            let key = format!("{noun}[{i}]");
            let defs = if secrets {
                &cx.p.secrets
            } else {
                &cx.p.configs
            };
            let Some(o) = defs.get(&r.source).cloned() else {
                continue;
            };
            if r.uid.is_some() || r.gid.is_some() {
                cx.w.service(s, format!("{key}.uid/gid"), "have no Kubernetes equivalent (the pod's fsGroup sets the group of every volume) and are left out");
            }
            // Compose's default places: /<name> for a config, /run/secrets/<name> for a secret.
            let target = match (&r.target, secrets) {
                (Some(t), true) if !t.starts_with('/') => format!("/run/secrets/{t}"),
                (Some(t), _) => t.clone(),
                (None, true) => format!("/run/secrets/{}", r.source),
                (None, false) => format!("/{}", r.source),
            };
            let name = object_name(cx, &r.source, &o);
            let dkey = names::data_key(&r.source);
            let items = Some(vec![KeyToPath {
                key: dkey.clone(),
                path: dkey.clone(),
                mode: mode(cx, s, &key, r),
                user: None,
            }]);
            let vol = if secrets {
                Volume {
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(name.clone()),
                        items,
                        ..SecretVolumeSource::default()
                    }),
                    ..Volume::default()
                }
            } else {
                Volume {
                    config_map: Some(ConfigMapVolumeSource {
                        name: name.clone(),
                        items,
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                }
            };
            let vname = m.volume(&format!("{}-{}", &noun[..noun.len() - 1], r.source), vol);
            m.mount(vname, &target, true, Some(dkey));
        }
    }
    Ok(())
}
