//! YAML text -> a JSON-like tree, keeping `!reset` / `!override` as markers, plus a small
//! position finder so later stages can point at `file:line:col`.
//!
//! serde_yaml resolves anchors and aliases (with its own guard against alias bombs) and
//! `apply_merge` expands `<<` merge keys, as the reference's go-yaml does.

use super::error::LoadError;
use serde_json::{Map, Value};

/// Key of the single-entry object that stands for a `!reset` node.
pub(crate) const RESET: &str = "\u{0}!reset";
/// Key of the single-entry object that stands for a `!override` node.
pub(crate) const OVERRIDE: &str = "\u{0}!override";

/// Parses one YAML document. `Ok(None)` means the document is empty.
pub(crate) fn parse(src: &str, file: &str) -> Result<Option<Value>, LoadError> {
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(src) {
        let v: serde_yaml::Value = match serde::Deserialize::deserialize(de) {
            Ok(v) => v,
            Err(e) => return Err(yaml_error(file, &e)),
        };
        docs.push(v);
    }
    let mut out: Option<Value> = None;
    for mut v in docs {
        if let Err(e) = v.apply_merge() {
            return Err(yaml_error(file, &e));
        }
        let j = convert(v, file, 0)?;
        match (&mut out, j) {
            (_, Value::Null) => {}
            (None, j) => out = Some(j),
            (Some(Value::Object(a)), Value::Object(b)) => {
                for (k, v) in b {
                    a.insert(k, v);
                }
            }
            (Some(_), _) => {
                return Err(LoadError::Schema {
                    file: file.to_string(),
                    line: None,
                    column: None,
                    message: "top-level object must be a mapping".into(),
                })
            }
        }
    }
    Ok(out)
}

fn yaml_error(file: &str, e: &serde_yaml::Error) -> LoadError {
    let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; the position is already in front.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    LoadError::Yaml {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

fn convert(v: serde_yaml::Value, file: &str, depth: usize) -> Result<Value, LoadError> {
    if depth > 512 {
        return Err(LoadError::Schema {
            file: file.to_string(),
            line: None,
            column: None,
            message: "document nested too deeply".into(),
        });
    }
    Ok(match v {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(n.to_string()))
            }
        }
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(seq) => {
            let mut out = Vec::with_capacity(seq.len());
            for x in seq {
                out.push(convert(x, file, depth + 1)?);
            }
            Value::Array(out)
        }
        serde_yaml::Value::Mapping(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let key = match k {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::Null => "null".to_string(),
                    other => {
                        return Err(LoadError::Schema {
                            file: file.to_string(),
                            line: None,
                            column: None,
                            message: format!("non-string key: {}", scalar_repr(&other)),
                        })
                    }
                };
                out.insert(key, convert(x, file, depth + 1)?);
            }
            Value::Object(out)
        }
        serde_yaml::Value::Tagged(t) => {
            let inner = convert(t.value, file, depth + 1)?;
            let tag = t.tag.to_string();
            if tag == "!reset" {
                marker(RESET, inner)
            } else if tag == "!override" {
                marker(OVERRIDE, inner)
            } else {
                inner
            }
        }
    })
}

fn scalar_repr(v: &serde_yaml::Value) -> String {
    serde_yaml::to_string(v)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn marker(key: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), v);
    Value::Object(m)
}

/// If `v` is a `!reset` / `!override` marker, returns (is_reset, inner value).
pub(crate) fn as_marker(v: &Value) -> Option<(bool, &Value)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    if let Some(x) = m.get(RESET) {
        return Some((true, x));
    }
    m.get(OVERRIDE).map(|x| (false, x))
}

/// Removes every marker, keeping `!override` values and dropping `!reset` ones.
pub(crate) fn strip_markers(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some((reset, inner)) = as_marker(&Value::Object(m.clone())) {
                *v = if reset { Value::Null } else { inner.clone() };
                strip_markers(v);
                return;
            }
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let drop = m.get(&k).and_then(as_marker).map(|(r, _)| r).unwrap_or(false);
                if drop {
                    m.shift_remove(&k);
                } else if let Some(x) = m.get_mut(&k) {
                    strip_markers(x);
                }
            }
        }
        Value::Array(a) => {
            a.retain(|x| !matches!(as_marker(x), Some((true, _))));
            for x in a {
                strip_markers(x);
            }
        }
        _ => {}
    }
}

/// Best-effort position (1-based line and column) of the key at `path` in block-style YAML.
/// Sequence indices in the path are skipped. Returns None when the text does not show it.
pub fn locate(src: &str, path: &[String]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = src.lines().collect();
    let mut start = 0usize;
    let mut min_indent: isize = -1;
    let mut found = None;
    for seg in path {
        if seg.starts_with('[') || seg.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start_matches([' ', '-']);
            let indent = (line.len() - trimmed.len()) as isize;
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if indent <= min_indent && i > start {
                break;
            }
            let key = trimmed
                .strip_prefix('"')
                .and_then(|t| t.strip_prefix(seg.as_str()))
                .and_then(|t| t.strip_prefix('"'))
                .or_else(|| {
                    trimmed
                        .strip_prefix('\'')
                        .and_then(|t| t.strip_prefix(seg.as_str()))
                        .and_then(|t| t.strip_prefix('\''))
                })
                .or_else(|| trimmed.strip_prefix(seg.as_str()));
            if let Some(rest) = key {
                if rest.trim_start().starts_with(':') {
                    hit = Some((i, indent));
                    break;
                }
            }
        }
        let (i, indent) = hit?;
        found = Some((i + 1, indent as usize + 1));
        start = i + 1;
        min_indent = indent;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_error_has_position() {
        let e = parse("services:\n  a: [1\n", "f.yaml").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("f.yaml:"), "{s}");
    }

    #[test]
    fn markers() {
        let v = parse("a: !reset []\nb: !override {x: 1}\n", "f").unwrap().unwrap();
        assert!(matches!(as_marker(&v["a"]), Some((true, _))));
        assert!(matches!(as_marker(&v["b"]), Some((false, _))));
    }

    #[test]
    fn locate_nested_key() {
        let src = "services:\n  web:\n    image: x\n    wrongField: 1\n";
        let p: Vec<String> = ["services", "web", "wrongField"].iter().map(|s| s.to_string()).collect();
        assert_eq!(locate(src, &p), Some((4, 5)));
    }

    #[test]
    fn merge_keys() {
        let v = parse("x: &a {q: 1}\ny:\n  <<: *a\n  r: 2\n", "f").unwrap().unwrap();
        assert_eq!(v["y"]["q"], 1);
    }
}

/// [`strip_markers`] on a mapping.
pub(crate) fn strip_markers_map(m: &mut Map<String, Value>) {
    let mut v = Value::Object(std::mem::take(m));
    strip_markers(&mut v);
    if let Value::Object(x) = v {
        *m = x;
    }
}
