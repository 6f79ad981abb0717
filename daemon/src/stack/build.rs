//! Images a stack builds: services with `build:`, named `image:` or `PROJECT-SERVICE` as
//! Compose names them, built by the daemon's builder from the service's context and
//! Dockerfile (or `dockerfile_inline`) with its args, target, labels, tags, network,
//! extra_hosts, shm_size, no_cache and pull.

use crate::api_build::{self, Failure, Source};
use crate::Daemon;
use berth_build::context::Context;
use berth_build::{BuildOptions, NamedContext, Progress};
use berth_compose::loader::model::Build;
use berth_compose::loader::{Project, Service};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

/// The keys of `build:` berth acts on beyond context, dockerfile, dockerfile_inline, args and
/// target (which the model types); any other (secrets, ssh, cache_from, platforms, ...) gets
/// a warning from convert::warnings.
pub const EXTRA_BUILD_KEYS: &[&str] = &[
    "additional_contexts",
    "labels",
    "tags",
    "no_cache",
    "pull",
    "network",
    "extra_hosts",
    "shm_size",
];

/// Which services' images to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// Those whose image is missing, or whose pull_policy is `build` (`up`).
    #[default]
    Missing,
    /// Every one (`up --build`, `berth build`).
    Always,
    /// None (`up --no-build`).
    Never,
}

/// Builds the images of `project`'s services (all, or `services`) that `when` asks for,
/// one after the other; the first failure stops, naming the service.
pub async fn ensure_built(
    d: &Arc<Daemon>,
    project: &Project,
    services: &[String],
    when: When,
    progress: &Progress,
    cancel: watch::Receiver<bool>,
) -> Result<Vec<String>, Failure> {
    let mut built = Vec::new();
    for (name, svc) in &project.services {
        let Some(b) = &svc.build else { continue };
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let image = super::convert::image_name(project, name, svc);
        if !wanted(d, svc, &image, when).await {
            continue;
        }
        let fail = |m: String| Failure::plain(format!("service {name:?}: {m}"));
        let (source, file, opts) = prepare(name, svc, b, &image).map_err(fail)?;
        api_build::run(d, &source, &file, &opts, progress, cancel.clone())
            .await
            .map_err(|mut f| {
                f.message = format!("service {name:?}: {}", f.message);
                f
            })?;
        built.push(name.clone());
    }
    Ok(built)
}

/// Whether `when` builds the image (named `image`) of service `svc`, which has `build:`.
async fn wanted(d: &Daemon, svc: &Service, image: &str, when: When) -> bool {
    match when {
        When::Never => false,
        When::Always => true,
        When::Missing => {
            svc.pull_policy.as_deref() == Some("build") || d.images.resolve(image).await.is_err()
        }
    }
}

/// The first of `project`'s services whose image `up`'s build phase would build with
/// `when`; None when the phase would do nothing.
pub async fn first_to_build(d: &Daemon, project: &Project, when: When) -> Option<String> {
    for (name, svc) in project.services.iter().filter(|(_, s)| s.build.is_some()) {
        let image = super::convert::image_name(project, name, svc);
        if wanted(d, svc, &image, when).await {
            return Some(name.clone());
        }
    }
    None
}

/// The build a service's `build:` section describes.
fn prepare(
    name: &str,
    svc: &Service,
    b: &Build,
    image: &str,
) -> Result<(Source, berth_build::dockerfile::Dockerfile, BuildOptions), String> {
    let context_dir = b.context.clone().unwrap_or_else(|| ".".into());
    if context_dir.contains("://") || context_dir.starts_with("git@") {
        return Err(format!(
            "build context {context_dir}: remote contexts are not supported (this host builds offline)"
        ));
    }
    let dir = Path::new(&context_dir);
    let context =
        Context::open(dir).map_err(|e| format!("build context {}: {e}", dir.display()))?;
    let (dockerfile, dockerfile_name) = match &b.dockerfile_inline {
        Some(text) => (text.clone(), "Dockerfile".to_string()),
        None => api_build::read_dockerfile(dir, b.dockerfile.as_deref()).map_err(|e| e.message)?,
    };
    let file =
        berth_build::dockerfile::parse(&dockerfile, &dockerfile_name).map_err(|e| e.to_string())?;
    let extra = |k: &str| b.extra.get(k);
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    };
    let mut tags = vec![image.to_string()];
    tags.extend(strings(extra("tags")));
    let labels = extra("labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    // Compose writes extra_hosts as `host=ip` (or the older `host:ip`); the engine takes `host:ip`.
    let extra_hosts = strings(extra("extra_hosts"))
        .into_iter()
        .map(|h| match h.split_once('=') {
            Some((host, ip)) => format!("{host}:{ip}"),
            None => h,
        })
        .collect();
    let shm_size = match extra("shm_size") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => Some(
            berth_engine::container::parse_bytes(s)
                .map_err(|e| format!("build.shm_size {s:?}: {e}"))? as u64,
        ),
        _ => None,
    };
    let named_contexts = named_contexts(extra("additional_contexts"))?;
    let opts = BuildOptions {
        tags,
        build_args: b.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        target: b.target.clone(),
        no_cache: extra("no_cache").and_then(Value::as_bool).unwrap_or(false),
        pull: extra("pull").and_then(Value::as_bool).unwrap_or(false),
        labels,
        network: extra("network").and_then(Value::as_str).map(String::from),
        extra_hosts,
        shm_size,
        dockerfile_name: dockerfile_name.clone(),
        step_prefix: Some(name.to_string()),
        named_contexts,
    };
    let _ = svc;
    Ok((
        Source {
            context: Some(context),
            unpacked: None,
            dockerfile,
            dockerfile_name,
        },
        file,
        opts,
    ))
}

/// `additional_contexts`: a directory (made absolute by the loader) or `docker-image://REF`.
/// Other forms (`service:`, `oci-layout://`, remote URLs) are refused by name.
fn named_contexts(v: Option<&Value>) -> Result<BTreeMap<String, NamedContext>, String> {
    let mut out = BTreeMap::new();
    for (name, v) in v.and_then(Value::as_object).into_iter().flatten() {
        let s = v.as_str().unwrap_or_default();
        let ctx = if let Some(reference) = s.strip_prefix("docker-image://") {
            NamedContext::Image(reference.to_string())
        } else if s.starts_with("service:") || s.contains("://") || s.starts_with("git@") {
            return Err(format!(
                "build.additional_contexts.{name} ({s}): only directories and docker-image:// are supported"
            ));
        } else {
            NamedContext::Dir(s.into())
        };
        out.insert(name.clone(), ctx);
    }
    Ok(out)
}
