//! A YAML writer that makes go-yaml v3's choices (Compose's encoder: block style, indent 2,
//! sequences indented under their key, no line folding): the same quoting of each string, the
//! same literal blocks, the same number forms. The rules are go-yaml's (encode.go `stringv`,
//! emitterc.go's scalar analysis and style selection), written anew for a JSON value tree.

use super::Sequences;
use serde_json::{Map, Value};

const INDENT: usize = 2;

/// The document: a mapping at the top, ending in a newline.
pub fn document(v: &Value, sequences: Sequences) -> String {
    let mut out = String::new();
    let w = Writer {
        seq_offset: match sequences {
            Sequences::Indented => INDENT,
            Sequences::AtKey => 0,
        },
    };
    match v {
        Value::Object(m) if !m.is_empty() => w.mapping(&mut out, m, 0),
        other => {
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
    out
}

/// Where a block sequence under a key starts: indented by 2 (go-yaml v3, Compose) or at the
/// key's column (go-yaml v2, kubectl).
struct Writer {
    seq_offset: usize,
}

impl Writer {
    /// A block mapping whose keys start at column `indent`; the caller has placed the cursor
    /// there for the first key.
    fn mapping(&self, out: &mut String, m: &Map<String, Value>, indent: usize) {
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                pad(out, indent);
            }
            out.push_str(&scalar_string(k));
            out.push(':');
            self.value_after_key(out, v, indent);
        }
    }

    /// A block sequence whose dashes start at column `indent` (cursor already there for the first).
    fn sequence(&self, out: &mut String, a: &[Value], indent: usize) {
        for (i, v) in a.iter().enumerate() {
            if i > 0 {
                pad(out, indent);
            }
            out.push_str("- ");
            match v {
                Value::Object(m) if !m.is_empty() => self.mapping(out, m, indent + INDENT),
                Value::Array(a) if !a.is_empty() => self.sequence(out, a, indent + INDENT),
                Value::String(s) if block_literal(s) => literal(out, s, indent + INDENT),
                other => {
                    out.push_str(&inline(other));
                    out.push('\n');
                }
            }
        }
    }

    fn value_after_key(&self, out: &mut String, v: &Value, indent: usize) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                pad(out, indent + INDENT);
                self.mapping(out, m, indent + INDENT);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                pad(out, indent + self.seq_offset);
                self.sequence(out, a, indent + self.seq_offset);
            }
            Value::String(s) if block_literal(s) => {
                out.push(' ');
                literal(out, s, indent + INDENT);
            }
            other => {
                out.push(' ');
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A value on the line it starts: scalars, and empty collections in flow style.
fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => scalar_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Go's form of a number: integers as they are, floats as strconv's 'g' with the shortest
/// precision (`0.5`, `1e+06`).
fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f.is_nan() {
        return ".nan".into();
    }
    go_float(f)
}

fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    // The shortest digits that read back as f, and the decimal exponent.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // %e when the exponent is < -4 or >= the precision, which for the shortest form is the
    // larger of 6 and the number of digits... as strconv decides: eprec = 6 unless more digits.
    let eprec = if digits.len() > 6 {
        digits.len() as i32
    } else {
        6
    };
    if exp < -4 || exp >= eprec {
        let frac = &digits[1..];
        let m = if frac.is_empty() {
            digits[..1].to_string()
        } else {
            format!("{}.{frac}", &digits[..1])
        };
        let es = if exp < 0 { "-" } else { "+" };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    let point = exp + 1;
    let s = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{s}")
}

/// go-yaml writes a string with a line break as a literal block, where the emitter allows it.
fn block_literal(s: &str) -> bool {
    s.contains('\n') && analyze(s).block_allowed
}

/// `|`, `|-` or `|+` by the trailing breaks, an indentation hint when the text starts with a
/// space or a break, then each line at `indent`.
fn literal(out: &mut String, s: &str, indent: usize) {
    out.push('|');
    if s.starts_with([' ', '\n']) {
        out.push_str(&INDENT.to_string());
    }
    if !s.ends_with('\n') {
        out.push('-');
    } else if s.len() == 1 || s[..s.len() - 1].ends_with('\n') {
        out.push('+');
    }
    out.push('\n');
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
}

/// A string scalar on one line as go-yaml quotes it (a multi-line string gets here only where
/// a literal block is not allowed: as a key, or with spaces around its breaks).
fn scalar_string(s: &str) -> String {
    let a = analyze(s);
    // encode.go: a string that would read back as another type (or as a YAML 1.1 bool or
    // base-60 float) is double-quoted; otherwise plain is asked for. A literal block the
    // emitter refuses becomes double-quoted too.
    let mut style = if resolves_to_str(s) && !is_base60_float(s) && !is_old_bool(s) {
        Style::Plain
    } else {
        Style::Double
    };
    if a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && !a.block_plain_allowed {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    match style {
        Style::Plain => s.to_string(),
        Style::Single => format!("'{}'", s.replace('\'', "''")),
        Style::Double => double_quoted(s),
    }
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    c == '\n'
        || (' '..='~').contains(&c)
        || c == '\u{85}'
        || ('\u{A0}'..='\u{D7FF}').contains(&c)
        || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
}

/// emitterc.go's yaml_emitter_analyze_scalar, for block context.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let last = chars.len() - 1;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace =
            i == last || matches!(chars[i + 1], ' ' | '\t') || is_break(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i == last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t') || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space || space_break || tabs || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        let escape = match c {
            '\0' => Some("\\0".to_string()),
            '\u{7}' => Some("\\a".into()),
            '\u{8}' => Some("\\b".into()),
            '\t' => Some("\\t".into()),
            '\n' => Some("\\n".into()),
            '\u{b}' => Some("\\v".into()),
            '\u{c}' => Some("\\f".into()),
            '\r' => Some("\\r".into()),
            '\u{1b}' => Some("\\e".into()),
            '"' => Some("\\\"".into()),
            '\\' => Some("\\\\".into()),
            '\u{85}' => Some("\\N".into()),
            '\u{a0}' => Some("\\_".into()),
            '\u{2028}' => Some("\\L".into()),
            '\u{2029}' => Some("\\P".into()),
            c if !is_printable(c) || c == '\u{FEFF}' => Some(match c as u32 {
                n if n <= 0xFF => format!("\\x{n:02X}"),
                n if n <= 0xFFFF => format!("\\u{n:04X}"),
                n => format!("\\U{n:08X}"),
            }),
            _ => None,
        };
        match escape {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    out.push('"');
    out
}

/// resolve.go: whether a plain scalar reads back as a string (not null, bool, int, float or
/// timestamp).
fn resolves_to_str(s: &str) -> bool {
    if matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | ".nan"
            | ".NaN"
            | ".NAN"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
            | "<<"
    ) {
        return false;
    }
    match s.as_bytes()[0] {
        b'.' => s.parse::<f64>().is_err(),
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return false;
            }
            let plain = s.replace('_', "");
            !(go_parse_int(&plain) || yaml_style_float(&plain) || binary_or_octal(&plain))
        }
        _ => true,
    }
}

/// strconv.ParseInt/ParseUint with base 0: decimal, 0x, 0o, 0b, and a leading 0 for octal.
fn go_parse_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix) = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(o) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (o, 8)
    } else if let Some(b) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (b, 2)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok()
}

/// resolve.go's yamlStyleFloat: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let digits_at = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i, i - start)
    };
    let mut i;
    if b.first() == Some(&b'.') {
        let (j, n) = digits_at(1);
        if n == 0 {
            return false;
        }
        i = j;
    } else {
        let (j, n) = digits_at(0);
        if n == 0 {
            return false;
        }
        i = j;
        if b.get(i) == Some(&b'.') {
            i = digits_at(i + 1).0;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let (j, n) = digits_at(i);
        if n == 0 {
            return false;
        }
        i = j;
    }
    i == b.len()
}

fn binary_or_octal(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    for (prefix, radix) in [("0b", 2), ("0o", 8)] {
        if let Some(d) = body.strip_prefix(prefix) {
            return !d.is_empty() && u64::from_str_radix(d, radix).is_ok();
        }
    }
    false
}

/// resolve.go's timestamps: YYYY-M-D, optionally with a time (T, t or a space).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let (date, time) = match rest.find(['T', 't', ' ']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let Some((m, d)) = date.split_once('-') else {
        return false;
    };
    let small = |x: &str, max: u32| {
        (1..=2).contains(&x.len()) && x.parse::<u32>().is_ok_and(|v| (1..=max).contains(&v))
    };
    if !small(m, 12) || !small(d, 31) {
        return false;
    }
    match time {
        None => true,
        Some(t) => {
            let t = t.trim_end_matches('Z');
            let t = t.split(['+', '-']).next().unwrap_or(t);
            let mut parts = t.splitn(3, ':');
            let (h, mi, sec) = (parts.next(), parts.next(), parts.next());
            let two = |x: Option<&str>| {
                x.is_some_and(|x| {
                    (1..=2).contains(&x.len()) && x.bytes().all(|c| c.is_ascii_digit())
                })
            };
            let sec_ok = sec.is_some_and(|s| {
                let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
                two(Some(whole)) && frac.bytes().all(|c| c.is_ascii_digit())
            });
            two(h) && two(mi) && sec_ok
        }
    }
}

/// encode.go: strings like `1:20` (YAML 1.1 base-60 floats) are quoted for old parsers.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !(b[0] == b'+' || b[0] == b'-' || b[0].is_ascii_digit()) || !s.contains(':')
    {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int_part, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if frac.is_some_and(|f| !f.bytes().all(|c| c.is_ascii_digit() || c == b'_')) {
        return false;
    }
    let mut groups = int_part.split(':');
    let first = groups.next().unwrap_or("");
    if first.is_empty()
        || !first.as_bytes()[0].is_ascii_digit()
        || !first.bytes().all(|c| c.is_ascii_digit() || c == b'_')
    {
        return false;
    }
    let mut any = false;
    for g in groups {
        any = true;
        let ok = match g.as_bytes() {
            [d] => d.is_ascii_digit(),
            [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    any
}

/// resolve.go's YAML 1.1 booleans, which go-yaml still quotes on the way out.
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

#[cfg(test)]
pub(super) fn quote_for_tests(s: &str) -> String {
    scalar_string(s)
}
