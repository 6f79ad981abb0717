//! cgroups v1, v2 and hybrid layouts behind one interface.

/// Puts `pid` into the container cgroup `parent/name` (placeholder until the manager lands).
pub fn join(_parent: &str, _name: &str, _pid: i32) -> Result<(), String> {
    Ok(())
}
