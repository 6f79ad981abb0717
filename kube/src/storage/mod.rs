//! volumes, volumes_from, tmpfs, shm_size, configs and secrets -> pod volumes and mounts, and
//! the objects behind them: PersistentVolumeClaims for named volumes, ConfigMaps for bind
//! mounts (or hostPath), ConfigMaps and Secrets for configs and secrets.

mod binds;
mod claims;
mod files;

use crate::generate::Ctx;
use crate::{names, Error};
use berth_compose::loader::model::ServiceVolume;
use berth_compose::loader::Service;
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, ImageVolumeSource, Volume, VolumeMount};
use serde_json::Value;

/// A pod's volumes and its container's mounts.
#[derive(Default)]
pub(crate) struct Mounts {
    pub volumes: Vec<Volume>,
    pub mounts: Vec<VolumeMount>,
}

impl Mounts {
    /// Adds a pod volume under a name of its own (made unique), or finds the one already
    /// there with the same source; returns its name.
    fn volume(&mut self, want: &str, mut v: Volume) -> String {
        // One claim, ConfigMap or host path mounted twice is one pod volume; each emptyDir
        // is a volume of its own.
        if v.empty_dir.is_none() {
            if let Some(same) = self.volumes.iter().find(|o| {
                Volume {
                    name: o.name.clone(),
                    ..v.clone()
                } == **o
            }) {
                return same.name.clone();
            }
        }
        let base = names::label(want).unwrap_or_else(|| "vol".into());
        let mut name = base.clone();
        let mut n = 2;
        while self.volumes.iter().any(|o| o.name == name) {
            name = format!("{}-{n}", &base[..base.len().min(58)]);
            n += 1;
        }
        v.name = name.clone();
        self.volumes.push(v);
        name
    }

    /// Mounts a volume at `path`, unless something is mounted there already (a service's own
    /// mounts come before those it takes with volumes_from).
    fn mount(&mut self, volume: String, path: &str, read_only: bool, sub_path: Option<String>) {
        if self.mounts.iter().any(|m| m.mount_path == path) {
            return;
        }
        self.mounts.push(VolumeMount {
            name: volume,
            mount_path: path.to_string(),
            read_only: read_only.then_some(true),
            sub_path,
            ..VolumeMount::default()
        });
    }
}

/// The objects the project's storage needs: claims, and the configs' and secrets' data.
pub(crate) fn project_objects(cx: &mut Ctx) -> Result<(), Error> {
    claims::export(cx)?;
    files::export(cx)
}

fn empty_dir(medium: Option<&str>, size: Option<i64>) -> Volume {
    Volume {
        empty_dir: Some(EmptyDirVolumeSource {
            medium: medium.map(str::to_string),
            size_limit: size.map(crate::resources::bytes),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The pod volumes and mounts of a service.
pub(crate) fn service_mounts(cx: &mut Ctx, s: &str, svc: &Service) -> Result<Mounts, Error> {
    let mut m = Mounts::default();
    for v in &svc.volumes {
        mount_one(cx, s, s, v, false, &mut m)?;
    }
    for (i, t) in svc.tmpfs.iter().enumerate() {
        // "/run:size=64m,mode=1777"
        let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        let mut size = None;
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o.split_once('=') {
                Some(("size", v)) => {
                    size = serde_json::from_value::<berth_compose::loader::model::ByteSize>(
                        Value::String(v.into()),
                    )
                    .ok()
                    .map(|b| b.0)
                }
                _ => cx.w.service(
                    s,
                    format!("tmpfs[{i}]"),
                    format!("option {o:?} has no emptyDir equivalent and is left out"),
                ),
            }
        }
        let name = m.volume("tmpfs", empty_dir(Some("Memory"), size));
        m.mount(name, path, false, None);
    }
    if let Some(shm) = svc.shm_size {
        // /dev/shm is the runtime's 64 MiB tmpfs; a memory emptyDir over it sets the size.
        let name = m.volume("dshm", empty_dir(Some("Memory"), Some(shm.0)));
        m.mount(name, "/dev/shm", false, None);
    }
    files::mounts(cx, s, svc, &mut m)?;
    for (i, from) in svc.volumes_from.iter().enumerate() {
        let (other, mode) = match from.rsplit_once(':') {
            Some((o, mode @ ("ro" | "rw"))) => (o, mode),
            _ => (from.as_str(), "rw"),
        };
        let other = other.strip_prefix("service:").unwrap_or(other);
        let Some(osvc) =
            cx.p.services
                .get(other)
                .filter(|_| !other.starts_with("container:"))
        else {
            cx.w.service(
                s,
                format!("volumes_from[{i}]"),
                format!("{from:?} names no service of the stack and is left out"),
            );
            continue;
        };
        let osvc = osvc.clone();
        for v in &osvc.volumes {
            mount_one(cx, other, s, v, mode == "ro", &mut m)?;
        }
    }
    Ok(m)
}

/// Mounts one of `owner`'s volumes into the pod of `s` (owner != s through volumes_from).
fn mount_one(
    cx: &mut Ctx,
    owner: &str,
    s: &str,
    v: &ServiceVolume,
    force_ro: bool,
    m: &mut Mounts,
) -> Result<(), Error> {
    let key = if owner == s {
        format!("volumes[{}]", v.target)
    } else {
        format!("volumes_from.{owner}.volumes[{}]", v.target)
    };
    let ro = force_ro || v.read_only == Some(true);
    let sub = |o: &Option<Value>, ok: &[&str]| -> Vec<String> {
        o.as_ref()
            .and_then(Value::as_object)
            .map(|m| {
                m.keys()
                    .filter(|k| !ok.contains(&k.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    match v.kind.as_str() {
        "volume" => {
            for k in sub(&v.volume, &["nocopy", "subpath"]) {
                cx.w.service(
                    s,
                    format!("{key}.volume.{k}"),
                    "has no Kubernetes equivalent and is left out",
                );
            }
            let sub_path = v
                .volume
                .as_ref()
                .and_then(|o| o.get("subpath"))
                .and_then(Value::as_str)
                .map(str::to_string);
            match &v.source {
                Some(src) => {
                    let name = m.volume(src, claims::volume(cx, src));
                    m.mount(name, &v.target, ro, sub_path);
                }
                None if owner != s => cx.w.service(s, key, "is an anonymous volume of another service: pods cannot share one, so it is left out"),
                None => {
                    // Compose keeps an anonymous volume across recreation; a pod's emptyDir
                    // lives as long as the pod.
                    let name = m.volume("anon", empty_dir(None, None));
                    m.mount(name, &v.target, ro, None);
                }
            }
        }
        "bind" => {
            for k in sub(&v.bind, &["create_host_path"]) {
                cx.w.service(
                    s,
                    format!("{key}.bind.{k}"),
                    "has no Kubernetes equivalent and is left out",
                );
            }
            binds::mount(cx, owner, s, &key, v, ro, m)?;
        }
        "tmpfs" if owner != s => cx.w.service(
            s,
            key,
            "is a tmpfs of another service: pods cannot share one, so it is left out",
        ),
        "tmpfs" => {
            for k in sub(&v.tmpfs, &["size"]) {
                cx.w.service(
                    s,
                    format!("{key}.tmpfs.{k}"),
                    "has no emptyDir equivalent and is left out",
                );
            }
            let size = v.tmpfs.as_ref().and_then(|t| t.get("size")).and_then(|x| {
                serde_json::from_value::<berth_compose::loader::model::ByteSize>(x.clone()).ok()
            });
            let name = m.volume("tmpfs", empty_dir(Some("Memory"), size.map(|b| b.0)));
            m.mount(name, &v.target, ro, None);
        }
        "image" => {
            let Some(src) = &v.source else { return Ok(()) };
            cx.w.service(
                s,
                key.clone(),
                "becomes an image volume, which needs a cluster with the ImageVolume feature",
            );
            let name = m.volume(
                "image",
                Volume {
                    image: Some(ImageVolumeSource {
                        reference: Some(src.clone()),
                        ..ImageVolumeSource::default()
                    }),
                    ..Volume::default()
                },
            );
            // Image volumes are always read-only.
            m.mount(name, &v.target, true, None);
        }
        other => cx.w.service(
            s,
            key,
            format!("is a {other} mount, which has no Kubernetes equivalent; it is left out"),
        ),
    }
    Ok(())
}
