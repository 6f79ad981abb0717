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
    Missing {
        instruction: &'static str,
        what: &'static str,
    },
    #[error("{instruction}: {reason}")]
    Invalid {
        instruction: &'static str,
        reason: String,
    },
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
    let env = env_of(config);
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
            let pairs = name_values("ENV", rest, &env)?;
            let mut all = config.env().clone().unwrap_or_default();
            for (k, v) in pairs {
                let entry = format!("{k}={v}");
                // Docker replaces a variable in place, keeping the order of the others.
                match all
                    .iter_mut()
                    .find(|e| e.split_once('=').map_or(e.as_str(), |(name, _)| name) == k)
                {
                    Some(existing) => *existing = entry,
                    None => all.push(entry),
                }
            }
            config.set_env(Some(all));
        }
        "LABEL" => {
            let pairs = name_values("LABEL", rest, &env)?;
            let mut labels: HashMap<String, String> = config.labels().clone().unwrap_or_default();
            labels.extend(pairs);
            config.set_labels(Some(labels));
        }
        "WORKDIR" => {
            if rest.is_empty() {
                return Err(ChangeError::Missing {
                    instruction: "WORKDIR",
                    what: "a path",
                });
            }
            let dir = single_word("WORKDIR", rest, &env)?;
            // A relative WORKDIR is relative to the previous one, as in a Dockerfile.
            let dir = if dir.starts_with('/') {
                dir
            } else {
                let base = config
                    .working_dir()
                    .clone()
                    .unwrap_or_else(|| "/".to_string());
                format!("{}/{}", base.trim_end_matches('/'), dir)
            };
            config.set_working_dir(Some(dir));
        }
        "USER" => {
            if rest.is_empty() {
                return Err(ChangeError::Missing {
                    instruction: "USER",
                    what: "a user",
                });
            }
            config.set_user(Some(single_word("USER", rest, &env)?));
        }
        "EXPOSE" => {
            let mut ports = config.exposed_ports().clone().unwrap_or_default();
            let words = split_words(rest, &env).map_err(|reason| ChangeError::Invalid {
                instruction: "EXPOSE",
                reason,
            })?;
            if words.is_empty() {
                return Err(ChangeError::Missing {
                    instruction: "EXPOSE",
                    what: "at least one port",
                });
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
                None => split_words(rest, &env).map_err(|reason| ChangeError::Invalid {
                    instruction: "VOLUME",
                    reason,
                })?,
            };
            if vols.is_empty() {
                return Err(ChangeError::Missing {
                    instruction: "VOLUME",
                    what: "at least one path",
                });
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
                return Err(ChangeError::Missing {
                    instruction: "STOPSIGNAL",
                    what: "a signal",
                });
            }
            config.set_stop_signal(Some(single_word("STOPSIGNAL", rest, &env)?));
        }
        _ => {
            return Err(ChangeError::Unsupported {
                instruction: instruction.to_string(),
            })
        }
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
fn name_values(
    instruction: &'static str,
    rest: &str,
    env: &Env,
) -> Result<Vec<(String, String)>, ChangeError> {
    let invalid = |reason: String| ChangeError::Invalid {
        instruction,
        reason,
    };
    let words = split_words(rest, env).map_err(invalid)?;
    let Some(first) = words.first() else {
        return Err(ChangeError::Missing {
            instruction,
            what: "at least one argument",
        });
    };
    if !first.contains('=') {
        // Legacy form: the name is the first word, the value everything after it.
        let (name, value) = match rest.split_once(|c: char| c.is_whitespace()) {
            Some((n, v)) => (n, v.trim_start()),
            None => {
                return Err(ChangeError::Missing {
                    instruction,
                    what: "a value",
                })
            }
        };
        return Ok(vec![(
            name.to_string(),
            process_word(value, env).map_err(invalid)?,
        )]);
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

/// The environment `$NAME` expands against: the image's ENV as of the change being applied.
type Env = HashMap<String, String>;

fn env_of(config: &Config) -> Env {
    config
        .env()
        .iter()
        .flatten()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Splits on unquoted whitespace, removing quotes and backslash escapes and expanding `$VAR`,
/// `${VAR}`, `${VAR:-default}` and `${VAR:+alternative}` (not inside single quotes), as the
/// Dockerfile word processor does for ENV, LABEL, WORKDIR, USER, EXPOSE and VOLUME.
fn split_words(s: &str, env: &Env) -> Result<Vec<String>, String> {
    process_words(s, env, true)
}

/// The same processing without splitting: the whole string is one word.
fn process_word(s: &str, env: &Env) -> Result<String, String> {
    Ok(process_words(s, env, false)?
        .into_iter()
        .next()
        .unwrap_or_default())
}

fn process_words(s: &str, env: &Env, split: bool) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if split && c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next().unwrap_or('\\'));
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err("unterminated single quote".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$')) => cur.push(n),
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err("unterminated double quote".to_string()),
                        },
                        Some('$') => expand_variable(&mut chars, env, &mut cur)?,
                        Some(n) => cur.push(n),
                        None => return Err("unterminated double quote".to_string()),
                    }
                }
            }
            '$' => {
                in_word = true;
                expand_variable(&mut chars, env, &mut cur)?;
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word || !split {
        words.push(cur);
    }
    Ok(words)
}

/// Expands the variable after a `$` into `out`; a `$` not followed by a name stays literal.
fn expand_variable(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    env: &Env,
    out: &mut String,
) -> Result<(), String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if chars.peek() == Some(&'{') {
        chars.next();
        let mut inner = String::new();
        loop {
            match chars.next() {
                Some('}') => break,
                Some(c) => inner.push(c),
                None => return Err("unterminated ${".to_string()),
            }
        }
        let (name, modifier) = match inner.find(|c: char| !is_name(c)) {
            Some(i) => (&inner[..i], &inner[i..]),
            None => (inner.as_str(), ""),
        };
        let value = env.get(name).filter(|v| !v.is_empty());
        if let Some(default) = modifier.strip_prefix(":-") {
            out.push_str(value.map_or(default, |v| v.as_str()));
        } else if let Some(alternative) = modifier.strip_prefix(":+") {
            if value.is_some() {
                out.push_str(alternative);
            }
        } else if modifier.is_empty() && !name.is_empty() {
            out.push_str(env.get(name).map_or("", |v| v.as_str()));
        } else {
            return Err(format!("unsupported substitution ${{{inner}}}"));
        }
        return Ok(());
    }
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        if !is_name(c) {
            break;
        }
        name.push(c);
        chars.next();
    }
    if name.is_empty() {
        out.push('$');
    } else {
        out.push_str(env.get(&name).map_or("", |v| v.as_str()));
    }
    Ok(())
}

fn single_word(instruction: &'static str, rest: &str, env: &Env) -> Result<String, ChangeError> {
    process_word(rest.trim(), env).map_err(|reason| ChangeError::Invalid {
        instruction,
        reason,
    })
}

/// `80`, `80/udp`, `8000-8002/tcp` -> `["80/tcp"]`, ... (the config's ExposedPorts keys).
fn expand_port(word: &str) -> Result<Vec<String>, ChangeError> {
    let invalid = |reason: String| ChangeError::Invalid {
        instruction: "EXPOSE",
        reason,
    };
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
        assert_eq!(
            c.cmd().clone().unwrap(),
            vec!["/bin/sh", "-c", "echo $HOME && ls"]
        );
        let c = cfg(&["CMD [\"x\"]", r#"ENTRYPOINT ["/bin/app", "--flag"]"#]);
        assert_eq!(c.entrypoint().clone().unwrap(), vec!["/bin/app", "--flag"]);
        assert_eq!(c.cmd(), &None, "ENTRYPOINT resets an earlier CMD");
        let c = cfg(&["ENTRYPOINT [not json"]);
        assert_eq!(
            c.entrypoint().clone().unwrap(),
            vec!["/bin/sh", "-c", "[not json"]
        );
    }

    #[test]
    fn env_both_forms_and_override() {
        let c = cfg(&[
            "ENV A=1 B=\"two words\" C=x\\ y",
            "ENV D hello world",
            "ENV A=3",
        ]);
        assert_eq!(
            c.env().clone().unwrap(),
            vec!["A=3", "B=two words", "C=x y", "D=hello world"]
        );
    }

    #[test]
    fn variables_expand_like_a_dockerfile() {
        let c = cfg(&[
            "ENV PATH=/usr/bin HOME=/root",
            "ENV PATH=/app/bin:$PATH",
            r#"ENV A="${HOME}/x" B='$HOME' C=\$HOME D=${NOPE:-dflt} E=${HOME:+set} F=${NOPE:+set}"#,
            "ENV G $HOME and more",
            "WORKDIR $HOME/work",
            "LABEL home=$HOME",
            "CMD echo $HOME",
        ]);
        assert_eq!(
            c.env().clone().unwrap(),
            vec![
                "PATH=/app/bin:/usr/bin",
                "HOME=/root",
                "A=/root/x",
                "B=$HOME",
                "C=$HOME",
                "D=dflt",
                "E=set",
                "F=",
                "G=/root and more"
            ]
        );
        assert_eq!(c.working_dir().as_deref(), Some("/root/work"));
        assert_eq!(c.labels().clone().unwrap()["home"], "/root");
        assert_eq!(
            c.cmd().clone().unwrap(),
            vec!["/bin/sh", "-c", "echo $HOME"],
            "the shell expands CMD, not us"
        );
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
        assert_eq!(
            c.exposed_ports().clone().unwrap(),
            vec!["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]
        );
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
        for bad in [
            "RUN echo",
            "",
            "EXPOSE 0",
            "EXPOSE 80/xyz",
            "ENV",
            "ENV A=1 B",
            "WORKDIR",
            "LABEL \"unterminated=1",
        ] {
            assert!(
                apply_changes(&mut c, &[bad.to_string()]).is_err(),
                "{bad:?} should fail"
            );
        }
    }
}
