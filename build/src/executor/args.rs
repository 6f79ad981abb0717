//! ARG values: the global scope (ARGs before the first FROM, usable in FROM lines and
//! imported into a stage by `ARG NAME`), `--build-arg` overrides, and the predefined ones.

use super::BuildError;
use crate::dockerfile::{expand, Dockerfile, Instruction};
use std::collections::{BTreeMap, BTreeSet};

/// Proxy variables a build may be given without declaring them; Docker keeps them out of
/// the image's history and the cache key.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The platform BuildKit describes to every build: this host is linux/amd64 only.
pub fn platform_arg(name: &str) -> Option<&'static str> {
    match name {
        "TARGETPLATFORM" | "BUILDPLATFORM" => Some("linux/amd64"),
        "TARGETOS" | "BUILDOS" => Some("linux"),
        "TARGETARCH" | "BUILDARCH" => Some("amd64"),
        "TARGETVARIANT" | "BUILDVARIANT" => Some(""),
        _ => None,
    }
}

/// Values of the ARGs before the first FROM, and every ARG name the file declares.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    values: BTreeMap<String, Option<String>>,
    declared: BTreeSet<String>,
}

impl Scope {
    pub fn global(
        file: &Dockerfile,
        build_args: &BTreeMap<String, Option<String>>,
    ) -> Result<Scope, BuildError> {
        let mut scope = Scope::default();
        for decls in &file.global_args {
            for d in &decls.value {
                let value = match build_args.get(&d.name) {
                    Some(v @ Some(_)) => v.clone(),
                    _ => match &d.default {
                        Some(def) => Some(
                            expand::word(def, file.escape, &|n| scope.get(n))
                                .map_err(|e| BuildError::at(decls.line, e.to_string()))?,
                        ),
                        None => platform_arg(&d.name).map(String::from),
                    },
                };
                scope.values.insert(d.name.clone(), value);
                scope.declared.insert(d.name.clone());
            }
        }
        for stage in &file.stages {
            for i in &stage.instructions {
                if let Instruction::Arg(decls) = &i.value {
                    scope.declared.extend(decls.iter().map(|d| d.name.clone()));
                }
            }
        }
        Ok(scope)
    }

    /// A global ARG's value (for FROM lines and `ARG NAME` in a stage).
    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned().flatten()
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// `--build-arg`s no ARG declares and that are not predefined: Docker warns of them.
    pub fn unused_build_args(&self, build_args: &BTreeMap<String, Option<String>>) -> Vec<String> {
        build_args
            .keys()
            .filter(|k| !self.declared.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}
