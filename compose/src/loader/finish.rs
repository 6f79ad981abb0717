//! The steps that run once on the merged model: implicit dependencies, dependency cycles,
//! environment resolution, consistency checks, pruning of unused top-level elements.

use super::*;

/// The steps that run once on the merged model.
pub(super) fn finish(
    ctx: &mut Ctx,
    mut dict: Map<String, Value>,
    name: &str,
    profiles: &[String],
) -> Result<Map<String, Value>, LoadError> {
    dict.shift_remove("include");
    dict.shift_remove("version");
    dict.insert("name".into(), Value::String(name.to_string()));
    if !dict.contains_key("services") {
        dict.insert("services".into(), Value::Object(Map::new()));
    }
    let env = ctx.env.clone();
    let mut services = match dict.shift_remove("services") {
        Some(Value::Object(s)) => s,
        _ => Map::new(),
    };
    // implicit dependencies, defaults
    for (_, svc) in services.iter_mut() {
        if svc.is_null() {
            *svc = Value::Object(Map::new());
        }
        let Value::Object(s) = svc else { continue };
        implicit_depends_on(s);
        for k in ["command", "entrypoint"] {
            if !s.contains_key(k) {
                s.insert(k.into(), Value::Null);
            }
        }
        if !s.contains_key("network_mode")
            && !s.contains_key("networks")
            && !s.contains_key("provider")
        {
            let mut n = Map::new();
            n.insert("default".into(), Value::Null);
            s.insert("networks".into(), Value::Object(n));
        }
    }
    check_cycles(&services).map_err(|(svc, msg)| ctx.service_error(&svc, msg))?;
    // profiles
    let enabled: Vec<String> = services
        .iter()
        .filter(|(_, s)| {
            let ps: Vec<&str> = s
                .get("profiles")
                .and_then(|p| p.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            ps.is_empty()
                || ps
                    .iter()
                    .any(|p| *p == "*" || profiles.iter().any(|q| q == p || q == "*"))
        })
        .map(|(n, _)| n.clone())
        .collect();
    services.retain(|n, _| enabled.contains(n));
    // dependencies on disabled services: drop optional ones, fail on required ones
    let names: Vec<String> = services.keys().cloned().collect();
    for (sname, svc) in services.iter_mut() {
        let Value::Object(s) = svc else { continue };
        if let Some(Value::Object(deps)) = s.get_mut("depends_on") {
            let mut bad = None;
            deps.retain(|d, v| {
                if names.contains(d) {
                    return true;
                }
                let required = v.get("required").and_then(|r| r.as_bool()).unwrap_or(true);
                if required {
                    bad = Some(d.clone());
                }
                // an optional dependency on a disabled service stays, as the reference shows it
                !required
            });
            if let Some(d) = bad {
                let msg = format!(
                    "service {sname:?} depends on undefined service {d:?}: invalid compose project"
                );
                return Err(ctx.service_error(sname, msg));
            }
        }
    }
    // environment resolution
    for (sname, svc) in services.iter_mut() {
        let Value::Object(s) = svc else { continue };
        resolve_environment(ctx, sname, s, &env).map_err(|e| match e {
            LoadError::EnvFile(msg) => ctx.service_error(sname, msg),
            other => other,
        })?;
    }
    dict.insert("services".into(), Value::Object(services));
    // networks, volumes, secrets, configs: names
    let uses_default = dict
        .get("services")
        .and_then(|s| s.as_object())
        .map(|s| {
            s.values().any(|v| {
                v.get("networks")
                    .and_then(|n| n.as_object())
                    .map(|n| n.contains_key("default"))
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false);
    if uses_default {
        let nets = dict
            .entry("networks")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(n) = nets {
            if !n.contains_key("default") {
                n.insert("default".into(), Value::Object(Map::new()));
            }
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = dict.get_mut(kind) {
            for (key, item) in items.iter_mut() {
                if item.is_null() {
                    *item = Value::Object(Map::new());
                }
                let Value::Object(m) = item else { continue };
                let external = m.get("external").and_then(|e| e.as_bool()).unwrap_or(false);
                if !external && !m.contains_key("name") {
                    m.insert("name".into(), Value::String(format!("{name}_{key}")));
                }
                if kind == "networks" && !m.contains_key("ipam") {
                    m.insert("ipam".into(), Value::Object(Map::new()));
                }
            }
        }
    }
    check_consistency(&dict, &ctx.working_dir)
        .map_err(|(svc, msg)| ctx.service_error(&svc, msg))?;
    if ctx.opts.prune_unused {
        prune(&mut dict);
    }
    Ok(dict)
}

pub(super) fn implicit_depends_on(s: &mut Map<String, Value>) {
    let mut add: Vec<(String, bool)> = Vec::new();
    if let Some(Value::Array(links)) = s.get("links") {
        for l in links.iter().filter_map(|x| x.as_str()) {
            let n = l.split(':').next().unwrap_or(l);
            add.push((n.to_string(), true));
        }
    }
    for k in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
        if let Some(Value::String(v)) = s.get(k) {
            if let Some(n) = v.strip_prefix("service:") {
                add.push((n.to_string(), true));
            }
        }
    }
    if let Some(Value::Array(vf)) = s.get("volumes_from") {
        for v in vf.iter().filter_map(|x| x.as_str()) {
            // The spec's form is `NAME[:MODE]`; `service:NAME[:MODE]` (Docker's long form)
            // names the service after its prefix.
            if !v.starts_with("container:") {
                let v = v.strip_prefix("service:").unwrap_or(v);
                add.push((v.split(':').next().unwrap_or(v).to_string(), false));
            }
        }
    }
    if add.is_empty() {
        return;
    }
    let deps = s
        .entry("depends_on")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(d) = deps {
        for (n, restart) in add {
            if n.is_empty() || d.contains_key(&n) {
                continue;
            }
            let mut m = Map::new();
            m.insert("condition".into(), Value::String("service_started".into()));
            if restart {
                m.insert("restart".into(), Value::Bool(true));
            }
            m.insert("required".into(), Value::Bool(true));
            d.insert(n, Value::Object(m));
        }
    }
}

pub(super) fn check_cycles(services: &Map<String, Value>) -> Result<(), (String, String)> {
    // depth-first search with an explicit path, reporting the first cycle found
    fn deps(services: &Map<String, Value>, n: &str) -> Vec<String> {
        services
            .get(n)
            .and_then(|s| s.get("depends_on"))
            .and_then(|d| d.as_object())
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default()
    }
    let mut state: IndexMap<String, u8> = IndexMap::new(); // 1 = on stack, 2 = done
    let mut names: Vec<&String> = services.keys().collect();
    names.sort();
    for start in names {
        if state.get(start.as_str()).copied() == Some(2) {
            continue;
        }
        let mut stack: Vec<(String, Vec<String>, usize)> =
            vec![(start.clone(), deps(services, start), 0)];
        state.insert(start.clone(), 1);
        while let Some(top) = stack.last_mut() {
            if top.2 < top.1.len() {
                let next = top.1[top.2].clone();
                top.2 += 1;
                match state.get(&next).copied() {
                    Some(1) => {
                        let pos = stack.iter().position(|(n, _, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[pos..].iter().map(|(n, _, _)| n.clone()).collect();
                        cycle.push(next);
                        return Err((
                            cycle[0].clone(),
                            format!("dependency cycle detected: {}", cycle.join(" -> ")),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        if services.contains_key(&next) {
                            state.insert(next.clone(), 1);
                            let d = deps(services, &next);
                            stack.push((next, d, 0));
                        }
                    }
                }
            } else {
                state.insert(top.0.clone(), 2);
                stack.pop();
            }
        }
    }
    Ok(())
}

pub(super) fn resolve_environment(
    ctx: &mut Ctx,
    service: &str,
    s: &mut Map<String, Value>,
    env: &IndexMap<String, String>,
) -> Result<(), LoadError> {
    let mut out: Map<String, Value> = Map::new();
    let mut sources = Vec::new();
    if let Some(Value::Array(files)) = s.shift_remove("env_file") {
        for f in files {
            let (path, required, raw) = match &f {
                Value::Object(m) => (
                    m.get("path")
                        .and_then(|p| p.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    m.get("required").and_then(|r| r.as_bool()).unwrap_or(true),
                    m.get("format").and_then(|r| r.as_str()) == Some("raw"),
                ),
                Value::String(p) => (p.clone(), true, false),
                _ => continue,
            };
            let Some(parsed) = ctx.read_env_file(&path, required, raw, env)? else {
                continue;
            };
            for (k, v) in &parsed {
                out.insert(k.clone(), Value::String(v.clone()));
            }
            sources.push(super::model::EnvFileSource {
                path: PathBuf::from(path),
                variables: parsed,
            });
        }
    }
    if !sources.is_empty() {
        ctx.env_file_sources.insert(service.to_string(), sources);
    }
    // label_file: dotenv-format labels, overridden by explicit labels
    if let Some(Value::Array(files)) = s.shift_remove("label_file") {
        let mut labels: Map<String, Value> = Map::new();
        for f in files {
            let Some(path) = f.as_str().map(str::to_string) else {
                continue;
            };
            let pb = PathBuf::from(&path);
            if !pb.is_file() {
                return Err(LoadError::EnvFile(format!("label file {path} not found")));
            }
            let text = ctx.read_file(&pb)?;
            let parsed = dotenv::parse(&text, &|_: &str| None, false).map_err(|e| {
                LoadError::EnvFile(format!("failed to read label file {path}: {e}"))
            })?;
            for (k, v) in parsed {
                labels.insert(k, Value::String(v));
            }
        }
        if let Some(Value::Object(l)) = s.get("labels") {
            for (k, v) in l {
                labels.insert(k.clone(), v.clone());
            }
        }
        if !labels.is_empty() {
            s.insert("labels".into(), Value::Object(labels));
        }
    }
    if let Some(Value::Object(e)) = s.get("environment") {
        for (k, v) in e {
            let v = match v {
                Value::Null => env
                    .get(k)
                    .map(|x| Value::String(x.clone()))
                    .unwrap_or(Value::Null),
                other => other.clone(),
            };
            out.insert(k.clone(), v);
        }
    }
    if out.is_empty() {
        s.shift_remove("environment");
    } else {
        s.insert("environment".into(), Value::Object(out));
    }
    Ok(())
}

pub(super) fn check_consistency(
    dict: &Map<String, Value>,
    working_dir: &Path,
) -> Result<(), (String, String)> {
    let empty = Map::new();
    let services = dict
        .get("services")
        .and_then(|s| s.as_object())
        .unwrap_or(&empty);
    let defined = |kind: &str, n: &str| -> bool {
        dict.get(kind)
            .and_then(|x| x.as_object())
            .map(|m| m.contains_key(n))
            .unwrap_or(false)
    };
    for (name, s) in services {
        let has_image = s.get("image").map(|i| !i.is_null()).unwrap_or(false);
        let has_build = s.get("build").map(|b| !b.is_null()).unwrap_or(false);
        let has_provider = s.get("provider").is_some();
        if !has_image && !has_build && !has_provider {
            return Err((name.clone(), format!(
                "service {name:?} has neither an image nor a build context specified: invalid compose project"
            )));
        }
        if let Some(Value::Object(nets)) = s.get("networks") {
            for n in nets.keys() {
                if n != "default" && !defined("networks", n) {
                    return Err((
                        name.clone(),
                        format!(
                        "service {name:?} refers to undefined network {n}: invalid compose project"
                    ),
                    ));
                }
            }
        }
        if let Some(Value::Array(vols)) = s.get("volumes") {
            for v in vols {
                if v.get("type").and_then(|t| t.as_str()) == Some("volume") {
                    if let Some(src) = v.get("source").and_then(|x| x.as_str()) {
                        if !src.is_empty() && !defined("volumes", src) {
                            return Err((name.clone(), format!(
                                "service {name:?} refers to undefined volume {src}: invalid compose project"
                            )));
                        }
                    }
                }
            }
        }
        for kind in ["secrets", "configs"] {
            if let Some(Value::Array(items)) = s.get(kind) {
                for it in items {
                    if let Some(src) = it.get("source").and_then(|x| x.as_str()) {
                        if !defined(kind, src) {
                            return Err((name.clone(), format!(
                                "service {name:?} refers to undefined {} {src}: invalid compose project",
                                kind.trim_end_matches('s')
                            )));
                        }
                    }
                }
            }
        }
        // `build.ssh: [id=path]`: the key file must exist, a build could not use it otherwise
        // (the reference cannot even print such an entry as JSON)
        if let Some(Value::Array(keys)) = s.get("build").and_then(|b| b.get("ssh")) {
            for k in keys.iter().filter_map(|k| k.as_str()) {
                if let Some((id, path)) = k.split_once('=') {
                    let full = canonical::abs_path(working_dir, path);
                    if !Path::new(&full).exists() {
                        return Err((
                            name.clone(),
                            format!(
                                "service {name:?}: build.ssh key {id:?}: file {full} not found"
                            ),
                        ));
                    }
                }
            }
        }
        if let (Some(Value::String(p)), Some(Value::Array(bp))) = (
            s.get("platform"),
            s.get("build").and_then(|b| b.get("platforms")),
        ) {
            if !bp.iter().any(|x| x.as_str() == Some(p.as_str())) {
                return Err((name.clone(), format!(
                    "service.build.platforms MUST include service.platform {p:?}: invalid compose project"
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn prune(dict: &mut Map<String, Value>) {
    let mut used: IndexMap<&str, Vec<String>> = IndexMap::new();
    for k in ["networks", "volumes", "secrets", "configs", "models"] {
        used.insert(k, vec![]);
    }
    if let Some(Value::Object(services)) = dict.get("services") {
        for s in services.values() {
            if let Some(Value::Object(n)) = s.get("networks") {
                used["networks"].extend(n.keys().cloned());
            }
            if let Some(Value::Array(v)) = s.get("volumes") {
                for x in v {
                    if x.get("type").and_then(|t| t.as_str()) == Some("volume") {
                        if let Some(src) = x.get("source").and_then(|t| t.as_str()) {
                            used["volumes"].push(src.to_string());
                        }
                    }
                }
            }
            for kind in ["secrets", "configs"] {
                if let Some(Value::Array(v)) = s.get(kind) {
                    for x in v {
                        if let Some(src) = x.get("source").and_then(|t| t.as_str()) {
                            used[kind].push(src.to_string());
                        }
                    }
                }
            }
            if let Some(Value::Array(v)) = s.get("build").and_then(|b| b.get("secrets")) {
                for x in v {
                    if let Some(src) = x.get("source").and_then(|t| t.as_str()) {
                        used["secrets"].push(src.to_string());
                    }
                }
            }
            if let Some(Value::Object(m)) = s.get("models") {
                used["models"].extend(m.keys().cloned());
            }
        }
    }
    for (kind, names) in used {
        let remove = match dict.get_mut(kind) {
            Some(Value::Object(items)) => {
                items.retain(|k, _| names.contains(k));
                items.is_empty()
            }
            _ => false,
        };
        if remove {
            dict.shift_remove(kind);
        }
    }
}
