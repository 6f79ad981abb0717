//! berth: Compose stacks over a built-in container engine.
//!
//! `loader` reads stack files into the normalized model; `cli` is the `berth` command line;
//! `daemon` is the long-running process behind the API socket.

pub mod cli;
pub mod client;
pub mod daemon;
pub mod loader;
pub mod sealed;
pub mod stack;
