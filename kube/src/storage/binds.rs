//! Bind mounts -> ConfigMaps (the files' content, copied now) or hostPath volumes.

use super::{empty_dir, Mounts};
use crate::generate::Ctx;
use crate::{names, BindAs, Error};
use berth_compose::loader::model::ServiceVolume;
use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, HostPathVolumeSource, Volume};
use k8s_openapi::ByteString;
use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// The API server refuses a ConfigMap over 1 MiB (etcd's value limit, less room).
pub(crate) const CONFIGMAP_MAX: usize = 1 << 20;

/// The content of files as ConfigMap data: text in `data`, anything else in `binaryData`.
pub(crate) fn config_map(
    cx: &Ctx,
    name: &str,
    service: Option<&str>,
    files: Vec<(String, Vec<u8>)>,
    what: &str,
) -> Result<ConfigMap, Error> {
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    if total > CONFIGMAP_MAX {
        return Err(Error::Invalid(format!(
            "{what}: {total} bytes do not fit a ConfigMap (1 MiB at most){}",
            if what.contains("volumes[") {
                ": use --bind-as hostpath"
            } else {
                ""
            }
        )));
    }
    let (mut data, mut binary) = (BTreeMap::new(), BTreeMap::new());
    for (k, b) in files {
        match String::from_utf8(b) {
            Ok(t) => {
                data.insert(k, t);
            }
            Err(e) => {
                binary.insert(k, ByteString(e.into_bytes()));
            }
        }
    }
    Ok(ConfigMap {
        metadata: cx.meta(name, service),
        data: (!data.is_empty()).then_some(data),
        binary_data: (!binary.is_empty()).then_some(binary),
        ..ConfigMap::default()
    })
}

fn read(what: &str, p: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(p).map_err(|error| Error::Read {
        what: what.to_string(),
        path: p.to_path_buf(),
        error,
    })
}

pub(super) fn mount(
    cx: &mut Ctx,
    owner: &str,
    s: &str,
    key: &str,
    v: &ServiceVolume,
    ro: bool,
    m: &mut Mounts,
) -> Result<(), Error> {
    let Some(src) = &v.source else { return Ok(()) };
    let path = if Path::new(src).is_absolute() {
        PathBuf::from(src)
    } else {
        cx.p.working_dir.join(src)
    };
    let create = v
        .bind
        .as_ref()
        .and_then(|b| b.get("create_host_path"))
        .and_then(|c| c.as_bool())
        .unwrap_or(false);
    let meta = std::fs::metadata(&path).ok();
    let what = format!("service {s}: {key}");
    let host_path = |cx: &mut Ctx, m: &mut Mounts| {
        let type_ = match &meta {
            Some(md) if md.is_file() => "File",
            Some(md) if md.is_dir() => "Directory",
            Some(md) if md.file_type().is_socket() => "Socket",
            Some(md) if md.file_type().is_char_device() => "CharDevice",
            Some(md) if md.file_type().is_block_device() => "BlockDevice",
            Some(_) => "",
            None if create => "DirectoryOrCreate",
            None => "",
        };
        let _ = cx;
        let name = m.volume(
            "host",
            Volume {
                host_path: Some(HostPathVolumeSource {
                    path: path.to_string_lossy().into_owned(),
                    type_: (!type_.is_empty()).then(|| type_.to_string()),
                }),
                ..Volume::default()
            },
        );
        m.mount(name, &v.target, ro, None);
    };
    if cx.o.bind_as == BindAs::HostPath {
        host_path(cx, m);
        return Ok(());
    }
    let Some(md) = meta.clone() else {
        cx.w.service(
            s,
            key,
            format!(
                "{} does not exist: an empty directory is mounted",
                path.display()
            ),
        );
        let name = m.volume("bind", empty_dir(None, None));
        m.mount(name, &v.target, ro, None);
        return Ok(());
    };
    if !md.is_file() && !md.is_dir() {
        cx.w.service(
            s,
            key,
            format!(
                "{} is neither a file nor a directory: it is mounted from the node (hostPath)",
                path.display()
            ),
        );
        host_path(cx, m);
        return Ok(());
    }
    if !ro {
        cx.w.service(
            s,
            key,
            "is read-write; a ConfigMap is mounted read-only (writes fail; use --bind-as hostpath)",
        );
    }
    let mut name =
        names::subdomain(&format!("{}-{}", cx.names[owner], v.target)).unwrap_or_default();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = Some(name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::Invalid(format!("{what}: no usable ConfigMap name")))?;
    let mut files = vec![];
    let sub_path = if md.is_file() {
        let k = names::data_key(&path.file_name().unwrap_or_default().to_string_lossy());
        files.push((k.clone(), read(&what, &path)?));
        Some(k)
    } else {
        let mut entries: Vec<_> = std::fs::read_dir(&path)
            .map_err(|error| Error::Read {
                what: what.clone(),
                path: path.clone(),
                error,
            })?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let fname = e.file_name().to_string_lossy().into_owned();
            if p.is_file() && names::data_key(&fname) == fname {
                files.push((fname, read(&what, &p)?));
            } else {
                cx.w.service(
                    s,
                    key,
                    format!(
                        "{} is left out: a ConfigMap holds plainly named files of one directory",
                        p.display()
                    ),
                );
            }
        }
        None
    };
    if !cx.has("ConfigMap", &name) {
        let cm = config_map(cx, &name, Some(owner), files, &what)?;
        cx.push(cm);
    }
    let vol = m.volume(
        "bind",
        Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: name.clone(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
    );
    m.mount(vol, &v.target, true, sub_path);
    Ok(())
}
