//! `-v` and `--mount` of `container run|create`, parsed as Docker's CLI parses them. A `-v`
//! source that is a path is a bind mount; anything else names a volume, which the daemon makes
//! when missing (and fills from the image); no source at all is an anonymous volume.

use anyhow::{bail, Context};
use berth_engine::container::MountConfig;

fn mount(kind: &str, source: String, target: &str, read_only: bool) -> MountConfig {
    MountConfig {
        kind: kind.into(),
        source,
        target: target.into(),
        read_only,
        size: None,
        mode: None,
    }
}

/// A bind source as the daemon needs it: absolute, existing (Docker's message otherwise).
fn bind_source(src: &str) -> anyhow::Result<String> {
    let path = std::fs::canonicalize(src).with_context(|| {
        format!("invalid mount config for type \"bind\": bind source path does not exist: {src}")
    })?;
    Ok(path.display().to_string())
}

/// `-v [SRC:]DST[:OPTS]`.
pub fn volume_flag(v: &str) -> anyhow::Result<MountConfig> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => bail!("invalid volume specification: '{v}'"),
    };
    if !dst.starts_with('/') {
        bail!("invalid volume specification: '{v}': invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute");
    }
    let mut read_only = false;
    let mut nocopy = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "nocopy" => nocopy = true,
            // SELinux relabelling and propagation modes: nothing for berth to do.
            "z" | "Z" | "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            | "consistent" | "cached" | "delegated" => {}
            _ => bail!("invalid volume specification: '{v}': invalid mode: {o}"),
        }
    }
    if src.starts_with('/') || src.starts_with('.') {
        if nocopy {
            bail!("invalid volume specification: '{v}': invalid mode: nocopy (only for volumes)");
        }
        return Ok(mount("bind", bind_source(src)?, dst, read_only));
    }
    let kind = if nocopy { "volume-nocopy" } else { "volume" };
    Ok(mount(kind, src.to_string(), dst, read_only))
}

/// A boolean `--mount` field: bare (`readonly`) is true.
fn truth(spec: &str, key: &str, value: Option<&str>) -> anyhow::Result<bool> {
    match value {
        None | Some("1" | "true") => Ok(true),
        Some("0" | "false") => Ok(false),
        Some(v) => {
            bail!("invalid argument \"{spec}\" for \"--mount\" flag: invalid value for {key}: {v}")
        }
    }
}

/// `--mount type=volume|bind|tmpfs,source=,target=[,readonly][,volume-nocopy][,tmpfs-size=]
/// [,tmpfs-mode=]` (type defaults to volume, as Docker's).
pub fn mount_flag(spec: &str) -> anyhow::Result<MountConfig> {
    let mut kind = "volume".to_string();
    let (mut source, mut target) = (String::new(), String::new());
    let (mut read_only, mut nocopy) = (false, false);
    let (mut size, mut mode) = (None, None);
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let need = || {
            value.map(str::to_string).ok_or_else(|| {
                anyhow::anyhow!("invalid argument \"{spec}\" for \"--mount\" flag: invalid field '{field}' must be a key=value pair")
            })
        };
        match key.as_str() {
            "type" => kind = need()?,
            "source" | "src" => source = need()?,
            "target" | "destination" | "dst" => target = need()?,
            "readonly" | "ro" => read_only = truth(spec, &key, value)?,
            "volume-nocopy" => nocopy = truth(spec, &key, value)?,
            "tmpfs-size" => {
                size = Some(
                    berth_engine::container::parse_bytes(&need()?).map_err(anyhow::Error::msg)?
                        as u64,
                )
            }
            "tmpfs-mode" => {
                let m = need()?;
                mode = Some(u32::from_str_radix(&m, 8).map_err(|_| {
                    anyhow::anyhow!("invalid argument \"{spec}\" for \"--mount\" flag: invalid value for tmpfs-mode: {m}")
                })?)
            }
            // Accepted for compatibility; nothing for berth to do with them.
            "consistency" | "bind-propagation" | "bind-recursive" | "volume-driver" => {}
            _ => bail!("invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{key}' in '{field}'"),
        }
    }
    if target.is_empty() {
        bail!("invalid mount config for type \"{kind}\": field Target must not be empty");
    }
    if !target.starts_with('/') {
        bail!("invalid mount config for type \"{kind}\": invalid mount path: '{target}' mount path must be absolute");
    }
    let only = |what: &str| format!("invalid mount config for type \"{kind}\": {what}");
    let mut m = match kind.as_str() {
        "volume" => mount(
            if nocopy { "volume-nocopy" } else { "volume" },
            source,
            &target,
            read_only,
        ),
        "bind" => {
            if source.is_empty() {
                bail!(only("field Source must not be empty"));
            }
            if nocopy {
                bail!(only("field VolumeOptions must not be specified"));
            }
            mount("bind", bind_source(&source)?, &target, read_only)
        }
        "tmpfs" => {
            if !source.is_empty() {
                bail!(only("field Source must not be specified"));
            }
            mount("tmpfs", String::new(), &target, read_only)
        }
        other => bail!("invalid argument \"{spec}\" for \"--mount\" flag: mount type '{other}' is not supported (volume, bind, tmpfs)"),
    };
    if kind != "tmpfs" && (size.is_some() || mode.is_some()) {
        bail!(only("field TmpfsOptions must not be specified"));
    }
    m.size = size;
    m.mode = mode;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags() {
        let m = volume_flag("data:/srv:ro").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.as_str(), m.read_only),
            ("volume", "data", true)
        );
        let m = volume_flag("/srv").unwrap();
        assert_eq!((m.kind.as_str(), m.source.as_str()), ("volume", ""));
        assert_eq!(volume_flag("d:/x:nocopy").unwrap().kind, "volume-nocopy");
        assert_eq!(volume_flag("/:/host").unwrap().kind, "bind");
        assert!(volume_flag("d:rel").is_err());
        assert!(volume_flag("d:/x:bogus").is_err());
    }

    #[test]
    fn mount_flags() {
        let m = mount_flag("type=volume,source=d,target=/srv,readonly,volume-nocopy").unwrap();
        assert_eq!(
            (
                m.kind.as_str(),
                m.source.as_str(),
                m.target.as_str(),
                m.read_only
            ),
            ("volume-nocopy", "d", "/srv", true)
        );
        let m = mount_flag("target=/anon").unwrap();
        assert_eq!((m.kind.as_str(), m.source.as_str()), ("volume", ""));
        let m = mount_flag("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777").unwrap();
        assert_eq!((m.size, m.mode), (Some(1 << 20), Some(0o1777)));
        let m = mount_flag("type=bind,src=/,target=/h,ro=false").unwrap();
        assert_eq!((m.kind.as_str(), m.read_only), ("bind", false));
        assert!(mount_flag("type=volume,source=d").is_err());
        assert!(mount_flag("type=bind,target=/x").is_err());
        assert!(mount_flag("type=tmpfs,source=x,target=/x").is_err());
        assert!(mount_flag("type=npipe,target=/x").is_err());
        assert!(mount_flag("type=volume,target=/x,bogus=1").is_err());
    }
}
