//! Volume routes, on Docker's paths: `GET /volumes`, `POST /volumes/create`,
//! `GET /volumes/{name}`, `DELETE /volumes/{name}`, `POST /volumes/prune`; and the create of a
//! single container, whose volume mounts are resolved first (as the stack controller does).
//! Stack volumes live in the same store, so they are listed and guarded here too.

use super::containers::Ctr;
use super::docker::filters::Filters;
use super::http::{self, ApiError, ApiResult, Query};
use super::Daemon;
use berth_compose::LABEL_ANONYMOUS;
use berth_engine::container::ContainerConfig;
use berth_engine::volume::VolumeRecord;
use hyper::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct CreateVolume {
    name: String,
    driver: String,
    labels: BTreeMap<String, String>,
    driver_opts: BTreeMap<String, String>,
}

pub async fn route(
    d: &Arc<Daemon>,
    m: &Method,
    rest: &[&str],
    q: &Query,
    body: bytes::Bytes,
) -> ApiResult {
    match (m, rest) {
        (&Method::GET, []) => list(d, &Filters::parse(q, VOLUME_FILTERS)?).await,
        (&Method::POST, ["create"]) => {
            let req: CreateVolume = if body.is_empty() {
                CreateVolume::default()
            } else {
                serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?
            };
            create(d, req).await
        }
        (&Method::POST, ["prune"]) => prune(d, &Filters::parse(q, VOLUME_FILTERS)?).await,
        (&Method::GET, [name]) => {
            let rec = get(d, name).await?;
            http::json(&describe(d, &rec).await?)
        }
        (&Method::DELETE, [name]) => remove(d, name, q.flag("force")).await,
        _ => Err(ApiError::not_found(format!(
            "no route for {m} /volumes/{}",
            rest.join("/")
        ))),
    }
}

/// `POST /containers`: the container's volume mounts become volumes (made when missing, filled
/// from the image when fresh) before the container is made; volumes made for a create that
/// then fails go again, so a mistyped `run` leaves nothing behind.
pub async fn create_container(d: &Daemon, mut cfg: ContainerConfig) -> Result<Arc<Ctr>, ApiError> {
    for m in cfg.mounts.iter().filter(|m| m.kind.starts_with("volume")) {
        if !m.source.is_empty() {
            check_name(&m.source)?;
        }
        if !m.target.starts_with('/') {
            return Err(ApiError::bad_request(format!(
                "invalid mount config for type \"volume\": invalid mount path: '{}' mount path must be absolute",
                m.target
            )));
        }
    }
    let created = d.volumes.resolve_mounts(&d.images, &mut cfg).await?;
    match d.containers.create(cfg).await {
        Ok(c) => Ok(c),
        Err(e) => {
            d.volumes.remove_quietly(created).await;
            Err(e)
        }
    }
}

/// Docker's local-driver rule and message for volume names.
fn check_name(name: &str) -> Result<(), ApiError> {
    if berth_engine::fsutil::is_valid_name(name) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )))
}

async fn get(d: &Daemon, name: &str) -> Result<VolumeRecord, ApiError> {
    let n = name.to_string();
    d.volumes
        .with(move |v| Ok(v.get(&n).ok()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("get {name}: no such volume")))
}

/// A volume as Docker's API describes it.
async fn describe(d: &Daemon, rec: &VolumeRecord) -> Result<Value, ApiError> {
    let n = rec.name.clone();
    let path = d.volumes.with(move |v| v.data_path(&n)).await?;
    // Docker shows the creation time to the second.
    let created = chrono::DateTime::parse_from_rfc3339(&rec.created)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|_| rec.created.clone());
    Ok(json!({
        "CreatedAt": created,
        "Driver": "local",
        "Labels": rec.labels,
        "Mountpoint": path.display().to_string(),
        "Name": rec.name,
        "Options": {},
        "Scope": "local",
    }))
}

async fn create(d: &Daemon, req: CreateVolume) -> ApiResult {
    let name = if req.name.is_empty() {
        berth_engine::fsutil::new_id()
    } else {
        req.name.clone()
    };
    check_name(&name)?;
    if !req.driver.is_empty() && req.driver != "local" {
        return Err(ApiError::not_found(format!(
            "create {name}: error looking up volume plugin {0}: plugin \"{0}\" not found",
            req.driver
        )));
    }
    if let Some(k) = req.driver_opts.keys().next() {
        return Err(ApiError::bad_request(format!(
            "create {name}: invalid option: \"{k}\" (berth's local driver takes no options)"
        )));
    }
    let mut labels = req.labels;
    // A volume made without a name is anonymous, as Docker marks it (so `volume prune` takes it).
    if req.name.is_empty() {
        labels.insert(LABEL_ANONYMOUS.to_string(), String::new());
    }
    // An existing volume is handed back as it is, as Docker does.
    let rec = d.volumes.create(&name, labels).await?;
    http::json(&describe(d, &rec).await?)
}

async fn remove(d: &Daemon, name: &str, force: bool) -> ApiResult {
    if get(d, name).await.is_err() {
        // `rm -f` of a volume that is not there succeeds (Docker's PurgeOnError).
        return if force {
            http::empty()
        } else {
            Err(ApiError::not_found(format!("get {name}: no such volume")))
        };
    }
    let users = d.volumes.users(&d.containers, name).await?;
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "remove {name}: volume is in use - [{}]",
            users.join(", ")
        )));
    }
    d.volumes.remove(name).await?;
    http::empty()
}

/// The keys `volume ls` and `volume prune` filter on (Docker's `filters` parameter).
const VOLUME_FILTERS: &[&str] = &["name", "label", "dangling", "driver", "all"];

/// Whether the volume passes the name, label and driver filters (each value of one key is
/// an alternative for name and driver; every label filter must hold, as Docker's).
fn matches(f: &Filters, rec: &VolumeRecord) -> bool {
    let names = f.values("name");
    let drivers = f.values("driver");
    (names.is_empty() || names.iter().any(|n| rec.name.contains(n.as_str())))
        && (drivers.is_empty() || drivers.iter().any(|d| d == "local"))
        && f.labels_match(&rec.labels)
}

async fn list(d: &Daemon, f: &Filters) -> ApiResult {
    let dangling = f.truth("dangling")?;
    let all = d.volumes.with(|v| Ok(v.list())).await?;
    let mut out = Vec::new();
    for rec in all.iter().filter(|r| matches(f, r)) {
        if let Some(want) = dangling {
            let unused = d.volumes.users(&d.containers, &rec.name).await?.is_empty();
            if unused != want {
                continue;
            }
        }
        out.push(describe(d, rec).await?);
    }
    http::json(&json!({ "Volumes": out, "Warnings": [] }))
}

/// Removes the volumes no container uses: only anonymous ones unless `all` (Docker 23+).
async fn prune(d: &Daemon, f: &Filters) -> ApiResult {
    let all = f.truth("all")?.unwrap_or(false);
    let list = d.volumes.with(|v| Ok(v.list())).await?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for rec in list.iter().filter(|r| matches(f, r)) {
        if !all && !rec.labels.contains_key(LABEL_ANONYMOUS) {
            continue;
        }
        if !d.volumes.users(&d.containers, &rec.name).await?.is_empty() {
            continue;
        }
        let size = d.volumes.remove(&rec.name).await;
        match size {
            Ok(s) => {
                reclaimed += s;
                deleted.push(rec.name.clone());
            }
            Err(e) => tracing::warn!(volume = %rec.name, error = %e.message, "prune"),
        }
    }
    http::json(&json!({ "VolumesDeleted": deleted, "SpaceReclaimed": reclaimed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, labels: &[(&str, &str)]) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn filters_as_docker() {
        let f = Filters::from_json(
            r#"{"name":["dat"],"label":["tier=db","keep"]}"#,
            VOLUME_FILTERS,
        )
        .unwrap();
        assert!(matches(&f, &rec("data", &[("tier", "db"), ("keep", "")])));
        assert!(!matches(&f, &rec("data", &[("tier", "web"), ("keep", "")])));
        assert!(!matches(&f, &rec("data", &[("tier", "db")])));
        assert!(!matches(&f, &rec("logs", &[("tier", "db"), ("keep", "")])));
        // Docker's client sends sets.
        let f = Filters::from_json(r#"{"dangling":{"true":true}}"#, VOLUME_FILTERS).unwrap();
        assert_eq!(f.truth("dangling").unwrap(), Some(true));
        assert!(Filters::from_json(r#"{"bogus":["x"]}"#, VOLUME_FILTERS).is_err());
        assert!(
            Filters::from_json(r#"{"dangling":["maybe"]}"#, VOLUME_FILTERS)
                .unwrap()
                .truth("dangling")
                .is_err()
        );
    }
}
