//! `extends:`: a service built on another one's definition, from this file or another,
//! resolved (with cycles refused) before the files are merged.

use super::*;

pub(super) fn apply_extends(
    ctx: &mut Ctx,
    file: &str,
    file_dir: &Path,
    cfg: &mut Map<String, Value>,
) -> Result<(), LoadError> {
    let names: Vec<String> = match cfg.get("services") {
        Some(Value::Object(s)) => s.keys().cloned().collect(),
        _ => return Ok(()),
    };
    let mut cache: IndexMap<String, Map<String, Value>> = IndexMap::new();
    for name in names {
        let has_extends = cfg
            .get("services")
            .and_then(|s| s.get(&name))
            .map(|s| s.get("extends").is_some())
            .unwrap_or(false);
        if !has_extends {
            continue;
        }
        let mut chain = vec![(file.to_string(), name.clone())];
        let resolved = resolve_extends(ctx, file, file_dir, cfg, &name, &mut chain, &mut cache)?;
        if let Some(Value::Object(s)) = cfg.get_mut("services") {
            s.insert(name, Value::Object(resolved));
        }
    }
    Ok(())
}

/// Returns service `name` of `cfg` (file `file`) with its `extends` chain applied.
pub(super) fn resolve_extends(
    ctx: &mut Ctx,
    file: &str,
    file_dir: &Path,
    cfg: &Map<String, Value>,
    name: &str,
    chain: &mut Vec<(String, String)>,
    cache: &mut IndexMap<String, Map<String, Value>>,
) -> Result<Map<String, Value>, LoadError> {
    let key = format!("{file}\u{0}{name}");
    if let Some(s) = cache.get(&key) {
        return Ok(s.clone());
    }
    let svc = match cfg.get("services").and_then(|s| s.get(name)) {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Null) => Map::new(),
        Some(_) => {
            return Err(LoadError::invalid(format!(
                "{file}: services.{name} must be a mapping"
            )))
        }
        None => {
            return Err(LoadError::invalid(format!(
                "cannot extend service {name:?} in {file}: service not found"
            )))
        }
    };
    let Some(ext) = svc.get("extends").cloned() else {
        return Ok(svc);
    };
    let (base_name, base_file) = match &ext {
        Value::String(s) => (s.clone(), None),
        Value::Object(m) => (
            m.get("service")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string(),
            m.get("file").and_then(|x| x.as_str()).map(str::to_string),
        ),
        _ => {
            return Err(LoadError::invalid(format!(
                "{file}: services.{name}.extends must be a string or object"
            )))
        }
    };
    if base_name.is_empty() {
        return Err(LoadError::invalid(format!(
            "{file}: services.{name}.extends.service is required"
        )));
    }
    let mut base: Map<String, Value>;
    let base_dir: PathBuf;
    match base_file {
        None => {
            let link = (file.to_string(), base_name.clone());
            if chain.contains(&link) {
                return Err(LoadError::invalid(format!(
                    "circular reference with extends: {}",
                    chain
                        .iter()
                        .map(|(f, s)| format!("{s} ({f})"))
                        .collect::<Vec<_>>()
                        .join(" -> ")
                )));
            }
            chain.push(link);
            base = resolve_extends(ctx, file, file_dir, cfg, &base_name, chain, cache)?;
            chain.pop();
            base_dir = file_dir.to_path_buf();
        }
        Some(f) => {
            let path = canonical::abs_path(file_dir, &f);
            let link = (path.clone(), base_name.clone());
            if chain.contains(&link) {
                return Err(LoadError::invalid(format!(
                    "circular reference with extends: {}",
                    chain
                        .iter()
                        .map(|(f, s)| format!("{s} ({f})"))
                        .collect::<Vec<_>>()
                        .join(" -> ")
                )));
            }
            let text = ctx.read_file(Path::new(&path))?;
            let other = read_model(ctx, &path, &text)?.unwrap_or_default();
            let other_dir = Path::new(&path)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| file_dir.to_path_buf());
            chain.push(link);
            let mut other_cache = IndexMap::new();
            base = resolve_extends(
                ctx,
                &path,
                &other_dir,
                &other,
                &base_name,
                chain,
                &mut other_cache,
            )?;
            chain.pop();
            base_dir = other_dir;
        }
    }
    // relative paths of the base are relative to the base's file
    if base_dir != file_dir {
        let mut tmp = Map::new();
        let mut services = Map::new();
        services.insert("x".into(), Value::Object(base));
        tmp.insert("services".into(), Value::Object(services));
        canonical::canonical(&mut tmp).map_err(LoadError::invalid)?;
        canonical::resolve_paths(&mut tmp, &base_dir);
        base = match tmp
            .get_mut("services")
            .and_then(|s| s.as_object_mut())
            .and_then(|s| s.shift_remove("x"))
        {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
    }
    base.shift_remove("extends");
    let mut over = svc.clone();
    over.shift_remove("extends");
    let mut path = vec!["services".to_string(), name.to_string()];
    let merged = merge::merge(Value::Object(base), Value::Object(over), &mut path)
        .map_err(|e| LoadError::invalid(format!("{file}: {e}")))?;
    let mut merged = match merged {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    yaml::strip_markers_map(&mut merged);
    cache.insert(key, merged.clone());
    Ok(merged)
}
