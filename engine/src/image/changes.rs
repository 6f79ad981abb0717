//! `--change` lines of `docker import` / `docker commit`: a subset of Dockerfile instructions
//! applied to an image config.

use std::collections::HashMap;

use oci_spec::image::Config;

/// Why a `--change` line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("empty change")]
    Empty,
    #[error("unsupported change instruction {instruction:?} (supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)")]
    Unsupported { instruction: String },
    #[error("{instruction} requires {what}")]
    Missing { instruction: &'static str, what: &'static str },
    #[error("{instruction}: {reason}")]
    Invalid { instruction: &'static str, reason: String },
}

/// Applies every change line, in order, to `config`.
pub fn apply_changes(config: &mut Config, changes: &[String]) -> Result<(), ChangeError> {
    for line in changes {
        apply_change(config, line)?;
    }
    Ok(())
}

fn apply_change(config: &mut Config, line: &str) -> Result<(), ChangeError> {
    let line = line.trim();
    if line.is_empty() {
        return Err(ChangeError::Empty);
    }
    let (instruction, rest) = match line.split_once(|c: char| c.is_whitespace()) {
        Some((i, r)) => (i, r.trim()),
        None => (line, ""),
    };
    match instruction.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.set_cmd(Some(command(rest)));
        }
        "ENTRYPOINT" => {
            config.set_entrypoint(Some(command(rest)));
            // Docker: setting ENTRYPOINT resets a CMD inherited from before it.
            config.set_cmd(None);
        }
        "ENV" => {
            let pairs = name_values("ENV", rest)?;
            let mut env = config.env().clone().unwrap_or_default();
            for (k, v) in pairs {
                let prefix = format!("{k}=");
                env.retain(|e| !e.starts_with(&prefix) && e != &k);
                env.push(format!("{k}={v}"));
            }
            config.set_env(Some(env));
        }
        "LABEL" => {
            let pairs = name_values("LABEL", rest)?;
            let mut labels: HashMap<String, String> = config.labels().clone().unwrap_or_default();
            labels.extend(pairs);
            config.set_labels(Some(labels));
        }
        "WORKDIR" => {
            if rest.is_empty() {
                return Err(ChangeError::Missing { instruction: "WORKDIR", what: "a path" });
            }
            let dir = unquote_single(rest);
            // A relative WORKDIR is relative to the previous one, as in a Dockerfile.
            let dir = if dir.starts_with('/') {
                dir
            } else {
                let base = config.working_dir().clone().unwrap_or_else(|| "/".to_string());
                format!("{}/{}", base.trim_end_matches('/'), dir)
            };
            config.set_working_dir(Some(dir));
        }
        "USER" => {
            if rest.is_empty() {
                return Err(ChangeError::Missing { instruction: "USER", what: "a user" });
            }
            config.set_user(Some(unquote_single(rest)));
        }
        "EXPOSE" => {
            let mut ports = config.exposed_ports().clone().unwrap_or_default();
            let words = split_words(rest).map_err(|reason| ChangeError::Invalid { instruction: "EXPOSE", reason })?;
            if words.is_empty() {
                return Err(ChangeError::Missing { instruction: "EXPOSE", what: "at least one port" });
            }
            for word in words {
                for port in expand_port(&word)? {
                    if !ports.contains(&port) {
                        ports.push(port);
                    }
                }
            }
            config.set_exposed_ports(Some(ports));
        }
        "VOLUME" => {
            let vols = match json_array(rest) {
                Some(v) => v,
                None => split_words(rest).map_err(|reason| ChangeError::Invalid { instruction: "VOLUME", reason })?,
            };
            if vols.is_empty() {
                return Err(ChangeError::Missing { instruction: "VOLUME", what: "at least one path" });
            }
            let mut all = config.volumes().clone().unwrap_or_default();
            for v in vols {
                if !all.contains(&v) {
                    all.push(v);
                }
            }
            config.set_volumes(Some(all));
        }
        "STOPSIGNAL" => {
            if rest.is_empty() {
                return Err(ChangeError::Missing { instruction: "STOPSIGNAL", what: "a signal" });
            }
            config.set_stop_signal(Some(rest.to_string()));
        }
        _ => return Err(ChangeError::Unsupported { instruction: instruction.to_string() }),
    }
    Ok(())
}

/// CMD/ENTRYPOINT: the JSON (exec) form when the argument is a JSON array of strings,
/// otherwise the shell form, run by `/bin/sh -c` (Dockerfile reference, "Shell and exec form").
fn command(rest: &str) -> Vec<String> {
    match json_array(rest) {
        Some(args) => args,
        None => vec!["/bin/sh".to_string(), "-c".to_string(), rest.to_string()],
    }
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// ENV and LABEL: `K=V K2="v 2"` pairs, or the legacy `K the rest is the value` form.
fn name_values(instruction: &'static str, rest: &str) -> Result<Vec<(String, String)>, ChangeError> {
    let invalid = |reason: String| ChangeError::Invalid { instruction, reason };
    let words = split_words(rest).map_err(invalid)?;
    let Some(first) = words.first() else {
        return Err(ChangeError::Missing { instruction, what: "at least one argument" });
    };
    if !first.contains('=') {
        // Legacy form: the name is the first word, the value everything after it, verbatim.
        let (name, value) = match rest.split_once(|c: char| c.is_whitespace()) {
            Some((n, v)) => (n, v.trim_start()),
            None => return Err(ChangeError::Missing { instruction, what: "a value" }),
        };
        return Ok(vec![(name.to_string(), value.to_string())]);
    }
    let mut pairs = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(invalid(format!("{w:?} is not of the form name=value")));
        };
        if k.is_empty() {
            return Err(invalid(format!("{w:?} has an empty name")));
        }
        pairs.push((k.to_string(), v.to_string()));
    }
    Ok(pairs)
}

/// Splits on unquoted whitespace, removing quotes and backslash escapes as the Dockerfile
/// parser does for ENV/LABEL words.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            '"' | '\'' => {
                in_word = true;
                let quote = c;
                loop {
                    match chars.next() {
                        Some(q) if q == quote => break,
                        Some('\\') if quote == '"' => match chars.next() {
                            Some(n) => cur.push(n),
                            None => return Err("unterminated quote".to_string()),
                        },
                        Some(n) => cur.push(n),
                        None => return Err("unterminated quote".to_string()),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn unquote_single(s: &str) -> String {
    match split_words(s) {
        Ok(w) if w.len() == 1 => w.into_iter().next().unwrap_or_default(),
        _ => s.to_string(),
    }
}

/// `80`, `80/udp`, `8000-8002/tcp` -> `["80/tcp"]`, ... (the config's ExposedPorts keys).
fn expand_port(word: &str) -> Result<Vec<String>, ChangeError> {
    let invalid = |reason: String| ChangeError::Invalid { instruction: "EXPOSE", reason };
    let (range, proto) = match word.split_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (word, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(invalid(format!("invalid protocol {proto:?} in {word:?}")));
    }
    let port = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0);
    let (lo, hi) = match range.split_once('-') {
        Some((a, b)) => (port(a), port(b)),
        None => (port(range), port(range)),
    };
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo <= hi => Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect()),
        _ => Err(invalid(format!("invalid port {word:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(changes: &[&str]) -> Config {
        let mut c = Config::default();
        let owned: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &owned).unwrap();
        c
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let c = cfg(&[r#"CMD ["echo", "hi"]"#]);
        assert_eq!(c.cmd().clone().unwrap(), vec!["echo", "hi"]);
        let c = cfg(&["cmd echo $HOME && ls"]);
        assert_eq!(c.cmd().clone().unwrap(), vec!["/bin/sh", "-c", "echo $HOME && ls"]);
        let c = cfg(&["CMD [\"x\"]", r#"ENTRYPOINT ["/bin/app", "--flag"]"#]);
        assert_eq!(c.entrypoint().clone().unwrap(), vec!["/bin/app", "--flag"]);
        assert_eq!(c.cmd(), &None, "ENTRYPOINT resets an earlier CMD");
        let c = cfg(&["ENTRYPOINT [not json"]);
        assert_eq!(c.entrypoint().clone().unwrap(), vec!["/bin/sh", "-c", "[not json"]);
    }

    #[test]
    fn env_both_forms_and_override() {
        let c = cfg(&["ENV A=1 B=\"two words\" C=x\\ y", "ENV D hello world", "ENV A=3"]);
        assert_eq!(c.env().clone().unwrap(), vec!["B=two words", "C=x y", "D=hello world", "A=3"]);
    }

    #[test]
    fn workdir_user_expose_label_volume() {
        let c = cfg(&[
            "WORKDIR /app",
            "WORKDIR sub",
            "USER 1000:1000",
            "EXPOSE 80 53/udp 8000-8001",
            "LABEL a=b \"c d\"=e",
            "LABEL legacy value here",
            "VOLUME [\"/data\"]",
            "STOPSIGNAL SIGINT",
        ]);
        assert_eq!(c.working_dir().as_deref(), Some("/app/sub"));
        assert_eq!(c.user().as_deref(), Some("1000:1000"));
        assert_eq!(c.exposed_ports().clone().unwrap(), vec!["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]);
        let labels = c.labels().clone().unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e");
        assert_eq!(labels["legacy"], "value here");
        assert_eq!(c.volumes().clone().unwrap(), vec!["/data"]);
        assert_eq!(c.stop_signal().as_deref(), Some("SIGINT"));
    }

    #[test]
    fn refuses_bad_changes() {
        let mut c = Config::default();
        for bad in ["RUN echo", "", "EXPOSE 0", "EXPOSE 80/xyz", "ENV", "ENV A=1 B", "WORKDIR", "LABEL \"unterminated=1"] {
            assert!(apply_changes(&mut c, &[bad.to_string()]).is_err(), "{bad:?} should fail");
        }
    }
}
