//! `.env` and `env_file` parsing with the reference's quoting rules:
//! `export ` prefix, `KEY=value` and `KEY: value`, comments (`#` at line start, or after
//! whitespace in an unquoted value), single quotes (literal, may span lines), double quotes
//! (escapes, may span lines, variables expanded), unquoted values (trimmed, expanded), and a
//! bare `KEY` that inherits the value from the environment.

use super::interp::{substitute, TemplateError};
use indexmap::IndexMap;

/// Parses dotenv `src`. `lookup` resolves variables not defined earlier in the same file.
/// `raw` keeps values verbatim (the `format: raw` of env_file).
pub(crate) fn parse(
    src: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    raw: bool,
) -> Result<IndexMap<String, String>, String> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let src = src.replace("\r\n", "\n");
    let chars: Vec<char> = src.chars().collect();
    let mut out: IndexMap<String, String> = IndexMap::new();
    let mut i = 0;
    let mut line_no = 1;
    while i < chars.len() {
        // skip blank space and newlines
        if chars[i] == '\n' {
            line_no += 1;
            i += 1;
            continue;
        }
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        // key
        let start = i;
        while i < chars.len() && chars[i] != '=' && chars[i] != '\n' && chars[i] != ':' {
            i += 1;
        }
        let mut key: String = chars[start..i].iter().collect();
        key = key.trim().to_string();
        if let Some(k) = key.strip_prefix("export ") {
            key = k.trim().to_string();
        }
        if i >= chars.len() || chars[i] == '\n' {
            // bare KEY: inherited from the environment
            if key.contains(char::is_whitespace) {
                return Err(format!(
                    "line {line_no}: unexpected character in variable name {key:?}"
                ));
            }
            if let Some(v) = lookup(&key) {
                out.insert(key, v);
            }
            continue;
        }
        if key.is_empty()
            || key
                .chars()
                .any(|c| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')))
        {
            return Err(format!(
                "line {line_no}: unexpected character in variable name {key:?}"
            ));
        }
        i += 1; // '=' or ':'
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        let value;
        if raw {
            let s = i;
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            value = chars[s..i]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_string();
        } else if i < chars.len() && (chars[i] == '\'' || chars[i] == '"') {
            let q = chars[i];
            i += 1;
            let s = i;
            let mut buf = String::new();
            let mut closed = false;
            while i < chars.len() {
                let c = chars[i];
                if c == '\\' && q == '"' && i + 1 < chars.len() {
                    let n = chars[i + 1];
                    match n {
                        'n' => buf.push('\n'),
                        'r' => buf.push('\r'),
                        't' => buf.push('\t'),
                        '"' => buf.push('"'),
                        '\\' => buf.push('\\'),
                        '$' => buf.push_str("$$"),
                        other => {
                            buf.push('\\');
                            buf.push(other);
                        }
                    }
                    i += 2;
                    continue;
                }
                // `\'` inside single quotes is a literal quote
                if c == '\\' && q == '\'' && chars.get(i + 1) == Some(&'\'') {
                    buf.push('\'');
                    i += 2;
                    continue;
                }
                if c == q {
                    closed = true;
                    break;
                }
                if c == '\n' {
                    line_no += 1;
                }
                buf.push(c);
                i += 1;
            }
            if !closed {
                let _ = s;
                return Err(format!("line {line_no}: unterminated quoted value"));
            }
            i += 1; // closing quote
                    // rest of the line must be blank or a comment
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            value = if q == '"' {
                expand(&buf, &out, lookup).map_err(|e| format!("line {line_no}: {e}"))?
            } else {
                buf
            };
        } else {
            let s = i;
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            let mut v: String = chars[s..i].iter().collect();
            // an inline comment needs whitespace before '#'
            if let Some(p) = find_inline_comment(&v) {
                v.truncate(p);
            }
            let v = v.trim().to_string();
            value = expand(&v, &out, lookup).map_err(|e| format!("line {line_no}: {e}"))?;
        }
        out.insert(key, value);
    }
    Ok(out)
}

fn find_inline_comment(v: &str) -> Option<usize> {
    let b = v.as_bytes();
    (1..b.len()).find(|&i| b[i] == b'#' && (b[i - 1] == b' ' || b[i - 1] == b'\t'))
}

fn expand(
    v: &str,
    defined: &IndexMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    substitute(v, &|k: &str| lookup(k).or_else(|| defined.get(k).cloned())).map_err(|e| match e {
        TemplateError::Invalid(t) => format!("invalid template: {t:?}"),
        TemplateError::Required { var, message } => {
            format!("required variable {var} is missing a value: {message}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn quoting() {
        let src = "# c\nexport A=1\nB = two words # c\nC='lit $A'\nD=\"x\\ny $A\"\nE=1234#5\nF=\"1234#5\"\nG: yaml\nH=\nI=\"multi\nline\"\n";
        let m = parse(src, &none, false).unwrap();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "lit $A");
        assert_eq!(m["D"], "x\ny 1");
        assert_eq!(m["E"], "1234#5");
        assert_eq!(m["F"], "1234#5");
        assert_eq!(m["G"], "yaml");
        assert_eq!(m["H"], "");
        assert_eq!(m["I"], "multi\nline");
        let m = parse("K='Let\\'s go!'\n", &none, false).unwrap();
        assert_eq!(m["K"], "Let's go!");
    }

    #[test]
    fn inherited_and_raw() {
        let env = |k: &str| (k == "X").then(|| "from-env".to_string());
        let m = parse("X\nY\n", &env, false).unwrap();
        assert_eq!(m.get("X").map(String::as_str), Some("from-env"));
        assert!(!m.contains_key("Y"));
        let m = parse("T='{\"k\": 1}'\n", &none, true).unwrap();
        assert_eq!(m["T"], "'{\"k\": 1}'");
    }

    #[test]
    fn defaults_refer_to_earlier_lines() {
        let m = parse("W=EnvFile\nIMAGE=default_env:${W}\n", &none, false).unwrap();
        assert_eq!(m["IMAGE"], "default_env:EnvFile");
    }
}
