//! `.dockerignore`: which files of a build context are left out. (Being written.)

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<String>,
}

impl Ignore {
    /// Parses the file's text (comments, blank lines, `!` exceptions, leading `/` and `./`
    /// cleaned as Docker does).
    pub fn parse(text: &str) -> Ignore {
        Ignore {
            patterns: text.lines().map(str::to_string).collect(),
        }
    }

    /// True when `path` (relative to the context, `/`-separated, no leading `/`) is left
    /// out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let _ = (path, &self.patterns);
        todo!("Ignore::excludes")
    }
}
