//! Docker's seccomp profile format (`docker run --security-opt seccomp=PROFILE.json`), and the
//! selection Docker makes from it for one container: only the rules whose `includes` hold and
//! whose `excludes` do not, for this machine's architecture, the container's capabilities and
//! the running kernel.

use super::SeccompError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    /// The errno of an `SCMP_ACT_ERRNO` default (EPERM when absent).
    #[serde(default, deserialize_with = "nullable")]
    pub default_errno_ret: Option<u32>,
    /// The architectures the filter accepts (the older form of `archMap`).
    #[serde(default, deserialize_with = "nullable")]
    pub architectures: Vec<String>,
    /// Per native architecture, the ones it also runs (x86_64: x86 and x32 binaries).
    #[serde(default, deserialize_with = "nullable")]
    pub arch_map: Vec<ArchEntry>,
    #[serde(default, deserialize_with = "nullable")]
    pub syscalls: Vec<SyscallRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchEntry {
    pub architecture: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sub_architectures: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    #[serde(default, deserialize_with = "nullable")]
    pub names: Vec<String>,
    /// The older single-name form.
    #[serde(default, deserialize_with = "nullable")]
    pub name: Option<String>,
    pub action: String,
    #[serde(default, deserialize_with = "nullable")]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<ArgCondition>,
    #[serde(default, deserialize_with = "nullable")]
    pub includes: Condition,
    #[serde(default, deserialize_with = "nullable")]
    pub excludes: Condition,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgCondition {
    pub index: u32,
    pub value: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub value_two: u64,
    pub op: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default, deserialize_with = "nullable")]
    pub caps: Vec<String>,
    /// Docker's architecture names: amd64, x86, x32, arm64, arm, s390x, ...
    #[serde(default, deserialize_with = "nullable")]
    pub arches: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub min_kernel: Option<String>,
}

/// Docker's profiles write `null` for an empty list or condition.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// What a rule is checked against.
pub struct Target<'a> {
    /// Docker's name of the architecture berth runs on (amd64, arm64, ...).
    pub arch: &'a str,
    /// The container's capabilities (CAP_*): Docker checks the bounding set, which is this.
    pub capabilities: &'a [String],
    /// The running kernel's (major, minor).
    pub kernel: (u32, u32),
}

impl Profile {
    pub fn parse(json: &str) -> Result<Profile, SeccompError> {
        let p: Profile = serde_json::from_str(json)
            .map_err(|e| SeccompError::Profile(format!("decoding seccomp profile failed: {e}")))?;
        if !p.architectures.is_empty() && !p.arch_map.is_empty() {
            return Err(SeccompError::Profile(
                "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".into(),
            ));
        }
        for rule in &p.syscalls {
            if rule.name.is_some() && !rule.names.is_empty() {
                return Err(SeccompError::Profile(
                    "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'".into(),
                ));
            }
        }
        Ok(p)
    }

    /// The libseccomp architecture names (SCMP_ARCH_*) the filter accepts on `native`.
    pub fn architectures(&self, native: &str) -> Vec<String> {
        if !self.architectures.is_empty() {
            return self.architectures.clone();
        }
        self.arch_map
            .iter()
            .find(|a| a.architecture == native)
            .map(|a| {
                let mut v = vec![a.architecture.clone()];
                v.extend(a.sub_architectures.iter().cloned());
                v
            })
            .unwrap_or_default()
    }

    /// The rules that apply to `target`, in the profile's order (Docker's setupSeccomp).
    pub fn rules_for<'p>(
        &'p self,
        target: &'p Target,
    ) -> Result<impl Iterator<Item = &'p SyscallRule> + 'p, SeccompError> {
        // Version strings are checked up front so a bad one is an error, not a skipped rule.
        for rule in &self.syscalls {
            for v in [&rule.includes.min_kernel, &rule.excludes.min_kernel]
                .into_iter()
                .flatten()
            {
                parse_kernel_version(v)?;
            }
        }
        Ok(self.syscalls.iter().filter(move |r| r.applies_to(target)))
    }
}

impl SyscallRule {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.name
            .iter()
            .chain(self.names.iter())
            .map(String::as_str)
    }

    fn applies_to(&self, t: &Target) -> bool {
        let has_cap = |c: &String| t.capabilities.iter().any(|have| have == c);
        let kernel_at_least = |v: &str| {
            parse_kernel_version(v)
                .map(|min| t.kernel >= min)
                .unwrap_or(false)
        };
        let ex = &self.excludes;
        if ex.arches.iter().any(|a| a == t.arch)
            || ex.caps.iter().any(has_cap)
            || ex.min_kernel.as_deref().is_some_and(kernel_at_least)
        {
            return false;
        }
        let inc = &self.includes;
        (inc.arches.is_empty() || inc.arches.iter().any(|a| a == t.arch))
            && inc.caps.iter().all(has_cap)
            && inc.min_kernel.as_deref().is_none_or(kernel_at_least)
    }
}

/// "4.8" or "5.10.1" -> (major, minor).
pub fn parse_kernel_version(v: &str) -> Result<(u32, u32), SeccompError> {
    let mut parts = v.trim().split('.');
    let num = |p: Option<&str>| p.and_then(|p| p.parse::<u32>().ok());
    match (num(parts.next()), num(parts.next())) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        (Some(major), None) if !v.contains('.') => Ok((major, 0)),
        _ => Err(SeccompError::Profile(format!(
            "invalid kernel version {v:?} in the seccomp profile"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> SyscallRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn includes_and_excludes_select_rules_as_docker_does() {
        let caps = vec!["CAP_CHOWN".to_string()];
        let t = Target {
            arch: "amd64",
            capabilities: &caps,
            kernel: (6, 1),
        };
        let plain = rule(r#"{"names":["read"],"action":"SCMP_ACT_ALLOW"}"#);
        assert!(plain.applies_to(&t));
        let admin = rule(
            r#"{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}"#,
        );
        assert!(!admin.applies_to(&t));
        let not_admin = rule(
            r#"{"names":["clone3"],"action":"SCMP_ACT_ERRNO","excludes":{"caps":["CAP_SYS_ADMIN"]}}"#,
        );
        assert!(not_admin.applies_to(&t));
        let s390 =
            rule(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["s390x"]}}"#);
        assert!(!s390.applies_to(&t));
        let new_kernel =
            rule(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"6.2"}}"#);
        assert!(!new_kernel.applies_to(&t));
        let old_kernel =
            rule(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}}"#);
        assert!(old_kernel.applies_to(&t));
    }

    #[test]
    fn bad_profiles_are_refused_with_docker_s_messages() {
        let err = Profile::parse("{").unwrap_err().to_string();
        assert!(err.contains("decoding seccomp profile failed"), "{err}");
        let both = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#;
        assert!(Profile::parse(both).is_err());
        assert!(parse_kernel_version("4.x").is_err());
        assert_eq!(parse_kernel_version("5.10.1").unwrap(), (5, 10));
    }
}
