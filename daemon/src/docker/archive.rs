//! `docker cp` and `docker export`: `GET`/`HEAD`/`PUT /containers/{id}/archive` and
//! `GET /containers/{id}/export`. The filesystem is read and written by the fs helper from
//! inside the container (its own mount namespace when it runs, a private overlay mount when
//! it does not; berth_engine::runtime::fscopy), so paths and symlinks resolve within the
//! container, never on the host.

use super::super::containers::Ctr;
use super::super::http::{self, ApiError, ApiResult, Query};
use super::Door;
use berth_engine::container::Status;
use berth_engine::runtime::fscopy::{FsOp, FsRequest};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

async fn fs_request(door: &Door, ctr: &Ctr, op: FsOp) -> Result<FsRequest, ApiError> {
    let r = ctr.rec.lock().await.clone();
    let cs = &door.d.containers;
    let image = cs.images().resolve(&r.image_id).await?;
    let layout = cs.layout(&r.id);
    let mut layers = image.layers;
    if layout.init_layer().exists() {
        layers.push(layout.init_layer());
    }
    Ok(FsRequest {
        running: matches!(r.state.status, Status::Running | Status::Paused),
        pid: r.state.pid,
        pid_start_time: r.state.pid_start_time,
        layers,
        upper: layout.upper(),
        work: layout.dir.join("fs/work"),
        mountpoint: layout.dir.join("fs/rootfs"),
        op,
        // A container's own writable layer: kept, and synced as any.
        scratch: false,
    })
}

fn helper(door: &Door, req: &FsRequest) -> Result<tokio::process::Command, ApiError> {
    let json = serde_json::to_string(req).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut cmd = tokio::process::Command::new(door.d.containers.helper_exe());
    cmd.arg("fs-helper")
        .arg(json)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    Ok(cmd)
}

fn helper_error(stderr: &[u8]) -> String {
    let msg = String::from_utf8_lossy(stderr);
    let msg = msg.trim();
    msg.strip_prefix("berth: ").unwrap_or(msg).to_string()
}

/// The helper's failure as Docker answers it: a path that is not there is a 404 in dockerd's
/// words; anything else is `other(msg)`.
fn helper_failure(
    msg: String,
    path: &str,
    ctr: &Ctr,
    other: impl FnOnce(String) -> ApiError,
) -> ApiError {
    match msg.contains("could not find") {
        true => ApiError::not_found(format!(
            "Could not find the file {path} in container {}",
            ctr.name()
        )),
        false => other(msg),
    }
}

/// Go's os.FileMode of a unix mode: permissions, plus type and special bits where Go keeps them.
fn go_mode(mode: u32) -> u32 {
    let mut m = mode & 0o777;
    match mode & libc::S_IFMT {
        libc::S_IFDIR => m |= 1 << 31,
        libc::S_IFLNK => m |= 1 << 27,
        libc::S_IFIFO => m |= 1 << 25,
        libc::S_IFSOCK => m |= 1 << 24,
        libc::S_IFBLK => m |= 1 << 26,
        libc::S_IFCHR => m |= (1 << 26) | (1 << 21),
        _ => {}
    }
    if mode & libc::S_ISUID != 0 {
        m |= 1 << 23;
    }
    if mode & libc::S_ISGID != 0 {
        m |= 1 << 22;
    }
    if mode & libc::S_ISVTX != 0 {
        m |= 1 << 20;
    }
    m
}

/// The stat of `path` in the container as Docker's header carries it (base64 JSON).
async fn stat(door: &Door, ctr: &Ctr, path: &str) -> Result<String, ApiError> {
    let req = fs_request(door, ctr, FsOp::Stat(path.to_string())).await?;
    let out = helper(door, &req)?
        .stdout(Stdio::piped())
        .output()
        .await
        .map_err(|e| ApiError::internal(format!("starting the fs helper: {e}")))?;
    if !out.status.success() {
        return Err(helper_failure(
            helper_error(&out.stderr),
            path,
            ctr,
            ApiError::internal,
        ));
    }
    let v: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| ApiError::internal(e.to_string()))?;
    let mtime = chrono::DateTime::from_timestamp(
        v["mtime"].as_i64().unwrap_or(0),
        v["mtime_nsec"].as_u64().unwrap_or(0) as u32,
    )
    .unwrap_or_default()
    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let stat = json!({
        "name": v["name"],
        "size": v["size"],
        "mode": go_mode(v["mode"].as_u64().unwrap_or(0) as u32),
        "mtime": mtime,
        "linkTarget": v["linkTarget"],
    });
    use base64::Engine;
    Ok(base64::engine::general_purpose::STANDARD.encode(stat.to_string()))
}

/// Streams the helper's stdout as the reply body.
fn stream_stdout(mut child: tokio::process::Child, header: Option<String>) -> ApiResult {
    let (tx, mut reply) = http::channel("application/x-tar");
    if let Some(h) = header {
        reply.headers_mut().insert(
            "x-docker-container-path-stat",
            h.parse()
                .map_err(|_| ApiError::internal("bad stat header"))?,
        );
    }
    let mut out = child.stdout.take().expect("piped stdout");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = out.read(&mut buf).await {
            if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                break;
            }
        }
        let _ = child.wait().await;
    });
    Ok(reply)
}

pub async fn export(door: &Arc<Door>, ctr: &Arc<Ctr>) -> ApiResult {
    let req = fs_request(door, ctr, FsOp::Export).await?;
    let child = helper(door, &req)?
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| ApiError::internal(format!("starting the fs helper: {e}")))?;
    stream_stdout(child, None)
}

pub async fn route(
    door: &Arc<Door>,
    ctr: &Arc<Ctr>,
    m: &Method,
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    let path = q
        .get("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("path is required"))?
        .to_string();
    match *m {
        Method::HEAD => {
            let header = stat(door, ctr, &path).await?;
            Ok(Response::builder()
                .header("x-docker-container-path-stat", header)
                .header("content-type", "application/x-tar")
                .body(http::full(Bytes::new()))
                .expect("valid response"))
        }
        Method::GET => {
            let header = stat(door, ctr, &path).await?;
            let fsreq = fs_request(door, ctr, FsOp::Out(path)).await?;
            let child = helper(door, &fsreq)?
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| ApiError::internal(format!("starting the fs helper: {e}")))?;
            stream_stdout(child, Some(header))
        }
        _ => {
            let scratch = super::super::api::spool(&door.d, req).await?;
            let fsreq = fs_request(door, ctr, FsOp::In(path.clone())).await?;
            let stdin = std::fs::File::open(scratch.path())?;
            let out = helper(door, &fsreq)?
                .stdin(Stdio::from(stdin))
                .stdout(Stdio::null())
                .output()
                .await
                .map_err(|e| ApiError::internal(format!("starting the fs helper: {e}")))?;
            if !out.status.success() {
                return Err(helper_failure(
                    helper_error(&out.stderr),
                    &path,
                    ctr,
                    |msg| match msg.contains("not a directory") {
                        true => ApiError::bad_request("extraction point is not a directory"),
                        false => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, msg),
                    },
                ));
            }
            let mut reply = http::empty()?;
            *reply.status_mut() = StatusCode::OK;
            Ok(reply)
        }
    }
}
