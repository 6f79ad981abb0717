//! `docker image inspect` and `docker history` views of a stored image.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{familiar, ImageError, ImageStore};

/// One row of `docker history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEntry {
    /// The image id on the newest row, `<missing>` below it (as Docker for pulled images).
    pub id: String,
    pub created: Option<String>,
    pub created_by: String,
    /// Bytes of file content the step's layer holds (0 for empty layers).
    pub size: u64,
    pub comment: String,
    pub empty_layer: bool,
    /// Short tags, on the newest row only.
    pub tags: Vec<String>,
}

/// The config fields `docker inspect` prints under `Config`, null when absent as Docker.
const CONFIG_FIELDS: [&str; 9] = [
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
];

pub(super) fn inspect(store: &ImageStore, manifest: &str) -> Result<Value, ImageError> {
    let record = &store.index.images[manifest];
    let raw: Value = serde_json::from_slice(&store.blobs.read(&record.config)?).map_err(|e| {
        ImageError::InvalidConfig {
            digest: record.config.clone(),
            reason: e.to_string(),
        }
    })?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let empty_config = Map::new();
    let cfg = raw
        .get("config")
        .and_then(Value::as_object)
        .unwrap_or(&empty_config);
    let mut config = Map::new();
    for field in CONFIG_FIELDS {
        let v = cfg.get(field).cloned().unwrap_or(Value::Null);
        // Docker prints "" rather than null for these strings.
        let v = match (field, v) {
            ("User" | "WorkingDir", Value::Null) => Value::String(String::new()),
            (_, v) => v,
        };
        config.insert(field.to_string(), v);
    }
    // Docker's ContainerConfig: Healthcheck and Shell are omitted when empty, OnBuild is
    // null; a built image's HEALTHCHECK, ONBUILD and SHELL show here.
    for field in ["Healthcheck", "Shell"] {
        if let Some(v) = cfg.get(field).filter(|v| !v.is_null()) {
            config.insert(field.to_string(), v.clone());
        }
    }
    config.insert(
        "OnBuild".to_string(),
        cfg.get("OnBuild").cloned().unwrap_or(Value::Null),
    );
    let history = raw.get("history").and_then(Value::as_array);
    let comment = history
        .and_then(|h| h.last())
        .and_then(|h| h.get("comment"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let size: u64 = record
        .layers
        .iter()
        .map(|l| store.layers.size(&l.diff_id))
        .sum();
    let manifest_size = store.blobs.size(manifest).unwrap_or(0);
    let mut out = json!({
        "Id": record.config,
        "RepoTags": store.tags_of(manifest).iter().map(|t| familiar(t)).collect::<Vec<_>>(),
        "RepoDigests": record.repo_digests.iter().map(|d| familiar(d)).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": comment,
        "Created": text(raw.get("created")),
        "DockerVersion": text(raw.get("docker_version")),
        "Author": text(raw.get("author")),
        "Config": Value::Object(config),
        "Architecture": text(raw.get("architecture")),
        "Os": text(raw.get("os")),
        "Size": size,
        "RootFS": {
            "Type": "layers",
            "Layers": record.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
        },
        "Metadata": { "LastTagTime": record.last_tag_time.clone().unwrap_or_default() },
        "Descriptor": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest,
            "size": manifest_size,
        },
    });
    if let Some(variant) = raw.get("variant").and_then(Value::as_str) {
        out["Variant"] = Value::String(variant.to_string());
    }
    Ok(out)
}

pub(super) fn history(store: &ImageStore, manifest: &str) -> Result<Vec<HistoryEntry>, ImageError> {
    let record = &store.index.images[manifest];
    let config = store.read_config(&record.config)?;
    let mut layer_sizes = record.layers.iter().map(|l| store.layers.size(&l.diff_id));
    let mut rows: Vec<HistoryEntry> = Vec::new();
    if config.history().is_empty() {
        // Images without history (some tools omit it): one row per layer.
        for size in layer_sizes {
            rows.push(HistoryEntry {
                id: "<missing>".into(),
                created: None,
                created_by: String::new(),
                size,
                comment: String::new(),
                empty_layer: false,
                tags: Vec::new(),
            });
        }
    } else {
        for h in config.history() {
            let empty = h.empty_layer().unwrap_or(false);
            let size = if empty {
                0
            } else {
                layer_sizes.next().unwrap_or(0)
            };
            rows.push(HistoryEntry {
                id: "<missing>".into(),
                created: h.created().clone(),
                created_by: h.created_by().clone().unwrap_or_default(),
                size,
                comment: h.comment().clone().unwrap_or_default(),
                empty_layer: empty,
                tags: Vec::new(),
            });
        }
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = record.config.clone();
        top.tags = store
            .tags_of(manifest)
            .iter()
            .map(|t| familiar(t))
            .collect();
    }
    Ok(rows)
}
