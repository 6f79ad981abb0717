//! Errors of the Compose loader.

use std::path::PathBuf;

/// Everything that can go wrong while turning stack files into a [`super::Project`].
///
/// Messages are lowercase without a trailing period; where a YAML position is known the
/// message starts with `file:line:col`.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No stack file was given and none of the default names exists.
    #[error("no configuration file provided: not found")]
    NoConfigFile,
    /// A file could not be read.
    #[error("open {}: {}", .path.display(), io_message(.error))]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The YAML itself is malformed.
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file parsed but does not follow the Compose schema.
    #[error("{}{message}", location(.file, .line, .column))]
    Schema {
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// `${VAR}` substitution failed (syntax or a required variable).
    #[error("{}{message}", location(.file, .line, .column))]
    Interpolation {
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// An env file is missing or malformed.
    #[error("{0}")]
    EnvFile(String),
    /// A service is inconsistent (dependency cycle, undefined reference, no image, ...);
    /// located at the file that defines it.
    #[error("{}{message}", location(.file, .line, .column))]
    Project {
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// The model is well formed but inconsistent (cycles, unknown references, ...).
    #[error("{0}")]
    Invalid(String),
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string().to_lowercase(),
    }
}

fn location(file: &str, line: &Option<usize>, column: &Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}: "),
        _ if !file.is_empty() => format!("{file}: "),
        _ => String::new(),
    }
}

impl LoadError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        LoadError::Invalid(msg.into())
    }
}
