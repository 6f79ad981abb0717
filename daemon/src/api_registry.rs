//! Registry routes: pull (`POST /images/create?fromImage=`), push, prune, login and logout.
//!
//! Pull and push answer with a stream of JSON lines, one per progress event (`{"id","status"}`
//! as `docker pull`'s API), ending with `{"status": ...}` or `{"error": ...}`: a CLI shows
//! each layer as it goes, and an error after the stream started still reaches it.

use super::http::{self, ApiError, ApiResult, Query, Reply};
use super::images::ProgressFn;
use super::Daemon;
use berth_engine::registry::{Credential, Progress};
use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;

pub async fn route(
    d: &Arc<Daemon>,
    m: &Method,
    segs: &[&str],
    q: &Query,
    body: Bytes,
) -> ApiResult {
    match (m, segs) {
        (&Method::POST, ["images", "create"]) => {
            let from = q
                .get("fromImage")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError::bad_request("pull needs fromImage"))?;
            // Docker's API passes the tag apart; a digest rides in `tag` as `sha256:...`.
            let reference = match q.get("tag").filter(|t| !t.is_empty()) {
                Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
                Some(t) => format!("{from}:{t}"),
                None => from.to_string(),
            };
            // A bad name is refused before anything streams.
            berth_engine::image::Reference::parse(&reference)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let platform = q.get("platform").map(String::from);
            let d = d.clone();
            Ok(stream(move |progress| async move {
                let done = d
                    .images
                    .pull(&reference, platform.as_deref(), progress)
                    .await?;
                Ok(
                    json!({ "status": "pulled", "Id": done.id, "Digest": done.digest, "Fetched": done.fetched }),
                )
            }))
        }
        (&Method::POST, ["images", name @ .., "push"]) => {
            let local = name.join("/");
            let target = q.get("tag").filter(|t| !t.is_empty()).map(String::from);
            // Fail fast on an unknown image, before the stream starts.
            d.images.resolve(&local).await?;
            let d = d.clone();
            Ok(stream(move |progress| async move {
                let digest = d.images.push(&local, target.as_deref(), progress).await?;
                Ok(json!({ "status": "pushed", "Digest": digest }))
            }))
        }
        (&Method::POST, ["images", "prune"]) => {
            let all = q.flag("all");
            let in_use = d.containers.image_ids().await;
            let report = d.images.with(move |s| s.prune(all, &in_use)).await?;
            d.images.removed("", &report.images_deleted);
            http::json(&report)
        }
        (&Method::POST, ["auth"]) => {
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid login request: {e}")))?;
            let field = |k: &str| v[k].as_str().unwrap_or("").to_string();
            let credential = Credential {
                username: field("username"),
                password: field("password"),
            };
            if credential.username.is_empty() || credential.password.is_empty() {
                return Err(ApiError::bad_request(
                    "login needs a username and a password",
                ));
            }
            let registry = field("serveraddress");
            let registry = if registry.is_empty() {
                "docker.io".to_string()
            } else {
                registry
            };
            d.images.login(&registry, credential).await?;
            http::json(&json!({ "Status": "Login Succeeded" }))
        }
        (&Method::DELETE, ["auth", registry @ ..]) => {
            let registry = registry.join("/");
            let removed = d.images.logout(&registry).await?;
            http::json(&json!({ "Removed": removed }))
        }
        _ => Err(ApiError::not_found(format!(
            "no route for {m} /{}",
            segs.join("/")
        ))),
    }
}

/// A streamed JSON-lines reply: progress events while `work` runs, then its result (or
/// `{"error"}`). Progress goes through an unbounded channel so that the engine's download
/// threads never block on a slow reader (and may call it from anywhere).
pub(super) fn stream<F, Fut>(work: F) -> Reply
where
    F: FnOnce(ProgressFn) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Value, ApiError>> + Send + 'static,
{
    let (tx, reply) = http::channel("application/json");
    let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let progress: ProgressFn = Arc::new(move |p| {
        let _ = ptx.send(p);
    });
    tokio::spawn(async move {
        let worker = tokio::spawn(work(progress));
        // The channel closes when the last progress handle (held by the work) is dropped.
        while let Some(p) = prx.recv().await {
            if let Ok(mut line) = serde_json::to_vec(&p) {
                line.push(b'\n');
                let _ = tx.send(Bytes::from(line)).await;
            }
        }
        let last = match worker.await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => json!({ "error": e.message }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        let mut line = last.to_string().into_bytes();
        line.push(b'\n');
        let _ = tx.send(Bytes::from(line)).await;
    });
    reply
}

/// Progress of `up`'s own pulls, which stream to no one: to the daemon's log.
pub fn log_progress(project: &str) -> ProgressFn {
    let project = project.to_string();
    Arc::new(move |p: Progress| {
        if p.status != "Downloading" {
            tracing::info!(project = %project, layer = %p.id, status = %p.status, "pull");
        }
    })
}
