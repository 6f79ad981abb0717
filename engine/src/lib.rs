//! berth's built-in container engine.
//!
//! Each module is a room with one door: its public types and functions. The engine knows
//! nothing about networks or stacks; callers hand it a network-namespace path to join.

pub mod cgroups;
pub mod container;
pub mod fsutil;
pub mod image;
pub mod registry;
pub mod runtime;
pub mod seccomp;
pub mod security_opt;
pub mod volume;
