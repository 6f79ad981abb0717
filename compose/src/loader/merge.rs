//! Merging several stack files (and `extends`) with the Compose rules: mappings merge key by
//! key, sequences append, scalars are replaced; `command`, `entrypoint` and `healthcheck.test`
//! are replaced whole; key=value lists (environment, labels, ...) merge by key; ports,
//! volumes, secrets and configs stay unique by their target; `!reset` removes and
//! `!override` replaces.

use super::interp::path_matches;
use super::yaml::as_marker;
use serde_json::{Map, Value};

/// Paths whose value is replaced rather than merged.
const OVERRIDE_PATHS: &[&str] = &[
    "services.*.command",
    "services.*.entrypoint",
    "services.*.healthcheck.test",
];

/// Paths holding key=value pairs, as a mapping or a list of `K=V` strings.
const KV_PATHS: &[&str] = &[
    "services.*.environment",
    "services.*.labels",
    "services.*.annotations",
    "services.*.sysctls",
    "services.*.build.args",
    "services.*.build.labels",
    "services.*.build.additional_contexts",
    "services.*.deploy.labels",
    "services.*.extra_hosts",
    "services.*.build.extra_hosts",
    "services.*.volumes.[].volume.labels",
    "networks.*.labels",
    "volumes.*.labels",
    "secrets.*.labels",
    "configs.*.labels",
];

/// Paths where a single string is shorthand for a one-element list.
const STRING_OR_LIST: &[&str] = &[
    "services.*.dns",
    "services.*.dns_search",
    "services.*.dns_opt",
    "services.*.tmpfs",
    "services.*.env_file",
    "services.*.label_file",
];

/// Paths that are a list of names or a mapping name -> options.
const LIST_OR_MAP: &[&str] = &["services.*.depends_on", "services.*.networks"];

pub(crate) fn matches_any(path: &[String], pats: &[&str]) -> bool {
    pats.iter().any(|p| path_matches(path, p))
}

/// Merges `over` onto `base`.
pub(crate) fn merge(base: Value, over: Value, path: &mut Vec<String>) -> Result<Value, String> {
    if let Some((reset, inner)) = as_marker(&over) {
        return Ok(if reset { Value::Null } else { inner.clone() });
    }
    if matches_any(path, OVERRIDE_PATHS) {
        return Ok(over);
    }
    if matches_any(path, KV_PATHS) {
        let mut b = kv_to_map(&base, path);
        let o = kv_to_map(&over, path);
        for (k, v) in o {
            b.insert(k, v);
        }
        return Ok(Value::Object(b));
    }
    if matches_any(path, STRING_OR_LIST) {
        let mut b = to_list(base);
        b.extend(to_list(over));
        return Ok(Value::Array(b));
    }
    if matches_any(path, LIST_OR_MAP) {
        let b = names_to_map(base);
        let o = names_to_map(over);
        return merge_maps(b, o, path);
    }
    if path_matches(path, "services.*.build") {
        let b = build_to_map(base);
        let o = build_to_map(over);
        return merge_maps(b, o, path);
    }
    if path_matches(path, "services.*.extends") || path_matches(path, "services.*.ulimits.*") {
        if let (Value::Object(b), Value::Object(o)) = (&base, &over) {
            return merge_maps(b.clone(), o.clone(), path);
        }
        return Ok(over);
    }
    if path_matches(path, "services.*.logging") {
        if let (Value::Object(b), Value::Object(o)) = (&base, &over) {
            let same = match (b.get("driver"), o.get("driver")) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            };
            return if same {
                merge_maps(b.clone(), o.clone(), path)
            } else {
                Ok(over)
            };
        }
        return Ok(over);
    }
    // an empty (null) override leaves the value as it was
    if over.is_null() {
        return Ok(base);
    }
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => merge_maps(b, o, path),
        (Value::Array(mut b), Value::Array(o)) => {
            b.extend(o);
            Ok(Value::Array(b))
        }
        (Value::Object(_), _) | (Value::Array(_), _) => {
            Err(format!("cannot override {}", super::interp::dotted(path)))
        }
        (_, o) => Ok(o),
    }
}

fn merge_maps(
    mut b: Map<String, Value>,
    o: Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Value, String> {
    for (k, v) in o {
        if let Some((reset, inner)) = as_marker(&v) {
            if reset {
                b.shift_remove(&k);
            } else {
                b.insert(k, inner.clone());
            }
            continue;
        }
        match b.get_mut(&k) {
            Some(existing) if !k.starts_with("x-") && !existing.is_null() => {
                let cur = std::mem::take(existing);
                path.push(k.clone());
                let merged = merge(cur, v, path);
                path.pop();
                *existing = merged?;
            }
            _ => {
                b.insert(k, v);
            }
        }
    }
    Ok(Value::Object(b))
}

fn to_list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Null => vec![],
        other => vec![other],
    }
}

fn names_to_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        Value::Array(a) => a
            .into_iter()
            .filter_map(|x| match x {
                Value::String(s) => Some((s, Value::Null)),
                _ => None,
            })
            .collect(),
        _ => Map::new(),
    }
}

fn build_to_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        Value::String(s) => {
            let mut m = Map::new();
            m.insert("context".into(), Value::String(s));
            m
        }
        _ => Map::new(),
    }
}

/// Turns a `K=V` list (or a mapping) into a mapping; `K` alone maps to null.
pub(crate) fn kv_to_map(v: &Value, path: &[String]) -> Map<String, Value> {
    let sep_colon = path.last().map(|s| s == "extra_hosts").unwrap_or(false);
    match v {
        Value::Object(m) => m.clone(),
        Value::Array(a) => {
            let mut m = Map::new();
            for x in a {
                let s = match x {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => continue,
                };
                let split = if sep_colon {
                    s.split_once('=').or_else(|| s.split_once(':'))
                } else {
                    s.split_once('=')
                };
                match split {
                    Some((k, val)) => {
                        m.insert(k.to_string(), Value::String(val.to_string()));
                    }
                    None => {
                        m.insert(s, Value::Null);
                    }
                }
            }
            m
        }
        _ => Map::new(),
    }
}

/// Keeps one entry per key in the sequences where Compose wants uniqueness: the last
/// definition wins, at the position of the first.
pub(crate) fn enforce_unicity(v: &mut Value, path: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                path.push(k.clone());
                enforce_unicity(x, path);
                path.pop();
            }
        }
        Value::Array(a) => {
            let indexer: Option<fn(&Value) -> Option<String>> =
                if path_matches(path, "services.*.volumes") {
                    Some(volume_key)
                } else if path_matches(path, "services.*.ports") {
                    Some(port_key)
                } else if path_matches(path, "services.*.secrets") {
                    Some(secret_key)
                } else if path_matches(path, "services.*.configs") {
                    Some(config_key)
                } else if matches_any(
                    path,
                    &[
                        "services.*.expose",
                        "services.*.dns",
                        "services.*.dns_opt",
                        "services.*.dns_search",
                        "services.*.cap_add",
                        "services.*.cap_drop",
                        "services.*.links",
                        "services.*.profiles",
                        "services.*.tmpfs",
                        "services.*.build.tags",
                        "services.*.build.platforms",
                        "services.*.networks.*.aliases",
                        "services.*.networks.*.link_local_ips",
                        "services.*.devices",
                        "services.*.security_opt",
                    ],
                ) {
                    Some(scalar_key)
                } else if path_matches(path, "services.*.env_file") {
                    Some(env_file_key)
                } else {
                    None
                };
            if let Some(f) = indexer {
                let mut out: Vec<Value> = Vec::with_capacity(a.len());
                let mut seen: std::collections::HashMap<String, usize> = Default::default();
                for x in a.drain(..) {
                    match f(&x) {
                        Some(k) => {
                            if let Some(&j) = seen.get(&k) {
                                out[j] = x;
                            } else {
                                seen.insert(k, out.len());
                                out.push(x);
                            }
                        }
                        None => out.push(x),
                    }
                }
                *a = out;
            }
            for x in a.iter_mut() {
                path.push("[]".into());
                enforce_unicity(x, path);
                path.pop();
            }
        }
        _ => {}
    }
}

fn scalar_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(m) => m
            .get("source")
            .or_else(|| m.get("path"))
            .and_then(|s| s.as_str())
            .map(|s| s.to_string()),
        _ => None,
    }
}

fn env_file_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("path").and_then(|s| s.as_str()).map(str::to_string),
        _ => None,
    }
}

fn volume_key(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => m.get("target").and_then(|t| t.as_str()).map(str::to_string),
        Value::String(s) => super::canonical::parse_volume(s)
            .ok()
            .and_then(|m| m.get("target").and_then(|t| t.as_str()).map(str::to_string)),
        _ => None,
    }
}

fn port_key(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => {
            let target = m.get("target").map(|t| match t {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })?;
            let published = match m.get("published") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let host = m
                .get("host_ip")
                .and_then(|h| h.as_str())
                .unwrap_or("0.0.0.0");
            let proto = m.get("protocol").and_then(|h| h.as_str()).unwrap_or("tcp");
            Some(format!("{host}:{published}:{target}/{proto}"))
        }
        _ => None,
    }
}

fn mount_key(v: &Value, default_dir: &str) -> Option<String> {
    match v {
        Value::String(s) => Some(format!("{default_dir}/{s}")),
        Value::Object(m) => match m.get("target").and_then(|t| t.as_str()) {
            Some(t) => Some(t.to_string()),
            None => Some(format!(
                "{default_dir}/{}",
                m.get("source").and_then(|s| s.as_str()).unwrap_or("")
            )),
        },
        _ => None,
    }
}

fn secret_key(v: &Value) -> Option<String> {
    mount_key(v, "/run/secrets")
}

fn config_key(v: &Value) -> Option<String> {
    mount_key(v, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(a: Value, b: Value) -> Value {
        merge(a, b, &mut vec![]).unwrap()
    }

    #[test]
    fn rules() {
        let a = json!({"services": {"s": {"command": ["a", "b"], "environment": ["A=1", "B=2"], "ports": ["80"], "dns": "1.1.1.1"}}});
        let b = json!({"services": {"s": {"command": ["c"], "environment": {"B": "3"}, "ports": ["81"], "dns": ["8.8.8.8"]}}});
        let r = m(a, b);
        assert_eq!(r["services"]["s"]["command"], json!(["c"]));
        assert_eq!(
            r["services"]["s"]["environment"],
            json!({"A": "1", "B": "3"})
        );
        assert_eq!(r["services"]["s"]["ports"], json!(["80", "81"]));
        assert_eq!(r["services"]["s"]["dns"], json!(["1.1.1.1", "8.8.8.8"]));
    }

    #[test]
    fn reset_and_override() {
        let a = json!({"services": {"s": {"ports": ["80"], "labels": {"a": "1"}}}});
        let mut b = json!({"services": {"s": {}}});
        b["services"]["s"]["ports"] = json!({super::super::yaml::RESET: []});
        b["services"]["s"]["labels"] = json!({super::super::yaml::OVERRIDE: {"b": "2"}});
        let r = m(a, b);
        assert!(r["services"]["s"].get("ports").is_none());
        assert_eq!(r["services"]["s"]["labels"], json!({"b": "2"}));
    }

    #[test]
    fn null_keeps_and_mismatch_fails() {
        let a = json!({"services": {"s": {"networks": {"front": {"aliases": ["x"]}}, "ports": ["80"]}}});
        let b = json!({"services": {"s": {"networks": {"front": null}}}});
        let r = m(a.clone(), b);
        assert_eq!(
            r["services"]["s"]["networks"]["front"]["aliases"],
            json!(["x"])
        );
        let c = json!({"services": {"s": {"ports": "81"}}});
        assert!(merge(a, c, &mut vec![]).is_err());
    }

    #[test]
    fn unicity() {
        let mut v = json!({"services": {"s": {"volumes": [{"type": "bind", "source": "/a", "target": "/x"}, {"type": "bind", "source": "/b", "target": "/x"}]}}});
        enforce_unicity(&mut v, &mut vec![]);
        assert_eq!(
            v["services"]["s"]["volumes"],
            json!([{"type": "bind", "source": "/b", "target": "/x"}])
        );
    }
}
