//! One service replica of the loaded project -> the engine's container config, with Compose's
//! names and labels. Keys berth does not honour yet come back as warnings, never silently.

use berth_compose::loader::model::{Port, Service};
use berth_compose::loader::Project;
use berth_compose::{
    config_hash, container_name, network_name, parse_duration_secs, volume_name, LABEL_FILES,
    LABEL_HASH, LABEL_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE, LABEL_WORKDIR,
};
use berth_engine::container::{
    self as model, ContainerConfig, MountConfig, NetworkEndpoint, Resources, RestartPolicy,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Mount kind of an anonymous volume until the controller resolves it (`-nocopy` may follow).
pub use crate::volumes::ANONYMOUS_VOLUME;

/// Service keys berth acts on. Any other key a service sets gets a warning naming it.
const SUPPORTED_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "volumes_from",
    "networks",
    "network_mode",
    "depends_on",
    "healthcheck",
    "restart",
    "deploy",
    "labels",
    "container_name",
    "hostname",
    "domainname",
    "user",
    "working_dir",
    "init",
    "privileged",
    "read_only",
    "tty",
    "stdin_open",
    "stop_signal",
    "stop_grace_period",
    "profiles",
    "cap_add",
    "cap_drop",
    "dns",
    "dns_search",
    "extra_hosts",
    "links",
    "tmpfs",
    "ulimits",
    "sysctls",
    "logging",
    "scale",
    "mem_limit",
    "cpus",
    "cpu_shares",
    "cpuset",
    "pids_limit",
    "shm_size",
    "security_opt",
    // Both act before the container exists: the stack's pull phase (stack/pull.rs).
    "pull_policy",
    "platform",
];

/// The image a service runs: `image:`, else the name Compose gives a built image
/// (`project-service`), which must have been imported or loaded under that name.
pub fn image_name(p: &Project, name: &str, svc: &Service) -> String {
    svc.image
        .clone()
        .unwrap_or_else(|| format!("{}-{name}", p.name))
}

/// Warnings for what berth does not act on, key by key: the service's keys and the nested
/// ones only partly supported. Never silence: a user must know what is ignored.
pub fn service_warnings(name: &str, svc: &Service) -> Vec<String> {
    let mut keys = Vec::new();
    if let Ok(Value::Object(m)) = serde_json::to_value(svc) {
        for (k, v) in m {
            let empty = v.is_null()
                || v.as_array().is_some_and(|a| a.is_empty())
                || v.as_object().is_some_and(|o| o.is_empty());
            if !empty && !k.starts_with("x-") && !SUPPORTED_KEYS.contains(&k.as_str()) {
                keys.push(k);
            }
        }
    }
    if let Some(d) = &svc.deploy {
        // The loader normalizes some keys to empty maps (placement: {}): those ask nothing.
        keys.extend(
            d.extra
                .iter()
                .filter(|(_, v)| !v.as_object().is_some_and(|o| o.is_empty()))
                .map(|(k, _)| format!("deploy.{k}")),
        );
        if !d.labels.is_empty() {
            keys.push("deploy.labels".into());
        }
        if let Some(rp) = &d.restart_policy {
            for (k, set) in [
                ("delay", rp.delay.is_some()),
                ("window", rp.window.is_some()),
            ] {
                if set {
                    keys.push(format!("deploy.restart_policy.{k}"));
                }
            }
        }
        if d.mode.as_deref().is_some_and(|m| m != "replicated") {
            keys.push("deploy.mode".into());
        }
        if let Some(r) = d.resources.as_object() {
            for (k, v) in r {
                match (k.as_str(), v.as_object()) {
                    ("limits", Some(l)) => keys.extend(
                        l.keys()
                            .filter(|k| !["memory", "cpus", "pids"].contains(&k.as_str()))
                            .map(|k| format!("deploy.resources.limits.{k}")),
                    ),
                    _ => keys.push(format!("deploy.resources.{k}")),
                }
            }
        }
    }
    for (net, ep) in &svc.networks {
        let Some(ep) = ep else { continue };
        for (k, set) in [
            ("ipv6_address", ep.ipv6_address.is_some()),
            ("mac_address", ep.mac_address.is_some()),
        ] {
            if set {
                keys.push(format!("networks.{net}.{k}"));
            }
        }
        keys.extend(ep.extra.keys().map(|k| format!("networks.{net}.{k}")));
    }
    for v in &svc.volumes {
        let sub = |what: &str, o: &Option<Value>, ok: &[&str]| -> Vec<String> {
            o.as_ref()
                .and_then(Value::as_object)
                .map(|m| {
                    m.keys()
                        .filter(|k| !ok.contains(&k.as_str()))
                        .map(|k| format!("volumes[{}].{what}.{k}", v.target))
                        .collect()
                })
                .unwrap_or_default()
        };
        keys.extend(sub("bind", &v.bind, &["create_host_path"]));
        keys.extend(sub("volume", &v.volume, &["nocopy"]));
        keys.extend(sub("tmpfs", &v.tmpfs, &["size", "mode"]));
        // `consistency` only matters on macOS; Docker ignores it on Linux too.
        keys.extend(
            v.extra
                .keys()
                .filter(|k| *k != "consistency")
                .map(|k| format!("volumes[{}].{k}", v.target)),
        );
    }
    if let Some(l) = &svc.logging {
        keys.extend(
            l.options
                .keys()
                .filter(|k| !["max-size", "max-file"].contains(&k.as_str()))
                .map(|k| format!("logging.options.{k}")),
        );
    }
    keys.into_iter()
        .map(|k| format!("service {name}: `{k}` is not supported yet and is ignored"))
        .collect()
}

/// Warnings for the project's top-level networks and volumes: what berth does not act on.
pub fn project_warnings(p: &Project) -> Vec<String> {
    let mut out = Vec::new();
    for (key, n) in &p.networks {
        let mut keys: Vec<String> = n.extra.keys().cloned().collect();
        if n.enable_ipv6 == Some(true) {
            keys.push("enable_ipv6".into());
        }
        if n.ipam.driver.as_deref().is_some_and(|d| d != "default") {
            keys.push("ipam.driver".into());
        }
        if !n.ipam.options.is_empty() {
            keys.push("ipam.options".into());
        }
        if n.ipam.config.iter().any(|c| !c.aux_addresses.is_empty()) {
            keys.push("ipam.config.aux_addresses".into());
        }
        keys.extend(
            n.driver_opts
                .keys()
                .filter(|k| !["com.docker.network.driver.mtu", "mtu"].contains(&k.as_str()))
                .map(|k| format!("driver_opts.{k}")),
        );
        out.extend(
            keys.into_iter()
                .map(|k| format!("network {key}: `{k}` is not supported yet and is ignored")),
        );
    }
    for (key, v) in &p.volumes {
        let mut keys: Vec<String> = v.extra.keys().cloned().collect();
        if v.driver.as_deref().is_some_and(|d| d != "local") {
            keys.push("driver".into());
        }
        keys.extend(v.driver_opts.keys().map(|k| format!("driver_opts.{k}")));
        out.extend(
            keys.into_iter()
                .map(|k| format!("volume {key}: `{k}` is not supported yet and is ignored")),
        );
    }
    out
}

/// The service's health check with Docker's defaults for what it leaves out.
fn health_config(svc: &Service) -> Option<model::HealthConfig> {
    let h = svc.healthcheck.as_ref()?;
    if h.disable == Some(true) {
        return None;
    }
    let test = model::HealthConfig::test_argv(&h.test)?;
    let ms = |d: &Option<String>, default: u64| {
        d.as_deref()
            .and_then(parse_duration_secs)
            .map(|s| (s * 1000.0) as u64)
            .unwrap_or(default)
    };
    let defaults = model::HealthConfig::default();
    Some(model::HealthConfig {
        test,
        interval_ms: ms(&h.interval, defaults.interval_ms),
        timeout_ms: ms(&h.timeout, defaults.timeout_ms),
        retries: h.retries.map(|r| r as u32).unwrap_or(defaults.retries),
        start_period_ms: ms(&h.start_period, defaults.start_period_ms),
        start_interval_ms: ms(&h.start_interval, defaults.start_interval_ms),
    })
}

fn port_spec(p: &Port) -> String {
    let proto = p.protocol.as_deref().unwrap_or("tcp");
    let mut s = String::new();
    if let Some(ip) = p.host_ip.as_deref().filter(|i| !i.is_empty()) {
        s.push_str(ip);
        s.push(':');
    }
    match p.published.as_deref().filter(|x| !x.is_empty()) {
        Some(host) => s.push_str(&format!("{host}:{}", p.target)),
        None if !s.is_empty() => s.push_str(&format!(":{}", p.target)),
        None => s.push_str(&p.target.to_string()),
    }
    format!("{s}/{proto}")
}

fn bytes_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => model::parse_bytes(s).ok(),
        _ => None,
    }
}

/// The container config for replica `number` of service `name`, and the warnings for keys
/// berth does not act on.
pub fn container_config(
    p: &Project,
    name: &str,
    svc: &Service,
    number: u32,
) -> Result<(ContainerConfig, Vec<String>), String> {
    let mut warn = service_warnings(name, svc);
    if svc.image.is_none() && svc.build.is_none() {
        return Err(format!(
            "service {name} has neither an image nor a build context specified"
        ));
    }
    // Without `image:` Compose would build `project-service`; berth runs that image when it
    // was imported or loaded under that name (the controller checks before creating anything).
    let image = image_name(p, name, svc);
    if svc.build.is_some() {
        warn.push(format!("service {name}: `build` is ignored (building is not supported yet); using image {image}"));
    }
    let mut labels: std::collections::BTreeMap<String, String> = svc
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_PROJECT.into(), p.name.clone());
    labels.insert(LABEL_SERVICE.into(), name.into());
    labels.insert(LABEL_NUMBER.into(), number.to_string());
    labels.insert(LABEL_HASH.into(), config_hash(svc));
    labels.insert(LABEL_ONEOFF.into(), "False".into());
    labels.insert(LABEL_WORKDIR.into(), p.working_dir.display().to_string());
    labels.insert(
        LABEL_FILES.into(),
        p.files_read()
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    );

    let env: Vec<String> = svc
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    let mut mounts = Vec::new();
    for v in &svc.volumes {
        let read_only = v.read_only.unwrap_or(false);
        match v.kind.as_str() {
            "bind" => {
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
                        std::fs::create_dir_all(&src).map_err(|e| {
                            format!("service {name}: creating bind source {src}: {e}")
                        })?;
                    } else {
                        return Err(format!(
                            "service {name}: bind source path does not exist: {src}"
                        ));
                    }
                }
                mounts.push(MountConfig {
                    kind: "bind".into(),
                    source: src,
                    target: v.target.clone(),
                    read_only,
                    size: None,
                    mode: None,
                });
            }
            "volume" => {
                // An anonymous volume (no source) is named after the replica and its target, so
                // a recreated container finds its predecessor's and keeps the data (Compose
                // hands anonymous volumes on at recreation).
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
                mounts.push(MountConfig {
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
                });
            }
            "tmpfs" => {
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
                mounts.push(MountConfig {
                    kind: "tmpfs".into(),
                    source: String::new(),
                    target: v.target.clone(),
                    read_only,
                    size,
                    mode,
                });
            }
            other => warn.push(format!(
                "service {name}: volume type {other} is not supported yet and is ignored"
            )),
        }
    }
    for t in &svc.tmpfs {
        mounts.push(tmpfs_entry(name, t, &mut warn)?);
    }
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
    let limits = svc.deploy.as_ref().map(|d| &d.resources["limits"]);
    let memory = svc
        .mem_limit
        .map(|b| b.0)
        .or_else(|| limits.and_then(|l| bytes_of(&l["memory"])));
    let cpus = svc.cpus.or_else(|| {
        limits.and_then(|l| {
            l["cpus"]
                .as_f64()
                .or_else(|| l["cpus"].as_str().and_then(|s| s.parse().ok()))
        })
    });
    let pids = svc
        .pids_limit
        .or_else(|| limits.and_then(|l| l["pids"].as_i64()));
    let mut ulimits = Vec::new();
    for (k, v) in &svc.ulimits {
        let (soft, hard) = match v {
            Value::Number(n) => (n.as_u64().unwrap_or(0), n.as_u64().unwrap_or(0)),
            Value::Object(o) => (
                o.get("soft").and_then(Value::as_u64).unwrap_or(0),
                o.get("hard").and_then(Value::as_u64).unwrap_or(0),
            ),
            _ => continue,
        };
        ulimits.push(berth_engine::runtime::spec::Rlimit {
            name: k.to_ascii_lowercase(),
            soft,
            hard,
        });
    }
    let restart = match svc.restart.clone().or_else(|| deploy_restart(svc)) {
        None => RestartPolicy::No,
        Some(r) => RestartPolicy::parse(&r).map_err(|e| format!("service {name}: {e}"))?,
    };
    let log_opt = |k: &str| {
        svc.logging
            .as_ref()
            .and_then(|l| l.options.get(k))
            .and_then(|v| {
                v.as_str()
                    .map(String::from)
                    .or_else(|| v.as_i64().map(|n| n.to_string()))
            })
    };
    if let Some(driver) = svc.logging.as_ref().and_then(|l| l.driver.as_deref()) {
        if driver != "json-file" && driver != "local" {
            warn.push(format!(
                "service {name}: logging driver {driver} is not supported; json-file is used"
            ));
        }
    }
    // Compose reads a seccomp profile file relative to the project directory.
    let security_opt =
        berth_engine::security_opt::inline_profiles(&svc.security_opt, &p.working_dir)
            .map_err(|e| format!("service {name}: {e}"))?;
    let security = berth_engine::security_opt::SecurityOptions::parse(&security_opt)
        .map_err(|e| format!("service {name}: {e}"))?;
    warn.extend(
        security
            .warnings
            .iter()
            .map(|w| format!("service {name}: {w}")),
    );
    let cfg = ContainerConfig {
        security_opt,
        name: container_name(&p.name, name, svc, number),
        image,
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        env,
        working_dir: svc.working_dir.clone(),
        user: svc.user.clone(),
        hostname: svc.hostname.clone(),
        domainname: svc.domainname.clone(),
        labels,
        tty: svc.tty.unwrap_or(false),
        open_stdin: svc.stdin_open.unwrap_or(false),
        mounts,
        read_only: svc.read_only.unwrap_or(false),
        privileged: svc.privileged.unwrap_or(false),
        init: svc.init.unwrap_or(false),
        cap_add: svc.cap_add.clone(),
        cap_drop: svc.cap_drop.clone(),
        resources: Resources {
            memory,
            cpus,
            cpu_shares: svc.cpu_shares.map(|s| s as u64),
            pids_limit: pids,
            cpuset_cpus: svc.cpuset.clone(),
        },
        ulimits,
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: svc
            .stop_grace_period
            .as_deref()
            .and_then(parse_duration_secs)
            .map(|s| s.ceil() as u64),
        restart,
        network_mode,
        networks,
        ports: svc.ports.iter().map(port_spec).collect(),
        publish_all: false,
        dns: svc.dns.clone(),
        dns_search: svc.dns_search.clone(),
        extra_hosts: svc
            .extra_hosts
            .iter()
            .map(|h| h.replacen('=', ":", 1))
            .collect(),
        sysctls: svc
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        shm_size: svc.shm_size.map(|s| s.0 as u64),
        log_max_size: log_opt("max-size")
            .and_then(|s| model::parse_bytes(&s).ok())
            .map(|s| s as u64),
        log_max_files: log_opt("max-file").and_then(|s| s.parse().ok()),
        auto_remove: false,
        exposed_ports: svc.expose.clone(),
        healthcheck: health_config(svc),
        links: svc
            .links
            .iter()
            .map(|l| {
                // `service[:alias]` names a service; the link targets its first container.
                let (target, alias) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
                let name = p
                    .services
                    .get(target)
                    .map(|t| container_name(&p.name, target, t, 1))
                    .unwrap_or_else(|| target.to_string());
                format!("{name}:{alias}")
            })
            .collect(),
    };
    Ok((cfg, warn))
}

/// `deploy.restart_policy` as Compose maps it onto a container when `restart:` is absent.
fn deploy_restart(svc: &Service) -> Option<String> {
    let rp = svc.deploy.as_ref()?.restart_policy.as_ref()?;
    Some(match (rp.condition.as_deref(), rp.max_attempts) {
        (Some("none"), _) => "no".into(),
        (Some("on-failure"), Some(n)) => format!("on-failure:{n}"),
        (Some("on-failure"), None) => "on-failure".into(),
        _ => "always".into(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The project, with its directory (a bind source gets created there).
    fn load(yaml: &str) -> (tempfile::TempDir, Project) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("compose.yaml"), yaml).unwrap();
        let p = berth_compose::loader::load(&berth_compose::loader::LoadOptions {
            cwd: Some(d.path().to_path_buf()),
            interpolate: true,
            ..Default::default()
        })
        .unwrap();
        (d, p)
    }

    #[test]
    fn every_key_not_acted_on_is_named_in_a_warning() {
        let (_dir, p) = load(
            r#"
name: w
services:
  app:
    image: bb:local
    secrets: [token]
    ipc: host
    security_opt: [no-new-privileges, "label=disable"]
    devices: ["/dev/fuse:/dev/fuse"]
    mem_reservation: 10m
    x-custom: ignored-by-design
    networks:
      default: {mac_address: "02:42:ac:11:00:99"}
    volumes:
      - type: bind
        source: ./src
        target: /src
        bind: {propagation: rshared, create_host_path: true}
      - data:/data
    logging: {driver: syslog, options: {tag: app}}
    deploy:
      mode: global
      resources:
        limits: {memory: 10m, devices: []}
        reservations: {cpus: "0.1"}
      restart_policy: {condition: on-failure, max_attempts: 2, delay: 5s}
    tmpfs: ["/run:size=1m,noexec"]
secrets:
  token: {file: ./token}
networks:
  default:
    enable_ipv6: true
    driver_opts: {com.docker.network.driver.mtu: "1400", foo: bar}
volumes:
  data: {driver: nfs}
"#,
        );
        let (cfg, warnings) = container_config(&p, "app", &p.services["app"], 1).unwrap();
        let all = warnings.join("\n");
        for key in [
            "`secrets`",
            "`ipc`",
            "SELinux label options are ignored",
            "`devices`",
            "`mem_reservation`",
            "`networks.default.mac_address`",
            "`volumes[/src].bind.propagation`",
            "`deploy.mode`",
            "`deploy.resources.limits.devices`",
            "`deploy.resources.reservations`",
            "`deploy.restart_policy.delay`",
            "`logging.options.tag`",
            "logging driver syslog",
            "tmpfs option noexec",
        ] {
            assert!(all.contains(key), "{key} missing in\n{all}");
        }
        assert!(
            !all.contains("x-custom") && !all.contains("create_host_path"),
            "{all}"
        );
        // What is supported is honoured instead.
        assert_eq!(cfg.restart, RestartPolicy::OnFailure { max_retries: 2 });
        assert_eq!(cfg.mounts.last().unwrap().size, Some(1 << 20));
        let top = project_warnings(&p).join("\n");
        for key in [
            "`enable_ipv6`",
            "`driver_opts.foo`",
            "volume data: `driver`",
        ] {
            assert!(top.contains(key), "{key} missing in\n{top}");
        }
        assert!(!top.contains("mtu"), "{top}");
    }

    #[test]
    fn build_without_image_runs_project_service() {
        let (_dir, p) = load("name: b\nservices:\n  app:\n    build: .\n");
        let (cfg, warnings) = container_config(&p, "app", &p.services["app"], 1).unwrap();
        assert_eq!(cfg.image, "b-app");
        assert!(warnings[0].contains("building is not supported yet"));
    }

    #[test]
    fn ports() {
        let p = Port {
            target: 80,
            published: Some("8080".into()),
            host_ip: Some("127.0.0.1".into()),
            protocol: Some("tcp".into()),
            ..Default::default()
        };
        assert_eq!(port_spec(&p), "127.0.0.1:8080:80/tcp");
        let p = Port {
            target: 53,
            protocol: Some("udp".into()),
            ..Default::default()
        };
        assert_eq!(port_spec(&p), "53/udp");
    }
}
