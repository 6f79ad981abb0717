//! One logical line to an instruction, with Docker's argument rules and error wording
//! (BuildKit's line parsers and instructions.Parse).

use super::heredoc::{self, Marker};
use super::lines::Body;
use super::split;
use crate::dockerfile::{ArgDecl, Command, CopySpec, From, Health, Heredoc, Instruction};

/// What a line is: FROM starts a stage, everything else belongs to one (ARG may also
/// come before the first FROM).
#[derive(Debug)]
pub(super) enum Parsed {
    From(From),
    Other(Instruction),
}

/// Parses one instruction line (`text` as joined by the line reader).
pub(super) fn parse(text: &str, heredocs: &[Body], escape: char) -> Result<Parsed, String> {
    let (keyword, flags, rest) = split::command(text, escape);
    let line = Line {
        keyword: keyword.to_ascii_lowercase(),
        flags,
        rest,
        text,
        heredocs,
        escape,
    };
    match line.keyword.as_str() {
        "from" => line.from().map(Parsed::From),
        _ => line.instruction().map(Parsed::Other),
    }
    .map_err(|e| {
        if e.is_empty() {
            format!("unknown instruction: {keyword}")
        } else {
            e
        }
    })
}

struct Line<'a> {
    keyword: String,
    flags: Vec<String>,
    rest: String,
    text: &'a str,
    heredocs: &'a [Body],
    escape: char,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Str,
    /// Repeatable (`--mount`, `--exclude`).
    Many,
}

/// The flags given, checked against those the instruction knows (BuildKit's BFlags).
struct Flags(Vec<(&'static str, String)>);

impl Flags {
    fn str(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    fn bool(&self, name: &str) -> bool {
        self.str(name).is_some_and(|v| v == "true")
    }

    fn many(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn at_least_one(keyword: &str) -> String {
    format!("{keyword} requires at least one argument")
}

fn exactly_one(keyword: &str) -> String {
    format!("{keyword} requires exactly one argument")
}

impl Line<'_> {
    fn upper(&self) -> String {
        self.keyword.to_ascii_uppercase()
    }

    fn flags(&self, known: &[(&'static str, Kind)]) -> Result<Flags, String> {
        let mut given: Vec<(&'static str, String)> = Vec::new();
        for word in &self.flags {
            let (flag, value) = match word.split_once('=') {
                Some((f, v)) => (f, Some(v)),
                None => (word.as_str(), None),
            };
            let name = &flag[2..];
            let Some(&(name, kind)) = known.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: {flag}"));
            };
            if kind != Kind::Many && given.iter().any(|(n, _)| *n == name) {
                return Err(format!("duplicate flag specified: {flag}"));
            }
            let value = match (kind, value) {
                (Kind::Bool, Some("")) | (Kind::Str | Kind::Many, None) => {
                    return Err(format!("missing a value on flag: {flag}"))
                }
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    b @ ("true" | "false") => b.to_string(),
                    _ => return Err(format!("expecting boolean value for flag {flag}, not: {v}")),
                },
                (_, Some(v)) => v.to_string(),
            };
            given.push((name, value));
        }
        Ok(Flags(given))
    }

    fn no_flags(&self) -> Result<(), String> {
        self.flags(&[]).map(|_| ())
    }

    fn from(&self) -> Result<From, String> {
        let flags = self.flags(&[("platform", Kind::Str)])?;
        let args = split::fields(&self.rest);
        let name = match args.as_slice() {
            [_] => None,
            [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
                let lower = name.to_lowercase();
                if !valid_stage_name(&lower) {
                    return Err(format!(
                        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                    ));
                }
                Some(lower)
            }
            _ => return Err("FROM requires either one or three arguments".into()),
        };
        Ok(From {
            image: args[0].clone(),
            name,
            platform: flags.str("platform"),
        })
    }

    fn instruction(&self) -> Result<Instruction, String> {
        Ok(match self.keyword.as_str() {
            "run" => self.run()?,
            "cmd" => {
                self.no_flags()?;
                Instruction::Cmd(self.command()?)
            }
            "entrypoint" => {
                self.no_flags()?;
                Instruction::Entrypoint(self.command()?)
            }
            "env" => {
                self.no_flags()?;
                Instruction::Env(self.pairs()?)
            }
            "label" => {
                self.no_flags()?;
                Instruction::Label(self.pairs()?)
            }
            "arg" => {
                self.no_flags()?;
                Instruction::Arg(self.args()?)
            }
            "copy" => Instruction::Copy(self.copy(false)?),
            "add" => Instruction::Add(self.copy(true)?),
            "workdir" => Instruction::Workdir(self.one()?),
            "user" => Instruction::User(self.one()?),
            "stopsignal" => Instruction::Stopsignal(self.one()?),
            "maintainer" => Instruction::Maintainer(self.one()?),
            "expose" => {
                self.no_flags()?;
                let ports = split::fields(&self.rest);
                if ports.is_empty() {
                    return Err(at_least_one("EXPOSE"));
                }
                Instruction::Expose(ports)
            }
            "volume" => {
                self.no_flags()?;
                let paths = match split::json(&self.rest)? {
                    Some(list) => list,
                    None => split::fields(&self.rest),
                };
                if paths.is_empty() {
                    return Err(at_least_one("VOLUME"));
                }
                if paths.iter().any(|p| p.trim().is_empty()) {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                Instruction::Volume(paths)
            }
            "shell" => {
                self.no_flags()?;
                match split::json(&self.rest)? {
                    Some(list) if list.is_empty() => return Err(at_least_one("SHELL")),
                    Some(list) => Instruction::Shell(list),
                    None if self.rest.is_empty() => return Err(at_least_one("SHELL")),
                    None => return Err("SHELL requires the arguments to be in JSON form".into()),
                }
            }
            "healthcheck" => self.healthcheck()?,
            "onbuild" => self.onbuild()?,
            // The caller words it with the keyword as written.
            _ => return Err(String::new()),
        })
    }

    /// Shell or exec form (exec only when the text is a JSON array of strings).
    fn command(&self) -> Result<Command, String> {
        match split::json(&self.rest)? {
            Some(argv) => Ok(Command::Exec(argv)),
            None if self.rest.is_empty() => Err(at_least_one(&self.upper())),
            None => Ok(Command::Shell(self.rest.clone())),
        }
    }

    fn run(&self) -> Result<Instruction, String> {
        let flags = self.flags(&[
            ("mount", Kind::Many),
            ("network", Kind::Str),
            ("security", Kind::Str),
        ])?;
        let command = self.command()?;
        if matches!(command, Command::Exec(_)) && !self.heredocs.is_empty() {
            return Err("RUN cannot use a heredoc with the exec (JSON) form".into());
        }
        Ok(Instruction::Run {
            command,
            mounts: flags.many("mount"),
            network: flags.str("network"),
            security: flags.str("security"),
            heredocs: self.heredocs.iter().map(finished).collect(),
        })
    }

    /// A string taken whole (WORKDIR, USER, STOPSIGNAL, MAINTAINER).
    fn one(&self) -> Result<String, String> {
        self.no_flags()?;
        if self.rest.is_empty() {
            return Err(exactly_one(&self.upper()));
        }
        Ok(self.rest.clone())
    }

    /// ENV and LABEL: `k=v ...`, or the legacy `k v w` (one pair, value the rest).
    fn pairs(&self) -> Result<Vec<(String, String)>, String> {
        let upper = self.upper();
        let words = split::words(&self.rest, self.escape);
        let Some(first) = words.first() else {
            return Err(at_least_one(&upper));
        };
        if !first.contains('=') {
            let mut parts = self.rest.splitn(2, |c: char| c.is_whitespace());
            let key = parts.next().unwrap_or_default();
            let value = parts.next().map(str::trim_start).unwrap_or_default();
            if value.is_empty() {
                return Err(format!("{upper} must have two arguments"));
            }
            return Ok(vec![(key.to_string(), value.to_string())]);
        }
        words
            .iter()
            .map(|word| {
                let Some((key, value)) = word.split_once('=') else {
                    return Err(format!(
                        "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
                    ));
                };
                if key.is_empty() {
                    return Err(format!("{upper} names can not be blank"));
                }
                Ok((key.to_string(), value.to_string()))
            })
            .collect()
    }

    fn args(&self) -> Result<Vec<ArgDecl>, String> {
        let words = split::words(&self.rest, self.escape);
        if words.is_empty() {
            return Err(at_least_one("ARG"));
        }
        Ok(words
            .into_iter()
            .map(|word| match word.split_once('=') {
                Some((name, default)) => ArgDecl {
                    name: name.to_string(),
                    default: Some(default.to_string()),
                },
                None => ArgDecl {
                    name: word,
                    default: None,
                },
            })
            .collect())
    }

    fn copy(&self, add: bool) -> Result<CopySpec, String> {
        let mut known = vec![
            ("chown", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
            ("exclude", Kind::Many),
        ];
        if add {
            known.extend([("checksum", Kind::Str), ("keep-git-dir", Kind::Bool)]);
        } else {
            known.extend([("from", Kind::Str), ("parents", Kind::Bool)]);
        }
        let flags = self.flags(&known)?;
        let upper = self.upper();
        let mut args = match split::json(&self.rest)? {
            Some(list) => list,
            None => split::fields(&self.rest),
        };
        if args.len() < 2 {
            return Err(format!(
                "{upper} requires at least two arguments, but only one was provided. Destination could not be determined."
            ));
        }
        let dest = args.pop().unwrap_or_default();
        if heredoc::marker(&dest)?.is_some() {
            return Err(format!("{upper} cannot accept a heredoc as a destination"));
        }
        let mut sources = Vec::new();
        let mut heredocs = Vec::new();
        for src in args {
            match heredoc::marker(&src)? {
                Some(marker) => {
                    let body = self.heredocs.iter().find(|b| b.marker.name == marker.name);
                    let raw = body.map(|b| b.raw.as_str()).unwrap_or_default();
                    heredocs.push(finished(&Body {
                        marker: marker.clone(),
                        raw: raw.to_string(),
                    }));
                    sources.push(marker.name);
                }
                None => sources.push(src),
            }
        }
        Ok(CopySpec {
            sources,
            dest,
            from: flags.str("from"),
            chown: flags.str("chown"),
            chmod: flags.str("chmod"),
            link: flags.bool("link"),
            checksum: flags.str("checksum"),
            keep_git_dir: flags.bool("keep-git-dir"),
            exclude: flags.many("exclude"),
            parents: flags.bool("parents"),
            heredocs,
        })
    }

    fn healthcheck(&self) -> Result<Instruction, String> {
        let (kind, rest) = match self.rest.find(char::is_whitespace) {
            Some(i) => (&self.rest[..i], self.rest[i..].trim_start()),
            None => (self.rest.as_str(), ""),
        };
        if kind.is_empty() {
            return Err(at_least_one("HEALTHCHECK"));
        }
        let kind = kind.to_ascii_uppercase();
        if kind == "NONE" {
            // Docker ignores flags here; so do we.
            if !rest.is_empty() {
                return Err("HEALTHCHECK NONE takes no arguments".into());
            }
            return Ok(Instruction::Healthcheck(None));
        }
        let flags = self.flags(&[
            ("interval", Kind::Str),
            ("timeout", Kind::Str),
            ("start-period", Kind::Str),
            ("start-interval", Kind::Str),
            ("retries", Kind::Str),
        ])?;
        if kind != "CMD" {
            return Err(format!("Unknown type \"{kind}\" in HEALTHCHECK (try CMD)"));
        }
        let test = match split::json(rest)? {
            Some(argv) if !argv.is_empty() => Command::Exec(argv),
            None if !rest.is_empty() => Command::Shell(rest.to_string()),
            _ => return Err("Missing command after HEALTHCHECK CMD".into()),
        };
        Ok(Instruction::Healthcheck(Some(Health {
            test,
            interval: flags.str("interval"),
            timeout: flags.str("timeout"),
            start_period: flags.str("start-period"),
            start_interval: flags.str("start-interval"),
            retries: flags.str("retries"),
        })))
    }

    /// The trigger is parsed as an instruction of its own to refuse bad ones now, and
    /// stored as written (heredoc bodies appended, as Docker does) for the child build.
    fn onbuild(&self) -> Result<Instruction, String> {
        self.no_flags()?;
        if self.rest.is_empty() {
            return Err(at_least_one("ONBUILD"));
        }
        let trigger_word = self.rest.split_whitespace().next().unwrap_or("");
        match trigger_word.to_ascii_uppercase().as_str() {
            "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
            t @ ("MAINTAINER" | "FROM") => {
                return Err(format!("{t} isn't allowed as an ONBUILD trigger"))
            }
            _ => {}
        }
        parse(&self.rest, self.heredocs, self.escape)?;
        let trimmed = self.text.trim_start();
        let mut trigger = trimmed[self.keyword.len()..].trim_start().to_string();
        for body in self.heredocs {
            trigger.push('\n');
            trigger.push_str(&body.raw);
            trigger.push_str(&body.marker.name);
        }
        Ok(Instruction::Onbuild(trigger))
    }
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// A heredoc for the AST: `<<-` tabs stripped.
fn finished(body: &Body) -> Heredoc {
    let Marker {
        name,
        chomp,
        expand,
    } = body.marker.clone();
    Heredoc {
        name,
        content: if chomp {
            heredoc::chomp(&body.raw)
        } else {
            body.raw.clone()
        },
        expand,
    }
}
