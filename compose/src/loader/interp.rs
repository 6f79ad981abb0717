//! `${VAR}` interpolation as the Compose Specification defines it: `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`,
//! `${VAR+alt}`, nesting inside the default/alternative, and `$$` for a literal `$`.

use serde_json::Value;

/// Failure of a single template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TemplateError {
    /// Bad syntax (unclosed brace, `$` followed by nothing usable, ...).
    Invalid(String),
    /// `${VAR:?msg}` / `${VAR?msg}` with the variable missing.
    Required { var: String, message: String },
}

/// Substitutes variables in `s` using `lookup`.
pub(crate) fn substitute(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    substitute_at(s, lookup, 0)
}

/// Nesting depth allowed in defaults (`${A:-${B:-...}}`), so that hostile input cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 64;

fn substitute_at(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Result<String, TemplateError> {
    if depth > MAX_DEPTH {
        return Err(TemplateError::Invalid(s.to_string()));
    }
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        match next {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // find the matching close brace, counting nested ${ ... }
                let mut open = 1;
                let mut j = i + 2;
                while j < chars.len() {
                    match chars[j] {
                        '{' => open += 1,
                        '}' => {
                            open -= 1;
                            if open == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(TemplateError::Invalid(s.to_string()));
                }
                let inner: String = chars[i + 2..j].iter().collect();
                out.push_str(&braced(&inner, s, lookup, depth)?);
                i = j + 1;
            }
            Some(n) if n == '_' || n.is_ascii_alphabetic() => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j] == '_' || chars[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(&lookup(&name).unwrap_or_default());
                i = j;
            }
            // `$` not followed by a name, `{` or `$` stays literal (e.g. `$(cmd)` in a script)
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

fn braced(
    inner: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Result<String, TemplateError> {
    let name_end = inner
        .char_indices()
        .find(|(_, c)| !(*c == '_' || c.is_ascii_alphanumeric()))
        .map(|(i, _)| i)
        .unwrap_or(inner.len());
    let name = &inner[..name_end];
    let rest = &inner[name_end..];
    let valid_name = name
        .chars()
        .next()
        .map(|c| c == '_' || c.is_ascii_alphabetic())
        .unwrap_or(false);
    if !valid_name {
        return Err(TemplateError::Invalid(whole.to_string()));
    }
    let value = lookup(name);
    if rest.is_empty() {
        return Ok(value.unwrap_or_default());
    }
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else {
        return Err(TemplateError::Invalid(whole.to_string()));
    };
    let set = value.is_some();
    let non_empty = value.as_deref().map(|v| !v.is_empty()).unwrap_or(false);
    match op {
        ":-" => {
            if non_empty {
                Ok(value.unwrap_or_default())
            } else {
                substitute_at(arg, lookup, depth + 1)
            }
        }
        "-" => {
            if set {
                Ok(value.unwrap_or_default())
            } else {
                substitute_at(arg, lookup, depth + 1)
            }
        }
        ":+" => {
            if non_empty {
                substitute_at(arg, lookup, depth + 1)
            } else {
                Ok(String::new())
            }
        }
        "+" => {
            if set {
                substitute_at(arg, lookup, depth + 1)
            } else {
                Ok(String::new())
            }
        }
        _ => {
            let ok = if op == ":?" { non_empty } else { set };
            if ok {
                Ok(value.unwrap_or_default())
            } else {
                let message = substitute_at(arg, lookup, depth + 1)?;
                Err(TemplateError::Required {
                    var: name.to_string(),
                    message,
                })
            }
        }
    }
}

/// How a value at a given path is converted after substitution (strings only).
#[derive(Clone, Copy)]
enum Cast {
    Int,
    Float,
    Bool,
}

const CASTS: &[(&str, Cast)] = &[
    ("services.*.configs.[].mode", Cast::Int),
    ("services.*.secrets.[].mode", Cast::Int),
    ("services.*.cpu_count", Cast::Int),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int),
    ("services.*.cpu_quota", Cast::Int),
    ("services.*.cpu_rt_period", Cast::Int),
    ("services.*.cpu_rt_runtime", Cast::Int),
    ("services.*.cpus", Cast::Float),
    ("services.*.cpu_shares", Cast::Int),
    ("services.*.init", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    (
        "services.*.deploy.update_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    (
        "services.*.deploy.rollback_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    (
        "services.*.deploy.placement.max_replicas_per_node",
        Cast::Int,
    ),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.attach", Cast::Bool),
    ("services.*.use_api_socket", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int),
    ("services.*.pids_limit", Cast::Int),
    ("services.*.ports.[].target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.volumes.[].read_only", Cast::Bool),
    ("services.*.volumes.[].volume.nocopy", Cast::Bool),
    ("services.*.depends_on.*.required", Cast::Bool),
    ("services.*.depends_on.*.restart", Cast::Bool),
    ("services.*.build.privileged", Cast::Bool),
    ("services.*.build.no_cache", Cast::Bool),
    ("services.*.build.pull", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("configs.*.external", Cast::Bool),
];

pub(crate) fn path_matches(path: &[String], pattern: &str) -> bool {
    // byte-wise and allocation-free: this runs for many nodes of every file
    let pat = pattern.as_bytes();
    let mut pos = 0;
    for seg in path {
        if pos > pat.len() {
            return false;
        }
        let end = pat[pos..]
            .iter()
            .position(|&b| b == b'.')
            .map(|e| pos + e)
            .unwrap_or(pat.len());
        let p = &pat[pos..end];
        if p == b"*" {
            if seg == "[]" {
                return false;
            }
        } else if p != seg.as_bytes() {
            return false;
        }
        pos = end + 1;
    }
    pos == pat.len() + 1
}

fn cast(path: &[String], s: &str) -> Result<Option<Value>, String> {
    let Some(last) = path.last().filter(|_| path.len() >= 2) else {
        return Ok(None);
    };
    for (pat, c) in CASTS {
        if !(pat.ends_with(last.as_str()) || pat.ends_with('*')) {
            continue;
        }
        if path_matches(path, pat) {
            if pat.ends_with(".mode") {
                let t = s.trim();
                let parsed = match t
                    .strip_prefix("0o")
                    .or_else(|| t.strip_prefix('0').filter(|r| !r.is_empty()))
                {
                    Some(oct) => i64::from_str_radix(oct, 8),
                    None => t.parse::<i64>(),
                };
                return parsed
                    .map(|i| Some(Value::from(i)))
                    .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: invalid syntax"));
            }
            return match c {
                Cast::Int => s
                    .trim()
                    .parse::<i64>()
                    .map(|i| Some(Value::from(i)))
                    .map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax")),
                Cast::Float => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(|n| Some(Value::Number(n)))
                    .ok_or_else(|| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
                Cast::Bool => match s.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "y" | "on" => Ok(Some(Value::Bool(true))),
                    "false" | "no" | "n" | "off" => Ok(Some(Value::Bool(false))),
                    _ => Err(format!(
                        "failed to cast to expected type: invalid boolean: {s}"
                    )),
                },
            };
        }
    }
    Ok(None)
}

/// Error of a tree interpolation: dotted path and what went wrong.
#[derive(Debug)]
pub(crate) struct InterpError {
    pub path: Vec<String>,
    pub message: String,
}

/// Interpolates every string value of the tree (keys are left alone), then casts the values
/// the schema wants typed (`"${N}"` under `replicas` becomes a number).
pub(crate) fn interpolate_tree(
    v: &mut Value,
    path: &mut Vec<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), InterpError> {
    match v {
        Value::String(s) => {
            let new = substitute(s, lookup).map_err(|e| {
                let dotted = dotted(path);
                InterpError {
                    path: path.clone(),
                    message: match e {
                        TemplateError::Invalid(t) => format!(
                            "invalid interpolation format for {dotted}: {t:?}; you may need to escape any $ with another $"
                        ),
                        TemplateError::Required { var, message } => format!(
                            "error while interpolating {dotted}: required variable {var} is missing a value: {message}"
                        ),
                    },
                }
            })?;
            match cast(path, &new) {
                Ok(Some(x)) => *v = x,
                Ok(None) => *s = new,
                Err(m) => {
                    return Err(InterpError {
                        path: path.clone(),
                        message: format!("error while interpolating {}: {m}", dotted(path)),
                    })
                }
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                path.push("[]".into());
                let r = interpolate_tree(x, path, lookup);
                path.pop();
                r?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                // markers are transparent for paths
                let pushed = !k.starts_with('\u{0}');
                if pushed {
                    path.push(k.clone());
                }
                let r = interpolate_tree(x, path, lookup);
                if pushed {
                    path.pop();
                }
                r?;
            }
        }
        _ => {}
    }
    Ok(())
}

pub(crate) fn dotted(path: &[String]) -> String {
    let mut s = String::new();
    for p in path {
        if p == "[]" {
            s.push_str("[]");
            continue;
        }
        if !s.is_empty() {
            s.push('.');
        }
        s.push_str(p);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        assert!(path_matches(&p("services.web.ports"), "services.*.ports"));
        assert!(!path_matches(&p("services.web"), "services.*.ports"));
        assert!(!path_matches(
            &p("services.web.ports.x"),
            "services.*.ports"
        ));
        assert!(!path_matches(&p("services.[].ports"), "services.*.ports"));
        assert!(path_matches(
            &p("services.web.ports.[].target"),
            "services.*.ports.[].target"
        ));
    }

    fn env(k: &str) -> Option<String> {
        match k {
            "A" => Some("a".into()),
            "E" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn forms() {
        let t = |s: &str| substitute(s, &env).unwrap();
        assert_eq!(t("$A-${A}"), "a-a");
        assert_eq!(t("${U:-d}${E:-d}${E-d}${U-d}"), "ddd");
        assert_eq!(t("${A:+x}${E:+x}${E+y}${U+z}"), "xy");
        assert_eq!(t("$$A"), "$A");
        assert_eq!(t("${U:-${A}b}"), "ab");
        assert_eq!(t("${U:-${U2:-z}}"), "z");
    }

    #[test]
    fn errors() {
        assert!(matches!(
            substitute("${A", &env),
            Err(TemplateError::Invalid(_))
        ));
        assert_eq!(substitute("a $ $(b)", &env).unwrap(), "a $ $(b)");
        assert!(matches!(
            substitute("${}", &env),
            Err(TemplateError::Invalid(_))
        ));
        assert_eq!(
            substitute("${U:?must}", &env),
            Err(TemplateError::Required {
                var: "U".into(),
                message: "must".into()
            })
        );
        assert!(substitute("${E?x}", &env).is_ok());
        let deep = "${U:-".repeat(10_000) + &"}".repeat(10_000);
        assert!(substitute(&deep, &env).is_err());
    }
}
