//! The API: HTTP+JSON routes over the daemon's unix socket. Paths follow Docker's Engine API
//! where one exists, so the vocabulary is familiar.
//!
//! Why one long file: the route table; each group of routes with logic of its own has an api_*.rs.

use super::containers::{short, Containers, Ctr};
use super::http::{self, ApiError, ApiResult, Query};
use super::Daemon;
use berth_engine::container::{ContainerConfig, ContainerRecord, Status};
use berth_engine::runtime::logs::{self, LogFollower};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub async fn route(d: Arc<Daemon>, req: Request<Incoming>) -> ApiResult {
    let q = Query::parse(req.uri().query());
    let path = req.uri().path().to_string();
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(http::decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method().clone();
    match (&m, segs.as_slice()) {
        (&Method::GET, ["_ping"]) => http::json(&"OK"),
        (&Method::GET, ["info"]) => info(&d).await,
        (&Method::POST, ["shutdown"]) => {
            d.shutdown.notify_one();
            http::empty()
        }
        (&Method::GET, ["containers"]) => list(&d, q.flag("all")).await,
        // `berth system df|prune`: the Docker door's answers (`/system/df`,
        // `/system/prune/{containers,networks,volumes,images,build}`).
        (&Method::GET, ["system", "df"]) => {
            super::docker::housekeeping(d.clone(), &m, &segs, &q, req).await
        }
        (&Method::POST, ["system", "prune", kind]) => {
            let kind = kind.to_string();
            super::docker::housekeeping(d.clone(), &m, &[&kind, "prune"], &q, req).await
        }
        (&Method::GET, ["events"]) => super::api_stacks::events(&d, &q).await,
        (&Method::POST, ["containers"]) => {
            let cfg: ContainerConfig = read_json(req).await?;
            let c = super::api_volumes::create_container(&d, cfg).await?;
            if q.flag("start") {
                return create_and_start(&d, &c, q.flag("attach")).await;
            }
            http::json(&json!({ "Id": c.id }))
        }
        (_, ["stacks", rest @ ..]) => {
            let rest: Vec<&str> = rest.to_vec();
            let body = read_body(req).await?;
            super::api_stacks::route(&d, &m, &rest, body).await
        }
        (_, ["volumes", rest @ ..]) => {
            let rest: Vec<&str> = rest.to_vec();
            let body = read_body(req).await?;
            super::api_volumes::route(&d, &m, &rest, &q, body).await
        }
        (_, ["networks", rest @ ..]) => {
            let rest: Vec<&str> = rest.to_vec();
            let body = read_body(req).await?;
            super::api_networks::route(&d, &m, &rest, &q, body).await
        }
        (_, ["containers", r, rest @ ..]) => {
            let ctr = d.containers.get(r).await?;
            container_route(&d, &ctr, &m, rest, &q, req).await
        }
        (&Method::POST, ["images", "create" | "prune"])
        | (&Method::POST, ["images", .., "push"])
        | (_, ["auth", ..]) => {
            let body = read_body(req).await?;
            super::api_registry::route(&d, &m, &segs, &q, body).await
        }
        (&Method::POST, ["build"]) => super::api_build::build(&d, &q, req).await,
        (&Method::POST, ["build", "prune"]) => {
            let in_use = d.containers.image_ids().await;
            http::json(&d.images.with(move |s| s.prune_build_cache(&in_use)).await?)
        }
        (&Method::GET, ["images"]) => {
            // As Docker: a build's intermediate images only with `all`.
            let all = q.flag("all");
            let mut list = d.images.with(|s| s.list()).await?;
            list.retain(|i| all || !i.intermediate);
            http::json(&list)
        }
        (&Method::POST, ["images", "import"]) => {
            let reference = q.get("ref").filter(|s| !s.is_empty()).map(String::from);
            let changes = q.all("change");
            let tagged = reference.clone();
            let summary = with_upload(&d, req, move |s, f| {
                s.import(f, reference.as_deref(), &changes)
            })
            .await?;
            d.images.imported(&summary.id, tagged.as_deref());
            http::json(&summary)
        }
        (&Method::POST, ["images", "load"]) => {
            let loaded = with_upload(&d, req, |s, f| s.load(f)).await?;
            d.images.noted("load", &loaded).await;
            http::json(&loaded)
        }
        (&Method::GET, ["images", "save"]) => {
            let names = q.all("name");
            let saved = names.clone();
            let out = d
                .images
                .tmp
                .join(format!("save-{}", berth_engine::fsutil::new_id()));
            let out2 = out.clone();
            // Removed if the archive cannot be written whole (a full disk); once written,
            // stream_file removes it after sending.
            let partial = Scratch::new(out);
            d.images
                .with(move |s| {
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    let f = std::fs::File::create(&out2).map_err(|source| {
                        berth_engine::image::ImageError::Io {
                            path: out2.clone(),
                            source,
                        }
                    })?;
                    s.save(&refs, std::io::BufWriter::new(f))
                })
                .await?;
            d.images.noted("save", &saved).await;
            stream_file(partial.keep(), true).await
        }
        (&Method::GET, ["images", r @ .., "json"]) => {
            let r = r.join("/");
            http::json(&d.images.with(move |s| s.inspect(&r)).await?)
        }
        (&Method::GET, ["images", r @ .., "history"]) => {
            let r = r.join("/");
            http::json(&d.images.with(move |s| s.history(&r)).await?)
        }
        (&Method::POST, ["images", r @ .., "tag"]) => {
            let (r, target) = (r.join("/"), q.get("target").unwrap_or("").to_string());
            d.images.tag(&r, &target).await?;
            http::empty()
        }
        (&Method::DELETE, ["images", r @ ..]) => {
            let r = r.join("/");
            let force = q.flag("force");
            let image = d.images.resolve(&r).await?;
            let users = d.containers.using_image(&image.id).await;
            if !users.is_empty() && !force {
                return Err(ApiError::conflict(format!(
                    "conflict: unable to remove repository reference \"{r}\" (must force) - container {} is using its referenced image {}",
                    short(&users[0]),
                    short(image.id.trim_start_matches("sha256:"))
                )));
            }
            http::json(&d.images.remove(&r, force).await?)
        }
        _ => Err(ApiError::not_found(format!("no route for {m} {path}"))),
    }
}

/// `run`'s create and start in one request (`POST /containers?start=1`, `attach=1` as the
/// start's): one round trip fewer on its path. The container exists once created, so a start
/// that fails still answers its id, with the start's error as `StartError`, for the client to
/// report, inspect and remove as after a start of its own; `Started` says the start was done
/// (a daemon that does not know `start=1` answers the id alone).
async fn create_and_start(d: &Arc<Daemon>, c: &Arc<Ctr>, attach: bool) -> ApiResult {
    match d.containers.start(c, attach).await {
        Ok(s) => http::json(&json!({
            "Id": c.id,
            "Started": true,
            "attach_socket": s.attach_socket,
        })),
        Err(e) => http::json(&json!({
            "Id": c.id,
            "StartError": { "status": e.status.as_u16(), "message": e.message },
        })),
    }
}

async fn container_route(
    d: &Arc<Daemon>,
    ctr: &Arc<Ctr>,
    m: &Method,
    rest: &[&str],
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    let cs = &d.containers;
    let timeout = q.get("t").and_then(|t| t.parse().ok());
    match (m, rest) {
        (&Method::GET, ["json"]) | (&Method::GET, []) => {
            let (mut v, endpoints) = {
                let r = ctr.rec.lock().await;
                (inspect(cs, &r), r.config.networks.clone())
            };
            v["NetworkSettings"] = super::api_networks::settings(d, &ctr.id, &endpoints).await;
            http::json(&v)
        }
        (&Method::GET, ["port"]) => super::api_networks::port(d, ctr).await,
        (&Method::POST, ["start"]) => http::json(&cs.start(ctr, q.flag("attach")).await?),
        (&Method::POST, ["stop"]) => {
            cs.stop(ctr, timeout, q.get("signal")).await?;
            http::empty()
        }
        (&Method::POST, ["restart"]) => {
            cs.stop(ctr, timeout, q.get("signal")).await?;
            cs.start(ctr, false).await?;
            http::empty()
        }
        (&Method::POST, ["kill"]) => {
            cs.kill(ctr, q.get("signal").unwrap_or("KILL")).await?;
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
        (&Method::DELETE, []) => {
            match super::comeback::remove(d, ctr, q.flag("force"), q.flag("v")).await? {
                Some(c) => http::json(&json!({ "notice": c.notice() })),
                None => http::empty(),
            }
        }
        (&Method::POST, ["wait"]) | (&Method::GET, ["wait"]) => {
            let mut rx = ctr.status.subscribe();
            let removed = q.get("condition") == Some("removed");
            let _ = rx
                .wait_for(|s| {
                    if removed {
                        *s == Status::Dead
                    } else {
                        !matches!(
                            s,
                            Status::Running | Status::Paused | Status::Restarting | Status::Created
                        ) || *s == Status::Dead
                    }
                })
                .await;
            let code = ctr.rec.lock().await.state.exit_code;
            http::json(&json!({ "StatusCode": code }))
        }
        (&Method::GET, ["logs"]) => logs_route(cs.clone(), ctr.clone(), q).await,
        (&Method::GET, ["top"]) => super::api_top::top(cs, ctr, q).await,
        (&Method::GET, ["stats"]) => super::api_manage::stats(cs, ctr).await,
        (&Method::POST, ["rename"]) => super::api_manage::rename(cs, ctr, q).await,
        (&Method::POST, ["update"]) => {
            super::api_manage::update(cs, ctr, read_json(req).await?).await
        }
        (&Method::GET, ["attach-info"]) => super::api_manage::attach_info(cs, ctr).await,
        (&Method::GET, ["exec-info"]) => exec_info(cs, ctr).await,
        (&Method::GET, ["fs-info"]) => fs_info(cs, ctr).await,
        (&Method::POST, ["commit"]) => super::api_commit::commit(d, ctr, q).await,
        (&Method::GET, ["changes"]) => super::api_commit::changes(d, ctr).await,
        _ => {
            drop(req);
            Err(ApiError::not_found(format!(
                "no route for {m} /containers/{}/{}",
                short(&ctr.id),
                rest.join("/")
            )))
        }
    }
}

/// The whole request body.
pub(crate) async fn read_body(req: Request<Incoming>) -> Result<bytes::Bytes, ApiError> {
    Ok(req
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .to_bytes())
}

pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    let body = read_body(req).await?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

/// A file under the image store's scratch dir that is deleted when dropped: whatever ends
/// an upload (an error, a full disk, a client gone mid-body, the store refusing it), the
/// scratch copy goes, or it would fill the disk until the next daemon start.
pub(crate) struct Scratch(Option<std::path::PathBuf>);

impl Scratch {
    pub(crate) fn new(path: std::path::PathBuf) -> Scratch {
        Scratch(Some(path))
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        self.0.as_deref().expect("a scratch file not kept yet")
    }

    /// Keeps the file: its new owner removes it.
    pub(crate) fn keep(mut self) -> std::path::PathBuf {
        self.0.take().expect("a scratch file not kept yet")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some(path) = self.0.take() else { return };
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "removing a scratch file");
            }
        }
    }
}

/// Writes a request body to a scratch file (image archives can be large; the store reads
/// them as files).
pub(crate) async fn spool(d: &Daemon, req: Request<Incoming>) -> Result<Scratch, ApiError> {
    let scratch = Scratch::new(
        d.images
            .tmp
            .join(format!("upload-{}", berth_engine::fsutil::new_id())),
    );
    let mut body = req.into_body();
    let path = scratch.path().to_path_buf();
    let io_failed = |e: std::io::Error| {
        tracing::error!(path = %path.display(), error = %berth_engine::fsutil::io_error_text(&e), "writing an upload to disk");
        ApiError::internal(format!(
            "writing {}: {}",
            path.display(),
            berth_engine::fsutil::io_error_text(&e)
        ))
    };
    let mut file = tokio::fs::File::create(&path).await.map_err(io_failed)?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(e.to_string()))?;
        if let Some(data) = frame.data_ref() {
            if let Err(e) = file.write_all(data).await {
                let err = io_failed(e);
                drop(file);
                drop(scratch);
                // Read the rest of the body (and drop it): a client still sending would
                // otherwise see its connection reset (EPIPE) instead of this answer.
                while let Some(Ok(_)) = body.frame().await {}
                return Err(err);
            }
        }
    }
    file.flush().await.map_err(io_failed)?;
    Ok(scratch)
}

/// Spools the request body (an image archive) to a scratch file and hands it to `f` with the
/// store; the file goes either way.
pub(crate) async fn with_upload<T: Send + 'static>(
    d: &Daemon,
    req: Request<Incoming>,
    f: impl FnOnce(
            &mut berth_engine::image::ImageStore,
            std::fs::File,
        ) -> Result<T, berth_engine::image::ImageError>
        + Send
        + 'static,
) -> Result<T, ApiError> {
    let file = spool(d, req).await?;
    let stored = d
        .images
        .with(move |s| {
            let opened = std::fs::File::open(file.path()).map_err(|source| {
                berth_engine::image::ImageError::Io {
                    path: file.path().to_path_buf(),
                    source,
                }
            });
            // `file` (the scratch copy) is deleted when this closure returns.
            opened.and_then(|fh| f(s, fh))
        })
        .await;
    match &stored {
        Err(e) if e.status.is_server_error() => {
            tracing::error!(status = %e.status, error = %e.message, "storing an uploaded image")
        }
        Err(e) => {
            tracing::warn!(status = %e.status, error = %e.message, "storing an uploaded image")
        }
        Ok(_) => {}
    }
    stored
}

pub(crate) async fn stream_file(path: std::path::PathBuf, remove: bool) -> ApiResult {
    let (tx, reply) = http::channel("application/x-tar");
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        if let Ok(mut f) = tokio::fs::File::open(&path).await {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = f.read(&mut buf).await {
                if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    break;
                }
            }
        }
        if remove {
            let _ = tokio::fs::remove_file(&path).await;
        }
    });
    Ok(reply)
}

async fn info(d: &Daemon) -> ApiResult {
    let (total, running, paused, stopped) = d.containers.tally().await;
    let layout = berth_engine::cgroups::detect()
        .map(|l| l.to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    http::json(&json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "CgroupLayout": layout,
        "CgroupParent": d.containers.cgroup_parent,
        "StorageRoot": d.containers.root,
        "RunDir": d.containers.run_dir,
        "Containers": total,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": d.images.count().await,
        "Pid": std::process::id(),
    }))
}

/// Docker's human status: "Up 5 seconds", "Exited (0) 3 minutes ago", "Created".
pub(crate) fn human_status(rec: &ContainerRecord) -> String {
    let since = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| {
                human_duration(
                    (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                        .num_seconds()
                        .max(0) as u64,
                )
            })
            .unwrap_or_default()
    };
    match rec.state.status {
        Status::Running => match &rec.state.health {
            Some(h) if h.status == berth_engine::container::HealthStatus::Starting => {
                format!("Up {} (health: starting)", since(&rec.state.started_at))
            }
            Some(h) => format!(
                "Up {} ({})",
                since(&rec.state.started_at),
                h.status.as_str()
            ),
            None => format!("Up {}", since(&rec.state.started_at)),
        },
        Status::Paused => format!("Up {} (Paused)", since(&rec.state.started_at)),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            rec.state.exit_code,
            since(&rec.state.finished_at)
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            rec.state.exit_code,
            since(&rec.state.finished_at)
        ),
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

pub fn human_duration(secs: u64) -> String {
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 172800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86400),
    }
}

async fn list(d: &Daemon, all: bool) -> ApiResult {
    let cs = &d.containers;
    let mut out = Vec::new();
    // Docker's `Ports`: one {IP, PrivatePort, PublicPort, Type} per binding; the CLI renders
    // them as `docker ps` does ("0.0.0.0:8080->80/tcp"). Bindings are IPv4 only: berth
    // publishes through iptables DNAT, with no `[::]` twin as Docker's ip6tables/proxy makes.
    let mut ports_of: std::collections::HashMap<String, Vec<Value>> =
        std::collections::HashMap::new();
    for c in cs.all().await {
        let p = d.nets.netd.published(&c.id).await;
        if !p.is_empty() {
            let ports = p
                .iter()
                .map(|b| {
                    json!({
                        "IP": b.host_ip.to_string(),
                        "PrivatePort": b.container_port,
                        "PublicPort": b.host_port,
                        "Type": format!("{:?}", b.protocol).to_lowercase(),
                    })
                })
                .collect();
            ports_of.insert(c.id.clone(), ports);
        }
    }
    for c in cs.all().await {
        let r = c.rec.lock().await;
        if !all
            && !matches!(
                r.state.status,
                Status::Running | Status::Paused | Status::Restarting
            )
        {
            continue;
        }
        let running = matches!(
            r.state.status,
            Status::Running | Status::Paused | Status::Restarting
        );
        let networks: serde_json::Map<String, Value> = if !r.config.network_mode.is_empty() {
            [(r.config.network_mode.clone(), json!({}))]
                .into_iter()
                .collect()
        } else if r.config.networks.is_empty() {
            // As inspect's NetworkMode: a container given no network is on Docker's `bridge`.
            [("bridge".to_string(), json!({}))].into_iter().collect()
        } else {
            r.config
                .networks
                .iter()
                .map(|n| (n.name.clone(), json!({})))
                .collect()
        };
        let command = std::iter::once(r.path.clone())
            .chain(r.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        out.push(json!({
            "Id": r.id,
            "Names": [format!("/{}", r.config.name)],
            "Image": r.config.image,
            "ImageID": r.image_id,
            "Command": command,
            "Created": r.created,
            "State": r.state.status.as_str(),
            "Status": human_status(&r),
            "Labels": r.config.labels,
            // A stopped container publishes nothing: Docker lists no port for it.
            "Ports": if running { ports_of.get(&r.id).cloned().unwrap_or_default() } else { vec![] },
            "Mounts": r.config.mounts.iter().map(|m| {
                // A volume's source is ROOT/volumes/NAME/_data: Docker names the volume.
                let name = (m.kind == "volume").then(|| {
                    std::path::Path::new(&m.source).parent().and_then(|p| p.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                }).flatten();
                json!({ "Type": m.kind, "Name": name, "Source": m.source,
                        "Destination": m.target, "RW": !m.read_only })
            }).collect::<Vec<_>>(),
            "NetworkSettings": { "Networks": networks },
        }));
    }
    out.sort_by(|a, b| b["Created"].as_str().cmp(&a["Created"].as_str()));
    http::json(&out)
}

pub(crate) fn inspect(cs: &Containers, r: &ContainerRecord) -> Value {
    let layout = cs.layout(&r.id);
    let st = &r.state;
    let c = &r.config;
    let mounts: Vec<Value> = c
        .mounts
        .iter()
        .map(|m| {
            let mut v = json!({ "Type": m.kind, "Source": m.source, "Destination": m.target, "Mode": if m.read_only { "ro" } else { "" }, "RW": !m.read_only });
            // A volume mount's source is ROOT/volumes/NAME/_data: Docker names the volume too.
            if m.kind == "volume" {
                let name = std::path::Path::new(&m.source)
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned());
                v["Name"] = json!(name);
                v["Driver"] = json!("local");
            }
            v
        })
        .collect();
    json!({
        "Id": r.id,
        "Created": r.created,
        "Path": r.path,
        "Args": r.args,
        "State": {
            "Status": st.status.as_str(),
            "Running": matches!(st.status, Status::Running | Status::Paused),
            "Paused": st.status == Status::Paused,
            "Restarting": st.status == Status::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": st.status == Status::Dead,
            "Pid": if matches!(st.status, Status::Running | Status::Paused) { st.pid } else { 0 },
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": st.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "FinishedAt": st.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "Health": st.health.as_ref().map(|h| json!({
                "Status": h.status.as_str(),
                "FailingStreak": h.failing_streak,
                "Log": h.log.iter().map(|p| json!({"Start": p.start, "End": p.end, "ExitCode": p.exit_code, "Output": p.output})).collect::<Vec<_>>(),
            })),
        },
        "Image": r.image_id,
        "Name": format!("/{}", c.name),
        "RestartCount": st.restart_count,
        "LogPath": layout.log(),
        "HostConfig": {
            "NetworkMode": if !c.network_mode.is_empty() { c.network_mode.as_str() } else { c.networks.first().map(|n| n.name.as_str()).unwrap_or("bridge") },
            "RestartPolicy": { "Name": c.restart.name(), "MaximumRetryCount": match c.restart { berth_engine::container::RestartPolicy::OnFailure { max_retries } => max_retries, _ => 0 } },
            "AutoRemove": c.auto_remove,
            "Privileged": c.privileged,
            "ReadonlyRootfs": c.read_only,
            "Init": c.init,
            "CapAdd": c.cap_add,
            "CapDrop": c.cap_drop,
            "Memory": c.resources.memory.unwrap_or(0),
            "NanoCpus": c.resources.cpus.map(|x| (x * 1e9) as i64).unwrap_or(0),
            "CpuShares": c.resources.cpu_shares.unwrap_or(0),
            "PidsLimit": c.resources.pids_limit,
            "CpusetCpus": c.resources.cpuset_cpus.clone().unwrap_or_default(),
            "MemorySwap": c.resources.memory_swap.or(c.resources.memory).unwrap_or(0),
            "MemoryReservation": c.resources.memory_reservation.unwrap_or(0),
            "CpuPeriod": c.resources.cpu_period.unwrap_or(0),
            "CpuQuota": c.resources.cpu_quota.unwrap_or(0),
            "CpusetMems": c.resources.cpuset_mems.clone().unwrap_or_default(),
            "BlkioWeight": c.resources.blkio_weight.unwrap_or(0),
            "Ulimits": c.ulimits.iter().map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard})).collect::<Vec<_>>(),
            "Sysctls": c.sysctls,
            "ShmSize": c.shm_size.unwrap_or(64 << 20),
        },
        "Config": {
            "Hostname": berth_engine::container::hostname_of(r),
            "Domainname": c.domainname.clone().unwrap_or_default(),
            "User": c.user.clone().unwrap_or_default(),
            "Tty": c.tty,
            "OpenStdin": c.open_stdin,
            "Env": c.env,
            "Cmd": c.cmd,
            "Image": c.image,
            "WorkingDir": c.working_dir.clone().unwrap_or_default(),
            "Entrypoint": c.entrypoint,
            "Labels": c.labels,
            "StopSignal": c.stop_signal.clone().unwrap_or_else(|| "SIGTERM".into()),
            "StopTimeout": c.stop_timeout.unwrap_or(10),
        },
        "Mounts": mounts,
    })
}

/// A `since`/`until` query value (`1700000000`, `1700000000.5`) in nanoseconds.
fn unix_nanos(v: Option<&str>) -> Result<Option<i128>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_empty() && *v != "0") else {
        return Ok(None);
    };
    let bad = || ApiError::bad_request(format!("invalid timestamp {v:?}"));
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i128 = secs.parse().map_err(|_| bad())?;
    let frac = format!("{frac:0<9}");
    let nanos: i128 = frac.get(..9).unwrap_or("0").parse().map_err(|_| bad())?;
    Ok(Some(secs * 1_000_000_000 + nanos))
}

async fn logs_route(cs: Arc<Containers>, ctr: Arc<Ctr>, q: &Query) -> ApiResult {
    let path = cs.layout(&ctr.id).log();
    let tail = q
        .get("tail")
        .filter(|t| *t != "all")
        .and_then(|t| t.parse().ok());
    let follow = q.flag("follow");
    // Docker's `since`/`until`: Unix times, `SECONDS[.NANOSECONDS]`; tail first, then the
    // window, as Docker's json-file reader does.
    let (since, until) = (unix_nanos(q.get("since"))?, unix_nanos(q.get("until"))?);
    let in_window = move |e: &logs::LogEntry| {
        let t = chrono::DateTime::parse_from_rfc3339(&e.time)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(0) as i128;
        since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
    };
    let (tx, reply) = http::channel("application/x-ndjson");
    tokio::spawn(async move {
        let mut follower = LogFollower::at_end(&path);
        let existing = logs::read_all(&path, tail);
        for e in existing.into_iter().filter(|e| in_window(e)) {
            let line = serde_json::to_string(&e).unwrap_or_default() + "\n";
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
        if !follow {
            return;
        }
        let mut rx = ctr.status.subscribe();
        loop {
            let running = matches!(
                *rx.borrow_and_update(),
                Status::Running | Status::Paused | Status::Restarting
            );
            let past_until = until
                .is_some_and(|u| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as i128 > u);
            for e in follower.poll().into_iter().filter(|e| in_window(e)) {
                let line = serde_json::to_string(&e).unwrap_or_default() + "\n";
                if tx.send(Bytes::from(line)).await.is_err() {
                    return;
                }
            }
            if !running || past_until {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
        }
    });
    Ok(reply)
}

/// What `berth exec` needs to enter the container itself.
async fn exec_info(cs: &Containers, ctr: &Ctr) -> ApiResult {
    let r = ctr.rec.lock().await;
    http::json(&cs.exec_request(&r, Vec::new()).await?)
}

/// What `cp` and `export` need to see the container's filesystem.
pub(crate) async fn fs_info(cs: &Containers, ctr: &Ctr) -> ApiResult {
    let r = ctr.rec.lock().await;
    let image = cs.images().resolve(&r.image_id).await?;
    let layout = cs.layout(&r.id);
    let mut layers = image.layers;
    // The shared init layer, once any container has started (made at the first start).
    if layout.init_layer().exists() {
        layers.push(layout.init_layer());
    }
    http::json(&json!({
        "running": matches!(r.state.status, Status::Running | Status::Paused),
        "pid": r.state.pid,
        "pid_start_time": r.state.pid_start_time,
        "layers": layers,
        "upper": layout.upper(),
        "work": layout.dir.join("fs/work"),
        "mountpoint": layout.dir.join("fs/rootfs"),
    }))
}
