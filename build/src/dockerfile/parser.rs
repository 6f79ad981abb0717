//! Text to [`super::Dockerfile`]. (Being written.)
use super::{Dockerfile, ParseError};

/// Parses `text`; `file` names the Dockerfile in errors.
pub fn parse(text: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let _ = (text, file);
    todo!("dockerfile parser")
}
