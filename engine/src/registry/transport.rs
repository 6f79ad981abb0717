//! HTTP to registries: which endpoint and scheme, and answering the 401 challenge.
//!
//! HTTPS always, except for loopback (127.0.0.0/8, ::1) and registries listed as insecure,
//! which get plain HTTP as Docker's `--insecure-registry` does. Docker Hub (`docker.io`) is
//! served at `registry-1.docker.io`. A 401 carries `WWW-Authenticate`: `Bearer realm=...,
//! service=...` sends us to a token server (anonymously, or with the stored credential as
//! basic auth), `Basic` wants the credential itself (distribution's htpasswd mode).

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::Response;
use ureq::Body;

use super::auth::Credential;
use super::RegistryError;
use crate::image::reference::DEFAULT_DOMAIN;

const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

pub(crate) type Reply = Response<Body>;

pub(crate) struct Transport {
    /// For loopback: never through a proxy, which could not reach our own 127.0.0.1.
    direct: ureq::Agent,
    /// For the rest, honouring HTTP(S)_PROXY / NO_PROXY as every other tool does.
    proxied: ureq::Agent,
    insecure: Vec<String>,
}

fn agent(proxy: bool) -> ureq::Agent {
    let mut b = ureq::Agent::config_builder()
        // Registries answer errors with JSON bodies worth showing: read them ourselves.
        .http_status_as_error(false)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .max_idle_connections_per_host(8);
    if !proxy {
        b = b.proxy(None);
    }
    b.build().into()
}

impl Transport {
    pub(crate) fn new(insecure: &[String]) -> Transport {
        Transport {
            direct: agent(false),
            proxied: agent(true),
            insecure: insecure.iter().map(|s| s.to_ascii_lowercase()).collect(),
        }
    }

    /// The base URL (`https://host[:port]`) and agent for a registry domain.
    fn endpoint(&self, domain: &str) -> (String, &ureq::Agent) {
        let host = if domain == DEFAULT_DOMAIN {
            DOCKER_HUB_ENDPOINT
        } else {
            domain
        };
        let loopback = is_loopback(host);
        let plain = loopback || self.is_insecure(host);
        let scheme = if plain { "http" } else { "https" };
        let agent = if loopback {
            &self.direct
        } else {
            &self.proxied
        };
        (format!("{scheme}://{host}"), agent)
    }

    fn is_insecure(&self, host: &str) -> bool {
        let bare = strip_port(host);
        self.insecure
            .iter()
            .any(|i| i == &host.to_ascii_lowercase() || i == &bare.to_ascii_lowercase())
    }

    pub(crate) fn session(
        &self,
        domain: &str,
        repo: &str,
        actions: &[&str],
        credential: Option<Credential>,
    ) -> Session<'_> {
        let (base, agent) = self.endpoint(domain);
        Session {
            agent,
            registry: domain.to_string(),
            base,
            repo: repo.to_string(),
            scope: format!("repository:{repo}:{}", actions.join(",")),
            credential,
            authorization: Mutex::new(None),
        }
    }

    /// `docker login`: `GET /v2/` answered with `credential`; Ok when the registry accepts it.
    pub(crate) fn check_login(
        &self,
        registry: &str,
        credential: &Credential,
    ) -> Result<(), RegistryError> {
        let (base, agent) = self.endpoint(registry);
        let url = format!("{base}/v2/");
        let first = agent
            .get(&url)
            .call()
            .map_err(|e| connect_error(registry, e))?;
        let status = first.status().as_u16();
        if status != 401 {
            return check_status(registry, "login", first).map(|_| ());
        }
        let challenge = header(&first, "www-authenticate");
        let authorization = answer(agent, registry, &challenge, Some(credential), None)?;
        let second = agent
            .get(&url)
            .header("Authorization", &authorization)
            .call()
            .map_err(|e| connect_error(registry, e))?;
        match second.status().as_u16() {
            401 | 403 => Err(RegistryError::Unauthorized {
                registry: registry.to_string(),
                hint: "incorrect username or password".into(),
            }),
            _ => check_status(registry, "login", second).map(|_| ()),
        }
    }
}

/// One repository on one registry, with the authorization earned for it.
pub(crate) struct Session<'a> {
    agent: &'a ureq::Agent,
    pub(crate) registry: String,
    base: String,
    pub(crate) repo: String,
    scope: String,
    credential: Option<Credential>,
    authorization: Mutex<Option<String>>,
}

impl Session<'_> {
    pub(crate) fn agent(&self) -> &ureq::Agent {
        self.agent
    }

    /// `https://host/v2/<repo>/<rest>`.
    pub(crate) fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repo, rest)
    }

    /// An absolute URL from a `Location` header, which may be relative to the registry.
    pub(crate) fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.base, location)
        }
    }

    /// Sends what `build` makes (given the current `Authorization` value, which it passes to
    /// [`authorized`]); on a 401 answers the
    /// challenge once and sends again. 401 and 403 after that are errors; other statuses are
    /// for the caller.
    pub(crate) fn send(
        &self,
        build: &dyn Fn(Option<&str>) -> Result<Reply, ureq::Error>,
    ) -> Result<Reply, RegistryError> {
        let current = self.current();
        let reply = build(current.as_deref()).map_err(|e| connect_error(&self.registry, e))?;
        let reply = if reply.status().as_u16() == 401 {
            let challenge = header(&reply, "www-authenticate");
            let authorization = answer(
                self.agent,
                &self.registry,
                &challenge,
                self.credential.as_ref(),
                Some(&self.scope),
            )?;
            *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(authorization.clone());
            build(Some(&authorization)).map_err(|e| connect_error(&self.registry, e))?
        } else {
            reply
        };
        match reply.status().as_u16() {
            401 => Err(self.unauthorized()),
            403 => Err(RegistryError::Denied {
                registry: self.registry.clone(),
                repository: self.repo.clone(),
            }),
            _ => Ok(reply),
        }
    }

    fn current(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn unauthorized(&self) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            hint: match self.credential {
                None => format!("authentication required (berth login {})", self.registry),
                Some(_) => "incorrect username or password".into(),
            },
        }
    }
}

/// The `Authorization` value answering a `WWW-Authenticate` challenge.
fn answer(
    agent: &ureq::Agent,
    registry: &str,
    challenge: &str,
    credential: Option<&Credential>,
    scope: Option<&str>,
) -> Result<String, RegistryError> {
    let unauthorized = |hint: &str| RegistryError::Unauthorized {
        registry: registry.to_string(),
        hint: hint.to_string(),
    };
    let no_login = format!("authentication required (berth login {registry})");
    let (scheme, params) = parse_challenge(challenge);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => credential
            .map(|c| c.basic())
            .ok_or_else(|| unauthorized(&no_login)),
        "bearer" => {
            let realm = params
                .iter()
                .find(|(k, _)| k == "realm")
                .map(|(_, v)| v.clone())
                .ok_or_else(|| RegistryError::Protocol {
                    reference: registry.to_string(),
                    reason: format!("bearer challenge without realm: {challenge}"),
                })?;
            let mut req = agent.get(&realm);
            if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
                req = req.query("service", service);
            }
            if let Some(scope) = scope {
                req = req.query("scope", scope);
            }
            if let Some(c) = credential {
                req = req.header("Authorization", &c.basic());
            }
            let reply = req.call().map_err(|e| connect_error(registry, e))?;
            match reply.status().as_u16() {
                401 | 403 if credential.is_some() => {
                    return Err(unauthorized("incorrect username or password"))
                }
                401 | 403 => return Err(unauthorized(&no_login)),
                _ => {}
            }
            let body = check_status(registry, "token", reply)?
                .into_body()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .map_err(|e| connect_error(registry, e))?;
            #[derive(serde::Deserialize)]
            struct Token {
                token: Option<String>,
                access_token: Option<String>,
            }
            let t: Token = serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                reference: registry.to_string(),
                reason: format!("token server answer: {e}"),
            })?;
            t.token
                .or(t.access_token)
                .map(|t| format!("Bearer {t}"))
                .ok_or_else(|| RegistryError::Protocol {
                    reference: registry.to_string(),
                    reason: "token server gave no token".into(),
                })
        }
        _ => Err(unauthorized(&no_login)),
    }
}

/// Splits `Bearer realm="x",service="y",scope="a:b:pull,push"` into the scheme and its
/// parameters (commas inside quotes belong to the value).
pub(crate) fn parse_challenge(s: &str) -> (String, Vec<(String, String)>) {
    let s = s.trim();
    let (scheme, rest) = s.split_once(' ').unwrap_or((s, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    (scheme.to_string(), params)
}

pub(crate) fn header(reply: &Reply, name: &str) -> String {
    reply
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Passes a 2xx (and 3xx ureq did not follow) reply; anything else becomes an error with the
/// registry's own message.
pub(crate) fn check_status(
    registry: &str,
    what: &str,
    reply: Reply,
) -> Result<Reply, RegistryError> {
    let status = reply.status().as_u16();
    if status < 400 {
        return Ok(reply);
    }
    let body = reply
        .into_body()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    Err(RegistryError::Status {
        registry: registry.to_string(),
        what: what.to_string(),
        status,
        body: registry_message(&body),
    })
}

/// The `errors[].message` of a distribution error body, else the body itself.
fn registry_message(body: &str) -> String {
    let parsed: Option<Vec<String>> = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["errors"].as_array().map(|errs| {
                errs.iter()
                    .map(|e| {
                        let code = e["code"].as_str().unwrap_or("").to_ascii_lowercase();
                        let msg = e["message"].as_str().unwrap_or("");
                        format!("{code}: {msg}")
                            .trim_matches(|c| c == ':' || c == ' ')
                            .to_string()
                    })
                    .collect()
            })
        });
    match parsed {
        Some(m) if !m.is_empty() => m.join("; "),
        _ => body.trim().chars().take(300).collect(),
    }
}

pub(crate) fn connect_error(registry: &str, e: ureq::Error) -> RegistryError {
    RegistryError::Connect {
        registry: registry.to_string(),
        reason: e.to_string(),
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

/// 127.0.0.0/8 and ::1, the registries Docker speaks plain HTTP to without being told.
fn is_loopback(host: &str) -> bool {
    strip_port(host)
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `r` with the `Authorization` header [`Session::send`] hands its builder, when there is one.
pub(crate) fn authorized<B>(
    r: ureq::RequestBuilder<B>,
    authorization: Option<&str>,
) -> ureq::RequestBuilder<B> {
    match authorization {
        Some(a) => r.header("Authorization", a),
        None => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge_with_commas_in_scope() {
        let (scheme, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            p,
            vec![
                ("realm".into(), "https://auth.docker.io/token".into()),
                ("service".into(), "registry.docker.io".into()),
                (
                    "scope".into(),
                    "repository:library/busybox:pull,push".into()
                ),
            ]
        );
        let (scheme, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(scheme, "Basic");
        assert_eq!(p, vec![("realm".into(), "Registry Realm".into())]);
    }

    #[test]
    fn plain_http_only_for_loopback_and_insecure() {
        let t = Transport::new(&["reg.lan:5000".into(), "other.lan".into()]);
        assert_eq!(t.endpoint("127.0.0.1:5000").0, "http://127.0.0.1:5000");
        assert_eq!(t.endpoint("127.3.4.5").0, "http://127.3.4.5");
        assert_eq!(t.endpoint("[::1]:5000").0, "http://[::1]:5000");
        assert_eq!(t.endpoint("reg.lan:5000").0, "http://reg.lan:5000");
        assert_eq!(t.endpoint("other.lan:443").0, "http://other.lan:443");
        assert_eq!(t.endpoint("reg.lan:5001").0, "https://reg.lan:5001");
        assert_eq!(t.endpoint("ghcr.io").0, "https://ghcr.io");
        assert_eq!(t.endpoint("docker.io").0, "https://registry-1.docker.io");
        assert_eq!(t.endpoint("localhost:5000").0, "https://localhost:5000");
    }
}
