//! The Docker Engine API door: the same daemon, spoken to in Docker's REST dialect on a second
//! socket (`$BERTH_RUN_DIR/docker.sock`), so the `docker` CLI, Docker Compose v2 and the
//! Docker SDKs drive berth unchanged.
//!
//! It is a translator, never a second engine: each route turns Docker's request into the
//! daemon's own operations (the container manager, the image store, netd, the volume store)
//! and the answer back into Docker's JSON, status codes and stream framings. What one door
//! makes the other shows, because there is only one set of containers behind both.
//!
//! Rooms: `system` (ping, version, info, df), `events`, `create` (Docker's create body ->
//! berth's ContainerConfig), `containers` (list, inspect, lifecycle), `attach`, `logs`,
//! `exec`, `archive` (cp), `images`, `networks`, `volumes`; `stream` holds the hijack and
//! the multiplexed framing they share, `filters` Docker's `filters` parameter.

mod archive;
mod attach;
mod containers;
mod create;
mod create_body;
mod events;
mod exec;
pub(crate) mod filters;
mod images;
mod inspect;
mod logs;
mod networks;
mod sizes;
mod stats;
mod stream;
mod system;
mod volumes;

use super::http::{self, ApiError, ApiResult, Query, Reply};
use super::Daemon;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokio::net::UnixListener;

/// The API version berth advertises; clients negotiate down from their own maximum to it
/// (Debian 12's docker.io CLI, Docker 20.10, to 1.41). 1.44 (Docker 25), because Compose v2
/// refuses some settings (healthcheck `start_interval`) below it, and from 1.44 on sends
/// every network of a service in the create itself.
pub const API_VERSION: &str = "1.44";
/// The oldest version prefix accepted, as Docker 25+ (older clients' requests differ).
const MIN_API_VERSION: Version = (1, 24);
/// The newest version prefix accepted: newer clients that pin a version (rather than
/// negotiating) get 1.44's shapes, a subset of theirs; beyond this they are refused as
/// Docker refuses a client newer than itself.
const MAX_API_VERSION: Version = (1, 51);
/// The Docker release whose API berth answers as (shown by `docker version`).
pub const DOCKER_VERSION: &str = "25.0.0";

/// State of this door that berth's own API has no use for: exec instances, and attach
/// requests waiting for their container's start.
pub struct Door {
    d: Arc<Daemon>,
    execs: exec::Registry,
    attaches: attach::Pending,
}

/// Binds the Docker socket at `path` (root only, as berth's own: whoever talks to it can run
/// anything as anyone) and serves it until the daemon ends.
pub fn serve(d: Arc<Daemon>, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A socket someone answers on is not ours to take: at /var/run/docker.sock that is a
    // running dockerd. One nobody answers on is a stale one (a killed daemon's).
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        anyhow::bail!(
            "the Docker API socket {} is in use (is dockerd running?): choose another with --docker-socket, or none",
            path.display()
        );
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)
        .map_err(|e| anyhow::anyhow!("binding the Docker API socket {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    tracing::info!(socket = %path.display(), api_version = API_VERSION, "serving the Docker Engine API");
    let door = Arc::new(Door {
        d,
        execs: Default::default(),
        attaches: Default::default(),
    });
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let door = door.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let door = door.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(door, req).await) }
                });
                // Upgrades: attach and exec start hijack the connection (Docker's raw stream).
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(conn), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Ok(())
}

/// Every answer carries the headers dockerd's middleware adds: clients read the API version
/// and OS from any response, not only from `/_ping`.
async fn handle(door: Arc<Door>, req: Request<Incoming>) -> Reply {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let mut reply = match route(door, req).await {
        Ok(r) => r,
        Err(e) => {
            if e.status.is_server_error() {
                tracing::warn!(%method, %path, status = %e.status, error = %e.message, "docker api");
            }
            http::error_reply(e)
        }
    };
    let h = reply.headers_mut();
    h.insert("api-version", API_VERSION.parse().expect("header"));
    h.insert("docker-experimental", "false".parse().expect("header"));
    // The ping may have answered otherwise to Compose (see `system::ping`).
    if !h.contains_key("ostype") {
        h.insert("ostype", "linux".parse().expect("header"));
    }
    h.insert(
        "server",
        format!(
            "Docker/{DOCKER_VERSION} (linux) berth/{}",
            env!("CARGO_PKG_VERSION")
        )
        .parse()
        .expect("header"),
    );
    reply
}

/// An API version, (major, minor).
type Version = (u32, u32);

/// `/v1.41/containers/json` -> (Some((1, 41)), "/containers/json").
fn split_version(path: &str) -> Result<(Option<Version>, &str), ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((None, path));
    };
    let (ver, tail) = rest.split_once('/').map_or((rest, ""), |(v, t)| (v, t));
    let parsed = ver
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
    let Some(v) = parsed else {
        // Not a version: a path that merely starts with `v`.
        return Ok((None, path));
    };
    if v < MIN_API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {ver} is too old. Minimum supported API version is {}.{}, please upgrade your client to a newer version",
            MIN_API_VERSION.0, MIN_API_VERSION.1
        )));
    }
    if v > MAX_API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {ver} is too new. Maximum supported API version is {}.{}",
            MAX_API_VERSION.0, MAX_API_VERSION.1
        )));
    }
    if tail.is_empty() {
        return Ok((Some(v), "/"));
    }
    Ok((Some(v), &path[path.len() - tail.len() - 1..]))
}

/// What a known Docker endpoint berth does not serve answers: 501 naming what is missing.
fn unsupported(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("berth does not support {what}"),
    )
}

async fn route(door: Arc<Door>, req: Request<Incoming>) -> ApiResult {
    let full = req.uri().path().to_string();
    let (_version, path) = split_version(&full)?;
    let q = Query::parse(req.uri().query());
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(http::decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method().clone();
    match segs.first().copied().unwrap_or("") {
        "_ping" | "version" | "info" | "events" | "system" => {
            let agent = req
                .headers()
                .get(hyper::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            system::route(&door, &m, &segs, &q, agent).await
        }
        "containers" => containers::route(&door, &m, &segs[1..], &q, req).await,
        "exec" => exec::route(&door, &m, &segs[1..], &q, req).await,
        "images" | "build" | "commit" | "auth" | "distribution" => {
            images::route(&door, &m, &segs, &q, req).await
        }
        "networks" => networks::route(&door, &m, &segs[1..], &q, req).await,
        "volumes" => volumes::route(&door, &m, &segs[1..], &q, req).await,
        "swarm" | "nodes" | "services" | "tasks" | "secrets" | "configs" => Err(unsupported(
            "swarm mode (swarm, nodes, services, tasks, secrets, configs)",
        )),
        "plugins" if m == Method::GET && segs.len() == 1 => http::json(&serde_json::json!([])),
        // `docker inspect NAME` tries plugins too: a 404 lets it say "No such object".
        "plugins" if m == Method::GET && segs.len() == 3 && segs[2] == "json" => Err(
            ApiError::not_found(format!("plugin \"{}\" not found", segs[1])),
        ),
        "plugins" => Err(unsupported("plugins")),
        "session" => Err(unsupported(
            "BuildKit sessions (/session): build with the classic builder (DOCKER_BUILDKIT=0)",
        )),
        "grpc" => Err(unsupported("BuildKit (/grpc)")),
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// The Docker routes berth's own API answers too (under `/system/`): `system df`, and the
/// prunes `system prune` is made of, as the docker CLI makes it (containers, networks,
/// volumes, images, build cache). `berth system df|prune` read the same JSON as `docker
/// system df|prune`, from the same code, so the two never disagree.
pub async fn housekeeping(
    d: Arc<Daemon>,
    m: &Method,
    segs: &[&str],
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    // Exec and attach state is never used by these routes: a door of the moment will do.
    let door = Arc::new(Door {
        d,
        execs: Default::default(),
        attaches: Default::default(),
    });
    match (m, segs) {
        (&Method::GET, ["system", "df"]) => system::route(&door, m, segs, q, "").await,
        (&Method::POST, ["containers", "prune"]) => {
            containers::route(&door, m, &segs[1..], q, req).await
        }
        (&Method::POST, ["networks", "prune"]) => {
            networks::route(&door, m, &segs[1..], q, req).await
        }
        (&Method::POST, ["volumes", "prune"]) => volumes::route(&door, m, &segs[1..], q, req).await,
        (&Method::POST, ["images" | "build", "prune"]) => {
            images::route(&door, m, segs, q, req).await
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// A JSON request body, strictly: malformed JSON, a field Docker's API does not have, or a
/// value of the wrong type is the caller's 400, never a panic or half-made object.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    let body = super::api::read_body(req).await?;
    parse_json(&body)
}

/// As [`read_json`], keeping the request's head: a hijack after reading the body (exec start)
/// still finds the connection's upgrade in it.
pub(crate) async fn read_json_keep<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<(T, Request<()>), ApiError> {
    use http_body_util::BodyExt;
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .to_bytes();
    Ok((parse_json(&bytes)?, Request::from_parts(parts, ())))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// Docker's booleans in a query: `1`, `true`, `True` (docker-py sends `True`).
pub(crate) fn flag(q: &Query, k: &str) -> bool {
    matches!(q.get(k), Some(v) if v == "1" || v.eq_ignore_ascii_case("true"))
}

/// A 404 of berth's own in Docker's words (`No such container: web`), which clients match
/// on (the docker CLI pulls an image when it reads "No such image"); other errors as they are.
pub(crate) fn no_such(e: ApiError, what: &str, reference: &str) -> ApiError {
    if e.status == hyper::StatusCode::NOT_FOUND {
        ApiError::not_found(format!("No such {what}: {reference}"))
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes() {
        assert_eq!(
            split_version("/v1.41/containers/json").unwrap(),
            (Some((1, 41)), "/containers/json")
        );
        assert_eq!(split_version("/_ping").unwrap(), (None, "/_ping"));
        assert_eq!(
            split_version("/v1.43/_ping").unwrap(),
            (Some((1, 43)), "/_ping")
        );
        assert_eq!(split_version("/volumes").unwrap(), (None, "/volumes"));
        assert!(split_version("/v1.12/info")
            .unwrap_err()
            .message
            .contains("too old"));
        assert!(split_version("/v1.99/info")
            .unwrap_err()
            .message
            .contains("too new"));
    }

    #[test]
    fn strict_json() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            a: Option<u32>,
        }
        assert!(parse_json::<T>(b"").is_ok());
        assert!(parse_json::<T>(b"{\"a\": \"x\"}").is_err());
        assert!(parse_json::<T>(b"{\"b\": 1}").is_err());
        assert!(parse_json::<T>(b"{").is_err());
    }
}
