//! Image routes in Docker's shapes: list, inspect, history, tag, remove, create (pull, with
//! Docker's progress stream; or import with `fromSrc`), push, load, save/get, prune, build
//! (the daemon's own builder, classic `POST /build`), commit. Each is the image store's or
//! the registry glue's own operation.

use super::super::api;
use super::super::containers::short;
use super::super::http::{self, ApiError, ApiResult, Query};
use super::filters::Filters;
use super::{flag, Door};
use berth_engine::registry::Progress;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
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
    if e.status == StatusCode::NOT_FOUND {
        ApiError::not_found(format!("No such image: {r}"))
    } else {
        e
    }
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
            let f = Filters::parse(q, &["dangling", "label", "until"])?;
            let all = f.truth("dangling")? == Some(false);
            let mut in_use = BTreeSet::new();
            for c in d.containers.all().await {
                in_use.insert(c.rec.lock().await.image_id.clone());
            }
            let report = d.images.with(move |s| s.prune(all, &in_use)).await?;
            let deleted: Vec<Value> = report
                .images_deleted
                .iter()
                .map(|l| match l.split_once(": ") {
                    Some(("Untagged", x)) => json!({ "Untagged": x }),
                    Some((_, x)) => json!({ "Deleted": x }),
                    None => json!({ "Deleted": l }),
                })
                .collect();
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
            let r2 = r.clone();
            d.images
                .with(move |s| s.tag(&r2, &target))
                .await
                .map_err(|e| not_found(e, &r))?;
            let mut reply = http::empty()?;
            *reply.status_mut() = StatusCode::CREATED;
            Ok(reply)
        }
        (&Method::POST, ["images", name @ .., "push"]) => {
            let body = api::read_body(req).await?;
            let segs: Vec<&str> = std::iter::once("images")
                .chain(name.iter().copied())
                .chain(std::iter::once("push"))
                .collect();
            super::super::api_registry::route(d, m, &segs, q, body).await
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
            let lines = d.images.with(move |s| s.remove(&r, force)).await?;
            let out: Vec<Value> = lines
                .iter()
                .map(|l| match l.split_once(": ") {
                    Some(("Untagged", x)) => json!({ "Untagged": x }),
                    Some((_, x)) => json!({ "Deleted": x }),
                    None => json!({ "Deleted": l }),
                })
                .collect();
            http::json(&out)
        }
        (&Method::POST, ["build"]) => super::super::api_build::build(d, q, req).await,
        (&Method::POST, ["build", "prune"]) => {
            let mut in_use = BTreeSet::new();
            for c in d.containers.all().await {
                in_use.insert(c.rec.lock().await.image_id.clone());
            }
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
            let body = api::read_body(req).await?;
            let v: Value = super::parse_json(&body)?;
            let lowered = json!({ "username": v["username"], "password": v["password"], "serveraddress": v["serveraddress"] });
            super::super::api_registry::route(d, m, &["auth"], q, lowered.to_string().into()).await
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
    api::stream_file(partial.keep(), true).await
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
        let summary = api::with_upload(&d, req, move |s, f| {
            s.import(f, reference.as_deref(), &changes)
        })
        .await?;
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
    let (tx, reply) = http::channel("application/json");
    let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let progress: super::super::images::ProgressFn = Arc::new(move |p| {
        let _ = ptx.send(p);
    });
    tokio::spawn(async move {
        let r = reference.clone();
        let worker =
            tokio::spawn(async move { d.images.pull(&r, platform.as_deref(), progress).await });
        let send = |v: Value| Bytes::from(v.to_string() + "\n");
        while let Some(p) = prx.recv().await {
            let _ = tx.send(send(progress_line(&p))).await;
        }
        let last = match worker.await {
            Ok(Ok(done)) => {
                let _ = tx
                    .send(send(
                        json!({ "status": format!("Digest: {}", done.digest) }),
                    ))
                    .await;
                let word = if done.updated {
                    "Downloaded newer image"
                } else {
                    "Image is up to date"
                };
                json!({ "status": format!("Status: {word} for {reference}") })
            }
            Ok(Err(e)) => json!({ "errorDetail": { "message": e.message }, "error": e.message }),
            Err(e) => {
                json!({ "errorDetail": { "message": e.to_string() }, "error": e.to_string() })
            }
        };
        let _ = tx.send(send(last)).await;
    });
    Ok(reply)
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
