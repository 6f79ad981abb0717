//! Flags the parser knows but this builder does not honour. Each would change what an
//! image holds or how a step runs, so none is dropped silently: those that would make a
//! different image are refused before any step runs, with the instruction's line; a cache
//! mount, which only makes a RUN faster, is run without and warned about.

use super::BuildError;
use crate::dockerfile::{Instruction, Stage};

/// Checks the stages a build runs. Ok holds the warnings: (line, message).
pub fn check<'a>(
    stages: impl Iterator<Item = &'a Stage>,
) -> Result<Vec<(usize, String)>, BuildError> {
    let mut warnings = Vec::new();
    for i in stages.flat_map(|s| &s.instructions) {
        let refuse = |what: String| {
            Err(BuildError::at(
                i.line,
                format!("{what} is not supported yet"),
            ))
        };
        match &i.value {
            Instruction::Run {
                mounts, security, ..
            } => {
                for m in mounts {
                    // BuildKit's default mount type is bind.
                    let kind = m
                        .split(',')
                        .find_map(|kv| kv.strip_prefix("type="))
                        .unwrap_or("bind");
                    if kind != "cache" {
                        return refuse(format!("RUN --mount=type={kind}"));
                    }
                    warnings.push((
                        i.line,
                        "RUN --mount=type=cache is not supported yet: the step runs without \
                         it, and what it writes there stays in the layer"
                            .to_string(),
                    ));
                }
                if let Some(s) = security.as_deref().filter(|s| *s != "sandbox") {
                    return refuse(format!("RUN --security={s}"));
                }
            }
            Instruction::Copy(spec) | Instruction::Add(spec) => {
                let keyword = i.value.keyword();
                if spec.parents {
                    return refuse(format!("{keyword} --parents"));
                }
                if !spec.exclude.is_empty() {
                    return refuse(format!("{keyword} --exclude"));
                }
            }
            _ => {}
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::dockerfile::parse;

    /// Warnings (line, message), or the error's line and message.
    type Checked = Result<Vec<(usize, String)>, (Option<usize>, String)>;

    fn run(text: &str) -> Checked {
        let f = parse(text, "Dockerfile").unwrap();
        check(f.stages.iter()).map_err(|e| (e.line, e.message))
    }

    #[test]
    fn flags_that_change_the_image_are_refused_with_their_line() {
        let base = "FROM scratch\nCOPY a /a\n";
        for (line, want) in [
            (
                "RUN --mount=target=/src make",
                "RUN --mount=type=bind is not supported yet",
            ),
            (
                "RUN --mount=type=secret,id=t cat /run/secrets/t",
                "RUN --mount=type=secret",
            ),
            (
                "RUN --security=insecure make",
                "RUN --security=insecure is not supported yet",
            ),
            (
                "COPY --parents a/b /c/",
                "COPY --parents is not supported yet",
            ),
            (
                "ADD --exclude=*.md . /c/",
                "ADD --exclude is not supported yet",
            ),
        ] {
            let err = run(&format!("{base}{line}\n")).unwrap_err();
            assert_eq!(err.0, Some(3), "{line}");
            assert!(err.1.starts_with(want), "{line}: {}", err.1);
        }
    }

    #[test]
    fn a_cache_mount_is_a_warning_and_harmless_flags_pass() {
        let warnings = run(
            "FROM scratch\nRUN --mount=type=cache,target=/root/.cache --security=sandbox --network=none make\nCOPY --link a /a\n",
        )
        .unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].0, 2);
        assert!(warnings[0]
            .1
            .starts_with("RUN --mount=type=cache is not supported yet"));
    }
}
