//! Runs a parsed Dockerfile on a [`Host`]: stages in order (only those the target needs),
//! each instruction a step whose result is an image in the host's store. A step's cache key
//! is its parent image, its instruction with the values it was expanded with, the ARG
//! values a RUN sees and, for COPY/ADD, a digest of what they copy: a step with a key seen
//! before reuses that image and runs nothing.

mod args;
mod files;
mod progress;
mod stage;
mod unsupported;

pub use progress::{Progress, ProgressMode};

use crate::context::Context;
use crate::dockerfile::{Dockerfile, Located, Stage};
use crate::host::Host;
use std::collections::{BTreeMap, BTreeSet};

/// What to build and how: `berth build`'s flags, Compose's `build:` keys.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Tags for the result.
    pub tags: Vec<String>,
    /// `--build-arg`s: a None value takes the variable from the client's environment,
    /// which the client resolves before sending; None left here means "declared, no value".
    pub build_args: BTreeMap<String, Option<String>>,
    /// The stage to build (`--target`); the last one when None.
    pub target: Option<String>,
    pub no_cache: bool,
    /// Pull base images even when present.
    pub pull: bool,
    /// Labels added to the result.
    pub labels: BTreeMap<String, String>,
    /// RUN steps' network: `default`, `none` or `host`.
    pub network: Option<String>,
    pub extra_hosts: Vec<String>,
    pub shm_size: Option<u64>,
    /// The Dockerfile's name, for messages (`Dockerfile`, `app/Dockerfile.dev`).
    pub dockerfile_name: String,
    /// Leads every step's name: the service a stack builds (`[web 2/5] RUN ...`).
    pub step_prefix: Option<String>,
    /// Compose's `additional_contexts` (buildx's `--build-context`): names that `FROM` and
    /// `COPY --from` take before stages and images.
    pub named_contexts: BTreeMap<String, NamedContext>,
}

/// What a named build context is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A directory: `COPY --from=NAME` copies from it as from the main context.
    Dir(std::path::PathBuf),
    /// An image (`docker-image://REF`): `FROM NAME` and `COPY --from=NAME` use REF.
    Image(String),
}

/// Why a build failed: what the user sees, and the instruction's place when a step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    pub message: String,
    /// The failing instruction's line in the Dockerfile.
    pub line: Option<usize>,
    /// A RUN's exit code.
    pub exit_code: Option<i32>,
}

impl BuildError {
    pub fn new(message: impl Into<String>) -> BuildError {
        BuildError {
            message: message.into(),
            line: None,
            exit_code: None,
        }
    }
    fn at(line: usize, message: impl Into<String>) -> BuildError {
        BuildError {
            message: message.into(),
            line: Some(line),
            exit_code: None,
        }
    }
}

/// What a finished build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub image_id: String,
    /// Steps that ran / that the cache answered.
    pub steps_run: usize,
    pub steps_cached: usize,
}

/// Builds `file` with `context` on `host`; progress goes to `progress`.
pub async fn build<H: Host>(
    host: &H,
    file: &Dockerfile,
    context: Option<&Context>,
    opts: &BuildOptions,
    progress: &Progress,
) -> Result<Built, BuildError> {
    let target = target_stage(file, opts.target.as_deref())?;
    let needed = needed_stages(file, target);
    let global = args::Scope::global(file, &opts.build_args)?;
    for (line, warning) in unsupported::check(needed.iter().map(|&i| &file.stages[i]))? {
        progress.warning(&format!("{}:{line}: {warning}", opts.dockerfile_name));
    }
    let mut built: Vec<Option<String>> = vec![None; file.stages.len()];
    let mut counts = (0, 0);
    for index in needed {
        let stage = &file.stages[index];
        let result = stage::run(
            &stage::Inputs {
                host,
                file,
                index,
                stage,
                context,
                opts,
                progress,
                global: &global,
                built: &built,
                prefix: opts.step_prefix.as_deref(),
            },
            &mut counts,
        )
        .await?;
        built[index] = Some(result);
    }
    let mut image_id = built[target].clone().unwrap_or_default();
    if !opts.labels.is_empty() {
        image_id = stage::add_labels(host, &image_id, &opts.labels, opts.no_cache).await?;
    }
    let unused = global.unused_build_args(&opts.build_args);
    if !unused.is_empty() {
        progress.warning(&format!(
            "One or more build-args [{}] were not consumed",
            unused.join(" ")
        ));
    }
    progress.export(&image_id, &opts.tags);
    for t in &opts.tags {
        host.tag(&image_id, t).await.map_err(BuildError::new)?;
    }
    progress.export_done();
    Ok(Built {
        image_id,
        steps_run: counts.0,
        steps_cached: counts.1,
    })
}

/// The stage `--target` names (by name), or the last.
fn target_stage(file: &Dockerfile, target: Option<&str>) -> Result<usize, BuildError> {
    match target {
        None => Ok(file.stages.len().saturating_sub(1)),
        Some(t) => file
            .stages
            .iter()
            .position(|s| s.from.value.name.as_deref() == Some(&t.to_ascii_lowercase()))
            .ok_or_else(|| BuildError::new(format!("target stage \"{t}\" could not be found"))),
    }
}

/// The stage a FROM or `--from` word names among those before `before`: a name or an index.
pub(crate) fn stage_ref(file: &Dockerfile, word: &str, before: usize) -> Option<usize> {
    let lower = word.to_ascii_lowercase();
    if let Some(i) = file.stages[..before]
        .iter()
        .position(|s| s.from.value.name.as_deref() == Some(lower.as_str()))
    {
        return Some(i);
    }
    word.parse::<usize>().ok().filter(|i| *i < before)
}

/// The stages `target` depends on (through FROM and COPY --from), in file order, itself last.
fn needed_stages(file: &Dockerfile, target: usize) -> Vec<usize> {
    let mut need = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !need.insert(i) {
            continue;
        }
        let stage: &Stage = &file.stages[i];
        if let Some(j) = stage_ref(file, &stage.from.value.image, i) {
            todo.push(j);
        }
        for Located { value, .. } in &stage.instructions {
            if let crate::dockerfile::Instruction::Copy(c)
            | crate::dockerfile::Instruction::Add(c) = value
            {
                if let Some(j) = c.from.as_deref().and_then(|f| stage_ref(file, f, i)) {
                    todo.push(j);
                }
            }
        }
    }
    need.into_iter().collect()
}
