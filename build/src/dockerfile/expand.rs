//! Docker's word expansion for Dockerfile instructions: quote removal, escapes and
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`, `${VAR:?message}` (and the forms
//! without colon, which test "unset" instead of "unset or empty"), and the pattern forms
//! `${VAR#p}`, `${VAR##p}`, `${VAR%p}`, `${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}`.
//!
//! This follows BuildKit's shell lexer (frontend/dockerfile/shell/lex.go), which is not a
//! POSIX shell: no command substitution, no globbing, no tilde; single quotes are literal,
//! inside double quotes the escape character only escapes `"`, `$` and itself, outside
//! quotes it escapes anything (and vanishes at the end of the word); an unset variable
//! expands to nothing.
//!
//! The executor calls [`word`] or [`words`] per instruction with the ARG/ENV values in force
//! there. To learn which variables an instruction used (the cache key needs the ARG values
//! it depended on), let `lookup` record the names it is asked for.

/// Why a word could not be expanded (an unterminated quote or `${`, a bad modifier, a
/// `${VAR:?}` on an unset variable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// Expands one word: quotes removed, variables from `lookup` substituted, white space kept
/// (`ENV`, `WORKDIR`, `COPY` sources: Docker's ProcessWord). `escape` is the Dockerfile's
/// escape character.
pub fn word(
    text: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    Ok(Lexer::new(text, Options::new(escape), lookup).run(text)?.0)
}

/// Expands and splits into words at unquoted white space, as Docker's ProcessWords:
/// white space inside quotes is kept, white space from a variable's value splits, and a
/// word that is empty after expansion (`""`, an unset `$X`) is dropped.
pub fn words(
    text: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    Ok(Lexer::new(text, Options::new(escape), lookup).run(text)?.1)
}

/// Expands a here-document body whose delimiter was not quoted (`COPY <<EOF`): `$VAR` and
/// `${...}` are substituted and `\` escapes the next character, but quotes are literal text,
/// as BuildKit does for heredoc files. (A RUN heredoc is the shell's to expand, not ours.)
pub fn heredoc(body: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let options = Options {
        skip_quotes: true,
        ..Options::new('\\')
    };
    Ok(Lexer::new(body, options, lookup).run(body)?.0)
}

/// The lexer's switches; the non-default ones serve the parser's heredoc detection, which
/// needs the words of a line with quotes and escapes left in and `$VAR`s untouched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub escape: char,
    /// Keep quote characters in the output (still honouring their grouping).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave `$VAR` of an unset variable as written instead of expanding to nothing.
    pub skip_unset: bool,
    /// Quotes are ordinary characters.
    pub skip_quotes: bool,
}

impl Options {
    pub(crate) fn new(escape: char) -> Options {
        Options {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
            skip_quotes: false,
        }
    }
}

/// Words of `text` under `options`, for the parser.
pub(crate) fn words_with(
    text: &str,
    options: Options,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    Ok(Lexer::new(text, options, lookup).run(text)?.1)
}

/// Collects the words of ProcessWords: characters coming from quotes or escapes never
/// split, characters coming from a variable's value split at white space.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    options: Options,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

fn err<T>(message: impl Into<String>) -> Result<T, ExpandError> {
    Err(ExpandError(message.into()))
}

impl<'a> Lexer<'a> {
    fn new(text: &str, options: Options, lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            options,
            lookup,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// The whole text: the word (ProcessWord) and the words (ProcessWords).
    fn run(mut self, source: &str) -> Result<(String, Vec<String>), ExpandError> {
        let raw = self.options.raw_escapes;
        self.until(None, raw)
            .map_err(|e| ExpandError(format!("failed to process {source:?}: {}", e.0)))
    }

    /// Reads up to `stop` (consumed) or the end; an absent `stop` is an error.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            let quoted = match ch {
                '\'' if !self.options.skip_quotes => Some(self.single_quoted()?),
                '"' if !self.options.skip_quotes => Some(self.double_quoted()?),
                _ => None,
            };
            if let Some(text) = quoted {
                result.push_str(&text);
                words.add_raw_string(&text);
                continue;
            }
            if ch == '$' {
                let text = self.dollar()?;
                result.push_str(&text);
                words.add_string(&text);
                continue;
            }
            self.pos += 1;
            if ch == self.options.escape {
                if raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                // The escape character escapes anything, and is dropped at the end.
                let Some(escaped) = self.next() else { break };
                words.add_raw_char(escaped);
                result.push(escaped);
            } else {
                words.add_char(ch);
                result.push(ch);
            }
        }
        match stop {
            Some(c) => err(format!(
                "unexpected end of statement while looking for matching {c}"
            )),
            None => Ok((result, words.finish())),
        }
    }

    /// `'...'`: everything literal, no escapes at all.
    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        let open = self.next().unwrap_or('\'');
        if self.options.raw_quotes {
            out.push(open);
        }
        loop {
            match self.next() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching single-quote",
                    )
                }
                Some('\'') => {
                    if self.options.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// `"..."`: variables expand; the escape character escapes only `"`, `$` and itself,
    /// elsewhere it stays as written.
    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        let open = self.next().unwrap_or('"');
        if self.options.raw_quotes {
            out.push(open);
        }
        loop {
            match self.peek() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching double-quote",
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if self.options.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.options.escape {
                        if self.options.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            // An escape just before the end: dropped; the loop then
                            // reports the missing quote.
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.options.escape => {
                                self.pos += 1;
                                ch = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn getenv(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// `$NAME`, `${NAME}` and `${NAME<modifier>word}`; the `$` is the current character.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.getenv(&name) {
                Some(v) => v,
                None if self.options.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return err("syntax error: missing '}'"),
            Some('{' | '}' | ':') => return err("syntax error: bad substitution"),
            Some(_) => {}
        }
        let name = self.name();
        let Some(mut op) = self.next() else {
            return err("syntax error: missing '}'");
        };
        if op == '}' {
            return Ok(match self.getenv(&name) {
                Some(v) => v,
                None if self.options.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            });
        }
        let mut modifier = op.to_string();
        let null_is_unset = op == ':';
        if null_is_unset {
            match self.next() {
                Some(c) => {
                    op = c;
                    modifier.push(c);
                }
                None => return err("syntax error: missing '}'"),
            }
        }
        if op == '/' && !null_is_unset {
            return self.replace(&name);
        }
        // (`${V:#p}` is `${V#p}` in BuildKit: the colon changes nothing there.)
        if !matches!(op, '-' | '+' | '?' | '#' | '%') {
            return err(format!("unsupported modifier ({modifier}) in substitution"));
        }
        if op == '#' || op == '%' {
            // Patterns keep their escapes: `\*` is a literal star for the matcher.
            let word = match self.until(Some('}'), true) {
                Ok((w, _)) => w,
                Err(_) if self.peek().is_none() => return err("syntax error: missing '}'"),
                Err(e) => return Err(e),
            };
            let Some(value) = self.getenv(&name) else {
                if self.options.skip_unset {
                    return Ok(format!("${{{name}{modifier}{word}}}"));
                }
                return Ok(String::new());
            };
            let (longest, pattern) = match word.strip_prefix(op) {
                Some(p) => (true, p),
                None => (false, word.as_str()),
            };
            return Ok(trim(&value, pattern, op == '#', longest));
        }
        // The word after the modifier is itself expanded (nested `${...}`, quotes).
        let word = match self.until(Some('}'), false) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return err("syntax error: missing '}'"),
            Err(e) => return Err(e),
        };
        let value = self.getenv(&name);
        if self.options.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let empty = null_is_unset && value.as_deref() == Some("");
        Ok(match op {
            '-' => match value {
                Some(v) if !empty => v,
                _ => word,
            },
            '+' => match value {
                Some(_) if !empty => word,
                _ => String::new(),
            },
            _ => match value {
                None => {
                    let m = if word.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &word
                    };
                    return err(format!("{name}: {m}"));
                }
                Some(_) if empty => {
                    let m = if word.is_empty() {
                        "is not allowed to be empty"
                    } else {
                        &word
                    };
                    return err(format!("{name}: {m}"));
                }
                Some(v) => v,
            },
        })
    }

    /// `${NAME/pattern/replacement}` (first match) and `${NAME//pattern/replacement}`
    /// (every match), the `/` after the name consumed.
    fn replace(&mut self, name: &str) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = match self.until(Some('/'), true) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return err("syntax error: missing '/' in ${}"),
            Err(e) => return Err(e),
        };
        let replacement = match self.until(Some('}'), true) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return err("syntax error: missing '}'"),
            Err(e) => return Err(e),
        };
        let value: Vec<char> = self.getenv(name).unwrap_or_default().chars().collect();
        let pattern: Vec<char> = pattern.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i <= value.len() {
            // Leftmost, then longest match, as the greedy regular expression BuildKit uses.
            let hit = (i..=value.len())
                .rev()
                .find(|&j| j > i && glob(&pattern, &value[i..j]));
            match hit {
                Some(j) => {
                    out.push_str(&replacement);
                    i = j;
                    if !all {
                        out.extend(&value[i..]);
                        return Ok(out);
                    }
                }
                None => {
                    if let Some(&c) = value.get(i) {
                        out.push(c);
                    }
                    i += 1;
                }
            }
        }
        Ok(out)
    }

    /// A variable name: letters, digits and `_`; or a run of digits (positional); or one
    /// special parameter character (`$@`, `$*`, `$#`, `$?`, `$-`, `$$`, `$!`).
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !(ch.is_alphanumeric() || ch == '_') {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

/// `${V#p}` / `${V##p}` (from the front) and `${V%p}` / `${V%%p}` (from the back): the
/// shortest, or with `longest` the longest, part matching the shell pattern is removed.
fn trim(value: &str, pattern: &str, front: bool, longest: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let n = chars.len();
    let mut lengths: Vec<usize> = (0..=n).collect();
    if longest {
        lengths.reverse();
    }
    for k in lengths {
        let (part, kept) = if front {
            (&chars[..k], &chars[k..])
        } else {
            (&chars[n - k..], &chars[..n - k])
        };
        if glob(&pattern, part) {
            return kept.iter().collect();
        }
    }
    value.to_string()
}

/// Shell pattern matching of all of `s`: `*` any run (`/` too), `?` one character,
/// `[...]` a class (`!` or `^` negates), `\` makes the next character literal.
fn glob(p: &[char], s: &[char]) -> bool {
    let Some((&c, rest)) = p.split_first() else {
        return s.is_empty();
    };
    match c {
        '*' => (0..=s.len()).any(|k| glob(rest, &s[k..])),
        '?' => !s.is_empty() && glob(rest, &s[1..]),
        '\\' if !rest.is_empty() => !s.is_empty() && s[0] == rest[0] && glob(&rest[1..], &s[1..]),
        '[' => match class(rest, s.first().copied()) {
            Some((true, after)) => glob(after, &s[1..]),
            Some((false, _)) => false,
            // No closing `]`: a literal `[`.
            None => s.first() == Some(&'[') && glob(rest, &s[1..]),
        },
        c => s.first() == Some(&c) && glob(rest, &s[1..]),
    }
}

/// Matches `ch` against the class starting at `p` (after `[`): whether it matched and
/// the pattern after `]`; `None` when the class is not closed.
fn class(p: &[char], ch: Option<char>) -> Option<(bool, &[char])> {
    let (negated, mut i) = match p.first() {
        Some('!' | '^') => (true, 1),
        _ => (false, 0),
    };
    let mut hit = false;
    let start = i;
    loop {
        let c = *p.get(i)?;
        if c == ']' && i > start {
            let ok = ch.is_some() && hit != negated;
            return Some((ok, &p[i + 1..]));
        }
        let lo = if c == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            c
        };
        let mut hi = lo;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&c| c != ']') {
            hi = p[i + 2];
            i += 2;
        }
        hit |= ch.is_some_and(|ch| lo <= ch && ch <= hi);
        i += 1;
    }
}

#[cfg(test)]
#[path = "expand_tests.rs"]
mod tests;
