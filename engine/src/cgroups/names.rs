//! Validation of the cgroup names callers pass in.

use super::error::{CgroupError, Result};

/// A parent may be nested ("berth/stack"), but every segment must be a plain name: the
/// cgroup path is joined onto each hierarchy root, and ".." or an absolute path would escape.
pub fn validate_parent(parent: &str) -> Result<()> {
    if parent.is_empty() {
        return Err(CgroupError::InvalidName {
            name: parent.to_string(),
            reason: "empty",
        });
    }
    parent
        .split('/')
        .try_for_each(validate_segment)
        .map_err(|_| CgroupError::InvalidName {
            name: parent.to_string(),
            reason: "each path segment must be a plain name",
        })
}

pub fn validate_segment(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name == "." || name == ".." {
        "a relative path component"
    } else if name.contains('/') || name.contains('\0') {
        "contains a slash or NUL"
    } else if name.contains('\n') {
        // cgroup paths are printed one per line in /proc/<pid>/cgroup
        "contains a newline"
    } else {
        return Ok(());
    };
    Err(CgroupError::InvalidName {
        name: name.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_nested_names_pass() {
        validate_parent("berth").unwrap();
        validate_parent("berth/stack-1").unwrap();
        validate_segment("web-1").unwrap();
    }

    #[test]
    fn escaping_names_fail_with_a_reason() {
        let err = validate_segment("a\nb").unwrap_err().to_string();
        assert_eq!(err, "invalid cgroup name \"a\\nb\": contains a newline");
        let err = validate_parent("berth/../etc").unwrap_err().to_string();
        assert!(
            err.ends_with("each path segment must be a plain name"),
            "{err}"
        );
    }
}
