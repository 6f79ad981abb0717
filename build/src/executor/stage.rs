//! One build stage: its FROM, then each instruction in turn, each a step whose result
//! (an image) the next starts from.
//!
//! Why one long file: each instruction's step reads and writes the same stage state and
//! cache key in one `match`; the file helpers (files.rs), ARG scoping (args.rs) and progress
//! (progress.rs) are apart. Tests at the end.

use super::args::{self, Scope};
use super::files;
use super::progress::{Progress, Vertex};
use super::{stage_ref, BuildError, BuildOptions, NamedContext};
use crate::context::Context;
use crate::dockerfile::{expand, Command, Dockerfile, Health, Instruction, Located, Stage};
use crate::host::{AddSpec, Commit, Host, RunSpec};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub(super) struct Inputs<'a, H> {
    pub host: &'a H,
    pub file: &'a Dockerfile,
    pub index: usize,
    pub stage: &'a Stage,
    pub context: Option<&'a Context>,
    pub opts: &'a BuildOptions,
    pub progress: &'a Progress,
    pub global: &'a Scope,
    pub built: &'a [Option<String>],
    pub prefix: Option<&'a str>,
}

/// Where a stage is: the image so far (None: scratch, nothing yet) and its config.
struct State {
    image: Option<String>,
    config: Value,
    /// ARGs declared in this stage, in order: name and value.
    args: Vec<(String, Option<String>)>,
    author: Option<String>,
    /// A CMD given in this stage (an ENTRYPOINT resets only an inherited one).
    cmd_here: bool,
    /// Steps shown so far (FROM is 1).
    shown: usize,
}

impl State {
    fn env(&self) -> Vec<String> {
        string_list(&self.config["Env"])
    }

    /// A variable as instructions see it: ENV first, then this stage's ARGs.
    fn lookup(&self, name: &str) -> Option<String> {
        for e in self.env().iter().rev() {
            if let Some((k, v)) = e.split_once('=') {
                if k == name {
                    return Some(v.to_string());
                }
            }
        }
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    }

    fn workdir(&self) -> String {
        self.config["WorkingDir"].as_str().unwrap_or("").to_string()
    }

    fn shell(&self) -> Vec<String> {
        match string_list(&self.config["Shell"]) {
            s if s.is_empty() => vec!["/bin/sh".into(), "-c".into()],
            s => s,
        }
    }
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(String::from))
        .collect()
}

fn key(parts: Value) -> String {
    let bytes = serde_json::to_vec(&parts).unwrap_or_default();
    format!("sha256:{}", crate::context::hex(&Sha256::digest(bytes)))
}

/// Runs the stage; returns the id of its last image.
pub(super) async fn run<H: Host>(
    inp: &Inputs<'_, H>,
    counts: &mut (usize, usize),
) -> Result<String, BuildError> {
    let stage = inp.stage;
    let from_line = stage.from.line;
    let shown_total = 1 + stage
        .instructions
        .iter()
        .filter(|i| is_shown(&i.value))
        .count();
    let label = match inp.prefix {
        Some(p) => format!("{p} {}", stage_label(inp.file, inp.index)),
        None => stage_label(inp.file, inp.index),
    };
    let step_name = |k: usize, text: &str| format!("[{label}{k}/{shown_total}] {text}");

    let image_word = expand::word(&stage.from.value.image, inp.file.escape, &|n| {
        inp.global.get(n)
    })
    .map_err(|e| BuildError::at(from_line, e.to_string()))?;
    let image_word = match inp.opts.named_contexts.get(&image_word) {
        Some(NamedContext::Image(reference)) => reference.clone(),
        Some(NamedContext::Dir(_)) => {
            return Err(BuildError::at(
                from_line,
                format!("FROM {image_word}: a directory build context cannot be a base image"),
            ))
        }
        None => image_word,
    };
    let v = inp
        .progress
        .vertex(&step_name(1, &format!("FROM {}", display_ref(&image_word))));
    let (image, config) = if let Some(j) = stage_ref(inp.file, &image_word, inp.index) {
        let id = inp.built[j].clone().ok_or_else(|| {
            BuildError::at(from_line, format!("stage {image_word} was not built"))
        })?;
        let config = inp
            .host
            .image_config(&id)
            .await
            .map_err(|e| fail(&v, from_line, e))?;
        (Some(id), config)
    } else if image_word.eq_ignore_ascii_case("scratch") {
        (None, json!({}))
    } else {
        let id = inp
            .host
            .base_image(&image_word, inp.opts.pull)
            .await
            .map_err(|e| fail(&v, from_line, e))?;
        let config = inp
            .host
            .image_config(&id)
            .await
            .map_err(|e| fail(&v, from_line, e))?;
        (Some(id), config)
    };
    v.done();
    let mut st = State {
        image,
        config: if config.is_object() {
            config
        } else {
            json!({})
        },
        args: Vec::new(),
        author: None,
        cmd_here: false,
        shown: 1,
    };
    // ONBUILD triggers of the base run first, as instructions of this stage.
    let triggers = string_list(&st.config["OnBuild"]);
    if !triggers.is_empty() {
        if let Some(obj) = st.config.as_object_mut() {
            obj.remove("OnBuild");
        }
        for t in triggers {
            let parsed = crate::dockerfile::parse(&format!("FROM scratch\n{t}\n"), "ONBUILD")
                .map_err(|e| BuildError::at(from_line, format!("ONBUILD trigger {t:?}: {e}")))?;
            for i in &parsed.stages[0].instructions {
                let located = Located {
                    line: from_line,
                    text: i.text.clone(),
                    value: i.value.clone(),
                };
                step(inp, &mut st, &located, counts, &|_k, t| t.to_string()).await?;
            }
        }
    }
    for i in &stage.instructions {
        step(inp, &mut st, i, counts, &|k, t| step_name(k, t)).await?;
    }
    match st.image {
        Some(id) => Ok(id),
        // A stage of FROM scratch and nothing else is an empty image.
        None => commit(inp, &mut st, "", key(json!(["scratch"]))).await,
    }
}

/// `--label`s on the result: one more config step, cached like the others.
pub(super) async fn add_labels<H: Host>(
    host: &H,
    image: &str,
    labels: &BTreeMap<String, String>,
    no_cache: bool,
) -> Result<String, BuildError> {
    let mut config = host.image_config(image).await.map_err(BuildError::new)?;
    let mut all = config["Labels"].as_object().cloned().unwrap_or_default();
    for (k, v) in labels {
        all.insert(k.clone(), json!(v));
    }
    set(&mut config, "Labels", Value::Object(all));
    let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let created_by = format!("LABEL {}", shown.join(" "));
    let k = key(json!([image, "config", created_by, config]));
    if !no_cache {
        if let Some(id) = host.cached(&k).await {
            return Ok(id);
        }
    }
    host.commit(&Commit {
        parent: Some(image.to_string()),
        layer: None,
        config,
        created_by,
        author: None,
        cache_key: k,
    })
    .await
    .map_err(BuildError::new)
}

fn is_shown(i: &Instruction) -> bool {
    matches!(
        i,
        Instruction::Run { .. }
            | Instruction::Copy(_)
            | Instruction::Add(_)
            | Instruction::Workdir(_)
    )
}

/// `build ` / `stage-1 ` in a multi-stage file, nothing in a one-stage one.
fn stage_label(file: &Dockerfile, index: usize) -> String {
    if file.stages.len() < 2 {
        return String::new();
    }
    match &file.stages[index].from.value.name {
        Some(n) => format!("{n} "),
        None => format!("stage-{index} "),
    }
}

/// `busybox` -> `docker.io/library/busybox:latest`, as BuildKit names a base.
fn display_ref(word: &str) -> String {
    if word.eq_ignore_ascii_case("scratch") || word.contains('@') {
        return word.to_string();
    }
    let last = word.rsplit('/').next().unwrap_or(word);
    let tagged = if last.contains(':') {
        word.to_string()
    } else {
        format!("{word}:latest")
    };
    let first = tagged.split('/').next().unwrap_or("");
    if tagged.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        tagged
    } else if tagged.contains('/') {
        format!("docker.io/{tagged}")
    } else {
        format!("docker.io/library/{tagged}")
    }
}

/// A step's failure: shown on its vertex, returned with its line.
fn fail(v: &Vertex<'_>, line: usize, e: String) -> BuildError {
    v.error(&e);
    BuildError::at(line, e)
}

async fn commit<H: Host>(
    inp: &Inputs<'_, H>,
    st: &mut State,
    created_by: &str,
    cache_key: String,
) -> Result<String, BuildError> {
    commit_layer(inp, st, created_by, cache_key, None).await
}

async fn commit_layer<H: Host>(
    inp: &Inputs<'_, H>,
    st: &mut State,
    created_by: &str,
    cache_key: String,
    layer: Option<std::path::PathBuf>,
) -> Result<String, BuildError> {
    let result = inp
        .host
        .commit(&Commit {
            parent: st.image.clone(),
            layer: layer.clone(),
            config: st.config.clone(),
            created_by: created_by.to_string(),
            author: st.author.clone(),
            cache_key,
        })
        .await;
    if let Some(l) = layer {
        let _ = std::fs::remove_file(l);
    }
    let id = result.map_err(BuildError::new)?;
    st.image = Some(id.clone());
    Ok(id)
}

/// The cached image for `key`, unless the build ignores the cache.
async fn cached<H: Host>(inp: &Inputs<'_, H>, key: &str) -> Option<String> {
    if inp.opts.no_cache {
        return None;
    }
    inp.host.cached(key).await
}

/// A step that changes only the config: an image without a layer.
async fn config_step<H: Host>(
    inp: &Inputs<'_, H>,
    st: &mut State,
    created_by: &str,
) -> Result<(), BuildError> {
    let k = key(json!([
        st.image, "config", created_by, st.config, st.author
    ]));
    if let Some(id) = cached(inp, &k).await {
        st.image = Some(id);
        return Ok(());
    }
    commit(inp, st, created_by, k).await.map(drop)
}

async fn step<H: Host>(
    inp: &Inputs<'_, H>,
    st: &mut State,
    i: &Located<Instruction>,
    counts: &mut (usize, usize),
    name: &(dyn Fn(usize, &str) -> String + Sync),
) -> Result<(), BuildError> {
    let line = i.line;
    let escape = inp.file.escape;
    let at = |e: expand::ExpandError| BuildError::at(line, e.to_string());
    let text_after_keyword = i
        .text
        .split_once(char::is_whitespace)
        .map(|(_, r)| r.trim())
        .unwrap_or("");
    if is_shown(&i.value) {
        st.shown += 1;
    }
    match &i.value {
        Instruction::Arg(decls) => {
            for d in decls {
                let value = match inp.opts.build_args.get(&d.name) {
                    Some(Some(v)) => Some(v.clone()),
                    _ => match &d.default {
                        Some(def) => {
                            Some(expand::word(def, escape, &|n| st.lookup(n)).map_err(at)?)
                        }
                        None if inp.global.has(&d.name) => inp.global.get(&d.name),
                        None => args::platform_arg(&d.name).map(String::from),
                    },
                };
                st.args.retain(|(k, _)| *k != d.name);
                st.args.push((d.name.clone(), value));
            }
            Ok(())
        }
        Instruction::Env(pairs) => {
            // Every value of one ENV line sees the variables as they were before it.
            let mut expanded = Vec::new();
            for (k, v) in pairs {
                let k = expand::word(k, escape, &|n| st.lookup(n)).map_err(at)?;
                let v = expand::word(v, escape, &|n| st.lookup(n)).map_err(at)?;
                expanded.push((k, v));
            }
            let mut env = st.env();
            for (k, v) in &expanded {
                let entry = format!("{k}={v}");
                match env
                    .iter_mut()
                    .find(|e| e.split('=').next() == Some(k.as_str()))
                {
                    Some(e) => *e = entry,
                    None => env.push(entry),
                }
            }
            set(&mut st.config, "Env", json!(env));
            let shown: Vec<String> = expanded.iter().map(|(k, v)| format!("{k}={v}")).collect();
            config_step(inp, st, &format!("ENV {}", shown.join(" "))).await
        }
        Instruction::Label(pairs) => {
            let mut labels = st.config["Labels"].as_object().cloned().unwrap_or_default();
            let mut shown = Vec::new();
            for (k, v) in pairs {
                let k = expand::word(k, escape, &|n| st.lookup(n)).map_err(at)?;
                let v = expand::word(v, escape, &|n| st.lookup(n)).map_err(at)?;
                shown.push(format!("{k}={v}"));
                labels.insert(k, json!(v));
            }
            set(&mut st.config, "Labels", Value::Object(labels));
            config_step(inp, st, &format!("LABEL {}", shown.join(" "))).await
        }
        Instruction::User(u) => {
            let u = expand::word(u, escape, &|n| st.lookup(n)).map_err(at)?;
            set(&mut st.config, "User", json!(u));
            config_step(inp, st, &format!("USER {u}")).await
        }
        Instruction::Expose(words) => {
            let mut ports = st.config["ExposedPorts"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let mut shown = Vec::new();
            for w in words {
                for p in expand::words(w, escape, &|n| st.lookup(n)).map_err(at)? {
                    for port in expose_ports(&p).map_err(|e| BuildError::at(line, e))? {
                        shown.push(port.clone());
                        ports.insert(port, json!({}));
                    }
                }
            }
            set(&mut st.config, "ExposedPorts", Value::Object(ports));
            config_step(inp, st, &format!("EXPOSE {}", shown.join(" "))).await
        }
        Instruction::Volume(paths) => {
            let mut vols = st.config["Volumes"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for p in paths {
                let p = expand::word(p, escape, &|n| st.lookup(n)).map_err(at)?;
                if p.trim().is_empty() {
                    return Err(BuildError::at(
                        line,
                        "VOLUME specified can not be an empty string",
                    ));
                }
                vols.insert(p, json!({}));
            }
            set(&mut st.config, "Volumes", Value::Object(vols));
            config_step(inp, st, &format!("VOLUME {text_after_keyword}")).await
        }
        Instruction::Cmd(c) => {
            let argv = command_argv(st, c);
            set(&mut st.config, "Cmd", json!(argv));
            st.cmd_here = true;
            config_step(inp, st, &format!("CMD {}", json!(argv))).await
        }
        Instruction::Entrypoint(c) => {
            let argv = command_argv(st, c);
            set(&mut st.config, "Entrypoint", json!(argv));
            // Docker: an ENTRYPOINT resets a CMD inherited from the base image.
            if !st.cmd_here {
                set(&mut st.config, "Cmd", Value::Null);
            }
            config_step(inp, st, &format!("ENTRYPOINT {}", json!(argv))).await
        }
        Instruction::Healthcheck(h) => {
            let hc = healthcheck(h.as_ref()).map_err(|e| BuildError::at(line, e))?;
            set(&mut st.config, "Healthcheck", hc);
            config_step(inp, st, &format!("HEALTHCHECK {text_after_keyword}")).await
        }
        Instruction::Shell(argv) => {
            set(&mut st.config, "Shell", json!(argv));
            config_step(inp, st, &format!("SHELL {}", json!(argv))).await
        }
        Instruction::Stopsignal(s) => {
            let s = expand::word(s, escape, &|n| st.lookup(n)).map_err(at)?;
            set(&mut st.config, "StopSignal", json!(s));
            config_step(inp, st, &format!("STOPSIGNAL {s}")).await
        }
        Instruction::Onbuild(trigger) => {
            let mut list = string_list(&st.config["OnBuild"]);
            list.push(trigger.clone());
            set(&mut st.config, "OnBuild", json!(list));
            config_step(inp, st, &format!("ONBUILD {trigger}")).await
        }
        Instruction::Maintainer(m) => {
            st.author = Some(m.clone());
            config_step(inp, st, &format!("MAINTAINER {m}")).await
        }
        Instruction::Workdir(w) => {
            let w = expand::word(w, escape, &|n| st.lookup(n)).map_err(at)?;
            let dir = files::absolute(&st.workdir(), &w);
            set(&mut st.config, "WorkingDir", json!(dir));
            let created_by = format!("WORKDIR {dir}");
            let v = inp.progress.vertex(&name(st.shown, &i.text));
            let k = key(json!([st.image, "workdir", dir, st.config]));
            if let Some(id) = cached(inp, &k).await {
                st.image = Some(id);
                counts.1 += 1;
                v.cached();
                return Ok(());
            }
            let out = inp
                .host
                .add(&AddSpec {
                    image: st.image.clone(),
                    dest_dir: dir.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|e| fail(&v, line, e))?;
            commit_layer(inp, st, &created_by, k, out.layer).await?;
            counts.0 += 1;
            v.done();
            Ok(())
        }
        Instruction::Run {
            command,
            network,
            heredocs,
            ..
        } => {
            let argv = match command {
                Command::Exec(v) => v.clone(),
                Command::Shell(s) => {
                    let mut argv = st.shell();
                    argv.push(run_script(s, heredocs));
                    argv
                }
            };
            // ARGs with a value reach RUN's environment (ENV of the same name wins).
            let env_names: Vec<String> = st
                .env()
                .iter()
                .filter_map(|e| e.split('=').next().map(String::from))
                .collect();
            let mut arg_env: Vec<String> = Vec::new();
            for (k, v) in &st.args {
                if let Some(v) = v {
                    if !env_names.contains(k) {
                        arg_env.push(format!("{k}={v}"));
                    }
                }
            }
            for p in args::PROXY_ARGS {
                if let Some(Some(v)) = inp.opts.build_args.get(p) {
                    if !st.args.iter().any(|(k, _)| k == p) {
                        arg_env.push(format!("{p}={v}"));
                    }
                }
            }
            let keyed_args: Vec<&String> = arg_env
                .iter()
                .filter(|e| !args::PROXY_ARGS.contains(&e.split('=').next().unwrap_or("")))
                .collect();
            let network = network
                .clone()
                .or_else(|| inp.opts.network.clone())
                .unwrap_or_else(|| "default".into());
            let k = key(json!([
                st.image, "run", argv, keyed_args, network, st.config
            ]));
            let created_by = if keyed_args.is_empty() {
                format!("RUN {} # buildkit", argv.join(" "))
            } else {
                format!(
                    "RUN |{} {} {} # buildkit",
                    keyed_args.len(),
                    keyed_args
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    argv.join(" ")
                )
            };
            let v = inp.progress.vertex(&name(st.shown, &i.text));
            if let Some(id) = cached(inp, &k).await {
                st.image = Some(id);
                counts.1 += 1;
                v.cached();
                return Ok(());
            }
            if st.image.is_none() {
                commit(inp, st, "", key(json!(["scratch"]))).await?;
            }
            let mut env = st.env();
            env.extend(arg_env);
            let spec = RunSpec {
                image: st.image.clone().unwrap_or_default(),
                argv: argv.clone(),
                env,
                user: st.config["User"].as_str().unwrap_or("").to_string(),
                workdir: st.workdir(),
                network,
                extra_hosts: inp.opts.extra_hosts.clone(),
                shm_size: inp.opts.shm_size,
            };
            let out = inp
                .host
                .run(&spec, &|bytes| v.output(bytes))
                .await
                .map_err(|e| fail(&v, line, e))?;
            if out.exit_code != 0 {
                if let Some(l) = &out.layer {
                    let _ = std::fs::remove_file(l);
                }
                // BuildKit: `process %q did not complete successfully`, of the arguments
                // joined by spaces (exec form too).
                let message = format!(
                    "process {} did not complete successfully: exit code: {}",
                    go_quote(&argv.join(" ")),
                    out.exit_code
                );
                v.error(&message);
                return Err(BuildError {
                    message,
                    line: Some(line),
                    exit_code: Some(out.exit_code),
                });
            }
            commit_layer(inp, st, &created_by, k, out.layer).await?;
            counts.0 += 1;
            v.done();
            Ok(())
        }
        Instruction::Copy(spec) | Instruction::Add(spec) => {
            let keyword = i.value.keyword();
            let lookup = |n: &str| st.lookup(n);
            let mut sources = Vec::new();
            for s in &spec.sources {
                sources.push(expand::word(s, escape, &lookup).map_err(at)?);
            }
            let dest = expand::word(&spec.dest, escape, &lookup).map_err(at)?;
            let chown = spec
                .chown
                .as_deref()
                .map(|c| expand::word(c, escape, &lookup))
                .transpose()
                .map_err(at)?;
            let chmod = match &spec.chmod {
                Some(m) => {
                    let m = expand::word(m, escape, &lookup).map_err(at)?;
                    Some(u32::from_str_radix(&m, 8).map_err(|_| {
                        BuildError::at(line, format!("invalid chmod parameter: {m}"))
                    })?)
                }
                None => None,
            };
            let mut heredocs = Vec::new();
            for h in &spec.heredocs {
                let content = if h.expand {
                    expand::heredoc(&h.content, &lookup).map_err(at)?
                } else {
                    h.content.clone()
                };
                heredocs.push((h.name.clone(), content));
            }
            let v = inp.progress.vertex(&name(st.shown, &i.text));
            let mut named_dir = None;
            let from_image = match &spec.from {
                None => None,
                Some(f) => {
                    let f = expand::word(f, escape, &lookup).map_err(at)?;
                    let named = inp.opts.named_contexts.get(&f);
                    if let Some(NamedContext::Dir(dir)) = named {
                        let ctx = Context::open(dir).map_err(|e| {
                            fail(
                                &v,
                                line,
                                format!("build context {f} ({}): {e}", dir.display()),
                            )
                        })?;
                        named_dir = Some(ctx);
                    }
                    let f = match named {
                        Some(NamedContext::Image(reference)) => reference.clone(),
                        _ => f,
                    };
                    if named_dir.is_some() {
                        None
                    } else {
                        match stage_ref(inp.file, &f, inp.index) {
                        Some(j) => inp.built[j].clone(),
                        None => Some(
                            inp.host
                                .base_image(&f, inp.opts.pull)
                                .await
                                .map_err(|e| {
                                    // Not a stage (before this one), not an image either.
                                    let e = format!(
                                        "{keyword} --from={f}: no build stage named {f:?} before this one, and no image of that name: {e}"
                                    );
                                    fail(&v, line, e)
                                })?,
                        ),
                    }
                    }
                }
            };
            let workdir = st.workdir();
            let prepared = files::prepare(
                inp.host,
                named_dir.as_ref().or(inp.context),
                &files::Request {
                    keyword,
                    sources,
                    dest,
                    from_image: from_image.clone(),
                    heredocs: &heredocs,
                    image: st.image.as_deref(),
                    workdir: &workdir,
                },
                line,
            )
            .await
            .inspect_err(|e| v.error(&e.message))?;
            let k = key(json!([
                st.image,
                keyword,
                prepared.dest_dir,
                chown,
                chmod,
                prepared.digest,
                st.config
            ]));
            if let Some(id) = cached(inp, &k).await {
                st.image = Some(id);
                counts.1 += 1;
                v.cached();
                return Ok(());
            }
            let tar = inp.host.scratch_file();
            let written = files::write(&prepared, &tar);
            let dest_dir = prepared.dest_dir.clone();
            drop(prepared);
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tar);
                return Err(fail(&v, line, format!("{keyword}: {e}")));
            }
            let added = inp
                .host
                .add(&AddSpec {
                    image: st.image.clone(),
                    dest_dir,
                    tar: Some(tar.clone()),
                    chown,
                    chmod,
                })
                .await;
            let _ = std::fs::remove_file(&tar);
            let out = added.map_err(|e| fail(&v, line, e))?;
            commit_layer(
                inp,
                st,
                &format!("{keyword} {text_after_keyword} # buildkit"),
                k,
                out.layer,
            )
            .await?;
            counts.0 += 1;
            v.done();
            Ok(())
        }
    }
}

fn set(config: &mut Value, key: &str, value: Value) {
    if !config.is_object() {
        *config = json!({});
    }
    if let Some(obj) = config.as_object_mut() {
        obj.insert(key.to_string(), value);
    }
}

/// CMD/ENTRYPOINT: exec form as written, shell form run by the stage's SHELL.
fn command_argv(st: &State, c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut argv = st.shell();
            argv.push(s.clone());
            argv
        }
    }
}

/// Go's `%q` of a string: double-quoted, with `\\`, `"` and control characters escaped.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The script a shell-form RUN hands its shell. With here-documents: a RUN that is only
/// `<<EOF` runs the document as its script; otherwise the documents follow the command
/// line, where the shell reads them as it reads any here-document (as BuildKit does).
fn run_script(command: &str, heredocs: &[crate::dockerfile::Heredoc]) -> String {
    if heredocs.is_empty() {
        return command.to_string();
    }
    let bare = command.trim();
    if heredocs.len() == 1 && bare.starts_with("<<") && !bare.contains(char::is_whitespace) {
        return heredocs[0].content.clone();
    }
    let mut script = command.to_string();
    for h in heredocs {
        script.push('\n');
        script.push_str(&h.content);
        if !h.content.ends_with('\n') {
            script.push('\n');
        }
        script.push_str(&h.name);
    }
    script
}

/// One EXPOSE word as ExposedPorts keys: `80` -> `80/tcp`, `53/udp`, a range -> each port.
fn expose_ports(word: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match word.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let bad = || format!("invalid containerPort: {ports}");
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// HEALTHCHECK as the image config's Healthcheck (durations in nanoseconds, zero omitted).
fn healthcheck(h: Option<&Health>) -> Result<Value, String> {
    let Some(h) = h else {
        return Ok(json!({ "Test": ["NONE"] }));
    };
    let mut hc = Map::new();
    let test = match &h.test {
        Command::Shell(s) => json!(["CMD-SHELL", s]),
        Command::Exec(v) => {
            let mut t = vec!["CMD".to_string()];
            t.extend(v.iter().cloned());
            json!(t)
        }
    };
    hc.insert("Test".into(), test);
    for (key, value) in [
        ("Interval", &h.interval),
        ("Timeout", &h.timeout),
        ("StartPeriod", &h.start_period),
        ("StartInterval", &h.start_interval),
    ] {
        if let Some(v) = value {
            let ns = go_duration_ns(v).ok_or_else(|| format!("invalid duration {v:?}"))?;
            if ns != 0 {
                hc.insert(key.into(), json!(ns));
            }
        }
    }
    if let Some(r) = &h.retries {
        let n: i64 = r.parse().map_err(|_| format!("invalid retries {r:?}"))?;
        if n < 0 {
            return Err("--retries cannot be negative".into());
        }
        if n != 0 {
            hc.insert("Retries".into(), json!(n));
        }
    }
    Ok(Value::Object(hc))
}

/// Go's time.ParseDuration: `1h30m`, `500ms`, `2.5s`, `0`.
pub(crate) fn go_duration_ns(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go() {
        assert_eq!(go_duration_ns("30s"), Some(30_000_000_000));
        assert_eq!(go_duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration_ns("500ms"), Some(500_000_000));
        assert_eq!(go_duration_ns("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration_ns("10"), None);
        assert_eq!(go_duration_ns("x"), None);
    }

    #[test]
    fn expose_words() {
        assert_eq!(expose_ports("80").unwrap(), ["80/tcp"]);
        assert_eq!(expose_ports("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(
            expose_ports("8000-8002").unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert!(expose_ports("http").is_err());
    }

    #[test]
    fn failure_messages_quote_as_go() {
        assert_eq!(go_quote("/bin/sh -c exit 3"), "\"/bin/sh -c exit 3\"");
        assert_eq!(go_quote("echo \"a\"\nb\\"), "\"echo \\\"a\\\"\\nb\\\\\"");
    }

    #[test]
    fn heredoc_scripts() {
        let doc = |name: &str, content: &str| crate::dockerfile::Heredoc {
            name: name.into(),
            content: content.into(),
            expand: true,
        };
        assert_eq!(
            run_script("<<EOF", &[doc("EOF", "echo a\necho b\n")]),
            "echo a\necho b\n"
        );
        assert_eq!(
            run_script("cat <<EOF > /x", &[doc("EOF", "hi\n")]),
            "cat <<EOF > /x\nhi\nEOF"
        );
    }
}
