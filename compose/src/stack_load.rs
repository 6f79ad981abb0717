//! How to load a stack: what the CLI knows (its `-f`, `-p`, `--env-file`, `--profile`, its
//! environment and directory) as one serializable value, so the daemon can load the same
//! project again on every edit of its files, long after the CLI is gone.

use crate::loader::{self, LoadError, LoadOptions, Project};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How to load a stack: the CLI's global options, environment and directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StackLoad {
    pub files: Vec<String>,
    pub stdin: Option<String>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    pub environment: IndexMap<String, String>,
    pub cwd: Option<PathBuf>,
}

impl StackLoad {
    pub fn load(&self) -> Result<Project, LoadError> {
        let opts = LoadOptions {
            files: self.files.clone(),
            stdin: self.stdin.clone(),
            project_name: self.project_name.clone(),
            project_directory: self.project_directory.clone(),
            env_files: self.env_files.clone(),
            profiles: self.profiles.clone(),
            environment: self.environment.clone(),
            cwd: self.cwd.clone(),
            interpolate: true,
            prune_unused: true,
        };
        loader::load(&opts)
    }
}
