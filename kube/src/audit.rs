//! The key-by-key audit: every Compose key the translation does not carry over is named in a
//! warning, never dropped silently. Keys the mappers handle (some partly, warning about the
//! rest themselves) are listed here; any other key a service sets gets a warning.

use crate::generate::Ctx;
use berth_compose::loader::Service;
use serde_json::Value;

/// Service keys some mapper acts on.
const MAPPED: &[&str] = &[
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
    "annotations",
    "container_name",
    "hostname",
    "user",
    "working_dir",
    "init",
    "privileged",
    "read_only",
    "tty",
    "stdin_open",
    "stop_grace_period",
    "profiles",
    "secrets",
    "configs",
    "cap_add",
    "cap_drop",
    "dns",
    "dns_search",
    "dns_opt",
    "extra_hosts",
    "links",
    "tmpfs",
    "sysctls",
    "scale",
    "mem_limit",
    "mem_reservation",
    "cpus",
    "cpu_shares",
    "shm_size",
    "pull_policy",
    "platform",
    "post_start",
    "pre_stop",
    "security_opt",
    "group_add",
    "pid",
    "ipc",
    "pids_limit",
];

/// Why a key has no mapping, where there is more to say than that.
fn reason(key: &str) -> &'static str {
    match key {
        "stop_signal" => "Kubernetes stops containers with SIGTERM (lifecycle.stopSignal needs the ContainerStopSignals feature gate)",
        "ulimits" => "Kubernetes sets no per-pod rlimits; the node's container runtime defaults apply",
        "logging" => "the cluster collects container output; log drivers are the nodes' concern",
        "devices" | "device_cgroup_rules" | "gpus" => "devices reach pods through device plugins (extended resources), not paths",
        "domainname" => "a pod's domain is the cluster's",
        "mac_address" => "pod addresses belong to the cluster network",
        "runtime" => "the cluster's RuntimeClass names are its own",
        "cgroup_parent" | "cgroup" => "the kubelet places pods in the cgroup tree",
        "oom_score_adj" | "oom_kill_disable" => "the kubelet sets OOM scores from the pod's QoS class",
        "memswap_limit" | "mem_swappiness" => "swap is the node's setting (NodeSwap)",
        "cpu_count" | "cpu_percent" | "cpu_period" | "cpu_quota" | "cpu_rt_period"
        | "cpu_rt_runtime" | "cpuset" => "CPU requests and limits are all Kubernetes takes (cpus maps to the limit)",
        "blkio_config" => "Kubernetes has no block I/O limits",
        "userns_mode" => "user namespaces are the pod's hostUsers setting, off unless asked",
        "uts" => "a pod shares the node's UTS namespace only with hostNetwork",
        "external_links" => "containers outside the stack are not in the cluster",
        "attach" | "develop" | "pull_refresh_after" => "it only concerns the local Compose commands",
        "use_api_socket" => "there is no container engine socket to share",
        "credential_spec" | "isolation" => "it is Windows-only",
        "storage_opt" => "a container's writable layer is the node's",
        "models" | "provider" => "it needs Compose's providers, which a cluster does not run",
        _ => "has no Kubernetes equivalent",
    }
}

/// Warnings for a service's keys that nothing maps; nested keys are the mappers' to report.
pub(crate) fn service(cx: &mut Ctx, s: &str, svc: &Service) {
    for (k, v) in svc.set_keys() {
        if MAPPED.contains(&k.as_str()) {
            continue;
        }
        // Settings at their defaults ask for nothing.
        if matches!(v, Value::Bool(false)) {
            continue;
        }
        let why = reason(&k);
        let msg = if why.starts_with("has no") {
            format!("{why} and is left out")
        } else {
            format!("is left out: {why}")
        };
        cx.w.service(s, k, msg);
    }
    if let Some(d) = &svc.deploy {
        for (k, v) in &d.extra {
            if v.as_object().is_some_and(|o| o.is_empty()) || v.is_null() {
                continue; // the loader's normalized empties (placement: {})
            }
            let why = match k.as_str() {
                "placement" => "node constraints and preferences are not translated; use nodeSelector or affinity by hand",
                "update_config" | "rollback_config" => "each update recreates the pods (strategy Recreate, as Compose does)",
                "endpoint_mode" => "every Service is headless (DNS answers with the pods' addresses)",
                _ => "it has no Kubernetes equivalent",
            };
            cx.w.service(s, format!("deploy.{k}"), format!("is left out: {why}"));
        }
        if d.mode
            .as_deref()
            .is_some_and(|m| !matches!(m, "replicated" | "global"))
        {
            cx.w.service(
                s,
                "deploy.mode",
                format!(
                    "{:?} has no Kubernetes equivalent; the service is a Deployment",
                    d.mode.as_deref().unwrap_or("")
                ),
            );
        }
    }
    for (net, ep) in &svc.networks {
        let Some(ep) = ep else { continue };
        for (k, set) in [
            ("ipv4_address", ep.ipv4_address.is_some()),
            ("ipv6_address", ep.ipv6_address.is_some()),
            ("mac_address", ep.mac_address.is_some()),
            ("priority", ep.priority.is_some()),
        ] {
            if set {
                cx.w.service(
                    s,
                    format!("networks.{net}.{k}"),
                    "is left out: pod addresses and interfaces belong to the cluster network",
                );
            }
        }
        for k in ep.extra.keys() {
            cx.w.service(
                s,
                format!("networks.{net}.{k}"),
                "has no Kubernetes equivalent and is left out",
            );
        }
    }
    for (i, p) in svc.ports.iter().enumerate() {
        if p.mode.as_deref() == Some("host") {
            cx.w.service(
                s,
                format!("ports[{i}].mode"),
                "host is not kept: ports are published through Services",
            );
        }
        if let Some(a) = &p.app_protocol {
            cx.w.service(
                s,
                format!("ports[{i}].app_protocol"),
                format!("{a:?} is left out (Services name ports by protocol)"),
            );
        }
    }
}

/// Warnings for the project's networks and volumes.
pub(crate) fn project(cx: &mut Ctx) {
    let used_net = |cx: &Ctx, n: &str| {
        cx.selected
            .iter()
            .any(|s| cx.p.services[s].networks.contains_key(n))
    };
    for (key, n) in cx.p.networks.clone() {
        if !used_net(cx, &key) {
            continue;
        }
        let scope = format!("network {key}");
        let mut keys: Vec<(String, &str)> = vec![];
        if n.driver.as_deref().is_some_and(|d| d != "bridge") {
            keys.push((
                "driver".into(),
                "pods use the cluster network whatever the driver",
            ));
        }
        for k in n.driver_opts.keys() {
            keys.push((format!("driver_opts.{k}"), "pods use the cluster network"));
        }
        if n.ipam.driver.is_some() || !n.ipam.config.is_empty() || !n.ipam.options.is_empty() {
            keys.push(("ipam".into(), "pod addresses are the cluster's"));
        }
        if n.enable_ipv6 == Some(true) {
            keys.push(("enable_ipv6".into(), "IP families are the cluster's"));
        }
        if n.external == Some(true) {
            keys.push(("external".into(), "the network is treated as one of the stack's: pods outside the stack are not on it"));
        }
        for k in n.extra.keys() {
            keys.push((k.clone(), "has no Kubernetes equivalent"));
        }
        for (k, why) in keys {
            cx.w.push(scope.clone(), k, format!("is left out: {why}"));
        }
    }
    for (key, v) in cx.p.volumes.clone() {
        let scope = format!("volume {key}");
        if v.driver.as_deref().is_some_and(|d| d != "local") {
            cx.w.push(
                scope.clone(),
                "driver",
                "is left out: claims get the cluster's default StorageClass",
            );
        }
        for k in v.driver_opts.keys() {
            cx.w.push(
                scope.clone(),
                format!("driver_opts.{k}"),
                "is left out: claims get the cluster's default StorageClass",
            );
        }
        for k in v.extra.keys() {
            cx.w.push(
                scope.clone(),
                k.clone(),
                "has no Kubernetes equivalent and is left out",
            );
        }
    }
    for k in cx.p.extra.keys() {
        if !k.starts_with("x-") {
            cx.w.push(
                "project",
                k.clone(),
                "has no Kubernetes equivalent and is left out",
            );
        }
    }
}
