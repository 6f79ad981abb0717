//! YAML text -> a JSON-like tree, keeping `!reset` / `!override` as markers, plus a small
//! position finder so later stages can point at `file:line:col`.
//!
//! serde_yaml resolves anchors and aliases (with its own guard against alias bombs); `<<`
//! merge keys are expanded here, as the reference's go-yaml does.

use super::error::LoadError;
use serde_json::{Map, Value};

/// Key of the single-entry object that stands for a `!reset` node.
pub(crate) const RESET: &str = "\u{0}!reset";
/// Key of the single-entry object that stands for a `!override` node.
pub(crate) const OVERRIDE: &str = "\u{0}!override";

/// Parses one YAML document. `Ok(None)` means the document is empty.
pub(crate) fn parse(src: &str, file: &str) -> Result<Option<Value>, LoadError> {
    let mut out: Option<Value> = None;
    for de in serde_yaml::Deserializer::from_str(src) {
        let j = match serde::de::DeserializeSeed::deserialize(NodeSeed, de) {
            Ok(v) => v,
            Err(e) => return Err(yaml_error(file, &e)),
        };
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
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let mut message = e.to_string();
    // serde_yaml inserts " at line L column C" after the first clause; the position is
    // already in front, so drop that one and keep any context that follows
    if let Some(i) = message.find(" at line ") {
        let rest = &message[i + 9..];
        let skip = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ' ' || c.is_ascii_alphabetic()))
            .unwrap_or(rest.len());
        let tail = rest[skip..].to_string();
        message.truncate(i);
        message.push_str(&tail);
    }
    LoadError::Yaml {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// Builds the tree straight from the parser's events (one pass, no intermediate
/// serde_yaml::Value), applying `<<` merge keys and turning `!reset` / `!override` tags into
/// markers. Aliases are expanded by serde_yaml, which also bounds their expansion.
struct NodeSeed;

impl<'de> serde::de::DeserializeSeed<'de> for NodeSeed {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

fn number_from_f64(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(f.to_string()))
}

impl<'de> serde::de::Visitor<'de> for NodeVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML node")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(number_from_f64(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element_seed(NodeSeed)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        use serde::de::Error;
        let mut out = Map::new();
        let mut merges: Vec<Value> = Vec::new();
        while let Some(k) = map.next_key_seed(NodeSeed)? {
            let key = match k {
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Null => "null".to_string(),
                _ => return Err(A::Error::custom("non-string key")),
            };
            let v = map.next_value_seed(NodeSeed)?;
            if key == "<<" {
                merges.push(v);
                continue;
            }
            if out.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "mapping key {key:?} already defined"
                )));
            }
            out.insert(key, v);
        }
        // `<<: *a` or `<<: [*a, *b]`: keys of the mapping itself win, then earlier sources
        for m in merges {
            let sources = match m {
                Value::Array(a) => a,
                other => vec![other],
            };
            for src in sources {
                match src {
                    Value::Object(o) => {
                        for (k, v) in o {
                            if !out.contains_key(&k) {
                                out.insert(k, v);
                            }
                        }
                    }
                    Value::Null => {}
                    _ => {
                        return Err(A::Error::custom(
                            "expected a mapping or list of mappings for merging",
                        ))
                    }
                }
            }
        }
        Ok(Value::Object(out))
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        use serde::de::VariantAccess;
        let (tag, variant): (String, A::Variant) = data.variant()?;
        let inner = variant.newtype_variant_seed(NodeSeed)?;
        Ok(match tag.trim_start_matches('!') {
            "reset" => marker(RESET, inner),
            "override" => marker(OVERRIDE, inner),
            _ => inner,
        })
    }
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
            if m.len() == 1 && (m.contains_key(RESET) || m.contains_key(OVERRIDE)) {
                let reset = m.contains_key(RESET);
                let inner = m.shift_remove(OVERRIDE).unwrap_or(Value::Null);
                *v = if reset { Value::Null } else { inner };
                strip_markers(v);
                return;
            }
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let drop = m
                    .get(&k)
                    .and_then(as_marker)
                    .map(|(r, _)| r)
                    .unwrap_or(false);
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

/// Best-effort position (1-based line and column) of the key at `path` in the YAML text:
/// block-style keys on their own lines and flow-style keys (`{a: 1}`) on the current line.
/// Sequence indices in the path are skipped. When a key cannot be found, the deepest
/// position found so far is returned.
pub fn locate(src: &str, path: &[String]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = src.lines().collect();
    let mut start = 0usize;
    let mut min_indent: isize = -1;
    let mut found: Option<(usize, usize)> = None;
    for seg in path {
        if seg.starts_with('[') || (!seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit())) {
            continue;
        }
        // flow style on the line of the previous key
        if let Some((l, c)) = found {
            if let Some(line) = lines.get(l - 1) {
                let from = c.saturating_sub(1).min(line.len());
                if let Some(off) = find_flow_key(&line[from..], seg) {
                    found = Some((l, from + off + 1));
                    continue;
                }
            }
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
            if key_at_start(trimmed, seg) {
                hit = Some((i, indent));
                break;
            }
        }
        match hit {
            Some((i, indent)) => {
                found = Some((i + 1, indent as usize + 1));
                start = i + 1;
                min_indent = indent;
            }
            None => return found,
        }
    }
    found
}

fn key_at_start(trimmed: &str, seg: &str) -> bool {
    let rest = trimmed
        .strip_prefix('"')
        .and_then(|t| t.strip_prefix(seg))
        .and_then(|t| t.strip_prefix('"'))
        .or_else(|| {
            trimmed
                .strip_prefix('\'')
                .and_then(|t| t.strip_prefix(seg))
                .and_then(|t| t.strip_prefix('\''))
        })
        .or_else(|| trimmed.strip_prefix(seg));
    rest.map(|r| r.trim_start().starts_with(':'))
        .unwrap_or(false)
}

/// Byte offset of `seg:` as a key inside a flow mapping on one line.
fn find_flow_key(line: &str, seg: &str) -> Option<usize> {
    if seg.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(off) = line[from..].find(seg) {
        let at = from + off;
        let before = line[..at].trim_end().chars().last();
        let after = line[at + seg.len()..].trim_start();
        if matches!(before, Some('{') | Some(',')) && after.starts_with(':') {
            return Some(at);
        }
        from = at + seg.len().max(1);
        if from >= line.len() {
            break;
        }
    }
    None
}

/// [`strip_markers`] on a mapping.
pub(crate) fn strip_markers_map(m: &mut Map<String, Value>) {
    let mut v = Value::Object(std::mem::take(m));
    strip_markers(&mut v);
    if let Value::Object(x) = v {
        *m = x;
    }
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
        let v = parse("a: !reset []\nb: !override {x: 1}\n", "f")
            .unwrap()
            .unwrap();
        assert!(matches!(as_marker(&v["a"]), Some((true, _))));
        assert!(matches!(as_marker(&v["b"]), Some((false, _))));
    }

    #[test]
    fn locate_nested_key() {
        let src = "services:\n  web:\n    image: x\n    wrongField: 1\n";
        let p: Vec<String> = ["services", "web", "wrongField"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(locate(src, &p), Some((4, 5)));
    }

    #[test]
    fn duplicate_keys_rejected() {
        assert!(parse(
            "a: 1
a: 2
",
            "f"
        )
        .is_err());
    }

    #[test]
    fn merge_key_list_and_override() {
        let v = parse(
            "x: &a {q: 1, r: 1}
z: &b {s: 1, q: 2}
y:
  <<: [*a, *b]
  r: 2
",
            "f",
        )
        .unwrap()
        .unwrap();
        assert_eq!(v["y"]["q"], 1);
        assert_eq!(v["y"]["r"], 2);
        assert_eq!(v["y"]["s"], 1);
    }

    #[test]
    fn locate_flow_key() {
        let src = "services:\n  a:\n    depends_on:\n      b: {condition: x}\n";
        let p: Vec<String> = ["services", "a", "depends_on", "b", "condition"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(locate(src, &p), Some((4, 11)));
    }

    #[test]
    fn merge_keys() {
        let v = parse("x: &a {q: 1}\ny:\n  <<: *a\n  r: 2\n", "f")
            .unwrap()
            .unwrap();
        assert_eq!(v["y"]["q"], 1);
    }
}
