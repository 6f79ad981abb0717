//! Docker's word expansion for Dockerfile instructions: quote removal, escapes and
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` (and the `-`/`+` forms without colon).
//! (Being written.)

/// Why a word could not be expanded (an unterminated quote or `${`, a bad modifier).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// Expands one word: quotes removed, variables from `lookup` substituted. `escape` is the
/// Dockerfile's escape character.
pub fn word(
    text: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let _ = (text, escape, lookup);
    todo!("expand::word")
}

/// Expands and splits into words at unquoted white space (EXPOSE, VOLUME, USER forms that
/// take several words), as Docker's ProcessWords.
pub fn words(
    text: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    let _ = (text, escape, lookup);
    todo!("expand::words")
}
