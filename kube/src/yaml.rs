//! A small YAML writer for JSON values, in the layout kubectl prints.
//!
//! Why not serde_yaml's emitter: rendering was most of an export's time (libyaml's emitter
//! event by event: ~25 µs an object), and an export of 200 services must take under 50 ms.
//! The subset written here is simple on purpose: block mappings and sequences, plain
//! scalars only where YAML 1.1 and 1.2 both read them back as the same string, JSON-style
//! double-quoted strings otherwise (a JSON string is a valid YAML double-quoted scalar), and
//! literal blocks for multi-line text. Tests read every output back with serde_yaml.

use serde_json::Value;

/// The document for `v` (a mapping), ending in a newline.
pub(crate) fn to_string(v: &Value) -> String {
    let mut out = String::with_capacity(1024);
    match v {
        Value::Object(m) if !m.is_empty() => mapping(&mut out, m, 0),
        other => {
            scalar_or_empty(&mut out, other, 0);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// `key: value` lines at `level` spaces.
fn mapping(out: &mut String, m: &serde_json::Map<String, Value>, level: usize) {
    for (k, v) in m {
        indent(out, level);
        string(out, k, level, true);
        out.push(':');
        value_after_key(out, v, level);
    }
}

/// What follows `key:` (or `- ` for nested sequences): a scalar on the same line, or a block
/// on the next lines. Sequences in a mapping sit at the key's indentation, as kubectl writes.
fn value_after_key(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            mapping(out, m, level + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            sequence(out, a, level);
        }
        other => {
            out.push(' ');
            scalar_or_empty(out, other, level + 2);
            out.push('\n');
        }
    }
}

fn sequence(out: &mut String, a: &[Value], level: usize) {
    for v in a {
        indent(out, level);
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                // The first key on the dash's line, the others under it.
                let mut first = true;
                for (k, v) in m {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        indent(out, level + 2);
                    }
                    string(out, k, level + 2, true);
                    out.push(':');
                    value_after_key(out, v, level + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                sequence(out, inner, level + 2);
            }
            other => {
                out.push(' ');
                scalar_or_empty(out, other, level + 2);
                out.push('\n');
            }
        }
    }
}

fn scalar_or_empty(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(out, s, level, false),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// Words YAML 1.1 or 1.2 reads as something other than a string.
fn reserved(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "null"
            | "~"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | ".nan"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | "<<"
            | "="
    )
}

/// Can `s` be written plain and read back as the same string, by YAML 1.1 and 1.2 readers
/// alike? Conservative: no indicator first, no `: ` or ` #`, only characters that mean
/// nothing in block context, and never a number, a timestamp or a reserved word: a digit
/// first only for a number with a unit ("1Gi", "500m").
fn plain(s: &str) -> bool {
    if s.is_empty()
        || s != s.trim()
        || reserved(s)
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
    {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _./-:=+,()$;~^".contains(c))
    {
        return false;
    }
    let b = s.as_bytes();
    let alpha = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_alphabetic());
    match b[0] {
        c if c.is_ascii_alphabetic() || matches!(c, b'_' | b'/' | b'$' | b'(') => true,
        // "-c", "--timeout=1s"; never "-1" or "---"
        b'-' => alpha(1) || (b.get(1) == Some(&b'-') && alpha(2)),
        c if c.is_ascii_digit() => {
            let unit = s.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
            let number = &s[..s.len() - unit.len()];
            number.parse::<f64>().is_ok()
                && !number.ends_with('.')
                && !unit.is_empty()
                && unit.chars().all(|c| c.is_ascii_alphabetic())
                && !unit.starts_with(['e', 'E', 'x', 'X', 'o', 'O', 'b', 'B'])
        }
        _ => false,
    }
}

fn string(out: &mut String, s: &str, level: usize, key: bool) {
    if plain(s) {
        out.push_str(s);
    } else if !key && literal_block(s) {
        // `|` keeps one final newline, `|-` none, `|+` them all.
        let body = s.trim_end_matches('\n');
        let trailing = s.len() - body.len();
        out.push('|');
        match trailing {
            0 => out.push('-'),
            1 => {}
            _ => out.push('+'),
        }
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                indent(out, level);
                out.push_str(line);
            }
        }
        for _ in 1..trailing {
            out.push('\n');
        }
    } else {
        out.push_str(&serde_json::to_string(s).expect("a string serializes"));
    }
}

/// Multi-line text a literal block holds as it is: printable, no tabs or carriage returns,
/// not starting with a space or a blank line (which would need an indentation indicator).
fn literal_block(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.chars().any(|c| c.is_control() && c != '\n')
        && !s.contains('\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::to_string;
    use serde_json::{json, Value};

    fn round_trip(v: Value) -> String {
        let text = to_string(&v);
        let back: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert_eq!(back, v, "\n{text}");
        text
    }

    #[test]
    fn reads_back_as_written() {
        let flat = [
            "one",
            "line\n",
            "two",
            "a\n  b\n\nc",
            "three",
            "x\n\n\n",
            "lead",
            " x\ny",
            "tab",
            "a\tb\nc",
            "num",
            "8080",
            "float",
            "1.5",
            "bool",
            "yes",
            "nul",
            "null",
            "colon",
            "a: b",
            "hash",
            "a #b",
            "empty",
            "",
            "star",
            "*x",
            "dollar",
            "$x",
            "unicode",
            "héllo",
            "date",
            "2024-01-01",
            "octal",
            "0440",
            "hex",
            "0x1f",
            "dash",
            "-",
            "list",
            "- a",
            "exp",
            "1e3",
            "hex2",
            "0x1f",
            "under",
            "1_000",
            "sexa",
            "12:30",
            "ts",
            "2001-12-14",
            "neg",
            "-1",
            "opt",
            "-c",
            "long",
            "--x=1",
            "marker",
            "---",
            "dot",
            ".5",
            "inf",
            ".inf",
            "gi",
            "1Gi",
            "milli",
            "500m",
            "tail",
            "x:",
            "image",
            "bb:local",
            "plus",
            "+1",
            "tilde",
            "~",
            "merge",
            "<<",
            "sel",
            "a=b,c=d",
            "sh",
            "sleep 2",
            "word",
            "True",
            "dotgi",
            "1.5Gi",
        ];
        let data: serde_json::Map<String, Value> = flat
            .chunks(2)
            .map(|kv| (kv[0].to_string(), json!(kv[1])))
            .collect();
        let text = round_trip(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"app.kubernetes.io/part-of": "x"}},
            "data": data,
            "spec": {
                "ports": [{"port": 80, "name": "tcp-80"}, {"port": 53}],
                "args": ["sh", "-c", "echo '{\"a\": 1}' > /x"],
                "nested": [["a"], [], {}],
                "empty": {}, "none": [], "f": false, "n": null, "x": 1.5,
            },
        }));
        assert!(
            text.starts_with("apiVersion: v1\nkind: ConfigMap\n"),
            "{text}"
        );
        assert!(text.contains("  one: |\n    line\n"), "{text}");
        assert!(
            text.contains("  ports:\n  - port: 80\n    name: tcp-80\n  - port: 53\n"),
            "{text}"
        );
        assert!(text.contains("  num: \"8080\"\n"), "{text}");
        assert!(
            text.contains("  gi: 1Gi\n")
                && text.contains("  opt: -c\n")
                && text.contains("  image: bb:local\n"),
            "{text}"
        );
    }
}
