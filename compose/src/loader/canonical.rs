//! Short syntax -> long syntax, the reference's defaults, relative paths made absolute.
//! Every transformation here is idempotent: it runs again after each merged file.
//!
//! Why one long file: one short-to-long rule per Compose key, each a small function in the order
//! of the specification; splitting by key would scatter a table. Tests at the end.

use super::merge::kv_to_map;
use serde_json::{Map, Value};
use std::path::{Component, Path, PathBuf};

/// Rewrites the whole model into its canonical (long) form.
pub(crate) fn canonical(dict: &mut Map<String, Value>) -> Result<(), String> {
    if let Some(Value::Object(services)) = dict.get_mut("services") {
        for (name, svc) in services.iter_mut() {
            if let Value::Object(s) = svc {
                canonical_service(name, s).map_err(|e| format!("services.{name}: {e}"))?;
            }
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = dict.get_mut(kind) {
            for (_, item) in items.iter_mut() {
                if item.is_null() {
                    *item = Value::Object(Map::new());
                }
                if let Value::Object(m) = item {
                    // legacy `external: {name: x}`
                    if let Some(Value::Object(ext)) = m.get("external").cloned() {
                        if let Some(n) = ext.get("name") {
                            m.insert("name".into(), n.clone());
                        }
                        m.insert("external".into(), Value::Bool(true));
                    }
                    if let Some(l) = m.get("labels") {
                        let l = string_map(kv_to_map(l, &["labels".into()]));
                        m.insert("labels".into(), Value::Object(l));
                    }
                    if let Some(Value::Object(o)) = m.get("driver_opts") {
                        let o = nullable_string_map(o.clone());
                        m.insert("driver_opts".into(), Value::Object(o));
                    }
                    if kind == "networks" {
                        if let Some(Value::Object(ipam)) = m.get_mut("ipam") {
                            if let Some(Value::Array(cfgs)) = ipam.get_mut("config") {
                                for c in cfgs.iter_mut() {
                                    if let Value::Object(c) = c {
                                        if let Some(aux) = c.remove("aux_addresses") {
                                            c.insert("aux_addresses".into(), aux);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(Value::Array(inc)) = dict.get_mut("include") {
        for i in inc.iter_mut() {
            if let Value::String(s) = i {
                let mut m = Map::new();
                m.insert("path".into(), Value::Array(vec![Value::String(s.clone())]));
                *i = Value::Object(m);
            } else if let Value::Object(m) = i {
                if let Some(Value::String(p)) = m.get("path").cloned() {
                    m.insert("path".into(), Value::Array(vec![Value::String(p)]));
                }
                if let Some(Value::String(p)) = m.get("env_file").cloned() {
                    m.insert("env_file".into(), Value::Array(vec![Value::String(p)]));
                }
            }
        }
    }
    Ok(())
}

fn string_map(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::Null => String::new(),
                Value::String(s) => s,
                other => scalar_to_string(&other),
            };
            (k, Value::String(s))
        })
        .collect()
}

pub(crate) fn scalar_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

fn nullable_string_map(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Null => Value::Null,
                other => Value::String(scalar_to_string(&other)),
            };
            (k, v)
        })
        .collect()
}

fn to_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

fn canonical_service(name: &str, s: &mut Map<String, Value>) -> Result<(), String> {
    let _ = name;
    // build
    if let Some(b) = s.get_mut("build") {
        if let Value::String(ctx) = b {
            let mut m = Map::new();
            m.insert("context".into(), Value::String(ctx.clone()));
            *b = Value::Object(m);
        }
        if let Value::Object(b) = b {
            if !b.contains_key("context") {
                b.insert("context".into(), Value::String(".".into()));
            }
            if !b.contains_key("dockerfile") && !b.contains_key("dockerfile_inline") {
                b.insert("dockerfile".into(), Value::String("Dockerfile".into()));
            }
            for k in ["args", "labels", "additional_contexts"] {
                if let Some(v) = b.get(k) {
                    let p = vec![k.to_string()];
                    let m = if k == "args" {
                        nullable_string_map(kv_to_map(v, &p))
                    } else {
                        string_map(kv_to_map(v, &p))
                    };
                    b.insert(k.into(), Value::Object(m));
                }
            }
            if let Some(v) = b.get("extra_hosts") {
                b.insert("extra_hosts".into(), extra_hosts(v));
            }
            if let Some(Value::Array(secrets)) = b.get_mut("secrets") {
                for x in secrets.iter_mut() {
                    if let Value::String(src) = x {
                        let mut m = Map::new();
                        m.insert("source".into(), Value::String(src.clone()));
                        *x = Value::Object(m);
                    }
                    mode_to_octal(x);
                }
            }
            if let Some(Value::Array(keys)) = b.get("ssh") {
                for k in keys {
                    match k.as_str() {
                        Some(k) if k.contains('=') || k == "default" => {}
                        Some(k) => return Err(format!("invalid ssh key {k:?}")),
                        None => return Err(format!("invalid ssh key type {k}")),
                    }
                }
            }
            if let Some(v) = b.get("ssh") {
                if let Value::Object(m) = v {
                    let l: Vec<Value> = m
                        .iter()
                        .map(|(k, v)| {
                            if v.is_null() {
                                Value::String(k.clone())
                            } else {
                                Value::String(format!("{k}={}", scalar_to_string(v)))
                            }
                        })
                        .collect();
                    b.insert("ssh".into(), Value::Array(l));
                } else if let Value::String(x) = v {
                    b.insert("ssh".into(), Value::Array(vec![Value::String(x.clone())]));
                }
            }
            for k in ["cache_from", "cache_to", "tags", "platforms"] {
                if let Some(Value::String(x)) = b.get(k) {
                    let x = x.clone();
                    b.insert(k.into(), Value::Array(vec![Value::String(x)]));
                }
            }
            if let Some(v) = b.get("shm_size") {
                let v = v.clone();
                b.insert("shm_size".into(), bytes_value(&v)?);
            }
        }
    }
    // commands
    for k in ["command", "entrypoint"] {
        if let Some(Value::String(c)) = s.get(k) {
            let l = shell_split(c)?;
            s.insert(
                k.into(),
                Value::Array(l.into_iter().map(Value::String).collect()),
            );
        }
    }
    // depends_on
    if let Some(d) = s.get_mut("depends_on") {
        let mut out = Map::new();
        match d {
            Value::Array(a) => {
                for x in a.iter() {
                    if let Value::String(n) = x {
                        out.insert(n.clone(), dep_default(Map::new()));
                    }
                }
            }
            Value::Object(m) => {
                for (k, v) in m.iter() {
                    let v = match v {
                        Value::Object(o) => o.clone(),
                        _ => Map::new(),
                    };
                    out.insert(k.clone(), dep_default(v));
                }
            }
            _ => {}
        }
        *d = Value::Object(out);
    }
    // env_file / label_file
    for k in ["env_file", "label_file"] {
        if let Some(v) = s.get(k) {
            let mut out = Vec::new();
            for x in to_list(v) {
                match x {
                    Value::String(p) if k == "env_file" => {
                        let mut m = Map::new();
                        m.insert("path".into(), Value::String(p));
                        m.insert("required".into(), Value::Bool(true));
                        out.push(Value::Object(m));
                    }
                    Value::Object(mut m) if k == "env_file" => {
                        if !m.contains_key("required") {
                            m.insert("required".into(), Value::Bool(true));
                        }
                        out.push(Value::Object(m));
                    }
                    other => out.push(other),
                }
            }
            s.insert(k.into(), Value::Array(out));
        }
    }
    // key=value maps
    if let Some(v) = s.get("environment") {
        let m = nullable_string_map(kv_to_map(v, &["environment".into()]));
        s.insert("environment".into(), Value::Object(m));
    }
    for k in ["labels", "annotations", "sysctls"] {
        if let Some(v) = s.get(k) {
            let m = string_map(kv_to_map(v, &[k.to_string()]));
            s.insert(k.into(), Value::Object(m));
        }
    }
    if let Some(v) = s.get("extra_hosts") {
        let v = extra_hosts(v);
        s.insert("extra_hosts".into(), v);
    }
    // extends
    if let Some(Value::String(x)) = s.get("extends") {
        let mut m = Map::new();
        m.insert("service".into(), Value::String(x.clone()));
        s.insert("extends".into(), Value::Object(m));
    }
    // networks
    if let Some(Value::Array(a)) = s.get("networks") {
        let m: Map<String, Value> = a
            .iter()
            .filter_map(|x| x.as_str().map(|n| (n.to_string(), Value::Null)))
            .collect();
        s.insert("networks".into(), Value::Object(m));
    }
    if let Some(Value::Object(nets)) = s.get_mut("networks") {
        for (_, n) in nets.iter_mut() {
            if let Value::Object(m) = n {
                if m.is_empty() {
                    *n = Value::Null;
                }
            }
        }
    }
    // ports
    if let Some(v) = s.get("ports") {
        let mut out = Vec::new();
        for p in to_list(v) {
            match p {
                Value::String(x) => out.extend(parse_ports(&x)?),
                Value::Number(n) => out.extend(parse_ports(&n.to_string())?),
                Value::Object(mut m) => {
                    if let Some(Value::Number(n)) = m.get("published") {
                        let n = n.to_string();
                        m.insert("published".into(), Value::String(n));
                    }
                    if let Some(Value::String(t)) = m.get("target") {
                        if let Ok(n) = t.parse::<u64>() {
                            m.insert("target".into(), Value::from(n));
                        }
                    }
                    if !m.contains_key("mode") {
                        m.insert("mode".into(), Value::String("ingress".into()));
                    }
                    if !m.contains_key("protocol") {
                        m.insert("protocol".into(), Value::String("tcp".into()));
                    }
                    out.push(Value::Object(m));
                }
                other => out.push(other),
            }
        }
        s.insert("ports".into(), Value::Array(out));
    }
    if let Some(v) = s.get("expose") {
        let l: Vec<Value> = to_list(v)
            .into_iter()
            .map(|x| Value::String(scalar_to_string(&x)))
            .collect();
        s.insert("expose".into(), Value::Array(l));
    }
    // volumes
    if let Some(v) = s.get("volumes") {
        let mut out = Vec::new();
        for x in to_list(v) {
            match x {
                Value::String(spec) => out.push(Value::Object(
                    parse_volume(&spec).map_err(|e| format!("invalid spec: {spec}: {e}"))?,
                )),
                Value::Object(mut m) => {
                    let ty = m
                        .get("type")
                        .and_then(|t| t.as_str())
                        .unwrap_or("volume")
                        .to_string();
                    if !m.contains_key("type") {
                        m.insert("type".into(), Value::String(ty.clone()));
                    }
                    if ty == "volume" && !m.contains_key("volume") {
                        m.insert("volume".into(), Value::Object(Map::new()));
                    }
                    if let Some(Value::Object(t)) = m.get_mut("tmpfs") {
                        if let Some(sz) = t.get("size").cloned() {
                            t.insert("size".into(), bytes_value(&sz)?);
                        }
                        if let Some(Value::String(mode)) = t.get("mode").cloned() {
                            if let Ok(n) = i64::from_str_radix(&mode, 8) {
                                t.insert("mode".into(), Value::from(n));
                            }
                        }
                    }
                    out.push(Value::Object(m));
                }
                other => out.push(other),
            }
        }
        // A target is cleaned as Go's path.Clean cleans it (`/data/` is `/data`), whichever
        // syntax gave it; a bind source keeps what the file says (made absolute if relative).
        for m in out.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(Value::String(t)) = m.get_mut("target") {
                if !t.is_empty() {
                    *t = clean(Path::new(t.as_str()));
                }
            }
        }
        s.insert("volumes".into(), Value::Array(out));
    }
    // secrets / configs
    for k in ["secrets", "configs"] {
        if let Some(Value::Array(a)) = s.get_mut(k) {
            for x in a.iter_mut() {
                if let Value::String(src) = x {
                    let mut m = Map::new();
                    m.insert("source".into(), Value::String(src.clone()));
                    *x = Value::Object(m);
                }
                if let Value::Object(m) = x {
                    if k == "secrets" && !m.contains_key("target") {
                        if let Some(src) = m.get("source").and_then(|s| s.as_str()) {
                            let t = format!("/run/secrets/{src}");
                            m.insert("target".into(), Value::String(t));
                        }
                    }
                }
                mode_to_octal(x);
            }
        }
    }
    // string-or-list keys
    for k in [
        "dns",
        "dns_search",
        "dns_opt",
        "tmpfs",
        "cap_add",
        "cap_drop",
        "security_opt",
        "profiles",
    ] {
        if let Some(Value::String(x)) = s.get(k) {
            let x = x.clone();
            s.insert(k.into(), Value::Array(vec![Value::String(x)]));
        }
    }
    // devices: "src[:dst[:perm]]" -> {source, target, permissions}
    if let Some(Value::Array(devs)) = s.get_mut("devices") {
        for d in devs.iter_mut() {
            if let Value::String(spec) = d {
                let parts: Vec<&str> = spec.splitn(3, ':').collect();
                let src = parts[0].to_string();
                let dst = parts
                    .get(1)
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| src.clone());
                let perm = parts
                    .get(2)
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "rwm".into());
                let mut m = Map::new();
                m.insert("source".into(), Value::String(src));
                m.insert("target".into(), Value::String(dst));
                m.insert("permissions".into(), Value::String(perm));
                *d = Value::Object(m);
            }
        }
    }
    // logging options are strings
    if let Some(Value::Object(l)) = s.get_mut("logging") {
        if let Some(Value::Object(o)) = l.get("options") {
            let o = nullable_string_map(o.clone());
            l.insert("options".into(), Value::Object(o));
        }
    }
    // healthcheck
    if let Some(Value::Object(h)) = s.get_mut("healthcheck") {
        if let Some(Value::String(t)) = h.get("test").cloned() {
            h.insert(
                "test".into(),
                Value::Array(vec![Value::String("CMD-SHELL".into()), Value::String(t)]),
            );
        }
        for k in ["interval", "timeout", "start_period", "start_interval"] {
            if let Some(v) = h.get(k).cloned() {
                h.insert(k.into(), duration_value(&v)?);
            }
        }
    }
    if let Some(v) = s.get("stop_grace_period").cloned() {
        s.insert("stop_grace_period".into(), duration_value(&v)?);
    }
    for k in ["shm_size", "mem_limit", "mem_reservation", "memswap_limit"] {
        if let Some(v) = s.get(k).cloned() {
            s.insert(k.into(), bytes_value(&v)?);
        }
    }
    // deploy
    if let Some(Value::Object(d)) = s.get_mut("deploy") {
        if !d.contains_key("resources") {
            d.insert("resources".into(), Value::Object(Map::new()));
        }
        if !d.contains_key("placement") {
            d.insert("placement".into(), Value::Object(Map::new()));
        }
        if let Some(l) = d.get("labels") {
            let l = string_map(kv_to_map(l, &["labels".into()]));
            d.insert("labels".into(), Value::Object(l));
        }
        if let Some(Value::Object(r)) = d.get_mut("resources") {
            for k in ["limits", "reservations"] {
                if let Some(Value::Object(l)) = r.get_mut(k) {
                    if let Some(v) = l.get("memory").cloned() {
                        l.insert("memory".into(), bytes_value(&v)?);
                    }
                    if let Some(Value::String(c)) = l.get("cpus").cloned() {
                        if let Some(n) = c
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                        {
                            l.insert("cpus".into(), Value::Number(n));
                        }
                    }
                }
            }
        }
        for k in ["restart_policy", "update_config", "rollback_config"] {
            if let Some(Value::Object(p)) = d.get_mut(k) {
                for dk in ["delay", "window", "monitor"] {
                    if let Some(v) = p.get(dk).cloned() {
                        p.insert(dk.into(), duration_value(&v)?);
                    }
                }
            }
        }
    }
    // lifecycle hooks
    for k in ["post_start", "pre_stop"] {
        if let Some(Value::Array(a)) = s.get_mut(k) {
            for h in a.iter_mut() {
                if let Value::Object(h) = h {
                    if let Some(Value::String(c)) = h.get("command").cloned() {
                        let l = shell_split(&c)?;
                        h.insert(
                            "command".into(),
                            Value::Array(l.into_iter().map(Value::String).collect()),
                        );
                    }
                    if let Some(e) = h.get("environment") {
                        let m = nullable_string_map(kv_to_map(e, &["environment".into()]));
                        h.insert("environment".into(), Value::Object(m));
                    }
                }
            }
        }
    }
    // develop.watch
    if let Some(Value::Object(dev)) = s.get_mut("develop") {
        // a watch item with a list of paths stands for one item per path
        if let Some(Value::Array(w)) = dev.get_mut("watch") {
            let mut expanded = Vec::with_capacity(w.len());
            for item in w.drain(..) {
                match item.get("path") {
                    Some(Value::Array(paths)) => {
                        for p in paths.clone() {
                            let mut one = item.clone();
                            if let Value::Object(m) = &mut one {
                                m.insert("path".into(), p);
                            }
                            expanded.push(one);
                        }
                    }
                    _ => expanded.push(item),
                }
            }
            *w = expanded;
        }
        if let Some(Value::Array(w)) = dev.get_mut("watch") {
            for item in w.iter_mut() {
                if let Value::Object(m) = item {
                    let exec = m.entry("exec").or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(e) = exec {
                        if let Some(Value::String(c)) = e.get("command").cloned() {
                            let l = shell_split(&c)?;
                            e.insert(
                                "command".into(),
                                Value::Array(l.into_iter().map(Value::String).collect()),
                            );
                        }
                        if !e.contains_key("command") {
                            e.insert("command".into(), Value::Null);
                        }
                    }
                    for k in ["ignore", "include"] {
                        if let Some(Value::String(x)) = m.get(k).cloned() {
                            m.insert(k.into(), Value::Array(vec![Value::String(x)]));
                        }
                    }
                }
            }
        }
    }
    // provider options: every value is a list of strings
    if let Some(Value::Object(p)) = s.get_mut("provider") {
        if let Some(Value::Object(o)) = p.get_mut("options") {
            for (_, v) in o.iter_mut() {
                let l: Vec<Value> = to_list(v)
                    .into_iter()
                    .map(|x| Value::String(scalar_to_string(&x)))
                    .collect();
                *v = Value::Array(l);
            }
        }
    }
    // models: list -> map
    if let Some(Value::Array(a)) = s.get("models") {
        let m: Map<String, Value> = a
            .iter()
            .filter_map(|x| x.as_str().map(|n| (n.to_string(), Value::Null)))
            .collect();
        s.insert("models".into(), Value::Object(m));
    }
    // gpus: "all" -> [{count: -1}]
    if let Some(Value::String(g)) = s.get("gpus") {
        if g == "all" {
            let mut m = Map::new();
            m.insert("count".into(), Value::from(-1));
            s.insert("gpus".into(), Value::Array(vec![Value::Object(m)]));
        }
    }
    Ok(())
}

fn mode_to_octal(x: &mut Value) {
    if let Value::Object(m) = x {
        for k in ["uid", "gid"] {
            if let Some(Value::Number(n)) = m.get(k) {
                let n = n.to_string();
                m.insert(k.into(), Value::String(n));
            }
        }
        match m.get("mode").cloned() {
            Some(Value::Number(n)) => {
                if let Some(i) = n.as_u64() {
                    m.insert("mode".into(), Value::String(format!("0{i:o}")));
                }
            }
            Some(Value::String(s)) => {
                if let Ok(i) = u64::from_str_radix(s.trim_start_matches("0o"), 8) {
                    m.insert("mode".into(), Value::String(format!("0{i:o}")));
                }
            }
            _ => {}
        }
    }
}

fn dep_default(mut m: Map<String, Value>) -> Value {
    if !m.contains_key("condition") {
        m.insert("condition".into(), Value::String("service_started".into()));
    }
    if !m.contains_key("required") {
        m.insert("required".into(), Value::Bool(true));
    }
    Value::Object(m)
}

fn extra_hosts(v: &Value) -> Value {
    // the reference prints extra_hosts as a list of `host=ip`
    let m = kv_to_map(v, &["extra_hosts".into()]);
    let mut out = Vec::new();
    for (k, val) in m {
        match val {
            Value::Array(ips) => {
                for ip in ips {
                    out.push(Value::String(format!("{k}={}", scalar_to_string(&ip))));
                }
            }
            other => out.push(Value::String(format!("{k}={}", scalar_to_string(&other)))),
        }
    }
    Value::Array(out)
}

/// Parses `[source:]target[:options]` into the long volume syntax.
pub(crate) fn parse_volume(spec: &str) -> Result<Map<String, Value>, String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut fields: Vec<String> = Vec::new();
    let mut buf = String::new();
    for (i, &c) in chars.iter().enumerate() {
        // a Windows drive letter such as `C:` is not a separator
        let drive = c == ':'
            && buf.len() == 1
            && buf.chars().all(|x| x.is_ascii_alphabetic())
            && matches!(chars.get(i + 1), Some('\\') | Some('/'));
        if c == ':' && !drive {
            if buf.is_empty() {
                return Err("empty section between colons".into());
            }
            fields.push(std::mem::take(&mut buf));
            if fields.len() > 2 {
                return Err("too many colons".into());
            }
        } else {
            buf.push(c);
        }
    }
    if buf.is_empty() {
        return Err(if fields.is_empty() {
            "empty volume spec".into()
        } else {
            "empty section between colons".into()
        });
    }
    fields.push(buf);
    let mut m = Map::new();
    let (source, target, opts) = match fields.len() {
        1 => (None, fields[0].clone(), None),
        2 => (Some(fields[0].clone()), fields[1].clone(), None),
        _ => (
            Some(fields[0].clone()),
            fields[1].clone(),
            Some(fields[2].clone()),
        ),
    };
    let is_path = source.as_deref().map(is_file_path).unwrap_or(false);
    m.insert(
        "type".into(),
        Value::String(if is_path { "bind" } else { "volume" }.into()),
    );
    if let Some(s) = &source {
        m.insert("source".into(), Value::String(s.clone()));
    }
    m.insert("target".into(), Value::String(target));
    let mut bind = Map::new();
    let mut volume = Map::new();
    if let Some(o) = opts {
        for opt in o.split(',') {
            match opt {
                "ro" => {
                    m.insert("read_only".into(), Value::Bool(true));
                }
                "rw" => {
                    m.remove("read_only");
                }
                "nocopy" => {
                    volume.insert("nocopy".into(), Value::Bool(true));
                }
                "z" | "Z" => {
                    bind.insert("selinux".into(), Value::String(opt.into()));
                }
                "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" => {
                    bind.insert("propagation".into(), Value::String(opt.into()));
                }
                _ => {}
            }
        }
    }
    if is_path {
        bind.insert("create_host_path".into(), Value::Bool(true));
        m.insert("bind".into(), Value::Object(bind));
    } else {
        m.insert("volume".into(), Value::Object(volume));
    }
    Ok(m)
}

fn is_file_path(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    if matches!(b[0], b'.' | b'/' | b'~') || s.starts_with("\\\\") {
        return true;
    }
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Parses a short port spec `[ip:][published:]target[/protocol]` (ranges allowed).
pub(crate) fn parse_ports(spec: &str) -> Result<Vec<Value>, String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    let (ip, host, container) = split_port_spec(rest)?;
    let (cs, ce) =
        parse_range(&container).map_err(|_| format!("invalid containerPort: {container}"))?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(&host).map_err(|_| format!("invalid hostPort: {host}"))?)
    };
    let mut out: Vec<(String, Value)> = Vec::new();
    for (i, port) in (cs..=ce).enumerate() {
        let published = match host_range {
            None => String::new(),
            Some((hs, he)) => {
                if he - hs != ce - cs {
                    if ce != cs {
                        return Err(format!("invalid ranges specified for container and host Ports: {container} and {host}"));
                    }
                    host.clone()
                } else {
                    (hs + i as u64).to_string()
                }
            }
        };
        let mut m = Map::new();
        m.insert("mode".into(), Value::String("ingress".into()));
        if !ip.is_empty() {
            m.insert("host_ip".into(), Value::String(ip.clone()));
        }
        m.insert("target".into(), Value::from(port));
        if !published.is_empty() {
            m.insert("published".into(), Value::String(published));
        }
        m.insert("protocol".into(), Value::String(proto.clone()));
        out.push((format!("{port}/{proto}"), Value::Object(m)));
    }
    // the reference sorts by the "port/proto" key as strings
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

fn split_port_spec(s: &str) -> Result<(String, String, String), String> {
    // IPv6 in brackets: [::1]:80:80
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("invalid ip address: {s}"))?;
        let after = after.strip_prefix(':').unwrap_or(after);
        let (host, container) = match after.split_once(':') {
            Some((h, c)) => (h.to_string(), c.to_string()),
            None => (String::new(), after.to_string()),
        };
        return Ok((ip.to_string(), host, container));
    }
    let parts: Vec<&str> = s.split(':').collect();
    match parts.len() {
        1 => Ok((String::new(), String::new(), parts[0].to_string())),
        2 => Ok((String::new(), parts[0].to_string(), parts[1].to_string())),
        3 => Ok((
            parts[0].to_string(),
            parts[1].to_string(),
            parts[2].to_string(),
        )),
        _ => {
            // bare IPv6 address without brackets
            let container = parts[parts.len() - 1].to_string();
            let host = parts[parts.len() - 2].to_string();
            let ip = parts[..parts.len() - 2].join(":");
            Ok((ip, host, container))
        }
    }
}

fn parse_range(s: &str) -> Result<(u64, u64), ()> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u64 = a.parse().map_err(|_| ())?;
    let b: u64 = b.parse().map_err(|_| ())?;
    if b < a || b > 65535 {
        return Err(());
    }
    Ok((a, b))
}

/// Splits a command line like a POSIX shell would (quotes and backslashes, no expansion).
pub(crate) fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("invalid command line string: {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some('\n') => {}
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("invalid command line string: {s:?}")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("invalid command line string: {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(x) => cur.push(x),
                    None => cur.push('\\'),
                }
            }
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Parses a Go-style duration ("1m30s", "500ms", "2h") into nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Result<i128, String> {
    let orig = s;
    let s = s.trim();
    if s == "0" {
        return Ok(0);
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return Err(format!("time: invalid duration {orig:?}"));
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {orig:?}"))?;
        if num_end == 0 {
            return Err(format!("time: invalid duration {orig:?}"));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("time: invalid duration {orig:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let mult: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {orig:?}")),
        };
        total += n * mult;
    }
    let v = total.round() as i128;
    Ok(if neg { -v } else { v })
}

/// Formats nanoseconds the way Go's time.Duration.String does.
pub(crate) fn format_duration(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1u128)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let rem = u % 3_600_000_000_000;
        let m = rem / 60_000_000_000;
        let sns = rem % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(sns, 1_000_000_000));
        out.push('s');
    }
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

fn frac(v: u128, div: u128) -> String {
    let whole = v / div;
    let f = v % div;
    if f == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let fs = format!("{f:0width$}");
    format!("{whole}.{}", fs.trim_end_matches('0'))
}

fn duration_value(v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) => Ok(Value::String(format_duration(parse_duration(s)?))),
        // a bare number is taken as seconds, as the reference does for durations
        Value::Number(n) => {
            let secs = n.as_f64().unwrap_or(0.0);
            Ok(Value::String(format_duration((secs * 1e9).round() as i128)))
        }
        other => Ok(other.clone()),
    }
}

/// Parses a byte size ("64m", "1gb", "512") into bytes.
pub(crate) fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n); // includes -1 (unlimited swap)
    }
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let n: f64 = t[..num_end]
        .parse()
        .map_err(|_| format!("invalid size: {s:?}"))?;
    let unit = t[num_end..].trim();
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return Err(format!("invalid size: {s:?}")),
    };
    Ok((n * mult) as i64)
}

/// Byte sizes print as a decimal string, as the reference's UnitBytes does.
fn bytes_value(v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) => Ok(Value::String(parse_bytes(s)?.to_string())),
        Value::Number(n) => Ok(Value::String(n.to_string())),
        other => Ok(other.clone()),
    }
}

/// A path as the reference resolves it: `~` expanded, a relative path joined onto `base` and
/// cleaned lexically (Go's filepath.Join), an absolute one kept as written.
pub(crate) fn abs_path(base: &Path, p: &str) -> String {
    let home = || PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/".into()));
    if let Some(rest) = p.strip_prefix("~/") {
        clean(&home().join(rest))
    } else if p == "~" {
        home().to_string_lossy().into_owned()
    } else if p.starts_with('/') || p.is_empty() {
        p.to_string()
    } else {
        clean(&base.join(p))
    }
}

pub(crate) fn clean(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    let absolute = p.is_absolute();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if parts.last().map(|l| l != "..").unwrap_or(false) {
                    parts.pop();
                } else if !absolute {
                    parts.push("..".into());
                }
            }
            Component::Normal(x) => parts.push(x.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    let s = parts.join("/");
    if absolute {
        format!("/{s}")
    } else if s.is_empty() {
        ".".into()
    } else {
        s
    }
}

fn is_remote(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

fn is_windows_abs(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/'))
        || s.starts_with("\\\\")
}

fn resolve(base: &Path, v: &mut Value) {
    if let Value::String(s) = v {
        if !is_windows_abs(s) {
            *s = abs_path(base, s);
        }
    }
}

/// Makes the relative paths of a model absolute against `base` (the file's directory).
pub(crate) fn resolve_paths(dict: &mut Map<String, Value>, base: &Path) {
    if let Some(Value::Object(services)) = dict.get_mut("services") {
        for (_, svc) in services.iter_mut() {
            let Value::Object(s) = svc else { continue };
            resolve_service_paths(s, base);
        }
    }
    for kind in ["secrets", "configs"] {
        if let Some(Value::Object(items)) = dict.get_mut(kind) {
            for (_, item) in items.iter_mut() {
                if let Value::Object(m) = item {
                    if let Some(f) = m.get_mut("file") {
                        resolve(base, f);
                    }
                }
            }
        }
    }
    if let Some(Value::Object(vols)) = dict.get_mut("volumes") {
        for (_, item) in vols.iter_mut() {
            if let Value::Object(m) = item {
                let driver_local = m
                    .get("driver")
                    .and_then(|d| d.as_str())
                    .map(|d| d == "local")
                    .unwrap_or(true);
                if let Some(Value::Object(o)) = m.get_mut("driver_opts") {
                    let bind = o
                        .get("o")
                        .and_then(|x| x.as_str())
                        .map(|x| x.split(',').any(|p| p == "bind"))
                        .unwrap_or(false);
                    if driver_local && bind {
                        // An empty device joins to the directory itself, as the reference's
                        // filepath.Join makes it.
                        match o.get_mut("device") {
                            Some(Value::String(d)) if d.is_empty() => *d = clean(base),
                            Some(d) => resolve(base, d),
                            None => {}
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn resolve_service_paths(s: &mut Map<String, Value>, base: &Path) {
    if let Some(Value::Object(b)) = s.get_mut("build") {
        if let Some(Value::String(c)) = b.get_mut("context") {
            if !is_remote(c) && !is_windows_abs(c) {
                *c = abs_path(base, c);
            }
        }
        if let Some(Value::Object(ac)) = b.get_mut("additional_contexts") {
            for (_, v) in ac.iter_mut() {
                if let Value::String(c) = v {
                    if !is_remote(c)
                        && !c.starts_with("service:")
                        && !c.starts_with("docker-image:")
                        && !c.starts_with("oci-layout:")
                    {
                        *c = abs_path(base, c);
                    }
                }
            }
        }
    }
    for k in ["env_file", "label_file"] {
        if let Some(Value::Array(a)) = s.get_mut(k) {
            for x in a.iter_mut() {
                match x {
                    Value::Object(m) => {
                        if let Some(p) = m.get_mut("path") {
                            resolve(base, p);
                        }
                    }
                    v @ Value::String(_) => resolve(base, v),
                    _ => {}
                }
            }
        }
    }
    if let Some(Value::Object(e)) = s.get_mut("extends") {
        if let Some(f) = e.get_mut("file") {
            resolve(base, f);
        }
    }
    if let Some(Value::Array(vols)) = s.get_mut("volumes") {
        for v in vols.iter_mut() {
            if let Value::Object(m) = v {
                if m.get("type").and_then(|t| t.as_str()) == Some("bind") {
                    if let Some(src) = m.get_mut("source") {
                        resolve(base, src);
                    }
                }
            }
        }
    }
    if let Some(Value::Object(dev)) = s.get_mut("develop") {
        if let Some(Value::Array(w)) = dev.get_mut("watch") {
            for item in w.iter_mut() {
                if let Value::Object(m) = item {
                    if let Some(p) = m.get_mut("path") {
                        resolve(base, p);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        for (i, o) in [
            ("10s", "10s"),
            ("1m30s", "1m30s"),
            ("2m", "2m0s"),
            ("1h", "1h0m0s"),
            ("500ms", "500ms"),
            ("1.5s", "1.5s"),
            ("0s", "0s"),
        ] {
            assert_eq!(format_duration(parse_duration(i).unwrap()), o, "{i}");
        }
        assert!(parse_duration("10").is_err());
    }

    #[test]
    fn ports() {
        let p = parse_ports("127.0.0.1:8000-8001:80-81/udp").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0],
            json!({"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "8000", "protocol": "udp"})
        );
        let p = parse_ports("80").unwrap();
        assert_eq!(
            p[0],
            json!({"mode": "ingress", "target": 80, "protocol": "tcp"})
        );
        let p = parse_ports("8000-8010:80").unwrap();
        assert_eq!(p[0]["published"], "8000-8010");
        assert!(parse_ports("x:80").is_err());
    }

    #[test]
    fn volumes() {
        let v = parse_volume("./a:/b:ro").unwrap();
        assert_eq!(
            Value::Object(v),
            json!({"type": "bind", "source": "./a", "target": "/b", "read_only": true, "bind": {"create_host_path": true}})
        );
        let v = parse_volume("/data").unwrap();
        assert_eq!(
            Value::Object(v),
            json!({"type": "volume", "target": "/data", "volume": {}})
        );
        assert!(parse_volume(":/x").is_err());
        let v = parse_volume("C:\\x:/y").unwrap();
        assert_eq!(v["source"], "C:\\x");
    }

    #[test]
    fn shell() {
        assert_eq!(
            shell_split("sh -c 'echo a b' \"x\\\"y\"").unwrap(),
            vec!["sh", "-c", "echo a b", "x\"y"]
        );
    }

    #[test]
    fn paths() {
        assert_eq!(abs_path(Path::new("/a/b"), "./c/../d"), "/a/b/d");
        assert_eq!(abs_path(Path::new("/a/b"), "/x"), "/x");
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("64m").unwrap(), 67108864);
        assert_eq!(parse_bytes("1gb").unwrap(), 1073741824);
    }
}
