//! What the executor asks of the engine it builds on. berth-daemon implements it with its
//! containers, image store and pull; the executor's tests with a fake.

use serde_json::Value;
use std::path::PathBuf;

/// A RUN step: a container of `image` that runs `argv` to its end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSpec {
    pub image: String,
    pub argv: Vec<String>,
    /// The image's Env with the build's ARG values in scope.
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    /// `default` (a bridge with outbound access), `none` or `host`.
    pub network: String,
    /// `--add-host`/`extra_hosts` entries, `NAME:IP`.
    pub extra_hosts: Vec<String>,
    /// /dev/shm size in bytes, when asked for.
    pub shm_size: Option<u64>,
}

/// Files put into an image: the tar `tar` (if any) extracted into `dest_dir`, which is made
/// first with its missing parents (WORKDIR is this without a tar).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddSpec {
    /// The image the files go on; None for `scratch`.
    pub image: Option<String>,
    pub dest_dir: String,
    pub tar: Option<PathBuf>,
    /// `--chown`'s USER[:GROUP], names resolved in the image.
    pub chown: Option<String>,
    /// `--chmod`'s octal mode, for every copied entry.
    pub chmod: Option<u32>,
}

/// What a RUN or an add left: its exit code and the layer it wrote (an uncompressed tar,
/// None when nothing changed). The executor deletes the tar once stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepOutput {
    pub exit_code: i32,
    pub layer: Option<PathBuf>,
}

/// An image to store: the parent plus at most one layer, with the config it ends with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    pub parent: Option<String>,
    pub layer: Option<PathBuf>,
    /// Docker's runtime config object (Env, Cmd, Entrypoint, ...).
    pub config: Value,
    pub created_by: String,
    pub author: Option<String>,
    pub cache_key: String,
}

/// The engine side of a build. Errors are messages for the user.
#[allow(async_fn_in_trait)]
pub trait Host {
    /// The id of the image `reference` names: from the store, or pulled when missing or
    /// when `pull` is set.
    async fn base_image(&self, reference: &str, pull: bool) -> Result<String, String>;
    /// The image's runtime config object (`config` of its image JSON; `{}` when it has none).
    async fn image_config(&self, image: &str) -> Result<Value, String>;
    /// The image an earlier step with this cache key made, if it still exists.
    async fn cached(&self, key: &str) -> Option<String>;
    /// Runs a RUN step; `output` gets the process's output as it comes.
    async fn run(
        &self,
        spec: &RunSpec,
        output: &(dyn Fn(&[u8]) + Send + Sync),
    ) -> Result<StepOutput, String>;
    /// Adds files (COPY, ADD, WORKDIR).
    async fn add(&self, spec: &AddSpec) -> Result<StepOutput, String>;
    /// True when `path` is a directory in `image` (symlinks followed inside the image).
    async fn is_dir(&self, image: Option<&str>, path: &str) -> Result<bool, String>;
    /// `path` of `image` as a tar whose entries are named from the path's last component
    /// (`COPY --from`); the executor deletes the file.
    async fn export(&self, image: &str, path: &str) -> Result<PathBuf, String>;
    /// Stores an image; returns its id.
    async fn commit(&self, commit: &Commit) -> Result<String, String>;
    /// Points `reference` at `image`.
    async fn tag(&self, image: &str, reference: &str) -> Result<(), String>;
    /// A fresh path for a temporary file (the executor writes COPY tars there).
    fn scratch_file(&self) -> PathBuf;
}
