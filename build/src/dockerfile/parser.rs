//! Text to [`super::Dockerfile`], in three passes: [`lines`] turns physical lines into
//! logical ones (directives, comments, continuations, heredoc bodies), [`instructions`]
//! parses each into an instruction, and [`parse`] groups them into stages.

mod heredoc;
mod instructions;
mod lines;
mod split;

use super::{Dockerfile, Located, ParseError, Stage};
use instructions::Parsed;

/// Parses `text`; `file` names the Dockerfile in errors (`file:line: message`, the line
/// being the 1-based first line of the offending instruction).
pub fn parse(text: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let error = |line: usize, message: String| ParseError {
        file: file.to_string(),
        line,
        message,
    };
    let source = lines::read(text).map_err(|(line, m)| error(line, m))?;
    if source.lines.is_empty() {
        return Err(error(
            source.total.max(1),
            "file with no instructions".into(),
        ));
    }
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for logical in &source.lines {
        let parsed = instructions::parse(&logical.text, &logical.heredocs, source.escape)
            .map_err(|m| error(logical.line, m))?;
        match parsed {
            Parsed::From(from) => stages.push(Stage {
                from: located(logical, from),
                instructions: Vec::new(),
            }),
            Parsed::Other(instruction) => match stages.last_mut() {
                Some(stage) => stage.instructions.push(located(logical, instruction)),
                None => match instruction {
                    super::Instruction::Arg(args) => global_args.push(located(logical, args)),
                    other => {
                        return Err(error(
                            logical.line,
                            format!(
                                "no build stage in current context ({} before the first FROM)",
                                other.keyword()
                            ),
                        ))
                    }
                },
            },
        }
    }
    if stages.is_empty() {
        let last = source.lines.last().map_or(1, |l| l.line);
        return Err(error(
            last,
            "no build stage in current context (no FROM)".into(),
        ));
    }
    Ok(Dockerfile {
        escape: source.escape,
        syntax: source.syntax,
        global_args,
        stages,
    })
}

/// Docker's `original` text with its line; trailing blanks dropped.
fn located<T>(logical: &lines::Logical, value: T) -> Located<T> {
    Located {
        line: logical.line,
        text: logical.text.trim().to_string(),
        value,
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
