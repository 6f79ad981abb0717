//! A container's sizes as `docker ps -s`, `docker inspect -s` and `docker system df` show
//! them: `SizeRw`, the bytes of the files its writable layer (the overlay upper dir) holds,
//! and `SizeRootFs`, that plus its image's size, as dockerd's `GetContainerLayerSize`. Walking
//! the upper dir costs a read of every directory in it, so only `size=1` asks for it.

use super::Door;
use serde_json::{json, Value};

/// `(SizeRw, SizeRootFs)` of the container `id` made from the image `image_id`.
pub async fn of(door: &Door, id: &str, image_id: &str) -> (u64, u64) {
    let upper = door.d.containers.layout(id).upper();
    let rw = tokio::task::spawn_blocking(move || super::super::volumes::disk_usage(&upper))
        .await
        .unwrap_or(0);
    let image = image_id.to_string();
    let base = door
        .d
        .images
        .with(move |s| s.inspect(&image))
        .await
        .ok()
        .and_then(|v| v["Size"].as_u64())
        .unwrap_or(0);
    (rw, rw + base)
}

/// Adds `SizeRw` and `SizeRootFs` to the container summary or inspect document `v`.
pub async fn add(door: &Door, v: &mut Value, id: &str, image_id: &str) {
    let (rw, root) = of(door, id, image_id).await;
    v["SizeRw"] = json!(rw);
    v["SizeRootFs"] = json!(root);
}
