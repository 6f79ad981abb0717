//! System routes: `/_ping` (GET and HEAD), `/version`, `/info`, `/events` (streamed, with
//! filters) and `/system/df`. Clients ping first and negotiate the API version from the
//! `API-Version` header; `docker info` and Compose read `/info`.

use super::super::http::{self, ApiError, ApiResult, Query};
use super::filters::Filters;
use super::{Door, API_VERSION, DOCKER_VERSION};
use berth_engine::container::Status;
use bytes::Bytes;
use hyper::{Method, Response};
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn route(door: &Arc<Door>, m: &Method, segs: &[&str], q: &Query) -> ApiResult {
    match (m, segs) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => ping(m == Method::HEAD),
        (&Method::GET, ["version"]) => http::json(&version()),
        (&Method::GET, ["info"]) => info(door).await,
        (&Method::GET, ["events"]) => events(door, q).await,
        (&Method::GET, ["system", "df"]) => df(door).await,
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// `OK`, with the headers clients negotiate from. `Builder-Version: 1`: the classic builder
/// (`POST /build`), as berth has no BuildKit session endpoint.
fn ping(head: bool) -> ApiResult {
    Ok(Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .header("cache-control", "no-cache, no-store, must-revalidate")
        .header("pragma", "no-cache")
        .header("builder-version", "1")
        .body(http::full(if head {
            Bytes::new()
        } else {
            Bytes::from_static(b"OK")
        }))
        .expect("valid response"))
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn version() -> Value {
    let engine = json!({
        "ApiVersion": API_VERSION,
        "MinAPIVersion": "1.24",
        "GitCommit": "berth",
        "GoVersion": "none (berth is written in Rust)",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": kernel(),
        "Experimental": "false",
        "BuildTime": "",
    });
    json!({
        "Platform": { "Name": format!("berth {}", env!("CARGO_PKG_VERSION")) },
        "Components": [{ "Name": "Engine", "Version": DOCKER_VERSION, "Details": engine }],
        "Version": DOCKER_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": "1.24",
        "GitCommit": "berth",
        "GoVersion": "none (berth is written in Rust)",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": kernel(),
        "BuildTime": "",
    })
}

/// The first value of `key` in /proc/meminfo, in bytes.
fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

async fn info(door: &Door) -> ApiResult {
    let d = &door.d;
    let all = d.containers.all().await;
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for c in &all {
        match c.rec.lock().await.state.status {
            Status::Running | Status::Restarting => running += 1,
            Status::Paused => paused += 1,
            _ => stopped += 1,
        }
    }
    let cgroup_version = match berth_engine::cgroups::detect().map(|l| l.to_string()) {
        Ok(l) if l.contains("v2") && !l.contains("hybrid") => "2",
        _ => "1",
    };
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut v = json!({
        "ID": format!("berth:{}", d.containers.root.display()),
        "Containers": all.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": d.images.count().await,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "overlay"], ["Supports d_type", "true"]],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "none"],
            "Authorization": null,
            "Log": ["json-file", "local"],
        },
        "MemoryLimit": true,
        "SwapLimit": true,
        "KernelMemory": false,
        "KernelMemoryTCP": false,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "OomKillDisable": false,
        "IPv4Forwarding": true,
        "BridgeNfIptables": true,
        "BridgeNfIp6tables": false,
        "Debug": false,
        "NFd": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
        "NGoroutines": 0,
        "SystemTime": chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": kernel(),
    });
    // Two halves: one json! of all of it is past the macro's recursion limit.
    let rest = json!({
        "OperatingSystem": os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": { "docker.io": { "Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true } },
            "Mirrors": [],
        },
        "NCPU": ncpu,
        "MemTotal": mem_total(),
        "GenericResources": null,
        "DockerRootDir": d.containers.root,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": DOCKER_VERSION,
        "Runtimes": { "berth": { "path": "berth shim" } },
        "DefaultRuntime": "berth",
        "Swarm": {
            "NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
            "ControlAvailable": false, "Error": "", "RemoteManagers": null,
        },
        // Containers outlive the daemon, as dockerd's live-restore.
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "berth",
        "ContainerdCommit": { "ID": "", "Expected": "" },
        "RuncCommit": { "ID": "", "Expected": "" },
        "InitCommit": { "ID": "", "Expected": "" },
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": [],
    });
    if let (Some(a), Some(b)) = (v.as_object_mut(), rest.as_object()) {
        a.extend(b.clone());
    }
    http::json(&v)
}

/// The container's exit code, for `die` events (the record still has it, unless the
/// container is gone already).
async fn exit_code(door: &Door, id: &str) -> Option<i32> {
    let c = door.d.containers.get(id).await.ok()?;
    let code = c.rec.lock().await.state.exit_code;
    Some(code)
}

/// `docker events`: live container events in Docker's shape. berth keeps no event history,
/// so `since` replays nothing; an `until` in the past ends the stream at once.
async fn events(door: &Arc<Door>, q: &Query) -> ApiResult {
    let f = Filters::parse(
        q,
        &[
            "type",
            "event",
            "container",
            "label",
            "image",
            "scope",
            "network",
            "volume",
            "daemon",
        ],
    )?;
    let until = match q.get("until").filter(|s| !s.is_empty()) {
        Some(u) => Some(
            u.split('.')
                .next()
                .unwrap_or("")
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid until: {u}")))?,
        ),
        None => None,
    };
    let mut rx = door.d.containers.events.subscribe();
    let (tx, reply) = http::channel("application/json");
    let door = door.clone();
    tokio::spawn(async move {
        let deadline = until.map(|u| {
            let now = chrono::Utc::now().timestamp();
            std::time::Duration::from_secs(u.saturating_sub(now).max(0) as u64)
        });
        let sleep =
            tokio::time::sleep(deadline.unwrap_or(std::time::Duration::from_secs(u32::MAX as u64)));
        tokio::pin!(sleep);
        loop {
            let received = tokio::select! {
                r = rx.recv() => r,
                _ = tx.closed() => return,
                _ = &mut sleep => return,
            };
            let e = match received {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            if e.kind != "container" {
                continue;
            }
            let types = f.values("type");
            if !types.is_empty() && !types.iter().any(|t| t == "container") {
                continue;
            }
            let actions = f.values("event");
            if !actions.is_empty() && !actions.iter().any(|a| a == &e.action) {
                continue;
            }
            let ctrs = f.values("container");
            if !ctrs.is_empty()
                && !ctrs
                    .iter()
                    .any(|c| e.id.starts_with(c.as_str()) || *c == e.name)
            {
                continue;
            }
            let images = f.values("image");
            if !images.is_empty() && !images.contains(&e.image) {
                continue;
            }
            if !f.labels_match(&e.labels) {
                continue;
            }
            let mut attrs: serde_json::Map<String, Value> = e
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            attrs.insert("image".into(), json!(e.image));
            attrs.insert("name".into(), json!(e.name));
            if e.action == "die" {
                if let Some(code) = exit_code(&door, &e.id).await {
                    attrs.insert("exitCode".into(), json!(code.to_string()));
                }
            }
            let t = chrono::DateTime::parse_from_rfc3339(&e.time)
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or_else(|_| chrono::Utc::now());
            let line = json!({
                "status": e.action,
                "id": e.id,
                "from": e.image,
                "Type": "container",
                "Action": e.action,
                "Actor": { "ID": e.id, "Attributes": attrs },
                "scope": "local",
                "time": t.timestamp(),
                "timeNano": t.timestamp_nanos_opt().unwrap_or(0),
            });
            if tx.send(Bytes::from(line.to_string() + "\n")).await.is_err() {
                return;
            }
        }
    });
    Ok(reply)
}

/// `docker system df`: images, containers, volumes and their sizes.
async fn df(door: &Arc<Door>) -> ApiResult {
    let d = &door.d;
    let mut images = super::images::summaries(door, true).await?;
    let layers: u64 = images.iter().filter_map(|i| i["Size"].as_u64()).sum();
    // Each image's size counts once in LayersSize above, so no part of it is shared: 0 (not
    // the list's -1, "not computed"), which lets the CLI count a used image as not
    // reclaimable, as Docker's does.
    for i in images.iter_mut() {
        i["SharedSize"] = json!(0);
    }
    let mut containers = super::containers::summaries(door, true, &Filters::default()).await?;
    for c in containers.iter_mut() {
        let id = c["Id"].as_str().unwrap_or("").to_string();
        let upper = d.containers.layout(&id).upper();
        let size = tokio::task::spawn_blocking(move || super::super::volumes::disk_usage(&upper))
            .await
            .unwrap_or(0);
        c["SizeRw"] = json!(size);
        // As dockerd's df: the writable layer only (the CLI would print "(virtual ...)").
        c["SizeRootFs"] = json!(0);
    }
    let vols = d.volumes.with(|v| Ok(v.list())).await?;
    let mut volumes = Vec::new();
    for rec in vols {
        let n = rec.name.clone();
        let (path, size) = d
            .volumes
            .with(move |v| {
                let p = v.data_path(&n)?;
                let s = super::super::volumes::disk_usage(&p);
                Ok((p, s))
            })
            .await?;
        let refs = d.volumes.users(&d.containers, &rec.name).await?.len();
        volumes.push(json!({
            "Name": rec.name, "Driver": "local", "Mountpoint": path, "Labels": rec.labels,
            "Scope": "local", "Options": {}, "CreatedAt": rec.created,
            "UsageData": { "Size": size, "RefCount": refs },
        }));
    }
    http::json(&json!({
        "LayersSize": layers,
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": [],
    }))
}
