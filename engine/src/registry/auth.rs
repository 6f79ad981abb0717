//! Registry credentials: berth's own file (written by `berth login`, mode 0600, in Docker's
//! `{"auths": {"host": {"auth": base64("user:pass")}}}` shape) first, then Docker's
//! `~/.docker/config.json`, so a machine already logged in with Docker needs nothing more.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::RegistryError;
use crate::fsutil;
use crate::image::reference::DEFAULT_DOMAIN;

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    // Never print a password into a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// The `Authorization: Basic` value.
    pub(crate) fn basic(&self) -> String {
        format!(
            "Basic {}",
            B64.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

impl AuthEntry {
    fn credential(&self) -> Option<Credential> {
        if let Some(a) = &self.auth {
            let raw = B64.decode(a.trim()).ok()?;
            let s = String::from_utf8(raw).ok()?;
            let (u, p) = s.split_once(':')?;
            return Some(Credential {
                username: u.to_string(),
                password: p.to_string(),
            });
        }
        Some(Credential {
            username: self.username.clone()?,
            password: self.password.clone()?,
        })
    }
}

/// The key a registry is stored under: `docker.io` for Docker Hub under any of its names,
/// otherwise `host[:port]` without scheme or path (Docker's keys carry both).
pub(crate) fn normalize_registry(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "" => DEFAULT_DOMAIN.into(),
        _ => host,
    }
}

pub(crate) fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

fn read_config(path: &Path) -> Result<ConfigFile, RegistryError> {
    match fsutil::read_json::<ConfigFile>(path) {
        Ok(c) => Ok(c),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(RegistryError::Credentials {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// berth's stored credentials by normalized registry.
pub(crate) fn load_berth(path: &Path) -> Result<BTreeMap<String, Credential>, RegistryError> {
    Ok(read_config(path)?
        .auths
        .iter()
        .filter_map(|(k, v)| Some((normalize_registry(k), v.credential()?)))
        .collect())
}

/// The credential for `registry`: berth's file, then Docker's (an unreadable Docker file is
/// skipped with a warning: it is not ours to fix).
pub(crate) fn lookup(
    berth: &Path,
    docker: Option<&Path>,
    registry: &str,
) -> Result<Option<Credential>, RegistryError> {
    let registry = normalize_registry(registry);
    if let Some(c) = load_berth(berth)?.remove(&registry) {
        return Ok(Some(c));
    }
    let Some(docker) = docker else {
        return Ok(None);
    };
    match read_config(docker) {
        Ok(cfg) => Ok(cfg
            .auths
            .iter()
            .find(|(k, _)| normalize_registry(k) == registry)
            .and_then(|(_, v)| v.credential())),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring docker config");
            Ok(None)
        }
    }
}

/// Sets (or with `None` removes) berth's credential for `registry`, rewriting the file
/// atomically with mode 0600.
pub(crate) fn store(
    path: &Path,
    registry: &str,
    credential: Option<&Credential>,
) -> Result<(), RegistryError> {
    let mut cfg = read_config(path)?;
    cfg.auths.retain(|k, _| normalize_registry(k) != registry);
    if let Some(c) = credential {
        cfg.auths.insert(
            registry.to_string(),
            AuthEntry {
                auth: Some(B64.encode(format!("{}:{}", c.username, c.password))),
                ..AuthEntry::default()
            },
        );
    }
    let err = |e: std::io::Error| RegistryError::Credentials {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let data = serde_json::to_vec_pretty(&cfg).map_err(|e| err(std::io::Error::other(e)))?;
    fsutil::atomic_write_mode(path, &data, 0o600).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn registry_keys_normalize_as_docker() {
        assert_eq!(
            normalize_registry("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(normalize_registry("registry-1.docker.io"), "docker.io");
        assert_eq!(
            normalize_registry("http://127.0.0.1:5000"),
            "127.0.0.1:5000"
        );
        assert_eq!(normalize_registry("GHCR.io"), "ghcr.io");
    }

    #[test]
    fn stores_0600_and_reads_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let berth = dir.path().join("credentials.json");
        let docker = dir.path().join("config.json");
        std::fs::write(
            &docker,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpwOnc="}}}"#,
        )
        .unwrap();
        let hub = lookup(&berth, Some(&docker), "docker.io").unwrap().unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("u", "p:w"));
        let c = Credential {
            username: "me".into(),
            password: "secret".into(),
        };
        store(&berth, "127.0.0.1:5000", Some(&c)).unwrap();
        let mode = std::fs::metadata(&berth).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            lookup(&berth, None, "127.0.0.1:5000").unwrap(),
            Some(c.clone())
        );
        store(&berth, "127.0.0.1:5000", None).unwrap();
        assert_eq!(lookup(&berth, None, "127.0.0.1:5000").unwrap(), None);
    }
}
