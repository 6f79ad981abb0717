//! berth-kube: a Compose project as Kubernetes objects, and those objects sent to a cluster.
//!
//! It is: the translation ([`generate`]: a loaded, normalized [`berth_compose::Project`] and
//! [`Options`] -> [`Manifests`], typed k8s-openapi objects plus a [`Warning`] for every key
//! without a faithful mapping), their YAML rendering ([`to_yaml_stream`], [`write`]), and,
//! with the `cluster` feature (on by default), server-side apply and removal by label
//! ([`cluster::apply`], [`cluster::down`]) through the kube client. The mapping, key by key,
//! is in docs/kubernetes.md.
//!
//! It is not: a scheduler, a Compose loader (berth-compose loads), or part of the daemon.
//! The translation is pure: no tokio, no network, no container engine; it only reads the
//! files that bind mounts, configs and secrets name, to put their content in ConfigMaps
//! and Secrets.
//!
//! ```no_run
//! use berth_compose::{load, LoadOptions};
//! let project = load(&LoadOptions { files: vec!["compose.yaml".into()], ..LoadOptions::default() })?;
//! let m = berth_kube::generate(&project, &berth_kube::Options::default())?;
//! for w in &m.warnings { eprintln!("WARN {w}"); }
//! print!("{}", berth_kube::to_yaml_stream(&m.objects)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod audit;
mod container;
mod deps;
mod env;
mod error;
mod generate;
mod names;
mod netpol;
mod object;
mod options;
mod output;
mod probes;
mod resources;
mod services;
mod storage;
mod warnings;
mod workload;

#[cfg(feature = "cluster")]
pub mod cluster;

pub use error::Error;
pub use generate::{generate, Manifests};
pub use object::{
    Object, KINDS, MANAGED_BY, MANAGED_BY_LABEL, NETWORK_LABEL_PREFIX, PROJECT_LABEL, SERVICE_LABEL,
};
pub use options::{BindAs, Expose, Options, SIZE_LABEL};
pub use output::{file_name, is_file_target, to_yaml, to_yaml_stream, write};
pub use warnings::Warning;

#[cfg(test)]
mod tests;
