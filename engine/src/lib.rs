//! berth-engine: berth's built-in container engine.
//!
//! It is: images and their store (`image`, `registry`: pull, push, login), the container
//! model and its translation into a runtime spec (`container`, `security_opt`, `seccomp`),
//! the runtime (`runtime`: the shim, exec, rootfs, the sealed copy of the binary), cgroups,
//! volume directories and filesystem helpers. Its door is the public modules below; each is a
//! room with one door of its own: its public types and functions.
//!
//! It is not: a network manager, a Compose implementation or a daemon. It knows nothing
//! about networks or stacks (callers hand it a network-namespace path to join), has no API
//! server, and nothing of berth-compose, berth-netd or berth-daemon.

pub mod cgroups;
pub mod container;
pub mod fsutil;
pub mod image;
pub mod registry;
pub mod runtime;
pub mod seccomp;
pub mod security_opt;
pub mod volume;
