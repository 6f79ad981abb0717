//! berth-compose: the Compose Specification as a library.
//!
//! It is: the loader (stack files -> the normalized [`Project`]: YAML, interpolation, `.env`,
//! `include`, `extends`, merge, profiles, validation), the `config` rendering
//! ([`Project::to_json`]), Compose's [`labels`] and [`naming`] (with the config hash), the dependency order services start in
//! ([`levels()`]), Go-style durations ([`parse_duration_secs`]), the planner ([`plan`]: desired against observed -> the steps `up`
//! takes, with their reasons), and [`StackLoad`], the serializable "how to load this stack" the CLI hands
//! the daemon.
//!
//! It is not: a container engine, a network manager or a daemon. It has no tokio, no
//! berth-engine, no berth-netd, and needs no root, so anyone can load Compose files with it:
//!
//! ```no_run
//! use berth_compose::{load, LoadOptions};
//! let project = load(&LoadOptions {
//!     files: vec!["compose.yaml".into()],
//!     environment: std::env::vars().collect(),
//!     ..LoadOptions::default()
//! })?;
//! println!("{}", serde_json::to_string_pretty(&project.to_json())?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod duration;
pub mod labels;
pub mod levels;
pub mod loader;
pub mod naming;
pub mod plan;
pub mod render;
mod stack_load;

pub use duration::parse_duration_secs;
pub use labels::*;
pub use levels::levels;
pub use loader::{load, LoadError, LoadOptions, Project, Service};
pub use naming::{config_hash, container_name, hash_of, network_name, replicas, volume_name};
pub use plan::{
    diverged_volumes, down_order, network_definition, orphan_services, plan_networks, plan_up,
    plan_volumes, replica_action, select_services, NetworkAction, NetworkChanges,
    NetworkDefinition, Observed, ObservedReplica, PlanError, RecreateReason, ReplicaAction,
    ReplicaPolicy, ReplicaState, Step, UpPlanOptions,
};
pub use stack_load::StackLoad;
