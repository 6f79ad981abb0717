//! `berth build` / `berth image build`: a Dockerfile build by the daemon, its progress
//! shown as BuildKit's plain output on standard error. A context directory is read by the
//! daemon in place (it runs on this host); `-` sends a tar, or a bare Dockerfile, from
//! standard input, as `docker build -` does.

use super::GlobalOpts;
use crate::client::{full, q, streamed, Client};
use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args, Debug, Clone, Default)]
pub struct BuildArgs {
    /// Name and optionally a tag (NAME[:TAG]); repeatable
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile; `-` reads it from standard input)
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set a build-time variable (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull newer versions of the base images
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for the image (KEY=VALUE)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Set the target platform (this host builds linux/amd64)
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress the build output and print the image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Type of progress output: auto, plain, tty, quiet
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Networking mode for the RUN instructions: default, none, host
    #[arg(long)]
    pub network: Option<String>,
    /// Add a custom host-to-IP mapping (HOST:IP) for RUN
    #[arg(long = "add-host")]
    pub add_hosts: Vec<String>,
    /// Size of /dev/shm for RUN (e.g. 64m)
    #[arg(long)]
    pub shm_size: Option<String>,
    /// The build context: a directory, or - for a tar (or a Dockerfile) on standard input.
    /// Without it, or with service names, the stack's services are built (Compose's build)
    pub args: Vec<String>,
}

/// `KEY=VALUE` list -> JSON object; a bare KEY takes the environment's value when `from_env`.
fn key_values(list: &[String], from_env: bool, what: &str) -> anyhow::Result<Map<String, Value>> {
    let mut out = Map::new();
    for item in list {
        match item.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), json!(v));
            }
            None if from_env => {
                if let Ok(v) = std::env::var(item) {
                    out.insert(item.clone(), json!(v));
                }
            }
            None => bail!("invalid {what} {item:?}: expected KEY=VALUE"),
        }
    }
    Ok(out)
}

/// The query of POST /build for these flags (the context apart).
fn query(a: &BuildArgs) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for t in &a.tags {
        berth_engine::image::Reference::parse(t)
            .map_err(|e| anyhow::anyhow!("invalid tag {t:?}: {e}"))?;
        parts.push(format!("t={}", q(t)));
    }
    let build_args = key_values(&a.build_args, true, "build-arg")?;
    if !build_args.is_empty() {
        parts.push(format!(
            "buildargs={}",
            q(&Value::Object(build_args).to_string())
        ));
    }
    let labels = key_values(&a.labels, false, "label")?;
    if !labels.is_empty() {
        parts.push(format!("labels={}", q(&Value::Object(labels).to_string())));
    }
    if let Some(t) = &a.target {
        parts.push(format!("target={}", q(t)));
    }
    if a.no_cache {
        parts.push("nocache=1".into());
    }
    if a.pull {
        parts.push("pull=1".into());
    }
    if let Some(p) = &a.platform {
        parts.push(format!("platform={}", q(p)));
    }
    if let Some(n) = &a.network {
        parts.push(format!("networkmode={}", q(n)));
    }
    if !a.add_hosts.is_empty() {
        parts.push(format!("extrahosts={}", q(&a.add_hosts.join(","))));
    }
    if let Some(s) = &a.shm_size {
        let bytes = berth_engine::container::parse_bytes(s)
            .map_err(|e| anyhow::anyhow!("invalid --shm-size {s:?}: {e}"))?;
        parts.push(format!("shmsize={bytes}"));
    }
    match a.progress.as_str() {
        "auto" | "plain" | "tty" => {}
        "quiet" => parts.push("progress=quiet".into()),
        other => bail!("invalid progress mode {other:?}: expected auto, plain, tty or quiet"),
    }
    if a.quiet {
        parts.push("q=1".into());
    }
    Ok(parts.join("&"))
}

/// `berth build`: Docker's (one CONTEXT argument that is `-` or a path) or Compose's (no
/// argument, or names of the stack's services).
pub fn run(g: &GlobalOpts, a: &BuildArgs) -> anyhow::Result<i32> {
    let docker_style = match a.args.as_slice() {
        [one] => one == "-" || Path::new(one).exists() && !names_services(g, &a.args),
        _ => false,
    };
    if docker_style || !a.tags.is_empty() || a.file.is_some() {
        anyhow::ensure!(
            a.args.len() == 1,
            "\"berth build\" requires exactly 1 argument (a build context) with -t or -f"
        );
        return run_dockerfile(g, a, &a.args[0]);
    }
    let load = super::stack::stack_load(g)?;
    let c = Client::connect(g)?;
    stack_build(
        &c,
        &load,
        &a.args,
        "always",
        a.quiet || a.progress == "quiet",
    )
}

/// True when a stack file is found and every name is one of its services.
fn names_services(g: &GlobalOpts, names: &[String]) -> bool {
    let Ok(load) = super::stack::stack_load(g) else {
        return false;
    };
    match load.load() {
        Ok(p) => names.iter().all(|n| p.services.contains_key(n)),
        Err(_) => false,
    }
}

/// Builds the stack's services (`when`: missing or always), showing the progress; 1 when a
/// build failed (after its report).
pub fn stack_build(
    c: &Client,
    load: &berth_compose::StackLoad,
    services: &[String],
    when: &str,
    quiet: bool,
) -> anyhow::Result<i32> {
    let body = json!({ "load": load, "services": services, "when": when, "quiet": quiet });
    let mut failed = false;
    let mut err = std::io::stderr().lock();
    c.post_body_lines(
        "/stacks/build",
        full(serde_json::to_vec(&body)?),
        None,
        |msg| {
            let Some(msg) = msg else { return Ok(()) };
            show(&mut err, &msg, &mut failed)
        },
    )?;
    Ok(failed as i32)
}

/// One message of a build stream on stderr: progress text, or the failure's report.
fn show(err: &mut impl Write, msg: &Value, failed: &mut bool) -> anyhow::Result<()> {
    if let Some(text) = msg["stream"].as_str() {
        err.write_all(text.as_bytes())?;
    }
    if let Some(e) = msg["error"].as_str() {
        *failed = true;
        match msg["report"].as_str() {
            Some(report) => err.write_all(report.as_bytes())?,
            None => writeln!(err, "ERROR: {e}")?,
        }
    }
    Ok(())
}

fn run_dockerfile(g: &GlobalOpts, a: &BuildArgs, context: &str) -> anyhow::Result<i32> {
    let mut query = query(a)?;
    let stdin_dockerfile = a.file.as_deref() == Some("-");
    let body = if context == "-" {
        anyhow::ensure!(
            !stdin_dockerfile,
            "invalid argument: can't use stdin for both build context and dockerfile"
        );
        if let Some(f) = &a.file {
            query.push_str(&format!("&dockerfile={}", q(f)));
        }
        streamed(std::io::stdin())
    } else {
        let dir = Path::new(context);
        if !dir.exists() {
            bail!("unable to prepare context: path {context:?} not found");
        }
        if !dir.is_dir() {
            bail!("unable to prepare context: context must be a directory: {context}");
        }
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("unable to prepare context: {context}"))?;
        query.push_str(&format!("&context_dir={}", q(&dir.to_string_lossy())));
        match &a.file {
            Some(f) if f == "-" => {
                let mut text = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut text)?;
                full(text)
            }
            Some(f) => {
                // As Docker: -f is relative to the working directory, not the context.
                let path = std::path::absolute(PathBuf::from(f))?;
                query.push_str(&format!("&dockerfile={}", q(&path.to_string_lossy())));
                crate::client::empty()
            }
            None => crate::client::empty(),
        }
    };
    let c = Client::connect(g)?;
    build(&c, &query, body, a.quiet)
}

/// Sends the build and shows its progress; prints the image id with `quiet`. Exit code 1
/// when the build failed (after the report).
pub fn build(
    c: &Client,
    query: &str,
    body: crate::client::Body,
    quiet: bool,
) -> anyhow::Result<i32> {
    let mut image_id = None;
    let mut failed = false;
    let mut err = std::io::stderr().lock();
    c.post_body_lines(&format!("/build?{query}"), body, None, |msg| {
        let Some(msg) = msg else { return Ok(()) };
        if let Some(id) = msg["aux"]["ID"].as_str() {
            image_id = Some(id.to_string());
        }
        show(&mut err, &msg, &mut failed)
    })?;
    if failed {
        return Ok(1);
    }
    match image_id {
        Some(id) if quiet => println!("{id}"),
        Some(_) => {}
        None => bail!("the build ended without an image (the daemon stopped?)"),
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct BuilderArgs {
    #[command(subcommand)]
    pub cmd: BuilderCmd,
}

#[derive(clap::Subcommand, Debug)]
#[command(defer = true)]
pub enum BuilderCmd {
    /// Remove build cache
    Prune {
        /// Remove all build cache (berth keeps no other kind: same as without)
        #[arg(short, long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
    },
}

/// `berth builder prune`: forgets every cached build step and removes the intermediate
/// images no container uses; prints Docker's report.
pub fn builder(g: &GlobalOpts, a: &BuilderArgs) -> anyhow::Result<i32> {
    let BuilderCmd::Prune { all: _, force } = &a.cmd;
    if !force && std::io::IsTerminal::is_terminal(&std::io::stdin())
        && !super::confirm(
            "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue? [y/N] ",
        )?
    {
        return Ok(0);
    }
    let c = Client::connect(g)?;
    let v = c.post("/build/prune", None)?;
    let deleted: Vec<&str> = v["ImagesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str())
        .filter_map(|l| l.strip_prefix("Deleted: "))
        .collect();
    if !deleted.is_empty() {
        println!("Deleted build cache objects:");
        for id in deleted {
            println!("{}", id.trim_start_matches("sha256:"));
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        super::image::human_size(v["SpaceReclaimed"].as_u64().unwrap_or(0))
    );
    Ok(0)
}
