//! Capability sets: Docker's default 14, and applying a set to the current process.

use caps::{CapSet, Capability, CapsHashSet};

/// A set of capabilities, as the runtime applies it.
pub type CapsSet = CapsHashSet;
use std::str::FromStr;

/// Docker's default capabilities (moby's oci/caps/defaults.go): CapEff 00000000a80425fb.
pub const DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Normalizes a user-given name (`net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN`) to `CAP_NET_ADMIN`.
pub fn normalize(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") || upper == "ALL" {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// The capability set for a container: the defaults (or all, when privileged), plus `add`,
/// minus `drop`, as `docker run --cap-add/--cap-drop` (ALL is accepted in both).
pub fn effective_set(
    privileged: bool,
    add: &[String],
    drop: &[String],
) -> Result<Vec<String>, String> {
    // "All" means all this host grants us: a capability outside our own bounding set can't be
    // given (capset fails), e.g. CAP_SYS_RESOURCE in a restricted sandbox.
    let available = caps::read(None, CapSet::Bounding).unwrap_or_else(|_| caps::all());
    let mut all: Vec<String> = available.iter().map(|c| c.to_string()).collect();
    all.sort();
    let mut set: Vec<String> = if privileged {
        all.clone()
    } else {
        DEFAULT.iter().map(|s| s.to_string()).collect()
    };
    for d in drop {
        let d = normalize(d);
        if d == "ALL" {
            set.clear();
        } else {
            Capability::from_str(&d).map_err(|_| format!("unknown capability to drop: {d}"))?;
            set.retain(|c| *c != d);
        }
    }
    for a in add {
        let a = normalize(a);
        if a == "ALL" {
            set = all.clone();
        } else {
            Capability::from_str(&a).map_err(|_| format!("unknown capability to add: {a}"))?;
            if !set.contains(&a) {
                set.push(a);
            }
        }
    }
    set.sort();
    Ok(set)
}

pub(crate) fn parse_set(names: &[String]) -> Result<CapsHashSet, String> {
    names
        .iter()
        .map(|n| Capability::from_str(n).map_err(|_| format!("unknown capability {n}")))
        .collect()
}

/// Drops every capability not in `keep` from the bounding set. Must run before the uid switch
/// while CAP_SETPCAP is still held.
pub(crate) fn limit_bounding(keep: &CapsHashSet) -> Result<(), String> {
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| format!("dropping {cap} from the bounding set: {e}"))?;
        }
    }
    Ok(())
}

/// Sets the permitted and effective sets after the uid switch. A non-root user gets none in
/// effect, as Docker does; inheritable and ambient stay empty (CVE-2022-24769).
pub(crate) fn apply_after_setuid(keep: &CapsHashSet, uid: u32) -> Result<(), String> {
    let granted = if uid == 0 {
        keep.clone()
    } else {
        CapsHashSet::new()
    };
    caps::clear(None, CapSet::Ambient).ok();
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .map_err(|e| format!("clearing inheritable capabilities: {e}"))?;
    caps::set(None, CapSet::Effective, &granted)
        .map_err(|e| format!("setting effective capabilities: {e}"))?;
    caps::set(None, CapSet::Permitted, &granted)
        .map_err(|e| format!("setting permitted capabilities: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_matches_docker_mask() {
        let set = parse_set(&effective_set(false, &[], &[]).unwrap()).unwrap();
        let mask: u64 = set.iter().map(|c| 1u64 << c.index()).sum();
        assert_eq!(mask, 0xa80425fb);
    }

    #[test]
    fn add_and_drop() {
        let set = effective_set(false, &["net_admin".into()], &["CHOWN".into()]).unwrap();
        assert!(set.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!set.contains(&"CAP_CHOWN".to_string()));
        assert!(effective_set(false, &[], &["ALL".into()])
            .unwrap()
            .is_empty());
        assert!(effective_set(false, &["bogus".into()], &[]).is_err());
    }
}
