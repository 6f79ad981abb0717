//! `.dockerignore`: which files of a build context are left out, with Docker's rules
//! (docker/cli's dockerignore.ReadAll and moby/patternmatcher's MatchesOrParentMatches):
//!
//! - a line starting with `#` is a comment; blank lines are skipped; patterns are trimmed,
//!   cleaned like Go's `filepath.Clean`, and a leading `/` is dropped (patterns are relative
//!   to the context root, and match the whole path, not a base name anywhere);
//! - `*` is any run of characters but `/`, `?` one character but `/`, `[a-z]`/`[^a]` a
//!   class, `\` escapes, `**` any number of directories (also none);
//! - a pattern that matches a directory excludes everything below it;
//! - `!pattern` re-includes; the last pattern that matches a path decides.
//!
//! What this module does not decide: Docker always sends the Dockerfile and the
//! `.dockerignore` file themselves even when a pattern excludes them (the builder needs
//! them; they are just not visible to COPY/ADD), and the context walker does that. The
//! walker may skip a whole excluded directory unless [`Ignore::may_include_under`] says an
//! exception could re-include something below it; when it does descend, the excluded
//! directory is not sent itself, only re-included files (with their parent directories).

/// A parsed `.dockerignore` (or a list of `COPY --exclude` patterns).
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

/// A pattern Docker would refuse (`[` without `]`, a trailing `\`, a lone `!`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct IgnoreError {
    /// 1-based line of `.dockerignore` (or index in the pattern list, from 1).
    pub line: usize,
    pub message: String,
}

impl Ignore {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Ignore, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            // As ReadAll: `#` only counts as a comment in the first column.
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (invert, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let mut cleaned = if body.is_empty() {
                String::new()
            } else {
                clean(body)
            };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let pattern = if invert {
                format!("!{cleaned}")
            } else {
                cleaned
            };
            if let Some(p) = Pattern::new(&pattern, i + 1)? {
                patterns.push(p);
            }
        }
        Ok(Ignore { patterns })
    }

    /// Patterns given as a list (`COPY --exclude=...`), same matching rules.
    pub fn from_patterns<S: AsRef<str>>(
        list: impl IntoIterator<Item = S>,
    ) -> Result<Ignore, IgnoreError> {
        let mut patterns = Vec::new();
        for (i, p) in list.into_iter().enumerate() {
            if let Some(p) = Pattern::new(p.as_ref(), i + 1)? {
                patterns.push(p);
            }
        }
        Ok(Ignore { patterns })
    }

    /// True when there is no pattern at all (nothing is ever excluded).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when `path` (relative to the context, `/`-separated, no leading `/` or `./`)
    /// is left out of the context: the last pattern matching it or one of its parent
    /// directories decides.
    pub fn excludes(&self, path: &str) -> bool {
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for pattern in &self.patterns {
            // An exclusion pattern only matters once the path is excluded, and an
            // inclusion pattern only while it is not.
            if pattern.exception != matched {
                continue;
            }
            let mut hit = pattern.matches(path);
            if !hit {
                // Does it match a parent directory (`a`, `a/b`, ... of `a/b/c`)?
                let mut prefix_len = 0;
                for (n, part) in parents.iter().enumerate() {
                    prefix_len += part.len() + usize::from(n > 0);
                    if pattern.matches(&path[..prefix_len]) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !pattern.exception;
            }
        }
        matched
    }

    /// For an excluded directory `dir` (as in [`Ignore::excludes`]): false when no `!`
    /// exception could re-include anything below it, so the walker can skip it whole, as
    /// Docker does. True means "maybe": walk it and ask [`Ignore::excludes`] per entry.
    pub fn may_include_under(&self, dir: &str) -> bool {
        let below = format!("{dir}/");
        let below: Vec<char> = below.chars().collect();
        self.patterns.iter().filter(|p| p.exception).any(|p| {
            // `**…` can match anywhere (and `**foo` even matches `xfoo`): assume yes.
            p.cleaned.starts_with("**")
                || matches(&p.tokens, &below, true)
                // Matching the directory or one of its parents re-includes it, which
                // the walker should not have skipped for: be safe and say yes.
                || std::iter::successors(Some(dir), |d| d.rfind('/').map(|i| &d[..i]))
                    .any(|d| p.matches(d))
        })
    }
}

/// Go's `filepath.Clean` on `/`-separated paths, lexically.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// How patternmatcher decides a match: plain string tests where the pattern allows, else
/// its regular expression (here: `tokens`). The string tests are not always what the
/// regular expression would say (`**foo` is "ends with foo"), so they are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Tokens,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Char(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any run of characters but `/`.
    Star,
    /// `**` followed by more: `(.*/)?`, any number of whole directories.
    Dirs,
    /// `**` at the end: `.*`.
    Rest,
    /// `[...]`, passed to the regular expression as written.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone)]
struct Pattern {
    exception: bool,
    cleaned: String,
    kind: Kind,
    tokens: Vec<Token>,
}

impl Pattern {
    /// patternmatcher.New for one pattern; `None` for an empty one.
    fn new(pattern: &str, line: usize) -> Result<Option<Pattern>, IgnoreError> {
        let error = |message: &str| IgnoreError {
            line,
            message: message.to_string(),
        };
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Ok(None);
        }
        let pattern = clean(pattern);
        let (exception, body) = match pattern.strip_prefix('!') {
            Some("") => return Err(error("illegal exclusion pattern: \"!\"")),
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        let (kind, tokens) = compile(body).ok_or_else(|| error("syntax error in pattern"))?;
        Ok(Some(Pattern {
            exception,
            cleaned: body.to_string(),
            kind,
            tokens,
        }))
    }

    fn matches(&self, path: &str) -> bool {
        let p = &self.cleaned;
        match self.kind {
            Kind::Exact => path == p,
            Kind::Prefix => path.starts_with(&p[..p.len() - 2]),
            Kind::Suffix => {
                let suffix = &p[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/') == Some(path)
            }
            Kind::Tokens => {
                let chars: Vec<char> = path.chars().collect();
                matches(&self.tokens, &chars, false)
            }
        }
    }
}

/// Translates a pattern as patternmatcher's compile does; `None` for a pattern Go's
/// `filepath.Match` calls malformed.
fn compile(pattern: &str) -> Option<(Kind, Vec<Token>)> {
    let mut kind = Kind::Exact;
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                chars.next_if_eq(&'/');
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        kind = Kind::Tokens;
                    }
                    tokens.push(Token::Rest);
                } else {
                    kind = Kind::Tokens;
                    tokens.push(Token::Dirs);
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                kind = Kind::Tokens;
                tokens.push(Token::Star);
            }
            '?' => {
                kind = Kind::Tokens;
                tokens.push(Token::One);
            }
            '\\' => {
                // filepath.Match refuses a trailing backslash.
                tokens.push(Token::Char(chars.next()?));
                kind = Kind::Tokens;
            }
            '[' => {
                kind = Kind::Tokens;
                tokens.push(class(&mut chars)?);
            }
            ']' => {
                // A stray `]` is literal for both Go's matcher and its regexp.
                kind = Kind::Tokens;
                tokens.push(Token::Char(']'));
            }
            c => tokens.push(Token::Char(c)),
        }
        first = false;
    }
    Some((kind, tokens))
}

/// The inside of `[...]`, the `[` consumed: `^` negates, `a-z` ranges, `\` escapes; an
/// empty or unterminated class, or a range starting with `-`, is malformed.
fn class(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<Token> {
    let negated = chars.next_if_eq(&'^').is_some();
    let mut ranges = Vec::new();
    let literal = |chars: &mut std::iter::Peekable<std::str::Chars>| match chars.next()? {
        '-' | ']' => None,
        '\\' => chars.next(),
        c => Some(c),
    };
    loop {
        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
            return Some(Token::Class { negated, ranges });
        }
        let lo = literal(chars)?;
        let hi = if chars.next_if_eq(&'-').is_some() {
            literal(chars)?
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
}

/// Whether `tokens` match all of `s`; with `partial`, whether they match some string that
/// starts with `s` (used to ask "could anything below this directory match").
fn matches(tokens: &[Token], s: &[char], partial: bool) -> bool {
    if partial && s.is_empty() {
        return true;
    }
    let Some((token, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    let one = |ok: bool| ok && matches(rest, &s[1..], partial);
    match token {
        Token::Char(c) => !s.is_empty() && one(s[0] == *c),
        Token::One => !s.is_empty() && one(s[0] != '/'),
        Token::Class { negated, ranges } => {
            !s.is_empty()
                && one(ranges.iter().any(|&(lo, hi)| lo <= s[0] && s[0] <= hi) != *negated)
        }
        Token::Star => (0..=s.len())
            .take_while(|&k| k == 0 || s[k - 1] != '/')
            .any(|k| matches(rest, &s[k..], partial)),
        Token::Dirs => {
            matches(rest, s, partial)
                || (0..s.len()).any(|k| s[k] == '/' && matches(rest, &s[k + 1..], partial))
        }
        // Go's `.` does not match a newline.
        Token::Rest => partial || !s.contains(&'\n'),
    }
}

#[cfg(test)]
#[path = "ignore_tests.rs"]
mod tests;
