//! System routes: `/_ping` (GET and HEAD), `/version`, `/info`, `/events` (in `events`)
//! and `/system/df`. Clients ping first and negotiate the API version from the
//! `API-Version` header; `docker info` and Compose read `/info`.

use super::super::http::{self, ApiError, ApiResult, Query};
use super::filters::Filters;
use super::{Door, API_VERSION, DOCKER_VERSION};
use bytes::Bytes;
use hyper::{Method, Response};
use serde_json::{json, Value};
use std::sync::Arc;

/// `agent`: the client's User-Agent, which the ping's answer depends on (see [`ping`]).
pub async fn route(
    door: &Arc<Door>,
    m: &Method,
    segs: &[&str],
    q: &Query,
    agent: &str,
) -> ApiResult {
    match (m, segs) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => ping(m == Method::HEAD, agent),
        (&Method::GET, ["version"]) => http::json(&version()),
        (&Method::GET, ["info"]) => info(door).await,
        (&Method::GET, ["events"]) => super::events::events(door, q).await,
        (&Method::GET, ["system", "df"]) => df(door).await,
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// `OK`, with the headers clients negotiate from. `Builder-Version: 1`: the classic builder
/// (`POST /build`), as berth has no BuildKit (`/grpc`, `/session`).
///
/// Docker Compose v2.40 does not heed `Builder-Version: 1`: its docker/cli (v28,
/// `DockerCli.BuildKitEnabled`) picks BuildKit unless DOCKER_BUILDKIT says otherwise, the
/// daemon advertises BuildKit, or the ping's `OSType` is `windows`; with BuildKit and no
/// `/grpc` (buildx's docker driver dials it to qualify) it falls back to buildx's
/// docker-container driver, which pulls moby/buildkit and runs it as a container. So to
/// Compose alone (User-Agent `compose/...`) the ping answers `windows`: its `build:` then
/// takes the classic `POST /build` that berth serves. Compose's other uses of it: refusing
/// `use_api_socket`, and `stats`' columns only when no stats answer (whose header says
/// `linux`) came first. Every other client, and every other answer, says `linux`.
fn ping(head: bool, agent: &str) -> ApiResult {
    let os = if agent.starts_with("compose/") {
        "windows"
    } else {
        "linux"
    };
    Ok(Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .header("cache-control", "no-cache, no-store, must-revalidate")
        .header("pragma", "no-cache")
        .header("builder-version", "1")
        .header("ostype", os)
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
    // The engine's details are the top level's fields too, as dockerd answers.
    let engine = json!({
        "ApiVersion": API_VERSION,
        "MinAPIVersion": "1.24",
        "GitCommit": "berth",
        "GoVersion": "none (berth is written in Rust)",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": kernel(),
        "BuildTime": "",
    });
    let mut top = engine.clone();
    let mut details = engine;
    details["Experimental"] = json!("false");
    top["Platform"] = json!({ "Name": format!("berth {}", env!("CARGO_PKG_VERSION")) });
    top["Components"] =
        json!([{ "Name": "Engine", "Version": DOCKER_VERSION, "Details": details }]);
    top["Version"] = json!(DOCKER_VERSION);
    top
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
    let (total, running, paused, stopped) = d.containers.tally().await;
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
        "Containers": total,
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
        let image = c["ImageID"].as_str().unwrap_or("").to_string();
        super::sizes::add(door, c, &id, &image).await;
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
