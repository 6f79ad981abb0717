//! The Dockerfile language: [`parse`] turns a Dockerfile's text into [`Dockerfile`], a list of
//! build stages, each a `FROM` and its instructions.
//!
//! Words are kept as written: quotes, escapes and `$VAR`/`${VAR:-x}` are left for
//! [`expand`], because their meaning depends on the ARG and ENV values in force at each
//! instruction, which only the executor knows. Exec forms (`["a", "b"]`) are decoded here:
//! Docker never expands inside them for RUN/CMD/ENTRYPOINT.

pub mod expand;
mod parser;

pub use parser::parse;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`# escape=` directive; `\` by default).
    pub escape: char,
    /// The `# syntax=` directive, if any (berth has one frontend; it is recorded, not used).
    pub syntax: Option<String>,
    /// ARG instructions before the first FROM: usable in FROM lines, and in a stage only
    /// after that stage declares the ARG again without a value.
    pub global_args: Vec<Located<Vec<ArgDecl>>>,
    pub stages: Vec<Stage>,
}

/// An item and where it was written: 1-based line of the instruction's first line, and the
/// instruction as written on one line (continuations joined) for history and progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub line: usize,
    pub text: String,
    pub value: T,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `FROM [--platform=P] IMAGE [AS NAME]`.
    pub from: Located<From>,
    pub instructions: Vec<Located<Instruction>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image word, unexpanded (ARGs of the global scope may appear in it).
    pub image: String,
    /// `AS name`, lowercased as Docker does.
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// A command: shell form (run by the stage's SHELL) or exec form (argv as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

/// `ARG NAME[=default]`, one per name (an ARG line may declare several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// The default, unexpanded.
    pub default: Option<String>,
}

/// A here-document (`RUN <<EOF`, `COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word without quotes or `-`: the file name for COPY.
    pub name: String,
    /// The body, without the delimiter line; tabs already stripped for `<<-`.
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`): no expansion in the body.
    pub expand: bool,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    /// Sources, unexpanded; for a heredoc source, its name.
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from=stage|index|image`.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    /// ADD only: `--checksum=`, `--keep-git-dir`.
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    /// `--exclude=` patterns (Dockerfile 1.7 labs; parsed, refused by the executor).
    pub exclude: Vec<String>,
    /// COPY only: `--parents` (Dockerfile 1.7 labs; parsed, refused by the executor).
    pub parents: bool,
    pub heredocs: Vec<Heredoc>,
}

impl CopySpec {
    /// The here-document a source names (`COPY <<EOF /dest` has the source `EOF`), if it
    /// is one.
    pub fn heredoc(&self, source: &str) -> Option<&Heredoc> {
        self.heredocs.iter().find(|h| h.name == source)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `CMD ["a"]` is `Exec`, `CMD a b` (CMD-SHELL) is `Shell`.
    pub test: Command,
    /// Durations as written (`30s`, `1m30s`), unexpanded.
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run {
        command: Command,
        /// `--mount=...` values as written; `--network=`, `--security=`.
        mounts: Vec<String>,
        network: Option<String>,
        security: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(Command),
    Entrypoint(Command),
    /// Key/value pairs, values unexpanded (both `ENV k=v k2=v2` and legacy `ENV k v`).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Workdir(String),
    Copy(CopySpec),
    Add(CopySpec),
    User(String),
    /// Words as written (`80/tcp`, `$PORT`).
    Expose(Vec<String>),
    /// Paths (from JSON or words).
    Volume(Vec<String>),
    /// None for `HEALTHCHECK NONE`.
    Healthcheck(Option<Health>),
    Shell(Vec<String>),
    Stopsignal(String),
    /// The trigger instruction's text, checked to be a valid instruction (not ONBUILD, FROM
    /// or MAINTAINER) and stored as written, as Docker stores it.
    Onbuild(String),
    Maintainer(String),
}

impl Instruction {
    /// The keyword, upper case, as `image history` and progress print it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run { .. } => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Env(_) => "ENV",
            Instruction::Label(_) => "LABEL",
            Instruction::Arg(_) => "ARG",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::User(_) => "USER",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
            Instruction::Stopsignal(_) => "STOPSIGNAL",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// Why a Dockerfile was refused: names the file and line, as the stack-file loader does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}
