//! A failed build as BuildKit reports it: the Dockerfile lines around the failing
//! instruction, marked, then `ERROR: failed to solve: ...`.

use crate::executor::BuildError;

/// The report for `err`, from the Dockerfile `name` with content `text`.
pub fn error_report(name: &str, text: &str, err: &BuildError) -> String {
    let mut out = String::new();
    if let Some(line) = err.line {
        let lines: Vec<&str> = text.lines().collect();
        let first = line.saturating_sub(2).max(1);
        let last = (line + 1).min(lines.len());
        out.push_str(&format!("{name}:{line}\n--------------------\n"));
        for n in first..=last {
            let mark = if n == line { ">>>" } else { "   " };
            out.push_str(&format!(
                "{n:>4} | {mark} {}\n",
                lines.get(n - 1).copied().unwrap_or("")
            ));
        }
        out.push_str("--------------------\n");
    }
    out.push_str(&format!("ERROR: failed to solve: {}\n", err.message));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_the_failing_line() {
        let err = BuildError {
            message: "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3"
                .into(),
            line: Some(2),
            exit_code: Some(3),
        };
        assert_eq!(
            error_report("Dockerfile", "FROM bb\nRUN exit 3\nCMD x\n", &err),
            "Dockerfile:2\n--------------------\n   1 |     FROM bb\n   2 | >>> RUN exit 3\n   3 |     CMD x\n--------------------\nERROR: failed to solve: process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3\n"
        );
    }
}
