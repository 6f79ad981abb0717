//! Image routes in Docker's shapes: list, inspect, history, tag, remove, create (pull, with
//! Docker's progress stream; or import with `fromSrc`), push, load, save/get, prune, build
//! (the daemon's own builder, classic `POST /build`), commit. Each is the image store's or
//! the registry glue's own operation.

use super::super::api;
use super::super::containers::short;
use super::super::http::{self, ApiError, ApiResult, Query};
use super::filters::Filters;
use super::{flag, Door};
use berth_engine::registry::{Credential, Progress};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

fn unix(t: Option<&str>) -> i64 {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Docker's ImageSummary of every image (intermediate build steps only with `all`).
pub async fn summaries(door: &Door, all: bool) -> Result<Vec<Value>, ApiError> {
    let list = door.d.images.with(|s| s.list()).await?;
    let mut out = Vec::new();
    for i in list.into_iter().filter(|i| all || !i.intermediate) {
        let id = i.id.clone();
        let labels = door
            .d
            .images
            .with(move |s| s.config_json(&id))
            .await
            .map(|v| v["config"]["Labels"].clone())
            .unwrap_or(Value::Null);
        let mut containers = 0;
        for c in door.d.containers.all().await {
            if c.rec.lock().await.image_id == i.id {
                containers += 1;
            }
        }
        out.push(json!({
            "Id": i.id,
            "ParentId": i.parent.clone().unwrap_or_default(),
            "RepoTags": if i.repo_tags.is_empty() { json!(["<none>:<none>"]) } else { json!(i.repo_tags) },
            "RepoDigests": i.repo_digests,
            "Created": unix(i.created.as_deref()),
            "Size": i.size,
            "SharedSize": -1,
            "VirtualSize": i.size,
            "Labels": labels,
            "Containers": containers,
        }));
    }
    out.sort_by(|a, b| b["Created"].as_i64().cmp(&a["Created"].as_i64()));
    Ok(out)
}

fn not_found(e: ApiError, r: &str) -> ApiError {
    super::no_such(e, "image", r)
}

pub async fn route(
    door: &Arc<Door>,
    m: &Method,
    segs: &[&str],
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    let d = &door.d;
    match (m, segs) {
        (&Method::GET, ["images", "json"]) => {
            let f = Filters::parse(
                q,
                &["before", "dangling", "label", "reference", "since", "until"],
            )?;
            let mut list = summaries(door, flag(q, "all")).await?;
            let dangling = f.truth("dangling")?;
            list.retain(|i| {
                let tags: Vec<&str> = i["RepoTags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "<none>:<none>")
                    .collect();
                let labels = serde_json::from_value(i["Labels"].clone()).unwrap_or_default();
                dangling.is_none_or(|want| tags.is_empty() == want)
                    && f.labels_match(&labels)
                    && (f.values("reference").is_empty()
                        || f.values("reference")
                            .iter()
                            .any(|r| tags.iter().any(|t| reference_matches(r, t))))
            });
            http::json(&list)
        }
        (&Method::POST, ["images", "create"]) => create(door, q, req).await,
        (&Method::POST, ["images", "load"]) => {
            let quiet = flag(q, "quiet");
            let loaded = api::with_upload(d, req, |s, f| s.load(f)).await?;
            d.images.noted("load", &loaded).await;
            let (tx, reply) = http::channel("application/json");
            tokio::spawn(async move {
                for name in loaded {
                    let what = if name.starts_with("sha256:") {
                        "Loaded image ID"
                    } else {
                        "Loaded image"
                    };
                    let line = json!({ "stream": format!("{what}: {name}\n") });
                    let _ = tx.send(Bytes::from(line.to_string() + "\n")).await;
                }
                let _ = quiet;
            });
            Ok(reply)
        }
        (&Method::GET, ["images", "get"]) => save(door, q.all("names")).await,
        (&Method::GET, ["images", name @ .., "get"]) => save(door, vec![name.join("/")]).await,
        (&Method::POST, ["images", "prune"]) => {
            let f = Filters::parse(q, &["dangling", "label", "label!", "until"])?;
            let all = f.truth("dangling")? == Some(false);
            let mut in_use = d.containers.image_ids().await;
            // What the label and until filters spare is kept as if in use.
            for i in summaries(door, true).await? {
                let labels = serde_json::from_value(i["Labels"].clone()).unwrap_or_default();
                if !f.prunable(&labels, i["Created"].as_i64())? {
                    in_use.insert(i["Id"].as_str().unwrap_or("").to_string());
                }
            }
            let report = d.images.with(move |s| s.prune(all, &in_use)).await?;
            d.images.removed("", &report.images_deleted);
            let deleted: Vec<Value> = report.images_deleted.iter().map(|l| removal(l)).collect();
            http::json(
                &json!({ "ImagesDeleted": deleted, "SpaceReclaimed": report.space_reclaimed }),
            )
        }
        (&Method::GET, ["images", "search"]) => {
            Err(super::unsupported("searching registries (docker search)"))
        }
        (&Method::GET, ["images", name @ .., "json"]) => {
            let r = name.join("/");
            let r2 = r.clone();
            http::json(
                &d.images
                    .with(move |s| s.inspect(&r2))
                    .await
                    .map_err(|e| not_found(e, &r))?,
            )
        }
        (&Method::GET, ["images", name @ .., "history"]) => {
            let r = name.join("/");
            let r2 = r.clone();
            let rows = d
                .images
                .with(move |s| s.history(&r2))
                .await
                .map_err(|e| not_found(e, &r))?;
            let out: Vec<Value> = rows
                .iter()
                .map(|h| json!({ "Id": h.id, "Created": unix(h.created.as_deref()), "CreatedBy": h.created_by,
                                 "Tags": if h.tags.is_empty() { Value::Null } else { json!(h.tags) }, "Size": h.size, "Comment": h.comment }))
                .collect();
            http::json(&out)
        }
        (&Method::POST, ["images", name @ .., "tag"]) => {
            let r = name.join("/");
            let repo = q.get("repo").filter(|s| !s.is_empty()).ok_or_else(|| {
                ApiError::bad_request("repository name must have at least one component")
            })?;
            let target = match q.get("tag").filter(|t| !t.is_empty()) {
                Some(t) => format!("{repo}:{t}"),
                None => repo.to_string(),
            };
            d.images
                .tag(&r, &target)
                .await
                .map_err(|e| not_found(e, &r))?;
            let mut reply = http::empty()?;
            *reply.status_mut() = StatusCode::CREATED;
            Ok(reply)
        }
        (&Method::POST, ["images", name @ .., "push"]) => {
            let credential = registry_auth(&req)?;
            let local = name.join("/");
            let target = match q.get("tag").filter(|t| !t.is_empty()) {
                Some(t) => format!("{local}:{t}"),
                None => local.clone(),
            };
            d.images
                .resolve(&target)
                .await
                .map_err(|e| not_found(e, &target))?;
            let d = d.clone();
            Ok(progress_stream(move |progress| async move {
                let digest = d
                    .images
                    .push_as(&target, None, credential, progress)
                    .await?;
                let tag = target.rsplit(':').next().unwrap_or("latest").to_string();
                Ok(vec![
                    json!({ "status": format!("{tag}: digest: {digest}") }),
                    json!({ "aux": { "Tag": tag, "Digest": digest } }),
                ])
            }))
        }
        (&Method::DELETE, ["images", name @ ..]) => {
            let r = name.join("/");
            let image = d.images.resolve(&r).await.map_err(|e| not_found(e, &r))?;
            let users = d.containers.using_image(&image.id).await;
            // Untagging one of several names removes no image: Docker allows it whoever
            // uses the image.
            let id = image.id.clone();
            let tags = d.images.with(move |s| s.inspect(&id)).await?["RepoTags"]
                .as_array()
                .map_or(0, Vec::len);
            let by_id = image
                .id
                .trim_start_matches("sha256:")
                .starts_with(r.trim_start_matches("sha256:"));
            if !users.is_empty() && !flag(q, "force") && (by_id || tags <= 1) {
                return Err(ApiError::conflict(format!(
                    "conflict: unable to remove repository reference \"{r}\" (must force) - container {} is using its referenced image {}",
                    short(&users[0]),
                    short(image.id.trim_start_matches("sha256:"))
                )));
            }
            let force = flag(q, "force");
            let lines = d.images.remove(&r, force).await?;
            let out: Vec<Value> = lines.iter().map(|l| removal(l)).collect();
            http::json(&out)
        }
        (&Method::POST, ["build"]) => super::super::api_build::build(d, q, req).await,
        (&Method::POST, ["build", "prune"]) => {
            let in_use = d.containers.image_ids().await;
            let v =
                serde_json::to_value(d.images.with(move |s| s.prune_build_cache(&in_use)).await?)
                    .unwrap_or_default();
            http::json(
                &json!({ "CachesDeleted": v.get("CachesDeleted").cloned().unwrap_or(json!([])), "SpaceReclaimed": v.get("SpaceReclaimed").cloned().unwrap_or(json!(0)) }),
            )
        }
        (&Method::POST, ["commit"]) => {
            let c = q.get("container").unwrap_or("").to_string();
            let ctr = super::containers::get(door, &c).await?;
            let mut reply = super::super::api_commit::commit(d, &ctr, q).await?;
            *reply.status_mut() = StatusCode::CREATED;
            Ok(reply)
        }
        (&Method::POST, ["auth"]) => {
            // Docker's login checks the credential; the client stores it and sends it with
            // each pull and push (X-Registry-Auth), so the daemon keeps nothing.
            let body = api::read_body(req).await?;
            let v: Value = super::parse_json(&body)?;
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            if s("username").is_empty() || s("password").is_empty() {
                return Err(ApiError::bad_request(
                    "login needs a username and a password",
                ));
            }
            let registry = match s("serveraddress") {
                a if a.is_empty() => "docker.io".to_string(),
                a => a
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .to_string(),
            };
            let cred = Credential {
                username: s("username"),
                password: s("password"),
            };
            d.images.check_login(&registry, cred).await.map_err(|e| {
                if e.status.is_client_error()
                    || e.message.contains("unauthorized")
                    || e.message.contains("incorrect")
                {
                    ApiError::new(StatusCode::UNAUTHORIZED, e.message)
                } else {
                    e
                }
            })?;
            http::json(&json!({ "Status": "Login Succeeded", "IdentityToken": "" }))
        }
        (&Method::GET, ["distribution", ..]) => Err(super::unsupported(
            "distribution inspect (registry manifests without a pull)",
        )),
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// `reference` filters: `name`, `name:tag`, with `*` globs on the repository part.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
    let (prepo, ptag) = match pattern.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (pattern, None),
    };
    let glob = |p: &str, s: &str| match p.split_once('*') {
        None => p == s,
        Some((a, b)) => s.starts_with(a) && s.ends_with(b) && s.len() >= a.len() + b.len(),
    };
    glob(prepo, repo) && ptag.is_none_or(|pt| glob(pt, t))
}

async fn save(door: &Door, names: Vec<String>) -> ApiResult {
    let saved = names.clone();
    for n in &names {
        door.d
            .images
            .resolve(n)
            .await
            .map_err(|e| not_found(e, n))?;
    }
    let out = door
        .d
        .images
        .tmp
        .join(format!("save-{}", berth_engine::fsutil::new_id()));
    let partial = api::Scratch::new(out.clone());
    door.d
        .images
        .with(move |s| {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let f = std::fs::File::create(&out).map_err(|source| {
                berth_engine::image::ImageError::Io {
                    path: out.clone(),
                    source,
                }
            })?;
            s.save(&refs, std::io::BufWriter::new(f))
        })
        .await?;
    door.d.images.noted("save", &saved).await;
    api::stream_file(partial.keep(), true).await
}

/// The caller's registry credential from `X-Registry-Auth` (base64url JSON: `username` and
/// `password`, or `auth` as `user:password` in base64). None when absent or empty; a token
/// berth cannot use is refused rather than dropped.
fn registry_auth<B>(req: &Request<B>) -> Result<Option<Credential>, ApiError> {
    use base64::Engine;
    let Some(raw) = req
        .headers()
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let b64 = &base64::engine::general_purpose::URL_SAFE;
    let bytes = b64
        .decode(raw)
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim_end_matches('='))
        })
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .map_err(|_| ApiError::bad_request("invalid X-Registry-Auth: not base64"))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth: {e}")))?;
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    if !s("identitytoken").is_empty() || !s("registrytoken").is_empty() {
        return Err(super::unsupported(
            "identity and registry tokens in X-Registry-Auth (log in with a password)",
        ));
    }
    let (mut username, mut password) = (s("username"), s("password"));
    if username.is_empty() && !s("auth").is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(s("auth"))
            .map_err(|_| ApiError::bad_request("invalid X-Registry-Auth: auth is not base64"))?;
        let text = String::from_utf8_lossy(&decoded).into_owned();
        if let Some((u, p)) = text.split_once(':') {
            (username, password) = (u.to_string(), p.to_string());
        }
    }
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credential { username, password }))
}

/// Docker's pull progress line for one of berth's progress events.
fn progress_line(p: &Progress) -> Value {
    let mut v = json!({ "status": p.status, "id": p.id });
    if let (Some(c), Some(t)) = (p.current, p.total) {
        v["progressDetail"] = json!({ "current": c, "total": t });
    } else {
        v["progressDetail"] = json!({});
    }
    if p.id.is_empty() {
        v.as_object_mut().expect("object").remove("id");
    }
    v
}

/// `POST /images/create`: a pull (`fromImage`, `tag`, `platform`) streamed as Docker's
/// progress messages, or an import of a rootfs tar (`fromSrc=-`, the body).
async fn create(door: &Arc<Door>, q: &Query, req: Request<Incoming>) -> ApiResult {
    let d = door.d.clone();
    if let Some(src) = q.get("fromSrc").filter(|s| !s.is_empty()) {
        if src != "-" {
            return Err(super::unsupported(
                "importing from a URL (fromSrc must be -)",
            ));
        }
        let reference = match (
            q.get("repo").filter(|r| !r.is_empty()),
            q.get("tag").filter(|t| !t.is_empty()),
        ) {
            (Some(r), Some(t)) => Some(format!("{r}:{t}")),
            (Some(r), None) => Some(r.to_string()),
            _ => None,
        };
        let changes = q.all("changes");
        let tagged = reference.clone();
        let summary = api::with_upload(&d, req, move |s, f| {
            s.import(f, reference.as_deref(), &changes)
        })
        .await?;
        d.images.imported(&summary.id, tagged.as_deref());
        return http::json(&json!({ "status": summary.id }));
    }
    let from = q
        .get("fromImage")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("fromImage or fromSrc is required"))?;
    let tag = q.get("tag").filter(|t| !t.is_empty());
    let reference = match tag {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) if !from.contains('@') => format!("{from}:{t}"),
        _ => from.to_string(),
    };
    berth_engine::image::Reference::parse(&reference)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let platform = q
        .get("platform")
        .filter(|p| !p.is_empty())
        .map(String::from);
    let credential = registry_auth(&req)?;
    Ok(progress_stream(move |progress| async move {
        let done = d
            .images
            .pull_as(&reference, platform.as_deref(), credential, progress)
            .await?;
        let word = if done.updated {
            "Downloaded newer image"
        } else {
            "Image is up to date"
        };
        Ok(vec![
            json!({ "status": format!("Digest: {}", done.digest) }),
            json!({ "status": format!("Status: {word} for {reference}") }),
        ])
    }))
}

/// Docker's JSON progress stream: berth's progress events while `work` runs, then its final
/// lines, or `{"error", "errorDetail"}` (an error after the stream started reaches the
/// client there, as Docker's).
fn progress_stream<F, Fut>(work: F) -> super::super::http::Reply
where
    F: FnOnce(super::super::images::ProgressFn) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Vec<Value>, ApiError>> + Send + 'static,
{
    let (tx, reply) = http::channel("application/json");
    let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let progress: super::super::images::ProgressFn = Arc::new(move |p| {
        let _ = ptx.send(p);
    });
    tokio::spawn(async move {
        let worker = tokio::spawn(work(progress));
        let send = |v: Value| Bytes::from(v.to_string() + "\n");
        while let Some(p) = prx.recv().await {
            let _ = tx.send(send(progress_line(&p))).await;
        }
        let last = match worker.await {
            Ok(Ok(lines)) => lines,
            Ok(Err(e)) => {
                vec![json!({ "errorDetail": { "message": e.message }, "error": e.message })]
            }
            Err(e) => {
                vec![json!({ "errorDetail": { "message": e.to_string() }, "error": e.to_string() })]
            }
        };
        for l in last {
            let _ = tx.send(send(l)).await;
        }
    });
    reply
}

/// A line of the image store's removal report ("Untagged: x", "Deleted: y") as Docker's
/// `{"Untagged": x}` / `{"Deleted": y}`.
fn removal(line: &str) -> Value {
    match line.split_once(": ") {
        Some(("Untagged", x)) => json!({ "Untagged": x }),
        Some((_, x)) => json!({ "Deleted": x }),
        None => json!({ "Deleted": line }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filters() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:1.36"));
        assert!(reference_matches("busybox:1.*", "busybox:1.36"));
        assert!(!reference_matches("busybox:2", "busybox:1.36"));
    }
}
