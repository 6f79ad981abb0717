//! Physical lines to logical instruction lines, as BuildKit's parser.Parse: parser
//! directives at the top, comments, the escape character as line continuation, and the
//! bodies of here-documents read after the line that opens them.

use super::heredoc::{self, Marker};

/// One instruction as written: continuations joined, heredoc bodies attached.
#[derive(Debug)]
pub(super) struct Logical {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// Docker's `original`: the first line without leading white space, each continuation
    /// line appended without its escape character (and white space after it).
    pub text: String,
    pub heredocs: Vec<Body>,
}

/// A heredoc marker with its body as read (tabs not yet stripped for `<<-`).
#[derive(Debug, Clone)]
pub(super) struct Body {
    pub marker: Marker,
    pub raw: String,
}

#[derive(Debug)]
pub(super) struct Source {
    pub escape: char,
    pub syntax: Option<String>,
    pub lines: Vec<Logical>,
    /// How many physical lines the file has (where "file with no instructions" points).
    pub total: usize,
}

/// A line-located failure; the caller adds the file name.
pub(super) type LineError = (usize, String);

/// Splits `text` into logical lines.
pub(super) fn read(text: &str) -> Result<Source, LineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let physical: Vec<&str> = text.split_inclusive('\n').collect();
    let mut directives = Directives::default();
    let mut lines = Vec::new();
    let mut i = 0;
    while i < physical.len() {
        let first = trim_newline(physical[i]).trim_start();
        i += 1;
        directives.see(first, i)?;
        if is_comment(first) {
            continue;
        }
        let start = i;
        let escape = directives.escape;
        let (mut text, mut done) = trim_continuation(first, escape);
        if done && text.is_empty() {
            continue;
        }
        while !done && i < physical.len() {
            let raw = trim_newline(physical[i]);
            i += 1;
            directives.see(raw, i)?;
            // Comments and blank lines inside a continuation are skipped (Docker warns
            // about the blank ones but accepts them).
            if is_comment(raw) || raw.trim_start().is_empty() {
                continue;
            }
            let (more, end) = trim_continuation(raw, escape);
            text.push_str(&more);
            done = end;
        }
        let mut heredocs = Vec::new();
        if heredoc::allowed(&text) {
            let markers = heredoc::in_line(&text).map_err(|e| (start, e))?;
            for marker in markers {
                let mut raw = String::new();
                let mut terminated = false;
                while i < physical.len() {
                    let body_line = physical[i];
                    i += 1;
                    let mut candidate = trim_newline(body_line);
                    if marker.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == marker.name {
                        terminated = true;
                        break;
                    }
                    raw.push_str(body_line);
                }
                if !terminated {
                    return Err((start, "unterminated heredoc".into()));
                }
                heredocs.push(Body { marker, raw });
            }
        }
        lines.push(Logical {
            line: start,
            text,
            heredocs,
        });
    }
    Ok(Source {
        escape: directives.escape,
        syntax: directives.syntax,
        lines,
        total: physical.len(),
    })
}

fn trim_newline(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// A comment is a line whose first non-blank character is `#`.
fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing escape character (white space after it allowed) and says whether
/// the instruction ends on this line.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest.to_string(), false),
        None => (line.to_string(), true),
    }
}

/// Parser directives: `# key=value` lines at the very top. The first line that is not a
/// known directive (an instruction, a blank line, any other comment, an unknown
/// directive) ends them, as Docker documents.
struct Directives {
    done: bool,
    escape: char,
    syntax: Option<String>,
    seen: Vec<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            done: false,
            escape: '\\',
            syntax: None,
            seen: Vec::new(),
        }
    }
}

impl Directives {
    fn see(&mut self, line: &str, number: usize) -> Result<(), LineError> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err((
                number,
                format!("only one {key} parser directive can be used"),
            ));
        }
        self.seen.push(key.clone());
        match key.as_str() {
            "escape" => {
                self.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err((
                            number,
                            format!("invalid escape token '{value}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => self.syntax = Some(value.to_string()),
            // `# check=` configures BuildKit's linter, which berth does not have.
            _ => {}
        }
        Ok(())
    }
}

/// `#\s*key\s*=\s*value\s*` with key `[a-zA-Z][a-zA-Z0-9]*` and a non-empty value.
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, rest) = rest.split_at(key_len);
    let value = rest.trim_start().strip_prefix('=')?.trim();
    (!value.is_empty()).then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_syntax() {
        assert_eq!(directive("# escape=`"), Some(("escape", "`")));
        assert_eq!(
            directive("#\tdIrEcTiVe = value "),
            Some(("dIrEcTiVe", "value"))
        );
        assert_eq!(directive("# key="), None);
        assert_eq!(directive("# just a comment"), None);
        assert_eq!(directive("#!shebang"), None);
    }

    #[test]
    fn continuation_trims_trailing_blanks() {
        assert_eq!(
            trim_continuation("RUN a \\  \t", '\\'),
            ("RUN a ".into(), false)
        );
        assert_eq!(trim_continuation("RUN a", '\\'), ("RUN a".into(), true));
        assert_eq!(trim_continuation("RUN a `", '`'), ("RUN a ".into(), false));
    }
}
