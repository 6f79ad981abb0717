//! Stacks: a loaded Compose project reconciled into containers, networks and volumes by the
//! daemon's controller (`up`, `down`), with Compose's names, labels and semantics.

pub mod build;
pub mod controller;
pub mod convert;
pub mod ports;
pub mod pull;
pub mod ready;
