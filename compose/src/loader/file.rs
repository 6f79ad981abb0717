//! One stack file's way into the project: parse, interpolate, validate, resolve its
//! `include` and `extends`, merge it over the files before it, and canonicalize.

use super::*;

pub(super) fn schema_err(ctx: &Ctx, file: &str, e: schema::SchemaError) -> LoadError {
    let (line, column) = ctx.position(file, &e.path);
    LoadError::Schema {
        file: file.to_string(),
        line,
        column,
        message: e.message,
    }
}

pub(super) fn interp_err(ctx: &Ctx, file: &str, e: interp::InterpError) -> LoadError {
    let (line, column) = ctx.position(file, &e.path);
    LoadError::Interpolation {
        file: file.to_string(),
        line,
        column,
        message: e.message,
    }
}

/// Parses, interpolates and validates one file's model (no include/extends yet).
pub(super) fn read_model(
    ctx: &mut Ctx,
    file: &str,
    text: &str,
) -> Result<Option<Map<String, Value>>, LoadError> {
    ctx.sources
        .entry(file.to_string())
        .or_insert_with(|| text.to_string());
    let v = yaml::parse(text, file)?;
    prepare_model(ctx, file, v)
}

/// Interpolates a parsed document and fills the reference's empty-section defaults.
pub(super) fn prepare_model(
    ctx: &mut Ctx,
    file: &str,
    v: Option<Value>,
) -> Result<Option<Map<String, Value>>, LoadError> {
    let v = match v {
        None => return Ok(None),
        Some(v) => v,
    };
    let mut m = match v {
        Value::Object(m) => m,
        _ => {
            return Err(LoadError::Schema {
                file: file.into(),
                line: None,
                column: None,
                message: "top-level object must be a mapping".into(),
            })
        }
    };
    if ctx.opts.interpolate {
        let mut v = Value::Object(std::mem::take(&mut m));
        let env = ctx.env.clone();
        interp::interpolate_tree(&mut v, &mut vec![], &|k: &str| env.get(k).cloned())
            .map_err(|e| interp_err(ctx, file, e))?;
        if let Value::Object(x) = v {
            m = x;
        }
    }
    // empty values that the reference treats as absent
    for k in ["services", "networks", "volumes", "secrets", "configs"] {
        if matches!(m.get(k), Some(Value::Null)) {
            m.insert(k.into(), Value::Object(Map::new()));
        }
    }
    Ok(Some(m))
}

pub(super) fn load_file(
    ctx: &mut Ctx,
    file: &str,
    text: &str,
    base: &Path,
    dict: &mut Map<String, Value>,
) -> Result<(), LoadError> {
    ctx.sources
        .entry(file.to_string())
        .or_insert_with(|| text.to_string());
    let v = yaml::parse(text, file)?;
    load_parsed(ctx, file, v, base, dict)
}

pub(super) fn load_parsed(
    ctx: &mut Ctx,
    file: &str,
    v: Option<Value>,
    base: &Path,
    dict: &mut Map<String, Value>,
) -> Result<(), LoadError> {
    let Some(mut cfg) = prepare_model(ctx, file, v)? else {
        return Ok(());
    };
    schema::validate(&cfg).map_err(|e| schema_err(ctx, file, e))?;
    if ctx.include_stack.iter().any(|f| f == file) {
        let mut chain = ctx.include_stack.clone();
        chain.push(file.to_string());
        return Err(LoadError::invalid(format!(
            "include cycle detected:\n{}\n include {}",
            chain[0],
            chain[1..].join("\n include ")
        )));
    }
    ctx.include_stack.push(file.to_string());
    let r = apply_include(ctx, file, base, &mut cfg);
    ctx.include_stack.pop();
    r?;
    let file_dir = if file == "-" {
        base.to_path_buf()
    } else {
        Path::new(file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| base.to_path_buf())
    };
    apply_extends(ctx, file, &file_dir, &mut cfg)?;
    let merged = merge::merge(
        Value::Object(std::mem::take(dict)),
        Value::Object(cfg),
        &mut vec![],
    )
    .map_err(|e| LoadError::invalid(format!("{file}: {e}")))?;
    let mut merged = merged;
    yaml::strip_markers(&mut merged);
    merge::enforce_unicity(&mut merged, &mut vec![]);
    let Value::Object(mut m) = merged else {
        return Err(LoadError::invalid(format!(
            "{file}: top-level object must be a mapping"
        )));
    };
    schema::validate(&m).map_err(|e| schema_err(ctx, file, e))?;
    m.shift_remove("version");
    canonical::canonical(&mut m).map_err(|e| {
        // "services.NAME: message": point at the service in this file
        let service = e
            .strip_prefix("services.")
            .and_then(|r| r.split_once(": "))
            .map(|(n, _)| n.to_string());
        let (line, column) = match &service {
            Some(n) => ctx.position(file, &["services".to_string(), n.clone()]),
            None => (None, None),
        };
        LoadError::Schema {
            file: file.to_string(),
            line,
            column,
            message: e,
        }
    })?;
    name_externals(&mut m);
    omit_empty(&mut m);
    let mut v = Value::Object(m);
    merge::enforce_unicity(&mut v, &mut vec![]);
    if let Value::Object(m) = v {
        *dict = m;
    }
    Ok(())
}

/// An external network or volume without `name:` is named by its key (compose-go sets it so
/// and `config` prints it). A `name:` that interpolates to `""` is a name given, dropped
/// by [`omit_empty`] next: the reference prints none then, so this runs first.
fn name_externals(m: &mut Map<String, Value>) {
    for k in ["networks", "volumes"] {
        if let Some(Value::Object(items)) = m.get_mut(k) {
            for (key, item) in items.iter_mut() {
                if let Value::Object(x) = item {
                    if x.get("external") == Some(&Value::Bool(true)) && !x.contains_key("name") {
                        x.insert("name".into(), Value::String(key.clone()));
                    }
                }
            }
        }
    }
}

/// Drops `""` values inside services and resources, as the reference does for absent keys.
pub(super) fn omit_empty(m: &mut Map<String, Value>) {
    for k in ["services", "networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = m.get_mut(k) {
            for (_, item) in items.iter_mut() {
                if let Value::Object(x) = item {
                    omit_empty_rec(x, 0);
                }
            }
        }
    }
}

pub(super) fn omit_empty_rec(m: &mut Map<String, Value>, depth: usize) {
    m.retain(|_, v| !matches!(v, Value::String(s) if s.is_empty()));
    if depth > 3 {
        return;
    }
    for (k, v) in m.iter_mut() {
        // user-defined key/value maps keep their empty values
        if matches!(
            k.as_str(),
            "environment"
                | "labels"
                | "args"
                | "annotations"
                | "driver_opts"
                | "options"
                | "sysctls"
                | "additional_contexts"
                | "extra_hosts"
        ) || k.starts_with("x-")
        {
            continue;
        }
        match v {
            Value::Object(x) => omit_empty_rec(x, depth + 1),
            Value::Array(a) => {
                for x in a.iter_mut() {
                    if let Value::Object(x) = x {
                        omit_empty_rec(x, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}
