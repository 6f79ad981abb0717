//! A container as Docker describes it: `GET /containers/{id}/json` (berth's own inspect,
//! which already speaks Docker's names, completed with the fields Docker clients read:
//! PortBindings, Binds, LogConfig, NetworkSettings per network, the /etc file paths...) and
//! the summaries of `GET /containers/json`, with Docker's list filters.

use super::super::containers::Ctr;
use super::filters::Filters;
use super::Door;
use berth_engine::container::{ContainerRecord, Status};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// HostConfig.PortBindings from the requested `-p` specs (what was asked, as Docker shows).
fn port_bindings(rec: &ContainerRecord) -> Value {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &rec.config.ports {
        let Ok(spec) = berth_netd::PortSpec::parse(p) else {
            continue;
        };
        let (cf, cl) = spec.container_ports;
        for (i, port) in (cf..=cl).enumerate() {
            let host = spec
                .host_ports
                .map(|(hf, _)| (hf as usize + i).to_string())
                .unwrap_or_default();
            out.entry(format!("{port}/{}", spec.protocol))
                .or_default()
                .push(json!({
                    "HostIp": spec.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                    "HostPort": host,
                }));
        }
    }
    json!(out)
}

/// Docker's NetworkSettings: one entry per joined network, the legacy top-level address of
/// the first, and the published ports.
async fn network_settings(door: &Door, rec: &ContainerRecord) -> Value {
    let d = &door.d;
    let base = super::super::api_networks::settings(d, &rec.id, &rec.config.networks).await;
    let mut networks = Map::new();
    let (mut ip, mut gw, mut mac, mut prefix) = (String::new(), String::new(), String::new(), 0);
    if let Some(nets) = base["Networks"].as_object() {
        for (name, n) in nets {
            let ep = rec.config.networks.iter().find(|e| &e.name == name);
            if ip.is_empty() {
                ip = n["IPAddress"].as_str().unwrap_or("").to_string();
                gw = n["Gateway"].as_str().unwrap_or("").to_string();
                mac = n["MacAddress"].as_str().unwrap_or("").to_string();
                prefix = n["IPPrefixLen"].as_u64().unwrap_or(0);
            }
            networks.insert(
                name.clone(),
                json!({
                    "IPAMConfig": ep.and_then(|e| e.ipv4_address.as_ref()).map(|a| json!({"IPv4Address": a})),
                    "Links": null,
                    "Aliases": n["Aliases"],
                    "MacAddress": n["MacAddress"],
                    "DriverOpts": null,
                    "NetworkID": n["NetworkID"],
                    "EndpointID": format!("{}{}", &rec.id[..32.min(rec.id.len())], &n["NetworkID"].as_str().unwrap_or("")[..32.min(n["NetworkID"].as_str().unwrap_or("").len())]),
                    "Gateway": n["Gateway"],
                    "IPAddress": n["IPAddress"],
                    "IPPrefixLen": n["IPPrefixLen"],
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "DNSNames": n["DNSNames"],
                }),
            );
        }
    }
    // A container not running is still "on" its configured networks, with no address.
    if networks.is_empty() && rec.config.network_mode.is_empty() {
        for e in super::super::networks::endpoints_of(rec) {
            networks.insert(
                e.name.clone(),
                json!({ "IPAMConfig": null, "Links": null, "Aliases": e.aliases, "NetworkID": "",
                        "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                        "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                        "MacAddress": "", "DriverOpts": null }),
            );
        }
    } else if networks.is_empty() && ["host", "none"].contains(&rec.config.network_mode.as_str()) {
        networks.insert(rec.config.network_mode.clone(), json!({ "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": "" }));
    }
    let running = matches!(rec.state.status, Status::Running | Status::Paused);
    let mut ports = base["Ports"].clone();
    if let Some(p) = ports.as_object_mut() {
        // Exposed ports that are not published show as null, as Docker's.
        for e in &rec.config.exposed_ports {
            p.entry(e.clone()).or_insert(Value::Null);
        }
    }
    json!({
        "Bridge": "",
        "SandboxID": if running { rec.id.clone() } else { String::new() },
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": if running { ports } else { json!({}) },
        "SandboxKey": if running { berth_netd::netns_path(&door.d.containers.run_dir, &rec.id).display().to_string() } else { String::new() },
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": "",
        "Gateway": gw,
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": ip,
        "IPPrefixLen": prefix,
        "IPv6Gateway": "",
        "MacAddress": mac,
        "Networks": networks,
    })
}

pub async fn inspect(door: &Door, ctr: &Ctr) -> Value {
    let rec = ctr.rec.lock().await.clone();
    let cs = &door.d.containers;
    let mut v = super::super::api::inspect(cs, &rec);
    let layout = cs.layout(&rec.id);
    let c = &rec.config;
    v["ResolvConfPath"] = json!(layout.dir.join("resolv.conf"));
    v["HostnamePath"] = json!(layout.dir.join("hostname"));
    v["HostsPath"] = json!(layout.dir.join("hosts"));
    v["Driver"] = json!("overlay2");
    v["Platform"] = json!("linux");
    v["MountLabel"] = json!("");
    v["ProcessLabel"] = json!("");
    v["AppArmorProfile"] = json!("");
    v["ExecIDs"] = json!(door.execs.of_container(&rec.id));
    v["GraphDriver"] = json!({
        "Name": "overlay2",
        "Data": { "UpperDir": layout.upper(), "WorkDir": layout.dir.join("fs/work"), "MergedDir": layout.dir.join("fs/rootfs") },
    });
    v["SizeRw"] = Value::Null;
    let hc = v["HostConfig"]
        .as_object_mut()
        .expect("HostConfig is an object");
    let binds: Vec<String> = c
        .mounts
        .iter()
        .filter(|m| m.kind == "bind")
        .map(|m| {
            format!(
                "{}:{}{}",
                m.source,
                m.target,
                if m.read_only { ":ro" } else { "" }
            )
        })
        .collect();
    hc.insert("Binds".into(), null_if_empty(json!(binds)));
    hc.insert("PortBindings".into(), port_bindings(&rec));
    hc.insert("PublishAllPorts".into(), json!(c.publish_all));
    hc.insert("Dns".into(), json!(c.dns));
    hc.insert("DnsSearch".into(), json!(c.dns_search));
    hc.insert("DnsOptions".into(), json!([]));
    hc.insert("ExtraHosts".into(), null_if_empty(json!(c.extra_hosts)));
    hc.insert("Links".into(), null_if_empty(json!(c.links)));
    hc.insert("SecurityOpt".into(), null_if_empty(json!(c.security_opt)));
    hc.insert(
        "CpusetCpus".into(),
        json!(c.resources.cpuset_cpus.clone().unwrap_or_default()),
    );
    hc.insert("Tmpfs".into(), {
        let t: BTreeMap<String, String> = c
            .mounts
            .iter()
            .filter(|m| m.kind == "tmpfs")
            .map(|m| {
                (
                    m.target.clone(),
                    m.size.map(|s| format!("size={s}")).unwrap_or_default(),
                )
            })
            .collect();
        null_if_empty(json!(t))
    });
    hc.insert("LogConfig".into(), {
        let mut cfg = Map::new();
        if let Some(s) = c.log_max_size {
            cfg.insert("max-size".into(), json!(s.to_string()));
        }
        if let Some(n) = c.log_max_files {
            cfg.insert("max-file".into(), json!(n.to_string()));
        }
        json!({ "Type": "json-file", "Config": cfg })
    });
    hc.insert("VolumesFrom".into(), Value::Null);
    hc.insert("CgroupnsMode".into(), json!("private"));
    hc.insert("IpcMode".into(), json!("private"));
    hc.insert("PidMode".into(), json!(""));
    hc.insert("Runtime".into(), json!("berth"));
    hc.insert(
        "ConsoleSize".into(),
        json!(c.console_size.unwrap_or_default()),
    );
    hc.insert("Isolation".into(), json!(""));
    let r = &c.resources;
    hc.insert(
        "MemorySwap".into(),
        json!(r.memory_swap.or(r.memory).unwrap_or(0)),
    );
    hc.insert(
        "MemoryReservation".into(),
        json!(r.memory_reservation.unwrap_or(0)),
    );
    hc.insert(
        "CpusetMems".into(),
        json!(r.cpuset_mems.clone().unwrap_or_default()),
    );
    hc.insert("MemorySwappiness".into(), Value::Null);
    hc.insert("OomKillDisable".into(), json!(false));
    hc.insert("CpuPeriod".into(), json!(r.cpu_period.unwrap_or(0)));
    hc.insert("CpuQuota".into(), json!(r.cpu_quota.unwrap_or(0)));
    hc.insert("Devices".into(), json!([]));
    hc.insert("BlkioWeight".into(), json!(r.blkio_weight.unwrap_or(0)));
    hc.insert("OomScoreAdj".into(), json!(0));
    hc.insert("GroupAdd".into(), Value::Null);
    hc.insert("UTSMode".into(), json!(""));
    hc.insert("UsernsMode".into(), json!(""));
    hc.insert("VolumeDriver".into(), json!(""));
    hc.insert("ContainerIDFile".into(), json!(""));
    if hc.get("PidsLimit").is_some_and(Value::is_null) {
        hc.insert("PidsLimit".into(), Value::Null);
    }
    let cfg = v["Config"].as_object_mut().expect("Config is an object");
    let exposed: Map<String, Value> = c
        .exposed_ports
        .iter()
        .map(|p| (p.clone(), json!({})))
        .collect();
    cfg.insert("ExposedPorts".into(), null_if_empty(Value::Object(exposed)));
    cfg.insert("AttachStdin".into(), json!(false));
    cfg.insert("AttachStdout".into(), json!(false));
    cfg.insert("AttachStderr".into(), json!(false));
    cfg.insert("StdinOnce".into(), json!(false));
    let anon: Map<String, Value> = c
        .mounts
        .iter()
        .filter(|m| m.kind == "volume" && m.source.is_empty())
        .map(|m| (m.target.clone(), json!({})))
        .collect();
    cfg.insert("Volumes".into(), null_if_empty(Value::Object(anon)));
    cfg.insert("OnBuild".into(), Value::Null);
    if let Some(h) = &c.healthcheck {
        cfg.insert("Healthcheck".into(), json!({
            "Test": std::iter::once("CMD".to_string()).chain(h.test.iter().cloned()).collect::<Vec<_>>(),
            "Interval": h.interval_ms * 1_000_000, "Timeout": h.timeout_ms * 1_000_000,
            "Retries": h.retries, "StartPeriod": h.start_period_ms * 1_000_000,
        }));
    }
    // Docker prints the Config's image reference; the top level has the image id.
    v["NetworkSettings"] = network_settings(door, &rec).await;
    v
}

/// The list filters Docker's `GET /containers/json` knows.
pub const LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

async fn matches(door: &Door, f: &Filters, rec: &ContainerRecord) -> bool {
    let any = |k: &str, test: &dyn Fn(&str) -> bool| {
        let v = f.values(k);
        v.is_empty() || v.iter().any(|x| test(x))
    };
    let networks: Vec<String> = super::super::networks::endpoints_of(rec)
        .into_iter()
        .map(|e| e.name)
        .chain(std::iter::once(rec.config.network_mode.clone()).filter(|m| !m.is_empty()))
        .collect();
    let mut net_ids = Vec::new();
    if f.has("network") {
        for n in &networks {
            if let Ok(i) = door.d.nets.netd.inspect(n).await {
                net_ids.push(i.id);
            }
        }
    }
    let health = rec
        .state
        .health
        .as_ref()
        .map(|h| h.status.as_str())
        .unwrap_or("none");
    // `before`/`since` name other containers: their creation times, looked up once.
    let mut created = std::collections::HashMap::new();
    for k in ["before", "since"] {
        for x in f.values(k) {
            if let Ok(c) = door.d.containers.get(x).await {
                created.insert(x.clone(), c.rec.lock().await.created.clone());
            }
        }
    }
    let created_of = |x: &str| created.get(x).cloned();
    let published: Vec<String> = if f.has("publish") {
        door.d
            .nets
            .netd
            .published(&rec.id)
            .await
            .iter()
            .map(|b| format!("{}/{}", b.host_port, b.protocol.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    any("id", &|x| rec.id.starts_with(x))
        && any("name", &|x| {
            // Docker matches names as regular expressions; a substring covers the common use
            // (and `^/name$` anchors are honoured).
            let x = x
                .trim_start_matches('^')
                .trim_end_matches('$')
                .trim_start_matches('/');
            rec.config.name.contains(x)
        })
        && any("status", &|x| x == rec.state.status.as_str())
        && any("exited", &|x| {
            rec.state.status == Status::Exited && x.parse() == Ok(rec.state.exit_code)
        })
        && any("health", &|x| x == health)
        && any("ancestor", &|x| {
            rec.config.image == x
                || rec
                    .image_id
                    .trim_start_matches("sha256:")
                    .starts_with(x.trim_start_matches("sha256:"))
        })
        && any("network", &|x| {
            networks.iter().any(|n| n == x) || net_ids.iter().any(|i| i.starts_with(x))
        })
        && any("volume", &|x| {
            rec.config.mounts.iter().any(|m| {
                m.target == x || m.source == x || m.source.ends_with(&format!("/{x}/_data"))
            })
        })
        && any("is-task", &|x| x == "false")
        && any("isolation", &|x| x == "default")
        && any("expose", &|x| {
            let x = if x.contains('/') {
                x.to_string()
            } else {
                format!("{x}/tcp")
            };
            rec.config.exposed_ports.contains(&x)
                || rec
                    .config
                    .ports
                    .iter()
                    .any(|p| port_of(p).as_deref() == Some(x.as_str()))
        })
        && any("publish", &|x| {
            let x = if x.contains('/') {
                x.to_string()
            } else {
                format!("{x}/tcp")
            };
            published.contains(&x)
        })
        && any("before", &|x| {
            created_of(x).is_some_and(|t| rec.created < t)
        })
        && any("since", &|x| created_of(x).is_some_and(|t| rec.created > t))
        && f.labels_match(&rec.config.labels)
}

/// The container side of a `-p` spec (`80/tcp`), for the `expose` filter.
fn port_of(spec: &str) -> Option<String> {
    let p = berth_netd::PortSpec::parse(spec).ok()?;
    Some(format!("{}/{}", p.container_ports.0, p.protocol))
}

/// One container of `GET /containers/json`.
pub async fn summary(door: &Door, rec: &ContainerRecord) -> Value {
    let running = matches!(
        rec.state.status,
        Status::Running | Status::Paused | Status::Restarting
    );
    let ports: Vec<Value> = if running {
        door.d
            .nets
            .netd
            .published(&rec.id)
            .await
            .iter()
            .map(|b| json!({ "IP": b.host_ip.to_string(), "PrivatePort": b.container_port, "PublicPort": b.host_port, "Type": b.protocol.as_str() }))
            .collect()
    } else {
        Vec::new()
    };
    let settings = network_settings(door, rec).await;
    // As dockerd's list (moby container/view.go): an argument with a space in single quotes.
    let command = std::iter::once(rec.path.clone())
        .chain(rec.args.iter().map(|a| match a.contains(' ') {
            true => format!("'{a}'"),
            false => a.clone(),
        }))
        .collect::<Vec<_>>()
        .join(" ");
    let created = chrono::DateTime::parse_from_rfc3339(&rec.created)
        .map(|t| t.timestamp())
        .unwrap_or(0);
    let mounts: Vec<Value> = rec
        .config
        .mounts
        .iter()
        .map(|m| {
            let name = (m.kind == "volume")
                .then(|| std::path::Path::new(&m.source).parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()))
                .flatten();
            json!({ "Type": m.kind, "Name": name, "Source": m.source, "Destination": m.target,
                    "Driver": if m.kind == "volume" { "local" } else { "" }, "Mode": if m.read_only { "ro" } else { "" },
                    "RW": !m.read_only, "Propagation": "" })
        })
        .collect();
    json!({
        "Id": rec.id,
        "Names": [format!("/{}", rec.config.name)],
        "Image": rec.config.image,
        "ImageID": rec.image_id,
        "Command": command,
        "Created": created,
        "Ports": ports,
        "Labels": rec.config.labels,
        "State": rec.state.status.as_str(),
        "Status": super::super::api::human_status(rec),
        "HostConfig": { "NetworkMode": if rec.config.network_mode.is_empty() { "default".to_string() } else { rec.config.network_mode.clone() } },
        "NetworkSettings": { "Networks": settings["Networks"] },
        "Mounts": mounts,
    })
}

/// `GET /containers/json`: newest first, running ones only unless `all`.
pub async fn list(door: &Door, all: bool, f: &Filters) -> Vec<Value> {
    let mut recs = Vec::new();
    for c in door.d.containers.all().await {
        recs.push(c.rec.lock().await.clone());
    }
    recs.sort_by(|a, b| b.created.cmp(&a.created));
    let mut out = Vec::new();
    for rec in recs {
        let running = matches!(
            rec.state.status,
            Status::Running | Status::Paused | Status::Restarting
        );
        // Docker: a status filter also lists stopped containers.
        if !all && !running && !f.has("status") && !f.has("exited") {
            continue;
        }
        if matches(door, f, &rec).await {
            out.push(summary(door, &rec).await);
        }
    }
    out
}

/// Docker writes an empty list or map of these fields as `null`.
fn null_if_empty(v: Value) -> Value {
    match &v {
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(m) if m.is_empty() => Value::Null,
        _ => v,
    }
}
