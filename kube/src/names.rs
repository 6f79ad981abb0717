//! Kubernetes names from Compose names: Kubernetes is stricter (lowercase, no `_`), and a
//! Service's name is a DNS label other pods resolve, so a changed name is worth a warning.

/// A DNS-1123 subdomain (most object names): lowercase alphanumerics, `-` and `.`, at most
/// 253 characters, alphanumeric at both ends.
pub(crate) fn subdomain(s: &str) -> Option<String> {
    let mut out: String = s
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '-',
        })
        .collect();
    out.truncate(253);
    let out = out.trim_matches(['-', '.']).to_string();
    (!out.is_empty()).then_some(out)
}

/// A DNS-1123 label (container and port names' kin): as a subdomain without dots, at most
/// 63 characters.
pub(crate) fn label(s: &str) -> Option<String> {
    let s = subdomain(&s.replace('.', "-"))?;
    let mut s = s.replace('.', "-");
    s.truncate(63);
    let s = s.trim_matches('-').to_string();
    (!s.is_empty()).then_some(s)
}

/// A DNS-1035 label, what a Service's name must be: a DNS-1123 label that starts with a
/// letter. None when the name starts with a digit: prefixing it would invent a name no
/// client of the stack uses.
pub(crate) fn service_name(s: &str) -> Option<String> {
    let l = label(s)?;
    l.starts_with(|c: char| c.is_ascii_lowercase()).then_some(l)
}

/// Is `s` usable as a label value (at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both
/// ends, or empty)?
pub(crate) fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Is `s` usable as a label or annotation key: an optional DNS subdomain prefix and `/`,
/// then a name as a label value (not empty)?
pub(crate) fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let prefix_ok = prefix.is_none_or(|p| subdomain(p).as_deref() == Some(p));
    prefix_ok && !name.is_empty() && is_label_value(name)
}

/// A ConfigMap or Secret key: `[-._a-zA-Z0-9]+`.
pub(crate) fn data_key(s: &str) -> String {
    let k: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match k.as_str() {
        "" | "." | ".." => format!("_{k}"),
        _ => k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            subdomain("quickstart_site").as_deref(),
            Some("quickstart-site")
        );
        assert_eq!(subdomain("App.Conf").as_deref(), Some("app.conf"));
        assert_eq!(subdomain("__"), None);
        assert_eq!(label("a.b_c").as_deref(), Some("a-b-c"));
        assert_eq!(service_name("Web_1").as_deref(), Some("web-1"));
        assert_eq!(service_name("1web"), None);
        assert!(is_label_value("v1.2_x") && !is_label_value("-x") && !is_label_value("a b"));
        assert!(is_qualified_name("com.example/tier") && is_qualified_name("tier"));
        assert!(!is_qualified_name("Bad_Prefix/x") && !is_qualified_name("x/"));
        assert_eq!(data_key("my file.txt"), "my_file.txt");
    }
}
