//! End-to-end tests: drive the `berth` binary on a real kernel. Every test has its own daemon,
//! state root, run dir, cgroup parent and network namespace, and leaves nothing behind.

mod build;
mod compose_fidelity;
mod container_manage;
mod containers;
mod copy;
mod crash;
mod disk;
mod docker_api;
mod dry_run;
mod examples;
mod formats;
mod images;
mod kube;
mod lifecycle;
mod log_fidelity;
mod metrics;
mod networks;
#[path = "../programs.rs"]
mod programs;
mod real_images;
mod real_stack;
mod reconcile;
mod registry;
mod security;
mod stack_build;
mod stack_cmds;
mod stack_features;
mod stack_replica;
mod stacks;
mod support;
mod system;
mod volumes;
