//! berth's image builder: what `berth build` and a stack's `build:` need that is not the
//! container engine.
//!
//! - [`dockerfile`]: the Dockerfile language as Docker documents it, parsed into stages of
//!   instructions whose words are kept as written (quotes and `$VAR`s intact), and
//!   [`dockerfile::expand`], Docker's word expansion, which the executor applies per
//!   instruction with the build's ARG/ENV values of that moment.
//! - [`ignore`]: `.dockerignore` patterns with Docker's matching rules.
//!
//! It is not the engine: running a RUN step, storing layers and images is the host's
//! (berth-daemon's) business, behind the executor's trait.

pub mod context;
pub mod dockerfile;
pub mod executor;
pub mod host;
pub mod ignore;
pub mod report;

pub use executor::{build, BuildError, BuildOptions, Built, NamedContext, Progress, ProgressMode};
pub use host::Host;
