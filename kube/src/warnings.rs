//! What the translation could not carry over faithfully, named key by key.

use std::fmt;

/// One Compose key (or value) without a faithful Kubernetes mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// `service web`, `volume data`, `network back`, `secret token`, or `project`.
    pub scope: String,
    /// The key path below the scope, e.g. `deploy.resources.limits.pids`.
    pub key: String,
    /// What happens instead, or why nothing does.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: `{}` {}", self.scope, self.key, self.message)
    }
}

/// Collects warnings in the order the translation meets them.
#[derive(Debug, Default)]
pub(crate) struct Warnings(pub(crate) Vec<Warning>);

impl Warnings {
    pub(crate) fn service(
        &mut self,
        service: &str,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(format!("service {service}"), key, message);
    }

    pub(crate) fn push(
        &mut self,
        scope: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let w = Warning {
            scope: scope.into(),
            key: key.into(),
            message: message.into(),
        };
        if !self.0.contains(&w) {
            self.0.push(w);
        }
    }
}
