//! A service's mounts: binds (their source made unless told not to), named and anonymous
//! volumes, and tmpfs, from `volumes:` and `tmpfs:`.

use super::bytes_of;
use berth_compose::loader::model::{Service, ServiceVolume};
use berth_compose::loader::Project;
use berth_compose::volume_name;
use berth_engine::container::MountConfig;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Mount kind of an anonymous volume until the controller resolves it (`-nocopy` may follow).
use crate::volumes::ANONYMOUS_VOLUME;

/// The mounts of replica `number` of service `name`; volume types berth does not know and
/// tmpfs options it does not act on are warned about.
pub(super) fn mounts(
    p: &Project,
    name: &str,
    svc: &Service,
    number: u32,
    warn: &mut Vec<String>,
) -> Result<Vec<MountConfig>, String> {
    let mut mounts = Vec::new();
    for v in &svc.volumes {
        let read_only = v.read_only.unwrap_or(false);
        match v.kind.as_str() {
            "bind" => mounts.push(bind(name, v, read_only)?),
            "volume" => mounts.push(volume(p, name, number, v, read_only)),
            "tmpfs" => mounts.push(tmpfs(v, read_only)),
            other => warn.push(format!(
                "service {name}: volume type {other} is not supported yet and is ignored"
            )),
        }
    }
    for t in &svc.tmpfs {
        mounts.push(tmpfs_entry(name, t, warn)?);
    }
    Ok(mounts)
}

/// A bind mount; a missing source is made unless `bind.create_host_path: false`.
fn bind(name: &str, v: &ServiceVolume, read_only: bool) -> Result<MountConfig, String> {
    let src = v
        .source
        .clone()
        .ok_or_else(|| format!("service {name}: bind mount without a source"))?;
    let create = v
        .bind
        .as_ref()
        .and_then(|b| b.get("create_host_path"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if !std::path::Path::new(&src).exists() {
        if create {
            std::fs::create_dir_all(&src)
                .map_err(|e| format!("service {name}: creating bind source {src}: {e}"))?;
        } else {
            return Err(format!(
                "service {name}: bind source path does not exist: {src}"
            ));
        }
    }
    Ok(MountConfig {
        kind: "bind".into(),
        source: src,
        target: v.target.clone(),
        read_only,
        size: None,
        mode: None,
    })
}

/// A named volume, or an anonymous one named after the replica and its target, so a
/// recreated container finds its predecessor's and keeps the data (Compose hands anonymous
/// volumes on at recreation).
fn volume(p: &Project, name: &str, number: u32, v: &ServiceVolume, read_only: bool) -> MountConfig {
    let vol = match &v.source {
        Some(key) => volume_name(p, key),
        None => format!(
            "{}_{name}_{number}_{}",
            p.name,
            hex::encode(&Sha256::digest(v.target.as_bytes())[..6])
        ),
    };
    let kind = if v.source.is_some() {
        "volume"
    } else {
        ANONYMOUS_VOLUME
    };
    let nocopy = v
        .volume
        .as_ref()
        .and_then(|x| x.get("nocopy"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    MountConfig {
        kind: if nocopy {
            format!("{kind}-nocopy")
        } else {
            kind.into()
        },
        source: vol,
        target: v.target.clone(),
        read_only,
        size: None,
        mode: None,
    }
}

/// A `type: tmpfs` entry of `volumes:`, with its size and mode.
fn tmpfs(v: &ServiceVolume, read_only: bool) -> MountConfig {
    let size = v
        .tmpfs
        .as_ref()
        .and_then(|t| t.get("size"))
        .and_then(bytes_of)
        .map(|s| s as u64);
    let mode = v
        .tmpfs
        .as_ref()
        .and_then(|t| t.get("mode"))
        .and_then(Value::as_u64)
        .map(|m| m as u32);
    MountConfig {
        kind: "tmpfs".into(),
        source: String::new(),
        target: v.target.clone(),
        read_only,
        size,
        mode,
    }
}

/// A service-level `tmpfs` entry.
fn tmpfs_entry(service: &str, entry: &str, warn: &mut Vec<String>) -> Result<MountConfig, String> {
    let mut ignored = Vec::new();
    let m = MountConfig::parse_tmpfs(entry, &mut ignored)
        .map_err(|e| format!("service {service}: {e}"))?;
    warn.extend(ignored.into_iter().map(|opt| {
        format!(
            "service {service}: tmpfs option {opt} on {} is not supported yet and is ignored",
            m.target
        )
    }));
    Ok(m)
}
