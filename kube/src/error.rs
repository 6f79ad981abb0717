//! What can stop an export or a cluster call.

use std::path::PathBuf;

/// Why an export or a call to the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A requested service is not in the project (or not enabled by its profiles).
    #[error("no such service: {0}")]
    NoSuchService(String),
    /// Two Compose names map to one Kubernetes name.
    #[error("{kind} {a:?} and {b:?} both become the Kubernetes name {name:?}: rename one")]
    NameClash {
        kind: &'static str,
        a: String,
        b: String,
        name: String,
    },
    /// A Compose name that cannot be turned into a Kubernetes name at all.
    #[error("{what} {name:?} cannot be a Kubernetes name: {why}")]
    BadName {
        what: &'static str,
        name: String,
        why: String,
    },
    /// A file a bind mount, config or secret needs could not be read.
    #[error("{what}: reading {path}: {error}")]
    Read {
        what: String,
        path: PathBuf,
        error: std::io::Error,
    },
    /// A value the translation cannot express.
    #[error("{0}")]
    Invalid(String),
    /// Writing the manifests failed.
    #[error("writing {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Rendering an object as YAML failed.
    #[error("rendering {kind} {name}: {error}")]
    Render {
        kind: &'static str,
        name: String,
        error: serde_json::Error,
    },
    /// The kubeconfig could not be read or names no usable cluster.
    #[cfg(feature = "cluster")]
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// The cluster refused or failed a request.
    #[cfg(feature = "cluster")]
    #[error("{action} {kind} {name}: {error}")]
    Api {
        action: &'static str,
        kind: &'static str,
        name: String,
        error: kube::Error,
    },
}
