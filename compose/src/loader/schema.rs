//! Structural validation against the Compose Specification: known keys (with a "did you
//! mean" for typos) and the shape of the main elements. Runs on each merged file, before the
//! short syntax is expanded.

use serde_json::{Map, Value};

pub(crate) const TOP_KEYS: &[&str] = &[
    "version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models",
];

pub(crate) const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "build",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_shares",
    "cpu_quota",
    "cpu_period",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "label_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
    "logging",
    "net",
];

const NETWORK_KEYS: &[&str] = &[
    "name",
    "driver",
    "driver_opts",
    "ipam",
    "external",
    "internal",
    "enable_ipv4",
    "enable_ipv6",
    "attachable",
    "labels",
];
const VOLUME_KEYS: &[&str] = &["name", "driver", "driver_opts", "external", "labels"];
const SECRET_KEYS: &[&str] = &[
    "name",
    "environment",
    "file",
    "external",
    "labels",
    "driver",
    "driver_opts",
    "template_driver",
    "content",
];

/// A validation failure: the path of the offending element and the message.
pub(crate) struct SchemaError {
    pub path: Vec<String>,
    pub message: String,
}

fn err(path: &[&str], message: String) -> SchemaError {
    SchemaError {
        path: path.iter().map(|s| s.to_string()).collect(),
        message,
    }
}

fn check_keys(
    m: &Map<String, Value>,
    known: &[&str],
    path: &[&str],
    what: &str,
) -> Result<(), SchemaError> {
    for k in m.keys() {
        if k.starts_with("x-") || k.starts_with('\u{0}') || known.contains(&k.as_str()) {
            continue;
        }
        let mut p = path.to_vec();
        p.push(k);
        let hint = suggest(k, known)
            .map(|s| format!(" (did you mean '{s}'?)"))
            .unwrap_or_default();
        return Err(err(
            &p,
            format!("{what} additional properties '{k}' not allowed{hint}"),
        ));
    }
    Ok(())
}

/// The closest known key within a small edit distance.
pub(crate) fn suggest<'a>(k: &str, known: &[&'a str]) -> Option<&'a str> {
    // edit distance, with a shared prefix counting as a closer match (pre_start -> pre_stop)
    let lower = k.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for cand in known {
        let d = levenshtein(&lower, cand);
        let limit = (cand.len().max(k.len()) / 3).max(2);
        if d > limit {
            continue;
        }
        let prefix = lower
            .chars()
            .zip(cand.chars())
            .take_while(|(a, b)| a == b)
            .count();
        let score = (d * 4).saturating_sub(prefix.min(4));
        if best.map(|(bs, _)| score < bs).unwrap_or(true) {
            best = Some((score, cand));
        }
    }
    best.map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn unmark(v: &Value) -> &Value {
    match super::yaml::as_marker(v) {
        Some((_, inner)) => inner,
        None => v,
    }
}

/// Validates the merged model of one file.
pub(crate) fn validate(dict: &Map<String, Value>) -> Result<(), SchemaError> {
    check_keys(dict, TOP_KEYS, &[], "(root)")?;
    if let Some(n) = dict.get("name") {
        if !n.is_string() {
            return Err(err(&["name"], "name must be a string".into()));
        }
    }
    match dict.get("services").map(unmark) {
        None | Some(Value::Null) => {}
        Some(Value::Object(services)) => {
            for (name, svc) in services {
                let svc = unmark(svc);
                let m = match svc {
                    Value::Object(m) => m,
                    _ => {
                        return Err(err(
                            &["services", name],
                            format!("services.{name} must be a mapping"),
                        ))
                    }
                };
                validate_service(name, m)?;
            }
        }
        Some(_) => return Err(err(&["services"], "services must be a mapping".into())),
    }
    for (kind, keys) in [
        ("networks", NETWORK_KEYS),
        ("volumes", VOLUME_KEYS),
        ("secrets", SECRET_KEYS),
        ("configs", SECRET_KEYS),
    ] {
        match dict.get(kind).map(unmark) {
            None | Some(Value::Null) => {}
            Some(Value::Object(items)) => {
                for (name, item) in items {
                    match unmark(item) {
                        Value::Null => {}
                        Value::Object(m) => {
                            check_keys(m, keys, &[kind, name], &format!("{kind}.{name}"))?;
                        }
                        _ => {
                            return Err(err(
                                &[kind, name],
                                format!("{kind}.{name} must be a mapping"),
                            ))
                        }
                    }
                }
            }
            Some(_) => return Err(err(&[kind], format!("{kind} must be a mapping"))),
        }
    }
    Ok(())
}

fn validate_service(name: &str, m: &Map<String, Value>) -> Result<(), SchemaError> {
    let at = |k: &str| -> Vec<String> { vec!["services".into(), name.into(), k.into()] };
    check_keys(
        m,
        SERVICE_KEYS,
        &["services", name],
        &format!("services.{name}"),
    )?;
    if let Some(Value::String(c)) = m.get("container_name") {
        let ok = c
            .chars()
            .next()
            .map(|f| f.is_ascii_alphanumeric())
            .unwrap_or(false)
            && c.len() >= 2
            && c.chars()
                .all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '.' | '-'));
        if !ok {
            return Err(SchemaError {
                path: at("container_name"),
                message: format!(
                    "services.{name}.container_name '{c}' does not match pattern '[a-zA-Z0-9][a-zA-Z0-9_.-]+'"
                ),
            });
        }
    }
    let typed: &[(&str, &str)] = &[
        ("image", "string"),
        ("container_name", "string"),
        ("hostname", "string"),
        ("network_mode", "string"),
        ("restart", "string"),
        ("platform", "string"),
        ("user", "string"),
        ("working_dir", "string"),
        ("pull_policy", "string"),
        ("stop_signal", "string"),
        ("environment", "list-or-map"),
        ("labels", "list-or-map"),
        ("ports", "array"),
        ("volumes", "array"),
        ("expose", "array"),
        ("profiles", "array"),
        ("secrets", "array"),
        ("configs", "array"),
        ("depends_on", "list-or-map"),
        ("networks", "list-or-map"),
        ("healthcheck", "object"),
        ("deploy", "object"),
        ("logging", "object"),
        ("build", "string-or-object"),
        ("extends", "string-or-object"),
        ("command", "string-or-array"),
        ("entrypoint", "string-or-array"),
        ("env_file", "string-or-array"),
    ];
    for (k, ty) in typed {
        let Some(v) = m.get(*k) else { continue };
        let v = unmark(v);
        if v.is_null() {
            continue;
        }
        let ok = match *ty {
            "string" => v.is_string(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            "list-or-map" => v.is_array() || v.is_object(),
            "string-or-object" => v.is_string() || v.is_object(),
            "string-or-array" => v.is_string() || v.is_array(),
            _ => true,
        };
        if !ok {
            let expected = match *ty {
                "list-or-map" => "must be a array or object".to_string(),
                "string-or-object" => "must be a string or object".to_string(),
                "string-or-array" => "must be a string or array".to_string(),
                t => format!("must be a {t}"),
            };
            return Err(SchemaError {
                path: at(k),
                message: format!("services.{name}.{k} {expected}"),
            });
        }
    }
    if let Some(Value::Object(h)) = m.get("healthcheck") {
        check_keys(
            h,
            &[
                "test",
                "interval",
                "timeout",
                "retries",
                "start_period",
                "start_interval",
                "disable",
            ],
            &["services", name, "healthcheck"],
            &format!("services.{name}.healthcheck"),
        )?;
    }
    if let Some(Value::Object(b)) = m.get("build") {
        check_keys(
            b,
            &[
                "context",
                "dockerfile",
                "dockerfile_inline",
                "entitlements",
                "args",
                "ssh",
                "labels",
                "cache_from",
                "cache_to",
                "no_cache",
                "additional_contexts",
                "network",
                "provenance",
                "sbom",
                "pull",
                "target",
                "shm_size",
                "extra_hosts",
                "isolation",
                "privileged",
                "secrets",
                "tags",
                "ulimits",
                "platforms",
            ],
            &["services", name, "build"],
            &format!("services.{name}.build"),
        )?;
    }
    let list_items: &[(&str, &[&str])] = &[
        (
            "ports",
            &[
                "name",
                "mode",
                "host_ip",
                "target",
                "published",
                "protocol",
                "app_protocol",
            ],
        ),
        (
            "volumes",
            &[
                "type",
                "source",
                "target",
                "read_only",
                "consistency",
                "bind",
                "volume",
                "tmpfs",
                "image",
            ],
        ),
        ("secrets", &["source", "target", "uid", "gid", "mode"]),
        ("configs", &["source", "target", "uid", "gid", "mode"]),
        ("env_file", &["path", "required", "format"]),
        (
            "post_start",
            &[
                "command",
                "user",
                "privileged",
                "working_dir",
                "environment",
            ],
        ),
        (
            "pre_stop",
            &[
                "command",
                "user",
                "privileged",
                "working_dir",
                "environment",
            ],
        ),
    ];
    for (k, keys) in list_items {
        if let Some(Value::Array(items)) = m.get(*k).map(unmark) {
            for (i, it) in items.iter().enumerate() {
                if let Value::Object(o) = it {
                    let idx = i.to_string();
                    check_keys(
                        o,
                        keys,
                        &["services", name, k, &idx],
                        &format!("services.{name}.{k}.{i}"),
                    )?;
                }
            }
        }
    }
    if let Some(Value::Array(vols)) = m.get("volumes").map(unmark) {
        for (i, v) in vols.iter().enumerate() {
            if let Some(t) = v.get("type") {
                let ok = matches!(
                    t.as_str(),
                    Some("bind" | "volume" | "tmpfs" | "npipe" | "cluster" | "image")
                );
                if !ok {
                    return Err(SchemaError {
                        path: at("volumes"),
                        message: format!(
                            "services.{name}.volumes.{i}.type must be one of the following: \"bind\", \"volume\", \"tmpfs\", \"npipe\", \"cluster\", \"image\""
                        ),
                    });
                }
            }
        }
    }
    let objects: &[(&str, &[&str])] = &[
        (
            "deploy",
            &[
                "mode",
                "endpoint_mode",
                "replicas",
                "labels",
                "rollback_config",
                "update_config",
                "resources",
                "restart_policy",
                "placement",
            ],
        ),
        ("logging", &["driver", "options"]),
        ("extends", &["service", "file"]),
        ("develop", &["watch"]),
    ];
    for (k, keys) in objects {
        if let Some(Value::Object(o)) = m.get(*k).map(unmark) {
            check_keys(
                o,
                keys,
                &["services", name, k],
                &format!("services.{name}.{k}"),
            )?;
        }
    }
    if let Some(Value::Object(nets)) = m.get("networks").map(unmark) {
        for (n, v) in nets {
            if let Value::Object(o) = unmark(v) {
                check_keys(
                    o,
                    &[
                        "aliases",
                        "ipv4_address",
                        "ipv6_address",
                        "link_local_ips",
                        "mac_address",
                        "driver_opts",
                        "priority",
                        "gw_priority",
                        "interface_name",
                    ],
                    &["services", name, "networks", n],
                    &format!("services.{name}.networks.{n}"),
                )?;
            }
        }
    }
    if let Some(Value::Object(d)) = m.get("depends_on") {
        for (dep, v) in d {
            if let Some(c) = v.get("condition").and_then(|c| c.as_str()) {
                if !matches!(
                    c,
                    "service_started" | "service_healthy" | "service_completed_successfully"
                ) {
                    return Err(SchemaError {
                        path: vec!["services".into(), name.into(), "depends_on".into(), dep.clone(), "condition".into()],
                        message: format!(
                            "services.{name}.depends_on.{dep}.condition must be one of the following: \"service_started\", \"service_healthy\", \"service_completed_successfully\""
                        ),
                    });
                }
            }
        }
    }
    if let Some(Value::Object(d)) = m.get("depends_on") {
        for (dep, v) in d {
            if let Value::Object(o) = v {
                check_keys(
                    o,
                    &["condition", "restart", "required"],
                    &["services", name, "depends_on", dep],
                    &format!("services.{name}.depends_on.{dep}"),
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean() {
        assert_eq!(suggest("imgae", SERVICE_KEYS), Some("image"));
        assert_eq!(suggest("enviroment", SERVICE_KEYS), Some("environment"));
        assert_eq!(suggest("wrongField", SERVICE_KEYS), None);
        assert_eq!(suggest("pre_start", SERVICE_KEYS), Some("pre_stop"));
        assert_eq!(suggest("depends-on", SERVICE_KEYS), Some("depends_on"));
    }
}
