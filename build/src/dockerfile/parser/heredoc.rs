//! Here-document markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) as BuildKit finds them:
//! any word of a RUN, COPY or ADD line (or an ONBUILD of one) that looks like a marker.

use crate::dockerfile::expand::{self, Options};

/// A marker word, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    /// The delimiter without quotes.
    pub name: String,
    /// `<<-`: leading tabs are stripped from the body and the closing line.
    pub chomp: bool,
    /// False when any part of the delimiter was quoted.
    pub expand: bool,
}

/// Whether the instruction on this line may carry heredocs.
pub(super) fn allowed(line: &str) -> bool {
    if !line.contains("<<") {
        return false;
    }
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or("").to_ascii_lowercase();
    let keyword = if first == "onbuild" {
        words.next().unwrap_or("").to_ascii_lowercase()
    } else {
        first
    };
    matches!(keyword.as_str(), "run" | "copy" | "add")
}

/// The markers on a line, in order. The line is split into words as the shell would
/// (quotes and escapes kept, variables untouched), so `"<<EOF"` in quotes is no marker;
/// a line the lexer cannot split (an open quote) simply has none, as in Docker.
pub(super) fn in_line(line: &str) -> Result<Vec<Marker>, String> {
    let options = Options {
        raw_quotes: true,
        raw_escapes: true,
        ..Options::new('\\')
    };
    let Ok(words) = expand::words_with(line, options, &|_| None) else {
        return Ok(Vec::new());
    };
    let mut markers = Vec::new();
    for word in words {
        if let Some(marker) = marker(&word)? {
            markers.push(marker);
        }
    }
    Ok(markers)
}

/// Decodes one word if it is a marker: `[digits]<<[-]delimiter`, the delimiter one
/// shell word without `<`.
pub(crate) fn marker(word: &str) -> Result<Option<Marker>, String> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    // Lex the delimiter with and without its quotes: if they differ in quote count, some
    // of it was quoted and the body is not to be expanded.
    let lex = |raw_quotes| {
        let options = Options {
            raw_quotes,
            skip_unset: true,
            ..Options::new('\\')
        };
        expand::words_with(rest, options, &|_| None).map_err(|e| e.0)
    };
    let plain = lex(false)?;
    if plain.len() != 1 {
        return Ok(None);
    }
    let raw = lex(true)?;
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let expand = raw.len() == 1 && quotes(&plain[0]) == quotes(&raw[0]);
    Ok(Some(Marker {
        name: plain[0].clone(),
        chomp,
        expand,
    }))
}

/// The body of a `<<-` heredoc: leading tabs removed from every line.
pub(super) fn chomp(body: &str) -> String {
    body.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, chomp: bool, expand: bool) -> Option<Marker> {
        Some(Marker {
            name: name.into(),
            chomp,
            expand,
        })
    }

    #[test]
    fn markers() {
        assert_eq!(marker("<<EOF").unwrap(), m("EOF", false, true));
        assert_eq!(marker("<<-EOF").unwrap(), m("EOF", true, true));
        assert_eq!(marker("<<\"EOF\"").unwrap(), m("EOF", false, false));
        assert_eq!(marker("<<'EOF'").unwrap(), m("EOF", false, false));
        assert_eq!(marker("<<E\"O\"F").unwrap(), m("EOF", false, false));
        assert_eq!(marker("3<<file").unwrap(), m("file", false, true));
        assert_eq!(marker("<<").unwrap(), None);
        assert_eq!(marker("a<<EOF").unwrap(), None);
        assert_eq!(marker("<<<EOF").unwrap(), None);
    }

    #[test]
    fn markers_on_a_line() {
        let names =
            |l: &str| -> Vec<String> { in_line(l).unwrap().into_iter().map(|m| m.name).collect() };
        assert_eq!(
            names("RUN <<FILE1 cat > file1 && <<FILE2 cat > file2"),
            ["FILE1", "FILE2"]
        );
        assert_eq!(names("RUN echo '<<EOF'"), Vec::<String>::new());
        assert_eq!(names("RUN python3 <<EOF"), ["EOF"]);
    }

    #[test]
    fn allowed_on() {
        assert!(allowed("RUN <<EOF"));
        assert!(allowed("copy <<EOF /x"));
        assert!(allowed("ONBUILD RUN <<EOF"));
        assert!(!allowed("ENV A=<<EOF"));
        assert!(!allowed("RUN echo hi"));
    }

    #[test]
    fn chomping() {
        assert_eq!(chomp("\t\techo hi\n\tdone\nx\t\n"), "echo hi\ndone\nx\t\n");
    }
}
