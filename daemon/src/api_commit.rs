//! `container commit` and `container diff`: a container's writable layer as a new image, and
//! as the list of what it changed (berth_engine::image::diff).

use super::containers::Ctr;
use super::http::{self, ApiError, ApiResult, Query};
use super::Daemon;
use berth_engine::container::Status;
use berth_engine::image::diff::{self, ChangeKind};
use berth_engine::image::CommitOptions;
use serde_json::json;
use std::sync::Arc;

/// POST /containers/{id}/commit?repo=&tag=&comment=&author=&changes=&pause= (Docker's
/// parameters; `pause` defaults to true): `{"Id": "sha256:..."}`.
pub async fn commit(d: &Arc<Daemon>, ctr: &Arc<Ctr>, q: &Query) -> ApiResult {
    let reference = match (q.get("repo").filter(|r| !r.is_empty()), q.get("tag")) {
        (Some(repo), Some(tag)) if !tag.is_empty() => Some(format!("{repo}:{tag}")),
        (Some(repo), _) => Some(repo.to_string()),
        (None, _) => None,
    };
    let (image_id, created_by, running) = {
        let r = ctr.rec.lock().await;
        let mut argv = vec![r.path.clone()];
        argv.extend(r.args.iter().cloned());
        (
            r.image_id.clone(),
            argv.join(" "),
            r.state.status == Status::Running,
        )
    };
    let opts = CommitOptions {
        reference,
        changes: q.all("changes"),
        comment: q.get("comment").filter(|c| !c.is_empty()).map(String::from),
        author: q.get("author").filter(|a| !a.is_empty()).map(String::from),
        created_by,
    };
    // Frozen while its layer is read, so the image is one moment of the container (Docker's
    // default); `pause=false` reads it as it goes on changing.
    let pause = running && !matches!(q.get("pause"), Some("0" | "false" | "False"));
    if pause {
        d.containers.pause(ctr, true).await?;
    }
    let committed = commit_layer(d, &ctr.id, &image_id, opts).await;
    if pause {
        d.containers.pause(ctr, false).await?;
    }
    let summary = committed?;
    tracing::info!(container = %ctr.id, image = %summary.id, "committed");
    http::json(&json!({ "Id": summary.id }))
}

async fn commit_layer(
    d: &Arc<Daemon>,
    id: &str,
    image_id: &str,
    opts: CommitOptions,
) -> Result<berth_engine::image::ImageSummary, ApiError> {
    let upper = d.containers.layout(id).upper();
    let tmp = d
        .images
        .tmp
        .join(format!("commit-{}", berth_engine::fsutil::new_id()));
    let image_id = image_id.to_string();
    let path = tmp.clone();
    let written = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::create(&path)?;
        diff::write_layer(&upper, std::io::BufWriter::new(file))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let result = match written {
        Err(e) => Err(ApiError::internal(format!(
            "reading the container's layer: {e}"
        ))),
        Ok(()) => {
            let path = tmp.clone();
            d.images
                .with(move |s| {
                    let layer = std::fs::File::open(&path)
                        .map_err(berth_engine::image::ImageError::ReadArchive)?;
                    s.commit(&image_id, std::io::BufReader::new(layer), &opts)
                })
                .await
        }
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

/// GET /containers/{id}/changes: Docker's `[{"Path": "/etc", "Kind": 0}]`, Kind 0 changed,
/// 1 added, 2 deleted.
pub async fn changes(d: &Arc<Daemon>, ctr: &Arc<Ctr>) -> ApiResult {
    let image_id = ctr.rec.lock().await.image_id.clone();
    let lower = d.images.resolve(&image_id).await?.layers;
    let upper = d.containers.layout(&ctr.id).upper();
    let list = tokio::task::spawn_blocking(move || diff::changes(&upper, &lower))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("reading the container's layer: {e}")))?;
    let out: Vec<serde_json::Value> = list
        .iter()
        .map(|c| {
            let kind = match c.kind {
                ChangeKind::Changed => 0,
                ChangeKind::Added => 1,
                ChangeKind::Deleted => 2,
            };
            json!({ "Path": c.path, "Kind": kind })
        })
        .collect();
    http::json(&out)
}
