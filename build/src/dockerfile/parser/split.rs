//! Splitting an instruction's text the ways BuildKit's line parsers do: the keyword and
//! its `--flags`, words with quotes kept, and the JSON array form.

/// `KEYWORD [--flag...] rest` → (keyword, flag words, rest). Flags are the leading words
/// that start with `--` (quotes and escapes removed from them); `--` alone ends them.
pub(super) fn command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let line = line.trim();
    let (keyword, rest) = match line.find(is_blank) {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    let (flags, rest) = flags(rest, escape);
    (keyword.to_string(), flags, rest.trim().to_string())
}

/// White space as Go's `[\t\v\f\r ]` of the line splitter.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

fn flags(line: &str, escape: char) -> (Vec<String>, &str) {
    let mut words = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        // Between words: stop at the first word that does not start with `--`.
        while chars.next_if(|&(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return (words, "");
        };
        if !line[start..].starts_with("--") {
            return (words, &line[start..]);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        let mut ended_by_space = None;
        while let Some((i, c)) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    ended_by_space = Some(i);
                    break;
                }
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    blank_ok = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == escape => {
                    // The escape character takes the next character literally; at the
                    // very end it is dropped.
                    if let Some((_, n)) = chars.next() {
                        word.push(n);
                    }
                }
                _ => word.push(c),
            }
        }
        if word == "--" {
            let rest = ended_by_space.map_or("", |i| &line[i..]);
            return (words, rest);
        }
        if blank_ok || !word.is_empty() {
            words.push(word);
        }
        if ended_by_space.is_none() {
            return (words, "");
        }
    }
}

/// Words separated by white space, quotes and escapes kept in them (a quoted space does
/// not split): Docker's parseWords, for ENV, LABEL and ARG.
pub(super) fn words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if quote.is_none() && !in_word {
            if c.is_whitespace() {
                continue;
            }
            in_word = true;
        }
        match quote {
            None if c.is_whitespace() => {
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
                blank_ok = false;
                continue;
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                // Single quotes cannot escape anything.
                if c == escape && q != '\'' && c != q {
                    if chars.peek().is_none() {
                        quote = None;
                        continue;
                    }
                    word.push(c);
                    word.push(chars.next().unwrap_or(c));
                    continue;
                }
                word.push(c);
                continue;
            }
        }
        if c == escape {
            match chars.next() {
                // An escape at the very end is dropped.
                None => continue,
                Some(n) => {
                    // Kept with the escaped character, even a quote.
                    word.push(c);
                    word.push(n);
                    continue;
                }
            }
        }
        word.push(c);
    }
    if blank_ok || !word.is_empty() {
        words.push(word);
    }
    words
}

/// Docker's reWhitespace split, no quote awareness (FROM, EXPOSE, COPY, VOLUME words).
pub(super) fn fields(rest: &str) -> Vec<String> {
    rest.split(is_blank)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The JSON form: `Ok(Some(args))` when `rest` starts with a JSON array of strings,
/// `Ok(None)` when it is no JSON array (then it is the shell form), an error when it is an
/// array with other things than strings. Text after the array is ignored, as Go's JSON
/// decoder does.
pub(super) fn json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let first = serde_json::Deserializer::from_str(rest)
        .into_iter::<serde_json::Value>()
        .next();
    let Some(Ok(serde_json::Value::Array(items))) = first else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(
                "when using JSON array syntax, arrays must be comprised of strings only"
                    .to_string(),
            ),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_and_flags() {
        let (k, f, r) = command("  COPY --from=build --chown=\"a b\" src /dst  ", '\\');
        assert_eq!(
            (k.as_str(), f, r.as_str()),
            ("COPY", s(&["--from=build", "--chown=a b"]), "src /dst")
        );
        let (_, f, r) = command("RUN --network=none -- --not-a-flag", '\\');
        assert_eq!((f, r.as_str()), (s(&["--network=none"]), "--not-a-flag"));
        let (_, f, r) = command("RUN --link", '\\');
        assert_eq!((f, r.as_str()), (s(&["--link"]), ""));
        let (k, f, r) = command("CMD", '\\');
        assert_eq!((k.as_str(), f.len(), r.as_str()), ("CMD", 0, ""));
        let (_, f, r) = command("RUN -x --y", '\\');
        assert_eq!((f.len(), r.as_str()), (0, "-x --y"));
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            words(
                r#"MY_NAME="John Doe" MY_DOG=Rex\ The\ Dog   MY_CAT=fluffy"#,
                '\\'
            ),
            s(&[
                r#"MY_NAME="John Doe""#,
                r"MY_DOG=Rex\ The\ Dog",
                "MY_CAT=fluffy"
            ])
        );
        assert_eq!(words(r#"a='x y' b"#, '\\'), s(&["a='x y'", "b"]));
        assert_eq!(words(r#"a="x \" y""#, '\\'), s(&[r#"a="x \" y""#]));
        assert_eq!(words(r#""""#, '\\'), s(&[r#""""#]));
        assert_eq!(words("  ", '\\'), s(&[]));
        assert_eq!(words(r"a\", '\\'), s(&["a"]));
    }

    #[test]
    fn json_forms() {
        assert_eq!(json(r#"["a", "b c"]"#), Ok(Some(s(&["a", "b c"]))));
        assert_eq!(json(r#" [] "#), Ok(Some(vec![])));
        assert_eq!(json(r#"["a"] trailing"#), Ok(Some(s(&["a"]))));
        assert_eq!(json("echo [x]"), Ok(None));
        assert_eq!(json("['a']"), Ok(None));
        assert_eq!(json(r#"["a""#), Ok(None));
        assert!(json("[1, 2]").is_err());
    }
}
