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

mod canonical;
mod dotenv;
mod error;
mod interp;
mod merge;
pub mod model;
mod schema;
mod yaml;

pub use error::LoadError;
pub use model::{Project, Service};

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
    model::Project::from_model(dict, name, working_dir, ctx.read, ctx.env, opts.interpolate)
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

fn schema_err(ctx: &Ctx, file: &str, e: schema::SchemaError) -> LoadError {
    let (line, column) = ctx.position(file, &e.path);
    LoadError::Schema {
        file: file.to_string(),
        line,
        column,
        message: e.message,
    }
}

fn interp_err(ctx: &Ctx, file: &str, e: interp::InterpError) -> LoadError {
    let (line, column) = ctx.position(file, &e.path);
    LoadError::Interpolation {
        file: file.to_string(),
        line,
        column,
        message: e.message,
    }
}

/// Parses, interpolates and validates one file's model (no include/extends yet).
fn read_model(
    ctx: &mut Ctx,
    file: &str,
    text: &str,
) -> Result<Option<Map<String, Value>>, LoadError> {
    ctx.sources
        .entry(file.to_string())
        .or_insert_with(|| text.to_string());
    let v = yaml::parse(text, file)?;
    prepare_model(ctx, file, v)
}

/// Interpolates a parsed document and fills the reference's empty-section defaults.
fn prepare_model(
    ctx: &mut Ctx,
    file: &str,
    v: Option<Value>,
) -> Result<Option<Map<String, Value>>, LoadError> {
    let v = match v {
        None => return Ok(None),
        Some(v) => v,
    };
    let mut m = match v {
        Value::Object(m) => m,
        _ => {
            return Err(LoadError::Schema {
                file: file.into(),
                line: None,
                column: None,
                message: "top-level object must be a mapping".into(),
            })
        }
    };
    if ctx.opts.interpolate {
        let mut v = Value::Object(std::mem::take(&mut m));
        let env = ctx.env.clone();
        interp::interpolate_tree(&mut v, &mut vec![], &|k: &str| env.get(k).cloned())
            .map_err(|e| interp_err(ctx, file, e))?;
        if let Value::Object(x) = v {
            m = x;
        }
    }
    // empty values that the reference treats as absent
    for k in ["services", "networks", "volumes", "secrets", "configs"] {
        if matches!(m.get(k), Some(Value::Null)) {
            m.insert(k.into(), Value::Object(Map::new()));
        }
    }
    Ok(Some(m))
}

fn load_file(
    ctx: &mut Ctx,
    file: &str,
    text: &str,
    base: &Path,
    dict: &mut Map<String, Value>,
) -> Result<(), LoadError> {
    ctx.sources
        .entry(file.to_string())
        .or_insert_with(|| text.to_string());
    let v = yaml::parse(text, file)?;
    load_parsed(ctx, file, v, base, dict)
}

fn load_parsed(
    ctx: &mut Ctx,
    file: &str,
    v: Option<Value>,
    base: &Path,
    dict: &mut Map<String, Value>,
) -> Result<(), LoadError> {
    let Some(mut cfg) = prepare_model(ctx, file, v)? else {
        return Ok(());
    };
    schema::validate(&cfg).map_err(|e| schema_err(ctx, file, e))?;
    if ctx.include_stack.iter().any(|f| f == file) {
        let mut chain = ctx.include_stack.clone();
        chain.push(file.to_string());
        return Err(LoadError::invalid(format!(
            "include cycle detected:\n{}\n include {}",
            chain[0],
            chain[1..].join("\n include ")
        )));
    }
    ctx.include_stack.push(file.to_string());
    let r = apply_include(ctx, file, base, &mut cfg);
    ctx.include_stack.pop();
    r?;
    let file_dir = if file == "-" {
        base.to_path_buf()
    } else {
        Path::new(file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| base.to_path_buf())
    };
    apply_extends(ctx, file, &file_dir, &mut cfg)?;
    let merged = merge::merge(
        Value::Object(std::mem::take(dict)),
        Value::Object(cfg),
        &mut vec![],
    )
    .map_err(|e| LoadError::invalid(format!("{file}: {e}")))?;
    let mut merged = merged;
    yaml::strip_markers(&mut merged);
    merge::enforce_unicity(&mut merged, &mut vec![]);
    let Value::Object(mut m) = merged else {
        return Err(LoadError::invalid(format!(
            "{file}: top-level object must be a mapping"
        )));
    };
    schema::validate(&m).map_err(|e| schema_err(ctx, file, e))?;
    m.shift_remove("version");
    canonical::canonical(&mut m).map_err(|e| {
        // "services.NAME: message": point at the service in this file
        let service = e
            .strip_prefix("services.")
            .and_then(|r| r.split_once(": "))
            .map(|(n, _)| n.to_string());
        let (line, column) = match &service {
            Some(n) => ctx.position(file, &["services".to_string(), n.clone()]),
            None => (None, None),
        };
        LoadError::Schema {
            file: file.to_string(),
            line,
            column,
            message: e,
        }
    })?;
    omit_empty(&mut m);
    let mut v = Value::Object(m);
    merge::enforce_unicity(&mut v, &mut vec![]);
    if let Value::Object(m) = v {
        *dict = m;
    }
    Ok(())
}

/// Drops `""` values inside services and resources, as the reference does for absent keys.
fn omit_empty(m: &mut Map<String, Value>) {
    for k in ["services", "networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = m.get_mut(k) {
            for (_, item) in items.iter_mut() {
                if let Value::Object(x) = item {
                    omit_empty_rec(x, 0);
                }
            }
        }
    }
}

fn omit_empty_rec(m: &mut Map<String, Value>, depth: usize) {
    m.retain(|_, v| !matches!(v, Value::String(s) if s.is_empty()));
    if depth > 3 {
        return;
    }
    for (k, v) in m.iter_mut() {
        // user-defined key/value maps keep their empty values
        if matches!(
            k.as_str(),
            "environment"
                | "labels"
                | "args"
                | "annotations"
                | "driver_opts"
                | "options"
                | "sysctls"
                | "additional_contexts"
                | "extra_hosts"
        ) || k.starts_with("x-")
        {
            continue;
        }
        match v {
            Value::Object(x) => omit_empty_rec(x, depth + 1),
            Value::Array(a) => {
                for x in a.iter_mut() {
                    if let Value::Object(x) = x {
                        omit_empty_rec(x, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

fn apply_include(
    ctx: &mut Ctx,
    file: &str,
    base: &Path,
    cfg: &mut Map<String, Value>,
) -> Result<(), LoadError> {
    let Some(inc) = cfg.shift_remove("include") else {
        return Ok(());
    };
    let items = match inc {
        Value::Array(a) => a,
        Value::Null => vec![],
        _ => {
            return Err(LoadError::invalid(format!(
                "{file}: include must be a list"
            )))
        }
    };
    let file_dir = if file == "-" {
        base.to_path_buf()
    } else {
        Path::new(file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| base.to_path_buf())
    };
    for item in items {
        let (paths, project_dir, env_files): (Vec<String>, Option<String>, Option<Vec<String>>) =
            match item {
                Value::String(s) => (vec![s], None, None),
                Value::Object(m) => {
                    let paths = match m.get("path") {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(a)) => a
                            .iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect(),
                        _ => {
                            return Err(LoadError::invalid(format!(
                                "{file}: include requires a path"
                            )))
                        }
                    };
                    let pd = m
                        .get("project_directory")
                        .and_then(|x| x.as_str())
                        .map(str::to_string);
                    let ef = match m.get("env_file") {
                        Some(Value::String(s)) => Some(vec![s.clone()]),
                        Some(Value::Array(a)) => Some(
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect(),
                        ),
                        _ => None,
                    };
                    (paths, pd, ef)
                }
                _ => return Err(LoadError::invalid(format!("{file}: invalid include entry"))),
            };
        let abs: Vec<String> = paths
            .iter()
            .map(|p| canonical::abs_path(&file_dir, p))
            .collect();
        let Some(first) = abs.first().cloned() else {
            continue;
        };
        let sub_dir: PathBuf = match &project_dir {
            Some(d) => canonical::abs_path(&file_dir, d).into(),
            None => Path::new(&first)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| file_dir.clone()),
        };
        // environment of the included project: its env files (default: its .env) under ours
        let mut env = ctx.env.clone();
        let env_paths: Vec<(String, bool)> = match env_files {
            Some(l) => l
                .iter()
                .map(|p| (canonical::abs_path(&file_dir, p), true))
                .collect(),
            None => vec![(sub_dir.join(".env").to_string_lossy().into_owned(), false)],
        };
        for (p, required) in env_paths {
            let parsed = ctx
                .read_env_file(&p, required, false, &env)
                .map_err(|e| match e {
                    LoadError::EnvFile(m) if m.starts_with("env file") => {
                        LoadError::EnvFile(format!("{file}: include: {m}"))
                    }
                    other => other,
                })?;
            let Some(parsed) = parsed else { continue };
            for (k, v) in parsed {
                if !ctx.opts.environment.contains_key(&k) {
                    env.insert(k, v);
                }
            }
        }
        let saved_env = std::mem::replace(&mut ctx.env, env);
        let mut sub: Map<String, Value> = Map::new();
        let mut result = Ok(());
        for p in &abs {
            let text = match ctx.read_file(Path::new(p)) {
                Ok(t) => t,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            if let Err(e) = load_file(ctx, p, &text, &sub_dir, &mut sub) {
                result = Err(e);
                break;
            }
        }
        ctx.env = saved_env;
        result?;
        canonical::resolve_paths(&mut sub, &sub_dir);
        // merge the included model; a resource defined on both sides must be identical
        for (k, v) in sub {
            match (cfg.get_mut(&k), v) {
                (Some(Value::Object(existing)), Value::Object(items))
                    if matches!(
                        k.as_str(),
                        "services" | "networks" | "volumes" | "secrets" | "configs" | "models"
                    ) =>
                {
                    for (name, item) in items {
                        if let Some(cur) = existing.get(&name) {
                            if *cur != item {
                                return Err(LoadError::invalid(format!(
                                    "imported compose file {first} defines conflicting {} {name}",
                                    k.trim_end_matches('s')
                                )));
                            }
                        }
                        existing.insert(name, item);
                    }
                }
                (None, v) if k != "name" => {
                    cfg.insert(k, v);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn apply_extends(
    ctx: &mut Ctx,
    file: &str,
    file_dir: &Path,
    cfg: &mut Map<String, Value>,
) -> Result<(), LoadError> {
    let names: Vec<String> = match cfg.get("services") {
        Some(Value::Object(s)) => s.keys().cloned().collect(),
        _ => return Ok(()),
    };
    let mut cache: IndexMap<String, Map<String, Value>> = IndexMap::new();
    for name in names {
        let has_extends = cfg
            .get("services")
            .and_then(|s| s.get(&name))
            .map(|s| s.get("extends").is_some())
            .unwrap_or(false);
        if !has_extends {
            continue;
        }
        let mut chain = vec![(file.to_string(), name.clone())];
        let resolved = resolve_extends(ctx, file, file_dir, cfg, &name, &mut chain, &mut cache)?;
        if let Some(Value::Object(s)) = cfg.get_mut("services") {
            s.insert(name, Value::Object(resolved));
        }
    }
    Ok(())
}

/// Returns service `name` of `cfg` (file `file`) with its `extends` chain applied.
fn resolve_extends(
    ctx: &mut Ctx,
    file: &str,
    file_dir: &Path,
    cfg: &Map<String, Value>,
    name: &str,
    chain: &mut Vec<(String, String)>,
    cache: &mut IndexMap<String, Map<String, Value>>,
) -> Result<Map<String, Value>, LoadError> {
    let key = format!("{file}\u{0}{name}");
    if let Some(s) = cache.get(&key) {
        return Ok(s.clone());
    }
    let svc = match cfg.get("services").and_then(|s| s.get(name)) {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Null) => Map::new(),
        Some(_) => {
            return Err(LoadError::invalid(format!(
                "{file}: services.{name} must be a mapping"
            )))
        }
        None => {
            return Err(LoadError::invalid(format!(
                "cannot extend service {name:?} in {file}: service not found"
            )))
        }
    };
    let Some(ext) = svc.get("extends").cloned() else {
        return Ok(svc);
    };
    let (base_name, base_file) = match &ext {
        Value::String(s) => (s.clone(), None),
        Value::Object(m) => (
            m.get("service")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string(),
            m.get("file").and_then(|x| x.as_str()).map(str::to_string),
        ),
        _ => {
            return Err(LoadError::invalid(format!(
                "{file}: services.{name}.extends must be a string or object"
            )))
        }
    };
    if base_name.is_empty() {
        return Err(LoadError::invalid(format!(
            "{file}: services.{name}.extends.service is required"
        )));
    }
    let mut base: Map<String, Value>;
    let base_dir: PathBuf;
    match base_file {
        None => {
            let link = (file.to_string(), base_name.clone());
            if chain.contains(&link) {
                return Err(LoadError::invalid(format!(
                    "circular reference with extends: {}",
                    chain
                        .iter()
                        .map(|(f, s)| format!("{s} ({f})"))
                        .collect::<Vec<_>>()
                        .join(" -> ")
                )));
            }
            chain.push(link);
            base = resolve_extends(ctx, file, file_dir, cfg, &base_name, chain, cache)?;
            chain.pop();
            base_dir = file_dir.to_path_buf();
        }
        Some(f) => {
            let path = canonical::abs_path(file_dir, &f);
            let link = (path.clone(), base_name.clone());
            if chain.contains(&link) {
                return Err(LoadError::invalid(format!(
                    "circular reference with extends: {}",
                    chain
                        .iter()
                        .map(|(f, s)| format!("{s} ({f})"))
                        .collect::<Vec<_>>()
                        .join(" -> ")
                )));
            }
            let text = ctx.read_file(Path::new(&path))?;
            let other = read_model(ctx, &path, &text)?.unwrap_or_default();
            let other_dir = Path::new(&path)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| file_dir.to_path_buf());
            chain.push(link);
            let mut other_cache = IndexMap::new();
            base = resolve_extends(
                ctx,
                &path,
                &other_dir,
                &other,
                &base_name,
                chain,
                &mut other_cache,
            )?;
            chain.pop();
            base_dir = other_dir;
        }
    }
    // relative paths of the base are relative to the base's file
    if base_dir != file_dir {
        let mut tmp = Map::new();
        let mut services = Map::new();
        services.insert("x".into(), Value::Object(base));
        tmp.insert("services".into(), Value::Object(services));
        canonical::canonical(&mut tmp).map_err(LoadError::invalid)?;
        canonical::resolve_paths(&mut tmp, &base_dir);
        base = match tmp
            .get_mut("services")
            .and_then(|s| s.as_object_mut())
            .and_then(|s| s.shift_remove("x"))
        {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
    }
    base.shift_remove("extends");
    let mut over = svc.clone();
    over.shift_remove("extends");
    let mut path = vec!["services".to_string(), name.to_string()];
    let merged = merge::merge(Value::Object(base), Value::Object(over), &mut path)
        .map_err(|e| LoadError::invalid(format!("{file}: {e}")))?;
    let mut merged = match merged {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    yaml::strip_markers_map(&mut merged);
    cache.insert(key, merged.clone());
    Ok(merged)
}

/// The steps that run once on the merged model.
fn finish(
    ctx: &mut Ctx,
    mut dict: Map<String, Value>,
    name: &str,
    profiles: &[String],
) -> Result<Map<String, Value>, LoadError> {
    dict.shift_remove("include");
    dict.shift_remove("version");
    dict.insert("name".into(), Value::String(name.to_string()));
    if !dict.contains_key("services") {
        dict.insert("services".into(), Value::Object(Map::new()));
    }
    let env = ctx.env.clone();
    let mut services = match dict.shift_remove("services") {
        Some(Value::Object(s)) => s,
        _ => Map::new(),
    };
    // implicit dependencies, defaults
    for (_, svc) in services.iter_mut() {
        if svc.is_null() {
            *svc = Value::Object(Map::new());
        }
        let Value::Object(s) = svc else { continue };
        implicit_depends_on(s);
        for k in ["command", "entrypoint"] {
            if !s.contains_key(k) {
                s.insert(k.into(), Value::Null);
            }
        }
        if !s.contains_key("network_mode")
            && !s.contains_key("networks")
            && !s.contains_key("provider")
        {
            let mut n = Map::new();
            n.insert("default".into(), Value::Null);
            s.insert("networks".into(), Value::Object(n));
        }
    }
    check_cycles(&services).map_err(|(svc, msg)| ctx.service_error(&svc, msg))?;
    // profiles
    let enabled: Vec<String> = services
        .iter()
        .filter(|(_, s)| {
            let ps: Vec<&str> = s
                .get("profiles")
                .and_then(|p| p.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            ps.is_empty()
                || ps
                    .iter()
                    .any(|p| *p == "*" || profiles.iter().any(|q| q == p || q == "*"))
        })
        .map(|(n, _)| n.clone())
        .collect();
    services.retain(|n, _| enabled.contains(n));
    // dependencies on disabled services: drop optional ones, fail on required ones
    let names: Vec<String> = services.keys().cloned().collect();
    for (sname, svc) in services.iter_mut() {
        let Value::Object(s) = svc else { continue };
        if let Some(Value::Object(deps)) = s.get_mut("depends_on") {
            let mut bad = None;
            deps.retain(|d, v| {
                if names.contains(d) {
                    return true;
                }
                let required = v.get("required").and_then(|r| r.as_bool()).unwrap_or(true);
                if required {
                    bad = Some(d.clone());
                }
                // an optional dependency on a disabled service stays, as the reference shows it
                !required
            });
            if let Some(d) = bad {
                let msg = format!(
                    "service {sname:?} depends on undefined service {d:?}: invalid compose project"
                );
                return Err(ctx.service_error(sname, msg));
            }
        }
    }
    // environment resolution
    for (sname, svc) in services.iter_mut() {
        let Value::Object(s) = svc else { continue };
        resolve_environment(ctx, s, &env).map_err(|e| match e {
            LoadError::EnvFile(msg) => ctx.service_error(sname, msg),
            other => other,
        })?;
    }
    dict.insert("services".into(), Value::Object(services));
    // networks, volumes, secrets, configs: names
    let uses_default = dict
        .get("services")
        .and_then(|s| s.as_object())
        .map(|s| {
            s.values().any(|v| {
                v.get("networks")
                    .and_then(|n| n.as_object())
                    .map(|n| n.contains_key("default"))
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false);
    if uses_default {
        let nets = dict
            .entry("networks")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(n) = nets {
            if !n.contains_key("default") {
                n.insert("default".into(), Value::Object(Map::new()));
            }
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = dict.get_mut(kind) {
            for (key, item) in items.iter_mut() {
                if item.is_null() {
                    *item = Value::Object(Map::new());
                }
                let Value::Object(m) = item else { continue };
                let external = m.get("external").and_then(|e| e.as_bool()).unwrap_or(false);
                if !external && !m.contains_key("name") {
                    m.insert("name".into(), Value::String(format!("{name}_{key}")));
                }
                if kind == "networks" && !m.contains_key("ipam") {
                    m.insert("ipam".into(), Value::Object(Map::new()));
                }
            }
        }
    }
    check_consistency(&dict, &ctx.working_dir)
        .map_err(|(svc, msg)| ctx.service_error(&svc, msg))?;
    if ctx.opts.prune_unused {
        prune(&mut dict);
    }
    Ok(dict)
}

fn implicit_depends_on(s: &mut Map<String, Value>) {
    let mut add: Vec<(String, bool)> = Vec::new();
    if let Some(Value::Array(links)) = s.get("links") {
        for l in links.iter().filter_map(|x| x.as_str()) {
            let n = l.split(':').next().unwrap_or(l);
            add.push((n.to_string(), true));
        }
    }
    for k in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
        if let Some(Value::String(v)) = s.get(k) {
            if let Some(n) = v.strip_prefix("service:") {
                add.push((n.to_string(), true));
            }
        }
    }
    if let Some(Value::Array(vf)) = s.get("volumes_from") {
        for v in vf.iter().filter_map(|x| x.as_str()) {
            // The spec's form is `NAME[:MODE]`; `service:NAME[:MODE]` (Docker's long form)
            // names the service after its prefix.
            if !v.starts_with("container:") {
                let v = v.strip_prefix("service:").unwrap_or(v);
                add.push((v.split(':').next().unwrap_or(v).to_string(), false));
            }
        }
    }
    if add.is_empty() {
        return;
    }
    let deps = s
        .entry("depends_on")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(d) = deps {
        for (n, restart) in add {
            if n.is_empty() || d.contains_key(&n) {
                continue;
            }
            let mut m = Map::new();
            m.insert("condition".into(), Value::String("service_started".into()));
            if restart {
                m.insert("restart".into(), Value::Bool(true));
            }
            m.insert("required".into(), Value::Bool(true));
            d.insert(n, Value::Object(m));
        }
    }
}

fn check_cycles(services: &Map<String, Value>) -> Result<(), (String, String)> {
    // depth-first search with an explicit path, reporting the first cycle found
    fn deps(services: &Map<String, Value>, n: &str) -> Vec<String> {
        services
            .get(n)
            .and_then(|s| s.get("depends_on"))
            .and_then(|d| d.as_object())
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default()
    }
    let mut state: IndexMap<String, u8> = IndexMap::new(); // 1 = on stack, 2 = done
    let mut names: Vec<&String> = services.keys().collect();
    names.sort();
    for start in names {
        if state.get(start.as_str()).copied() == Some(2) {
            continue;
        }
        let mut stack: Vec<(String, Vec<String>, usize)> =
            vec![(start.clone(), deps(services, start), 0)];
        state.insert(start.clone(), 1);
        while let Some(top) = stack.last_mut() {
            if top.2 < top.1.len() {
                let next = top.1[top.2].clone();
                top.2 += 1;
                match state.get(&next).copied() {
                    Some(1) => {
                        let pos = stack.iter().position(|(n, _, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[pos..].iter().map(|(n, _, _)| n.clone()).collect();
                        cycle.push(next);
                        return Err((
                            cycle[0].clone(),
                            format!("dependency cycle detected: {}", cycle.join(" -> ")),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        if services.contains_key(&next) {
                            state.insert(next.clone(), 1);
                            let d = deps(services, &next);
                            stack.push((next, d, 0));
                        }
                    }
                }
            } else {
                state.insert(top.0.clone(), 2);
                stack.pop();
            }
        }
    }
    Ok(())
}

fn resolve_environment(
    ctx: &mut Ctx,
    s: &mut Map<String, Value>,
    env: &IndexMap<String, String>,
) -> Result<(), LoadError> {
    let mut out: Map<String, Value> = Map::new();
    if let Some(Value::Array(files)) = s.shift_remove("env_file") {
        for f in files {
            let (path, required, raw) = match &f {
                Value::Object(m) => (
                    m.get("path")
                        .and_then(|p| p.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    m.get("required").and_then(|r| r.as_bool()).unwrap_or(true),
                    m.get("format").and_then(|r| r.as_str()) == Some("raw"),
                ),
                Value::String(p) => (p.clone(), true, false),
                _ => continue,
            };
            let Some(parsed) = ctx.read_env_file(&path, required, raw, env)? else {
                continue;
            };
            for (k, v) in parsed {
                out.insert(k, Value::String(v));
            }
        }
    }
    // label_file: dotenv-format labels, overridden by explicit labels
    if let Some(Value::Array(files)) = s.shift_remove("label_file") {
        let mut labels: Map<String, Value> = Map::new();
        for f in files {
            let Some(path) = f.as_str().map(str::to_string) else {
                continue;
            };
            let pb = PathBuf::from(&path);
            if !pb.is_file() {
                return Err(LoadError::EnvFile(format!("label file {path} not found")));
            }
            let text = ctx.read_file(&pb)?;
            let parsed = dotenv::parse(&text, &|_: &str| None, false).map_err(|e| {
                LoadError::EnvFile(format!("failed to read label file {path}: {e}"))
            })?;
            for (k, v) in parsed {
                labels.insert(k, Value::String(v));
            }
        }
        if let Some(Value::Object(l)) = s.get("labels") {
            for (k, v) in l {
                labels.insert(k.clone(), v.clone());
            }
        }
        if !labels.is_empty() {
            s.insert("labels".into(), Value::Object(labels));
        }
    }
    if let Some(Value::Object(e)) = s.get("environment") {
        for (k, v) in e {
            let v = match v {
                Value::Null => env
                    .get(k)
                    .map(|x| Value::String(x.clone()))
                    .unwrap_or(Value::Null),
                other => other.clone(),
            };
            out.insert(k.clone(), v);
        }
    }
    if out.is_empty() {
        s.shift_remove("environment");
    } else {
        s.insert("environment".into(), Value::Object(out));
    }
    Ok(())
}

fn check_consistency(
    dict: &Map<String, Value>,
    working_dir: &Path,
) -> Result<(), (String, String)> {
    let empty = Map::new();
    let services = dict
        .get("services")
        .and_then(|s| s.as_object())
        .unwrap_or(&empty);
    let defined = |kind: &str, n: &str| -> bool {
        dict.get(kind)
            .and_then(|x| x.as_object())
            .map(|m| m.contains_key(n))
            .unwrap_or(false)
    };
    for (name, s) in services {
        let has_image = s.get("image").map(|i| !i.is_null()).unwrap_or(false);
        let has_build = s.get("build").map(|b| !b.is_null()).unwrap_or(false);
        let has_provider = s.get("provider").is_some();
        if !has_image && !has_build && !has_provider {
            return Err((name.clone(), format!(
                "service {name:?} has neither an image nor a build context specified: invalid compose project"
            )));
        }
        if let Some(Value::Object(nets)) = s.get("networks") {
            for n in nets.keys() {
                if n != "default" && !defined("networks", n) {
                    return Err((
                        name.clone(),
                        format!(
                        "service {name:?} refers to undefined network {n}: invalid compose project"
                    ),
                    ));
                }
            }
        }
        if let Some(Value::Array(vols)) = s.get("volumes") {
            for v in vols {
                if v.get("type").and_then(|t| t.as_str()) == Some("volume") {
                    if let Some(src) = v.get("source").and_then(|x| x.as_str()) {
                        if !src.is_empty() && !defined("volumes", src) {
                            return Err((name.clone(), format!(
                                "service {name:?} refers to undefined volume {src}: invalid compose project"
                            )));
                        }
                    }
                }
            }
        }
        for kind in ["secrets", "configs"] {
            if let Some(Value::Array(items)) = s.get(kind) {
                for it in items {
                    if let Some(src) = it.get("source").and_then(|x| x.as_str()) {
                        if !defined(kind, src) {
                            return Err((name.clone(), format!(
                                "service {name:?} refers to undefined {} {src}: invalid compose project",
                                kind.trim_end_matches('s')
                            )));
                        }
                    }
                }
            }
        }
        // `build.ssh: [id=path]`: the key file must exist, a build could not use it otherwise
        // (the reference cannot even print such an entry as JSON)
        if let Some(Value::Array(keys)) = s.get("build").and_then(|b| b.get("ssh")) {
            for k in keys.iter().filter_map(|k| k.as_str()) {
                if let Some((id, path)) = k.split_once('=') {
                    let full = canonical::abs_path(working_dir, path);
                    if !Path::new(&full).exists() {
                        return Err((
                            name.clone(),
                            format!(
                                "service {name:?}: build.ssh key {id:?}: file {full} not found"
                            ),
                        ));
                    }
                }
            }
        }
        if let (Some(Value::String(p)), Some(Value::Array(bp))) = (
            s.get("platform"),
            s.get("build").and_then(|b| b.get("platforms")),
        ) {
            if !bp.iter().any(|x| x.as_str() == Some(p.as_str())) {
                return Err((name.clone(), format!(
                    "service.build.platforms MUST include service.platform {p:?}: invalid compose project"
                )));
            }
        }
    }
    Ok(())
}

fn prune(dict: &mut Map<String, Value>) {
    let mut used: IndexMap<&str, Vec<String>> = IndexMap::new();
    for k in ["networks", "volumes", "secrets", "configs", "models"] {
        used.insert(k, vec![]);
    }
    if let Some(Value::Object(services)) = dict.get("services") {
        for s in services.values() {
            if let Some(Value::Object(n)) = s.get("networks") {
                used["networks"].extend(n.keys().cloned());
            }
            if let Some(Value::Array(v)) = s.get("volumes") {
                for x in v {
                    if x.get("type").and_then(|t| t.as_str()) == Some("volume") {
                        if let Some(src) = x.get("source").and_then(|t| t.as_str()) {
                            used["volumes"].push(src.to_string());
                        }
                    }
                }
            }
            for kind in ["secrets", "configs"] {
                if let Some(Value::Array(v)) = s.get(kind) {
                    for x in v {
                        if let Some(src) = x.get("source").and_then(|t| t.as_str()) {
                            used[kind].push(src.to_string());
                        }
                    }
                }
            }
            if let Some(Value::Array(v)) = s.get("build").and_then(|b| b.get("secrets")) {
                for x in v {
                    if let Some(src) = x.get("source").and_then(|t| t.as_str()) {
                        used["secrets"].push(src.to_string());
                    }
                }
            }
            if let Some(Value::Object(m)) = s.get("models") {
                used["models"].extend(m.keys().cloned());
            }
        }
    }
    for (kind, names) in used {
        let remove = match dict.get_mut(kind) {
            Some(Value::Object(items)) => {
                items.retain(|k, _| names.contains(k));
                items.is_empty()
            }
            _ => false,
        };
        if remove {
            dict.shift_remove(kind);
        }
    }
}

#[cfg(test)]
mod tests;
