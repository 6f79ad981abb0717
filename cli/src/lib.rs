//! berth-cli: the `berth` command.
//!
//! It is: the clap definitions and what each command does (`cli`), the client of the daemon's
//! API socket (`client`), Compose's progress display, and the thin dispatch at the top of
//! [`main`] that sends `berth shim`, `exec-helper`, `fs-helper` and `dns-server` straight to
//! their engine and netd entry points, so those processes stay single-threaded and lean.
//!
//! It is not: the daemon. `berth daemon` hands over to berth-daemon's `run` with its
//! `DaemonOptions` (which also name the socket and the default root): that is all it uses of
//! berth-daemon. Every other command talks to a daemon over HTTP/JSON, starting one when the
//! socket is absent. Its door: [`main`], with `cli` and `client` public for the binary.

pub mod cli;
pub mod client;
pub mod format;

pub use cli::main;
