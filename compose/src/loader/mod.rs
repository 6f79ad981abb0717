//! The Compose loader: stack files -> the normalized project model.
//!
//! # Interface
//!
//! ```ignore
//! let opts = LoadOptions {
//!     files: vec!["compose.yaml".into()],
//!     environment: std::env::vars().collect(),
//!     ..LoadOptions::default()
//! };
//! let project: Project = loader::load(&opts)?;
//! for (name, svc) in &project.services { /* svc: &Service, typed */ }
//! let watched: &[PathBuf] = project.files_read();    // for the daemon's file watcher
//! let json = project.to_json();                        // what `berth config` prints
//! ```
//!
//! * [`load`] runs the whole pipeline; [`LoadOptions`] carries the `-f` files (`-` = stdin,
//!   whose text goes in [`LoadOptions::stdin`]), `-p`, `--project-directory`, `--env-file`,
//!   `--profile`, the process environment as an explicit map (so tests and the daemon pass
//!   their own), the directory relative paths start from, and interpolation on/off.
//! * [`Project`] is the typed normalized model ([`model`]); [`Service`] is `Serialize` so the
//!   controller can hash it. `Project::to_json` gives the reference-shaped JSON.
//! * [`LoadError`] names `file:line:col` wherever a YAML position exists.
//!
//! Signatures:
//!
//! ```ignore
//! pub fn load(opts: &LoadOptions) -> Result<Project, LoadError>;
//! pub fn normalize_project_name(s: &str) -> String;
//! impl Project {
//!     pub fn files_read(&self) -> &[PathBuf];
//!     pub fn to_json(&self) -> serde_json::Value;
//!     pub fn service_names(&self) -> Vec<String>;
//! }
//! impl Service { pub fn replicas(&self) -> u64; }
//! ```
//!
//! `LoadOptions::prune_unused` (default true) drops networks, volumes, secrets and configs
//! no service uses, as the reference's `config` does; the daemon may turn it off to keep
//! declared-but-unused resources.
//!
//! # Pipeline (as the reference, compose-go v2)
//!
//! For each file, in order: parse YAML (anchors, merge keys, `!reset`/`!override`),
//! interpolate, apply `include`, apply `extends`, merge onto the files before it, keep
//! list entries unique, validate, expand short syntax. Then, once: resolve relative paths,
//! defaults and names, implicit dependencies, env_file resolution, profiles, consistency
//! checks (cycles, undefined references), and pruning of unused resources.
//!
//! Rooms: `include`, `extends`, `finish` (the once-only steps) and the passes named above;
//! this file is the pipeline that runs them in order (the project name, `.env`, profiles and
//! per-file preparation with it), which is why it is still ~700 lines.

mod canonical;
mod dotenv;
mod error;
mod extends;
mod file;
mod finish;
mod include;
mod interp;
mod merge;
pub mod model;
mod schema;
mod yaml;

use file::{load_file, load_parsed, read_model};

pub use error::LoadError;
pub use model::{Project, Service};

use extends::*;
use finish::*;
use include::*;

use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// What to load and how.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Stack files in merge order; empty means COMPOSE_FILE or discovery. `-` is stdin.
    pub files: Vec<String>,
    /// The text of standard input, used for a `-` file.
    pub stdin: Option<String>,
    /// `-p`: the project name (wins over COMPOSE_PROJECT_NAME and `name:`).
    pub project_name: Option<String>,
    /// `--project-directory`: base of relative paths (default: the first file's directory).
    pub project_directory: Option<PathBuf>,
    /// `--env-file`: replaces the default `.env` of the project directory.
    pub env_files: Vec<PathBuf>,
    /// `--profile`: profiles to enable (COMPOSE_PROFILES is added).
    pub profiles: Vec<String>,
    /// The process environment (COMPOSE_* variables are read from here too).
    pub environment: IndexMap<String, String>,
    /// Directory that relative `-f` paths and discovery start from (default: the cwd).
    pub cwd: Option<PathBuf>,
    /// Substitute `${VAR}` (off for `config --no-interpolate`).
    pub interpolate: bool,
    /// Drop networks, volumes, secrets and configs no service uses (as `config` does).
    pub prune_unused: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            files: vec![],
            stdin: None,
            project_name: None,
            project_directory: None,
            env_files: vec![],
            profiles: vec![],
            environment: IndexMap::new(),
            cwd: None,
            interpolate: true,
            prune_unused: true,
        }
    }
}

/// The file names Compose looks for, in order of preference.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// Largest stack or env file read (64 MiB).
const MAX_FILE_SIZE: u64 = 64 << 20;

/// Shared state of one load.
struct Ctx<'a> {
    opts: &'a LoadOptions,
    env: IndexMap<String, String>,
    /// Every file read, for the watcher.
    read: Vec<PathBuf>,
    /// Source text by file name, for positions in errors.
    sources: IndexMap<String, String>,
    /// Include chain, for cycle detection.
    include_stack: Vec<String>,
    /// The project directory.
    working_dir: PathBuf,
    /// Per service, the env files it read and what each set (for exporters that must tell
    /// a file's variables from inline ones, e.g. to keep secret-looking files in a Secret).
    env_file_sources: IndexMap<String, Vec<model::EnvFileSource>>,
}

impl<'a> Ctx<'a> {
    fn note_read(&mut self, p: &Path) {
        let p = p.to_path_buf();
        if !self.read.contains(&p) {
            self.read.push(p);
        }
    }

    /// Reads a dotenv file (`env_file`, an include's env files), interpolating with `env`;
    /// `None` when it is optional and absent.
    fn read_env_file(
        &mut self,
        path: &str,
        required: bool,
        raw: bool,
        env: &IndexMap<String, String>,
    ) -> Result<Option<IndexMap<String, String>>, LoadError> {
        let pb = PathBuf::from(path);
        if !pb.is_file() {
            if required {
                return Err(LoadError::EnvFile(format!(
                    "env file {path} not found: stat {path}: no such file or directory"
                )));
            }
            return Ok(None);
        }
        let text = self.read_file(&pb)?;
        dotenv::parse(&text, &|k: &str| env.get(k).cloned(), raw)
            .map(Some)
            .map_err(|e| LoadError::EnvFile(format!("failed to read {path}: {e}")))
    }

    fn read_file(&mut self, path: &Path) -> Result<String, LoadError> {
        // Only regular files of a sane size: a stack file naming /dev/zero or a FIFO must
        // not hang or exhaust the daemon.
        let io = |error| LoadError::Io {
            path: path.to_path_buf(),
            error,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if !meta.is_file() {
            return Err(LoadError::invalid(format!(
                "{}: not a regular file",
                path.display()
            )));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(LoadError::invalid(format!(
                "{}: file too large ({} bytes, limit {MAX_FILE_SIZE})",
                path.display(),
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        self.note_read(path);
        Ok(text)
    }

    /// An error about a service, located at the last file that defines it.
    fn service_error(&self, service: &str, message: String) -> LoadError {
        let path = vec!["services".to_string(), service.to_string()];
        for (file, src) in self.sources.iter().rev() {
            if let Some((l, c)) = yaml::locate(src, &path) {
                return LoadError::Project {
                    file: file.clone(),
                    line: Some(l),
                    column: Some(c),
                    message,
                };
            }
        }
        LoadError::Project {
            file: self.sources.keys().next().cloned().unwrap_or_default(),
            line: None,
            column: None,
            message,
        }
    }

    fn position(&self, file: &str, path: &[String]) -> (Option<usize>, Option<usize>) {
        match self
            .sources
            .get(file)
            .and_then(|src| yaml::locate(src, path))
        {
            Some((l, c)) => (Some(l), Some(c)),
            None => (None, None),
        }
    }
}

fn is_truthy(v: Option<&String>) -> bool {
    matches!(
        v.map(|s| s.to_ascii_lowercase()).as_deref(),
        Some("1") | Some("true") | Some("yes") | Some("on")
    )
}

/// Normalizes a project name as the reference does: lowercase, only `[a-z0-9_-]`, no
/// leading `_` or `-`.
pub fn normalize_project_name(s: &str) -> String {
    let s: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    s.trim_start_matches(['_', '-']).to_string()
}

/// Loads and normalizes a project.
pub fn load(opts: &LoadOptions) -> Result<Project, LoadError> {
    let cwd = match &opts.cwd {
        Some(c) => c.clone(),
        None => std::env::current_dir().map_err(|error| LoadError::Io {
            path: PathBuf::from("."),
            error,
        })?,
    };
    let mut ctx = Ctx {
        opts,
        env: opts.environment.clone(),
        read: vec![],
        env_file_sources: IndexMap::new(),
        sources: IndexMap::new(),
        include_stack: vec![],
        working_dir: cwd.clone(),
    };

    // Which directory holds the default .env: the project directory, else the first file's.
    let pre_files: Vec<String> = if !opts.files.is_empty() {
        opts.files.clone()
    } else {
        vec![]
    };
    let env_dir = match &opts.project_directory {
        Some(d) => canonical::clean(&cwd.join(d)).into(),
        None => match pre_files.first() {
            Some(f) if f != "-" => PathBuf::from(canonical::clean(&cwd.join(f)))
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| cwd.clone()),
            _ => cwd.clone(),
        },
    };
    load_env_files(&mut ctx, &cwd, &env_dir)?;

    // Files: -f, else COMPOSE_FILE, else discovery.
    let mut files: Vec<String> = opts.files.clone();
    if files.is_empty() {
        if let Some(cf) = ctx.env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
            let sep = ctx
                .env
                .get("COMPOSE_PATH_SEPARATOR")
                .cloned()
                .unwrap_or_else(|| ":".into());
            files = cf
                .split(sep.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
        }
    }
    let mut paths: Vec<String> = Vec::new();
    if files.is_empty() {
        let start = opts
            .project_directory
            .as_ref()
            .map(|d| cwd.join(d))
            .unwrap_or_else(|| cwd.clone());
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            if let Some(f) = DEFAULT_FILES
                .iter()
                .map(|f| d.join(f))
                .find(|p| p.is_file())
            {
                paths.push(f.to_string_lossy().into_owned());
                if let Some(o) = OVERRIDE_FILES
                    .iter()
                    .map(|f| d.join(f))
                    .find(|p| p.is_file())
                {
                    paths.push(o.to_string_lossy().into_owned());
                }
                break;
            }
            dir = d.parent();
        }
        if paths.is_empty() {
            return Err(LoadError::NoConfigFile);
        }
    } else {
        for f in &files {
            if f == "-" {
                paths.push("-".into());
            } else {
                paths.push(canonical::clean(&cwd.join(f)));
            }
        }
    }

    let working_dir: PathBuf = match &opts.project_directory {
        Some(d) => canonical::clean(&cwd.join(d)).into(),
        None => match paths.first() {
            Some(f) if f != "-" => Path::new(f)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| cwd.clone()),
            _ => cwd.clone(),
        },
    };
    if opts.files.is_empty() && opts.project_directory.is_none() && env_dir != working_dir {
        // discovery found the file in a parent directory: its .env applies
        load_env_files(&mut ctx, &cwd, &working_dir)?;
    }

    // Read every file's text up front (needed for `name:` before interpolation of the rest).
    let mut texts: Vec<(String, String)> = Vec::new();
    for p in &paths {
        if p == "-" {
            let t = opts.stdin.clone().unwrap_or_default();
            texts.push(("-".into(), t));
        } else {
            let t = ctx.read_file(Path::new(p))?;
            texts.push((p.clone(), t));
        }
    }
    // parse each file once; `name:` is read before interpolation of the rest
    let mut parsed: Vec<(String, Option<Value>)> = Vec::new();
    for (f, t) in texts {
        let v = yaml::parse(&t, &f)?;
        ctx.sources.insert(f.clone(), t);
        parsed.push((f, v));
    }

    ctx.working_dir = working_dir.clone();
    let name = project_name(&mut ctx, opts, &parsed, &working_dir)?;
    ctx.env.insert("COMPOSE_PROJECT_NAME".into(), name.clone());

    let mut dict: Map<String, Value> = Map::new();
    for (file, v) in parsed {
        load_parsed(&mut ctx, &file, v, &working_dir, &mut dict)?;
    }
    if dict.is_empty() {
        return Err(LoadError::invalid(format!(
            "{}: empty compose file",
            paths.first().cloned().unwrap_or_default()
        )));
    }
    canonical::resolve_paths(&mut dict, &working_dir);
    let profiles = active_profiles(opts, &ctx.env);
    let dict = finish(&mut ctx, dict, &name, &profiles)?;
    let mut project =
        model::Project::from_model(dict, name, working_dir, ctx.read, ctx.env, opts.interpolate)?;
    project.env_file_sources = ctx.env_file_sources;
    Ok(project)
}

fn load_env_files(ctx: &mut Ctx, cwd: &Path, dir: &Path) -> Result<(), LoadError> {
    let opts = ctx.opts;
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    if !opts.env_files.is_empty() {
        for f in &opts.env_files {
            files.push((PathBuf::from(canonical::clean(&cwd.join(f))), true));
        }
    } else if !is_truthy(ctx.env.get("COMPOSE_DISABLE_ENV_FILE")) {
        files.push((dir.join(".env"), false));
    }
    for (f, required) in files {
        if !f.exists() {
            if required {
                return Err(LoadError::EnvFile(format!(
                    "env file {} not found: no such file or directory",
                    f.display()
                )));
            }
            continue;
        }
        if f.is_dir() {
            if required {
                return Err(LoadError::EnvFile(format!(
                    "{} is a directory",
                    f.display()
                )));
            }
            continue;
        }
        let text = ctx.read_file(&f)?;
        let os = opts.environment.clone();
        let parsed = dotenv::parse(&text, &|k: &str| os.get(k).cloned(), false)
            .map_err(|e| LoadError::EnvFile(format!("failed to read {}: {e}", f.display())))?;
        for (k, v) in parsed {
            // the process environment wins over .env
            if !opts.environment.contains_key(&k) {
                ctx.env.insert(k, v);
            }
        }
    }
    Ok(())
}

fn active_profiles(opts: &LoadOptions, env: &IndexMap<String, String>) -> Vec<String> {
    let mut p: Vec<String> = opts.profiles.clone();
    if p.is_empty() {
        if let Some(v) = env.get("COMPOSE_PROFILES") {
            p.extend(
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
            );
        }
    }
    p
}

fn project_name(
    ctx: &mut Ctx,
    opts: &LoadOptions,
    parsed: &[(String, Option<Value>)],
    working_dir: &Path,
) -> Result<String, LoadError> {
    let imperative = opts
        .project_name
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            ctx.env
                .get("COMPOSE_PROJECT_NAME")
                .cloned()
                .filter(|s| !s.is_empty())
        });
    if let Some(n) = imperative {
        if normalize_project_name(&n) != n {
            return Err(LoadError::invalid(format!(
                "invalid project name {n:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
            )));
        }
        return Ok(n);
    }
    let mut from_file = String::new();
    for (_, v) in parsed {
        if let Some(Value::Object(m)) = v {
            if let Some(Value::String(n)) = m.get("name") {
                if !n.is_empty() {
                    from_file = n.clone();
                }
            }
        }
    }
    if opts.interpolate && !from_file.is_empty() {
        let env = &ctx.env;
        from_file =
            interp::substitute(&from_file, &|k: &str| env.get(k).cloned()).map_err(|_| {
                LoadError::Interpolation {
                    file: String::new(),
                    line: None,
                    column: None,
                    message: format!("invalid interpolation format for name: {from_file:?}"),
                }
            })?;
    }
    let from_file = normalize_project_name(&from_file);
    if !from_file.is_empty() {
        return Ok(from_file);
    }
    let base = working_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = normalize_project_name(&base);
    if n.is_empty() {
        return Err(LoadError::invalid("project name must not be empty"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
