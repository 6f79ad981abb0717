//! `--security-opt` / Compose's `security_opt`, as Docker reads them: `seccomp=unconfined|
//! builtin|<profile JSON>` (the CLI reads a profile file and sends its content, as Docker's
//! does: [`inline_profiles`]), `no-new-privileges[=|:true|false]`, `systempaths=unconfined`
//! (no masked or read-only /proc and /sys paths), and the SELinux `label` and `apparmor`
//! options, which are accepted with a warning because berth applies neither.

use crate::seccomp;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Seccomp {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A profile in Docker's JSON format.
    Profile(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityOptions {
    pub seccomp: Seccomp,
    pub no_new_privileges: bool,
    /// `systempaths=unconfined`: Docker's masked and read-only paths are left as they are.
    pub unconfined_paths: bool,
    /// Options accepted but not acted on, one message each.
    pub warnings: Vec<String>,
}

impl SecurityOptions {
    /// Parses the options with Docker's rules and messages (`invalid --security-opt N: "…"`).
    pub fn parse(opts: &[String]) -> Result<SecurityOptions, String> {
        let mut out = SecurityOptions::default();
        for opt in opts {
            if opt == "no-new-privileges" {
                out.no_new_privileges = true;
                continue;
            }
            if opt == "disable" {
                out.warnings.push(ignored_label());
                continue;
            }
            // `=` is the separator; Docker still reads the old `:` (seccomp:unconfined).
            let (key, value) = opt
                .split_once('=')
                .or_else(|| opt.split_once(':'))
                .ok_or_else(|| format!("invalid --security-opt 1: {opt:?}"))?;
            match key {
                "seccomp" => {
                    out.seccomp = match value {
                        "unconfined" => Seccomp::Unconfined,
                        "" | "builtin" => Seccomp::Default,
                        json => Seccomp::Profile(json.to_string()),
                    }
                }
                "no-new-privileges" => {
                    out.no_new_privileges = parse_bool(value)
                        .ok_or_else(|| format!("invalid --security-opt 2: {opt:?}"))?
                }
                "systempaths" if value == "unconfined" => out.unconfined_paths = true,
                "label" => out.warnings.push(ignored_label()),
                "apparmor" => out.warnings.push(format!(
                    "security option {opt:?} is ignored: berth does not apply AppArmor profiles{}",
                    if apparmor_enabled() {
                        ""
                    } else {
                        " (and this host has AppArmor off)"
                    }
                )),
                _ => return Err(format!("invalid --security-opt 2: {opt:?}")),
            }
        }
        Ok(out)
    }

    /// Whether a container with these options runs under a seccomp filter: not when
    /// privileged (as Docker) or unconfined.
    pub fn is_filtered(&self, privileged: bool) -> bool {
        !privileged && self.seccomp != Seccomp::Unconfined
    }

    /// The filter a container with these options and `capabilities` gets: none when
    /// privileged (as Docker) or unconfined.
    pub fn seccomp_program(
        &self,
        privileged: bool,
        capabilities: &[String],
    ) -> Result<Option<seccomp::Program>, seccomp::SeccompError> {
        if !self.is_filtered(privileged) {
            return Ok(None);
        }
        seccomp::compile(self.custom_profile(), capabilities).map(Some)
    }

    /// [`SecurityOptions::seccomp_program`] without compiling: None when the program is not
    /// cached yet.
    pub fn cached_seccomp_program(
        &self,
        privileged: bool,
        capabilities: &[String],
    ) -> Option<Option<seccomp::Program>> {
        if !self.is_filtered(privileged) {
            return Some(None);
        }
        seccomp::cached(self.custom_profile(), capabilities).map(Some)
    }

    fn custom_profile(&self) -> Option<&str> {
        match &self.seccomp {
            Seccomp::Profile(json) => Some(json.as_str()),
            _ => None,
        }
    }
}

/// Replaces `seccomp=FILE` (or `seccomp:FILE`) with `seccomp=<the file's JSON>`, a relative
/// FILE taken from `base`, as Docker's CLI and Compose do before anything reaches the daemon.
pub fn inline_profiles(opts: &[String], base: &std::path::Path) -> Result<Vec<String>, String> {
    opts.iter()
        .map(|opt| {
            let file = opt
                .strip_prefix("seccomp=")
                .or_else(|| opt.strip_prefix("seccomp:"))
                .filter(|v| !matches!(*v, "unconfined" | "builtin" | "") && !v.starts_with('{'));
            let Some(file) = file else {
                return Ok(opt.clone());
            };
            let text = std::fs::read_to_string(base.join(file))
                .map_err(|e| format!("opening seccomp profile ({file}) failed: {e}"))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("compacting json for seccomp profile ({file}) failed: {e}"))?;
            Ok(format!("seccomp={json}"))
        })
        .collect()
}

fn ignored_label() -> String {
    "SELinux label options are ignored: berth does not apply SELinux labels".to_string()
}

/// Go's strconv.ParseBool, which Docker uses.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(opts: &[&str]) -> Result<SecurityOptions, String> {
        SecurityOptions::parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn docker_s_forms_parse() {
        assert_eq!(parse(&[]).unwrap(), SecurityOptions::default());
        assert!(parse(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(
            parse(&["no-new-privileges=true"])
                .unwrap()
                .no_new_privileges
        );
        assert!(
            parse(&["no-new-privileges:true"])
                .unwrap()
                .no_new_privileges
        );
        assert!(
            !parse(&["no-new-privileges", "no-new-privileges=false"])
                .unwrap()
                .no_new_privileges
        );
        assert_eq!(
            parse(&["seccomp=unconfined"]).unwrap().seccomp,
            Seccomp::Unconfined
        );
        assert_eq!(
            parse(&["seccomp:unconfined"]).unwrap().seccomp,
            Seccomp::Unconfined
        );
        assert_eq!(
            parse(&["seccomp=builtin"]).unwrap().seccomp,
            Seccomp::Default
        );
        assert_eq!(
            parse(&["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"])
                .unwrap()
                .seccomp,
            Seccomp::Profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}".into())
        );
        let warned = parse(&["label=disable", "apparmor=unconfined"]).unwrap();
        assert_eq!(warned.warnings.len(), 2);
    }

    #[test]
    fn bad_options_get_docker_s_errors() {
        assert_eq!(
            parse(&["bogus"]).unwrap_err(),
            "invalid --security-opt 1: \"bogus\""
        );
        assert_eq!(
            parse(&["foo=bar"]).unwrap_err(),
            "invalid --security-opt 2: \"foo=bar\""
        );
        assert_eq!(
            parse(&["no-new-privileges=maybe"]).unwrap_err(),
            "invalid --security-opt 2: \"no-new-privileges=maybe\""
        );
    }

    #[test]
    fn profile_files_are_read_into_the_option() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("p.json"),
            "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n",
        )
        .unwrap();
        let opts: Vec<String> = ["seccomp=p.json", "seccomp:unconfined", "no-new-privileges"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            inline_profiles(&opts, dir.path()).unwrap(),
            [
                "seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}",
                "seccomp:unconfined",
                "no-new-privileges"
            ]
        );
        let err = inline_profiles(&["seccomp=missing.json".into()], dir.path()).unwrap_err();
        assert!(
            err.starts_with("opening seccomp profile (missing.json) failed"),
            "{err}"
        );
        assert!(parse(&["systempaths=unconfined"]).unwrap().unconfined_paths);
    }

    #[test]
    fn privileged_and_unconfined_get_no_filter() {
        let caps = vec!["CAP_CHOWN".to_string()];
        let default = parse(&[]).unwrap();
        assert!(default.seccomp_program(true, &caps).unwrap().is_none());
        assert!(default.seccomp_program(false, &caps).unwrap().is_some());
        let unconfined = parse(&["seccomp=unconfined"]).unwrap();
        assert!(unconfined.seccomp_program(false, &caps).unwrap().is_none());
        let bad = parse(&["seccomp={"]).unwrap();
        assert!(bad.seccomp_program(false, &caps).is_err());
    }
}
