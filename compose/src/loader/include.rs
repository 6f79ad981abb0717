//! `include:`: other Compose applications loaded as they are and merged in, each relative
//! to its own directory and with its own `.env`.

use super::*;

pub(super) fn apply_include(
    ctx: &mut Ctx,
    file: &str,
    base: &Path,
    cfg: &mut Map<String, Value>,
) -> Result<(), LoadError> {
    let Some(inc) = cfg.shift_remove("include") else {
        return Ok(());
    };
    let items = match inc {
        Value::Array(a) => a,
        Value::Null => vec![],
        _ => {
            return Err(LoadError::invalid(format!(
                "{file}: include must be a list"
            )))
        }
    };
    let file_dir = if file == "-" {
        base.to_path_buf()
    } else {
        Path::new(file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| base.to_path_buf())
    };
    for item in items {
        let (paths, project_dir, env_files): (Vec<String>, Option<String>, Option<Vec<String>>) =
            match item {
                Value::String(s) => (vec![s], None, None),
                Value::Object(m) => {
                    let paths = match m.get("path") {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(a)) => a
                            .iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect(),
                        _ => {
                            return Err(LoadError::invalid(format!(
                                "{file}: include requires a path"
                            )))
                        }
                    };
                    let pd = m
                        .get("project_directory")
                        .and_then(|x| x.as_str())
                        .map(str::to_string);
                    let ef = match m.get("env_file") {
                        Some(Value::String(s)) => Some(vec![s.clone()]),
                        Some(Value::Array(a)) => Some(
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect(),
                        ),
                        _ => None,
                    };
                    (paths, pd, ef)
                }
                _ => return Err(LoadError::invalid(format!("{file}: invalid include entry"))),
            };
        let abs: Vec<String> = paths
            .iter()
            .map(|p| canonical::abs_path(&file_dir, p))
            .collect();
        let Some(first) = abs.first().cloned() else {
            continue;
        };
        let sub_dir: PathBuf = match &project_dir {
            Some(d) => canonical::abs_path(&file_dir, d).into(),
            None => Path::new(&first)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| file_dir.clone()),
        };
        // environment of the included project: its env files (default: its .env) under ours
        let mut env = ctx.env.clone();
        let env_paths: Vec<(String, bool)> = match env_files {
            Some(l) => l
                .iter()
                .map(|p| (canonical::abs_path(&file_dir, p), true))
                .collect(),
            None => vec![(sub_dir.join(".env").to_string_lossy().into_owned(), false)],
        };
        for (p, required) in env_paths {
            let parsed = ctx
                .read_env_file(&p, required, false, &env)
                .map_err(|e| match e {
                    LoadError::EnvFile(m) if m.starts_with("env file") => {
                        LoadError::EnvFile(format!("{file}: include: {m}"))
                    }
                    other => other,
                })?;
            let Some(parsed) = parsed else { continue };
            for (k, v) in parsed {
                if !ctx.opts.environment.contains_key(&k) {
                    env.insert(k, v);
                }
            }
        }
        let saved_env = std::mem::replace(&mut ctx.env, env);
        let mut sub: Map<String, Value> = Map::new();
        let mut result = Ok(());
        for p in &abs {
            let text = match ctx.read_file(Path::new(p)) {
                Ok(t) => t,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            if let Err(e) = load_file(ctx, p, &text, &sub_dir, &mut sub) {
                result = Err(e);
                break;
            }
        }
        ctx.env = saved_env;
        result?;
        canonical::resolve_paths(&mut sub, &sub_dir);
        // merge the included model; a resource defined on both sides must be identical
        for (k, v) in sub {
            match (cfg.get_mut(&k), v) {
                (Some(Value::Object(existing)), Value::Object(items))
                    if matches!(
                        k.as_str(),
                        "services" | "networks" | "volumes" | "secrets" | "configs" | "models"
                    ) =>
                {
                    for (name, item) in items {
                        if let Some(cur) = existing.get(&name) {
                            if *cur != item {
                                return Err(LoadError::invalid(format!(
                                    "imported compose file {first} defines conflicting {} {name}",
                                    k.trim_end_matches('s')
                                )));
                            }
                        }
                        existing.insert(name, item);
                    }
                }
                (None, v) if k != "name" => {
                    cfg.insert(k, v);
                }
                _ => {}
            }
        }
    }
    Ok(())
}
