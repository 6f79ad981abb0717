//! What berth does not act on, named key by key: a user must know what is ignored.

use berth_compose::loader::model::Service;
use berth_compose::loader::Project;
use serde_json::Value;

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

/// Warnings for what berth does not act on, key by key: the service's keys and the nested
/// ones only partly supported. Never silence: a user must know what is ignored.
pub fn service_warnings(name: &str, svc: &Service) -> Vec<String> {
    let mut keys: Vec<String> = svc
        .set_keys()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| !SUPPORTED_KEYS.contains(&k.as_str()))
        .collect();
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
    if let Some(b) = &svc.build {
        keys.extend(build_warnings(&b.extra));
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

/// `build.KEY` for each key of a service's `build:` the builder does not act on (ssh,
/// secrets, cache_from/cache_to, ...); `platforms` only when it asks
/// for another platform than this host's linux/amd64.
fn build_warnings(extra: &berth_compose::loader::model::Extra) -> Vec<String> {
    extra
        .iter()
        .filter(|(k, v)| {
            let empty = v.is_null()
                || v.as_array().is_some_and(|a| a.is_empty())
                || v.as_object().is_some_and(|o| o.is_empty());
            let this_host = k.as_str() == "platforms"
                && v.as_array()
                    .is_some_and(|a| a.iter().all(|p| p == "linux/amd64"));
            !empty
                && !this_host
                && !k.starts_with("x-")
                && !super::super::build::EXTRA_BUILD_KEYS.contains(&k.as_str())
        })
        .map(|(k, _)| format!("build.{k}"))
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
