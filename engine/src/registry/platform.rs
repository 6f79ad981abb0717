//! The platform a pull selects from an image index (manifest list): this host's by default
//! (linux/amd64 here), or a service's `platform:`.

use std::fmt;

use super::RegistryError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// This host's platform in OCI terms (Go's GOOS/GOARCH names).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: (architecture == "arm64").then(|| "v8".to_string()),
        }
    }

    /// Parses `os/arch[/variant]` (as `docker pull --platform` and Compose's `platform:`).
    pub fn parse(s: &str) -> Result<Platform, RegistryError> {
        let bad = || RegistryError::InvalidPlatform {
            platform: s.to_string(),
        };
        let parts: Vec<&str> = s.trim().split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, v] => (*os, *arch, Some(v.to_string())),
            _ => return Err(bad()),
        };
        let architecture = match arch.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            a => a.to_string(),
        };
        Ok(Platform {
            os: os.to_ascii_lowercase(),
            architecture,
            variant,
        })
    }

    /// Whether an index entry's `platform` object fits: os and architecture equal, and the
    /// variant equal when both name one (arm64's `v8` is often left out).
    pub(crate) fn matches(&self, p: &serde_json::Value) -> bool {
        let os = p["os"].as_str().unwrap_or("");
        let arch = p["architecture"].as_str().unwrap_or("");
        let variant = p["variant"].as_str();
        os == self.os
            && arch == self.architecture
            && match (&self.variant, variant) {
                (Some(want), Some(got)) => want == got,
                _ => true,
            }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The digest of the manifest in `index` for `platform`: the first match in index order, as
/// Docker (an entry without a platform never matches).
pub(crate) fn select(index: &serde_json::Value, platform: &Platform) -> Option<String> {
    index["manifests"]
        .as_array()?
        .iter()
        .find(|m| platform.matches(&m["platform"]))
        .and_then(|m| m["digest"].as_str().map(String::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_the_platform_from_an_index() {
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "amd64"}},
        ]});
        let amd64 = Platform::parse("linux/amd64").unwrap();
        assert_eq!(select(&index, &amd64).as_deref(), Some("sha256:b"));
        let arm = Platform::parse("linux/arm64").unwrap();
        assert_eq!(select(&index, &arm).as_deref(), Some("sha256:a"));
        let s390 = Platform::parse("linux/s390x").unwrap();
        assert_eq!(select(&index, &s390), None);
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
    }
}
