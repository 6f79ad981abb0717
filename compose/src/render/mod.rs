//! `config`'s output, byte for byte as Docker Compose writes it.
//!
//! The model ([`Project::to_json`](crate::Project::to_json)) already holds Compose's values;
//! what differs between a faithful print and ours is form. Compose marshals its Go types: struct
//! fields in declaration order, map keys sorted (YAML by go-yaml's natural order, JSON
//! bytewise), `omitempty` fields left out of the YAML when empty (its JSON keeps them: the json
//! tags differ), and go-yaml's own choice of quoting. [`shapes`] holds the Go types' fields and
//! tags; [`emit`] writes YAML as go-yaml v3 does.

mod emit;
mod shapes;

use serde_json::{Map, Value};
use std::cmp::Ordering;

/// A Go type's shape, as far as its printing depends on it.
pub enum Shape {
    /// A scalar, or a type that marshals itself: printed as the model holds it (its maps sorted).
    Leaf,
    Seq(&'static Shape),
    /// A Go map: keys sorted.
    Map(&'static Shape),
    /// A Go struct: its fields in declaration order.
    Struct(&'static [Field]),
}

/// One struct field: its yaml name, when `omitempty` leaves it out, and its shape. The
/// inline field (`x-` extensions) has no name.
pub struct Field {
    name: &'static str,
    omit: Omit,
    shape: &'static Shape,
}

impl Field {
    const fn new(name: &'static str, omit: Omit, shape: &'static Shape) -> Field {
        Field { name, omit, shape }
    }

    const fn inline() -> Field {
        Field {
            name: "",
            omit: Omit::Never,
            shape: &shapes::LEAF,
        }
    }
}

/// When go-yaml's `omitempty` drops a field: by the Go kind of the field.
#[derive(Clone, Copy)]
pub enum Omit {
    /// No `omitempty`.
    Never,
    /// A pointer, or a type whose IsZero is "nil" (ShellCommand: `[]` is kept).
    IfNil,
    /// A slice or map: nil or empty.
    IfEmpty,
    /// A scalar: its zero value.
    IfZero,
    /// A struct value: every field zero.
    IfZeroStruct,
}

/// The model as `config` prints YAML.
pub fn yaml(model: &Value) -> String {
    let ordered = walk(model, &shapes::PROJECT, Target::Yaml);
    emit::document(&ordered, Sequences::Indented)
}

/// Where a block sequence under a mapping key starts.
#[derive(Clone, Copy)]
pub enum Sequences {
    /// Two columns in, as go-yaml v3 writes (Compose).
    Indented,
    /// At the key's column, as go-yaml v2 writes (kubectl).
    AtKey,
}

/// Any value (a mapping at the top) as YAML in go-yaml's block style and quoting, its keys
/// in the order they have.
pub fn to_yaml(value: &Value, sequences: Sequences) -> String {
    emit::document(value, sequences)
}

/// The model as `config --format json` prints it: the project's keys sorted (Compose builds it
/// as a map), everything below in the Go types' order without the extensions of services and
/// resources, `<`, `>` and `&` escaped as Go's encoder escapes them, and no newline at the end.
pub fn json(model: &Value) -> String {
    let mut ordered = walk(model, &shapes::PROJECT, Target::Json);
    if let Value::Object(m) = &mut ordered {
        m.sort_keys();
    }
    let text = serde_json::to_string_pretty(&ordered).unwrap_or_default();
    go_html_escape(&text)
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Yaml,
    Json,
}

/// `value` rebuilt in the order its shape gives (and, for YAML, without what omitempty drops).
fn walk(value: &Value, shape: &Shape, target: Target) -> Value {
    match (shape, value) {
        (Shape::Struct(fields), Value::Object(m)) => {
            let mut out = Map::new();
            for f in fields.iter() {
                if f.name.is_empty() {
                    // The inline extensions: every `x-` key, as a Go map, at this place. Their
                    // json tag is "-": JSON shows only the project's (its MarshalJSON adds them).
                    if target == Target::Json && !std::ptr::eq(shape, &shapes::PROJECT) {
                        continue;
                    }
                    let mut ext: Vec<(&String, &Value)> =
                        m.iter().filter(|(k, _)| k.starts_with("x-")).collect();
                    ext.sort_by(|a, b| key_order(a.0, b.0, target));
                    for (k, v) in ext {
                        out.insert(k.clone(), walk(v, &shapes::LEAF, target));
                    }
                    continue;
                }
                let Some(v) = m.get(f.name) else { continue };
                let v = walk(v, f.shape, target);
                if target == Target::Yaml && omitted(f.omit, &v) {
                    continue;
                }
                out.insert(f.name.to_string(), v);
            }
            // What the types do not know (nothing, for a model the loader made) keeps its place
            // at the end rather than vanishing.
            for (k, v) in m {
                if !out.contains_key(k)
                    && !k.starts_with("x-")
                    && !fields.iter().any(|f| f.name == k)
                {
                    out.insert(k.clone(), walk(v, &shapes::LEAF, target));
                }
            }
            Value::Object(out)
        }
        (Shape::Map(inner), Value::Object(m)) => sorted(m, inner, target),
        (Shape::Seq(inner), Value::Array(a)) => {
            Value::Array(a.iter().map(|v| walk(v, inner, target)).collect())
        }
        (_, Value::Object(m)) => sorted(m, &shapes::LEAF, target),
        (_, Value::Array(a)) => {
            Value::Array(a.iter().map(|v| walk(v, &shapes::LEAF, target)).collect())
        }
        (_, v) => v.clone(),
    }
}

fn sorted(m: &Map<String, Value>, inner: &Shape, target: Target) -> Value {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| key_order(a.0, b.0, target));
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.clone(), walk(v, inner, target)))
            .collect(),
    )
}

fn key_order(a: &str, b: &str, target: Target) -> Ordering {
    match target {
        Target::Json => a.cmp(b),
        Target::Yaml => go_yaml_key_order(a, b),
    }
}

fn omitted(omit: Omit, v: &Value) -> bool {
    match omit {
        Omit::Never => false,
        Omit::IfNil => v.is_null(),
        Omit::IfEmpty => match v {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.is_empty(),
            _ => false,
        },
        Omit::IfZero => zero_scalar(v),
        Omit::IfZeroStruct => zero_deep(v),
    }
}

fn zero_scalar(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// go-yaml's isZero of a struct: every field zero (slices and maps by length).
fn zero_deep(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(zero_deep),
        v => zero_scalar(v),
    }
}

/// go-yaml's order of map keys: letters before other characters unless a run of digits is
/// being compared, and runs of digits by their numeric value ("a9" < "a10").
fn go_yaml_key_order(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut digits = false;
    let n = ar.len().min(br.len());
    for i in 0..n {
        if ar[i] == br[i] {
            digits = ar[i].is_numeric();
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            let a_first = if digits { al } else { bl };
            return if a_first {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            // A zero inside a number (not leading it) counts as a digit of it.
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// Go's encoding/json escapes these even inside strings, for HTML's sake; they can only occur
/// inside strings of the JSON text.
fn go_html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
