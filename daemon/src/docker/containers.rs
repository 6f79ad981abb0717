//! Container routes: list, create, inspect, and the lifecycle (start, stop, restart, kill,
//! pause, wait, remove, prune); attach, logs, exec, archive and stats have rooms of their own.
//! Each is the daemon's own container manager call; only names, codes and shapes are
//! Docker's here.

use super::super::containers::{short, Ctr};
use super::super::http::{self, ApiError, ApiResult, Query};
use super::filters::Filters;
use super::{flag, Door};
use berth_engine::container::Status;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// The container `r` names, or Docker's 404.
pub async fn get(door: &Door, r: &str) -> Result<Arc<Ctr>, ApiError> {
    door.d
        .containers
        .get(r)
        .await
        .map_err(|e| super::no_such(e, "container", r))
}

pub async fn route(
    door: &Arc<Door>,
    m: &Method,
    segs: &[&str],
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    match (m, segs) {
        (&Method::GET, ["json"]) => {
            let f = Filters::parse(q, super::inspect::LIST_FILTERS)?;
            let mut all = summaries(door, flag(q, "all"), &f).await?;
            if let Some(n) = q
                .get("limit")
                .and_then(|l| l.parse::<i64>().ok())
                .filter(|n| *n > 0)
            {
                all.truncate(n as usize);
            }
            if flag(q, "size") {
                for c in all.iter_mut() {
                    let id = c["Id"].as_str().unwrap_or("").to_string();
                    let image = c["ImageID"].as_str().unwrap_or("").to_string();
                    super::sizes::add(door, c, &id, &image).await;
                }
            }
            http::json(&all)
        }
        (&Method::POST, ["create"]) => create(door, q, req).await,
        (&Method::POST, ["prune"]) => prune(door, q).await,
        (_, [id, rest @ ..]) => {
            let ctr = get(door, id).await?;
            one(door, &ctr, m, rest, q, req).await
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

pub async fn summaries(door: &Door, all: bool, f: &Filters) -> Result<Vec<Value>, ApiError> {
    Ok(super::inspect::list(door, all, f).await)
}

async fn create(door: &Door, q: &Query, req: Request<Incoming>) -> ApiResult {
    let body: super::create_body::CreateBody = super::read_json(req).await?;
    let name = q
        .get("name")
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    if let Some(p) = q
        .get("platform")
        .filter(|p| !p.is_empty() && !p.starts_with("linux"))
    {
        return Err(ApiError::bad_request(format!(
            "platform {p} is not supported: berth runs linux containers"
        )));
    }
    let (mut cfg, warnings, volumes_from) = super::create::translate_with(&name, body)?;
    for spec in volumes_from {
        volumes_from_container(door, &mut cfg, &spec).await?;
    }
    // Docker's wording: the CLI pulls the image when it reads this 404.
    if let Err(e) = door.d.images.resolve(&cfg.image).await {
        return Err(super::no_such(e, "image", &cfg.image));
    }
    let ctr = super::super::api_volumes::create_container(&door.d, cfg).await?;
    for w in &warnings {
        tracing::warn!(container = %ctr.id, warning = %w, "docker create");
    }
    let mut reply = http::json(&json!({ "Id": ctr.id, "Warnings": warnings }))?;
    *reply.status_mut() = StatusCode::CREATED;
    Ok(reply)
}

/// `--volumes-from NAME[:ro|rw]`: the other container's volumes and binds, at the same
/// targets (read-only as there, or as the mode says). A target the new container mounts
/// itself keeps its own mount.
async fn volumes_from_container(
    door: &Door,
    cfg: &mut berth_engine::container::ContainerConfig,
    spec: &str,
) -> Result<(), ApiError> {
    let (name, mode) = match spec.rsplit_once(':') {
        Some((n, m @ ("ro" | "rw"))) => (n, Some(m == "ro")),
        Some((_, m)) if !spec.starts_with("container:") => {
            return Err(ApiError::bad_request(format!(
                "invalid mode for volumes-from: {m}"
            )))
        }
        _ => (spec, None),
    };
    let name = name.strip_prefix("container:").unwrap_or(name);
    let other = get(door, name).await?;
    let mounts = other.rec.lock().await.config.mounts.clone();
    for m in mounts
        .into_iter()
        .filter(|m| m.kind == "volume" || m.kind == "bind")
    {
        if cfg.mounts.iter().any(|x| x.target == m.target) {
            continue;
        }
        let mut m = m;
        if m.kind == "volume" {
            // A resolved volume mount's source is ROOT/volumes/NAME/_data: mount NAME, as
            // it is (no copy-up: it has its data).
            let vol = std::path::Path::new(&m.source)
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            m.source = vol;
            m.kind = "volume-nocopy".into();
        }
        if let Some(ro) = mode {
            m.read_only = ro;
        }
        cfg.mounts.push(m);
    }
    Ok(())
}

/// A stop's grace period: `t` (Docker) or `timeout` (newer clients), seconds.
fn grace(q: &Query) -> Result<Option<u64>, ApiError> {
    match q.get("t").or(q.get("timeout")).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => match t.parse::<i64>() {
            // -1: wait for ever (Docker); a day is as good.
            Ok(n) if n < 0 => Ok(Some(86_400)),
            Ok(n) => Ok(Some(n as u64)),
            Err(_) => Err(ApiError::bad_request(format!("invalid value for t: {t}"))),
        },
    }
}

fn running(s: Status) -> bool {
    matches!(s, Status::Running | Status::Paused | Status::Restarting)
}

async fn one(
    door: &Arc<Door>,
    ctr: &Arc<Ctr>,
    m: &Method,
    rest: &[&str],
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    let cs = &door.d.containers;
    match (m, rest) {
        (&Method::GET, ["json"]) => {
            let mut v = super::inspect::inspect(door, ctr).await;
            if flag(q, "size") {
                let image = ctr.rec.lock().await.image_id.clone();
                super::sizes::add(door, &mut v, &ctr.id, &image).await;
            }
            http::json(&v)
        }
        (&Method::POST, ["start"]) => {
            let status = ctr.rec.lock().await.state.status;
            if matches!(status, Status::Running | Status::Paused) {
                // Docker: 304 Not Modified for a container already running.
                return Ok(hyper::Response::builder()
                    .status(StatusCode::NOT_MODIFIED)
                    .body(http::full(bytes::Bytes::new()))
                    .expect("valid response"));
            }
            super::attach::start(door, ctr).await?;
            http::empty()
        }
        (&Method::POST, ["stop"]) => {
            if !running(ctr.rec.lock().await.state.status) {
                return not_modified();
            }
            cs.stop(ctr, grace(q)?, stop_signal(q))
                .await
                .map_err(signal_wording)?;
            http::empty()
        }
        (&Method::POST, ["restart"]) => {
            cs.stop(ctr, grace(q)?, stop_signal(q))
                .await
                .map_err(signal_wording)?;
            super::attach::start(door, ctr).await?;
            http::empty()
        }
        (&Method::POST, ["kill"]) => {
            let sig = q.get("signal").filter(|s| !s.is_empty()).unwrap_or("KILL");
            let sig = if sig.chars().all(|c| c.is_ascii_digit()) {
                sig.to_string()
            } else {
                sig.trim_start_matches("SIG").to_string()
            };
            cs.kill(ctr, &sig).await.map_err(|e| {
                if e.status == StatusCode::CONFLICT {
                    ApiError::conflict(format!(
                        "Cannot kill container: {}: Container {} is not running",
                        short(&ctr.id),
                        ctr.id
                    ))
                } else {
                    signal_wording(e)
                }
            })?;
            http::empty()
        }
        (&Method::POST, ["pause"]) => {
            cs.pause(ctr, true).await?;
            http::empty()
        }
        (&Method::POST, ["unpause"]) => {
            cs.pause(ctr, false).await?;
            http::empty()
        }
        (&Method::POST, ["wait"]) => wait(door, ctr, q).await,
        (&Method::DELETE, []) => {
            let status = ctr.rec.lock().await.state.status;
            if running(status) && !flag(q, "force") {
                return Err(ApiError::conflict(format!(
                    "You cannot remove a {} container {}. Stop the container before attempting removal or force remove",
                    status.as_str(),
                    ctr.id
                )));
            }
            if flag(q, "link") {
                return Err(ApiError::bad_request("berth has no legacy links to remove"));
            }
            // A stack's replica comes back: `berth events` carries the stack's `recreate`.
            crate::comeback::remove(&door.d, ctr, flag(q, "force"), flag(q, "v")).await?;
            http::empty()
        }
        (&Method::GET, ["logs"]) => super::logs::logs(door, ctr, q).await,
        (&Method::POST, ["attach"]) => super::attach::attach(door, ctr, q, req).await,
        (&Method::POST, ["resize"]) => {
            let (h, w) = size(q)?;
            super::attach::resize(door, ctr, h, w).await?;
            ok()
        }
        (&Method::POST, ["exec"]) => super::exec::create(door, ctr, req).await,
        (&Method::GET, ["top"]) => super::super::api_top::top(cs, ctr, q).await,
        (&Method::GET, ["stats"]) => super::stats::stats(door, ctr, q).await,
        (&Method::GET, ["changes"]) => super::super::api_commit::changes(&door.d, ctr).await,
        (&Method::GET, ["export"]) => super::archive::export(door, ctr).await,
        (&Method::GET | &Method::HEAD | &Method::PUT, ["archive"]) => {
            super::archive::route(door, ctr, m, q, req).await
        }
        (&Method::POST, ["rename"]) => super::super::api_manage::rename(cs, ctr, q).await,
        (&Method::POST, ["update"]) => {
            let body = super::super::api::read_json(req).await?;
            super::super::api_manage::update(cs, ctr, body).await
        }
        (&Method::GET, ["attach", "ws"]) => Err(super::unsupported("attaching over a websocket")),
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// `signal` of stop and restart (API 1.42): the signal to stop with instead of the
/// container's own stop signal (`docker stop -s`); SIGKILL still follows the grace period.
fn stop_signal(q: &Query) -> Option<&str> {
    q.get("signal").filter(|s| !s.is_empty())
}

/// dockerd's words for a signal it does not know (moby/sys/signal: `Invalid signal: X`).
fn signal_wording(e: ApiError) -> ApiError {
    match e.message.strip_prefix("invalid signal: ") {
        Some(s) if e.status == StatusCode::BAD_REQUEST => {
            ApiError::bad_request(format!("Invalid signal: {s}"))
        }
        _ => e,
    }
}

/// 200 with no body, as Docker answers resize.
fn ok() -> ApiResult {
    Ok(hyper::Response::builder()
        .body(http::full(bytes::Bytes::new()))
        .expect("valid response"))
}

fn not_modified() -> ApiResult {
    Ok(hyper::Response::builder()
        .status(StatusCode::NOT_MODIFIED)
        .body(http::full(bytes::Bytes::new()))
        .expect("valid response"))
}

/// `h` and `w` of a resize.
pub fn size(q: &Query) -> Result<(u16, u16), ApiError> {
    let get = |k: &str| {
        q.get(k)
            .unwrap_or("0")
            .parse::<u16>()
            .map_err(|_| ApiError::bad_request(format!("invalid {k}: {}", q.get(k).unwrap_or(""))))
    };
    Ok((get("h")?, get("w")?))
}

/// `POST /containers/{id}/wait?condition=not-running|next-exit|removed`. The answer's
/// headers go at once (clients send this before `start`, and must not miss the exit); the
/// body `{"StatusCode": N, "Error": null}` when the condition is met.
async fn wait(door: &Arc<Door>, ctr: &Arc<Ctr>, q: &Query) -> ApiResult {
    let condition = q
        .get("condition")
        .filter(|c| !c.is_empty())
        .unwrap_or("not-running")
        .to_string();
    if !["not-running", "next-exit", "removed"].contains(&condition.as_str()) {
        return Err(ApiError::bad_request(format!(
            "invalid condition: \"{condition}\""
        )));
    }
    let mut rx = ctr.status.subscribe();
    // For next-exit, what counts is a change seen from now on.
    rx.borrow_and_update();
    let (tx, reply) = http::channel("application/json");
    let ctr = ctr.clone();
    let _ = door;
    tokio::spawn(async move {
        // As moby's State.Wait: a container only created is not running.
        let done = |s: &Status| !matches!(s, Status::Running | Status::Paused | Status::Restarting);
        let ok = match condition.as_str() {
            "removed" => rx.wait_for(|s| *s == Status::Dead).await.is_ok(),
            "next-exit" => loop {
                // The next time it is seen not running, after having been seen running (or
                // at once if it ends between: a change to a stopped status counts).
                if rx.changed().await.is_err() {
                    break false;
                }
                let s = *rx.borrow_and_update();
                if matches!(s, Status::Exited | Status::Dead | Status::Restarting) {
                    break true;
                }
            },
            _ => rx.wait_for(done).await.is_ok(),
        };
        let _ = ok;
        let code = ctr.rec.lock().await.state.exit_code;
        let body = json!({ "StatusCode": code, "Error": null }).to_string();
        let _ = tx.send(bytes::Bytes::from(body)).await;
    });
    Ok(reply)
}

/// `POST /containers/prune`: every stopped container (with `until` and `label` filters).
async fn prune(door: &Door, q: &Query) -> ApiResult {
    let f = Filters::parse(q, &["until", "label", "label!"])?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in door.d.containers.all().await {
        let (status, labels, created) = {
            let r = c.rec.lock().await;
            (r.state.status, r.config.labels.clone(), r.created.clone())
        };
        let created = chrono::DateTime::parse_from_rfc3339(&created)
            .map(|t| t.timestamp())
            .ok();
        if running(status) || status == Status::Removing || !f.prunable(&labels, created)? {
            continue;
        }
        let upper = door.d.containers.layout(&c.id).upper();
        let size = tokio::task::spawn_blocking(move || super::super::volumes::disk_usage(&upper))
            .await
            .unwrap_or(0);
        if door.d.containers.remove(&c, false).await.is_ok() {
            reclaimed += size;
            deleted.push(c.id.clone());
        }
    }
    http::json(&json!({ "ContainersDeleted": deleted, "SpaceReclaimed": reclaimed }))
}

/// Docker's `until`: unix seconds, an RFC 3339 time, or a duration before now (`10m`).
pub fn parse_until(u: &str) -> Result<i64, ApiError> {
    if let Ok(n) = u.split('.').next().unwrap_or("").parse::<i64>() {
        return Ok(n);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(u) {
        return Ok(t.timestamp());
    }
    let (num, unit) = u.split_at(u.find(|c: char| !c.is_ascii_digit()).unwrap_or(u.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid until: {u}")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(ApiError::bad_request(format!("invalid until: {u}"))),
    };
    Ok(chrono::Utc::now().timestamp() - secs)
}
