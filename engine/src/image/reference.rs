//! Image references parsed and normalized the way Docker does (distribution/reference):
//! `busybox` is `docker.io/library/busybox:latest`, and is displayed back as `busybox:latest`.

use std::fmt;

/// Docker Hub's canonical domain; `index.docker.io` is an alias of it.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";
/// distribution/reference's NameTotalLengthMax.
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a string is not a valid image reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference format: {reference:?} is empty")]
    Empty { reference: String },
    #[error("invalid reference format: repository name {reference:?} must be lowercase")]
    Uppercase { reference: String },
    #[error("invalid reference format: {reference:?}: {reason}")]
    Invalid {
        reference: String,
        reason: &'static str,
    },
    #[error("invalid reference format: {reference:?}: repository name longer than {NAME_TOTAL_LENGTH_MAX} characters")]
    NameTooLong { reference: String },
    #[error("invalid reference format: {reference:?}: unsupported digest (only sha256 with 64 hex digits)")]
    Digest { reference: String },
}

/// A normalized image reference: domain, repository path, and a tag and/or a digest.
///
/// A reference parsed from a string without tag or digest gets the tag `latest`, as Docker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses and normalizes `s` (Docker's `ParseNormalizedNamed` + `TagNameOnly`).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let err = |reason| ReferenceError::Invalid {
            reference: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(ReferenceError::Empty {
                reference: s.to_string(),
            });
        }
        // A bare 64-hex string is an image id, never a name (as distribution/reference).
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(err("cannot specify 64-byte hexadecimal strings"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !is_sha256_digest(d) {
                    return Err(ReferenceError::Digest {
                        reference: s.to_string(),
                    });
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is the part after the last ':' that comes after the last '/', so that a
        // registry port (`host:5000/name`) is not mistaken for a tag.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let (n, t) = rest.split_at(last_slash + i);
                (n, Some(t[1..].to_string()))
            }
            None => (rest, None),
        };
        if let Some(t) = &tag {
            if !is_valid_tag(t) {
                return Err(err("invalid tag"));
            }
        }
        if name.is_empty() {
            return Err(err("empty repository name"));
        }
        let (domain, path) = split_domain(name);
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase {
                reference: s.to_string(),
            });
        }
        if !is_valid_domain(&domain) {
            return Err(err("invalid registry domain"));
        }
        if !path.split('/').all(is_valid_path_component) {
            return Err(err("invalid repository name"));
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                reference: s.to_string(),
            });
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            _ => tag,
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The registry, e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:<hex>`) when the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The full repository name, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as Docker displays it, e.g. `busybox` or `127.0.0.1:5000/bb`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The reference as Docker displays it, e.g. `busybox:latest` or `bb@sha256:...`.
    pub fn familiar(&self) -> String {
        self.render(self.familiar_name())
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::Invalid {
                reference: tag.to_string(),
                reason: "invalid tag",
            });
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository pinned to `digest` and no tag (Docker's RepoDigests form).
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        if !is_sha256_digest(digest) {
            return Err(ReferenceError::Digest {
                reference: digest.to_string(),
            });
        }
        Ok(Reference {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    fn render(&self, name: String) -> String {
        let mut out = name;
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(d);
        }
        out
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form, e.g. `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Docker's splitDockerDomain: the first component is a registry only if it looks like a
/// host (has a '.' or ':', is `localhost`, or has uppercase letters, which paths may not).
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{path}")
    } else {
        path
    };
    (domain, path)
}

/// `sha256:` followed by exactly 64 lowercase hex digits.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Tags match `[\w][\w.-]{0,127}`.
fn is_valid_tag(t: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = t.chars();
    matches!(chars.next(), Some(c) if word(c))
        && t.len() <= 128
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

/// Path components match `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn is_valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Domains are host names or IPv4 addresses (or bracketed IPv6), with an optional port.
fn is_valid_domain(d: &str) -> bool {
    let valid_port =
        |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = d.strip_prefix('[') {
        let Some((ip6, after)) = rest.split_once(']') else {
            return false;
        };
        let ip_ok = ip6.contains(':')
            && ip6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        return ip_ok && (after.is_empty() || after.strip_prefix(':').is_some_and(valid_port));
    }
    let host = match d.rsplit_once(':') {
        Some((h, p)) if valid_port(p) => h,
        Some(_) => return false,
        None => d,
    };
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    fn short(s: &str) -> String {
        Reference::parse(s).unwrap().familiar()
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("bb:local"), "docker.io/library/bb:local");
        assert_eq!(full("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            full("index.docker.io/library/alpine:3"),
            "docker.io/library/alpine:3"
        );
        assert_eq!(full("127.0.0.1:5000/bb:1"), "127.0.0.1:5000/bb:1");
        assert_eq!(full("localhost/bb"), "localhost/bb:latest");
        assert_eq!(full("localhost:5000/a/b"), "localhost:5000/a/b:latest");
        assert_eq!(full("[::1]:5000/bb:2"), "[::1]:5000/bb:2");
        assert_eq!(
            full("my-registry.example.com/team/app"),
            "my-registry.example.com/team/app:latest"
        );
        assert_eq!(full("a__b/c---d.e_f"), "docker.io/a__b/c---d.e_f:latest");
        assert_eq!(full("ghcr.io/a/b/c:v1.2-rc"), "ghcr.io/a/b/c:v1.2-rc");
        assert_eq!(
            full(&format!("busybox@{D}")),
            format!("docker.io/library/busybox@{D}")
        );
        assert_eq!(
            full(&format!("busybox:1@{D}")),
            format!("docker.io/library/busybox:1@{D}")
        );
    }

    #[test]
    fn displays_familiar_names() {
        assert_eq!(short("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(short("bb:local"), "bb:local");
        assert_eq!(short("docker.io/user/app:2"), "user/app:2");
        assert_eq!(short("docker.io/library/a/b"), "library/a/b:latest");
        assert_eq!(short("127.0.0.1:5000/bb:1"), "127.0.0.1:5000/bb:1");
        assert_eq!(short(&format!("bb@{D}")), format!("bb@{D}"));
        let r = Reference::parse("127.0.0.1:5000/bb:1").unwrap();
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("127.0.0.1:5000", "bb", Some("1"))
        );
    }

    #[test]
    fn rejects_invalid_references() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a//b",
            "-a",
            "a-",
            "busybox@sha256:abc",
            "busybox@md5:0123",
            "a..b",
            ":tag",
            "host:port/x",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(
            Reference::parse("Busybox"),
            Err(ReferenceError::Uppercase { .. })
        ));
        assert!(Reference::parse(&"a".repeat(300)).is_err());
    }

    #[test]
    fn uppercase_first_component_is_a_domain() {
        assert_eq!(full("Registry/app"), "Registry/app:latest");
    }

    #[test]
    fn retags_and_pins() {
        let r = Reference::parse("bb:1").unwrap();
        assert_eq!(r.with_tag("2").unwrap().familiar(), "bb:2");
        assert_eq!(r.with_digest(D).unwrap().familiar(), format!("bb@{D}"));
        assert!(r.with_tag("bad tag").is_err());
    }
}
