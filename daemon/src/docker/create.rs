//! `POST /containers/create`: Docker's create body (Config, HostConfig, NetworkingConfig)
//! turned into berth's [`ContainerConfig`], which the daemon's own create path then makes
//! (the same one `berth container create` and the stack controller use).
//!
//! The body is read strictly: every field of Docker's API is named here (so a field no
//! Docker client sends is a 400, as a mistyped one is), and fields berth does not act on are
//! accepted when they hold their zero value and otherwise reported in the answer's
//! `Warnings`, which the docker CLI prints: nothing is ignored silently.

use super::super::http::ApiError;
use super::create_body::{CreateBody, Mount, StrSlice};
use berth_engine::container::{
    ContainerConfig, HealthConfig, MountConfig, NetworkEndpoint, Resources, RestartPolicy,
};
use berth_engine::runtime::spec::Rlimit;
use serde_json::Value;

/// Notes what is set but not acted on.
struct Ignored(Vec<String>);

impl Ignored {
    fn check<T: PartialEq + Default>(&mut self, name: &str, v: &Option<T>) {
        if v.as_ref().is_some_and(|v| *v != T::default()) {
            self.0
                .push(format!("{name} is not supported by berth and was ignored"));
        }
    }
    fn value(&mut self, name: &str, v: &Option<Value>) {
        let set = match v {
            None | Some(Value::Null) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(Value::String(s)) => !s.is_empty(),
        };
        if set {
            self.0
                .push(format!("{name} is not supported by berth and was ignored"));
        }
    }
}

/// The network a container joins when it names none: Docker's `bridge` is berth's default.
fn is_default_network(n: &str) -> bool {
    n.is_empty() || n == "default" || n == "bridge"
}

/// Translates a create body named `name` into berth's config; the second value lists the
/// warnings for the answer.
#[cfg(test)]
pub fn translate(name: &str, b: CreateBody) -> Result<(ContainerConfig, Vec<String>), ApiError> {
    translate_with(name, b).map(|(c, w, _)| (c, w))
}

/// [`translate`], also handing back HostConfig.VolumesFrom (`NAME[:ro|rw]`), which needs the
/// other containers and is resolved by the caller.
pub fn translate_with(
    name: &str,
    mut b: CreateBody,
) -> Result<(ContainerConfig, Vec<String>, Vec<String>), ApiError> {
    let volumes_from = b
        .host_config
        .as_mut()
        .and_then(|h| h.volumes_from.take())
        .unwrap_or_default();
    let (c, w) = translate_body(name, b)?;
    Ok((c, w, volumes_from))
}

fn translate_body(name: &str, b: CreateBody) -> Result<(ContainerConfig, Vec<String>), ApiError> {
    let mut ig = Ignored(Vec::new());
    let h = b.host_config.unwrap_or_default();
    let image = b.image.filter(|i| !i.is_empty()).ok_or_else(|| {
        ApiError::bad_request("config cannot be empty in order to create a container")
    })?;
    ig.check("MacAddress", &b.mac_address);
    ig.check("NetworkDisabled", &b.network_disabled);
    ig.check("OnBuild", &b.on_build);
    ig.check("Shell", &b.shell);
    let mut cfg = ContainerConfig {
        name: name.to_string(),
        image,
        cmd: b.cmd.map(StrSlice::into_vec),
        // `--entrypoint ""` arrives as [""]: no entrypoint at all, not the image's.
        entrypoint: b.entrypoint.map(|e| {
            let v = e.into_vec();
            if v.len() == 1 && v[0].is_empty() {
                Vec::new()
            } else {
                v
            }
        }),
        env: b.env.unwrap_or_default(),
        working_dir: b.working_dir.filter(|w| !w.is_empty()),
        user: b.user.filter(|u| !u.is_empty()),
        hostname: b.hostname.filter(|h| !h.is_empty()),
        domainname: b.domainname.filter(|d| !d.is_empty()),
        labels: b.labels.unwrap_or_default(),
        tty: b.tty.unwrap_or(false),
        open_stdin: b.open_stdin.unwrap_or(false),
        stop_signal: b.stop_signal.filter(|s| !s.is_empty()),
        stop_timeout: b.stop_timeout.filter(|t| *t >= 0).map(|t| t as u64),
        exposed_ports: b.exposed_ports.unwrap_or_default().into_keys().collect(),
        ..Default::default()
    };
    // `docker run -t` on a terminal sends its size (rows, columns), [0, 0] when it has none:
    // the container's terminal starts at that size, before the client's first resize.
    if let Some([rows, cols]) = h.console_size.as_deref() {
        let fit = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
        cfg.console_size = (*rows > 0 && *cols > 0).then(|| [fit(*rows), fit(*cols)]);
    }
    if let Some(hc) = &b.healthcheck {
        let test: Vec<String> = hc["Test"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if test.first().map(String::as_str) == Some("NONE") {
            cfg.no_healthcheck = true;
        } else if !test.is_empty() {
            cfg.healthcheck = HealthConfig::from_image(hc);
        }
    }
    // Anonymous volumes of Config.Volumes: made fresh, removed with `rm -v`.
    for target in b.volumes.unwrap_or_default().into_keys() {
        cfg.mounts
            .push(mount("volume", String::new(), &target, false));
    }
    for bind in h.binds.unwrap_or_default() {
        cfg.mounts.push(bind_spec(&bind)?);
    }
    for m in h.mounts.unwrap_or_default() {
        cfg.mounts.push(mount_spec(m, &mut ig)?);
    }
    for (target, opts) in h.tmpfs.unwrap_or_default() {
        let spec = if opts.is_empty() {
            target
        } else {
            format!("{target}:{opts}")
        };
        let mut skipped = Vec::new();
        let m = MountConfig::parse_tmpfs(&spec, &mut skipped).map_err(ApiError::bad_request)?;
        for o in skipped {
            ig.0.push(format!(
                "tmpfs option {o} is not supported by berth and was ignored"
            ));
        }
        cfg.mounts.push(m);
    }
    // Resources.
    let cpus = match (
        h.nano_cpus.filter(|n| *n > 0),
        h.cpu_quota.filter(|q| *q > 0),
    ) {
        (Some(n), _) => Some(n as f64 / 1e9),
        (None, Some(q)) => {
            Some(q as f64 / h.cpu_period.filter(|p| *p > 0).unwrap_or(100_000) as f64)
        }
        _ => None,
    };
    cfg.resources = Resources {
        memory: h.memory.filter(|m| *m > 0),
        cpus,
        cpu_shares: h.cpu_shares.filter(|s| *s > 0).map(|s| s as u64),
        // 0 and -1 are both "unlimited" in Docker's API.
        pids_limit: h.pids_limit.filter(|p| *p > 0),
        cpuset_cpus: h.cpuset_cpus.filter(|c| !c.is_empty()),
        ..Default::default()
    };
    ig.check("CgroupParent", &h.cgroup_parent);
    ig.check("BlkioWeight", &h.blkio_weight);
    for (n, v) in [
        ("BlkioWeightDevice", &h.blkio_weight_device),
        ("BlkioDeviceReadBps", &h.blkio_device_read_bps),
        ("BlkioDeviceWriteBps", &h.blkio_device_write_bps),
        ("BlkioDeviceReadIOps", &h.blkio_device_read_iops),
        ("BlkioDeviceWriteIOps", &h.blkio_device_write_iops),
        ("Devices", &h.devices),
        ("DeviceCgroupRules", &h.device_cgroup_rules),
        ("DeviceRequests", &h.device_requests),
    ] {
        ig.value(n, v);
    }
    ig.check("CpuRealtimePeriod", &h.cpu_realtime_period);
    ig.check("CpuRealtimeRuntime", &h.cpu_realtime_runtime);
    ig.check("CpusetMems", &h.cpuset_mems);
    ig.check("KernelMemory", &h.kernel_memory);
    ig.check("KernelMemoryTCP", &h.kernel_memory_tcp);
    ig.check("MemoryReservation", &h.memory_reservation);
    // MemorySwap equal to Memory (or -1 meaning "as much as the host has") changes nothing
    // berth does: `--memory` alone already limits swap to zero.
    if let Some(s) = h.memory_swap.filter(|s| *s > 0 && Some(*s) != h.memory) {
        ig.0.push(format!(
            "MemorySwap {s} is not supported by berth and was ignored (swap is limited to none)"
        ));
    }
    if let Some(s) = h.memory_swappiness.filter(|s| *s >= 0) {
        ig.0.push(format!(
            "MemorySwappiness {s} is not supported by berth and was ignored"
        ));
    }
    ig.check("OomKillDisable", &h.oom_kill_disable);
    ig.check("CpuCount", &h.cpu_count);
    ig.check("CpuPercent", &h.cpu_percent);
    ig.check("IOMaximumIOps", &h.io_maximum_iops);
    ig.check("IOMaximumBandwidth", &h.io_maximum_bandwidth);
    cfg.init = h.init.unwrap_or(false);
    for u in h.ulimits.unwrap_or_default() {
        if u.soft < 0 || u.hard < 0 {
            return Err(ApiError::bad_request(format!(
                "invalid ulimit {}: negative value",
                u.name
            )));
        }
        cfg.ulimits.push(Rlimit {
            name: u.name.trim_start_matches("RLIMIT_").to_ascii_lowercase(),
            soft: u.soft as u64,
            hard: u.hard as u64,
        });
    }
    if let Some(lc) = h.log_config {
        match lc.kind.as_deref().unwrap_or("") {
            "" | "json-file" | "local" => {}
            other => ig.0.push(format!(
                "log driver {other} is not supported by berth: json-file is used"
            )),
        }
        for (k, v) in lc.config.unwrap_or_default() {
            match k.as_str() {
                "max-size" => {
                    cfg.log_max_size =
                        Some(berth_engine::container::parse_bytes(&v).map_err(|e| {
                            ApiError::bad_request(format!("invalid max-size {v}: {e}"))
                        })? as u64)
                }
                "max-file" => {
                    cfg.log_max_files = Some(
                        v.parse()
                            .map_err(|_| ApiError::bad_request(format!("invalid max-file {v}")))?,
                    )
                }
                _ => ig.0.push(format!(
                    "log option {k} is not supported by berth and was ignored"
                )),
            }
        }
    }
    if let Some(rp) = h.restart_policy {
        let name = rp.name.unwrap_or_default();
        cfg.restart = match name.as_str() {
            "" | "no" => RestartPolicy::No,
            "on-failure" => RestartPolicy::OnFailure {
                max_retries: rp.maximum_retry_count.unwrap_or(0),
            },
            other => RestartPolicy::parse(other)
                .map_err(|_| ApiError::bad_request(format!("invalid restart policy '{other}'")))?,
        };
    }
    cfg.auto_remove = h.auto_remove.unwrap_or(false);
    ig.check("VolumeDriver", &h.volume_driver);
    ig.check("ContainerIDFile", &h.container_id_file);
    ig.check("Annotations", &h.annotations);
    ig.check("Capabilities", &h.capabilities);
    cfg.cap_add = h.cap_add.unwrap_or_default();
    cfg.cap_drop = h.cap_drop.unwrap_or_default();
    cfg.dns = h.dns.unwrap_or_default();
    cfg.dns_search = h.dns_search.unwrap_or_default();
    ig.check("DnsOptions", &h.dns_options);
    cfg.extra_hosts = h.extra_hosts.unwrap_or_default();
    ig.check("GroupAdd", &h.group_add);
    for (n, v) in [
        ("IpcMode", &h.ipc_mode),
        ("PidMode", &h.pid_mode),
        ("Cgroup", &h.cgroup),
        ("UTSMode", &h.uts_mode),
        ("UsernsMode", &h.userns_mode),
        ("Isolation", &h.isolation),
    ] {
        // Docker's own defaults name what berth does anyway.
        if let Some(m) = v
            .as_deref()
            .filter(|m| !["", "private", "shareable", "default"].contains(m))
        {
            ig.0.push(format!("{n} {m} is not supported by berth and was ignored"));
        }
    }
    if let Some(m) = h
        .cgroupns_mode
        .as_deref()
        .filter(|m| !m.is_empty() && *m != "private")
    {
        ig.0.push(format!(
            "CgroupnsMode {m} is not supported by berth and was ignored"
        ));
    }
    if let Some(r) = h
        .runtime
        .as_deref()
        .filter(|r| !["", "runc", "berth"].contains(r))
    {
        ig.0.push(format!(
            "runtime {r} is not supported by berth: its own runtime is used"
        ));
    }
    cfg.links = h
        .links
        .unwrap_or_default()
        .into_iter()
        // The API form is `/name:/container/alias`; the CLI's is `name:alias`.
        .map(|l| match l.split_once(':') {
            Some((n, a)) => format!(
                "{}:{}",
                n.trim_start_matches('/'),
                a.rsplit('/').next().unwrap_or(a)
            ),
            None => l.trim_start_matches('/').to_string(),
        })
        .collect();
    ig.check("OomScoreAdj", &h.oom_score_adj);
    cfg.privileged = h.privileged.unwrap_or(false);
    cfg.publish_all = h.publish_all_ports.unwrap_or(false);
    cfg.read_only = h.readonly_rootfs.unwrap_or(false);
    cfg.security_opt = h.security_opt.unwrap_or_default();
    ig.check("StorageOpt", &h.storage_opt);
    cfg.shm_size = h.shm_size.filter(|s| *s > 0).map(|s| s as u64);
    cfg.sysctls = h.sysctls.unwrap_or_default();
    ig.check("MaskedPaths", &h.masked_paths);
    ig.check("ReadonlyPaths", &h.readonly_paths);
    for (port, bindings) in h.port_bindings.unwrap_or_default() {
        let bindings = bindings.unwrap_or_default();
        if bindings.is_empty() {
            cfg.ports.push(port.clone());
        }
        for pb in bindings {
            let ip = pb.host_ip.unwrap_or_default();
            let hp = pb.host_port.unwrap_or_default();
            let spec = match (ip.as_str(), ip.contains(':')) {
                ("", _) => format!("{hp}:{port}"),
                (_, true) => format!("[{ip}]:{hp}:{port}"),
                (_, false) => format!("{ip}:{hp}:{port}"),
            };
            cfg.ports.push(spec);
        }
    }
    // Networks: NetworkMode names the first; NetworkingConfig carries aliases and addresses
    // (Compose sends every network there from API 1.44 on, one per create before).
    let mode = h.network_mode.unwrap_or_default();
    let mut endpoints = b
        .networking_config
        .and_then(|n| n.endpoints_config)
        .unwrap_or_default();
    match mode.as_str() {
        "host" | "none" => cfg.network_mode = mode.clone(),
        m if m.starts_with("container:") => cfg.network_mode = mode.clone(),
        m if m.starts_with("service:") => {
            return Err(ApiError::bad_request(format!("invalid network mode {m}")))
        }
        m => {
            let mut order: Vec<String> = Vec::new();
            if !is_default_network(m) {
                order.push(m.to_string());
            }
            order.extend(
                endpoints
                    .keys()
                    .filter(|k| !order.contains(k))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            // Only the default network: berth's own default, nothing to name.
            if !(order.len() == 1 && is_default_network(&order[0])) {
                for net in order {
                    let ep = endpoints.remove(&net).flatten().unwrap_or_default();
                    let ipv4 = ep
                        .ipam_config
                        .as_ref()
                        .and_then(|c| c.ipv4_address.clone())
                        .filter(|a| !a.is_empty());
                    let name = if is_default_network(&net) {
                        super::super::networks::DEFAULT_NETWORK.to_string()
                    } else {
                        net
                    };
                    cfg.networks.push(NetworkEndpoint {
                        name,
                        aliases: ep.aliases.unwrap_or_default(),
                        ipv4_address: ipv4,
                        priority: ep.gw_priority.unwrap_or(0),
                    });
                }
            }
        }
    }
    Ok((cfg, ig.0))
}

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

fn invalid(spec: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("invalid volume specification: '{spec}': {why}"))
}

/// One of HostConfig.Binds: `SOURCE:TARGET[:OPTIONS]` (a host path or a volume name), or a
/// bare `TARGET` (an anonymous volume).
fn bind_spec(spec: &str) -> Result<MountConfig, ApiError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => return Err(invalid(spec, "too many colons")),
    };
    if !dst.starts_with('/') {
        return Err(invalid(spec, &format!("invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute")));
    }
    let (mut ro, mut nocopy) = (false, false);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => ro = true,
            "rw" => ro = false,
            "nocopy" => nocopy = true,
            "z" | "Z" | "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            | "consistent" | "cached" | "delegated" => {}
            _ => return Err(invalid(spec, &format!("invalid mode: {o}"))),
        }
    }
    if src.starts_with('/') {
        if !std::path::Path::new(src).exists() {
            // Docker creates a missing bind source for -v (not for --mount).
            std::fs::create_dir_all(src)
                .map_err(|e| ApiError::bad_request(format!("creating bind source {src}: {e}")))?;
        }
        return Ok(mount("bind", src.to_string(), dst, ro));
    }
    Ok(mount(
        if nocopy { "volume-nocopy" } else { "volume" },
        src.to_string(),
        dst,
        ro,
    ))
}

/// One of HostConfig.Mounts.
fn mount_spec(m: Mount, ig: &mut Ignored) -> Result<MountConfig, ApiError> {
    let kind = m.kind.unwrap_or_else(|| "volume".into());
    let target = m.target.unwrap_or_default();
    let bad = |why: &str| {
        ApiError::bad_request(format!("invalid mount config for type \"{kind}\": {why}"))
    };
    if target.is_empty() {
        return Err(bad("field Target must not be empty"));
    }
    if !target.starts_with('/') {
        return Err(bad(&format!(
            "invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    let source = m.source.unwrap_or_default();
    let ro = m.read_only.unwrap_or(false);
    ig.value(
        "Mount.BindOptions",
        &m.bind_options.clone().map(|mut b| {
            // Propagation rprivate is what berth does.
            if let Some(o) = b.as_object_mut() {
                o.retain(|k, v| {
                    !(k == "Propagation" && (v == "rprivate" || v == ""))
                        && !v.is_null()
                        && v != &Value::Bool(false)
                });
            }
            b
        }),
    );
    ig.value("Mount.ImageOptions", &m.image_options);
    match kind.as_str() {
        "bind" => {
            if source.is_empty() {
                return Err(bad("field Source must not be empty"));
            }
            if !std::path::Path::new(&source).exists() {
                return Err(bad(&format!("bind source path does not exist: {source}")));
            }
            Ok(mount("bind", source, &target, ro))
        }
        "volume" => {
            let vo = m.volume_options.unwrap_or_default();
            ig.check("Mount.VolumeOptions.Subpath", &vo.subpath);
            ig.value(
                "Mount.VolumeOptions.DriverConfig",
                &vo.driver_config.filter(|d| {
                    d["Name"]
                        .as_str()
                        .is_some_and(|n| !n.is_empty() && n != "local")
                }),
            );
            let nocopy = vo.no_copy.unwrap_or(false);
            Ok(mount(
                if nocopy { "volume-nocopy" } else { "volume" },
                source,
                &target,
                ro,
            ))
        }
        "tmpfs" => {
            if !source.is_empty() {
                return Err(bad("field Source must not be specified"));
            }
            let to = m.tmpfs_options.unwrap_or_default();
            ig.value("Mount.TmpfsOptions.Options", &to.options);
            let mut mc = mount("tmpfs", String::new(), &target, ro);
            mc.size = to.size_bytes.filter(|s| *s > 0).map(|s| s as u64);
            mc.mode = to.mode.filter(|m| *m > 0);
            Ok(mc)
        }
        other => Err(ApiError::bad_request(format!(
            "mount type '{other}' is not supported by berth (volume, bind, tmpfs)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<(ContainerConfig, Vec<String>), ApiError> {
        let b: CreateBody = super::super::parse_json(body.as_bytes())?;
        translate("c", b)
    }

    #[test]
    fn run_with_ports_and_volumes() {
        let (c, w) = parse(
            r#"{"Image":"bb","Cmd":["echo","hi"],"Entrypoint":null,"Env":null,
            "ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},
            "HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
              "Binds":["vol:/v:ro"],"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},
              "Memory":0,"MemorySwappiness":null,"PidsLimit":null,"NetworkMode":"default",
              "Tmpfs":{"/run":"size=1m"}}}"#,
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.cmd, Some(vec!["echo".to_string(), "hi".to_string()]));
        assert_eq!(c.ports, vec!["8080:80/tcp".to_string()]);
        assert_eq!(c.restart, RestartPolicy::OnFailure { max_retries: 3 });
        assert_eq!(c.mounts.len(), 3);
        assert!(c.networks.is_empty() && c.network_mode.is_empty());
    }

    #[test]
    fn networks_and_aliases() {
        let (c, _) = parse(
            r#"{"Image":"bb","HostConfig":{"NetworkMode":"p_front"},
            "NetworkingConfig":{"EndpointsConfig":{"p_front":{"Aliases":["web"]},"p_back":{}}}}"#,
        )
        .unwrap();
        let names: Vec<&str> = c.networks.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["p_front", "p_back"]);
        assert_eq!(c.networks[0].aliases, ["web".to_string()]);
    }

    #[test]
    fn strictness() {
        assert!(parse(r#"{"Image":"bb","Bogus":1}"#)
            .unwrap_err()
            .message
            .contains("Bogus"));
        assert!(parse(r#"{"Image":"bb","HostConfig":{"Memory":"lots"}}"#).is_err());
        assert!(parse(r#"{"Cmd":["x"]}"#).is_err());
        let (_, w) = parse(r#"{"Image":"bb","HostConfig":{"OomScoreAdj":500,"Devices":[{"PathOnHost":"/dev/x"}]}}"#).unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
    }
}
